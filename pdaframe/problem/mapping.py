"""Parameter mapping of a multi-site problem: the estimated vector to each site's parameters.

The estimated (global) vector ``x`` is not always a stack of site parameters. A `SiteMap`
gives every site ``k`` its local parameter vector ``theta_k = M_k(x)`` through *rules*, one
rule per set of local parameters:

========================  =============================================  ====================
rule                      ``theta_k[j]``                                 global names
========================  =============================================  ====================
`Shared`                  ``x[i_j]`` at every site                       ``f_auto``
`PerSite`                 ``x[i_jk]``, one copy per site                 ``c_woo0@US-Me2``
`Grouped`                 ``x[i_jg]``, one copy per value ``g`` of a     ``f_auto@pft=evergreen``
                          site-table column (``pft``, ``soil``, ...)
`Scaled`                  ``x[i_j(g)] * default_jk`` (a factor on each   ``scale(theta_som)``,
                          site's own default; one factor, or one per     ``scale(theta_som)@pft=
                          group)                                         evergreen``
`Fixed`                   ``default_jk`` (each site's own value)         none
========================  =============================================  ====================

Rules with further forms (transfer functions of site attributes, hierarchical site draws)
follow the same small protocol (`Rule`): the global entries they own (with prior mean, spread,
bounds and transform), ``values`` (all sites at once), and the tangent ``dtheta = M'(x) dx``
and adjoint ``dx = M'(x)^T g`` that carry a multi-site gradient through the mapping, so
4D-Var (adjoint), tangent-linear and Jacobian-based methods, ensembles and samplers all work
through any rule. A mapping made only of index rules (`Shared`, `PerSite`, `Grouped`) is a
selection: `SiteMap.index` then gives the global position of each site's parameters.

The per-site parameter tables (`MapContext.parameters`) give each site's defaults, bounds and
step scales: a site's model always gets values inside its own bounds (`SiteBounds`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..interfaces import Parameter
from .sites import SiteBounds, site_parameter_name, split_parameter_name

#: Keys of a global entry besides ``name`` that a prior reads.
ENTRY_KEYS = ("mean", "std", "lower", "upper", "transform")


def group_parameter_name(name: str, column: str, value) -> str:
    """The global name of the copy of ``name`` for the sites whose ``column`` is ``value``."""
    return site_parameter_name(name, f"{column}={value}")


def scale_parameter_name(name: str) -> str:
    """The global name of the scaling factor of ``name``."""
    return f"scale({name})"


@dataclass
class MapContext:
    """What the rules of a `SiteMap` read.

    Attributes
    ----------
    sites : list of str
        Site names, in the problem's order.
    parameters : list of dict
        Per site, local parameter name -> entry (``mean``, ``std``, ``lower``, ``upper``,
        optional ``transform``, ``units``, ``long_name``): the site's defaults and bounds.
    table : SiteTable, optional
        The site attribute table (`pdaframe.sites.read_site_table`), its rows reordered or
        not: rules look sites up by name.
    """

    sites: list
    parameters: list
    table: object = None

    def column(self, name, what) -> np.ndarray:
        """Column ``name`` of the site table, one value per site of `sites`."""
        if self.table is None:
            raise ConfigError(f"{what}: needs a site attribute table (column {name!r}); give "
                              f"one ([parameters] site_table = \"sites.csv\")")
        try:
            values = self.table.column(name)
        except Exception as err:       # DataError naming the table and its columns
            raise ConfigError(f"{what}: {err}") from None
        row = {s: i for i, s in enumerate(self.table.sites)}
        missing = [s for s in self.sites if s not in row]
        if missing:
            raise ConfigError(f"{what}: site(s) {missing} are not in the site table "
                              f"{self.table.source}")
        return np.asarray(values)[[row[s] for s in self.sites]]

    def entry(self, k, name) -> dict:
        """Site ``k``'s entry of local parameter ``name``."""
        return self.parameters[k][name]

    def defaults(self, name) -> np.ndarray:
        """Every site's default (``mean``) of local parameter ``name``."""
        return np.array([float(p[name]["mean"]) for p in self.parameters])


