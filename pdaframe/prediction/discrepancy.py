"""Structural error kept apart: model, discrepancy and observation error at the observed times.

For a stream with a model discrepancy (``likelihood = "discrepancy"``,
`pdaframe.observations.discrepancy`) the observations are ``y = h(M(theta)) + delta + eps``.
`decompose` gives, per such stream and at its observation times, the three parts:

* **process** (the model): ``h(M(theta))`` at the estimate, or the mean over posterior draws
  of theta with their spread (``model_std``, parameter uncertainty);
* **discrepancy**: the posterior of ``delta`` given the residuals, ``E[delta | y] = K S^-1
  (y - h)`` and ``Var = diag(K - K S^-1 K)`` (O(n), tridiagonal algebra), with draws combined
  by the law of total variance (mean of the variances plus variance of the means);
* **observation error**: the stream's std divided by ``sqrt(weight)``;

and ``signal_std``, the spread of their sum ``h + delta`` (the true signal), by the law of
total variance over the draws: ``E[Var(delta | theta)] + Var(h(theta) + E[delta | theta])``.
It is not the root of the sum of the squares of ``model_std`` and ``discrepancy_std``: the
two parts trade off (a parameter that shifts the model level is compensated by the
discrepancy's mean), so their spreads overlap. ``predictive_std`` adds the observation
error: the spread of a new observation at that time. ``pdaframe run`` writes the parts at the estimate into
``result.nc`` (`pdaframe.io.netcdf`: ``<s>_discrepancy``, ``<s>_discrepancy_std``,
``<s>_predictive_std``).
"""
from __future__ import annotations

import numpy as np

PARTS = ("model", "model_std", "discrepancy", "discrepancy_std", "signal_std",
         "observation_std", "predictive_std")


def discrepancy_streams(problem) -> list[int]:
    """Indices of the problem's streams whose likelihood has a discrepancy (a
    ``posterior(r, h)`` method); ``[]`` for a problem without likelihoods."""
    liks = getattr(problem, "likelihoods", None) or []
    return [i for i, lik in enumerate(liks) if callable(getattr(lik, "posterior", None))]


def decompose(problem, theta, draws=None, weights=None) -> dict:
    """Process, discrepancy and observation error of each discrepancy stream.

    Parameters
    ----------
    problem : Problem
    theta : array_like, shape (n_param,)
        The estimate (used when ``draws`` is None).
    draws : array_like, shape (n_draws, n_param), optional
        Posterior draws of theta (`pdaframe.prediction.draws.posterior_draws`); each is one
        model run.
    weights : array_like, shape (n_draws,), optional
        Weights of the draws (default equal).

    Returns
    -------
    dict
        ``{stream name: {part: (n_obs,) array}}`` for ``part`` in `PARTS`, on all of the
        stream's observations (NaN where a value is missing); ``{}`` without discrepancy
        streams.
    """
    which = discrepancy_streams(problem)
    if not which:
        return {}
    thetas = np.atleast_2d(np.asarray(theta if draws is None else draws, dtype=float))
    w = np.full(len(thetas), 1.0 / len(thetas)) if weights is None else \
        np.asarray(weights, dtype=float) / np.sum(weights)
    per = {i: {"model": [], "mean": [], "var": []} for i in which}
    for th in thetas:
        eqs = problem.equivalents(th)
        for i in which:
            s, lik = problem.streams[i], problem.likelihoods[i]
            eq = np.asarray(eqs[s.name], dtype=float).reshape(-1)
            hyper = th[problem._hyper_slices[i]]        # the stream's hyperparameters
            mean, sd = lik.posterior(s.residual(eq), hyper)
            per[i]["model"].append(eq[s.mask])
            per[i]["mean"].append(mean)
            per[i]["var"].append(sd * sd)
    out = {}
    for i in which:
        s, p = problem.streams[i], per[i]
        model, mean = (w @ np.array(p[k]) for k in ("model", "mean"))
        runs, means = np.array(p["model"]), np.array(p["mean"])
        within = w @ np.array(p["var"])                   # E[Var(delta | theta)]
        model_var = w @ (runs - model) ** 2
        disc_var = within + w @ (means - mean) ** 2
        signal_var = within + w @ (runs + means - model - mean) ** 2
        obs_std = np.asarray(s.error.std, dtype=float) / np.sqrt(s.weight)
        valid = {"model": model, "model_std": np.sqrt(model_var), "discrepancy": mean,
                 "discrepancy_std": np.sqrt(disc_var), "signal_std": np.sqrt(signal_var),
                 "observation_std": obs_std,
                 "predictive_std": np.sqrt(signal_var + obs_std ** 2)}
        out[s.name] = {k: _on_all(s, v) for k, v in valid.items()}
    return out


def _on_all(stream, valid) -> np.ndarray:
    """Values at the valid observations placed on all of them, NaN where missing."""
    full = np.full(stream.values.size, np.nan)
    full[stream.mask] = valid
    return full
