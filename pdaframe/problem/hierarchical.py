"""Hierarchical multi-site parameters (partial pooling): a `Rule` of `pdaframe.problem.mapping`.

Site ``k`` of group ``g`` (a value of a site-table column, or one group for all sites) draws
its parameter ``j`` from the group's distribution in the bounds transform's space
(``phi = T_j(theta)``, `pdaframe.prior.transforms`)::

    phi_kj ~ N(mu_gj, sigma_gj^2),        theta_kj = T_j^-1(phi_kj)

in the *non-centred* form: the estimated entries are the group means ``mu_gj``, the log
spreads ``log_sigma_gj`` and a standard normal ``eta_kj`` per site, and::

    phi_kj = mu_gj + exp(log_sigma_gj) * eta_kj

All of them are unbounded with a plain Gaussian prior (``mu_gj ~ N(T_j(default), mu_std^2)``,
``log_sigma_gj ~ N(log sigma0, log_sigma_std^2)``, ``eta_kj ~ N(0, 1)``), so every method
(4D-Var MAP, Laplace, ensembles, samplers) works unchanged: the hierarchy lives in the
mapping, its tangent and adjoint (hand-written here), not in the prior.

The MAP of the non-centred form
-------------------------------
The posterior density in ``(mu, log_sigma, eta)`` is the centred one in ``(mu, log_sigma,
theta)`` times ``sigma^n`` (``n``: the group's sites; ``d theta = sigma d eta``). The centred
joint mode is degenerate: as ``sigma -> 0`` with every ``phi_k = mu`` its density grows
without bound (``sigma^-n``), so a centred MAP has no spread. The non-centred joint mode is
finite but is *not* that of the marginal posterior of ``sigma`` either: where the gradient in
``log_sigma_gj`` and ``eta`` vanishes, ``log sigma_gj = log sigma0 + log_sigma_std^2 *
sum_k eta_kj^2`` (a test checks it), so a MAP spread is never below ``sigma0`` and grows with
``log_sigma_std``. Samplers give the full posterior of ``(mu, sigma, theta_k)``; for MAP
(+ Laplace) choose ``sigma0`` and ``log_sigma_std`` as a real hyperprior, or fix the spread.

Fixed spread
------------
With ``estimate_spread=False`` there are no ``log_sigma`` entries: ``sigma_gj = sigma0``.
The mapping is then linear in ``(mu, eta)``, so with identity transforms and linear site
models the whole problem is linear-Gaussian: MAP and Laplace are the exact posterior of
``(mu, theta_k)`` (``tests/unit/test_hierarchical.py``).

A group of one site cannot inform a spread: with ``estimate_spread`` it is a `ConfigError`.
`Hierarchical.new_site` draws a new site's parameters from a group (leave-site-out
prediction, `pdaframe.analysis.leave_out`).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..prior.transforms import ParameterTransform
from .mapping import MapContext, Rule, group_parameter_name
from .sites import site_parameter_name


def mean_name(name, column=None, group=None) -> str:
    """Global name of a group mean: ``mu(f_auto)@pft=evergreen`` (``mu(f_auto)``: one group)."""
    base = f"mu({name})"
    return base if column is None else group_parameter_name(base, column, group)


def spread_name(name, column=None, group=None) -> str:
    """Global name of a group log spread: ``log_sigma(f_auto)@pft=evergreen``."""
    base = f"log_sigma({name})"
    return base if column is None else group_parameter_name(base, column, group)


def eta_name(name, site) -> str:
    """Global name of a site's standard normal: ``eta(f_auto)@US-Me2``."""
    return site_parameter_name(f"eta({name})", site)


