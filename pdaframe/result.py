"""`Result`: what every minimiser and sampler returns (a dict with attribute access)."""
from __future__ import annotations

import numpy as np


class Result(dict):
    """Outcome of a method, scipy-style: ``res.x``, ``res["x"]`` and ``res.keys()``.

    Keys every method sets: ``x`` (estimate, physical space, shape ``(n_param,)``), ``fun``
    (``J(x)``), ``success``, ``status``, ``message``, ``nit``, ``nfev`` (model runs), ``njev``
    (gradient evaluations), ``history`` (dict of per-iteration arrays, at least ``cost``),
    ``method``, ``parameter_names``, ``x0``. Minimisers add ``posterior_covariance`` (Gauss–
    Newton at ``x``) and ``posterior_std``. Not converging is ``success=False``, never an
    exception.
    """

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
        return list(self.keys()) + ["posterior_sample", "posterior_interval", "to_netcdf"]

    def __repr__(self):
        keys = ("method", "success", "message", "fun", "x", "nit", "nfev", "njev")
        body = "\n".join(f"{k:>10}: {self[k]!r}" for k in keys if k in self)
        return f"Result(\n{body}\n)"

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
        transform = self.__dict__.get("transform")
        cov = np.asarray(self["posterior_covariance"])
        x = np.asarray(self["x"])
        if transform is None:
            return rng.multivariate_normal(x, cov, size=n, method="eigh")
        with np.errstate(divide="ignore", invalid="ignore"):
            phi = transform.to_phi(x)
            d = 1.0 / transform.dtheta_dphi(phi)
        # a parameter on a bound has no transformed Gaussian: drawn linearly, then clipped
        on_bound = ~(np.isfinite(phi) & np.isfinite(d))
        phi, d = np.where(on_bound, x, phi), np.where(on_bound, 1.0, d)
        draws = rng.multivariate_normal(phi, d[:, None] * cov * d[None, :], size=n,
                                        method="eigh")
        theta = np.array([transform.to_theta(p) for p in draws])
        theta[:, on_bound] = np.clip(draws[:, on_bound], transform.lower[on_bound],
                                     transform.upper[on_bound])
        return theta

    def posterior_interval(self, level=0.95) -> np.ndarray:
        """Central ``level`` interval of each parameter under the Gaussian (Laplace)
        posterior, taken in the bounds transform's space (as `posterior_sample`) and mapped
        back: inside the bounds, and asymmetric for log- or logit-transformed parameters
        (symmetric ``x ± z σ`` for unbounded ones).

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
        transform = self.__dict__.get("transform")
        if transform is None:
            return np.array([x - z * std, x + z * std])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            phi = transform.to_phi(x)
            s_phi = std / np.abs(transform.dtheta_dphi(phi))
            ends = np.sort([transform.to_theta(phi - z * s_phi),
                            transform.to_theta(phi + z * s_phi)], axis=0)   # negated log flips
        # a parameter on a bound has no transformed interval: the linear one, clipped
        linear = np.clip([x - z * std, x + z * std], transform.lower, transform.upper)
        ok = np.isfinite(phi) & np.isfinite(s_phi) & np.all(np.isfinite(ends), axis=0)
        return np.where(ok, ends, linear)

    def to_netcdf(self, path, problem=None, **provenance):
        """Write the result as CF-NetCDF (see `pdaframe.io.netcdf.write_result`)."""
        from .io.netcdf import write_result
        return write_result(path, self, problem=problem, **provenance)
