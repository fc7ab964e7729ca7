#!/usr/bin/env bash
# kat4j against PyTorch (Debian's python3-torch 1.13) and DJL 0.36 (PyTorch 2.7.1 engine) on the
# same machine and thread count: the rational op, the Mlp / GR-KAN blocks (forward+backward,
# batch 32 x 197 tokens) and one training step of the ViT / KAT models. Each side runs twice, in
# mirrored order, and each figure is the mean of its two runs (a shared machine's speed drifts over
# the quarter hour this takes). Prints one markdown table and writes the chart docs/benchmarks-compare.png.
#   kat-bench/compare.sh [threads]
#   KAT4J_BLAS=mkl kat-bench/compare.sh [threads]   # kat4j's GEMM through Intel MKL (-Dkat4j.blas=mkl;
#                                                   # Maven resolves MKL's jars, ~180 MB, on first use)
#   KAT4J_BLAS=openblas kat-bench/compare.sh [threads]   # every kat4j product on OpenBLAS, not on kat4j's
#                                                        # own kernel (which takes them on AVX-512)
# The environment decides OpenBLAS's kernels on both OpenBLAS sides (OPENBLAS_CORETYPE; the table names
# them). To compare on the kernels OpenBLAS picks for the CPU, unset it for this command alone:
#   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE kat-bench/compare.sh 2
# Needs python3-torch and libopenblas0-pthread for the PyTorch column (on the reference BLAS it stops
# with a message: its GEMM would run 20-35x slow and the column would mean nothing); the DJL column is built from kat-bench/peer/djl
# (Maven downloads DJL and its PyTorch CPU engine, ~110 MB, on first use). A side that cannot run
# is reported as missing, the others still run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=${1:-2}
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$threads
jar="$root/kat-bench/target/benchmarks.jar"
[ -f "$jar" ] || (cd "$root" && mvn -q -B -pl kat-bench -am package -DskipTests)
tmp=$(mktemp -d)
blas=${KAT4J_BLAS:-auto}
cp="$jar"
forks=()
if [ "$blas" = mkl ]; then
    (cd "$root" && mvn -q -B -pl kat-core dependency:build-classpath -Dmdep.includeArtifactIds=mkl -Dmdep.outputFile="$tmp/mkl.cp") >&2
    cp="$jar:$(cat "$tmp/mkl.cp")"
    # replaces the benchmarks' own fork options: the largest heap of theirs, and the choice
    forks=(-jvmArgsAppend "-Xmx4g --add-modules jdk.incubator.vector -XX:PerMethodTrapLimit=10000 -XX:PerMethodRecompilationCutoff=10000 -Dkat4j.blas=mkl")
elif [ "$blas" = openblas ]; then
    forks=(-jvmArgsAppend "-Xmx4g --add-modules jdk.incubator.vector -XX:PerMethodTrapLimit=10000 -XX:PerMethodRecompilationCutoff=10000 -Dkat4j.blas=openblas")
