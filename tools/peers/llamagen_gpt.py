"""A compact torch implementation of LlamaGen's class-conditional GPT (FoundationVision/LlamaGen
autoregressive/models/gpt.py @ ce98ec4, `GPT_models['GPT-B']`, model_type 'c2i') with a KV cache for
incremental decoding (generate.py's prefill + decode_one_token). Same state-dict keys (checked against
shared/fixtures/manifests/llamagen_gpt_B.json) and the same ops, written from
shared/fixtures/gpt/README.md ("What the Swift side must reproduce"); no upstream code. Used only as the
torch-CPU peer of `digit-bench bench peers` on seeded weights."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope_table_2d(grid, head_dim, base=10000.0, cls_token_num=1):
    """(cls + grid², head_dim/2, 2) cos/sin; first head_dim/4 pairs rotate with the row, the rest with
    the column; zero rows at the class-token slots."""
    half = head_dim // 2
    freqs = 1.0 / (base ** (torch.arange(0, half, 2)[: half // 2].float() / half))
    f = torch.outer(torch.arange(grid, dtype=torch.float32), freqs)          # (grid, hd/4)
    grid_f = torch.cat([f[:, None, :].expand(-1, grid, -1), f[None, :, :].expand(grid, -1, -1)], dim=-1)
    cache = torch.stack([torch.cos(grid_f), torch.sin(grid_f)], dim=-1).flatten(0, 1)
    return torch.cat([torch.zeros(cls_token_num, half, 2), cache])


def apply_rope(x, fc):
    """x (B, S, H, hd), fc (S, hd/2, 2): interleaved pairs (x0, x1) -> (x0 c - x1 s, x1 c + x0 s)."""
    xs = x.float().reshape(*x.shape[:-1], -1, 2)
    fc = fc.view(1, xs.size(1), 1, xs.size(3), 2)
    out = torch.stack([xs[..., 0] * fc[..., 0] - xs[..., 1] * fc[..., 1],
                       xs[..., 1] * fc[..., 0] + xs[..., 0] * fc[..., 1]], dim=-1)
    return out.flatten(3).type_as(x)


class Attention(nn.Module):
    def __init__(self, dim, n_head):
        super().__init__()
        self.n_head, self.head_dim = n_head, dim // n_head
        self.wqkv = nn.Linear(dim, 3 * dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)
        self.k_cache = self.v_cache = None

    def forward(self, x, fc, start):
        b, s, c = x.shape
        q, k, v = self.wqkv(x).split([c, c, c], dim=-1)
        q, k = (apply_rope(t.view(b, s, self.n_head, self.head_dim), fc) for t in (q, k))
        q, k, v = (t.view(b, s, self.n_head, self.head_dim).transpose(1, 2) for t in (q, k, v))
        self.k_cache[:, :, start:start + s] = k
        self.v_cache[:, :, start:start + s] = v
        keys, values = self.k_cache[:, :, :start + s], self.v_cache[:, :, :start + s]
        # softmax(q kᵀ / sqrt(hd) + causal mask) v (torch 1.13 has no scaled_dot_product_attention)
        w = q @ keys.transpose(-2, -1) / math.sqrt(self.head_dim)             # (B, H, S, start+S)
        if s > 1:
            mask = torch.ones(s, start + s, dtype=torch.bool).tril(diagonal=start)
            w = w.masked_fill(~mask, float("-inf"))
        y = F.softmax(w.float(), dim=-1).type_as(q) @ values                  # (B, H, S, hd)
        return self.wo(y.transpose(1, 2).contiguous().view(b, s, c))


class FeedForward(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, dim, n_head, hidden, eps):
        super().__init__()
        self.attention, self.feed_forward = Attention(dim, n_head), FeedForward(dim, hidden)
        self.attention_norm, self.ffn_norm = RMSNorm(dim, eps), RMSNorm(dim, eps)

    def forward(self, x, fc, start):
        h = x + self.attention(self.attention_norm(x), fc, start)
        return h + self.feed_forward(self.ffn_norm(h))


class LabelEmbedder(nn.Module):
    def __init__(self, num_classes, dim):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, dim)  # row num_classes: null class (CFG)


class Transformer(nn.Module):
    def __init__(self, dim=768, n_layer=12, n_head=12, vocab_size=16384, num_classes=1000, block_size=256,
                 multiple_of=256, norm_eps=1e-5):
        super().__init__()
        hidden = int(2 * (4 * dim) / 3)
        hidden = multiple_of * ((hidden + multiple_of - 1) // multiple_of)
        self.cls_embedding = LabelEmbedder(num_classes, dim)
        self.tok_embeddings = nn.Embedding(vocab_size, dim)
        self.layers = nn.ModuleList(Block(dim, n_head, hidden, norm_eps) for _ in range(n_layer))
        self.norm = RMSNorm(dim, norm_eps)
        self.output = nn.Linear(dim, vocab_size, bias=False)
        self.freqs_cis = rope_table_2d(int(round(block_size ** 0.5)), dim // n_head)
        self.start = 0

    def setup_caches(self, batch, length):
        for layer in self.layers:
            a = layer.attention
            a.k_cache = torch.zeros(batch, a.n_head, length, a.head_dim)
            a.v_cache = torch.zeros(batch, a.n_head, length, a.head_dim)
        self.start = 0

    def step(self, x):
        """x (B, S, C) at positions start … start+S-1 -> logits of the last position (B, V)."""
        s = x.shape[1]
        fc = self.freqs_cis[self.start:self.start + s]
        for layer in self.layers:
            x = layer(x, fc, self.start)
        self.start += s
        return self.output(self.norm(x[:, -1:]))[:, 0].float()

    def decode(self, class_ids, tokens):
        """generate(): prefill the class tokens, then one token at a time with the KV cache, the given
        tokens fed as the sampled ones to every sequence. Returns the logits handed to sample() at
        every step (T, B, V)."""
        b = len(class_ids)
        self.setup_caches(b, 1 + len(tokens))
        out = [self.step(self.cls_embedding.embedding_table(torch.tensor(class_ids)[:, None]))]
        for t in tokens[:-1]:
            out.append(self.step(self.tok_embeddings(torch.full((b, 1), t))))
        return torch.stack(out)


def gpt_b():
    return Transformer(dim=768, n_layer=12, n_head=12)
