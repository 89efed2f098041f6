"""The pointwise log-likelihood of a sampler's kept draws, for WAIC and PSIS-LOO
(`pdaframe.analysis.model_selection`).

Every MCMC sampler (``adaptive-metropolis``, ``dream-zs``, ``emcee``, ``nuts``, ``hmc``)
ends by computing ``problem.log_likelihood(theta, pointwise=True)`` (normalised, one value
per valid observation) at each kept draw and stores it in its result as
``log_likelihood = {stream: (chain, draw, n_valid)}``, with ``log_likelihood_observed =
{stream: (index of each valid observation in the stream, its value)}``; `write_samples`
puts both in the ArviZ ``log_likelihood`` group of ``samples.nc``.

Why recomputed at the end rather than stored while sampling: the samplers' ask/tell states
evaluate ``J`` only, and their checkpoints hold every kept draw; carrying ``n_obs`` values
per chain state through the executor and into every checkpoint would change what the
states exchange and grow each checkpoint by ``n_chain * n_draw * n_obs`` numbers. The
model is deterministic, so a rerun at a kept draw gives the same values; only *distinct*
consecutive draws are run (a rejected step repeats its predecessor), through the
executor as members (so chains spread over MPI ranks and the values are bit-identical on
any number of ranks). Extra model runs: at most ``n_chain * n_samples`` (the result's
``n_pointwise_runs``; not counted in ``nfev``, which stays the sampler's own cost).

The method option ``pointwise_log_likelihood`` switches it: ``"auto"`` (default) keeps it
when ``n_chain * n_draw * n_obs <= POINTWISE_MAX_VALUES`` (160 MB of float64), ``true``
always, ``false`` never. Problems without ``log_likelihood`` (multi-site, hierarchical)
get none (``true`` is then a `ConfigError`).
"""
from __future__ import annotations

import logging

import numpy as np

from ...errors import ConfigError
from ...parallel import Failed, with_members

log = logging.getLogger(__name__)

#: "auto" keeps the pointwise log-likelihood up to this many values (chain x draw x obs)
POINTWISE_MAX_VALUES = 20_000_000
OPTION = "pointwise_log_likelihood"


class PointwiseLogLikelihood:
    """``problem.log_likelihood(theta, pointwise=True)`` of one draw (what the executor
    runs; holds only the problem, so it pickles)."""

    def __init__(self, problem):
        self.problem = problem

    def __call__(self, theta) -> np.ndarray:
        return np.asarray(self.problem.log_likelihood(np.asarray(theta, dtype=float),
                                                      pointwise=True), dtype=float)


def pointwise_option(value, method) -> bool | str:
    """The option's value checked: ``"auto"``, True or False (else a `ConfigError`)."""
    if value is None or (isinstance(value, str) and value == "auto"):
        return "auto"
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ConfigError(f"method {method!r}: option {OPTION!r} = {value!r}; expected "
                      f"\"auto\", true or false")


def attach_pointwise(result, problem, executor=None, option="auto"):
    """Add the pointwise log-likelihood of ``result``'s draws to it (see the module
    docstring); returns ``result``.

    Parameters
    ----------
    result : SampleResult
        With ``samples`` ``(chain, draw, param)`` and ``seed``.
    problem : Problem
        Its ``log_likelihood(theta, pointwise=True)``.
    executor : object, optional
        Runs the distinct draws as members (`pdaframe.parallel.with_members`).
    option : bool or "auto"
        The method option ``pointwise_log_likelihood``.
    """
    method = str(result.get("method", "mcmc"))
    mode = pointwise_option(option, method)
    if mode is False:
        return result
    if not callable(getattr(problem, "log_likelihood", None)):
        if mode is True:
            raise ConfigError(f"method {method!r}: {OPTION} = true, but a "
                              f"{type(problem).__name__} has no log_likelihood(theta, "
                              f"pointwise=True) (a single-site Problem has)")
        log.info("%s: no pointwise log-likelihood (a %s has no log_likelihood)", method,
                 type(problem).__name__)
        return result
    theta = np.asarray(result["samples"], dtype=float)
    if theta.ndim != 3 or theta.shape[1] == 0:
        return result
    n_chain, n_draw, d = theta.shape
    n_obs = int(problem.n_obs)
    size = n_chain * n_draw * n_obs
    if mode == "auto" and size > POINTWISE_MAX_VALUES:
        log.warning("%s: pointwise log-likelihood not kept: %d chains x %d draws x %d "
                    "observations = %d values > %d (set the method option %s = true to "
                    "keep it anyway)", method, n_chain, n_draw, n_obs, size,
                    POINTWISE_MAX_VALUES, OPTION)
        return result
    new = np.ones((n_chain, n_draw), dtype=bool)       # a draw that differs from the last
    new[:, 1:] = np.any(theta[:, 1:] != theta[:, :-1], axis=2)
    source = np.cumsum(new.reshape(-1)) - 1             # the distinct draw each one repeats
    items = list(theta.reshape(-1, d)[new.reshape(-1)])
    values = with_members(executor, result.get("seed")).map(
        PointwiseLogLikelihood(problem), items)
    failed = [v for v in values if isinstance(v, Failed)]
    if failed:
        log.warning("%s: pointwise log-likelihood not kept: %d of %d reruns at kept draws "
                    "failed (first: %s)", method, len(failed), len(items), failed[0].error)
        return result
    ll = np.asarray(values, dtype=float)[source].reshape(n_chain, n_draw, n_obs)
    per_stream, observed, start = {}, {}, 0
    for s in problem.streams:
        stop = start + s.n_valid
        per_stream[s.name] = ll[..., start:stop]
        observed[s.name] = (np.flatnonzero(s.mask), np.asarray(s.values, float)[s.mask])
        start = stop
    result["log_likelihood"] = per_stream
    result["log_likelihood_observed"] = observed
    result["n_pointwise_runs"] = len(items)
    return result
