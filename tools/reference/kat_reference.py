#!/usr/bin/python3
"""Our own small PyTorch implementation of KAT and ViT (timm structure and key names, the
group-rational function of docs/design.md, section 1), used to write parity fixtures for kat4j's tests.

    /usr/bin/python3 tools/reference/kat_reference.py src/test/resources/fixtures

Writes kat_parity.safetensors and vit_parity.safetensors: a random small model (img 32, patch 8,
dim 64, depth 2, heads 2, 10 classes; rational coefficients random, negative b included), an
input batch, labels, the logits, and the gradient of the mean cross-entropy w.r.t. every
parameter. PyTorch 1.13 from Debian's python3-torch; no other dependency.
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 2)[0])
import safetensors_io  # noqa: E402


def group_rational(x, num, den):
    """F(x) = P(x) / (1 + sum |b_k| |x|^(k+1)), numerator [1, 6] shared, denominator [G, 4]."""
    g = den.shape[0]
    shape = x.shape
    xs = x.reshape(*shape[:-1], g, shape[-1] // g)
    a = num[0]
    p = a[0] + xs * (a[1] + xs * (a[2] + xs * (a[3] + xs * (a[4] + xs * a[5]))))
    ax = xs.abs()
    b = den.abs()
    q = 1 + ax * (b[:, 0:1] + ax * (b[:, 1:2] + ax * (b[:, 2:3] + ax * b[:, 3:4])))
    return (p / q).reshape(shape)


class GroupRational(nn.Module):
    def __init__(self, groups, gen):
        super().__init__()
        self.weight_numerator = nn.Parameter(torch.randn(1, 6, generator=gen) * 0.3)
        self.weight_denominator = nn.Parameter(torch.randn(groups, 4, generator=gen) * 0.3)

    def forward(self, x):
        return group_rational(x, self.weight_numerator, self.weight_denominator)


class GrKan(nn.Module):
    def __init__(self, dim, hidden, gen):
        super().__init__()
        self.act1 = GroupRational(8, gen)
        self.drop1 = nn.Identity()
        self.fc1 = nn.Linear(dim, hidden)
        self.act2 = GroupRational(8, gen)
        self.drop2 = nn.Identity()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.drop2(self.act2(self.fc1(self.drop1(self.act1(x))))))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * (d // self.heads) ** -0.5) @ k.transpose(-2, -1)
        out = attn.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, dim, heads, kat, gen):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = GrKan(dim, 4 * dim, gen) if kat else Mlp(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, chans, dim, patch):
        super().__init__()
        self.proj = nn.Conv2d(chans, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class VisionTransformer(nn.Module):
    def __init__(self, kat, img=32, patch=8, chans=3, dim=64, depth=2, heads=2, classes=10, seed=0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        n = (img // patch) ** 2
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim, generator=gen) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim, generator=gen) * 0.02)
        self.patch_embed = PatchEmbed(chans, dim, patch)
        self.blocks = nn.Sequential(*[Block(dim, heads, kat, gen) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)
        with torch.no_grad():  # non-trivial norms, so their gradients are tested too
            for m in self.modules():
                if isinstance(m, nn.LayerNorm):
                    m.weight.add_(torch.randn(m.weight.shape, generator=gen) * 0.1)
                    m.bias.add_(torch.randn(m.bias.shape, generator=gen) * 0.1)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def fixture(kat, out):
    torch.manual_seed(1)
    model = VisionTransformer(kat)
    x = torch.randn(3, 3, 32, 32)
    labels = torch.tensor([1, 7, 3])
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    t = {"input": x, "labels": labels.float(), "logits": logits}
    for name, p in model.named_parameters():
        t["param." + name] = p
        t["grad." + name] = p.grad
    name = ("kat" if kat else "vit") + "_parity.safetensors"
    safetensors_io.write(out + "/" + name, t, {"torch": torch.__version__, "loss": repr(loss.item()),
                                             "config": "img 32, patch 8, chans 3, dim 64, depth 2, heads 2, classes 10"})
    print(name, "loss", loss.item(), "params", sum(p.numel() for p in model.parameters()))


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    fixture(True, out)
    fixture(False, out)
