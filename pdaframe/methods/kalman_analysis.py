"""Ensemble Kalman analyses of an augmented ensemble, and the Gaspari–Cohn taper
(`pdaframe.methods.joint_enkf`): the perturbed-observation update with optional covariance
localisation (Houtekamer & Mitchell 2001) and the deterministic square root (ETKF; DAPPER's
'Sqrt'). Observations are whitened (``R = I``); members are rows.
"""
from __future__ import annotations

import numpy as np


def gaspari_cohn(distance, radius) -> np.ndarray:
    """Gaspari–Cohn taper (their eq. 4.10) of ``distance``, half-width ``radius``: 1 at 0,
    0 from ``2 radius`` on."""
    r = np.abs(np.asarray(distance, dtype=float)) / radius
    out = np.zeros_like(r)
    near, far = r <= 1.0, (r > 1.0) & (r < 2.0)
    x = r[near]
    out[near] = (((-0.25 * x + 0.5) * x + 0.625) * x - 5.0 / 3.0) * x ** 2 + 1.0
    x = r[far]
    out[far] = ((((x / 12.0 - 0.5) * x + 0.625) * x + 5.0 / 3.0) * x - 5.0) * x + 4.0 \
        - 2.0 / (3.0 * x)
    return out


def enkf_analysis(E, G, D, rho_zy=None, rho_yy=None) -> np.ndarray:
    """Perturbed-observation analysis of the members ``E`` ``(N, n)``, shape ``(N, n)``.

    ``G`` ``(N, m)`` whitened predictions, ``D`` ``(N, m)`` whitened perturbed
    observations (``R = I``); ``rho_zy`` ``(n, m)`` and ``rho_yy`` ``(m, m)`` optional
    localisation (Schur products with ``P_zy`` and ``P_yy``; module docstring).
    """
    N = E.shape[0]
    A = E - E.mean(axis=0)
    Y = G - G.mean(axis=0)
    p_zy = A.T @ Y / (N - 1)
    p_yy = Y.T @ Y / (N - 1)
    if rho_zy is not None:
        p_zy, p_yy = p_zy * rho_zy, p_yy * rho_yy
    gain = np.linalg.solve(p_yy + np.eye(p_yy.shape[0]), p_zy.T).T          # (n, m)
    return E + (D - G) @ gain.T


def sqrt_analysis(E, G, y) -> np.ndarray:
    """Deterministic square-root analysis (ETKF; DAPPER's 'Sqrt'), shape ``(N, n)``.

    ``E`` ``(N, n)`` members, ``G`` ``(N, m)`` whitened predictions, ``y`` ``(m,)``
    whitened observations (``R = I``). With ``Y = G - mean``, ``Y Y^T + (N-1) I = V d V^T``:
    ``E <- mean + (w + T) A``, ``w = (y - mean G) Y^T V d^-1 V^T``, ``T = sqrt(N-1) V d^-1/2
    V^T``; mean and covariance are the Kalman filter's for the ensemble covariance, with no
    random draws.
    """
    N = E.shape[0]
    mean = E.mean(axis=0)
    A = E - mean
    Y = G - G.mean(axis=0)
    d, V = np.linalg.eigh(Y @ Y.T + (N - 1) * np.eye(N))
    T = (V * d ** -0.5) @ V.T * np.sqrt(N - 1)
    w = (y - G.mean(axis=0)) @ Y.T @ ((V / d) @ V.T)
    return mean + (w + T) @ A
