#!/usr/bin/env bash
# qslaw's CPU training step against PyTorch on the same machine: the default
# multimodal model of BENCHMARK.md in modes full, lora and qslaw, with 1 and 2
# threads. Each measurement is its own process (no thread pools fighting in
# one process); the two implementations alternate for several rounds after
# their own warm-up steps; the table gives per-mode medians and their ratio.
#
#   bench/compare.sh [--rounds N] [--steps N] [--warmup N] [--modes "full lora qslaw"] [--threads "1 2"]
#   bench/compare.sh --scaling     tokens/s against sequence length and LLM width (mode full)
#   bench/compare.sh --check       both implementations train 20 steps on a fixed batch per mode;
#                                  each must lower its loss by 3%
#   bench/compare.sh --all-logits  qslaw runs the final norm and LM head on every position, as the
#                                  reference does (by default only where the loss has a target)
#
# PyTorch is Debian's python3-torch run by /usr/bin/python3 with the OpenMP
# build of OpenBLAS (libopenblas0-openmp) first on the library path; the
# script prints the BLAS the process actually loaded. Raw JSON lines go to
# bench/results/compare-<time>.jsonl.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds=3 steps=5 warmup=2 modes="full lora qslaw" threads="1 2" scaling=0 check=0 qslaw_flags=()
while (($#)); do
  case "$1" in
    --rounds) rounds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --scaling) scaling=1; shift ;;
    --check) check=1; shift ;;
    --all-logits) qslaw_flags+=(--all-logits); shift ;;
    *) echo "compare.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

openmp_blas=/usr/lib/x86_64-linux-gnu/openblas-openmp
[[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c "import torch" 2>/dev/null || {
  echo "compare.sh: needs Debian's PyTorch: apt-get install python3-torch libopenblas0-openmp" >&2; exit 1; }
[[ -d $openmp_blas ]] || { echo "compare.sh: needs libopenblas0-openmp (PyTorch falls back to the reference BLAS)" >&2; exit 1; }

"$root/qslaw" build >&2
bench="${QSLAW_BUILD_DIR:-$root/build}/bench/bench_train-step"
mkdir -p "$root/bench/results"
out="$root/bench/results/compare-$(date +%Y%m%d-%H%M%S).jsonl"

# OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are unset for PyTorch so OpenBLAS picks
# its best kernel for this CPU (this machine's environment pins Haswell/AVX2).
torch_run() {
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LD_LIBRARY_PATH="$openmp_blas" OMP_NUM_THREADS="$1" \
    /usr/bin/python3 "$root/bench/torch_reference.py" --threads "$@"
}
# qslaw runs as its launcher (./qslaw) runs it: OpenMP threads sleep between
# regions (OMP_WAIT_POLICY=passive). PyTorch keeps libgomp's default, which is
# faster for it (measured: 0.89-1.07 s/step default vs 1.14-1.31 passive).
qslaw_run() { OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}" OMP_NUM_THREADS="$1" "$bench" "${qslaw_flags[@]}" --threads "$@"; }

if ((check)); then
  status=0
  for mode in $modes; do
    for impl in torch_run qslaw_run; do
      "$impl" 2 --mode "$mode" --steps 20 --check || status=1
    done
  done
  exit $status
fi
if ((scaling)); then
  for t in $threads; do
    for shape in "--seq 128" "--seq 256" "--seq 512" "--seq 1024" "--dim 512" "--dim 1024"; do
      for ((r = 0; r < rounds; ++r)); do
        # shellcheck disable=SC2086
        qslaw_run "$t" --mode full --steps "$steps" --warmup "$warmup" $shape | tee -a "$out" >&2
        # shellcheck disable=SC2086
        torch_run "$t" --mode full --steps "$steps" --warmup "$warmup" $shape | tee -a "$out" >&2
      done
    done
  done
else
  for t in $threads; do
    for mode in $modes; do
      for ((r = 0; r < rounds; ++r)); do
        torch_run "$t" --mode "$mode" --steps "$steps" --warmup "$warmup" | tee -a "$out" >&2
        qslaw_run "$t" --mode "$mode" --steps "$steps" --warmup "$warmup" | tee -a "$out" >&2
      done
    done
  done
fi
/usr/bin/python3 "$root/bench/compare_table.py" "$out"
