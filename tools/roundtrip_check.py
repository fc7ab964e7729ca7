#!/usr/bin/python3
"""Round trip helper for ConverterRoundTripTest: `make SRC.pth` saves a reference KAT state dict;
`compare A.pth B.safetensors` checks that every tensor came back identical."""
import json
import struct
import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0] + "/reference")
import kat_reference  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", v
        b, e = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(v["shape"])
    return out


if sys.argv[1] == "make":
    model = kat_reference.VisionTransformer(True, seed=3)
    torch.save({"model": model.state_dict()}, sys.argv[2])
elif sys.argv[1] == "compare":
    a = torch.load(sys.argv[2], map_location="cpu", weights_only=True)["model"]
    b = read_safetensors(sys.argv[3])
    assert sorted(a) == sorted(b), (sorted(a), sorted(b))
    bad = [k for k in a if not torch.equal(a[k].float(), b[k])]
    assert not bad, bad
    print(f"round trip identical: {len(a)} tensors")