class Rule:
    """How some local parameters of every site come from some global entries.

    Subclasses set ``outputs`` (the local parameter names they give, at every site) and
    ``entries`` (one dict per global entry they estimate: ``name`` plus `ENTRY_KEYS`,
    optional ``units``, ``long_name`` and ``site`` — the one site it belongs to, if any),
    and define `values`, `tangent` and `adjoint`. ``x`` is always the rule's own slice of
    the global vector (physical values, inside the entries' bounds).
    """

    outputs: list
    entries: list
    #: ``index[k, j]``: position in the rule's entries of ``theta_k[output j]`` when the rule
    #: is a selection (``theta_k = x[index[k]]``), else None.
    index = None

    def values(self, x) -> np.ndarray:
        """Local values, shape ``(n_sites, n_outputs)``."""
        return np.asarray(x, dtype=float)[self.index]

    def tangent(self, x, dx) -> np.ndarray:
        """``d values`` for a change ``dx`` of the rule's entries, ``(n_sites, n_outputs)``."""
        return np.asarray(dx, dtype=float)[self.index]

    def adjoint(self, x, g, out) -> None:
        """Add ``(d values / d x)^T g`` to ``out`` (the rule's slice of the gradient).

        ``g`` has shape ``(n_sites, n_outputs)``; sites are added one after the other in site
        order (so a sum over sites does not depend on how they were evaluated).
        """
        for k in range(g.shape[0]):
            out[self.index[k]] += g[k]


def _entry(ctx, param, k, **changes) -> dict:
    """Site ``k``'s entry of local ``param`` as a global entry, with ``changes``."""
    e = ctx.entry(k, param)
    out = {key: e[key] for key in ENTRY_KEYS + ("units", "long_name") if key in e}
    out.update(changes)
    return out


class Shared(Rule):
    """One value of each parameter for all sites (entries from the first site's table)."""

    def __init__(self, ctx: MapContext, outputs: Sequence[str]):
        self.outputs = list(outputs)
        self.entries = [_entry(ctx, n, 0, name=n) for n in self.outputs]
        self.index = np.tile(np.arange(len(self.outputs)), (len(ctx.sites), 1))


class PerSite(Rule):
    """One copy of each parameter per site, ``<name>@<site>``, site by site."""

    def __init__(self, ctx: MapContext, outputs: Sequence[str]):
        self.outputs = list(outputs)
        m = len(self.outputs)
        self.entries = [_entry(ctx, n, k, name=site_parameter_name(n, s), site=s)
                        for k, s in enumerate(ctx.sites) for n in self.outputs]
        self.index = np.arange(len(ctx.sites) * m).reshape(len(ctx.sites), m)


class Grouped(Rule):
    """One copy of each parameter per value of a site-table column (``pft``, ``soil``...).

    A group's entry (prior) is that of its first site. Groups are in order of first
    appearance among the sites; names ``<name>@<column>=<value>``.
    """

    def __init__(self, ctx: MapContext, outputs: Sequence[str], column: str):
        self.outputs, self.column = list(outputs), column
        what = f"[parameters] groups: {self.outputs} by {column!r}"
        labels = [str(v) for v in ctx.column(column, what)]
        self.groups = list(dict.fromkeys(labels))
        first = [labels.index(g) for g in self.groups]
        m = len(self.outputs)
        self.entries = [_entry(ctx, n, k, name=group_parameter_name(n, column, g))
                        for n in self.outputs for g, k in zip(self.groups, first)]
        group = np.array([self.groups.index(v) for v in labels])
        ng = len(self.groups)
        self.index = np.array([[j * ng + group[k] for j in range(m)]
                               for k in range(len(ctx.sites))], dtype=np.intp).reshape(-1, m)


