"""Normalised observation likelihoods, per observation.

The cost function drops every term that does not depend on the parameters; model comparison
(WAIC, PSIS-LOO, evidence) needs the full log density. `gaussian_log_density` gives it per
observation for any error covariance with ``whiten`` and ``log_scales``
(`pdaframe.ErrorCovariance`, `pdaframe.ExponentialCovariance`): with ``R = L L^T`` and
``z = L^-1 r``, observation ``i`` contributes ``-z_i^2/2 - log|L_ii| - log(2 pi)/2``, the log
density of ``y_i`` given the observations before it (chain rule; independent errors: its own
density). The terms sum to ``log N(r; 0, R)``.
"""
from __future__ import annotations

import math

import numpy as np

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def gaussian_log_density(error, r, weight=1.0) -> np.ndarray:
    """Pointwise ``log N(r; 0, R / weight)`` (see the module docstring).

    Parameters
    ----------
    error : ErrorCovariance or ExponentialCovariance
        The stream's error covariance R.
    r : array_like, shape (n,)
        Residuals (model equivalent minus observation) of the valid observations.
    weight : float
        The stream's cost weight ``w``: the likelihood is that of ``R / w``.

    Returns
    -------
    ndarray, shape (n,)
    """
    z = error.whiten(np.asarray(r, dtype=float))
    return -0.5 * weight * z * z - error.log_scales() + 0.5 * math.log(weight) - HALF_LOG_2PI
