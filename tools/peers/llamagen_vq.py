"""A compact torch implementation of LlamaGen's VQ tokenizer (FoundationVision/LlamaGen
tokenizer/tokenizer_image/vq_model.py @ ce98ec4, VQ-16 / VQ-8): same state-dict keys (checked against
shared/fixtures/manifests/llamagen_vq_{16,8}.json) and the same torch ops, written from the
architecture description in shared/fixtures/llamagen_vq/README.md and issue #7 (no upstream code).
Used only as the torch-CPU peer of `digit-bench bench peers` on seeded weights."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def norm(c):
    return nn.GroupNorm(32, c, eps=1e-6, affine=True)


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1, self.conv1 = norm(cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2, self.conv2 = norm(cout), nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))  # dropout p=0 in eval
        return (self.nin_shortcut(x) if hasattr(self, "nin_shortcut") else x) + h


class Attn(nn.Module):
    """Single-head self-attention over H*W positions with 1x1-conv q, k, v, proj_out."""

    def __init__(self, c):
        super().__init__()
        self.norm = norm(c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        q = q.reshape(b, c, hh * ww).permute(0, 2, 1)       # (B, HW, C)
        w = torch.bmm(q, k.reshape(b, c, hh * ww)) * (c ** -0.5)
        w = F.softmax(w, dim=2)                             # (B, HW_q, HW_k)
        h = torch.bmm(v.reshape(b, c, hh * ww), w.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + self.proj_out(h)


class Level(nn.Module):
    def __init__(self, cin, cout, nres, attn, resample):
        super().__init__()
        self.res = nn.ModuleList()
        for _ in range(nres):
            self.res.append(ResBlock(cin, cout))
            cin = cout
        if attn:
            self.attn = nn.ModuleList(Attn(cout) for _ in range(nres))
        if resample == "down":
            self.downsample = nn.Module()
            self.downsample.conv = nn.Conv2d(cout, cout, 3, 2, 0)
        elif resample == "up":
            self.upsample = nn.Module()
            self.upsample.conv = nn.Conv2d(cout, cout, 3, 1, 1)

    def forward(self, h):
        for i, r in enumerate(self.res):
            h = r(h)
            if hasattr(self, "attn"):
                h = self.attn[i](h)
        if hasattr(self, "downsample"):
            h = self.downsample.conv(F.pad(h, (0, 1, 0, 1)))
        if hasattr(self, "upsample"):
            h = self.upsample.conv(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return h


def mid(c):
    return nn.ModuleList([ResBlock(c, c), Attn(c), ResBlock(c, c)])


class Encoder(nn.Module):
    def __init__(self, mult, ch=128, nres=2, z=256):
        super().__init__()
        self.conv_in = nn.Conv2d(3, ch, 3, 1, 1)
        self.conv_blocks = nn.ModuleList()
        cin = ch
        for i, m in enumerate(mult):
            last = i == len(mult) - 1
            self.conv_blocks.append(Level(cin, ch * m, nres, attn=last, resample=None if last else "down"))
            cin = ch * m
        self.mid = mid(cin)
        self.norm_out, self.conv_out = norm(cin), nn.Conv2d(cin, z, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for level in self.conv_blocks:
            h = level(h)
        for m in self.mid:
            h = m(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """conv_blocks[0] is the coarsest level."""

    def __init__(self, mult, ch=128, nres=2, z=256):
        super().__init__()
        cin = ch * mult[-1]
        self.conv_in = nn.Conv2d(z, cin, 3, 1, 1)
        self.mid = mid(cin)
        self.conv_blocks = nn.ModuleList()
        for i in reversed(range(len(mult))):
            self.conv_blocks.append(Level(cin, ch * mult[i], nres + 1, attn=i == len(mult) - 1,
                                          resample="up" if i != 0 else None))
            cin = ch * mult[i]
        self.norm_out, self.conv_out = norm(cin), nn.Conv2d(cin, 3, 3, 1, 1)

    def forward(self, z):
        h = self.conv_in(z)
        for m in self.mid:
            h = m(h)
        for level in self.conv_blocks:
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VQModel(nn.Module):
    def __init__(self, mult=(1, 1, 2, 2, 4), codebook_size=16384, dim=8, z=256):
        super().__init__()
        self.encoder, self.decoder = Encoder(mult, z=z), Decoder(mult, z=z)
        self.quantize = nn.Module()
        self.quantize.embedding = nn.Embedding(codebook_size, dim)
        self.quantize.register_buffer("codebook_used", torch.zeros(65536))
        self.quant_conv, self.post_quant_conv = nn.Conv2d(z, dim, 1), nn.Conv2d(dim, z, 1)

    def codebook(self):
        return F.normalize(self.quantize.embedding.weight, p=2, dim=-1)

    def encode(self, x):
        """x (B, 3, H, W) in [-1, 1] -> indices (B*h*w,), latent shape."""
        h = self.quant_conv(self.encoder(x))                        # (B, 8, h, w)
        z = F.normalize(h.permute(0, 2, 3, 1).reshape(-1, h.shape[1]), p=2, dim=-1)
        e = self.codebook()
        d = (z ** 2).sum(1, keepdim=True) + (e ** 2).sum(1) - 2 * z @ e.t()
        return torch.argmin(d, dim=1), h.shape

    def decode_code(self, indices, shape):
        b, c, hh, ww = shape
        q = self.codebook()[indices].reshape(b, hh, ww, c).permute(0, 3, 1, 2).contiguous()
        return self.decoder(self.post_quant_conv(q))


def vq16():
    return VQModel(mult=(1, 1, 2, 2, 4))


def vq8():
    return VQModel(mult=(1, 2, 2, 4))
