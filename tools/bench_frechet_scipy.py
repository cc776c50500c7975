"""Times pytorch-fid's Fréchet distance (scipy.linalg.sqrtm) on the inputs of
`digit-bench bench frechet` and prints the value, for the speed-up ratio and a value check.

    python3 tools/bench_frechet_scipy.py --n 5000 --dim 2048 --repeat 1

Features: seeded_tensor('bench/frechet/A' | 'bench/frechet/B', (n, d)) squared times 10, as the
Swift bench builds them (shared/tools/seeded_weights.py).
"""
import argparse, os, sys, time
import numpy as np
from scipy import linalg

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "shared", "tools"))
from seeded_weights import seeded_tensor  # noqa: E402


def frechet_pytorch_fid(mu1, s1, mu2, s2, eps=1e-6):
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--dim", type=int, default=2048)
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    stats = []
    for key in ["bench/frechet/A", "bench/frechet/B"]:
        f = seeded_tensor(key, [a.n, a.dim])
        f = f * f * np.float32(10)
        act = f.astype(np.float64)
        t0 = time.perf_counter()
        stats.append((act.mean(axis=0), np.cov(act, rowvar=False)))
        print(f"np.cov {key}: {time.perf_counter() - t0:.3f} s")
    best = float("inf")
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        v = frechet_pytorch_fid(stats[0][0], stats[0][1], stats[1][0], stats[1][1])
        best = min(best, time.perf_counter() - t0)
    print(f"scipy sqrtm Fréchet distance: {best:.3f} s (min of {a.repeat}), FID = {v:.12g}")


if __name__ == "__main__":
    main()
