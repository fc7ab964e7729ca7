#!/usr/bin/env bash
# Compiles src/main/cuda/rational.cu into the resources kat-cuda ships: PTX for compute_80 (JIT
# on any newer GPU whose driver reads PTX ISA of this nvcc) and an sm_90 cubin (H100/H200), plus
# a stamp with the source's SHA-256 that CudaCpuSideTest compares (a kernel edited without
# rerunning this script fails the build). Run it by hand after editing the kernels; Maven never
# runs it, so a build never rewrites these committed files. Needs nvcc (13.0 tested).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/src/main/cuda/rational.cu"
out="$here/src/main/resources/org/kat4j/cuda"
nvcc=${NVCC:-nvcc}
mkdir -p "$out"
"$nvcc" -O3 -std=c++17 -arch=compute_80 -ptx "$src" -o "$out/rational.ptx"
"$nvcc" -O3 -std=c++17 -arch=sm_90 -cubin "$src" -o "$out/rational_sm90.cubin"
sha256sum "$src" | cut -d' ' -f1 > "$out/rational.cu.sha256"
echo "built $(ls "$out")"
