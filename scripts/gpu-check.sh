#!/usr/bin/env bash
# The GPU check of the CUDA backend, for a machine with an NVIDIA GPU: runs
# every CUDA test (each op, gradients and training steps against the CPU), the
# GPU benchmarks and the tiny pipeline with llava.device=cuda, and writes a
# short Markdown report.
#
#   scripts/gpu-bundle.sh               # on the development machine (no GPU needed)
#   scripts/gpu-check.sh [report.md]    # on the GPU machine, from the repo root
#
# It uses gpu-bundle/ when present (binaries built elsewhere, with their
# libraries), else build-gpu/ or build/. Each part has a time limit, so the
# report is written whatever happens, in under 8 minutes.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
report="${1:-$root/gpu-report.md}"
bin=""
for d in "$root/gpu-bundle" "$root/build-gpu/tests/cuda" "$root/build/tests/cuda"; do
  if [ -x "$d/test_cuda" ]; then bin="$d"; break; fi
done
if [ -z "$bin" ]; then
  echo "gpu-check: no test_cuda binary; run scripts/gpu-bundle.sh first" >&2
  exit 2
fi
bench="$bin/bench_cuda"
[ -x "$bench" ] || bench="$root/build-gpu/bench/bench_cuda"

# cuBLAS comes from the GPU machine: the CUDA toolkit, or a pip wheel.
if ! ldconfig -p | grep -q 'libcublas\.so\.13'; then
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
           $(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null); do
    if [ -e "$d/libcublas.so.13" ]; then export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"; break; fi
  done
fi
[ -d "$bin/lib" ] && export LD_LIBRARY_PATH="$bin/lib:${LD_LIBRARY_PATH:-}"

{
  echo "# qslaw GPU check ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo '```'
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv 2>&1
  echo '```'
  echo
  echo "## CUDA tests ($bin/test_cuda)"
  echo
  echo '```'
} >"$report"
timeout 120 "$bin/test_cuda" --duration=true >"$report.tests" 2>&1
tests_rc=$?
tail -n 80 "$report.tests" >>"$report"
{
  echo '```'
  echo
  echo "test_cuda exit status: $tests_rc"
  echo
} >>"$report"
# engine/dist on CUDA tensors: as one process, and (where the machine has
# mpirun) as an MPI job of one rank, whose collectives then go through NCCL.
dist_rc=0
if [ -x "$bin/test_dist_gpu" ] || [ -x "$root/build/tests/dist/test_dist_gpu" ]; then
  dist_bin="$bin/test_dist_gpu"; [ -x "$dist_bin" ] || dist_bin="$root/build/tests/dist/test_dist_gpu"
  {
    echo "## engine/dist on the GPU ($dist_bin)"
    echo
    echo '```'
  } >>"$report"
  timeout 60 "$dist_bin" >>"$report" 2>&1 || dist_rc=$?
  if command -v mpirun >/dev/null; then
    timeout 60 mpirun -np 1 --allow-run-as-root "$dist_bin" >>"$report" 2>&1 || dist_rc=$?
  else
    echo "(no mpirun here: the NCCL path was not run)" >>"$report"
  fi
  echo '```' >>"$report"
  echo "test_dist_gpu exit status: $dist_rc" >>"$report"
  echo >>"$report"
fi
timeout 180 "$bench" all >>"$report" 2>&1
bench_rc=$?
echo >>"$report"
echo "bench_cuda exit status: $bench_rc" >>"$report"

# The tiny pipeline with LM pretraining and the multimodal stages on the GPU
# (CLIP pretraining and calibration run on the CPU), end to end.
pipeline_rc=0
if [ -x "$bin/qslaw" ]; then
  runs="$(mktemp -d)"
  {
    echo
    echo "## Tiny pipeline, pretrain_llm.train.device=cuda llava.device=cuda"
    echo
    echo '```'
  } >>"$report"
  (cd "$root" && timeout 150 "$bin/qslaw" run experiments/tiny/pipeline.yaml \
     pretrain_llm.train.device=cuda llava.device=cuda --runs "$runs") \
    >"$report.pipeline" 2>&1
  pipeline_rc=$?
  tail -n 12 "$report.pipeline" >>"$report"
  echo '```' >>"$report"
  echo "pipeline exit status: $pipeline_rc" >>"$report"
  rm -rf "$runs"
fi
cat "$report"
[ "$tests_rc" -eq 0 ] && [ "$dist_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] && [ "$pipeline_rc" -eq 0 ]
