"""The layout of a multi-site problem: sites, global parameter and stream names.

* `Site`: one site's model and streams; `as_sites` reads the forms a caller may give.
* `layout`: the global parameter vector (shared, then each site's copies named
  ``<parameter>@<site>``) and where each site's parameters sit in it.
* `site_parameter_name`, `split_parameter_name`, `stream_name`: the global names.
* `SiteBounds`: a site's bounds and step scales without a prior term;
  `marginal_prior`: a prior restricted to some parameters.

`pdaframe.problem.multisite.MultiSiteProblem` evaluates a problem so laid out.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ..errors import ConfigError
from ..prior.priors import GaussianPrior, Prior, UniformPrior

SEP = "@"
"""Separator of a site-specific parameter's name and its site: ``c_woo0@US-Me2``."""

SITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
"""Allowed site names: letters, digits and ``_ . + -`` (they appear in NetCDF names)."""


def site_parameter_name(name: str, site: str) -> str:
    """The global name of the copy of site-specific parameter ``name`` at ``site``."""
    return f"{name}{SEP}{site}"


def split_parameter_name(name: str) -> tuple[str, str]:
    """``(parameter, site)`` of a global name; ``site`` is ``""`` for a shared parameter."""
    base, sep, site = name.rpartition(SEP)
    return (base, site) if sep else (name, "")


def stream_name(stream: str, site: str) -> str:
    """The global name of stream ``stream`` of ``site``: the site name in front."""
    return f"{site}_{stream}"


@dataclass
class Site:
    """One site: a model over its drivers and its observation streams.

    Attributes
    ----------
    name : str
        Site name (letters, digits, ``_ . + -``).
    model : object
        The site's model (``parameter_names``, ``run``; ``tangent``/``adjoint`` optional).
        Its parameter names are the local ones (``c_woo0``, not ``c_woo0@site``).
    streams : list of DataStream
        The site's streams, with local names (``nee``).
    """

    name: str
    model: object
    streams: list = field(default_factory=list)


class SiteBounds(Prior):
    """A site's parameters without a prior term: bounds, transforms and step scales only.

    The site `Problem` gets the global prior's bounds (so ``Problem.cost`` rejects the same
    points) and its marginal standard deviations (finite-difference steps), but its prior
    cost and gradient are zero: the prior term is taken once, globally.

    Parameters
    ----------
    mean, std, lower, upper : array_like, shape (n_param,)
        Background, step scale and bounds of the site's parameters.
    names, transforms : sequence
        Local parameter names and bound transforms.
    """

    def __init__(self, mean, std, lower, upper, names, transforms=None):
        super().__init__(mean, lower, upper, names, transforms)
        self.std = np.asarray(std, dtype=float)

    @property
    def scale(self):
        return np.diag(self.std)

    def cost(self, theta):
        return 0.0

    def gradient(self, theta):
        return np.zeros(self.n)

    def sample(self, n, rng):
        raise NotImplementedError("a site's bounds are not a distribution: sample the "
                                  "MultiSiteProblem's prior")


def as_sites(sites) -> list[Site]:
    """The sites as `Site` objects (own stream lists), from `Site`s, ``(name, model,
    streams)`` tuples or a mapping ``name -> (model, streams)``."""
    if isinstance(sites, Mapping):
        sites = [Site(name, *value) for name, value in sites.items()]
    out = []
    for s in sites:
        if isinstance(s, Site):
            out.append(Site(s.name, s.model, list(s.streams)))
        elif isinstance(s, (tuple, list)) and len(s) == 3:
            out.append(Site(s[0], s[1], list(s[2])))
        else:
            raise ConfigError(f"multi-site problem: a site must be a Site or (name, model, "
                              f"streams), got {s!r}")
    if not out:
        raise ConfigError("multi-site problem: no sites")
    return out


def _check_names(names, what):
    if not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"multi-site problem: {what} must be parameter names, got {names}")
    dup = sorted({n for n in names if list(names).count(n) > 1})
    if dup:
        raise ConfigError(f"multi-site problem: {what} lists {dup} twice")


def layout(sites, shared, site_specific) -> tuple[list[str], list[np.ndarray]]:
    """Global parameter names and, per site, the global index of each local parameter.

    Parameters
    ----------
    sites : sequence of Site
    shared, site_specific : sequence of str
        Local parameter names.

    Returns
    -------
    names : list of str
        ``shared`` then, site by site, the site-specific parameters that the site's model has
        (in the order of ``site_specific``), named ``<parameter>@<site>``.
    index : list of ndarray of int
        ``index[k][j]``: position in ``names`` of parameter ``j`` of site ``k``'s model, so
        ``theta_k = theta[index[k]]``.

    Raises
    ------
    ConfigError
        A bad or duplicate site name, a parameter both shared and site-specific, a model
        parameter that is neither, or a shared parameter no site has.
    """
    shared, site_specific = list(shared), list(site_specific)
    _check_names(shared, "shared")
    _check_names(site_specific, "site_specific")
    both = sorted(set(shared) & set(site_specific))
    if both:
        raise ConfigError(f"multi-site problem: {both} are both shared and site-specific")
    seen = {}
    for k, s in enumerate(sites):
        if not isinstance(s.name, str) or not SITE_NAME.fullmatch(s.name):
            raise ConfigError(f"multi-site problem: site {k} name {s.name!r}: use letters, "
                              f"digits and _ . + - (starting with a letter or digit)")
        if s.name in seen:
            raise ConfigError(f"multi-site problem: two sites are named {s.name!r} "
                              f"(sites {seen[s.name]} and {k})")
        seen[s.name] = k
    names = list(shared)
    local = []
    for s in sites:
        model_names = list(getattr(s.model, "parameter_names", None) or [])
        if not model_names or not callable(getattr(s.model, "run", None)):
            raise ConfigError(f"site {s.name!r}: model {s.model!r} needs parameter_names and "
                              f"a run(theta) method")
        other = [n for n in model_names if n not in shared and n not in site_specific]
        if other:
            raise ConfigError(f"site {s.name!r}: model parameter(s) {other} are neither shared "
                              f"{shared} nor site-specific {site_specific}; fix them in the "
                              f"model (e.g. pdaframe.problem.fixed.FixedParameters)")
        names += [site_parameter_name(n, s.name) for n in site_specific if n in model_names]
        local.append(model_names)
    used = {n for m in local for n in m}
    unused = [n for n in shared if n not in used]
    if unused:
        raise ConfigError(f"multi-site problem: shared parameter(s) {unused} belong to no "
                          f"site's model")
    position = {n: i for i, n in enumerate(names)}
    index = [np.array([position[n] if n in shared else position[site_parameter_name(n, s.name)]
                       for n in m], dtype=np.intp) for s, m in zip(sites, local)]
    return names, index


def marginal_prior(prior: Prior, index) -> Prior:
    """The marginal of ``prior`` over the parameters ``index`` (Gaussian or uniform)."""
    idx = np.asarray(index, dtype=np.intp)
    names = [prior.names[i] for i in idx]
    kinds = [prior.transform.kinds[i] for i in idx]
    if isinstance(prior, GaussianPrior):
        return GaussianPrior(prior.mean[idx], covariance=prior.covariance[np.ix_(idx, idx)],
                             lower=prior.lower[idx], upper=prior.upper[idx], names=names,
                             transforms=kinds)
    if isinstance(prior, UniformPrior):
        return UniformPrior(prior.lower[idx], prior.upper[idx], mean=prior.mean[idx],
                            names=names, transforms=kinds)
    raise ConfigError(f"no marginal of a {type(prior).__name__}: only Gaussian and uniform "
                      f"priors")
