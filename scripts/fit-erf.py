"""Fit the coefficients of GELU.erf (src/layers/gelu.ts) and measure their error against mpmath.

Run once (and again only to change the degrees or the split point):
    python3 scripts/fit-erf.py
Needs numpy and mpmath (both come with PyTorch). Prints the two coefficient lists, powers first.

  |z| < 0.75:  erf(z)  = z · A(z²),                 A a polynomial of degree 6 in z²
  z ≥ 0.75:    erfc(z) = e^(−z²) · t · B(t),         t = 1 / (1 + z/2), B of degree DEG_TAIL in t

The variable t is that of Numerical Recipes' erfcc (which fits log B instead, and needs a second
exp): erfc(z)·e^(z²)/t is smooth in t on (0, 1] and tends to 1/(2√π) as z → ∞. Without an exp of
its own, the tail shares e^(−z²) = e^(−x²/2) with the normal density φ that GELU's derivative needs.
Both are Chebyshev least-squares fits on dense grids, converted to powers for Horner's rule.
"""
import mpmath
import numpy as np
from numpy.polynomial import Chebyshev, Polynomial

mpmath.mp.dps = 40
SPLIT = 0.75


def powers(ch):
    return ch.convert(kind=Polynomial, domain=[-1, 1], window=[-1, 1]).coef


def horner(c, v):
    acc = 0.0
    for k in reversed(c):
        acc = acc * v + k
    return acc


z = np.linspace(1e-4, SPLIT, 4001)
small = powers(Chebyshev.fit(z * z, [float(mpmath.erf(v)) / v for v in z], 6, domain=[0, SPLIT * SPLIT]))

z = np.concatenate([np.linspace(SPLIT, 4, 3000), np.linspace(4, 30, 2000)])
t = 1 / (1 + z / 2)
DEG_TAIL = 16
g = np.array([float(mpmath.erfc(v) * mpmath.exp(v * v)) for v in z]) / t
tail = powers(Chebyshev.fit(t, g, DEG_TAIL, domain=[0, 1 / (1 + SPLIT / 2)]))


def erf(v):
    a = abs(v)
    if a < SPLIT:
        return v * horner(small, v * v)
    tt = 1 / (1 + a / 2)
    r = 1 - np.exp(-a * a) * tt * horner(tail, tt)
    return -r if v < 0 else r


grid = np.linspace(-8, 8, 400001)
ref = np.array([float(mpmath.erf(v)) for v in grid])
mine = np.array([erf(v) for v in grid])
err = np.abs(mine - ref)
rel = err[np.abs(grid) >= 1e-3] / np.abs(ref[np.abs(grid) >= 1e-3])
print('ERF_SMALL =', ', '.join(repr(float(c)) for c in small))
print('ERFC_TAIL =', ', '.join(repr(float(c)) for c in tail))
zt = np.linspace(SPLIT, 26, 100001)
tt = 1 / (1 + zt / 2)
tail_rel = max(abs(float(np.exp(-v * v) * w * horner(tail, w) / mpmath.erfc(v)) - 1) for v, w in zip(zt, tt))
print(f'erfc tail on 100 001 points of [0.75, 26]: max relative error {tail_rel:.2e}')
print(f'on 400 001 points of [-8, 8]: max |error| {err.max():.2e} at {grid[err.argmax()]:.6f}, max relative (|z| >= 1e-3) {rel.max():.2e}')
