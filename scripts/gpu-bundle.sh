#!/usr/bin/env bash
# Builds the CUDA tests and benchmarks as binaries that travel (generic x86-64,
# sm_80 + sm_90, static CUDA runtime, cuBLAS opened at run time) and gathers
# them with their non-system shared libraries into gpu-bundle/:
#   gpu-bundle/{test_cuda,test_dist_gpu,bench_cuda,qslaw}, gpu-bundle/lib/*.so*
# scripts/gpu-check.sh runs that bundle on a machine with a GPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-gpu"
out="$root/gpu-bundle"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQSLAW_PORTABLE=ON -DQSLAW_CUDA=ON >/dev/null
cmake --build "$build" -j "${QSLAW_JOBS:-2}" --target test_cuda test_dist_gpu bench_cuda qslaw
rm -rf "$out"
mkdir -p "$out/lib"
cp "$build/tests/cuda/test_cuda" "$build/tests/dist/test_dist_gpu" "$build/bench/bench_cuda" "$build/cli/qslaw" "$out/"
# Everything the binaries load except glibc's and the compiler runtime's own
# libraries (the GPU machine's are as new or newer) and CUDA's (cuBLAS is the
# GPU machine's; so is the driver).
for bin in "$out/test_cuda" "$out/test_dist_gpu" "$out/bench_cuda" "$out/qslaw"; do
  ldd "$bin" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|libresolv.so*|ld-linux*|libstdc++*|libgcc_s*) ;;
      libcublas*|libcuda.so*|libcudart*) ;;
      *) [ -e "$out/lib/$(basename "$lib")" ] || cp -L "$lib" "$out/lib/" ;;
    esac
  done
done
strip "$out/test_cuda" "$out/test_dist_gpu" "$out/bench_cuda" "$out/qslaw"  # what travels is limited in size
du -sh "$out"
