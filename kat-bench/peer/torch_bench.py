#!/usr/bin/python3
"""The kat-bench workloads in PyTorch (Debian's python3-torch 1.13, CPU), same shapes and threads,
for side-by-side numbers: the group rational written with tensor ops (version A, correct), the
timm Mlp and the GR-KAN block forward+backward, and one training step of the ViT and KAT models
(tiny at 224, micro at 28x28). Prints JSON: workload -> milliseconds.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 kat-bench/peer/torch_bench.py [threads]
"""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/tools/reference")
from kat_reference import GrKan, Mlp, VisionTransformer, group_rational  # noqa: E402
from openblas_core import describe as openblas_core_of  # noqa: E402  (beside this file)


def bench(fn, warmup=5, iters=20):
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t) / iters * 1e3


# Below this a 1024^3 float32 GEMM is on the reference BLAS (Debian's libblas3, ~1-2 GFLOP/s), not
# OpenBLAS (tens of GFLOP/s even on one core): the PyTorch column would then be meaningless.
MIN_GEMM_GFLOPS = 8.0


def gemm_gflops():
    a = torch.randn(1024, 1024)
    b = torch.randn(1024, 1024)
    for _ in range(2):
        a @ b
    t0 = time.perf_counter()
    for _ in range(3):
        a @ b
    return 3 * 2 * 1024 ** 3 / (time.perf_counter() - t0) / 1e9


def openblas_core():
    """The kernels of the OpenBLAS this process loaded ("0.3.21 Haswell"), or None without one."""
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "libopenblas" in line and line.rstrip().endswith((".so", ".so.0"))})
    return next(filter(None, map(openblas_core_of, paths)), None)


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    gflops = gemm_gflops()
    if gflops < MIN_GEMM_GFLOPS:
        sys.exit("PyTorch multiplies 1024x1024 matrices at %.1f GFLOP/s: its BLAS is the reference one, not OpenBLAS;"
                 " install libopenblas0-pthread (apt-get) and rerun" % gflops)
    out = {"torch": torch.__version__, "threads": threads, "gemm_gflops": round(gflops, 1), "openblas": openblas_core()}
    for shape in [(32, 197, 768), (32, 197, 192)]:
        x = (torch.rand(shape) - 0.5) * 6
        g = torch.rand(shape) - 0.5
        num = torch.randn(1, 6) * 0.3
        den = (torch.randn(8, 4) * 0.1)
        key = "x".join(map(str, shape))
        with torch.no_grad():
            out[f"rational_forward_{key}"] = bench(lambda: group_rational(x, num, den))
        xr = x.clone().requires_grad_(True)
        nr = num.clone().requires_grad_(True)
        dr = den.clone().requires_grad_(True)

        def fwd_bwd():
            y = group_rational(xr, nr, dr)
            y.backward(g)
        out[f"rational_forward_backward_{key}"] = bench(fwd_bwd)
        out[f"copy_{key}"] = bench(lambda: x.clone())
    gen = torch.Generator().manual_seed(0)
    for dim in (192, 384):
        x = torch.randn(32, 197, dim, requires_grad=True)  # as inside a model: dL/dx is computed
        seed = torch.randn(32, 197, dim)
        for name, block in (("mlp", Mlp(dim, 4 * dim)), ("grkan", GrKan(dim, 4 * dim, gen))):
            def step():
                block.zero_grad(set_to_none=True)
                x.grad = None
                block(x).backward(seed)
            out[f"block_{name}_{dim}"] = bench(step, warmup=3, iters=10)
    # one training step (forward, cross-entropy, backward, AdamW), as kat-bench's ModelStepBench
    models = {"tiny_patch16_224": dict(img=224, patch=16, chans=3, dim=192, depth=12, heads=3, classes=1000),
              "micro_patch4_28": dict(img=28, patch=4, chans=1, dim=64, depth=4, heads=4, classes=10)}
    for name, cfg in models.items():
        batch = 16 if cfg["img"] == 224 else 64
        x = torch.randn(batch, cfg["chans"], cfg["img"], cfg["img"])
        y = torch.randint(0, cfg["classes"], (batch,))
        for kind in ("vit", "kat"):
            model = VisionTransformer(kind == "kat", **cfg)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)

            def train_step():
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
                opt.step()
            out[f"train_{kind}_{name}:{batch}"] = bench(train_step, warmup=2, iters=5 if cfg["img"] == 224 else 20)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
