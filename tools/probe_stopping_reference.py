#!/usr/bin/env python3
"""Where scikit-learn's LogisticRegression(solver="lbfgs") stops, for the L-BFGS stopping tests of
`digit-bench linear-probe` (Tests/DigitMetricsTests/LinearProbeStoppingTests.swift, docs/probe.md).

scikit-learn changed the scale of the objective L-BFGS-B sees in 1.4 (PR #26721):
  <= 1.3: f = sum_i logloss_i + 1/(2C) ||W||^2    scipy defaults ftol = 2.22e-9 (factr 1e7), maxls 20
  >= 1.4: f = mean_i logloss_i + 1/(2Cn) ||W||^2  ftol = 64 eps, maxls 50
with gtol = tol (max|g_i|) in both. Run this with each version's python, e.g.
  ~/.cache/digit-bench/peers-venv/bin/python tools/probe_stopping_reference.py   # scikit-learn 1.3.2
  python3 tools/probe_stopping_reference.py                                       # scikit-learn 1.9.1
It prints, for each problem and tol: n_iter, the objective in the mean scale (sklearn >= 1.4's
f; sklearn <= 1.3's f divided by n) and max|g| of the mean-scale gradient at the result.

Problems:
  digits: Tests/DigitMetricsTests/Fixtures/digits (load_digits), train rows [0, 1347), StandardScaler,
          C = 0.05 (the fixture protocol of tools/make_digits_fixture.py)
  synthetic --n/--dim/--classes: tools/bench_probe_sklearn.py's features (numpy default_rng(0)),
          C = 0.1; --out DIR also writes them as DIR/X.npy, DIR/y.npy for `digit-bench bench probe`.
"""
import argparse
import os
import sys

import numpy as np
import scipy
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

DIGITS = os.path.join("Tests", "DigitMetricsTests", "Fixtures", "digits")


def mean_objective(clf, Z, y, c):
    """The mean-scale objective and max|gradient| at clf's coefficients, in float64."""
    n = len(y)
    W = clf.coef_.astype(np.float64)
    b = clf.intercept_.astype(np.float64)
    s = Z.astype(np.float64) @ W.T + b
    s -= s.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    f = -np.mean(logp[np.arange(n), y]) + 0.5 / (c * n) * np.sum(W ** 2)
    R = np.exp(logp)
    R[np.arange(n), y] -= 1
    gW = R.T @ Z.astype(np.float64) / n + W / (c * n)
    gb = R.sum(axis=0) / n
    return f, max(np.abs(gW).max(), np.abs(gb).max())


def run(name, Z, y, c, tols):
    for tol in tols:
        clf = LogisticRegression(C=c, solver="lbfgs", tol=tol, max_iter=1000).fit(Z, y)
        f, g = mean_objective(clf, Z, y, c)
        print(f"{name} C={c:g} tol={tol:g}: n_iter {clf.n_iter_[0]}, objective {f:.12g}, max|g| {g:.3g}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--out", help="write the synthetic X.npy / y.npy here")
    a = ap.parse_args()
    print(f"scikit-learn {sklearn.__version__}, scipy {scipy.__version__}, numpy {np.__version__}, "
          f"python {sys.version.split()[0]}")

    X = np.load(os.path.join(DIGITS, "images.npy")).astype(np.float64)
    y = np.load(os.path.join(DIGITS, "labels.npy")).astype(np.int64)
    Xtr, ytr = X[:1347], y[:1347]
    run("digits", StandardScaler().fit(Xtr).transform(Xtr), ytr, 0.05, [1e-2, 1e-3, 1e-4, 1e-6])

    rng = np.random.default_rng(0)  # as tools/bench_probe_sklearn.py
    means = rng.standard_normal((a.classes, a.dim), dtype=np.float32)
    ys = np.arange(a.n) % a.classes
    Xs = 0.5 * means[ys] + rng.standard_normal((a.n, a.dim), dtype=np.float32)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        np.save(os.path.join(a.out, "X.npy"), Xs.astype(np.float32))
        np.save(os.path.join(a.out, "y.npy"), ys.astype(np.int64))
    Zs = StandardScaler().fit_transform(Xs).astype(np.float32)
    run(f"synthetic {a.n}x{a.dim}x{a.classes}", Zs, ys, 0.1, [1e-4])


if __name__ == "__main__":
    main()
