"""Gaussian-process emulators and calibrate–emulate–sample (methods.md §9).

* `design`: a Latin hypercube or scrambled Sobol design (``scipy.stats.qmc``) in a box.
* `GPEmulator`: scikit-learn GPs, Matérn-5/2 with ARD lengths and a small fixed nugget;
  inputs scaled to ``[0, 1]`` by the box, outputs standardised. A vector output is reduced
  with PCA (components keeping ≥ ``pca_variance`` of the variance, one GP per score; the
  discarded components' variance is added to the predictive covariance). Predictions far
  from the training design warn and are flagged (``last_extrapolation``).
* `validate`: standardised errors on held-out runs and the coverage of ±2σ.
* `ces`: calibrate–emulate–sample on a `Problem`: run a design, emulate the whitened
  residuals ``z(θ) = R^-1/2 (G(θ) − y)``, random-walk Metropolis on
  ``log N(0; m(θ), I + Σ_GP(θ)) − J_b(θ)`` (the emulator variance and its log-determinant
  in the likelihood, CES ``add_obs_noise_cov``), then a few real runs to check.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np

from .errors import ConfigError, ModelError
from .parallel import Failed, get_executor
from .result import Result

log = logging.getLogger(__name__)


def design(lower, upper, n, method="lhs", seed=None) -> np.ndarray:
    """``n`` points in the box ``[lower, upper]``, shape ``(n, n_param)``.

    ``method``: ``"lhs"`` (`scipy.stats.qmc.LatinHypercube`, optimised by random CD) or
    ``"sobol"`` (scrambled; ``n`` a power of 2 keeps its balance).
    """
    from scipy.stats import qmc
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise ConfigError("design: the box needs finite lower and upper bounds")
    d = lower.size
    if method == "lhs":
        unit = qmc.LatinHypercube(d, seed=seed, optimization="random-cd" if d > 1 else None) \
            .random(int(n))
    elif method == "sobol":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)        # n not a power of 2
            unit = qmc.Sobol(d, scramble=True, seed=seed).random(int(n))
    else:
        raise ConfigError(f"design method {method!r}: expected 'lhs' or 'sobol'")
    return lower + unit * (upper - lower)


def prior_box(prior, width=4.0):
    """The design box: the prior's bounds, or for unbounded directions mean ± ``width``
    prior standard deviations (clipped to the bounds)."""
    std = np.sqrt(np.diag(prior.scale @ prior.scale.T))
    lo = np.where(np.isfinite(prior.lower), prior.lower, prior.mean - width * std)
    up = np.where(np.isfinite(prior.upper), prior.upper, prior.mean + width * std)
    return np.maximum(lo, prior.lower), np.minimum(up, prior.upper)


class GPEmulator:
    """GP emulator of a scalar or vector function of ``θ``.

    Parameters
    ----------
    lower, upper : array_like, shape (n_param,)
        Box used to scale the inputs to ``[0, 1]`` (usually the design box).
    nugget : float
        Fixed noise variance added to the diagonal, in standardised output units.
    pca_variance : float or None
        For a vector output, keep principal components up to this fraction of the variance
        (``None``: one GP per output, no PCA).
    n_restarts : int
        Optimiser restarts of the hyperparameters (log marginal likelihood).
    extrapolation_tol : float
        A prediction point farther than this (unit-cube distance) from the bounding box of
        the training inputs warns; ``last_extrapolation`` keeps the distances.
    seed : int, optional
    """

    def __init__(self, lower, upper, nugget=1e-6, pca_variance=0.99, n_restarts=2,
                 extrapolation_tol=0.05, seed=None):
        self.lower = np.asarray(lower, dtype=float)
        self.upper = np.asarray(upper, dtype=float)
        if not (np.all(np.isfinite(self.lower)) and np.all(np.isfinite(self.upper))
                and np.all(self.upper > self.lower)):
            raise ConfigError("GPEmulator: needs a finite box with upper > lower")
        self.nugget, self.pca_variance = float(nugget), pca_variance
        self.n_restarts, self.extrapolation_tol, self.seed = n_restarts, extrapolation_tol, seed
        self.last_extrapolation = None

    def _scale(self, X):
        return (np.atleast_2d(np.asarray(X, dtype=float)) - self.lower) / (self.upper - self.lower)

    def fit(self, X, Y) -> "GPEmulator":
        """Fit to runs ``X`` ``(n_run, n_param)``, ``Y`` ``(n_run,)`` or ``(n_run, n_out)``."""
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern
        X = self._scale(X)
        Y = np.asarray(Y, dtype=float)
        self.scalar = Y.ndim == 1
        Y = Y.reshape(len(X), -1)
        if len(X) < 2 or not np.all(np.isfinite(Y)):
            raise ConfigError("GPEmulator.fit: needs at least 2 runs and finite outputs")
        self.x_min, self.x_max = X.min(axis=0), X.max(axis=0)
        self.y_mean = Y.mean(axis=0)
        self.y_std = Y.std(axis=0)
        self.y_std[self.y_std == 0] = 1.0
        Z = (Y - self.y_mean) / self.y_std
        m = Z.shape[1]
        if m > 1 and self.pca_variance is not None:
            _, s, vt = np.linalg.svd(Z, full_matrices=False)
            frac = np.cumsum(s ** 2) / max(np.sum(s ** 2), 1e-300)
            k = int(np.searchsorted(frac, self.pca_variance - 1e-12) + 1)
            self.basis = vt[:k].T                                  # (m, k)
            resid = Z - Z @ self.basis @ self.basis.T
            self.trunc_cov = resid.T @ resid / max(len(Z) - 1, 1)  # (m, m), standardised
            scores = Z @ self.basis
        else:
            self.basis, self.trunc_cov, scores = None, np.zeros((m, m)), Z
        d = X.shape[1]
        self.gps = []
        for j in range(scores.shape[1]):
            kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(
                length_scale=np.full(d, 0.5), length_scale_bounds=(1e-2, 1e2), nu=2.5)
            gp = GaussianProcessRegressor(kernel, alpha=self.nugget, normalize_y=False,
                                          n_restarts_optimizer=self.n_restarts,
                                          random_state=self.seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")                     # bound-hit warnings
                gp.fit(X, scores[:, j])
            self.gps.append(gp)
        self.n_train = len(X)
        return self

    @property
    def n_components(self) -> int:
        return len(self.gps)

    def extrapolation(self, X) -> np.ndarray:
        """Unit-cube distance of each point from the training inputs' bounding box."""
        U = self._scale(X)
        out = np.maximum(self.x_min - U, 0) + 0 * U
        out = np.maximum(out, U - self.x_max)
        return np.sqrt(np.sum(out ** 2, axis=1))

    def predict(self, X, full_cov=False):
        """Mean and variance at ``X`` ``(n_pts, n_param)``.

        Returns
        -------
        mean : ndarray, shape (n_pts,) or (n_pts, n_out)
        var : ndarray, same shape as ``mean`` (``full_cov``: ``(n_pts, n_out, n_out)``)
            Emulator (latent) variance in output units (not a standard deviation), with the
            PCA truncation variance.
        """
        X = np.atleast_2d(np.asarray(X, dtype=float))
        dist = self.extrapolation(X)
        self.last_extrapolation = dist
        far = dist > self.extrapolation_tol
        if far.any():
            msg = (f"GPEmulator: {int(far.sum())} prediction point(s) outside the training "
                   f"design, up to {dist.max():.3g} (unit-cube distance) beyond it")
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
        U = self._scale(X)
        mu, sd = zip(*(gp.predict(U, return_std=True) for gp in self.gps))
        mu, v = np.column_stack(mu), np.column_stack(sd) ** 2           # (n, k)
        if self.basis is None:
            mean_z = mu
            cov_z = v[:, :, None] * np.eye(v.shape[1])[None] if full_cov else v
        else:
            mean_z = mu @ self.basis.T
            if full_cov:
                cov_z = np.einsum("ik,nk,jk->nij", self.basis, v, self.basis) + self.trunc_cov
            else:
                cov_z = v @ (self.basis ** 2).T + np.diag(self.trunc_cov)
        mean = self.y_mean + mean_z * self.y_std
        if full_cov:
            var = cov_z * self.y_std[None, :, None] * self.y_std[None, None, :]
        else:
            var = cov_z * self.y_std ** 2
        if self.scalar:
            return mean[:, 0], (var[:, 0, 0] if full_cov else var[:, 0])
        return mean, var


