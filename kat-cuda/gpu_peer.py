#!/usr/bin/env python3
"""The CUDA backend benchmark's workloads in PyTorch on the same GPU, float32 with TF32 off:
the Mlp and the GR-KAN block (the rational written with tensor ops, as a user without custom
kernels has it) forward+backward at batch 128 x 197 tokens and widths 192/384/768, and one
training step (forward, cross-entropy, backward, AdamW) at 224 with batch 128 of timm's
vit_tiny_patch16_224 and of the same model with each Mlp replaced by the GR-KAN block (timm absent:
kat4j's own small PyTorch ViT, tools/reference). Prints JSON: workload -> milliseconds.

    python3 kat-cuda/gpu_peer.py [iterations] [device]
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/tools/reference")
from kat_reference import GrKan, Mlp, VisionTransformer  # noqa: E402


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def bench(fn, device, warmup, iters):
    for _ in range(warmup):
        fn()
    sync(device)
    t = time.perf_counter()
    for _ in range(iters):
        fn()
    sync(device)
    return (time.perf_counter() - t) / iters * 1e3


def tiny_models(device):
    """(vit, kat) at 224, 1000 classes: timm's vit_tiny and the same with GR-KAN blocks, else our own."""
    gen = torch.Generator().manual_seed(0)
    try:
        import timm
        vit = timm.create_model("vit_tiny_patch16_224", num_classes=1000)
        kat = timm.create_model("vit_tiny_patch16_224", num_classes=1000)
        for blk in kat.blocks:
            blk.mlp = GrKan(192, 768, gen)
        source = "timm " + timm.__version__
    except ImportError:
        cfg = dict(img=224, patch=16, chans=3, dim=192, depth=12, heads=3, classes=1000)
        vit = VisionTransformer(False, **cfg)
        kat = VisionTransformer(True, **cfg)
        source = "tools/reference (no timm)"
    return vit.to(device), kat.to(device), source


def main():
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    device = sys.argv[2] if len(sys.argv) > 2 else ("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "device": torch.cuda.get_device_name() if device.startswith("cuda") else device}
    batch = 128 if device.startswith("cuda") else 2  # the CPU run only checks that the script works
    gen = torch.Generator().manual_seed(0)
    for dim in (192, 384, 768):
        x = torch.randn(batch, 197, dim, device=device, requires_grad=True)
        seed = torch.randn(batch, 197, dim, device=device)
        for name, block in (("mlp", Mlp(dim, 4 * dim)), ("grkan", GrKan(dim, 4 * dim, gen))):
            block = block.to(device)

            def step():
                block.zero_grad(set_to_none=True)
                x.grad = None
                block(x).backward(seed)
            out[f"block_{name}_{dim}"] = bench(step, device, 3, iters)
    vit, kat, out["models"] = tiny_models(device)
    images = torch.randn(batch, 3, 224, 224)
    labels = torch.randint(0, 1000, (batch,))
    for name, model in (("vit_tiny_patch16_224", vit), ("kat_tiny_patch16_224", kat)):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)

        def train_step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(images.to(device)), labels.to(device)).backward()
            opt.step()
        out[f"train_{name}:{batch}"] = bench(train_step, device, 2, max(3, iters // 2))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
