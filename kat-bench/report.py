#!/usr/bin/env python3
"""Turns a JMH JSON result file (java -jar kat-bench/target/benchmarks.jar -rf json -rff F)
into markdown tables with ratios against the baseline measured in the same run.

Usage: python3 kat-bench/report.py jmh.json [machine description] > docs/benchmarks-table.md
"""
import json
import sys
from collections import defaultdict


def load(path):
    rows = defaultdict(dict)
    for r in json.load(open(path)):
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


def rational(rows, out):
    out.append("### Group-rational CPU kernel (GB/s; copy = ND4J assign of the same tensor)\n")
    out.append("| shape | copy | forward | fwd/copy | backward | bwd/copy | forward Melem/s | backward Melem/s |")
    out.append("|---|---|---|---|---|---|---|---|")
    for (cls, params), m in sorted(rows.items()):
        if cls != "RationalBench":
            continue
        shape = dict(params)["shape"]
        n = prod(dims(shape))
        c = 2 * 4 * n / (ms(m["copy"])[0] * 1e6)
        f = 2 * 4 * n / (ms(m["forward"])[0] * 1e6)
        b = 3 * 4 * n / (ms(m["backward"])[0] * 1e6)
        fe = n / (ms(m["forward"])[0] * 1e3)
        be = n / (ms(m["backward"])[0] * 1e3)
        out.append(f"| {shape} | {c:.1f} | {f:.1f} | {f / c:.2f} | {b:.1f} | {b / c:.2f} | {fe:.0f} | {be:.0f} |")
    out.append("")


def blocks(rows, out):
    out.append("### Mlp vs GR-KAN block, forward+backward, batch 32 x 197 tokens (ms)\n")
    out.append("| width | Mlp | GR-KAN | GR-KAN / Mlp |")
    out.append("|---|---|---|---|")
    for (cls, params), m in sorted(rows.items(), key=lambda kv: str(kv[0])):
        if cls != "BlockBench":
            continue
        d = dict(params)["dim"]
        a, ae = ms(m["mlpForwardBackward"])
        k, ke = ms(m["grkanForwardBackward"])
        out.append(f"| {d} | {a:.1f} ± {ae:.1f} | {k:.1f} ± {ke:.1f} | {k / a:.2f} |")
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
    if len(sys.argv) > 2:
        out.append(sys.argv[2] + "\n")
    matmul(rows, out)
    rational(rows, out)
    blocks(rows, out)
    train(rows, out)
    print("\n".join(out))


if __name__ == "__main__":
    main()
