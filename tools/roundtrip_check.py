#!/usr/bin/python3
"""Round trip helper for ConverterRoundTripTest: `make SRC.pth` saves a reference KAT state dict;
`compare A.pth B.safetensors` checks that every tensor came back identical."""
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/reference")
sys.path.insert(0, __file__.rsplit("/", 1)[0])
import kat_reference  # noqa: E402
import safetensors_io  # noqa: E402


if sys.argv[1] == "make":
    model = kat_reference.VisionTransformer(True, seed=3)
    torch.save({"model": model.state_dict()}, sys.argv[2])
elif sys.argv[1] == "compare":
    a = torch.load(sys.argv[2], map_location="cpu", weights_only=True)["model"]
    b = safetensors_io.read(sys.argv[3])
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
    bad = [k for k in a if not torch.equal(a[k].float(), b[k])]
    assert not bad, bad
    print(f"round trip identical: {len(a)} tensors")
