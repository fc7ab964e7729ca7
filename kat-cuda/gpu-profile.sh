#!/usr/bin/env bash
# Nsight Compute on the GPU benchmark's small-shape kernels (where the bandwidth targets are
# hardest): duration, throughput, occupancy and warp stall reasons of the default bf16 and f32
# forward/backward at 32x197x768. Needs ncu on the GPU machine and kat-cuda/target/gpu-bundle
# (gpu-check.sh unpacks it).
# Usage: bash kat-cuda/gpu-profile.sh [out.txt]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bundle="$here/target/gpu-bundle"
out=${1:-/dev/stdout}
java_bin="$bundle/jre/bin/java"
command -v java >/dev/null 2>&1 && java_bin=java
cp_jars=$(ls "$bundle"/lib/*.jar | grep -v junit-platform-console | tr '\n' ':')
command -v ncu >/dev/null 2>&1 || { echo "gpu-profile: no ncu on this machine" >&2; exit 2; }
# one ncu pass per kernel: its second call is a warm-up call of the 32x197x768 row (the f32
# forward is left out: GpuBench's launch-cost probe calls it thousands of times first)
: > "$out"
for k in rational_fwd_bf16_v8 rational_bwd_bf16_v8 rational_bwd_f32_v4; do
    echo "== $k" >> "$out"
    ncu --kernel-name "$k" --launch-skip 1 --launch-count 1 \
        --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
        --section MemoryWorkloadAnalysis \
        "$java_bin" -cp "$cp_jars" org.kat4j.bench.gpu.GpuBench 10 2>&1 | grep -v '^|\|^device\|^launch\|^Device\|^Kernel\|^$' >> "$out"
done
