#!/usr/bin/env python3
"""Turns a JMH JSON result file (java -jar kat-bench/target/benchmarks.jar -rf json -rff F)
into markdown tables with ratios against the baseline measured in the same run.

Usage: python3 kat-bench/report.py jmh.json [machine description [chart.tsv]] > docs/benchmarks-table.md
(chart.tsv: label, series, ratio rows for `java -cp benchmarks.jar org.kat4j.bench.BarChart`)
"""
import json
import sys
from collections import defaultdict


def load(paths):
    """One or more JMH JSON files, comma-separated; a later file's results replace an earlier one's."""
    rows = defaultdict(dict)
    results = []
    for path in paths.split(","):
        results += json.load(open(path))
    for r in results:
        name = r["benchmark"].rsplit(".", 2)
        cls, method = name[-2], name[-1]
        params = r.get("params", {})
        key = (cls, tuple(sorted(params.items())))
        m = r["primaryMetric"]
        rows[key][method] = (m["score"], m.get("scoreError", 0.0), m["scoreUnit"])
    return rows


def dims(s):
    return [int(v) for v in s.split("x")]


def prod(v):
    p = 1
    for x in v:
        p *= x
    return p


def ms(entry):
    score, err, unit = entry
    assert unit == "ms/op", unit
    return score, err


def matmul(rows, out):
    out.append("### Matmul (GFLOP/s; ratio = ours / Nd4j.gemm into a preallocated output)\n")
    out.append("| shape | Nd4j.gemm preallocated | Tensor.matmul | ratio | matmul fwd+bwd (3 products) | ratio |")
    out.append("|---|---|---|---|---|---|")
    for (cls, params), m in sorted(rows.items()):
        if cls != "MatmulBench":
            continue
        shape = dict(params)["shape"]
        a, b = (dims(s) for s in shape.split("*"))
        flops = 2.0 * prod(a) * b[-1]
        g = flops / (ms(m["nd4jGemmPreallocated"])[0] * 1e6)
        t = flops / (ms(m["tensorMatmul"])[0] * 1e6)
        fb = 3 * flops / (ms(m["tensorMatmulForwardBackward"])[0] * 1e6)
        out.append(f"| {shape} | {g:.1f} | {t:.1f} | {t / g:.2f} | {fb:.1f} | {fb / g:.2f} |")
    out.append("")


