"""`Result`: what every method returns (a dict with attribute access), and its kinds.

A method returns one of four kinds, subclasses of `Result` (so every key and attribute
access works on each), which the writers and ``pdaframe run`` dispatch on (``isinstance``
or the ``kind`` class attribute), never on the keys present:

* `OptimisationResult` (``kind = "optimisation"``): a point estimate, scipy-like
  (``lbfgsb``, ``lbfgsb-fd``, ``nelder-mead``, ``de``, ``ga``, ``stepwise``);
* `SampleResult` (``"sample"``): MCMC draws with R-hat and ESS (``adaptive-metropolis``,
  ``dream-zs``, ``emcee``, ``ces``); `SampleResult.to_inference_data` gives ArviZ's
  ``InferenceData``;
* `EnsembleResult` (``"ensemble"``): a member ensemble or a weighted sample (``4denvar``,
  ``es-mda``, ``enkf``, ``particle-filter``, ``importance``, ``glue``);
* `AnalysisResult` (``"analysis"``): no point estimate (sensitivity analysis:
  `pdaframe.analysis.sensitivity.SensitivityResult`; history matching:
  `pdaframe.methods.emulation.history_matching.HistoryMatchResult`).

A method that returns no kind (a plain `Result` or dict, e.g. a user's callable) is read by
`as_kind`, the one rule: with ``x`` it is an `OptimisationResult`.
"""
from __future__ import annotations

import numpy as np

NEAR_BOUND_SPREAD = 10.0
"""Largest standard deviation of a parameter's Laplace posterior in the bounds transform's
space (`Result.posterior_sample`): beyond it the logistic or exponential saturates, so the
draws would sit on the bounds themselves; the parameter (on a bound or within round-off of
one) is then drawn linearly and clipped instead."""


