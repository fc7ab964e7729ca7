#!/usr/bin/env bash
# Compiles the kernels in src/main/cuda (rational.cu: the group-rational op; kernels.cu: the CUDA
# backend's other ops) into the resources kat-cuda ships: PTX for compute_80 (JIT on any newer GPU
# whose driver reads PTX ISA of this nvcc) and an sm_90 cubin (H100/H200), plus a stamp per source
# with its SHA-256 that CudaCpuSideTest compares (a kernel edited without rerunning this script
# fails the build). Run it by hand after editing the kernels; Maven never runs it, so a build never
# rewrites these committed files. Needs nvcc (13.0 tested). Prints registers and spills per kernel.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/src/main/resources/org/kat4j/cuda"
nvcc=${NVCC:-nvcc}
mkdir -p "$out"
for base in rational kernels; do
    src="$here/src/main/cuda/$base.cu"
    "$nvcc" -O3 -std=c++17 -arch=compute_80 -ptx "$src" -o "$out/$base.ptx"
    "$nvcc" -O3 -std=c++17 -arch=sm_90 -cubin "$src" -o "$out/${base}_sm90.cubin"
    # registers and spills from a second compile (-Xptxas -v changes the cubin's bytes)
    "$nvcc" -O3 -std=c++17 -arch=sm_90 -cubin -Xptxas -v "$src" -o /dev/null 2>&1 |
        awk '/Compiling entry/ {k=$0; sub(/.*function ./, "", k); sub(/. for.*/, "", k)}
             /spill/ {s=$0; sub(/.*bytes stack frame, /, "", s)}
             /Used/ {r=$0; sub(/.*Used /, "", r); sub(/ registers.*/, "", r); printf "  %-28s %3s registers, %s\n", k, r, s}'
    sha256sum "$src" | cut -d' ' -f1 > "$out/$base.cu.sha256"
done
echo "built $(ls "$out" | tr '\n' ' ')"