def rational(rows, out, chart):
    out.append("### Group-rational CPU kernel (GB/s; copy = ND4J assign of the same tensor)\n")
    out.append("backward: the kernel kat4j uses (vector API); plain Java: the fallback without `--add-modules jdk.incubator.vector`.\n")
    out.append("| shape | copy | forward | fwd/copy | backward | bwd/copy | backward, plain Java | bwd/copy | forward Melem/s | backward Melem/s |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for (cls, params), m in sorted(rows.items()):
        if cls != "RationalBench":
            continue
        shape = dict(params)["shape"]
        n = prod(dims(shape))
        c = 2 * 4 * n / (ms(m["copy"])[0] * 1e6)
        f = 2 * 4 * n / (ms(m["forward"])[0] * 1e6)
        b = 3 * 4 * n / (ms(m["backward"])[0] * 1e6)
        bp = 3 * 4 * n / (ms(m["backwardPlainJava"])[0] * 1e6) if "backwardPlainJava" in m else float("nan")
        fe = n / (ms(m["forward"])[0] * 1e3)
        be = n / (ms(m["backward"])[0] * 1e3)
        out.append(f"| {shape} | {c:.1f} | {f:.1f} | {f / c:.2f} | {b:.1f} | {b / c:.2f} | {bp:.1f} | {bp / c:.2f} | {fe:.0f} | {be:.0f} |")
        chart.append((f"rational fwd {shape}", "ratio to baseline", f / c))
        chart.append((f"rational bwd {shape}", "ratio to baseline", b / c))
    out.append("")


def blocks(rows, out, chart):
    out.append("### Mlp vs GR-KAN block, batch 32 x 197 tokens, input requires grad (ms)\n")
    out.append("Whole block: block 0 of vit_/kat_{tiny,small,base}_patch16_224 (LayerNorm, attention, "
               "LayerNorm, Mlp or GR-KAN, residuals), forward+backward.\n")
    out.append("| width | Mlp fwd | GR-KAN fwd | ratio | Mlp fwd+bwd | GR-KAN fwd+bwd | ratio | ViT block fwd+bwd | KAT block fwd+bwd | ratio |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")

    def cell(m, name):
        if name not in m:
            return None, "-"
        v, e = ms(m[name])
        err = f" ± {e:.1f}" if isinstance(e, (int, float)) and e == e else ""  # JMH writes "NaN" for one iteration
        return v, f"{v:.1f}{err}"

    def ratio(a, b):
        return "-" if a is None or b is None else f"{b / a:.2f}"

    for (cls, params), m in sorted(rows.items(), key=lambda kv: int(dict(kv[0][1]).get("dim", 0)) if kv[0][0] == "BlockBench" else 0):
        if cls != "BlockBench":
            continue
        d = dict(params)["dim"]
        mf, mfs = cell(m, "mlpForward")
        kf, kfs = cell(m, "grkanForward")
        a, as_ = cell(m, "mlpForwardBackward")
        k, ks = cell(m, "grkanForwardBackward")
        vb, vbs = cell(m, "vitBlockForwardBackward")
        kb, kbs = cell(m, "katBlockForwardBackward")
        out.append(f"| {d} | {mfs} | {kfs} | {ratio(mf, kf)} | {as_} | {ks} | {ratio(a, k)} | {vbs} | {kbs} | {ratio(vb, kb)} |")
        if a is not None and k is not None:
            chart.append((f"Mlp/GR-KAN time, dim {d}", "ratio to baseline", a / k))
        if vb is not None and kb is not None:
            chart.append((f"ViT/KAT block time, dim {d}", "ratio to baseline", vb / kb))
    out.append("")


def models(rows, out, chart):
    steps = {}
    for (cls, params), m in rows.items():
        if cls == "ModelStepBench":
            p = dict(params)
            name, batch = p["model"].split(":")
            t, e = ms(m["trainStep"])
            steps[(name, p.get("replicas", "1"))] = (int(batch), t, e)
    if not steps:
        return
    out.append("### Training step (forward, cross-entropy, backward, AdamW), whole model\n")
    out.append("Replicas: 0 = the Trainer's default (one replica per core, each on its part of the batch with"
               " single-threaded ops); 1 = one model whose ops use all cores.\n")
    out.append("| model | batch | replicas | ms/step | images/s | KAT / ViT images/s |")
    out.append("|---|---|---|---|---|---|")
    for key in sorted(steps, key=lambda k: (k[0].split("_", 1)[1], k[0], k[1])):
        name, reps = key
        batch, t, e = steps[key]
        ips = batch / t * 1e3
        peer = ("vit" + name[3:], reps) if name.startswith("kat") else None
        ratio = ""
        if peer in steps:
            pb, pt, _ = steps[peer]
            ratio = f"{ips / (pb / pt * 1e3):.2f}"
            chart.append((f"KAT/ViT images/s, {name[4:]}, replicas {reps}", "ratio to baseline", ips / (pb / pt * 1e3)))
        out.append(f"| {name} | {batch} | {reps} | {t:.1f} ± {e:.1f} | {ips:.1f} | {ratio} |")
    out.append("")


def train(rows, out):
    for (cls, params), m in rows.items():
        if cls != "TrainStepBench":
            continue
        r, re_ = ms(m["stepReusingBuffers"])
        f, fe = ms(m["stepFreshAllocations"])
        out.append("### Training step, 2-layer MLP 784-512-10, batch 256 (ms)\n")
        out.append("| buffers reused (Scope) | fresh allocations | share of the fresh step spent allocating/freeing |")
        out.append("|---|---|---|")
        out.append(f"| {r:.2f} ± {re_:.2f} | {f:.2f} ± {fe:.2f} | {max(0.0, (f - r) / f) * 100:.0f}% |")
        out.append("")


def main():
    rows = load(sys.argv[1])
    out = []
    chart = []
    if len(sys.argv) > 2:
        out.append(sys.argv[2] + "\n")
    matmul(rows, out)
    rational(rows, out, chart)
    blocks(rows, out, chart)
    models(rows, out, chart)
    train(rows, out)
    print("\n".join(out))
    if len(sys.argv) > 3:  # rows for kat-bench's BarChart
        with open(sys.argv[3], "w") as f:
            for label, series, value in chart:
                f.write(f"{label}\t{series}\t{value:.3f}\n")


if __name__ == "__main__":
    main()