class Result(dict):
    """Outcome of a method, scipy-style: ``res.x``, ``res["x"]`` and ``res.keys()``.

    Keys every method with an estimate sets: ``x`` (estimate, physical space, shape
    ``(n_param,)``), ``fun`` (``J(x)``), ``success``, ``status``, ``message``, ``nit``,
    ``nfev`` (model runs), ``njev`` (gradient evaluations), ``history`` (dict of
    per-iteration arrays, at least ``cost``), ``method``, ``parameter_names``, ``x0``; a
    method that takes a seed adds ``seed`` (the one used). Minimisers add
    ``posterior_covariance`` (Gauss–Newton at ``x``) and ``posterior_std``. Not converging
    is ``success=False``, never an exception. The kinds (module docstring) add their own
    keys; a plain `Result` has ``kind = None`` (see `as_kind`).
    """

    #: the kind of result (`OptimisationResult.kind`, ...); None: a plain `Result`
    kind = None

    def attach_transform(self, transform):
        """Keep the bounds transform (not a dict entry) for `posterior_sample`."""
        object.__setattr__(self, "transform", transform)
        return self

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __dir__(self):
        return list(self.keys()) + [n for n in dir(type(self)) if not n.startswith("_")
                                    and not hasattr(dict, n) and n != "attach_transform"]

    def __repr__(self):
        keys = ("method", "success", "message", "fun", "x", "nit", "nfev", "njev")
        body = "\n".join(f"{k:>10}: {self[k]!r}" for k in keys if k in self)
        return f"{type(self).__name__}(\n{body}\n)"

    def posterior_sample(self, n: int, seed=None) -> np.ndarray:
        """Draw ``n`` parameter vectors from the Gaussian (Laplace) posterior approximation.

        The Gaussian ``N(x, posterior_covariance)`` is mapped through the prior's bounds
        transform (linearised at ``x``), so every draw respects the bounds; for unbounded
        parameters it is exactly ``N(x, posterior_covariance)``.

        Parameters
        ----------
        n : int
            Number of draws.
        seed : int or numpy.random.SeedSequence, optional
            Seed of `numpy.random.default_rng`.

        Returns
        -------
        ndarray, shape (n, n_param)
        """
        if "posterior_covariance" not in self:
            raise KeyError("this result has no posterior_covariance to sample from")
        rng = np.random.default_rng(seed)
        cov = np.asarray(self["posterior_covariance"], dtype=float)
        x = np.asarray(self["x"], dtype=float)
        std = np.sqrt(np.diag(cov))
        unit = np.where(std > 0, std, 1.0)
        # drawn from the correlation matrix and scaled per parameter: scales that differ by
        # many orders (a transformed sd near a bound) cannot leak into other parameters
        # through the round-off of one eigendecomposition
        z = rng.multivariate_normal(np.zeros(x.size), cov / np.outer(unit, unit), size=n,
                                    method="eigh")
        centre, scale, linear = self._laplace_space(x, std)
        draws = centre + z * scale
        transform = self.__dict__.get("transform")
        if transform is None:
            return draws
        with np.errstate(over="ignore"):
            theta = np.array([transform.to_theta(p) for p in draws])
        theta[:, linear] = np.clip(draws[:, linear], transform.lower[linear],
                                   transform.upper[linear])
        return theta

    def _laplace_space(self, x, std):
        """``(centre, sd, linear)`` of the Gaussian of `posterior_sample` and
        `posterior_interval`: in the bounds transform's space (``phi``, ``std`` mapped by
        the transform's slope), except for the parameters marked ``linear``, on a bound or
        so close to one that the transformed sd exceeds `NEAR_BOUND_SPREAD` (their draws
        would all land on the bounds themselves): those are taken as ``N(x, std)`` and
        clipped to the bounds."""
        transform = self.__dict__.get("transform")
        if transform is None:
            return x, std, np.zeros(x.size, dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            phi = transform.to_phi(x)
            s_phi = std / np.abs(transform.dtheta_dphi(phi))
        linear = ~(np.isfinite(phi) & np.isfinite(s_phi)) | (s_phi > NEAR_BOUND_SPREAD)
        return np.where(linear, x, phi), np.where(linear, std, s_phi), linear

    def posterior_interval(self, level=0.95) -> np.ndarray:
        """Central ``level`` interval of each parameter under the Gaussian (Laplace)
        posterior, taken in the bounds transform's space (as `posterior_sample`) and mapped
        back: inside the bounds, and asymmetric for log- or logit-transformed parameters
        (symmetric ``x ± z σ`` for unbounded ones; clipped ``x ± z σ`` for a parameter on or
        next to a bound, see `_laplace_space`).

        Returns
        -------
        ndarray, shape (2, n_param)
            Lower and upper ends.
        """
        from scipy.stats import norm
        if "posterior_covariance" not in self:
            raise KeyError("this result has no posterior_covariance for an interval")
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level!r}")
        z = norm.ppf(0.5 + level / 2)
        x = np.asarray(self["x"], dtype=float)
        std = np.sqrt(np.diag(np.asarray(self["posterior_covariance"], dtype=float)))
        centre, scale, linear = self._laplace_space(x, std)
        transform = self.__dict__.get("transform")
        if transform is None:
            return np.array([x - z * std, x + z * std])
        with np.errstate(over="ignore"):
            ends = np.sort([transform.to_theta(centre - z * scale),
                            transform.to_theta(centre + z * scale)], axis=0)  # log flips
        clipped = np.clip([x - z * std, x + z * std], transform.lower, transform.upper)
        return np.where(linear | ~np.all(np.isfinite(ends), axis=0), clipped, ends)

    def to_netcdf(self, path, problem=None, **provenance):
        """Write the result as CF-NetCDF (see `pdaframe.io.netcdf.write_result`)."""
        from .io.netcdf import write_result
        return write_result(path, self, problem=problem, **provenance)


class OptimisationResult(Result):
    """A point estimate, scipy-like: the minimisers (``lbfgsb``, ``lbfgsb-fd``,
    ``nelder-mead``), global search (``de``, ``ga``) and ``stepwise``.

    Keys: those of `Result` (``x fun success status message nit nfev njev history method
    parameter_names x0``); ``posterior_covariance`` and ``posterior_std`` (Gauss–Newton at
    ``x``: the minimisers, and ``de``/``ga`` with ``posterior = true``); ``n_rejected`` and
    ``restarts`` (failed trial points, restarts), ``gradient`` (``lbfgsb``: which gradient);
    ``seed``, ``population``, ``population_cost``, ``max_runs``, ``n_failed`` (``de``,
    ``ga``); ``steps`` (``stepwise``: the per-step results).
    """

    kind = "optimisation"


