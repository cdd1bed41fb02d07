#!/usr/bin/env python3
"""Fits the float coefficients of include/vae/backend/cpu/gelu_float.hpp and prints them with their error.

GELU(x) = x·Φ(x), Φ(x) = ½·erfc(−z), z = x/√2. Two pieces:
  |z| ≤ 0.9:  erf(z) = z·P(z²), P of degree 5, least squares on Chebyshev nodes (relative error ~1.5e-8);
  |z| > 0.9:  erfc(|z|) = exp(−z²)·Q(t), t = 1/(1 + |z|/2), Q of degree 9, fitted in relative error on [0.9, 12].
Then the whole float32 evaluation (Horner, exp, selects) is simulated against double and the worst error printed.
Needs numpy and scipy (Debian: python3-numpy python3-scipy).
"""
import numpy as np
from scipy.special import erf, erfc

SPLIT, P_DEG, Q_DEG, T_SCALE = 0.9, 5, 9, 0.5


def fit():
    z = np.cos(np.linspace(0, np.pi, 4000)) * SPLIT / 2 + SPLIT / 2
    z = z[z > 1e-6]
    a = np.vstack([z ** (2 * k) for k in range(P_DEG + 1)]).T
    p = np.linalg.lstsq(a, erf(z) / z, rcond=None)[0]
    z = np.linspace(SPLIT, 12, 20000)
    t = 1 / (1 + T_SCALE * z)
    s = erfc(z) * np.exp(z * z)
    a = np.vstack([t ** k for k in range(Q_DEG + 1)]).T
    q = np.linalg.lstsq(a / s[:, None], np.ones_like(s), rcond=None)[0]
    return p.astype(np.float32), q.astype(np.float32)


def simulate(p, q):
    f = np.float32

    def horner(c, v):
        r = np.full_like(v, c[-1])
        for k in range(len(c) - 2, -1, -1):
            r = (r * v + c[k]).astype(f)
        return r

    x = np.linspace(-14, 14, 2000001).astype(f)
    z = (x * f(np.sqrt(0.5))).astype(f)
    a, s = np.abs(z), (z * z).astype(f)
    small = (f(0.5) + f(0.5) * z * horner(p, s)).astype(f)
    e = (f(0.5) * np.exp(-s).astype(f) * horner(q, (f(1) / (f(1) + f(T_SCALE) * a)).astype(f))).astype(f)
    phi = np.where(a <= SPLIT, small, np.where(z > 0, f(1) - e, e))
    y = (x * phi).astype(f)
    dy = (phi + x * (f(1 / np.sqrt(2 * np.pi)) * np.exp(-s).astype(f))).astype(f)
    xd = x.astype(np.float64)
    y_ref = 0.5 * xd * erfc(-xd / np.sqrt(2))
    dy_ref = 0.5 * erfc(-xd / np.sqrt(2)) + xd * np.exp(-xd * xd / 2) / np.sqrt(2 * np.pi)
    scaled = lambda got, ref: np.max(np.abs(got - ref) / np.maximum(1, np.abs(ref)))
    return scaled(y, y_ref), scaled(dy, dy_ref)


if __name__ == "__main__":
    p, q = fit()
    print("P (z² powers 0..%d):" % P_DEG, ", ".join("%.9ef" % v for v in p))
    print("Q (t powers 0..%d):" % Q_DEG, ", ".join("%.9ef" % v for v in q))
    ey, ed = simulate(p, q)
    print("float32 evaluation on [-14, 14]: |error| / max(1, |ref|) <= %.3g (value), %.3g (derivative)" % (ey, ed))
