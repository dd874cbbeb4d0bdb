#!/usr/bin/env bash
# The GPU check of the CUDA backend, for a machine with an NVIDIA GPU: runs
# every CUDA test (each op, gradients and training steps against the CPU) and
# the GPU benchmarks, and writes a short Markdown report.
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
timeout 180 "$bin/test_cuda" --duration=true >"$report.tests" 2>&1
tests_rc=$?
tail -n 80 "$report.tests" >>"$report"
{
  echo '```'
  echo
  echo "test_cuda exit status: $tests_rc"
  echo
} >>"$report"
timeout 270 "$bench" all >>"$report" 2>&1
bench_rc=$?
echo >>"$report"
echo "bench_cuda exit status: $bench_rc" >>"$report"
cat "$report"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