class Scaled(Rule):
    """A factor on each site's own default: ``theta_k = s * default_k``.

    One factor per parameter (``scale(<name>)``), or with ``column`` one per group
    (``scale(<name>)@<column>=<value>``). Factors have prior mean 1, standard deviation
    ``std`` and bounds ``(lower, upper)`` (default 0 and infinity: a log transform); a
    site value outside the model's bounds makes that site's cost infinite (a minimiser
    rejects the point), so keep the factors' bounds within what the defaults allow.
    """

    def __init__(self, ctx: MapContext, outputs: Sequence[str], column: str | None = None,
                 std=0.25, lower=0.0, upper=np.inf):
        self.outputs = list(outputs)
        n_sites, m = len(ctx.sites), len(self.outputs)
        if column is None:
            labels, self.groups = [""] * n_sites, [""]
        else:
            labels = [str(v) for v in ctx.column(column, f"[parameters] scaled: "
                                                        f"{self.outputs} by {column!r}")]
            self.groups = list(dict.fromkeys(labels))
        if not (np.isfinite(std) and std > 0 and lower < 1.0 < upper):
            raise ConfigError(f"[parameters] scaled {self.outputs}: need std > 0 and lower < "
                              f"1 < upper, got std={std}, lower={lower}, upper={upper}")
        self.defaults = np.column_stack([ctx.defaults(n) for n in self.outputs])
        zero = [n for j, n in enumerate(self.outputs) if np.any(self.defaults[:, j] == 0)]
        if zero:
            raise ConfigError(f"[parameters] scaled: parameter(s) {zero} have a default of 0 "
                              f"at some site; a scaling factor cannot move them")

        def name(n, g):
            base = scale_parameter_name(n)
            return base if column is None else site_parameter_name(base, f"{column}={g}")
        self.entries = [{"name": name(n, g), "mean": 1.0, "std": float(std),
                         "lower": float(lower), "upper": float(upper),
                         "units": "1", "long_name": f"scaling factor of {n}"}
                        for n in self.outputs for g in self.groups]
        group = np.array([self.groups.index(v) for v in labels])
        ng = len(self.groups)
        self.factor = np.array([[j * ng + group[k] for j in range(m)] for k in range(n_sites)],
                               dtype=np.intp).reshape(-1, m)

    def values(self, x):
        return np.asarray(x, dtype=float)[self.factor] * self.defaults

    def tangent(self, x, dx):
        return np.asarray(dx, dtype=float)[self.factor] * self.defaults

    def adjoint(self, x, g, out):
        for k in range(g.shape[0]):
            out[self.factor[k]] += g[k] * self.defaults[k]


class Fixed(Rule):
    """Each site's own value of each parameter, not estimated."""

    def __init__(self, ctx: MapContext, outputs: Sequence[str]):
        self.outputs, self.entries = list(outputs), []
        self.defaults = np.column_stack([ctx.defaults(n) for n in self.outputs])

    def values(self, x):
        return self.defaults.copy()

    def tangent(self, x, dx):
        return np.zeros_like(self.defaults)

    def adjoint(self, x, g, out):
        pass