fi
djl="$root/kat-bench/peer/djl"
djl_ok=1
(cd "$djl" && mvn -q -B package > "$tmp/djl-build.log" 2>&1) || { djl_ok=0; echo "DJL side failed to build (see $tmp/djl-build.log)" >&2; }
kat() {
    echo "kat4j (JMH), run $1 ..." >&2
    # only what the table shows: 16 benchmarks instead of 32. Five 1-s warm-ups: C2 compiles the
    # kernels over a fork's first 3-5 s (the Mlp block at width 192 on a Zen 5, warm-ups after the
    # first: 84, 60, 60, 60, 56 ms, then 55 ms per step), and the table is about the steps of a
    # training run, not its first seconds
    java -cp "$cp" org.openjdk.jmh.Main "RationalBench.(forward|backward)$|BlockBench.(mlp|grkan)ForwardBackward|ModelStepBench" \
        -p shape=32x197x768,32x197x192 -p replicas=0,1 -p dim=192,384 \
        -p model=vit_tiny_patch16_224:16,kat_tiny_patch16_224:16,vit_micro_patch4_28:64,kat_micro_patch4_28:64 \
        -wi 5 -i 3 -w 1 -r 1 -rf json -rff "$tmp/jmh$1.json" "${forks[@]}" > "$tmp/jmh$1.log"
}
torch() {
    echo "PyTorch, run $1 ..." >&2
    if ! /usr/bin/python3 "$root/kat-bench/peer/torch_bench.py" "$threads" > "$tmp/torch$1.json" 2> "$tmp/torch$1.err"; then
        echo "PyTorch side failed: $(tail -1 "$tmp/torch$1.err")" >&2
        echo '{}' > "$tmp/torch$1.json"
    fi
}
djl_run() {
    echo "DJL, run $1 ..." >&2
    if [ "$djl_ok" = 1 ] && java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads="$threads" -Dai.djl.pytorch.num_interop_threads=1 \
        -cp "$djl/target/classes:$(cat "$djl/target/classpath.txt")" org.kat4j.peer.DjlBench "$threads" \
        > "$tmp/djl$1.json" 2> "$tmp/djl$1.err"; then
        :
    else
        echo "DJL side failed (see $tmp)" >&2
        echo '{}' > "$tmp/djl$1.json"
    fi
}
# two runs of each side in mirrored order (kat4j, PyTorch, DJL, then DJL, PyTorch, kat4j), each
# figure the mean of its side's two: a machine that speeds up or slows down over the quarter hour
# (shared machines do) shifts every side alike instead of whichever ran in the slow minutes
kat 1
torch 1
djl_run 1
djl_run 2
torch 2
kat 2
# the machine, printed above the table: results from one kind of CPU say nothing about another
cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
if grep -qw avx512f /proc/cpuinfo; then width="AVX-512"; elif grep -qw avx2 /proc/cpuinfo; then width="AVX2"; else width="SSE"; fi
# the GEMM as the CPU backend chose it in the benchmarks' JVM (kat info's line)
gemm=$(java --add-modules jdk.incubator.vector -XX:PerMethodTrapLimit=10000 -XX:PerMethodRecompilationCutoff=10000 -Dkat4j.blas="$blas" -cp "$cp" org.kat4j.cli.Kat info \
    2>/dev/null | sed -n 's/.*GEMM \(.*\), large products.*/\1/p' | head -1)
machine="$cpu, $(nproc) cores, $width, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; kat4j GEMM: $gemm"
# the kernels kat4j's OpenBLAS runs under this environment (its library as JavaCPP unpacked it)
katblas=$(find "$HOME/.javacpp/cache" -path '*openblas*' -name 'libopenblas_nolapack.so*' 2>/dev/null | head -1)
kat_core=$(/usr/bin/python3 "$root/kat-bench/peer/openblas_core.py" "$katblas")
[ "$blas" = mkl ] && kat_core="not used (GEMM on MKL)"
python3 - "$tmp" "$tmp/chart.tsv" "$threads" "$machine" "$kat_core" <<'PY'
import json, os, statistics, sys
tmp, chart_path, threads, machine, kat_core = sys.argv[1:6]
spread = {}  # side -> relative differences between its two runs, per workload
def merge(side, runs):
    """The mean of a side's runs per workload, and how far its two runs were apart."""
    out = {}
    for key in set().union(*runs):
        vals = [r[key] for r in runs if key in r]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            out[key] = sum(vals) / len(vals)
            timed = not isinstance(key, str) or key.startswith(("rational_", "block_", "train_"))
            if timed and len(vals) == 2 and min(vals) > 0:
                spread.setdefault(side, []).append(abs(vals[0] - vals[1]) / min(vals))
        else:
            out[key] = vals[0]
    return out
def jmh_run(path):
    out = {}
    if os.path.exists(path) and os.path.getsize(path) > 0:
        for r in json.load(open(path)):
            cls, m = r["benchmark"].rsplit(".", 2)[-2:]
            out[(cls, m, tuple(sorted(r.get("params", {}).items())))] = r["primaryMetric"]["score"]
    return out
