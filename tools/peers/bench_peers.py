#!/usr/bin/env python3
"""The reference ("peer") side of `digit-bench bench peers`: one row per call, on the inputs the Swift
side wrote into WORK, with THREADS threads; prints one JSON line (see common.emit) and writes the
outputs the Swift side compares with its own (proof that both computed the same thing).

    python bench_peers.py ROW --work DIR --threads 2 --shared /work/shared [--repeats N] [...]

ROW: inception | frechet | decode | tokenizer | lfq | dinov2 | gpt | kmeans | probe. Every model runs on seeded
weights (shared/spec/seeded-weights.md); nothing is downloaded. Install the peers with
tools/bench-peers.sh.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402


def row_inception(a):
    """pytorch-fid InceptionV3([3]) and torch-fidelity 'inception-v3-compat' ('2048') on the same
    uint8 images, each with its own input pipeline, all images in one batch."""
    import json
    import numpy as np
    torch = common.torch_threads(a.threads)
    import pytorch_fid
    import pytorch_fid.inception as pfi
    import torch_fidelity
    import torch_fidelity.feature_extractor_inceptionv3 as tfi
    from seeded_weights import seeded_tensor

    with open(os.path.join(a.shared, "fixtures/inception/manifest.json")) as f:
        entries = json.load(f)["pytorch_fid"]["entries"]
    # The real files, seeded: pytorch-fid's has num_batches_tracked, torch-fidelity's has not.
    full = {e["key"]: (torch.zeros((), dtype=torch.int64) if e["key"].endswith("num_batches_tracked")
                       else torch.from_numpy(seeded_tensor(e["key"], e["shape"]))) for e in entries}
    pfi.load_state_dict_from_url = lambda *args, **kw: full
    tfi.load_state_dict_from_url = lambda *args, **kw: {k: v for k, v in full.items() if "num_batches" not in k}

    images = np.load(os.path.join(a.work, "images.npy"))                  # (N, H, W, 3) uint8
    n = images.shape[0]
    u8 = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()        # (N, 3, H, W)
    out = {"row": "inception", "images": n, "peers": []}

    pfid = pfi.InceptionV3([pfi.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    x01 = u8.float() / 255                                                 # ToTensor()
    sec, feats = common.best_of(a.repeats, lambda: pfid(x01)[0].squeeze(-1).squeeze(-1))
    np.save(os.path.join(a.work, "pytorch_fid_pool3.npy"), feats.numpy())
    out["peers"].append({"name": "pytorch-fid", "version": pytorch_fid.__version__, "seconds": sec, "units": n})

    tfid = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"]).eval()
    sec, feats = common.best_of(a.repeats, lambda: tfid(u8)[0])
    np.save(os.path.join(a.work, "torch_fidelity_pool3.npy"), feats.numpy())
    out["peers"].append({"name": "torch-fidelity", "version": torch_fidelity.__version__, "seconds": sec, "units": n})
    out["torch"] = torch.__version__
    return out


def row_frechet(a):
    """pytorch-fid's calculate_frechet_distance (scipy.linalg.sqrtm) on the statistics the Swift side wrote."""
    import numpy as np
    import scipy
    from pytorch_fid.fid_score import calculate_frechet_distance
    s = [np.load(os.path.join(a.work, f)) for f in ("mu1.npy", "sigma1.npy", "mu2.npy", "sigma2.npy")]
    sec, value = common.best_of(a.repeats, lambda: calculate_frechet_distance(*s), warmup=False)
    return {"row": "frechet", "value": float(value), "dim": int(s[0].shape[0]),
            "peers": [{"name": "scipy sqrtm (pytorch-fid)", "version": scipy.__version__, "seconds": sec, "units": 1}]}


