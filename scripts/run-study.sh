#!/usr/bin/env bash
# Runs the study's sweeps in two queues side by side at the lowest CPU
# priority. The binary is built from the commit pinned in study/COMMIT, in a
# worktree of its own: cache keys name configs, not code, so every run of the
# study - in any session, on any machine - must come from the same kernels,
# while main goes on changing them. Every stage is cached under runs/cache,
# so stopping and restarting this script resumes where it stopped; finished
# sweeps pass in seconds.
#   scripts/run-study.sh [queue A sweeps...] [-- queue B sweeps...]
#   scripts/run-study.sh --build-only     build the pinned binary, print its path
# Default queues: mix_ratio main_4bit init -- bits_groups outliers recipe_sqa.
# Logs: runs/study/<sweep>.log; the two queues wait for each other only on
# the cache's locks (the first pretraining is shared).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

queue_a=() queue_b=() side=a build_only=0
for arg in "$@"; do
  if [[ $arg == --build-only ]]; then build_only=1; continue; fi
  if [[ $arg == -- ]]; then side=b; continue; fi
  [[ -f experiments/$arg.yaml ]] || { echo "run-study: no experiments/$arg.yaml" >&2; exit 2; }
  if [[ $side == a ]]; then queue_a+=("$arg"); else queue_b+=("$arg"); fi
done
((${#queue_a[@]} + ${#queue_b[@]} > 0)) || { queue_a=(mix_ratio main_4bit init); queue_b=(bits_groups outliers recipe_sqa); }

commit=$(git rev-parse --verify --quiet "$(tr -d '[:space:]' < study/COMMIT)^{commit}") ||
  { echo "run-study: study/COMMIT does not name a commit of this repository" >&2; exit 2; }
mkdir -p runs/study
bin="runs/study/qslaw-${commit:0:12}"
if [[ ! -x $bin ]]; then
  src="runs/study/src-${commit:0:12}"
  [[ -d $src ]] || git worktree add --detach "$src" "$commit" >/dev/null
  # The default configuration (CUDA compiled where nvcc is), as the study's
  # first runs were built; only the qslaw binary.
  QSLAW_BUILD_DIR="$root/runs/study/build-${commit:0:12}" QSLAW_TARGETS=qslaw "$src/qslaw" build
  cp "runs/study/build-${commit:0:12}/cli/qslaw" "$bin.tmp" && mv "$bin.tmp" "$bin"
fi
if ((build_only)); then echo "$bin"; exit 0; fi

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
