#!/usr/bin/env bash
# One GPU check: compiles the kernels with the machine's nvcc (if any), runs the GPU tests
# (rational kernels: parity with the CPU kernel, poisoned outputs, every group count, bf16/f16,
# determinism; the CUDA backend: the backend contract suite, transfers, memory reuse) and
# the GPU benchmark, and prints a short table. Works without a JDK or a package registry: it
# then uses the jlink runtime of kat-cuda/target/gpu-bundle (made by make-gpu-bundle.sh here).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bundle="$here/target/gpu-bundle"
cd "$here"
iters=${ITERS:-100}

if [ ! -d "$bundle/lib" ]; then
    echo "gpu-check: $bundle is missing: run kat-cuda/make-gpu-bundle.sh on a machine with Maven first" >&2
    exit 2
fi

java_bin="${JAVA:-}"
if [ -z "$java_bin" ] && command -v java >/dev/null 2>&1; then
    v=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    if [ -n "$v" ] && [ "${v%%.*}" -ge 17 ] 2>/dev/null; then java_bin=java; fi
fi
[ -n "$java_bin" ] || java_bin="$bundle/jre/bin/java"
echo "== java: $("$java_bin" -version 2>&1 | head -1) ($java_bin)"
command -v nvidia-smi >/dev/null && echo "== gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"

kernels="skipped (no nvcc)"
if command -v nvcc >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    if nvcc -O3 -std=c++17 -arch=compute_80 -ptx "$here/src/main/cuda/rational.cu" -o "$tmp/rational.ptx" &&
       nvcc -O3 -std=c++17 -arch=sm_90 -cubin "$here/src/main/cuda/rational.cu" -o "$tmp/rational_sm90.cubin"; then
        if cmp -s "$tmp/rational.ptx" "$here/src/main/resources/org/kat4j/cuda/rational.ptx"; then same="identical to"; else same="differs from"; fi
        kernels="built with $(nvcc --version | tail -1); PTX $same the shipped one"
    else
        kernels="FAILED to compile"
    fi
fi
echo "== kernels: $kernels"

# cuBLAS 13 and the CUDA 13 runtime: the toolkit's, or those of PyTorch's nvidia-* wheels
for py in python3 python; do
    command -v "$py" >/dev/null 2>&1 || continue
    wheels=$("$py" - <<'PY' 2>/dev/null
import importlib, os
dirs = []
for m in ("nvidia.cublas", "nvidia.cuda_runtime", "nvidia.cu13"):
    try:
        mod = importlib.import_module(m)
    except Exception:
        continue
    for p in list(getattr(mod, "__path__", [])):
        lib = os.path.join(p, "lib")
        if os.path.isdir(lib):
            dirs.append(lib)
print(":".join(dirs))
PY
)
    [ -n "$wheels" ] && export LD_LIBRARY_PATH="$wheels${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    break
done
echo "== LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"

cp_jars=$(ls "$bundle"/lib/*.jar | grep -v junit-platform-console | tr '\n' ':')
echo "== GPU tests"
"$java_bin" -Dkat4j.rational.kernel=provider -jar "$bundle"/lib/junit-platform-console-standalone-*.jar execute \
    --class-path "$bundle/test-classes:$cp_jars" --select-class org.kat4j.cuda.CudaRationalGpuTest \
    --select-class org.kat4j.cuda.CudaCpuSideTest --select-class org.kat4j.cuda.CudaBackendContractTest \
    --select-class org.kat4j.backend.HostBackendContractTest --select-class org.kat4j.models.CudaTrainingStepGpuTest \
    --disable-ansi-colors \
    --disable-banner --details=tree 2>&1 | grep -v '^\s*$'
tests_rc=${PIPESTATUS[0]}

echo "== GPU benchmark (CUDA events; graphs of $iters calls, and a host loop)"
"$java_bin" -cp "$cp_jars" org.kat4j.bench.gpu.GpuBench "$iters"
bench_rc=$?

echo "== summary: tests exit $tests_rc, benchmark exit $bench_rc, kernels $kernels"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