class SampleResult(Result):
    """MCMC draws: ``adaptive-metropolis``, ``dream-zs``, ``emcee`` and ``ces`` (draws of
    the emulated posterior).

    Keys: those of `Result`, with ``x`` the posterior mean and ``fun`` ``J`` there;
    ``samples`` (``(chain, draw, param)``; ``ces``: flat ``(draw, param)`` with
    ``n_chains``, see `pdaframe.io.samples`), ``posterior_covariance`` and ``posterior_std``
    (of the draws), ``rhat``, ``ess_bulk``, ``ess_tail`` (per parameter), ``seed``,
    ``n_chains``; the samplers add ``samples_u`` (control space), ``log_prob`` (``-J``),
    ``accepted``, ``acceptance_rate`` (per chain), ``n_samples``, ``map_x``, ``map_fun``,
    ``rhat_max``, ``n_failed``; ``ces`` adds ``log_posterior``, ``acceptance``, the emulator
    and its check (``emulator``, ``check``, ``n_design``, ``n_train``, ...).
    """

    kind = "sample"

    def to_inference_data(self, problem=None, n_prior=1000, seed=0):
        """The draws as an `arviz.InferenceData`: group ``posterior`` (``theta``, dims
        ``chain, draw, param``, the parameter names as the ``param`` coordinate), and
        ``unconstrained_posterior``, ``sample_stats``, and with ``problem`` ``observed_data``
        and ``prior`` (``n_prior`` draws seeded by ``seed``); see
        `pdaframe.io.samples.samples_to_inference_data`."""
        from .io.samples import samples_to_inference_data
        return samples_to_inference_data(self, problem, n_prior=n_prior, seed=seed)


class EnsembleResult(Result):
    """A member ensemble or a weighted sample, not a chain (written to ``ensemble.nc``,
    `pdaframe.io.ensembles`).

    Keys: those of `Result`, with ``x`` the (weighted) mean; ``posterior_covariance``,
    ``posterior_std``, ``seed``, ``n_members``, ``n_failed``, ``n_rounds``; and either
    ``posterior_ensemble`` ``(member, param)`` with ``ensemble`` (the prior members) —
    ``4denvar``, ``es-mda``, ``enkf``, ``particle-filter`` (with ``weights``) — or
    ``samples`` ``(member, param)`` with ``weights`` (normalised), ``ess`` and
    ``ess_fraction`` — ``importance`` (``log_weights``), ``glue`` (``behavioural``,
    ``log_likelihood``, ``nse``, ``quantiles``, ``prediction_bounds``, ...).
    """

    kind = "ensemble"


class AnalysisResult(Result):
    """An analysis without a point estimate (no ``x``): sensitivity analysis and history
    matching (their subclasses list their keys).

    Keys every analysis sets: ``method``, ``nfev``, ``success``, ``message``;
    ``parameter_names`` where known. `summary` gives the text ``pdaframe run`` prints.
    """

    kind = "analysis"

    def summary(self) -> str:
        """The analysis as text (each subclass says how)."""
        raise NotImplementedError(f"{type(self).__name__} has no summary")


#: every kind by its ``kind`` string
KINDS = {cls.kind: cls for cls in (OptimisationResult, SampleResult, EnsembleResult,
                                   AnalysisResult)}


def as_kind(result) -> Result:
    """``result`` as one of the kinds: a kind unchanged; a plain `Result` or dict with ``x``
    as an `OptimisationResult` (with its bounds transform), the one rule for a method that
    returns no kind (e.g. a user's callable).

    Raises
    ------
    TypeError
        Neither a kind nor a dict with ``x``.
    """
    if isinstance(result, Result) and result.kind is not None:
        return result
    if not isinstance(result, dict) or "x" not in result:
        raise TypeError(f"a method must return a pdaframe result kind (OptimisationResult, "
                        f"SampleResult, EnsembleResult, AnalysisResult) or a dict with 'x' "
                        f"(read as an OptimisationResult); got {type(result).__name__}"
                        + (f" with keys {sorted(result)}" if isinstance(result, dict) else ""))
    out = OptimisationResult(result)
    transform = getattr(result, "__dict__", {}).get("transform")
    return out.attach_transform(transform) if transform is not None else out
