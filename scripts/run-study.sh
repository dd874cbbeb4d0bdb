#!/usr/bin/env bash
# Runs the study's sweeps in two queues side by side at the lowest CPU
# priority. Cache keys name configs, not code, so every run of the study - in
# any session, on any machine - must come from the same kernels:
#  - the binary is built from the commit pinned in study/COMMIT, in a
#    worktree of its own, while main goes on changing kernels;
#  - for one instruction set, x86-64-v3 (AVX2 + FMA), which every machine the
#    study has met runs: with -march=native an AVX-512 machine takes other
#    vector paths (simd.h's, the compiler's) and sums in another order;
#  - with a stage cache of its own, runs/study/<binary>/cache, so no stage
#    computed by another binary is ever reused.
# Stopping and restarting this script resumes where it stopped; finished
# sweeps pass in seconds.
#   scripts/run-study.sh [queue A sweeps...] [-- queue B sweeps...]
#   scripts/run-study.sh --build-only     build the pinned binary, print its path
# Default queues: mix_ratio main_4bit init -- bits_groups outliers recipe_sqa.
# Logs: runs/study/<sweep>.log; run folders: runs/study/<binary>/<sweep>/;
# the two queues wait for each other only on the cache's locks (the first
# pretraining is shared).
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
arch=x86-64-v3
id="${commit:0:12}-$arch"
mkdir -p runs/study
bin="runs/study/qslaw-$id"
if [[ ! -x $bin ]]; then
  grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo ||
    { echo "run-study: this CPU lacks AVX2/FMA; the study's binary is built for $arch" >&2; exit 2; }
  src="runs/study/src-${commit:0:12}"
  # prune: a worktree whose folder went with an old runs/ is still registered.
  [[ -d $src ]] || { git worktree prune; git worktree add --detach "$src" "$commit" >/dev/null; }
  QSLAW_BUILD_DIR="$root/runs/study/build-$id" QSLAW_TARGETS=qslaw \
    QSLAW_CMAKE_ARGS="-DQSLAW_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=$arch" "$src/qslaw" build
  cp "runs/study/build-$id/cli/qslaw" "$bin.tmp" && mv "$bin.tmp" "$bin"
fi
if ((build_only)); then echo "$bin"; exit 0; fi
runs_root="runs/study/$id"

# setsid gives each queue its own autogroup, whose weight `nice` does not
# change; lower the autogroup itself so the study yields to interactive work.
lower() { echo 19 > /proc/self/autogroup 2>/dev/null || true; renice -n 19 "$BASHPID" >/dev/null 2>&1 || true; }

run_queue() {
  lower
  local sweep
  for sweep in "$@"; do
    echo "$(date -u +%FT%TZ) start $sweep ($bin)" >> runs/study/queue.log
    if OMP_WAIT_POLICY=passive "$bin" run "experiments/$sweep.yaml" --runs "$runs_root" --no-progress >> "runs/study/$sweep.log" 2>&1; then
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
