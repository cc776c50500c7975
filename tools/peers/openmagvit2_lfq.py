"""A compact torch implementation of Open-MAGVIT2's v1 LFQ tokenizer (TencentARC/SEED-Voken
taming/modules/diffusionmodules/improved_model.py + lookup_free_quantize.py @ ec8fba5, the
`imagenet_256_B` / `imagenet_128_B` configurations): same `encoder.*` / `decoder.*` state-dict keys
(checked against shared/fixtures/manifests/omv2_tokenizer_imagenet_*_B.json) and the same torch ops,
written from the architecture description in issue #6 and shared/fixtures/lfq/README.md (no
upstream code). Used only as the torch-CPU peer of `digit-bench bench peers` on seeded weights."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def norm(c):
    return nn.GroupNorm(32, c, eps=1e-6, affine=True)


class ResBlock(nn.Module):
    """GroupNorm + swish + bias-free 3x3 conv, twice; bias-free 1x1 shortcut when the width changes."""

    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, 1, 1, bias=False)
        self.norm2, self.conv2 = norm(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


def depth_to_space(x, block=2):
    """DCR order: out[c, 2h+i, 2w+j] = in[(2i+j)C + c, h, w] (not pixel_shuffle's CRD)."""
    b, c4, h, w = x.shape
    c = c4 // (block * block)
    x = x.reshape(b, block, block, c, h, w).permute(0, 3, 4, 1, 5, 2)
    return x.reshape(b, c, h * block, w * block)


class Upsampler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, 4 * c, 3, 1, 1, bias=True)

    def forward(self, x):
        return depth_to_space(self.conv1(x))


class Encoder(nn.Module):
    def __init__(self, ch, ch_mult, nres, z):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, 1, 1, bias=False)
        self.down = nn.ModuleList()
        cin = ch
        for i, m in enumerate(ch_mult):
            level = nn.Module()
            level.block = nn.ModuleList()
            for _ in range(nres):
                level.block.append(ResBlock(cin, ch * m))
                cin = ch * m
            if i < len(ch_mult) - 1:
                level.downsample = nn.Conv2d(cin, cin, 3, 2, 1, bias=True)
            self.down.append(level)
        self.mid_block = nn.ModuleList(ResBlock(cin, cin) for _ in range(nres))
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, z, 1, bias=True)

    def forward(self, x):
        x = self.conv_in(x)
        for level in self.down:
            for blk in level.block:
                x = blk(x)
            if hasattr(level, "downsample"):
                x = level.downsample(x)
        for blk in self.mid_block:
            x = blk(x)
        return self.conv_out(F.silu(self.norm_out(x)))


class Decoder(nn.Module):
    def __init__(self, ch, ch_mult, nres, z):
        super().__init__()
        n = len(ch_mult)
        cin = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z, cin, 3, 1, 1, bias=True)
        self.mid_block = nn.ModuleList(ResBlock(cin, cin) for _ in range(nres))
        levels = [None] * n
        for i in reversed(range(n)):
            level = nn.Module()
            level.block = nn.ModuleList()
            for _ in range(nres):
                level.block.append(ResBlock(cin, ch * ch_mult[i]))
                cin = ch * ch_mult[i]
            if i > 0:
                level.upsample = Upsampler(cin)
            levels[i] = level
        self.up = nn.ModuleList(levels)
        self.norm_out = norm(cin)
        self.conv_out = nn.Conv2d(cin, 3, 3, 1, 1, bias=True)

    def forward(self, q):
        x = self.conv_in(q)
        for blk in self.mid_block:
            x = blk(x)
        for i in reversed(range(len(self.up))):
            for blk in self.up[i].block:
                x = blk(x)
            if hasattr(self.up[i], "upsample"):
                x = self.up[i].upsample(x)
        return self.conv_out(F.silu(self.norm_out(x)))


class LFQTokenizerV1(nn.Module):
    """v1: index bits most-significant first."""

    def __init__(self, ch_mult, ch=128, nres=2, z=18):
        super().__init__()
        self.encoder = Encoder(ch, ch_mult, nres, z)
        self.decoder = Decoder(ch, ch_mult, nres, z)
        self.z = z

    def encode(self, x):
        h = self.encoder(x)                                      # (B, 18, h, w)
        q = torch.where(h > 0, torch.ones_like(h), -torch.ones_like(h))
        weights = 2 ** torch.arange(self.z - 1, -1, -1)          # MSB first
        idx = ((q > 0).long() * weights.view(1, -1, 1, 1)).sum(1)
        return q, idx

    def decode(self, q):
        return self.decoder(q)


def lfq_256_b():
    return LFQTokenizerV1([1, 1, 2, 2, 4])


def lfq_128_b():
    return LFQTokenizerV1([1, 2, 2, 4])
