"""Gaussian-process emulators (Method notes §9): the GP toolkit used by calibrate–emulate–
sample (`pdaframe.methods.emulation.ces`), history matching and sensitivity analysis.

* `design`: a Latin hypercube or scrambled Sobol design (``scipy.stats.qmc``) in a box.
* `GPEmulator`: scikit-learn GPs (hyperparameters), Matérn-5/2 or squared-exponential with
  ARD lengths and a small fixed nugget; inputs scaled to ``[0, 1]`` by the box, each GP
  target centred and scaled to unit variance. A vector output is reduced with PCA
  (components keeping ≥ ``pca_variance`` of the variance, optionally every component above
  ``pca_tol``; one GP per score; the discarded components' variance is added to the
  predictive covariance). Outputs are standardised one by one, or (``standardise=False``)
  by one common scale so the PCA keeps their metric. Predictions are numpy, vectorised over
  points (stored Cholesky factors and weights). Predictions far from the training design
  warn and are flagged (``last_extrapolation``).
* `validate`: standardised errors on held-out runs and the coverage of ±2σ.
"""
from __future__ import annotations

import warnings

import numpy as np

from ...blas import blas_threads
from ...errors import ConfigError
from ...parallel import get_executor, keep_succeeded


LHS_OPTIMISE_MAX = 1000
EXTRAPOLATION_WARN = 0.05      # unit-cube distance beyond the training design that warns


def design(lower, upper, n, method="lhs", seed=None) -> np.ndarray:
    """``n`` points in the box ``[lower, upper]``, shape ``(n, n_param)``.

    ``method``: ``"lhs"`` (`scipy.stats.qmc.LatinHypercube`, optimised by random CD up to
    `LHS_OPTIMISE_MAX` points: its cost grows as n², and large candidate sets gain nothing)
    or ``"sobol"`` (scrambled; ``n`` a power of 2 keeps its balance).
    """
    from scipy.stats import qmc
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise ConfigError("design: the box needs finite lower and upper bounds")
    d = lower.size
    if method == "lhs":
        optimise = "random-cd" if d > 1 and n <= LHS_OPTIMISE_MAX else None
        unit = qmc.LatinHypercube(d, seed=seed, optimization=optimise).random(int(n))
    elif method == "sobol":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)        # n not a power of 2
            unit = qmc.Sobol(d, scramble=True, seed=seed).random(int(n))
    else:
        raise ConfigError(f"design method {method!r}: expected 'lhs' or 'sobol'")
    return lower + unit * (upper - lower)


def prior_box(prior, width=4.0, use_bounds=True):
    """The design box: the prior's bounds, or for unbounded directions mean ± ``width``
    prior standard deviations (clipped to the bounds).

    ``use_bounds=False``: mean ± ``width`` standard deviations in every direction, clipped
    to the bounds (for a Gaussian prior with wide physical bounds, e.g. a day of year in
    [1, 365] with a prior sd of 6 days, the bounds are many prior sds wide).
    """
    std = np.sqrt(np.diag(prior.scale @ prior.scale.T))
    if use_bounds:
        lo = np.where(np.isfinite(prior.lower), prior.lower, prior.mean - width * std)
        up = np.where(np.isfinite(prior.upper), prior.upper, prior.mean + width * std)
    else:
        lo, up = prior.mean - width * std, prior.mean + width * std
    return np.maximum(lo, prior.lower), np.minimum(up, prior.upper)


def _kernel_matrix(A, B, amp, ls, kind):
    """``amp k(A, B)`` for Matérn-5/2 (``kind="matern52"``) or squared-exponential, ARD
    length scales ``ls``; ``A`` ``(n, d)``, ``B`` ``(N, d)``."""
    A, B = A / ls, B / ls
    r2 = np.maximum(np.sum(A ** 2, 1)[:, None] + np.sum(B ** 2, 1)[None] - 2.0 * A @ B.T, 0.0)
    if kind == "rbf":
        return amp * np.exp(-0.5 * r2)
    r = np.sqrt(5.0 * r2)
    return amp * (1.0 + r + r * r / 3.0) * np.exp(-r)


def _loo_factor(L, alpha) -> float:
    """``max(1, mean(e_i^2 / v_i))`` of the leave-one-out errors of a GP with Cholesky
    factor ``L`` of ``K`` and weights ``alpha = K^-1 y``: ``e_i = alpha_i / [K^-1]_ii``,
    ``v_i = 1 / [K^-1]_ii``."""
    from scipy.linalg import cho_solve
    k_inv_diag = np.diag(cho_solve((L, True), np.eye(len(L)), check_finite=False))
    return max(1.0, float(np.mean(alpha ** 2 / k_inv_diag)))


