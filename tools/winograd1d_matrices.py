#!/usr/bin/env python3
"""1-D Winograd (Toom-Cook) matrices F(m, r) from interpolation points, in exact rationals.

y_j = sum_k g_k d_{j+k} (j < m, k < r, d of length alpha = m + r - 1, i.e. cross-correlation as
torch's conv) equals AT [ (G g) * (BT d) ].  Points: alpha - 1 finite points plus infinity.
AT[j][i] = p_i^j, G[i][k] = p_i^k / f_i (f_i = prod_{l != i} (p_i - p_l)); the infinity column
of AT / row of G pick the leading coefficient.  BT is solved exactly from the bilinear identity.

  python3 tools/winograd1d_matrices.py study      # float32 error of candidate point sets
  python3 tools/winograd1d_matrices.py swift      # the tables in Sources/DigitTensor/Winograd1D.swift
"""
import sys
from fractions import Fraction as F
import numpy as np


def matrices(m, r, points):
    a = m + r - 1
    pts = [F(p) for p in points]
    assert len(pts) == a - 1, (m, r, len(pts))
    AT = [[(p ** j if not (p == 0 and j == 0) else F(1)) for p in pts] + [F(int(j == m - 1))] for j in range(m)]
    f = []
    for i, p in enumerate(pts):
        prod = F(1)
        for l, q in enumerate(pts):
            if l != i:
                prod *= p - q
        f.append(prod)
    G = [[(p ** k if not (p == 0 and k == 0) else F(1)) / f[i] for k in range(r)] for i, p in enumerate(pts)]
    G.append([F(int(k == r - 1)) for k in range(r)])
    # Solve sum_i AT[j][i] G[i][k] BT[i][l] = [l == j + k] for each l: rows (j, k), unknowns i.
    K = [[AT[j][i] * G[i][k] for i in range(a)] for j in range(m) for k in range(r)]
    BT = [[F(0)] * a for _ in range(a)]
    for l in range(a):
        rhs = [F(int(l == j + k)) for j in range(m) for k in range(r)]
        x = solve(K, rhs, a)
        for i in range(a):
            BT[i][l] = x[i]
    # Check the identity exactly.
    for j in range(m):
        for k in range(r):
            for l in range(a):
                s = sum(AT[j][i] * G[i][k] * BT[i][l] for i in range(a))
                assert s == int(l == j + k)
    return AT, G, BT


def solve(K, rhs, n):
    """Exact least-squares-free solve of a consistent overdetermined system (Gauss-Jordan)."""
    rows = [list(K[i]) + [rhs[i]] for i in range(len(K))]
    piv_row = 0
    cols = []
    for c in range(n):
        p = next((i for i in range(piv_row, len(rows)) if rows[i][c] != 0), None)
        assert p is not None, "singular"
        rows[piv_row], rows[p] = rows[p], rows[piv_row]
        pv = rows[piv_row][c]
        rows[piv_row] = [v / pv for v in rows[piv_row]]
        for i in range(len(rows)):
            if i != piv_row and rows[i][c] != 0:
                fac = rows[i][c]
                rows[i] = [vi - fac * vp for vi, vp in zip(rows[i], rows[piv_row])]
        cols.append(c)
        piv_row += 1
    for i in range(piv_row, len(rows)):
        assert rows[i][n] == 0, "inconsistent"
    return [rows[i][n] for i in range(n)]


