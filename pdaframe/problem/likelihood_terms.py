"""What a non-Gaussian likelihood changes in a `pdaframe.problem.single.Problem` beyond its
cost and gradient: the Laplace Hessian (`cost_hessian`) and twin noise (`resample_noise`).
"""
from __future__ import annotations

import numpy as np

from ..observations.likelihoods import stream_likelihood

#: relative step (per prior standard deviation) of the central differences of the gradient
HESSIAN_STEP = 1e-4


def cost_hessian(problem, theta, mode=None) -> np.ndarray:
    """Hessian of the observation term ``J - J_b`` at ``theta``, by central differences of
    the exact gradient (``problem.gradient(theta, mode)`` minus the prior's), symmetrised.

    The step of parameter ``j`` is `HESSIAN_STEP` times its prior standard deviation (one
    sided, doubled, where a central step would cross a bound). With a model without
    derivatives the gradient is itself a finite difference: the Hessian is then rough.

    Returns
    -------
    ndarray, shape (n_param, n_param)
    """
    prior = problem.prior
    std = np.sqrt(np.diag(prior.scale @ prior.scale.T))
    n = theta.size

    def grad(x):
        return problem.gradient(x, mode=mode) - np.asarray(prior.gradient(x), dtype=float)

    hess = np.empty((n, n))
    g0 = None
    for j in range(n):
        h = HESSIAN_STEP * std[j]
        up, lo = theta.copy(), theta.copy()
        up[j] += h
        lo[j] -= h
        if prior.inside(up) and prior.inside(lo):
            hess[:, j] = (grad(up) - grad(lo)) / (2.0 * h)
            continue
        g0 = grad(theta) if g0 is None else g0
        step = 2.0 * h if prior.inside(theta + 2.0 * h * np.eye(n)[j]) else -2.0 * h
        x = theta.copy()
        x[j] += step
        hess[:, j] = (grad(x) - g0) / step
    return 0.5 * (hess + hess.T)


def resample_noise(problem, streams, truth, seed) -> list:
    """Twin noise from each non-Gaussian stream's likelihood (in place in ``streams``).

    ``streams`` come from `pdaframe.problem.twin.synthetic_streams` (noise from the fixed
    R, each with ``truth_values``); a stream whose likelihood is not a fixed Gaussian gets
    ``truth_values`` plus a draw of its likelihood at the true hyperparameters (bound to
    the true values: a heteroscedastic error scales with them), from
    ``default_rng(SeedSequence([seed, 17, k]))`` for stream ``k``. Fixed Gaussian streams
    keep their values, bit for bit.
    """
    truth = np.asarray(truth, dtype=float)
    for k, (new, gauss, sl) in enumerate(zip(streams, problem._gaussian,
                                             problem._hyper_slices)):
        if gauss:
            continue
        clean = new.truth_values
        lik = stream_likelihood(new).bind(new.with_values(clean))
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 17, k]))
        values = clean.copy()
        values[new.mask] += lik.sample(truth[sl], rng)
        streams[k] = new.with_values(values)
        streams[k].truth_values = clean
    return streams