class GPEmulator:
    """GP emulator of a scalar or vector function of ``θ``.

    Parameters
    ----------
    lower, upper : array_like, shape (n_param,)
        Box used to scale the inputs to ``[0, 1]`` (usually the design box).
    nugget : float
        Fixed noise variance added to the diagonal, in standardised output units (relative
        to each GP's target variance).
    pca_variance : float or None
        For a vector output, keep principal components up to this fraction of the variance
        (``None``: one GP per output, no PCA).
    n_restarts : int
        Optimiser restarts of the hyperparameters (log marginal likelihood).
    extrapolation_tol : float
        A prediction point farther than this (unit-cube distance) from the bounding box of
        the training inputs warns; ``last_extrapolation`` keeps the distances.
    seed : int, optional
    standardise : bool
        ``True``: each output is centred and divided by its own standard deviation before
        the PCA. ``False``: centred and divided by one common scale, so the PCA keeps the
        outputs' own metric (use for outputs in common units, e.g. whitened residuals,
        where an error matters in proportion to its size in those units).
    pca_tol : float, optional
        Also keep every component whose variance over the training runs (output units²)
        is at least ``pca_tol`` (with ``standardise=False``: e.g. 0.01 of the observation
        error variance for whitened outputs).
    max_components : int, optional
        At most this many components (default ``n_run − 1``).
    kernel : {"matern52", "rbf"}
        ARD Matérn-5/2 or squared-exponential, times a fitted amplitude.
    loo_calibrate : bool
        Scale each GP's predictive variance by the mean squared standardised leave-one-out
        error over the training runs when it exceeds 1 (``var_factor``; closed form, Rasmussen
        & Williams 2006 §5.4.2), so an overconfident fit (fitted length scales too long for a
        sparse design) does not claim more than its own residuals support. History
        matching uses it: an overconfident emulator would rule out the truth.

    Each GP's target (an output, or a PCA score) is centred and scaled to unit variance
    before the fit. After `fit`, predictions use the stored Cholesky factor and weights in
    numpy (many points at once, no scikit-learn call).
    """

    def __init__(self, lower, upper, nugget=1e-6, pca_variance=0.99, n_restarts=2,
                 extrapolation_tol=EXTRAPOLATION_WARN, seed=None, standardise=True, pca_tol=None,
                 max_components=None, kernel="matern52", loo_calibrate=False):
        self.lower = np.asarray(lower, dtype=float)
        self.upper = np.asarray(upper, dtype=float)
        if not (np.all(np.isfinite(self.lower)) and np.all(np.isfinite(self.upper))
                and np.all(self.upper > self.lower)):
            raise ConfigError("GPEmulator: needs a finite box with upper > lower")
        if kernel not in ("matern52", "rbf"):
            raise ConfigError(f"GPEmulator: kernel {kernel!r}: expected 'matern52' or 'rbf'")
        if pca_variance is not None and not 0 < pca_variance <= 1:
            raise ConfigError(f"GPEmulator: pca_variance {pca_variance!r} must be in (0, 1]")
        if not (np.isfinite(nugget) and nugget > 0):
            raise ConfigError(f"GPEmulator: nugget {nugget!r} must be positive")
        self.nugget, self.pca_variance = float(nugget), pca_variance
        self.n_restarts, self.extrapolation_tol, self.seed = n_restarts, extrapolation_tol, seed
        self.standardise, self.pca_tol, self.max_components = standardise, pca_tol, max_components
        self.kernel, self.loo_calibrate = kernel, loo_calibrate
        self.last_extrapolation = None

    def _scale(self, X):
        return (np.atleast_2d(np.asarray(X, dtype=float)) - self.lower) / (self.upper - self.lower)

    def fit(self, X, Y, warm=None) -> "GPEmulator":
        """Fit to runs ``X`` ``(n_run, n_param)``, ``Y`` ``(n_run,)`` or ``(n_run, n_out)``.

        ``warm``: an earlier fit of the same kind (e.g. before a few runs were added); its
        fitted hyperparameters start each GP's optimisation, without random restarts
        (several times faster for many parameters; CES refinement rounds use it).
        """
        with blas_threads():       # small matrices: one BLAS thread (pdaframe.blas)
            return self._fit(X, Y, warm)

    def _targets(self, X, Y):
        """Scaled inputs and the standardised targets ``S`` ``(n_run, n_components)``:
        outputs standardised, reduced by PCA, each score centred and scaled (sets the
        output attributes: ``y_mean``, ``y_std``, ``basis``, ``s_mean``, ...). Shared by
        every emulator built on this class (`pdaframe.methods.emulation.nn`)."""
        X = self._scale(X)
        Y = np.asarray(Y, dtype=float)
        self.scalar = Y.ndim == 1
        Y = Y.reshape(len(X), -1)
        if len(X) < 2 or not np.all(np.isfinite(Y)) or not np.all(np.isfinite(X)):
            raise ConfigError("GPEmulator.fit: needs at least 2 runs and finite inputs "
                              "and outputs")
        self.x_min, self.x_max = X.min(axis=0), X.max(axis=0)
        self.y_mean = Y.mean(axis=0)
        if self.standardise:
            self.y_std = Y.std(axis=0)
            self.y_std[self.y_std == 0] = 1.0
        else:
            common = float(np.sqrt(np.mean(Y.var(axis=0))))
            self.y_std = np.full(Y.shape[1], common if common > 0 else 1.0)
        Z = (Y - self.y_mean) / self.y_std
        m, n = Z.shape[1], len(Z)
        self.trunc_basis, self.trunc_var, self._trunc_cov = None, np.zeros(0), None
        if m > 1 and self.pca_variance is not None:
            _, s, vt = np.linalg.svd(Z, full_matrices=False)
            lam = s ** 2 / max(n - 1, 1)                          # component variances
            frac = np.cumsum(lam) / max(np.sum(lam), 1e-300)
            k = int(np.searchsorted(frac, self.pca_variance - 1e-12) + 1)
            if self.pca_tol is not None:                          # in output units²
                k = max(k, int(np.sum(lam * self.y_std[0] ** 2 >= self.pca_tol)))
            k = max(1, min(k, len(lam), self.max_components or max(n - 1, 1)))
            self.basis = vt[:k].T                                  # (m, k)
            self.trunc_basis, self.trunc_var = vt[k:].T, lam[k:]  # standardised units
            self.explained_variance = float(frac[k - 1])
            scores = Z @ self.basis
        else:
            self.basis, scores, self.explained_variance = None, Z, 1.0
            self._trunc_cov = np.zeros((m, m))
        self.s_mean = scores.mean(axis=0)
        self.s_std = scores.std(axis=0)
        self.s_std[self.s_std == 0] = 1.0
        S = (scores - self.s_mean) / self.s_std
        return X, S

    def _fit(self, X, Y, warm=None) -> "GPEmulator":
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern
        X, S = self._targets(X, Y)
        d = X.shape[1]
        self.gps, self._pred = [], []
        warm_kernels = [] if warm is None or warm.kernel != self.kernel or \
            warm.X_train.shape[1] != d else [g.kernel_ for g in warm.gps]
        for j in range(S.shape[1]):
            base = Matern(length_scale=np.full(d, 0.5), length_scale_bounds=(1e-2, 1e2),
                          nu=2.5) if self.kernel == "matern52" else \
                RBF(length_scale=np.full(d, 0.5), length_scale_bounds=(1e-2, 1e2))
            kernel = warm_kernels[j] if j < len(warm_kernels) else \
                ConstantKernel(1.0, (1e-3, 1e3)) * base
            gp = GaussianProcessRegressor(kernel, alpha=self.nugget, normalize_y=False,
                                          n_restarts_optimizer=0 if j < len(warm_kernels)
                                          else self.n_restarts, random_state=self.seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")                     # bound-hit warnings
                gp.fit(X, S[:, j])
            self.gps.append(gp)
            amp = float(gp.kernel_.k1.constant_value)
            ls = np.broadcast_to(np.asarray(gp.kernel_.k2.length_scale, float), (d,)).copy()
            self._pred.append((amp, ls, gp.L_, gp.alpha_))
        self.var_factor = np.array([_loo_factor(L, alpha) if self.loo_calibrate else 1.0
                                    for _, _, L, alpha in self._pred])
        self.X_train = X
        self.n_train = len(X)
        self._ll_const = None
        return self

    @property
    def n_components(self) -> int:
        return len(self.gps)

    @property
    def trunc_cov(self) -> np.ndarray:
        """Covariance of the discarded PCA components (standardised units, ``(m, m)``)."""
        if self._trunc_cov is None:
            B = self.trunc_basis
            self._trunc_cov = (B * self.trunc_var) @ B.T
        return self._trunc_cov

    def extrapolation(self, X) -> np.ndarray:
        """Unit-cube distance of each point from the training inputs' bounding box."""
        U = self._scale(X)
        out = np.maximum(self.x_min - U, 0) + 0 * U
        out = np.maximum(out, U - self.x_max)
        return np.sqrt(np.sum(out ** 2, axis=1))

    def predict_scores(self, X, warn=True):
        """Mean and variance of each GP target (PCA scores, standardised units) at ``X``,
        both ``(n_pts, n_components)``; numpy, vectorised over points."""
        from scipy.linalg import solve_triangular
        X = np.atleast_2d(np.asarray(X, dtype=float))
        if warn:
            dist = self.extrapolation(X)
            self.last_extrapolation = dist
            far = dist > self.extrapolation_tol
            if far.any():
                msg = (f"GPEmulator: {int(far.sum())} prediction point(s) outside the training "
                       f"design, up to {dist.max():.3g} (unit-cube distance) beyond it")
                warnings.warn(msg, RuntimeWarning, stacklevel=3)
        U = self._scale(X)
        mu = np.empty((len(U), len(self._pred)))
        var = np.empty_like(mu)
        for j, (amp, ls, L, alpha) in enumerate(self._pred):
            K = _kernel_matrix(U, self.X_train, amp, ls, self.kernel)        # (n, N)
            mu[:, j] = K @ alpha
            v = solve_triangular(L, K.T, lower=True, check_finite=False)
            var[:, j] = np.maximum(amp - np.sum(v * v, axis=0), 0.0)
        return self.s_mean + mu * self.s_std, var * self.var_factor * self.s_std ** 2

    def predict(self, X, full_cov=False):
        """Mean and variance at ``X`` ``(n_pts, n_param)``.

        Returns
        -------
        mean : ndarray, shape (n_pts,) or (n_pts, n_out)
        var : ndarray, same shape as ``mean`` (``full_cov``: ``(n_pts, n_out, n_out)``)
            Emulator (latent) variance in output units (not a standard deviation), with the
            PCA truncation variance.
        """
        mu, v = self.predict_scores(X)                                   # (n, k)
        if self.basis is None:
            mean_z = mu
            cov_z = v[:, :, None] * np.eye(v.shape[1])[None] if full_cov else v
        else:
            mean_z = mu @ self.basis.T
            if full_cov:
                cov_z = (self.basis[None] * v[:, None, :]) @ self.basis.T + self.trunc_cov
            else:
                cov_z = v @ (self.basis ** 2).T + (self.trunc_basis ** 2) @ self.trunc_var
        mean = self.y_mean + mean_z * self.y_std
        if full_cov:
            var = cov_z * self.y_std[None, :, None] * self.y_std[None, None, :]
        else:
            var = cov_z * self.y_std ** 2
        if self.scalar:
            return mean[:, 0], (var[:, 0, 0] if full_cov else var[:, 0])
        return mean, var

    def gaussian_loglik(self, X) -> np.ndarray:
        """``log N(0; m(θ), I + Σ(θ))`` at each row of ``X``, shape ``(n_pts,)``, where
        ``m`` and ``Σ`` are the predictive mean and covariance (with the discarded PCA
        variance) of the emulated outputs — for emulated whitened residuals
        ``R^-1/2 (G(θ) − y)``, the Gaussian likelihood with the emulator variance
        (CES ``add_obs_noise_cov``).

        With a common output scale (``standardise=False``) or no PCA, ``I + Σ`` is diagonal
        in the PCA basis (kept, discarded and orthogonal directions), so this is exact and
        costs ``O(k)`` per point after the GP prediction; otherwise the full ``(m, m)``
        covariance is factorised per point.
        """
        mu, v = self.predict_scores(X)
        c = self.y_std
        if self.basis is None:
            mean = self.y_mean + mu * c
            tot = 1.0 + v * c ** 2
            return -0.5 * np.sum(mean ** 2 / tot + np.log(tot) + np.log(2 * np.pi), axis=1)
        m = len(c)
        if np.all(c == c[0]):
            c = c[0]
            if self._ll_const is None:
                a = self.basis.T @ self.y_mean
                b = self.trunc_basis.T @ self.y_mean
                q = max(self.y_mean @ self.y_mean - a @ a - b @ b, 0.0)
                tv = 1.0 + c ** 2 * self.trunc_var
                self._ll_a = a
                self._ll_const = -0.5 * (np.sum(b ** 2 / tv) + np.sum(np.log(tv)) + q
                                         + m * np.log(2 * np.pi))
            mean = self._ll_a + c * mu
            tot = 1.0 + c ** 2 * v
            return self._ll_const - 0.5 * np.sum(mean ** 2 / tot + np.log(tot), axis=1)
        mean, cov = self.predict(X, full_cov=True)
        out = np.empty(len(mean))
        for i in range(len(mean)):
            chol = np.linalg.cholesky(np.eye(m) + cov[i])
            w = np.linalg.solve(chol, mean[i])
            out[i] = -0.5 * (w @ w + m * np.log(2 * np.pi)) - np.sum(np.log(np.diag(chol)))
        return out


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


def run_design(func, X, executor=None, minimum=2):
    """``func`` at the rows of ``X`` through the executor; drop failed runs (warning;
    `ModelError` when fewer than ``minimum`` succeed).

    Returns ``X_ok, Y_ok`` (``Y`` stacked, shape ``(n_ok, ...)``).
    """
    executor = executor or get_executor()
    return keep_succeeded(X, executor.map(func, list(np.asarray(X, dtype=float))),
                          minimum=minimum)