def validate(emulator, X, Y) -> dict:
    """Held-out check: standardised errors ``(y − m)/√v`` (shape like ``Y``), their mean
    and standard deviation, the fraction within ±2 (``coverage``; nominal 0.954 under
    N(0, 1)) and the RMSE."""
    mean, var = emulator.predict(X)
    Y = np.asarray(Y, dtype=float).reshape(mean.shape)
    z = (Y - mean) / np.sqrt(np.maximum(var, 1e-300))
    return {"standardised_errors": z, "coverage": float(np.mean(np.abs(z) <= 2.0)),
            "mean_error": float(np.mean(z)), "std_error": float(np.std(z)),
            "rmse": float(np.sqrt(np.mean((Y - mean) ** 2))), "n": int(Y.shape[0])}


class _Whitened:
    """``z(θ) = sqrt(w) R^-1/2 (G(θ) − y)`` stacked over streams (picklable)."""

    def __init__(self, problem):
        self.problem = problem

    def __call__(self, theta):
        p = self.problem
        eq = p.equivalents(theta)
        return np.concatenate([np.sqrt(s.weight) * s.error.whiten(s.residual(eq[s.name]))
                               for s in p.streams])


def run_design(func, X, executor=None):
    """``func`` at the rows of ``X`` through the executor; drop failed runs (warning).

    Returns ``X_ok, Y_ok`` (``Y`` stacked, shape ``(n_ok, ...)``).
    """
    executor = executor or get_executor()
    out = executor.map(func, list(np.asarray(X, dtype=float)))
    ok = [not isinstance(r, Failed) for r in out]
    if sum(ok) < 2:
        first = next((r.error for r in out if isinstance(r, Failed)), "")
        raise ModelError(f"design: only {sum(ok)} of {len(out)} runs succeeded; {first}")
    if not all(ok):
        warnings.warn(f"design: {len(ok) - sum(ok)} of {len(ok)} runs failed and are "
                      f"dropped", RuntimeWarning, stacklevel=2)
    return np.asarray(X)[ok], np.array([r for r, k in zip(out, ok) if k], dtype=float)