def study():
    rng = np.random.default_rng(0)
    C, tiles = 160, 400
    cands = {
        (2, 7): [[0, 1, -1, 2, -2, F(1, 2), F(-1, 2)]],
        (3, 7): [[0, 1, -1, 2, -2, F(1, 2), F(-1, 2), 3]],
        (4, 7): [[0, 1, -1, 2, -2, F(1, 2), F(-1, 2), 3, -3], [0, 1, -1, 2, -2, F(1, 2), F(-1, 2), F(1, 4), F(-1, 4)],
                 [0, 1, -1, 2, -2, F(1, 2), F(-1, 2), F(3, 2), F(-3, 2)], [0, 1, -1, 2, -2, F(1, 2), F(-1, 2), 4, -4]],
        (5, 7): [[0, 1, -1, 2, -2, F(1, 2), F(-1, 2), F(3, 2), F(-3, 2), 3]],
        (6, 7): [[0, 1, -1, 2, -2, F(1, 2), F(-1, 2), F(3, 2), F(-3, 2), 3, -3],
                 [0, 1, -1, 2, -2, F(1, 2), F(-1, 2), F(3, 2), F(-3, 2), F(2, 3), F(-2, 3)],
                 [0, 1, -1, 2, -2, F(1, 2), F(-1, 2), 3, -3, F(1, 3), F(-1, 3)],
                 [0, 1, -1, 2, -2, F(1, 2), F(-1, 2), F(1, 4), F(-1, 4), 4, -4]],
        (2, 3): [[0, 1, -1]],
        (4, 3): [[0, 1, -1, 2, -2]],
        (6, 3): [[0, 1, -1, 2, -2, F(1, 2), F(-1, 2)]],
    }
    for (m, r), sets in cands.items():
        a = m + r - 1
        d = rng.uniform(-1, 1, (C, tiles, a)).astype(np.float32)
        g = rng.uniform(-1, 1, (C, r)).astype(np.float32)
        ref = np.einsum('ctjk,ck->tj', np.stack([d[:, :, j:j + r] for j in range(m)], 2).astype(np.float64), g.astype(np.float64))
        direct = np.zeros((tiles, m), np.float32)
        for c in range(C):
            for k in range(r):
                direct += d[c, :, k:k + m] * g[c, k]
        e_direct = np.abs(direct - ref).max()
        for pts in sets:
            AT, G, BT = [np.array([[float(v) for v in row] for row in M]) for M in matrices(m, r, pts)]
            U = (g.astype(np.float64) @ G.T).astype(np.float32)  # (C, a)
            V = np.einsum('ak,ctk->cta', BT.astype(np.float32), d).astype(np.float32)
            M_ = np.einsum('ca,cta->ta', U, V).astype(np.float32)
            y = (M_ @ AT.T.astype(np.float32)).astype(np.float32)
            e = np.abs(y - ref).max()
            print(f"F({m},{r}) pts {[str(p) for p in pts]}: max|err| {e:.2e} vs direct f32 {e_direct:.2e} (x{e / e_direct:.1f}); "
                  f"max|BT| {np.abs(BT).max():.3g} max|AT| {np.abs(AT).max():.3g} max|G| {np.abs(G).max():.3g}")


# The point sets used (chosen by `study`: the lowest float32 error among the candidates tried).
HALF = F(1, 2)
POINTS = {
    (2, 7): [0, 1, -1, 2, -2, HALF, -HALF],
    (3, 7): [0, 1, -1, 2, -2, HALF, -HALF, F(3, 2)],
    (4, 7): [0, 1, -1, 2, -2, HALF, -HALF, F(3, 4), -F(3, 4)],
    (6, 7): [0, 1, -1, 2, -2, HALF, -HALF, F(4, 3), -F(4, 3), F(3, 4), -F(3, 4)],
    (2, 3): [0, 1, -1],
    (4, 3): [0, 1, -1, 2, -2],
    (6, 3): [0, 1, -1, 2, -2, HALF, -HALF],
}


def swift():
    def lit(M):
        return "[\n" + "".join(f'                "{" ".join(str(v) for v in row)}",\n' for row in M) + "            ]"
    seen = {}
    for (m, r), pts in POINTS.items():
        AT, G, BT = matrices(m, r, pts)
        print(f"        // F({m}, {r}): points {', '.join(str(p) for p in pts)}, ∞")
        print(f"        case ({m}, {r}): (")
        key = str(BT)
        if key in seen:  # Bᵀ depends only on the points: share it
            print(f"            bT: table(m: {seen[key][0]}, r: {seen[key][1]}).bT,")
        else:
            seen[key] = (m, r)
            print(f"            bT: {lit(BT)},")
        print(f"            g: {lit(G)},")
        print(f"            aT: {lit(AT)})")


if __name__ == "__main__":
    if sys.argv[1:] == ["study"]:
        study()
    elif sys.argv[1:] == ["swift"]:
        swift()
    else:
        print(__doc__)
