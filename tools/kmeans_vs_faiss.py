#!/usr/bin/env python3
"""Reference numbers for digit-bench's K-Means (Tests/DigitModelsTests/KMeansTests.swift) from faiss-cpu.

Runs faiss.Kmeans (the call DiGIT's preprocess/cluster_kmeans.py makes) on small deterministic data sets
and prints, per case, the per-iteration objective, the cluster sizes of the final assignment (each point
to its nearest final centroid) and the number of non-empty clusters.

    python3 -m venv /tmp/faiss-venv && /tmp/faiss-venv/bin/pip install faiss-cpu==1.7.4 'numpy<2'
    OMP_NUM_THREADS=1 /tmp/faiss-venv/bin/python tools/kmeans_vs_faiss.py [--shared ../shared]

faiss-cpu 1.7.4 is the version the DiGIT fixtures record (fixtures/dinov2/expected.json: versions).
Data sets (all float32, rebuilt identically by the Swift test):
  genuine    fixtures/dinov2/vitb_feat_l3.npy as (512, 768), k=16, niter=20 (DiGIT's own run gave
             fixtures/digit_tokenizer/km_16_genuine.npy)
  subsample  seeded_tensor('kmeans.test.points', [6000, 32]), k=20, niter=10, max_points_per_centroid=100
  split      seeded_tensor('kmeans.test.base', [40, 8]) repeated: row i = base[(7*i) % 40], 1000 rows,
             k=64, niter=8 (more clusters than distinct points: empty clusters are split every iteration)
"""
import argparse
import json
import os
import sys

import numpy as np
import faiss


def cases(shared):
    sys.path.insert(0, os.path.join(shared, "tools"))
    from seeded_weights import seeded_tensor

    feats = np.load(os.path.join(shared, "fixtures/dinov2/vitb_feat_l3.npy")).reshape(-1, 768)
    yield "genuine", feats, dict(k=16, niter=20)
    yield "subsample", seeded_tensor("kmeans.test.points", [6000, 32]), dict(k=20, niter=10, max_points_per_centroid=100)
    base = seeded_tensor("kmeans.test.base", [40, 8])
    yield "split", np.ascontiguousarray(base[[(7 * i) % 40 for i in range(1000)]]), dict(k=64, niter=8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    args = ap.parse_args()
    out = {"faiss": faiss.__version__, "cases": {}}
    for name, x, kw in cases(args.shared):
        k = kw.pop("k")
        km = faiss.Kmeans(x.shape[1], k, seed=1234, **kw)
        km.train(x)
        _, assign = km.index.search(x, 1)
        counts = np.bincount(assign[:, 0], minlength=k)
        out["cases"][name] = {
            "n": int(x.shape[0]), "d": int(x.shape[1]), "k": k, **kw,
            "objective": [float(v) for v in km.obj],
            "final_counts_sorted": sorted(int(c) for c in counts),
            "nonempty": int((counts > 0).sum()),
            "centroid_sum": float(km.centroids.astype(np.float64).sum()),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