def _per_output(value, outputs, what) -> np.ndarray:
    """A positive finite option as one value per output (scalar, sequence or mapping)."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(outputs))
        if unknown:
            raise ConfigError(f"[parameters.hierarchical] {what}: {unknown} are not among the "
                              f"hierarchical parameters {list(outputs)}")
        missing = [n for n in outputs if n not in value]
        if missing:
            raise ConfigError(f"[parameters.hierarchical] {what}: no value for {missing}")
        value = [value[n] for n in outputs]
    try:
        arr = np.broadcast_to(np.asarray(value, dtype=float), (len(outputs),)).copy()
    except (TypeError, ValueError):
        raise ConfigError(f"[parameters.hierarchical] {what}: expected a number or one per "
                          f"parameter {list(outputs)}, got {value!r}") from None
    bad = [n for n, v in zip(outputs, arr) if not (np.isfinite(v) and v > 0)]
    if bad:
        raise ConfigError(f"[parameters.hierarchical] {what}: must be positive and finite, "
                          f"got {dict(zip(outputs, arr.tolist()))}")
    return arr


def _bounds(entry) -> tuple[float, float]:
    return float(entry.get("lower", -np.inf)), float(entry.get("upper", np.inf))


def _transform(entry, name) -> ParameterTransform:
    lower, upper = _bounds(entry)
    return ParameterTransform([lower], [upper], [entry.get("transform")], [name])


class Hierarchical(Rule):
    """Site parameters drawn from their group's distribution (module docstring).

    Parameters
    ----------
    ctx : MapContext
    outputs : sequence of str
        The local parameters with a hierarchy.
    column : str, optional
        Site-table column whose values are the groups (``pft``); None: one group.
    mu_std : float, sequence or dict
        Prior standard deviation of each group mean (in ``phi``; prior mean ``T_j`` of the
        group's first site's default).
    sigma0 : float, sequence or dict
        Prior median of each group spread (in ``phi``), or the spread itself when fixed.
    log_sigma_std : float, sequence or dict
        Prior standard deviation of ``log sigma``.
    estimate_spread : bool
        Estimate ``log sigma`` (default), or fix ``sigma = sigma0``.

    Attributes
    ----------
    groups : list of str
        Group labels in order of first appearance (``[""]`` for one group).
    group : ndarray of int
        Each site's group.
    """

    def __init__(self, ctx: MapContext, outputs: Sequence[str], column: str | None = None,
                 mu_std=1.0, sigma0=0.5, log_sigma_std=0.5, estimate_spread=True):
        self.outputs, self.column = list(outputs), column
        self.estimate_spread = bool(estimate_spread)
        what = f"[parameters.hierarchical] {self.outputs}"
        if not self.outputs:
            raise ConfigError(f"{what}: no parameters")
        n_sites, m = len(ctx.sites), len(self.outputs)
        labels = [""] * n_sites if column is None else \
            [str(v) for v in ctx.column(column, f"{what} by {column!r}")]
        self.groups = list(dict.fromkeys(labels))
        self.group = np.array([self.groups.index(v) for v in labels], dtype=np.intp)
        counts = np.bincount(self.group, minlength=len(self.groups))
        if self.estimate_spread and np.any(counts < 2):
            lone = [g for g, c in zip(self.groups, counts) if c < 2]
            where = f"group(s) {column}={lone}" if column else "the one group"
            raise ConfigError(f"{what}: {where} has one site; a spread cannot be estimated "
                              f"from one site (group by another column, or set "
                              f"estimate_spread = false)")
        self.mu_std = _per_output(mu_std, self.outputs, "mu_std")
        self.sigma0 = _per_output(sigma0, self.outputs, "sigma0")
        self.log_sigma_std = _per_output(log_sigma_std, self.outputs, "log_sigma_std")
        # one transform per parameter over the sites (each site's bounds and transform)
        self._columns = []
        for n in self.outputs:
            e = [ctx.entry(k, n) for k in range(n_sites)]
            self._columns.append(ParameterTransform(
                [_bounds(p)[0] for p in e], [_bounds(p)[1] for p in e],
                [p.get("transform") for p in e], [f"{n} at {s}" for s in ctx.sites]))
        first = [labels.index(g) for g in self.groups]
        self._check_group_bounds(ctx, labels)
        ng = len(self.groups)
        self.entries = []
        for j, n in enumerate(self.outputs):
            for g, k in zip(self.groups, first):
                phi0 = self._phi_default(ctx, j, k)
                self.entries.append(self._entry(mean_name(n, column, g), phi0, self.mu_std[j],
                                                f"group mean of {n} in its transform's "
                                                f"space ({self._columns[j].kinds[k]})"))
        if self.estimate_spread:
            for j, n in enumerate(self.outputs):
                for g in self.groups:
                    self.entries.append(self._entry(
                        spread_name(n, column, g), float(np.log(self.sigma0[j])),
                        self.log_sigma_std[j], f"log of the group spread of {n}"))
        for k, s in enumerate(ctx.sites):
            for n in self.outputs:
                self.entries.append(dict(self._entry(eta_name(n, s), 0.0, 1.0,
                                                     f"standard normal of {n} at {s}"), site=s))
        # positions in the rule's slice: mu[g, j], log_sigma[g, j], eta[k, j]
        self._mu = np.array([[j * ng + self.group[k] for j in range(m)]
                             for k in range(n_sites)], dtype=np.intp).reshape(-1, m)
        n_mu = m * ng
        self._ls = (n_mu + self._mu) if self.estimate_spread else None
        start = n_mu * (2 if self.estimate_spread else 1)
        self._eta = start + np.arange(n_sites * m).reshape(n_sites, m)

    @staticmethod
    def _entry(name, mean, std, long_name) -> dict:
        return {"name": name, "mean": mean, "std": float(std), "lower": -np.inf,
                "upper": np.inf, "transform": "identity", "units": "1", "long_name": long_name}

    def _key(self, j, k) -> tuple:
        """Bounds and transform of parameter ``j`` at site ``k``."""
        t = self._columns[j]
        return float(t.lower[k]), float(t.upper[k]), t.kinds[k]

    def _phi_default(self, ctx, j, k) -> float:
        """``T_j`` of site ``k``'s default, or a `ConfigError` if not inside the bounds."""
        n = self.outputs[j]
        mean = float(ctx.entry(k, n)["mean"])
        lower, upper, kind = self._key(j, k)
        with np.errstate(divide="ignore", invalid="ignore"):
            phi = float(_transform(ctx.entry(k, n), n).to_phi([mean])[0])
        if not np.isfinite(phi):
            raise ConfigError(f"[parameters.hierarchical] {n!r}: the default {mean} at site "
                              f"{ctx.sites[k]!r} is not strictly inside its bounds ({lower}, "
                              f"{upper}); its {kind} transform has no value there")
        return phi

    def _check_group_bounds(self, ctx, labels) -> None:
        """A group mean is one number in one ``phi`` space: every site of a group needs the
        same bounds and transform for each parameter."""
        seen = {}
        for k, g in enumerate(labels):
            for j, n in enumerate(self.outputs):
                key = self._key(j, k)
                if seen.setdefault((g, n), (ctx.sites[k], key))[1] != key:
                    other, okey = seen[(g, n)]
                    raise ConfigError(f"[parameters.hierarchical] {n!r}: sites {other!r} and "
                                      f"{ctx.sites[k]!r} of group {g or 'all'!r} have other "
                                      f"bounds/transforms {okey} and {key}; a group mean needs "
                                      f"one transform")

    # --- the map -------------------------------------------------------------------------
    def sigma(self, x) -> np.ndarray:
        """Each site's spreads ``(n_sites, n_outputs)`` at the rule's slice ``x``."""
        if self._ls is None:
            return np.broadcast_to(self.sigma0, self._mu.shape)
        return np.exp(np.asarray(x, dtype=float)[self._ls])

    def phi(self, x) -> np.ndarray:
        """Each site's ``phi = mu + sigma * eta``, ``(n_sites, n_outputs)``."""
        x = np.asarray(x, dtype=float)
        return x[self._mu] + self.sigma(x) * x[self._eta]

    def _slopes(self, phi) -> np.ndarray:
        return np.column_stack([t.dtheta_dphi(phi[:, j]) for j, t in enumerate(self._columns)])

    def values(self, x):
        phi = self.phi(x)
        return np.column_stack([t.to_theta(phi[:, j]) for j, t in enumerate(self._columns)])

    def tangent(self, x, dx):
        x, dx = np.asarray(x, dtype=float), np.asarray(dx, dtype=float)
        sigma = self.sigma(x)
        dphi = dx[self._mu] + sigma * dx[self._eta]
        if self._ls is not None:
            dphi = dphi + sigma * x[self._eta] * dx[self._ls]
        return self._slopes(self.phi(x)) * dphi

    def adjoint(self, x, g, out):
        x = np.asarray(x, dtype=float)
        sigma = self.sigma(x)
        gphi = self._slopes(self.phi(x)) * np.asarray(g, dtype=float)
        for k in range(gphi.shape[0]):
            out[self._mu[k]] += gphi[k]
            out[self._eta[k]] += sigma[k] * gphi[k]
            if self._ls is not None:
                out[self._ls[k]] += sigma[k] * x[self._eta[k]] * gphi[k]

    # --- groups and new sites ------------------------------------------------------------
    def hyper(self, x) -> dict:
        """``{group: {"mu": (n_outputs,), "sigma": (n_outputs,)}}`` at the rule's slice."""
        x = np.asarray(x, dtype=float)
        ng, m = len(self.groups), len(self.outputs)
        mu = x[:ng * m].reshape(m, ng).T
        sigma = np.broadcast_to(self.sigma0, (ng, m)) if self._ls is None else \
            np.exp(x[ng * m:2 * ng * m].reshape(m, ng).T)
        return {g: {"mu": mu[i].copy(), "sigma": np.array(sigma[i])}
                for i, g in enumerate(self.groups)}

    def new_site(self, x, group, eta, entries) -> np.ndarray:
        """A new site's parameters ``T^-1(mu_g + sigma_g * eta)`` (its posterior predictive
        draw when ``x`` is a posterior draw and ``eta ~ N(0, 1)``).

        Parameters
        ----------
        x : array_like
            The rule's slice of a global vector.
        group : str
            The new site's value of the group column (ignored for one group).
        eta : array_like, shape (n_outputs,)
        entries : dict
            The new site's parameter entries (local name -> ``lower``, ``upper``,
            ``transform``): its transforms, which must be the group's.
        """
        label = "" if self.column is None else str(group)
        if label not in self.groups:
            raise ConfigError(f"[parameters.hierarchical] {self.outputs}: a new site of group "
                              f"{self.column}={label!r}, which has no calibration site (groups "
                              f"{self.groups})")
        h = self.hyper(x)[label]
        phi = h["mu"] + h["sigma"] * np.asarray(eta, dtype=float)
        k = int(np.flatnonzero(self.group == self.groups.index(label))[0])
        out = np.empty(len(self.outputs))
        for j, n in enumerate(self.outputs):
            t = _transform(entries[n], n)
            if (float(t.lower[0]), float(t.upper[0]), t.kinds[0]) != self._key(j, k):
                raise ConfigError(f"[parameters.hierarchical] {n!r}: the new site's bounds/"
                                  f"transform {(float(t.lower[0]), float(t.upper[0]), t.kinds[0])}"
                                  f" differ from its group's {self._key(j, k)}")
            out[j] = t.to_theta(phi[j:j + 1])[0]
        return out