def row_decode(a):
    """Pillow decode + convert('RGB') + center_crop_arr(size) over the JPEGs in WORK/jpegs, with
    THREADS worker threads in one process (Pillow releases the GIL while decoding and resampling)."""
    from concurrent.futures import ThreadPoolExecutor
    import numpy as np
    import PIL
    from PIL import Image
    sys.path.insert(0, os.path.dirname(HERE))
    from bench_pillow_decode import center_crop_arr  # ADM's, restated once for both Pillow benches
    d = os.path.join(a.work, "jpegs")
    files = sorted(os.path.join(d, f) for f in os.listdir(d))
    blobs = {}
    for f in files:  # warm the page cache, as the Swift side does
        with open(f, "rb") as fh:
            blobs[f] = fh.read()

    def one(f):
        return center_crop_arr(Image.open(f).convert("RGB"), a.size)

    def run():
        if a.threads == 1:
            return [one(f) for f in files]
        with ThreadPoolExecutor(a.threads) as ex:
            return list(ex.map(one, files))

    sec, arrs = common.best_of(a.repeats, run)
    checksum = int(sum(int(x.astype(np.uint64).sum()) for x in arrs))
    return {"row": "decode", "checksum": checksum, "images": len(files),
            "peers": [{"name": "Pillow", "version": PIL.__version__, "seconds": sec, "units": len(files)}]}


def row_tokenizer(a):
    """encode + decode_code of LlamaGen VQ-16 (tools/peers/llamagen_vq.py, seeded) on WORK/x.npy."""
    import numpy as np
    torch = common.torch_threads(a.threads)
    import llamagen_vq
    model = llamagen_vq.vq16().eval()
    model.load_state_dict(common.seeded_state_dict(model, os.path.join(a.shared, "fixtures/manifests/llamagen_vq_16.json")))
    x = torch.from_numpy(np.load(os.path.join(a.work, "x.npy")))

    def run():
        t0 = time.perf_counter()
        idx, shape = model.encode(x)
        t1 = time.perf_counter()
        dec = model.decode_code(idx, shape)
        return idx, dec, t1 - t0, time.perf_counter() - t1

    sec, (idx, dec, enc_s, dec_s) = common.best_of(a.repeats, run, warmup=False)
    np.save(os.path.join(a.work, "indices.npy"), idx.numpy().astype(np.int64))
    np.save(os.path.join(a.work, "decoded.npy"), dec.numpy())
    return {"row": "tokenizer", "torch": torch.__version__, "encode_s": enc_s, "decode_s": dec_s,
            "peers": [{"name": "torch (LlamaGen VQ-16 port)", "version": torch.__version__, "seconds": sec, "units": x.shape[0]}]}


def row_lfq(a):
    """encode + decode of Open-MAGVIT2's v1 lfq-256 (tools/peers/openmagvit2_lfq.py, seeded raw
    `encoder.*`/`decoder.*` weights, checked against the manifest) on WORK/x_lfq.npy."""
    import json
    import numpy as np
    torch = common.torch_threads(a.threads)
    import openmagvit2_lfq
    model = openmagvit2_lfq.lfq_256_b().eval()
    with open(os.path.join(a.shared, "fixtures/manifests/omv2_tokenizer_imagenet_256_B.json")) as f:
        want = {e["key"]: list(e["shape"]) for e in json.load(f)["entries"] if e["key"].startswith(("encoder.", "decoder."))}
    if {k: list(v.shape) for k, v in model.state_dict().items()} != want:
        raise SystemExit("openmagvit2_lfq.py: state-dict keys differ from the imagenet_256_B manifest")
    model.load_state_dict(common.seeded_state_dict(model))
    x = torch.from_numpy(np.load(os.path.join(a.work, "x_lfq.npy")))

    def run():
        q, idx = model.encode(x)
        return idx, model.decode(q)

    sec, (idx, dec) = common.best_of(a.repeats, run, warmup=False)
    np.save(os.path.join(a.work, "lfq_indices.npy"), idx.numpy().astype(np.int64).reshape(-1))
    np.save(os.path.join(a.work, "lfq_decoded.npy"), dec.numpy())
    return {"row": "lfq", "peers": [{"name": "torch (Open-MAGVIT2 LFQ port)", "version": torch.__version__,
                                     "seconds": sec, "units": x.shape[0]}]}


