#!/usr/bin/env python3
"""Reference linear-probe features of LlamaGen GPT-B on seeded weights, made with the independent torch
port tools/peers/llamagen_gpt.py, for Tests/DigitModelsTests/GPTProbeTests.swift.

Writes Tests/DigitModelsTests/Resources/gpt_probe/:
  llamagen_B_tokens.npy   int64 (2, 256): image tokens floor(u * 16384), u = seeded_weights.uniform01(
                          "digit-bench.probe.llamagen_B.tokens.<row>", 256)
  llamagen_B_mean.npy     float32 (2, 12, 768): per block, the output of layers.i mean-pooled over the 257
                          positions of [null class 1000, 256 tokens] (one causal pass, no KV reuse)
  llamagen_B_last.npy     float32 (2, 1, 768): the last block's (layers.11) output at the last position
It also checks the port itself against the upstream fixture shared/fixtures/gpt/llamagen_gpt_B
(logits_teacher_forced.npy: class 207 + the 20-token prefix) and prints the max |diff|.

Needs torch (the bench venv of tools/bench-peers.sh); run from the repository root:
  ~/.cache/digit-bench/peers-venv/bin/python tools/make_gpt_probe_reference.py [--shared ../shared]
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))
import common  # noqa: E402

OUT = os.path.join("Tests", "DigitModelsTests", "Fixtures", "gpt_probe")


def block_outputs(model, torch, class_ids, tokens):
    """Every block's output (L, B, 1 + T, C) of one causal pass over [class, tokens]."""
    x = torch.cat([model.cls_embedding.embedding_table(torch.tensor(class_ids)[:, None]),
                   model.tok_embeddings(torch.tensor(tokens))], dim=1)
    b, s, _ = x.shape
    model.setup_caches(b, s)
    fc = model.freqs_cis[:s]
    outs = []
    for layer in model.layers:
        x = layer(x, fc, 0)
        outs.append(x)
    return torch.stack(outs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared"))
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    common.setup(a.threads, a.shared)
    torch = common.torch_threads(a.threads)
    import numpy as np
    import llamagen_gpt
    from seeded_weights import uniform01

    model = llamagen_gpt.gpt_b().eval()
    model.load_state_dict(common.seeded_state_dict(model, os.path.join(a.shared, "fixtures/manifests/llamagen_gpt_B.json")))

    # The port against upstream's teacher-forced logits (class 207, 20-token prefix).
    fx = os.path.join(a.shared, "fixtures/gpt/llamagen_gpt_B")
    prefix = np.load(os.path.join(fx, "prefix.npy")).astype(np.int64)
    h = block_outputs(model, torch, [207], prefix[None].tolist())[-1]
    logits = model.output(model.norm(h))[0].numpy()
    ref = np.load(os.path.join(fx, "logits_teacher_forced.npy"))
    print(f"port vs upstream teacher-forced logits: max |diff| {np.abs(logits - ref).max():.3g} (fixture atol 5e-4)")

    tokens = np.stack([np.floor(uniform01(f"digit-bench.probe.llamagen_B.tokens.{r}", 256) * 16384).astype(np.int64)
                       for r in range(2)])
    states = block_outputs(model, torch, [1000, 1000], tokens.tolist())      # (L, B, 257, C)
    mean = states.double().mean(dim=2).permute(1, 0, 2).float().numpy()     # (B, L, C)
    last = states[-1:, :, -1].permute(1, 0, 2).contiguous().numpy()
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "llamagen_B_tokens.npy"), tokens)
    np.save(os.path.join(OUT, "llamagen_B_mean.npy"), mean.astype(np.float32))
    np.save(os.path.join(OUT, "llamagen_B_last.npy"), last.astype(np.float32))
    print(f"mean {mean.shape}: |x| max {np.abs(mean).max():.4g}, rms {np.sqrt((mean ** 2).mean()):.4g}; "
          f"last {last.shape}: |x| max {np.abs(last).max():.4g}, rms {np.sqrt((last ** 2).mean()):.4g}")
    print(f"torch {torch.__version__}, numpy {np.__version__}")


if __name__ == "__main__":
    main()
