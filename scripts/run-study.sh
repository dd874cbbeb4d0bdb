#!/usr/bin/env bash
# Runs the study's sweeps in two queues side by side at the lowest CPU
# priority, from a frozen copy of the binary, so rebuilding or testing while
# it runs neither disturbs it nor changes what it computes. Every stage is
# cached under runs/cache (keyed by its config), so stopping and restarting
# this script resumes where it stopped; finished sweeps pass in seconds.
#   scripts/run-study.sh [queue A sweeps...] [-- queue B sweeps...]
# Default queues: mix_ratio main_4bit init -- bits_groups outliers recipe_sqa.
# Logs: runs/study/<sweep>.log; the two queues wait for each other only on
# the cache's locks (the first pretraining is shared).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

queue_a=() queue_b=() side=a
for arg in "$@"; do
  if [[ $arg == -- ]]; then side=b; continue; fi
  [[ -f experiments/$arg.yaml ]] || { echo "run-study: no experiments/$arg.yaml" >&2; exit 2; }
  if [[ $side == a ]]; then queue_a+=("$arg"); else queue_b+=("$arg"); fi
done
((${#queue_a[@]} + ${#queue_b[@]} > 0)) || { queue_a=(mix_ratio main_4bit init); queue_b=(bits_groups outliers recipe_sqa); }

QSLAW_TARGETS=qslaw ./qslaw build >/dev/null
mkdir -p runs/study
bin="runs/study/qslaw-$(git rev-parse --short HEAD)"
[[ -x $bin ]] || cp build/cli/qslaw "$bin"

# setsid gives each queue its own autogroup, whose weight `nice` does not
# change; lower the autogroup itself so the study yields to interactive work.
lower() { echo 19 > /proc/self/autogroup 2>/dev/null || true; renice -n 19 $$ >/dev/null 2>&1 || true; }

run_queue() {
  lower
  local sweep
  for sweep in "$@"; do
    echo "$(date -u +%FT%TZ) start $sweep ($bin)" >> runs/study/queue.log
    if OMP_WAIT_POLICY=passive "$bin" run "experiments/$sweep.yaml" --no-progress >> "runs/study/$sweep.log" 2>&1; then
      echo "$(date -u +%FT%TZ) done $sweep" >> runs/study/queue.log
    else
      echo "$(date -u +%FT%TZ) FAILED $sweep (runs/study/$sweep.log)" >> runs/study/queue.log
    fi
  done
}

pids=()
if ((${#queue_a[@]})); then run_queue "${queue_a[@]}" & pids+=($!); fi
# The second queue starts a minute later so the first takes the shared
# pretraining locks first and the second waits on them rather than racing.
if ((${#queue_b[@]})); then (sleep 60; run_queue "${queue_b[@]}") & pids+=($!); fi
wait "${pids[@]}"
