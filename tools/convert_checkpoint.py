#!/usr/bin/python3
"""Converts a timm / Hugging Face KAT or ViT checkpoint (pytorch_model.bin or .pth) into the layout
kat4j reads: DIR/config.json + DIR/model.safetensors.

    /usr/bin/python3 tools/convert_checkpoint.py pytorch_model.bin kat_tiny_patch16_224 out_dir [config.json]

A pickle from the internet can run code when loaded: this uses torch.load(..., weights_only=True)
(PyTorch >= 1.13), which refuses anything but tensors and plain containers. With an existing
config.json (the Hugging Face repo's), its pretrained_cfg is kept; otherwise timm's ImageNet
defaults are written. All tensors are stored as F32 under their timm names.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def load_state_dict(path):
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # refused pickles land here
        sys.exit(f"convert_checkpoint: {path}: not a plain tensor checkpoint ({e})")
    for key in ("state_dict", "model", "model_ema"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        sys.exit(f"convert_checkpoint: {path}: expected a dict of tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    src, arch, out = sys.argv[1], sys.argv[2], sys.argv[3]
    sd = load_state_dict(src)
    os.makedirs(out, exist_ok=True)
    cfg = {"architecture": arch, "num_classes": int(sd["head.weight"].shape[0]) if "head.weight" in sd else 1000,
           "pretrained_cfg": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "interpolation": "bicubic",
                              "crop_pct": 0.875, "input_size": [3, 224, 224]}}
    if len(sys.argv) > 4:
        with open(sys.argv[4]) as f:
            given = json.load(f)
        cfg.update({k: v for k, v in given.items() if k in ("pretrained_cfg", "model_args", "num_classes")})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    safetensors_io.write(os.path.join(out, "model.safetensors"), {k: sd[k] for k in sorted(sd)},
                         {"format": "pt", "source": os.path.basename(src)})
    print(f"wrote {out}/config.json and {out}/model.safetensors ({len(sd)} tensors)")


if __name__ == "__main__":
    main()
