#!/usr/bin/env python3
"""Export scikit-learn's bundled `load_digits` as the linear-probe fixture and print
scikit-learn's LogisticRegression reference numbers for the Swift tests.

Writes Tests/DigitMetricsTests/Fixtures/digits/:
  images.npy     (1797, 64) uint8, pixel counts 0..16, row order of load_digits()
  labels.npy     (1797,)    uint8, 0..9
  sklearn_coef.npy       (10, 64) float64, LogisticRegression.coef_ (reference, not ours)
  sklearn_intercept.npy  (10,)    float64, LogisticRegression.intercept_

Protocol (the Swift tests repeat it):
  train = rows [0, 1347), test = rows [1347, 1797) (no shuffling; 75 % / 25 %)
  features standardised with StandardScaler fitted on train (population std; a constant
  column gets scale 1), float64
  LogisticRegression(C=C, solver="lbfgs", tol=1e-10, max_iter=10000) — multinomial (the only
  multi-class mode of lbfgs in scikit-learn >= 1.5), objective
      mean_i logloss_i + 0.5 / (C * n_train) * ||coef||_F^2   (intercept not penalised)

Needs scikit-learn (pip install scikit-learn); run from the repository root:
  python3 tools/make_digits_fixture.py
"""
import os
import sys

import numpy as np
import scipy
import sklearn
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

N_TRAIN = 1347
C = 0.05
OUT = os.path.join("Tests", "DigitMetricsTests", "Fixtures", "digits")


def top_k(scores, y, k):
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return 100.0 * np.mean(np.any(order == y[:, None], axis=1))


def main():
    digits = load_digits()
    X = digits.data  # float64 0..16
    y = digits.target
    assert X.shape == (1797, 64) and np.all(X == np.round(X)) and X.max() <= 16
    os.makedirs(OUT, exist_ok=True)
    np.save(os.path.join(OUT, "images.npy"), X.astype(np.uint8))
    np.save(os.path.join(OUT, "labels.npy"), y.astype(np.uint8))

    Xtr, ytr, Xte, yte = X[:N_TRAIN], y[:N_TRAIN], X[N_TRAIN:], y[N_TRAIN:]
    scaler = StandardScaler().fit(Xtr)
    Ztr, Zte = scaler.transform(Xtr), scaler.transform(Xte)
    results = {}
    for c in [0.01, C, 1.0]:
        clf = LogisticRegression(C=c, solver="lbfgs", tol=1e-10, max_iter=10000).fit(Ztr, ytr)
        s = clf.decision_function(Zte)
        n = len(ytr)
        p = clf.predict_proba(Ztr)
        obj = -np.mean(np.log(p[np.arange(n), ytr])) + 0.5 / (c * n) * np.sum(clf.coef_ ** 2)
        results[c] = clf
        print(f"C={c:g}: test top-1 {top_k(s, yte, 1):.4f} %, top-5 {top_k(s, yte, 5):.4f} %, "
              f"train top-1 {100 * clf.score(Ztr, ytr):.4f} %, n_iter {clf.n_iter_[0]}, objective {obj:.15g}")
    clf = results[C]
    np.save(os.path.join(OUT, "sklearn_coef.npy"), clf.coef_.astype(np.float64))
    np.save(os.path.join(OUT, "sklearn_intercept.npy"), clf.intercept_.astype(np.float64))
    coef = clf.coef_
    print(f"reference C={C:g}: ||coef||_F {np.linalg.norm(coef):.12g}, max|coef| {np.abs(coef).max():.12g}, "
          f"sum|coef| {np.abs(coef).sum():.12g}, intercept {np.array2string(clf.intercept_, precision=10, separator=', ')}")
    print(f"coef[3, 20] {coef[3, 20]:.12g}, coef[7, 42] {coef[7, 42]:.12g}")
    print(f"versions: scikit-learn {sklearn.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
