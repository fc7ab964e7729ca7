#!/usr/bin/env bash
# One GPU check: compiles the kernels with the machine's nvcc (if any), runs the GPU tests
# (rational kernels: parity with the CPU kernel, poisoned outputs, every group count, bf16/f16,
# determinism; the CUDA backend: the backend contract suite, transfers, memory reuse, a kat_micro
# training step against the CPU's), the main job (kat train --builtin) on the GPU, recorded as CUDA
# graphs and eagerly (the same metrics?), against the CPU run's accuracy, and the GPU benchmarks (the rational kernels; the CUDA backend
# beside PyTorch on the same workloads, kat-cuda/gpu_peer.py), and prints the tables last. Works
# without a JDK or a package registry: it then uses the jlink runtime of kat-cuda/target/gpu-bundle
# (unpacked from the gpu-bundle.tar.xz that make-gpu-bundle.sh makes here). BITERS sets the backend benchmark's iterations (default 10).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bundle="$here/target/gpu-bundle"
cd "$here"
iters=${ITERS:-100}

if [ ! -d "$bundle/lib" ] && [ -f "$bundle.tar.xz" ]; then
    echo "== unpacking $bundle.tar.xz"
    tar -C "$here/target" -xJf "$bundle.tar.xz" 2>/dev/null ||
        python3 -c "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$bundle.tar.xz" "$here/target"
fi
if [ ! -d "$bundle/lib" ]; then
    echo "gpu-check: $bundle(.tar.xz) is missing: run kat-cuda/make-gpu-bundle.sh on a machine with Maven first" >&2
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
    kernels="built with $(nvcc --version | tail -1);"
    for base in rational kernels; do
        if nvcc -O3 -std=c++17 -arch=compute_80 -ptx "$here/src/main/cuda/$base.cu" -o "$tmp/$base.ptx" &&
           nvcc -O3 -std=c++17 -arch=sm_90 -cubin "$here/src/main/cuda/$base.cu" -o "$tmp/${base}_sm90.cubin"; then
            if cmp -s "$tmp/$base.ptx" "$here/src/main/resources/org/kat4j/cuda/$base.ptx"; then same="identical to"; else same="differs from"; fi
            kernels="$kernels $base PTX $same the shipped one;"
        else
            kernels="$kernels $base FAILED to compile;"
        fi
    done
fi
echo "== kernels: $kernels"

# cuBLAS 13 and the CUDA 13 runtime: the toolkit's, or those of PyTorch's nvidia-* wheels (every
# directory under a site-packages' nvidia/ that holds libcublas.so.13 or libcudart.so.13)
for py in python3 python /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    wheels=$("$py" - <<'PY' 2>/dev/null
import os, site, sys
roots = [p for p in site.getsitepackages() + [site.getusersitepackages()] + sys.path if p and os.path.isdir(p)]
dirs = []
for root in dict.fromkeys(roots):
    base = os.path.join(root, "nvidia")
    if not os.path.isdir(base):
        continue
    for d, _, files in os.walk(base):
        if any(f.startswith(("libcublas.so.13", "libcudart.so.13", "libcublasLt.so.13")) for f in files) and d not in dirs:
            dirs.append(d)
print(":".join(dirs))
PY
)
    if [ -n "$wheels" ]; then
        export LD_LIBRARY_PATH="$wheels${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        break
    fi
done
echo "== LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"

