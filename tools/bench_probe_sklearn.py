#!/usr/bin/env python3
"""Time scikit-learn's LogisticRegression(solver="lbfgs") on synthetic probe features and write
them for `digit-bench bench probe --features DIR/X.npy --labels DIR/y.npy`.

Features: class means ~ N(0, 1) (numpy default_rng(0)), rows = 0.5 * mean[y] + N(0, 1), float32,
labels y = i % classes. Both tools standardise with the train mean / population std and fit one C
(sklearn semantics) with the same max_iter and tol.

  python3 tools/bench_probe_sklearn.py --n 50000 --dim 1024 --classes 1000 --out /tmp/probe-bench
"""
import argparse
import os
import time

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--dim", type=int, default=1024)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--c", type=float, default=0.1)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    means = rng.standard_normal((a.classes, a.dim), dtype=np.float32)
    y = np.arange(a.n) % a.classes
    X = 0.5 * means[y] + rng.standard_normal((a.n, a.dim), dtype=np.float32)
    os.makedirs(a.out, exist_ok=True)
    np.save(os.path.join(a.out, "X.npy"), X.astype(np.float32))
    np.save(os.path.join(a.out, "y.npy"), y.astype(np.int64))
    t0, c0 = time.perf_counter(), time.process_time()
    Z = StandardScaler().fit_transform(X).astype(np.float32)
    clf = LogisticRegression(C=a.c, solver="lbfgs", max_iter=a.max_iter, tol=a.tol).fit(Z, y)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    logp = clf.predict_log_proba(Z)
    objective = -np.mean(logp[np.arange(a.n), y]) + 0.5 / (a.c * a.n) * np.sum(clf.coef_.astype(np.float64) ** 2)
    print(f"scikit-learn {sklearn.__version__}: {a.n} x {a.dim}, {a.classes} classes, C={a.c}, "
          f"max_iter {a.max_iter}, tol {a.tol}, float32 X")
    print(f"fit (standardise + lbfgs): wall {wall:.2f} s, CPU {cpu:.2f} s, n_iter {clf.n_iter_[0]}, "
          f"train top-1 {100 * clf.score(Z, y):.2f} %, objective {objective:.10g}")


if __name__ == "__main__":
    main()
