#!/usr/bin/env bash
# kat4j against PyTorch on the same machine and thread count: the rational op and the Mlp / GR-KAN
# blocks (forward+backward, batch 32 x 197 tokens). Prints one markdown table.
#   kat-bench/compare.sh [threads]      (needs Debian's python3-torch and libopenblas0-pthread)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
threads=${1:-2}
export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$threads
jar="$root/kat-bench/target/benchmarks.jar"
[ -f "$jar" ] || (cd "$root" && mvn -q -B -pl kat-bench -am package -DskipTests)
tmp=$(mktemp -d)
java -jar "$jar" "RationalBench|BlockBench" -p shape=32x197x768,32x197x192 -wi 3 -i 5 -w 1 -r 1 \
    -rf json -rff "$tmp/jmh.json" > "$tmp/jmh.log"
/usr/bin/python3 "$root/kat-bench/peer/torch_bench.py" "$threads" > "$tmp/torch.json"
python3 - "$tmp/jmh.json" "$tmp/torch.json" <<'PY'
import json, sys
jmh = {}
for r in json.load(open(sys.argv[1])):
    cls, m = r["benchmark"].rsplit(".", 2)[-2:]
    key = (cls, m, tuple(sorted(r.get("params", {}).items())))
    jmh[key] = r["primaryMetric"]["score"]
t = json.load(open(sys.argv[2]))
def k(cls, m, **p):
    return jmh[(cls, m, tuple(sorted((a, str(b)) for a, b in p.items())))]
rows = []
for s in ("32x197x768", "32x197x192"):
    rows.append((f"rational forward {s}", k("RationalBench", "forward", shape=s), t[f"rational_forward_{s}"]))
    ours = k("RationalBench", "forward", shape=s) + k("RationalBench", "backward", shape=s)
    rows.append((f"rational forward+backward {s}", ours, t[f"rational_forward_backward_{s}"]))
for d in (192, 384):
    rows.append((f"Mlp block fwd+bwd, dim {d}", k("BlockBench", "mlpForwardBackward", dim=d), t[f"block_mlp_{d}"]))
    rows.append((f"GR-KAN block fwd+bwd, dim {d}", k("BlockBench", "grkanForwardBackward", dim=d), t[f"block_grkan_{d}"]))
print(f"PyTorch {t['torch']}, {t['threads']} threads")
print("| workload | kat4j ms | PyTorch ms | PyTorch / kat4j (>1: kat4j faster) |")
print("|---|---|---|---|")
for name, a, b in rows:
    print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.2f} |")
PY