def peer_run(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return {}
jmh = merge("kat4j", [jmh_run(os.path.join(tmp, f"jmh{i}.json")) for i in (1, 2)])
t = merge("PyTorch", [peer_run(os.path.join(tmp, f"torch{i}.json")) for i in (1, 2)])
d = merge("DJL", [peer_run(os.path.join(tmp, f"djl{i}.json")) for i in (1, 2)])
def k(cls, m, **p):
    return jmh.get((cls, m, tuple(sorted((a, str(b)) for a, b in p.items()))))
rows = []  # (workload, key in the peers' JSON, kat4j ms)
for s in ("32x197x768", "32x197x192"):
    f, b = k("RationalBench", "forward", shape=s), k("RationalBench", "backward", shape=s)
    rows.append((f"rational forward {s}", f"rational_forward_{s}", f))
    rows.append((f"rational forward+backward {s}", f"rational_forward_backward_{s}", f + b))
for dim in (192, 384):
    rows.append((f"Mlp block fwd+bwd, dim {dim}", f"block_mlp_{dim}", k("BlockBench", "mlpForwardBackward", dim=dim)))
    rows.append((f"GR-KAN block fwd+bwd, dim {dim}", f"block_grkan_{dim}", k("BlockBench", "grkanForwardBackward", dim=dim)))
for model in ("vit_tiny_patch16_224:16", "kat_tiny_patch16_224:16", "vit_micro_patch4_28:64", "kat_micro_patch4_28:64"):  # the peers time these
    name, batch = model.split(":")
    kind, rest = name.split("_", 1)
    # the Trainer's default (a replica per core on its part of the batch), then one model on all cores
    rows.append((f"train step {name}, batch {batch}", f"train_{kind}_{rest}:{batch}", k("ModelStepBench", "trainStep", model=model, replicas=0)))
    rows.append((f"train step {name}, batch {batch}, 1 replica", f"train_{kind}_{rest}:{batch}", k("ModelStepBench", "trainStep", model=model, replicas=1)))
def fmt(v):
    return "-" if v is None else f"{v:.2f}"
def ratio(peer, ours):
    return "-" if peer is None or ours is None else f"{peer / ours:.2f}"
print(f"Machine: {machine}\n")
print(f"OpenBLAS kernels: kat4j {kat_core}; PyTorch {t.get('openblas') or 'unknown'}\n")
print(f"Threads: {threads}; PyTorch {t.get('torch', 'not run')}; DJL {d.get('djl', 'not run')} ({d.get('engine', '-')})\n")
print("| workload | kat4j ms | PyTorch ms | DJL ms | PyTorch / kat4j | DJL / kat4j |")
print("|---|---|---|---|---|---|")
with open(chart_path, "w") as chart:
    for name, key, ours in rows:
        pt, dj = t.get(key), d.get(key)
        print(f"| {name} | {fmt(ours)} | {fmt(pt)} | {fmt(dj)} | {ratio(pt, ours)} | {ratio(dj, ours)} |")
        for side, v in (("PyTorch 1.13", pt), ("DJL 0.36 / PyTorch 2.7.1", dj)):
            if v is not None and ours is not None:
                chart.write(f"{name.replace(', batch', ' b')}\t{side}\t{v / ours:.3f}\n")
print("\nRatios > 1: kat4j is faster. Train step images/s = batch / time. Each side ran twice, in mirrored order"
      " (kat4j, PyTorch, DJL, then DJL, PyTorch, kat4j); each figure is the mean of its side's two runs.")
print("\nHow far a side's two runs of one workload were apart (median, largest; the machine's own noise): " + "; ".join(
    f"{side} {100 * statistics.median(v):.0f}%, {100 * max(v):.0f}%" for side, v in spread.items()) + ".")
PY
java -cp "$jar" org.kat4j.bench.BarChart "$tmp/chart.tsv" "$root/docs/benchmarks-compare.png" \
    "Peer time / kat4j time ($threads threads; > 1: kat4j faster)" "ratio"
echo "wrote docs/benchmarks-compare.png" >&2
