"""Fits the float32 erf of Sources/CKernels/transformer.c (dbk_erf, used by the exact GELU) and
reports its error in float32 arithmetic against scipy's float64 erf.

    |x| <= 0.921875:  erf(x) = x + x * P(x^2)            (P's constant term is 2/sqrt(pi) - 1)
    |x|  > 0.921875:  erf(x) = 1 - exp(-x^2) * R(t),     t = (min(|x|, 4) - mid) / half in [-1, 1]

Both fits are least squares on Chebyshev nodes, iteratively reweighted toward minimax: P (degree 6
in x^2) on the relative error of erf(x)/x, R (degree 10 in t, Chebyshev basis converted to powers of
t) on the absolute error of erfc. Run: python3 tools/fit_erf.py (numpy, scipy). Prints the float32
coefficients as C literals and the simulated max error in ulps (numpy float32, no FMA).
"""
import numpy as np
from scipy.special import erf, erfc

SPLIT, CLAMP = 0.921875, 4.0
MID, HALF = (SPLIT + CLAMP) / 2, (CLAMP - SPLIT) / 2


def reweighted_lstsq(vander, y, w, iters=40):
    ww = np.ones_like(y)
    for _ in range(iters):
        c, *_ = np.linalg.lstsq(vander * (ww / w)[:, None], y * ww / w, rcond=None)
        e = np.abs((vander @ c - y) / w)
        ww = ww * (e / e.max()) ** 0.5 + 1e-12
        ww /= ww.max()
    return c, e.max()


def nodes(lo, hi, n=6000):
    return np.cos(np.pi * (np.arange(n) + 0.5) / n) * (hi - lo) / 2 + (hi + lo) / 2


x = np.abs(nodes(0, SPLIT)) + 1e-9
P, err_p = reweighted_lstsq(np.vander(x * x, 7, increasing=True), erf(x) / x, erf(x) / x)
x = nodes(SPLIT, CLAMP)
cheb, err_r = reweighted_lstsq(np.polynomial.chebyshev.chebvander((x - MID) / HALF, 10), erfc(x) * np.exp(x * x), np.exp(x * x))
R = np.polynomial.chebyshev.cheb2poly(cheb)
print(f"fit: P relative error {err_p:.2e}, exp(-x^2) R absolute error {err_r:.2e}")
print(f"mid {MID}, half {HALF}")
print("P:", ", ".join("%.9ef" % v for v in [P[0] - 1] + list(P[1:])))
print("R:", ", ".join("%.9ef" % v for v in R))

f32 = np.float32
xs = np.linspace(-6, 6, 2_000_001).astype(f32)
ax = np.minimum(np.abs(xs), f32(CLAMP))
z = ax * ax
pc = [f32(P[0] - 1)] + [f32(v) for v in P[1:]]
p = pc[6]
for c in pc[5::-1]:
    p = p * z + c
small = (ax.astype(np.float64) * p.astype(np.float64)).astype(f32) + ax
t = (ax - f32(MID)) * f32(1 / HALF)
rc = [f32(v) for v in R]
r = rc[10]
for c in rc[9::-1]:
    r = r * t + c
big = f32(1) - np.exp(-z).astype(f32) * r
y = np.copysign(np.where(ax <= f32(SPLIT), small, big), xs)
ref = erf(xs.astype(np.float64))
ulp = np.spacing(np.abs(ref).astype(f32)).astype(np.float64)
u = np.abs(y - ref) / ulp
print(f"simulated float32: max {u.max():.2f} ulp at x = {xs[np.argmax(u)]}")
