"""A compact torch implementation of DINOv2 ViT-B/14 with 4 registers as DiGIT runs it
(facebookresearch/dinov2 dinov2/models/vision_transformer.py, DiGIT's copy in
fairseq_user/pretrained_enc/dino/vits.py): same state-dict keys (checked against
shared/fixtures/manifests/dinov2_vitb14_reg4.json) and the same torch ops, written from the
architecture description in issue #8 and shared/fixtures/dinov2/README.md (no upstream code). Used
only as the torch-CPU peer of `digit-bench bench peers` on seeded weights."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerScale(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * self.gamma


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * (d // self.heads) ** -0.5, qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.norm1, self.attn, self.ls1 = nn.LayerNorm(d, eps=1e-6), Attention(d, heads), LayerScale(d)
        self.norm2, self.mlp, self.ls2 = nn.LayerNorm(d, eps=1e-6), Mlp(d), LayerScale(d)

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, d, patch=14):
        super().__init__()
        self.proj = nn.Conv2d(3, d, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)     # (B, N, D)


class DinoViT(nn.Module):
    def __init__(self, d=768, depth=12, heads=12, registers=4, grid=37):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, d))
        self.register_tokens = nn.Parameter(torch.zeros(1, registers, d))
        self.mask_token = nn.Parameter(torch.zeros(1, d))
        self.patch_embed = PatchEmbed(d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.grid = grid

    def interpolate_pos_encoding(self, gh, gw):
        """DiGIT's settings: bicubic, no antialias, scale factor (g + 0.1) / 37."""
        pos = self.pos_embed
        cls, patch = pos[:, :1], pos[:, 1:]
        d = pos.shape[-1]
        patch = patch.reshape(1, self.grid, self.grid, d).permute(0, 3, 1, 2)
        patch = F.interpolate(patch, scale_factor=((gh + 0.1) / self.grid, (gw + 0.1) / self.grid), mode="bicubic", antialias=False)
        return torch.cat([cls, patch.permute(0, 2, 3, 1).reshape(1, -1, d)], dim=1)

    def forward_features(self, x):
        """norm of the last block's tokens: (B, 1 + R + N, D)."""
        b, _, h, w = x.shape
        t = self.patch_embed(x)
        t = torch.cat([self.cls_token.expand(b, -1, -1), t], dim=1) + self.interpolate_pos_encoding(h // 14, w // 14)
        t = torch.cat([t[:, :1], self.register_tokens.expand(b, -1, -1), t[:, 1:]], dim=1)
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)


def vitb14_reg4():
    return DinoViT()
