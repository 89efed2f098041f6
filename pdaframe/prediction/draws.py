"""Parameter draws of a result: the posterior (sampler chains, ensemble members or weighted
samples, the Laplace approximation) and the prior.

One place for what `pdaframe.plots.posterior_band` and `pdaframe.prediction` both draw.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..errors import ConfigError


def posterior_draws(result, n_draws, rng):
    """``(thetas, weights)`` of up to ``n_draws`` posterior draws of ``result``, or
    ``(None, None)`` when it has no posterior.

    * a sampler's chains (``kind == "sample"``, ``samples``): ``n_draws`` evenly spaced
      draws over all chains (all of them when there are fewer), weights None (equal);
    * an ensemble (``kind == "ensemble"``): its members (``posterior_ensemble``, else the
      weighted ``samples``) with their ``weights`` when there are at most ``n_draws``,
      else ``n_draws`` of them by systematic resampling (weights None);
    * the Laplace posterior (``posterior_covariance`` with ``posterior_sample``):
      ``n_draws`` Gaussian draws in the bounds transform's space (`Result.posterior_sample`).

    Parameters
    ----------
    result : Result
    n_draws : int
    rng : numpy.random.Generator
        Seeds the resampling and the Laplace draws.
    """
    kind = getattr(result, "kind", None)
    if kind == "sample" and "samples" in result:
        flat = np.asarray(result["samples"], dtype=float)
        flat = flat.reshape(-1, flat.shape[-1])
        return flat[np.unique(np.linspace(0, len(flat) - 1, n_draws).round().astype(int))], \
            None
    members = result.get("posterior_ensemble", result.get("samples")) \
        if kind == "ensemble" else None
    if members is not None:
        members = np.asarray(members, dtype=float)
        w = np.asarray(result.get("weights", np.full(len(members), 1.0 / len(members))),
                       dtype=float)
        if len(members) <= n_draws:
            return members, w
        edges = np.cumsum(w / w.sum())                  # systematic resampling
        pick = np.searchsorted(edges, (rng.random() + np.arange(n_draws)) / n_draws)
        return members[np.minimum(pick, len(members) - 1)], None
    if "posterior_covariance" in result and hasattr(result, "posterior_sample"):
        with warnings.catch_warnings():     # round-off asymmetry: eigh copes, say nothing
            warnings.filterwarnings("ignore", "covariance is not symmetric", RuntimeWarning)
            return result.posterior_sample(n_draws, seed=rng.integers(2 ** 63)), None
    return None, None


def has_posterior(result) -> bool:
    """Whether `posterior_draws` has anything to draw from in ``result``."""
    kind = getattr(result, "kind", None)
    return (kind == "sample" and "samples" in result) or (kind == "ensemble" and (
        "posterior_ensemble" in result or "samples" in result)) or (
        "posterior_covariance" in result and hasattr(result, "posterior_sample"))


def prior_draws(prior, n_draws, rng) -> np.ndarray:
    """``n_draws`` parameter vectors from ``prior`` (its ``sample``), shape ``(n, n_param)``."""
    return np.asarray(prior.sample(int(n_draws), rng), dtype=float)


NO_POSTERIOR = ("has no posterior to draw from (no samples, ensemble or posterior "
                "covariance): ask for the Gauss-Newton covariance at the optimum with the "
                "method option posterior = true (de, ga; the minimisers always give one), "
                "or use a sampler (adaptive-metropolis, dream-zs, emcee) or an ensemble method")


def require_posterior(thetas, what) -> None:
    """A `ConfigError` naming ``what`` (the result) when ``thetas`` is None."""
    if thetas is None:
        raise ConfigError(f"{what} {NO_POSTERIOR}")
