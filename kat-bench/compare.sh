#!/usr/bin/env bash
# kat4j against PyTorch (Debian's python3-torch 1.13) and DJL 0.36 (PyTorch 2.7.1 engine) on the
# same machine and thread count: the rational op, the Mlp / GR-KAN blocks (forward+backward,
# batch 32 x 197 tokens) and one training step of the ViT / KAT models. Prints one markdown table
# and writes the chart docs/benchmarks-compare.png.
#   kat-bench/compare.sh [threads]
#   KAT4J_BLAS=mkl kat-bench/compare.sh [threads]   # kat4j's GEMM through Intel MKL (-Dkat4j.blas=mkl;
#                                                   # Maven resolves MKL's jars, ~180 MB, on first use)
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
echo "kat4j (JMH) ..." >&2
blas=${KAT4J_BLAS:-openblas}
cp="$jar"
forks=()
if [ "$blas" = mkl ]; then
    (cd "$root" && mvn -q -B -pl kat-core dependency:build-classpath -Dmdep.includeArtifactIds=mkl -Dmdep.outputFile="$tmp/mkl.cp") >&2
    cp="$jar:$(cat "$tmp/mkl.cp")"
    # replaces the benchmarks' own fork options: the largest heap of theirs, and the choice
    forks=(-jvmArgsAppend "-Xmx4g --add-modules jdk.incubator.vector -XX:PerMethodTrapLimit=10000 -Dkat4j.blas=mkl")
fi
java -cp "$cp" org.openjdk.jmh.Main "RationalBench.(forward|backward)$|BlockBench|ModelStepBench" -p shape=32x197x768,32x197x192 -p replicas=0,1 \
    -wi 3 -i 5 -w 1 -r 1 -rf json -rff "$tmp/jmh.json" "${forks[@]}" > "$tmp/jmh.log"
echo "PyTorch ..." >&2
if ! /usr/bin/python3 "$root/kat-bench/peer/torch_bench.py" "$threads" > "$tmp/torch.json" 2> "$tmp/torch.err"; then
    echo "PyTorch side failed: $(tail -1 "$tmp/torch.err")" >&2
    echo '{}' > "$tmp/torch.json"
fi
echo "DJL ..." >&2
djl="$root/kat-bench/peer/djl"
if (cd "$djl" && mvn -q -B package > "$tmp/djl-build.log" 2>&1) \
    && java -Dai.djl.offline=true -Dai.djl.pytorch.num_threads="$threads" -Dai.djl.pytorch.num_interop_threads=1 \
        -cp "$djl/target/classes:$(cat "$djl/target/classpath.txt")" org.kat4j.peer.DjlBench "$threads" \
        > "$tmp/djl.json" 2> "$tmp/djl.err"; then
    :
else
    echo "DJL side failed (see $tmp)" >&2
    echo '{}' > "$tmp/djl.json"
fi
# the machine, printed above the table: results from one kind of CPU say nothing about another
cpu=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
if grep -qw avx512f /proc/cpuinfo; then width="AVX-512"; elif grep -qw avx2 /proc/cpuinfo; then width="AVX2"; else width="SSE"; fi
machine="$cpu, $(nproc) cores, $width, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; kat4j GEMM: $blas"
python3 - "$tmp/jmh.json" "$tmp/torch.json" "$tmp/djl.json" "$tmp/chart.tsv" "$threads" "$machine" <<'PY'
import json, sys
jmh = {}
for r in json.load(open(sys.argv[1])):
    cls, m = r["benchmark"].rsplit(".", 2)[-2:]
    jmh[(cls, m, tuple(sorted(r.get("params", {}).items())))] = r["primaryMetric"]["score"]
t = json.load(open(sys.argv[2]))
d = json.load(open(sys.argv[3]))
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
print(f"Machine: {sys.argv[6]}\n")
print(f"Threads: {sys.argv[5]}; PyTorch {t.get('torch', 'not run')}; DJL {d.get('djl', 'not run')} ({d.get('engine', '-')})\n")
print("| workload | kat4j ms | PyTorch ms | DJL ms | PyTorch / kat4j | DJL / kat4j |")
print("|---|---|---|---|---|---|")
with open(sys.argv[4], "w") as chart:
    for name, key, ours in rows:
        pt, dj = t.get(key), d.get(key)
        print(f"| {name} | {fmt(ours)} | {fmt(pt)} | {fmt(dj)} | {ratio(pt, ours)} | {ratio(dj, ours)} |")
        for side, v in (("PyTorch 1.13", pt), ("DJL 0.36 / PyTorch 2.7.1", dj)):
            if v is not None and ours is not None:
                chart.write(f"{name.replace(', batch', ' b')}\t{side}\t{v / ours:.3f}\n")
print("\nRatios > 1: kat4j is faster. Train step images/s = batch / time.")
PY
java -cp "$jar" org.kat4j.bench.BarChart "$tmp/chart.tsv" "$root/docs/benchmarks-compare.png" \
    "Peer time / kat4j time ($threads threads; > 1: kat4j faster)" "ratio"
echo "wrote docs/benchmarks-compare.png" >&2