def row_dinov2(a):
    """forward_features of DINOv2 ViT-B/14-reg4 (tools/peers/dinov2_vit.py, seeded, DiGIT's
    position-embedding interpolation) on the normalised 224² batch WORK/x_dino.npy."""
    import json
    import numpy as np
    torch = common.torch_threads(a.threads)
    import dinov2_vit
    model = dinov2_vit.vitb14_reg4().eval()
    model.load_state_dict(common.seeded_state_dict(model, os.path.join(a.shared, "fixtures/manifests/dinov2_vitb14_reg4.json")))
    x = torch.from_numpy(np.load(os.path.join(a.work, "x_dino.npy")))
    sec, out = common.best_of(a.repeats, lambda: model.forward_features(x), warmup=False)
    np.save(os.path.join(a.work, "dino_out.npy"), out.numpy())
    return {"row": "dinov2", "peers": [{"name": "torch (DINOv2 ViT-B/14-reg4 port)", "version": torch.__version__,
                                        "seconds": sec, "units": x.shape[0]}]}


def row_gpt(a):
    """LlamaGen GPT-B (tools/peers/llamagen_gpt.py, seeded): prefill the class tokens (classes
    class_id, class_id + 1, … for BATCH sequences), then the given tokens one at a time with the KV
    cache, fed to every sequence; no CFG."""
    import numpy as np
    torch = common.torch_threads(a.threads)
    import llamagen_gpt
    model = llamagen_gpt.gpt_b().eval()
    model.load_state_dict(common.seeded_state_dict(model, os.path.join(a.shared, "fixtures/manifests/llamagen_gpt_B.json")))
    tokens = [int(t) for t in np.load(os.path.join(a.work, "tokens.npy"))]
    classes = [(a.class_id + i) % 1000 for i in range(a.batch)]
    sec, logits = common.best_of(a.repeats, lambda: model.decode(classes, tokens), warmup=False)
    np.save(os.path.join(a.work, "logits.npy"), logits[: a.check_rows].numpy())      # (rows, B, V)
    return {"row": "gpt", "batch": a.batch, "peers": [{"name": "torch (LlamaGen GPT-B port)", "version": torch.__version__,
                                                       "seconds": sec, "units": len(tokens) * a.batch}]}


def row_kmeans(a):
    """faiss.Kmeans(d, k, niter, seed=1234) as DiGIT's cluster_kmeans.py calls it, on WORK/x.npy."""
    import numpy as np
    import faiss
    faiss.omp_set_num_threads(a.threads)
    x = np.ascontiguousarray(np.load(os.path.join(a.work, "x.npy")), dtype=np.float32)

    def run():
        km = faiss.Kmeans(x.shape[1], a.k, niter=a.niter, seed=1234)
        km.train(x)
        return km

    sec, km = common.best_of(a.repeats, run, warmup=False)
    return {"row": "kmeans", "objective": [float(v) for v in km.obj],
            "peers": [{"name": "faiss-cpu", "version": faiss.__version__, "seconds": sec, "units": a.niter}]}


def row_probe(a):
    """StandardScaler + LogisticRegression(C, lbfgs) as tools/bench_probe_sklearn.py, on WORK/X.npy, y.npy."""
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    X = np.load(os.path.join(a.work, "X.npy"))
    y = np.load(os.path.join(a.work, "y.npy"))

    def run():
        Z = StandardScaler().fit_transform(X).astype(np.float32)
        return Z, LogisticRegression(C=a.c, solver="lbfgs", max_iter=a.max_iter, tol=a.tol).fit(Z, y)

    sec, (Z, clf) = common.best_of(a.repeats, run, warmup=False)
    return {"row": "probe", "train_top1": 100 * float(clf.score(Z, y)), "n_iter": int(clf.n_iter_[0]),
            "peers": [{"name": "scikit-learn", "version": sklearn.__version__, "seconds": sec, "units": 1}]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("row")
    ap.add_argument("--work", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "..", "shared"))
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--class-id", type=int, default=207)
    ap.add_argument("--check-rows", type=int, default=8)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--k", type=int, default=256)
    ap.add_argument("--niter", type=int, default=10)
    ap.add_argument("--c", type=float, default=0.1)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    common.setup(a.threads, a.shared)
    rows = {"inception": row_inception, "frechet": row_frechet, "decode": row_decode, "tokenizer": row_tokenizer,
            "lfq": row_lfq, "dinov2": row_dinov2, "gpt": row_gpt, "kmeans": row_kmeans, "probe": row_probe}
    if a.row not in rows:
        raise SystemExit(f"unknown row {a.row!r}; one of {', '.join(rows)}")
    out = rows[a.row](a)
    out["threads"] = a.threads
    common.emit(out)


if __name__ == "__main__":
    main()