cp_jars=$(ls "$bundle"/lib/*.jar | grep -v junit-platform-console | tr '\n' ':')
# every section has its own time limit (seconds; a section cut short reports exit 124 and the
# ones after it still run): the whole script stays under 8 minutes
echo "== GPU tests (at most ${TESTS_TIMEOUT:-120} s)"
timeout "${TESTS_TIMEOUT:-120}" "$java_bin" -Dkat4j.rational.kernel=provider -jar "$bundle"/lib/junit-platform-console-standalone-*.jar execute \
    --class-path "$bundle/test-classes:$cp_jars" --select-class org.kat4j.cuda.CudaRationalGpuTest \
    --select-class org.kat4j.cuda.CudaCpuSideTest --select-class org.kat4j.cuda.CudaBackendContractTest \
    --select-class org.kat4j.backend.HostBackendContractTest --select-class org.kat4j.models.CudaTrainingStepGpuTest \
    --disable-ansi-colors \
    --disable-banner --details=tree 2>&1 | grep -v '^\s*$'
tests_rc=${PIPESTATUS[0]}

# the main job on the GPU, twice: with every full batch's whole step replayed as a CUDA graph
# (--cuda-graphs) and eagerly. Both compute the same numbers, which the epochs both finished show
# (metrics.csv without its time columns); the first to run in full gives the test accuracy against
# the CPU run's (./kat train --builtin, 2 cores of an AMD EPYC Zen 4 with AVX-512, 2026-12-03:
# 86.30%; the same recipe, so within 0.5 points). The recorded run goes first with the long limit;
# the eager one then only needs a few epochs for the comparison, unless the recorded run failed.
cpu_accuracy=${CPU_ACCURACY:-86.30}
main_job() { # out-dir time-limit extra-args...
    local out=$1 limit=$2
    shift 2
    timeout "$limit" "$java_bin" -cp "$bundle/test-classes:$cp_jars" org.kat4j.cli.Kat train --builtin --device cuda --quiet \
        --out "$out" "$@" > "$out/log" 2>&1
}
accuracy() { sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' "$1/log" | tail -1; }
graphs_out=$(mktemp -d)
train_out=$(mktemp -d)
echo "== kat train --builtin --device cuda --cuda-graphs (at most ${TRAIN_TIMEOUT:-150} s; the CPU run: $cpu_accuracy%)"
main_job "$graphs_out" "${TRAIN_TIMEOUT:-150}" --cuda-graphs
graphs_rc=$?
grep -E "^(model|epoch|done)" "$graphs_out/log" | sed -n '1,3p;$p'
[ "$graphs_rc" -eq 0 ] || tail -5 "$graphs_out/log"
if [ "$graphs_rc" -eq 0 ]; then eager_limit=${EAGER_TIMEOUT:-60}; else eager_limit=${TRAIN_TIMEOUT:-150}; fi
echo "== kat train --builtin --device cuda (at most $eager_limit s)"
main_job "$train_out" "$eager_limit"
train_rc=$?
grep -E "^(epoch|done)" "$train_out/log" | sed -n '1p;$p'
[ "$train_rc" -eq 0 ] || [ "$train_rc" -eq 124 ] || tail -5 "$train_out/log"
full=""
if [ "$graphs_rc" -eq 0 ]; then full="recorded run"; gpu_accuracy=$(accuracy "$graphs_out");
elif [ "$train_rc" -eq 0 ]; then full="eager run"; gpu_accuracy=$(accuracy "$train_out"); else gpu_accuracy=""; fi
train="recorded exit $graphs_rc, eager exit $train_rc$([ "$train_rc" -eq 124 ] && echo ' (stopped at its limit)')"
if [ -n "$gpu_accuracy" ]; then
    train="$train; test accuracy ($full) $gpu_accuracy% vs CPU $cpu_accuracy%: $(python3 -c "import sys; d = abs(float(sys.argv[1]) - float(sys.argv[2])); print('%.2f points, %s' % (d, 'within 0.5' if d <= 0.5 else 'OUTSIDE 0.5'))" "$gpu_accuracy" "$cpu_accuracy")"
fi
graphs=$(python3 - "$train_out/metrics.csv" "$graphs_out/metrics.csv" <<'PY'
import sys
def rows(p):
    try:
        return [l.strip().split(",") for l in open(p).read().splitlines()[1:] if l.strip()]
    except OSError:
        return []
eager, graphs = rows(sys.argv[1]), rows(sys.argv[2])
n = min(len(eager), len(graphs))
if n == 0:
    print("no epoch to compare")
else:
    same = all(e[:6] == g[:6] for e, g in zip(eager[:n], graphs[:n]))
    te = sum(float(e[7]) for e in eager[:n]) / n
    tg = sum(float(g[7]) for g in graphs[:n]) / n
    print("epochs 1-%d: %s metrics recorded and eager; %.2f s an epoch recorded, %.2f s eagerly (%.2fx)"
          % (n, "the same" if same else "DIFFERENT", tg, te, te / tg))
PY
)
echo "== main job on the GPU: $train; $graphs"

echo "== GPU benchmark (CUDA events; graphs of $iters calls, and a host loop; at most ${BENCH_TIMEOUT:-60} s)"
timeout "${BENCH_TIMEOUT:-60}" "$java_bin" -cp "$cp_jars" org.kat4j.bench.gpu.GpuBench "$iters"
bench_rc=$?

work=$(mktemp -d)
biters=${BITERS:-10}
echo "== CUDA backend benchmark: kat4j and PyTorch on the same GPU (float32, TF32 off; $biters iterations; at most"\
    "${BACKEND_TIMEOUT:-75} s a side)"
timeout "${BACKEND_TIMEOUT:-75}" "$java_bin" -cp "$bundle/test-classes:$cp_jars" org.kat4j.bench.gpu.BackendGpuBench "$biters" \
    > "$work/kat.json"
kat_rc=$?
peer_rc=1
for py in python3 python /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 && "$py" -c "import torch" 2>/dev/null || continue
    timeout "${BACKEND_TIMEOUT:-75}" "$py" "$here/gpu_peer.py" "$biters" > "$work/torch.json"
    peer_rc=$?
    "$py" - "$work/kat.json" "$work/torch.json" <<'PY'
import json, sys
def load(p):
    text = open(p).read()
    try:
        return json.loads(text)
    except ValueError:
        return {"error": (text.strip().splitlines() or ["no output"])[0]}
k, t = load(sys.argv[1]), load(sys.argv[2])
print("kat4j:", k.get("backend", k.get("error")))
print("PyTorch:", t.get("torch"), "on", t.get("device"), "models from", t.get("models"), t.get("error", ""))
print("host copies in the kat4j run:", k.get("transfers"), "; cuMemAlloc calls:", k.get("driver_allocations"))
if "graph_error" in k:
    print("CUDA graph capture failed:", k["graph_error"])
print()
print("| workload | kat4j ms | PyTorch ms | PyTorch / kat4j |")
print("|---|---|---|---|")
keys = [key for key in k if key.startswith(("block_", "train_"))]
def f(v):
    return "-" if v is None else "%.2f" % v
for key in keys:
    a, b = k.get(key), t.get(key)
    print("| %s | %s | %s | %s |" % (key, f(a), f(b), "-" if a is None or b is None else "%.2f" % (b / a)))
print()
print("| ratio | measured | bound | |")
print("|---|---|---|---|")
def row(name, value, wanted, ok):
    print("| %s | %s | %s | %s |" % (name, "-" if value is None else "%.2f" % value, wanted,
                                    "-" if value is None else ("within" if ok(value) else "OUTSIDE")))
for d in (192, 384, 768):
    a, b = k.get("block_grkan_%d" % d), k.get("block_mlp_%d" % d)
    row("kat4j GR-KAN / Mlp block, dim %d" % d, None if a is None or b is None else a / b, "<= 1.10", lambda v: v <= 1.10)
vit, kat = k.get("train_vit_tiny_patch16_224:128"), k.get("train_kat_tiny_patch16_224:128")
tvit, tkat = t.get("train_vit_tiny_patch16_224:128"), t.get("train_kat_tiny_patch16_224:128")
row("kat4j kat_tiny / vit_tiny images/s", None if vit is None or kat is None else vit / kat, ">= 0.90", lambda v: v >= 0.9)
row("kat4j vit_tiny / PyTorch vit_tiny images/s", None if vit is None or tvit is None else tvit / vit, ">= 0.80",
    lambda v: v >= 0.8)
row("kat4j kat_tiny / PyTorch composed KAT images/s", None if kat is None or tkat is None else tkat / kat, ">= 2.00",
    lambda v: v >= 2.0)
PY
    break
done

echo "== summary: tests exit $tests_rc, main job $train; $graphs, rational benchmark exit $bench_rc, backend benchmark exit $kat_rc, PyTorch exit $peer_rc, kernels $kernels"
[ "$tests_rc" -eq 0 ] && [ "$graphs_rc" -eq 0 ] && { [ "$train_rc" -eq 0 ] || [ "$train_rc" -eq 124 ]; } && [ "$bench_rc" -eq 0 ] && [ "$kat_rc" -eq 0 ]
