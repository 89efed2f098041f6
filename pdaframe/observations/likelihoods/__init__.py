"""Observation likelihoods per stream, with estimated error hyperparameters.

A stream's ``likelihood`` (config: ``likelihood = "..."`` and ``likelihood_options = {...}``
in ``[[streams]]``; Python: ``stream.likelihood = make_likelihood(...)``) says how its
residuals are distributed: `LIKELIHOODS` maps the registered names to their classes
(`Gaussian` is the default and today's cost). Each is a `Likelihood`: ``parameters`` (the
estimated hyperparameters, joined to theta as ``"<stream>:<name>"`` after the operator
parameters), ``gaussian`` (a fixed Gaussian: what ensemble methods assume), ``bind(stream)``,
``cost(r, h)``, ``cost_gradient(r, h)``, ``log_density(r, h)`` and ``sample(h, rng)``.
Register another with `register`.
"""
from __future__ import annotations

from ...errors import ConfigError
from .base import HALF_LOG_2PI, Hyper, Likelihood, gaussian_log_density
from .gaussian import AR1, Gaussian, regular_steps
from .independent import Heteroscedastic, Laplace, StudentT
from ..discrepancy import DiscrepancyLikelihood

__all__ = ["AR1", "Gaussian", "HALF_LOG_2PI", "Heteroscedastic", "Hyper", "LIKELIHOODS",
           "Laplace", "Likelihood", "StudentT", "gaussian_log_density", "make_likelihood",
           "register", "regular_steps", "stream_likelihood"]

#: registered likelihoods: name -> class (or factory taking the options as keywords)
LIKELIHOODS = {cls.name: cls for cls in (Gaussian, StudentT, Laplace, AR1, Heteroscedastic,
                                          DiscrepancyLikelihood)}


def register(name, factory):
    """Register a likelihood ``factory(estimate=(), priors=None, what="", **options)``."""
    LIKELIHOODS[name] = factory


def make_likelihood(name="gaussian", options=None, what="likelihood") -> Likelihood:
    """The registered likelihood ``name`` with ``options`` (fixed values, ``estimate`` and
    ``priors``).

    Raises
    ------
    ConfigError
        An unknown name (the known ones listed), an option it does not take, a value out
        of range, an estimated hyperparameter without a prior where none is the default.
    """
    if name not in LIKELIHOODS:
        raise ConfigError(f"{what}: unknown likelihood {name!r}; known: "
                          f"{', '.join(sorted(LIKELIHOODS))}")
    options = dict(options or {})
    if not isinstance(options.get("estimate", []), (list, tuple)):
        raise ConfigError(f"{what}: 'estimate' must be a list of names, got "
                          f"{options['estimate']!r}")
    return LIKELIHOODS[name](what=what, **options)


def stream_likelihood(stream) -> Likelihood:
    """The (unbound) likelihood of ``stream``: its ``likelihood`` attribute, else `Gaussian`."""
    lik = getattr(stream, "likelihood", None)
    return Gaussian(what=f"stream {stream.name!r}") if lik is None else lik
