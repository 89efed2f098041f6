"""Multi-site problems: one parameter vector, many sites, each with its own drivers and data.

Some parameters are *shared* (one value for all sites: the plant physiology), others are
*site-specific* (one copy per site: initial pools, site factors). The global vector is::

    theta = [shared..., site_1 specifics..., site_2 specifics..., ...]

with the copies named ``<parameter>@<site>`` (``f_auto``, ``c_woo0@US-Me2``; the layout and
the names are in `pdaframe.problem.sites`). One prior covers all of it. The cost is the
prior term plus every site's observation term::

    J(theta) = J_b(theta) + sum_k J_o,k(theta_k),     theta_k = theta[index_k]

and the gradient is the prior gradient plus every site's gradient scattered into the global
vector. Each site is a `pdaframe.Problem` over its own parameters with a prior that adds
nothing (`SiteBounds`: the global bounds and step sizes only), so runs, caching, derivative
modes, finite-difference steps and error checks are Problem's own.

Sites are spread over an executor (`pdaframe.parallel`): ``executor.map`` evaluates each
site's cost, gradient (run + adjoint), Jacobian or equivalents, and the per-site results are
summed in site order after the gather, never by a reduction in arrival order, so the numbers
are bit-identical for any executor and any number of MPI ranks.
"""
from __future__ import annotations

import copy
import dataclasses
import logging
import zlib
from typing import Sequence

import numpy as np

from ..errors import ConfigError, DataError, ModelError, PdaframeError
from ..parallel.base import Failed, SerialExecutor
from ..prior.priors import Prior
from .base import BaseProblem
from .mapping import SiteMap
from .site_errors import site_error, with_site
from .single import Problem
from .sites import SEP, SITE_NAME, site_parameter_name  # noqa: F401  (re-exported)
from .sites import (Site, as_sites, layout, marginal_prior, split_parameter_name,
                    stream_name)
from .twin import synthetic_streams

log = logging.getLogger(__name__)