def _rw_metropolis(logp, x0, cov, n, rng):
    d = x0.size
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(d))
    chain, lps = np.empty((n, d)), np.empty(n)
    x, lp, acc = x0.copy(), logp(x0), 0
    for i in range(n):
        y = x + chol @ rng.standard_normal(d)
        lq = logp(y)
        if np.log(rng.uniform()) < lq - lp:
            x, lp, acc = y, lq, acc + 1
        chain[i], lps[i] = x, lp
    return chain, lps, acc / n


def ces(problem, x0=None, callback=None, executor=None, seed=None, n_design=None,
        design_method="lhs", box_width=4.0, n_steps=6000, n_check=5, nugget=1e-6,
        pca_variance=0.99, **_) -> Result:
    """Calibrate–emulate–sample on ``problem``.

    Parameters
    ----------
    problem : Problem
    x0 : array_like, optional
        MCMC start (default the design run with the lowest J).
    executor : object, optional
        Runs the design and the check runs (ordered ``map``).
    seed : int, optional
    n_design : int
        Design size (default ``10 n_param``, Loeppky et al. 2009), in `prior_box`.
    n_steps : int
        Metropolis steps (a pilot of ``n_steps // 3`` tunes the proposal, then discarded).
    n_check : int
        Real runs at posterior draws to check the emulator (reported in ``check``).

    Returns
    -------
    Result
        ``x`` (posterior mean), ``posterior_covariance``, ``posterior_std``, ``samples``
        ``(n_draw, n_param)``, ``fun`` (real ``J(x)``), ``nfev`` (real model runs: design +
        checks + 1), ``n_design``, ``acceptance``, ``check`` (`validate` of the emulator on
        the check runs, plus ``real_cost``/``emulated_cost``), ``emulator``.
    """
    rng = np.random.default_rng(seed)
    prior = problem.prior
    lo, up = prior_box(prior, box_width)
    n_design = int(n_design or 10 * prior.n)
    X = design(lo, up, n_design, design_method, seed=rng.integers(2 ** 32))
    white = _Whitened(problem)
    X, Z = run_design(white, X, executor)
    em = GPEmulator(lo, up, nugget=nugget, pca_variance=pca_variance,
                    seed=int(rng.integers(2 ** 31)), extrapolation_tol=np.inf).fit(X, Z)
    m = Z.shape[1]
    eye = np.eye(m)

    def logp(theta):
        if not prior.inside(theta):
            return -np.inf
        mean, cov = em.predict(theta[None], full_cov=True)
        c = eye + cov[0]
        chol = np.linalg.cholesky(c)
        w = np.linalg.solve(chol, mean[0])
        return -0.5 * w @ w - np.sum(np.log(np.diag(chol))) - prior.cost(theta)

    costs = 0.5 * np.sum(Z ** 2, axis=1) + np.array([prior.cost(x) for x in X])
    start = np.asarray(x0, dtype=float) if x0 is not None else X[np.argmin(costs)]
    s = prior.scale @ prior.scale.T
    n_pilot = max(n_steps // 3, 200)
    pilot, _, _ = _rw_metropolis(logp, start, 0.1 * s * 2.38 ** 2 / prior.n, n_pilot, rng)
    cov = np.cov(pilot[n_pilot // 2:].T).reshape(prior.n, prior.n)
    if not np.all(np.isfinite(cov)) or np.linalg.eigvalsh(cov).min() <= 0:
        cov = 0.01 * s
    chain, lps, acc = _rw_metropolis(logp, pilot[-1], cov * 2.38 ** 2 / prior.n, n_steps, rng)
    mean = chain.mean(axis=0)
    post_cov = np.cov(chain.T).reshape(prior.n, prior.n)
    check = {}
    if n_check:
        idx = rng.choice(n_steps, size=int(n_check), replace=False)
        Xc, Zc = run_design(white, chain[idx], executor)
        check = validate(em, Xc, Zc)
        jb = np.array([prior.cost(x) for x in Xc])
        check["real_cost"] = 0.5 * np.sum(Zc ** 2, axis=1) + jb
        check["emulated_cost"] = 0.5 * np.sum(em.predict(Xc)[0] ** 2, axis=1) + jb
        log.info("ces check: coverage %.2f over %d runs", check["coverage"], len(Xc))
    fun = problem.cost(mean)
    n_real = n_design + int(n_check) + 1                      # failed runs count too
    res = Result(method="ces", x=mean, fun=float(fun), success=True, status=0,
                 message=f"{n_steps} emulator MCMC steps, acceptance {acc:.2f}",
                 nit=n_steps, nfev=n_real, njev=0, x0=start,
                 history={"cost": np.array([costs.min(), fun])},
                 parameter_names=list(problem.parameter_names),
                 posterior_covariance=post_cov, posterior_std=np.sqrt(np.diag(post_cov)),
                 samples=chain, log_posterior=lps, acceptance=acc, n_design=len(X),
                 check=check, emulator=em)
    if callback is not None:
        try:
            callback(res)
        except StopIteration:
            pass
    return res


METHODS = {"ces": ces}