class SiteMap:
    """The estimated vector -> every site's local parameters, through `Rule`s.

    Parameters
    ----------
    ctx : MapContext
    local : sequence of str
        The models' parameter names (the same at every site), in the models' order.
    rules : sequence of Rule
        Each local parameter must be the output of exactly one rule. The global vector is
        the rules' entries in rule order.

    Attributes
    ----------
    names : list of str
        Global parameter names.
    entries : list of dict
        One per global parameter (prior mean, std, bounds, transform, units, long name).
    index : list of ndarray or None
        For a selection (index rules only): ``theta_k = x[index[k]]``.
    """

    @classmethod
    def from_index(cls, names, index, sites) -> "SiteMap":
        """A selection map ``theta_k = x[index[k]]`` (sites may have different models:
        `pdaframe.problem.sites.layout`); it has no rules and no entries."""
        self = cls.__new__(cls)
        self.ctx = MapContext(list(sites), [])
        self.local, self.rules, self.entries = None, [], []
        self.names, self.index = list(names), [np.asarray(i, dtype=np.intp) for i in index]
        return self

    def __init__(self, ctx: MapContext, local: Sequence[str], rules: Sequence[Rule]):
        self.ctx, self.local, self.rules = ctx, list(local), list(rules)
        owner = {}
        for r in self.rules:
            for n in r.outputs:
                if n not in self.local:
                    raise ConfigError(f"parameter mapping: {n!r} is not a model parameter; "
                                      f"the model has {self.local}")
                if n in owner:
                    raise ConfigError(f"parameter mapping: {n!r} is set by two rules "
                                      f"({type(owner[n]).__name__} and {type(r).__name__})")
                owner[n] = r
        missing = [n for n in self.local if n not in owner]
        if missing:
            raise ConfigError(f"parameter mapping: model parameter(s) {missing} are set by no "
                              f"rule (estimate them, or fix them)")
        self.entries = [e for r in self.rules for e in r.entries]
        self.names = [e["name"] for e in self.entries]
        dup = sorted({n for n in self.names if self.names.count(n) > 1})
        if dup:
            raise ConfigError(f"parameter mapping: global name(s) {dup} appear twice")
        bounds = np.cumsum([0] + [len(r.entries) for r in self.rules])
        self._slices = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
        self._columns = [np.array([self.local.index(n) for n in r.outputs], dtype=np.intp)
                         for r in self.rules]
        self.index = None
        if all(r.index is not None and type(r).values is Rule.values for r in self.rules):
            idx = np.empty((len(ctx.sites), len(self.local)), dtype=np.intp)
            for r, sl, cols in zip(self.rules, self._slices, self._columns):
                idx[:, cols] = r.index + sl.start
            self.index = list(idx)

    @property
    def n_sites(self) -> int:
        return len(self.ctx.sites)

    @property
    def n_param(self) -> int:
        return len(self.names)

    @property
    def parameter_sites(self) -> list[str]:
        """The site each global parameter belongs to, ``""`` when it serves several."""
        if not self.entries:            # a bare selection: the name says it
            return [split_parameter_name(n)[1] for n in self.names]
        return [e.get("site", "") for e in self.entries]

    @property
    def parameters(self) -> tuple:
        """`pdaframe.plugin.Parameter` metadata of each global parameter (from `entries`)."""
        return tuple(Parameter(e["name"], float(e["mean"]), float(e.get("lower", -np.inf)),
                               float(e.get("upper", np.inf)), float(e["std"]),
                               e.get("units", "1"), e.get("long_name", ""))
                     for e in self.entries)

    def _apply(self, method, *args) -> np.ndarray:
        out = np.empty((self.n_sites, len(self.local)))
        for r, sl, cols in zip(self.rules, self._slices, self._columns):
            out[:, cols] = getattr(r, method)(*(a[sl] for a in args))
        return out

    def values(self, x) -> list[np.ndarray]:
        """Every site's local parameter vector at global ``x``."""
        x = np.asarray(x, dtype=float)
        if self.index is not None:
            return [x[i] for i in self.index]
        return list(self._apply("values", x))

    def tangent(self, x, dx) -> list[np.ndarray]:
        """Every site's ``dtheta_k`` for a change ``dx`` of the global vector."""
        return list(self._apply("tangent", np.asarray(x, dtype=float),
                                np.asarray(dx, dtype=float)))

    def adjoint(self, x, grads, out=None) -> np.ndarray:
        """``sum_k M_k'(x)^T grads[k]`` added to ``out`` (zeros if None), site by site."""
        x = np.asarray(x, dtype=float)
        out = np.zeros(self.n_param) if out is None else out
        if self.index is not None:
            for i, g in zip(self.index, grads):
                out[i] += g
            return out
        g = np.asarray(grads, dtype=float).reshape(self.n_sites, len(self.local))
        for r, sl, cols in zip(self.rules, self._slices, self._columns):
            part = out[sl]
            r.adjoint(x[sl], g[:, cols], part)
            out[sl] = part
        return out

    def site_jacobians(self, x) -> list[np.ndarray]:
        """Every site's ``d theta_k / d x``, each ``(n_local_k, n_param)`` (from tangents)."""
        x = np.asarray(x, dtype=float)
        if self.index is not None:
            out = []
            for i in self.index:
                jac = np.zeros((len(i), self.n_param))
                jac[np.arange(len(i)), i] = 1.0
                out.append(jac)
            return out
        jac = np.zeros((self.n_sites, len(self.local), self.n_param))
        for r, sl, cols in zip(self.rules, self._slices, self._columns):
            for i in range(sl.start, sl.stop):
                e = np.zeros(sl.stop - sl.start)
                e[i - sl.start] = 1.0
                jac[:, cols, i] = r.tangent(x[sl], e)
        return list(jac)

    def site_bounds(self, prior, sites) -> list[SiteBounds]:
        """Each site's bounds and step scales (`SiteBounds`): from the per-site entries, or,
        for a bare selection, from ``prior`` at the site's parameters."""
        out = []
        if self.rules:
            for k, s in enumerate(sites):
                e = [self.ctx.entry(k, n) for n in self.local]
                out.append(SiteBounds([p["mean"] for p in e], [p["std"] for p in e],
                                      [p.get("lower", -np.inf) for p in e],
                                      [p.get("upper", np.inf) for p in e],
                                      names=list(s.model.parameter_names),
                                      transforms=[p.get("transform") for p in e]))
            return out
        std = np.sqrt(np.diag(prior.scale @ prior.scale.T))
        kinds = prior.transform.kinds
        for s, idx in zip(sites, self.index):
            out.append(SiteBounds(prior.mean[idx], std[idx], prior.lower[idx], prior.upper[idx],
                                  names=list(s.model.parameter_names),
                                  transforms=[kinds[i] for i in idx]))
        return out