class MultiSiteProblem(BaseProblem):
    """Cost, gradient and linearisation of one parameter vector over many sites.

    A `pdaframe.problem.base.BaseProblem` like `pdaframe.Problem` (``cost_u``,
    ``gradient_u``, ``space``, ``prior``, ``data_hessian``, ``posterior_covariance``,
    ``n_param``, ``n_obs``, ``parameter_names``), with the same ``cost``, ``gradient``,
    ``jacobian``, ``equivalents``, ``observation_vector``, ``cost_terms``, ``streams`` and
    run counters; ``pdaframe.minimise(problem, "lbfgsb")`` works unchanged.

    Parameters
    ----------
    sites : sequence of Site or of (name, model, streams), or mapping name -> (model, streams)
        The sites, in the order of the global vector. Each model's parameters (local names)
        must each be in ``shared`` or ``site_specific``.
    prior : Prior
        Prior over the global vector (names from `layout`; see `parameter_names`). The
        problem keeps a named copy; ``prior`` itself is not changed.
    shared : sequence of str
        Parameters with one value for all sites.
    site_specific : sequence of str
        Parameters with one copy per site (``<name>@<site>``).
    executor : object, optional
        Evaluates the sites: anything with an ordered ``map(func, items)``
        (`pdaframe.parallel`); default serial. Give an `MPIExecutor` to spread the sites
        over MPI ranks for methods that evaluate one point at a time (the minimisers); keep
        it serial under ensemble methods, whose own executor spreads the members (a
        member's cost must not start a collective ``map``). `pdaframe.run.run_problem`
        chooses accordingly.
    fd_scheme : {"forward", "central"}
        Finite differences of the sites' models without adjoint/tangent (see `Problem`).
    mapping : SiteMap, optional
        The parameter mapping (`pdaframe.problem.mapping`: groups, scalings, fixed per-site
        values, transfer functions, ...) instead of ``shared``/``site_specific``; the prior
        is over ``mapping.names`` and each site's bounds come from the mapping's per-site
        entries. The gradient goes through the mapping's adjoint.

    Attributes
    ----------
    sites : list of Site
        The sites, streams with their local names.
    site_problems : list of Problem
        One per site, over the site's parameters, without a prior term; their streams are
        renamed ``<site>_<stream>`` and carry ``site`` and ``local_name``.
    mapping : SiteMap
        Global vector -> each site's parameters.
    site_index : list of ndarray or None
        Global index of each site's parameters (``theta_k = theta[site_index[k]]``) when
        the mapping is a selection.
    streams : list of DataStream
        All sites' (renamed) streams, site by site.
    nrun, ntangent, nadjoint : int
        Model runs, tangent-linear and adjoint calls over all sites (and all ranks).

    Notes
    -----
    One pass over the sites (one ``executor.map``) evaluates either every site's cost, or
    every site's cost and gradient (run + adjoint). After a gradient has been asked for at
    the point of the last cost, each later cost evaluates the gradient too (a gradient-based
    minimiser wants both), until such a gradient goes unused. The last point's cost and
    gradient are cached, and each site's `Problem` keeps its last run.

    A site whose evaluation fails (a `ModelError` from its run, or a non-finite result)
    makes the whole evaluation fail with a `ModelError` naming the site: a minimiser then
    rejects the trial point. Configuration and data errors keep their type and also name
    the site.

    Examples
    --------
    >>> import numpy as np, pdaframe
    >>> from pdaframe.problem.multisite import MultiSiteProblem, layout, Site
    >>> sites = [Site(s, pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0]], names=["a", "b"]),
    ...               [pdaframe.DataStream("y", "y", [2.0, 0.1 * i], std=0.5)])
    ...          for i, s in enumerate(["x", "z"])]
    >>> names, _ = layout(sites, ["a"], ["b"])
    >>> names
    ['a', 'b@x', 'b@z']
    >>> prior = pdaframe.GaussianPrior([0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0], names=names)
    >>> problem = MultiSiteProblem(sites, prior, ["a"], ["b"])
    >>> res = pdaframe.minimise(problem, "lbfgsb")
    >>> np.round(res.x, 6)
    array([0.964706, 0.888889, 0.844444])
    """

    def __init__(self, sites, prior: Prior, shared: Sequence[str] = (),
                 site_specific: Sequence[str] = (), executor=None, fd_scheme="forward",
                 mapping: SiteMap | None = None):
        sites = as_sites(sites)
        if mapping is None:
            names, index = layout(sites, shared, site_specific)
            mapping = SiteMap.from_index(names, index, [s.name for s in sites])
        else:
            names = mapping.names
            if [s.name for s in sites] != list(mapping.ctx.sites):
                raise ConfigError(f"multi-site problem: the parameter mapping is for sites "
                                  f"{list(mapping.ctx.sites)}, the problem has "
                                  f"{[s.name for s in sites]}")
        self._use_prior(prior, names, f"the sites {len(names)}: {names}",
                        f"the global vector {names}", what="multi-site ")
        prior = self.prior
        self.sites, self.mapping = sites, mapping
        self.shared, self.site_specific = list(shared), list(site_specific)
        self.fd_scheme = fd_scheme
        self._executor = executor
        self.site_problems, self.streams = [], []
        taken = {}
        for k, (s, bounds) in enumerate(zip(sites, mapping.site_bounds(prior, sites))):
            renamed = []
            for st in s.streams:
                new = copy.copy(st)
                new.name = stream_name(st.name, s.name)
                new.site, new.local_name = s.name, st.name
                if new.name in taken:
                    raise DataError(f"site {s.name!r}: stream {st.name!r} is named "
                                    f"{new.name!r} in the results, as is a stream of site "
                                    f"{taken[new.name]!r}; rename one")
                taken[new.name] = s.name
                renamed.append(new)
            with_params = [st.name for st in s.streams
                           if getattr(st.operator, "parameters", None)]
            if with_params:
                raise ConfigError(f"site {s.name!r}: stream(s) {with_params} have an operator "
                                  f"with parameters (bias, SIF a/b, ...); multi-site problems "
                                  f"do not estimate operator parameters yet: fix them in the "
                                  f"operator options (e.g. sif estimate = false), or calibrate "
                                  f"the site alone")
            if not all(getattr(getattr(t, "likelihood", 0), "gaussian", 1) for t in s.streams):
                raise ConfigError(f"site {s.name!r}: multi-site problems take fixed Gaussian "
                                  f"likelihoods only (yet); calibrate the site alone")
            try:
                p = Problem(s.model, bounds, renamed, fd_scheme=fd_scheme)
            except PdaframeError as err:
                raise with_site(err, s.name) from err
            p.site = s.name
            self.site_problems.append(p)
            self.streams += renamed
        self.nrun = self.ntangent = self.nadjoint = 0
        self._cache = {"key": None}
        self._prefetch = None            # derivative mode to evaluate with every cost

    @property
    def site_index(self) -> list[np.ndarray] | None:
        """Global index of each site's parameters when the mapping is a selection
        (``theta_k = theta[site_index[k]]``), else None."""
        return self.mapping.index

    # --- layout ------------------------------------------------------------------------------
    @property
    def site_names(self) -> list[str]:
        return [s.name for s in self.sites]

    @property
    def parameter_sites(self) -> list[str]:
        """Site of each global parameter, ``""`` for those serving several sites."""
        return self.mapping.parameter_sites

    @property
    def parameters(self) -> tuple:
        """`pdaframe.plugin.Parameter` metadata of each global parameter (from the site
        models' parameter tables, renamed; a copy's long name says its site)."""
        if self.mapping.entries:
            return self.mapping.parameters
        out = []
        for name in self.parameter_names:
            base, site = split_parameter_name(name)
            k = self.site_names.index(site) if site else \
                next(k for k, s in enumerate(self.sites) if base in s.model.parameter_names)
            table = {p.name: p for p in getattr(self.sites[k].model, "parameters", ())}
            if base in table:
                p = table[base]
                out.append(dataclasses.replace(p, name=name, long_name=(
                    f"{p.long_name} at site {site}" if site and p.long_name else p.long_name)))
        return tuple(out) if len(out) == self.n_param else ()

    def site(self, name) -> int:
        """Position of site ``name``."""
        try:
            return self.site_names.index(name)
        except ValueError:
            raise ConfigError(f"no site named {name!r}; the sites are {self.site_names}") \
                from None

    def site_theta(self, theta, site) -> np.ndarray:
        """The local parameter vector of ``site`` (name or position) from global ``theta``."""
        k = self.site(site) if isinstance(site, str) else int(site)
        return self.mapping.values(np.asarray(theta, dtype=float))[k]

    # --- executor ----------------------------------------------------------------------------
    @property
    def executor(self):
        if self._executor is None:
            self._executor = SerialExecutor()
        return self._executor

    @executor.setter
    def executor(self, value):
        self._executor = value

    def _evaluate_site(self, item):
        """What one site computes (in the executor): a dict of arrays and its run counts."""
        k, theta, task, mode = item
        p = self.site_problems[k]
        before = (p.nrun, p.ntangent, p.nadjoint)
        try:
            if task == "cost":
                value = {"cost": p.cost(theta)}
            elif task == "gradient":
                value = {"cost": p.cost(theta), "gradient": p.gradient(theta, mode=mode)}
            elif task == "cost_terms":
                terms = p.cost_terms(theta)
                terms.pop("prior")
                value = {"terms": terms}
            elif task == "jacobian":
                value = {"jacobian": p.jacobian(theta, mode=mode)}
            elif task == "data_hessian":
                value = {"hessian": p.data_hessian(theta, mode=mode)}
            elif task == "equivalents":
                value = {"equivalents": p.equivalents(theta)}
            elif task == "observations":
                value = {"observations": p.observation_vector(theta)}
            else:
                raise ValueError(f"unknown site task {task!r}")
        except PdaframeError as err:
            raise with_site(err, self.sites[k].name) from err
        value["counts"] = np.array([p.nrun - before[0], p.ntangent - before[1],
                                    p.nadjoint - before[2]], dtype=np.int64)
        return value

    def _map(self, task, theta, mode=None) -> list[dict]:
        """Evaluate ``task`` at every site through the executor; results in site order."""
        items = [(k, t, task, mode) for k, t in enumerate(self.mapping.values(theta))]
        try:
            results = list(self.executor.map(self._evaluate_site, items))
        except ModelError as err:       # an executor that lets the site's error through
            err.theta = np.array(theta, dtype=float)
            raise
        if len(results) != len(items):
            raise PdaframeError(f"executor returned {len(results)} results for "
                                f"{len(items)} sites")
        failed = None
        for k, r in enumerate(results):
            if isinstance(r, Failed) or not isinstance(r, dict):
                failed = failed or (k, r)
                continue
            c = r["counts"]
            self.nrun += int(c[0])
            self.ntangent += int(c[1])
            self.nadjoint += int(c[2])
            for key in ("cost", "gradient"):
                if key in r and not np.all(np.isfinite(r[key])):
                    failed = failed or (k, Failed(k, "non-finite result"))
        if failed is not None:
            raise site_error(self.sites[failed[0]].name, failed[1], theta)
        return results

    # --- cost and gradient -------------------------------------------------------------------
    def _check(self, theta) -> np.ndarray:
        theta = np.array(theta, dtype=float).reshape(-1)
        if theta.size != self.n_param:
            raise ConfigError(f"theta has {theta.size} values, the multi-site problem "
                              f"{self.n_param} parameters {self.parameter_names}")
        return theta

    def _cached(self, theta, key):
        c = self._cache
        return c.get(key) if c["key"] == theta.tobytes() else None

    def _store(self, theta, **values):
        key = theta.tobytes()
        if self._cache["key"] != key:
            self._cache = {"key": key}
        self._cache.update(values)

    def cost_terms(self, theta) -> dict[str, float]:
        """``{"prior": J_b, "<site>_<stream>": J_o, ...}``; their sum is `cost`."""
        theta = self._check(theta)
        terms = {"prior": self.prior.cost(theta)}
        for r in self._map("cost_terms", theta):
            terms.update(r["terms"])
        return terms

    def cost(self, theta) -> float:
        """``J(theta) = J_b(theta) + sum_k J_o,k(theta_k)``, summed in site order."""
        theta = self._check(theta)
        if not self.prior.inside(theta):
            return np.inf
        cached = self._cached(theta, "cost")
        if cached is not None:
            return cached
        if self._prefetch is not None and self._cache.get("prefetched") and \
                not self._cache.get("used"):
            self._prefetch = None        # the last gradient evaluated ahead was not wanted
        if self._prefetch is not None:
            self._gradient(theta, self._prefetch, prefetched=True)
            return self._cache["cost"]
        total = self.prior.cost(theta)
        for r in self._map("cost", theta):
            total += r["cost"]
        total = float(total)
        self._store(theta, cost=total)
        return total

    def gradient(self, theta, mode=None) -> np.ndarray:
        """``dJ/dtheta``: the prior gradient plus each site's gradient, scattered.

        Parameters
        ----------
        theta : array_like, shape (n_param,)
        mode : {None, "auto", "adjoint", "tangent", "fd"}
            Per site, as in `Problem.gradient`.
        """
        theta = self._check(theta)
        key = f"gradient:{mode or 'auto'}"
        cached = self._cached(theta, key)
        if cached is not None:
            self._cache["used"] = True
            return cached.copy()
        if self._cached(theta, "cost") is not None:
            # the cost alone, then the gradient at the same point (a gradient-based
            # minimiser): from now on evaluate both in one pass over the sites
            self._prefetch = mode
        return self._gradient(theta, mode)

    def _gradient(self, theta, mode, prefetched=False):
        key = f"gradient:{mode or 'auto'}"
        results = self._map("gradient", theta, mode)
        grad = np.array(self.prior.gradient(theta), dtype=float)
        self.mapping.adjoint(theta, [r["gradient"] for r in results], out=grad)
        total = self.prior.cost(theta)
        for r in results:
            total += r["cost"]
        values = {key: grad.copy(), "prefetched": prefetched, "used": not prefetched}
        if self.prior.inside(theta):
            values["cost"] = float(total)
        self._store(theta, **values)
        return grad

    # --- linearisation -----------------------------------------------------------------------
    def equivalents(self, theta) -> dict[str, np.ndarray]:
        """Model equivalents of every site's streams, ``{"<site>_<stream>": values}``."""
        theta = self._check(theta)
        out = {}
        for r in self._map("equivalents", theta):
            out.update(r["equivalents"])
        return out

    def observation_vector(self, theta) -> np.ndarray:
        """Stacked valid model equivalents of all sites, shape ``(n_obs,)``."""
        theta = self._check(theta)
        return np.concatenate([r["observations"] for r in self._map("observations", theta)])

    def jacobian(self, theta, mode=None) -> np.ndarray:
        """``dG/dtheta`` of all sites' valid observations, shape ``(n_obs, n_param)``.

        Site ``k``'s rows are its Jacobian times the mapping's ``d theta_k / d theta``
        (block-sparse for a selection: its columns ``site_index[k]`` only). ``mode`` as in
        `Problem.jacobian`.
        """
        theta = self._check(theta)
        jac = np.zeros((self.n_obs, self.n_param))
        row = 0
        results = self._map("jacobian", theta, mode)
        maps = self._site_maps(theta)
        for k, r in enumerate(results):
            block = r["jacobian"]
            rows = slice(row, row + block.shape[0])
            if self.site_index is not None:
                jac[rows, self.site_index[k]] = block
            else:
                jac[rows] = block @ maps[k]
            row += block.shape[0]
        return jac

    def _site_maps(self, theta):
        """``d theta_k / d theta`` of every site, or None for a selection."""
        return None if self.site_index is not None else self.mapping.site_jacobians(theta)

    def data_hessian(self, theta, jacobian=None, mode=None) -> np.ndarray:
        """Gauss–Newton Hessian of all sites' observation terms (as
        `BaseProblem.data_hessian`; `posterior_covariance` uses it).

        Without ``jacobian`` each site computes its own `Problem.data_hessian` (through the
        executor) and the blocks are added at the site's parameters, so the stacked,
        block-sparse Jacobian of all sites is never formed.
        """
        if jacobian is not None:
            return super().data_hessian(theta, jacobian)
        theta = self._check(theta)
        hess = np.zeros((self.n_param, self.n_param))
        results = self._map("data_hessian", theta, mode)
        maps = self._site_maps(theta)
        for k, r in enumerate(results):
            if self.site_index is not None:
                idx = self.site_index[k]
                hess[np.ix_(idx, idx)] += r["hessian"]
            else:
                hess += maps[k].T @ r["hessian"] @ maps[k]
        return hess

    def select_sites(self, names) -> "MultiSiteProblem":
        """The problem restricted to some sites, under the prior's marginal.

        The sites keep their models and streams; the shared parameters that none of them
        has are left out. For comparing a site alone with the joint estimate.

        Parameters
        ----------
        names : sequence of str
            Site names, in the order wanted.
        """
        if self.mapping.rules:
            raise ConfigError("select_sites: not for a problem with a parameter mapping "
                              "(groups, scalings, transfer functions); build the problem of "
                              "those sites with their own mapping")
        chosen = [self.sites[self.site(n)] for n in names]
        used = {n for s in chosen for n in s.model.parameter_names}
        shared = [n for n in self.shared if n in used]
        new_names, _ = layout(chosen, shared, self.site_specific)
        idx = np.array([self.parameter_names.index(n) for n in new_names], dtype=np.intp)
        return MultiSiteProblem(chosen, marginal_prior(self.prior, idx), shared,
                                self.site_specific, executor=self._executor,
                                fd_scheme=self.fd_scheme)

    # --- twin experiments --------------------------------------------------------------------
    def synthetic(self, truth, seed) -> "MultiSiteProblem":
        """The same problem with synthetic observations from a run of each site at ``truth``.

        Site ``k``'s streams get the noise of `pdaframe.synthetic_streams` with the seed
        ``[seed, crc32(site name)]``: a site's noise does not depend on the other sites or
        on their order.

        Parameters
        ----------
        truth : array_like, shape (n_param,)
            The global true parameter vector.
        seed : int
        """
        truth = self._check(truth)
        sites = []
        for s, theta_k in zip(self.sites, self.mapping.values(truth)):
            try:
                streams = synthetic_streams(s.model, theta_k, s.streams,
                                            [int(seed), zlib.crc32(s.name.encode())])
            except PdaframeError as err:
                raise with_site(err, s.name) from err
            sites.append(Site(s.name, s.model, streams))
        return MultiSiteProblem(sites, self.prior, self.shared, self.site_specific,
                                executor=self._executor, fd_scheme=self.fd_scheme,
                                mapping=self.mapping if self.mapping.rules else None)

    def __repr__(self):
        return (f"MultiSiteProblem({len(self.sites)} sites {self.site_names}, "
                f"{self.n_param} parameters, {self.n_obs} observations)")
