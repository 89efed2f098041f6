"""History matching in waves (methods.md §9; Vernon et al. 2010, Williamson et al. 2013).

    I_i(θ) = |z_i − E f_i(θ)| / sqrt(Var_obs,i + Var_disc,i + Var_emul,i(θ))

A point is not ruled out yet (NROY) when the largest ``I_i`` (or the 2nd largest, to
tolerate one poor emulator: ``which=2``) is at most the cutoff (3, Pukelsheim's 3σ rule).
Each wave runs the simulator (through an executor) on a design inside the current NROY,
fits GP emulators (`pdaframe.emulator.GPEmulator`, one per output, no PCA), and keeps
the candidates of a large Latin hypercube that every wave so far leaves in. Waves stop
when the NROY fraction stops shrinking (relative change < ``tol``), or after
``max_waves``.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np

from .emulator import GPEmulator, design, prior_box, run_design
from .errors import ConfigError
from .result import Result

log = logging.getLogger(__name__)


def implausibility(z, mean, var_emul=0.0, var_obs=0.0, var_disc=0.0, which=1):
    """Implausibility of each point.

    Parameters
    ----------
    z : array_like, shape (n_out,)
        Observations.
    mean, var_emul : array_like, shape (n_pts, n_out)
        Emulator mean and variance (a variance, not a standard deviation).
    var_obs, var_disc : array_like, shape (n_out,) or float
        Observation-error and model-discrepancy variances.
    which : int
        ``1``: max over outputs; ``2``: second largest, and so on.

    Returns
    -------
    ndarray, shape (n_pts,)
    """
    mean = np.atleast_2d(np.asarray(mean, dtype=float))
    z = np.broadcast_to(np.asarray(z, dtype=float), mean.shape[1:])
    total = np.asarray(var_obs, dtype=float) + np.asarray(var_disc, dtype=float) + \
        np.asarray(var_emul, dtype=float)
    if np.any(np.broadcast_to(total, mean.shape) <= 0):
        raise ConfigError("implausibility: the total variance must be positive "
                          "(give Var_obs and/or Var_disc)")
    imp = np.abs(z - mean) / np.sqrt(total)
    if which > imp.shape[1]:
        raise ConfigError(f"implausibility: which={which} with only {imp.shape[1]} outputs")
    return np.sort(imp, axis=1)[:, -which]


class HistoryMatchResult(Result):
    """``waves`` (per wave: ``X``, ``Y``, ``emulator``, ``nroy_fraction``), ``nroy``
    (the last wave's NROY candidates, ``(n, n_param)``), ``nroy_fraction``, ``nfev``
    (simulator runs), ``lower``/``upper`` (the box), ``z``, ``var_obs``, ``var_disc``,
    ``cutoff``, ``which``."""

    def implausibility(self, theta, wave=None) -> np.ndarray:
        """Max over waves (up to ``wave``, default all) of the implausibility at ``theta``
        ``(n_pts, n_param)``; a point is in NROY when this is ≤ ``cutoff``."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        waves = self.waves if wave is None else self.waves[:wave + 1]
        out = np.zeros(len(theta))
        for w in waves:
            mean, var = _predict(w["emulator"], theta)
            out = np.maximum(out, implausibility(self.z, mean, var, self.var_obs,
                                                 self.var_disc, self.which))
        return out

    def in_nroy(self, theta) -> np.ndarray:
        return self.implausibility(theta) <= self.cutoff


def _predict(emulator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # candidates cover the box
        mean, var = emulator.predict(X)
    return mean.reshape(len(X), -1), var.reshape(len(X), -1)


def history_match(func, lower, upper, z, var_obs, var_disc=0.0, cutoff=3.0, which=1,
                  n_design=None, n_candidates=20000, max_waves=5, tol=0.05, seed=None,
                  executor=None, nugget=1e-6) -> HistoryMatchResult:
    """History matching of ``func(θ) -> outputs (n_out,)`` to observations ``z``.

    Parameters
    ----------
    func : callable
        The simulator (picklable for MPI), e.g. ``problem.observation_vector``.
    lower, upper : array_like, shape (n_param,)
        The initial box (finite).
    z, var_obs, var_disc : array_like, shape (n_out,) or float
    cutoff : float
        Implausibility cutoff (3).
    which : int
        1: max over outputs; 2: second max.
    n_design : int
        Runs per wave (default ``10 n_param``).
    n_candidates : int
        Size of the Latin hypercube in the box from which NROY is sampled (rejection).
    max_waves, tol : int, float
        Stop after ``max_waves``, or when NROY shrinks by less than ``tol`` (relative).
    executor : object, optional
        Runs the simulator (ordered ``map``).
    """
    rng = np.random.default_rng(seed)
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    n_design = int(n_design or 10 * lower.size)
    cand = design(lower, upper, n_candidates, "lhs", seed=int(rng.integers(2 ** 32)))
    res = HistoryMatchResult(method="history-matching", z=np.atleast_1d(z).astype(float),
                             var_obs=np.asarray(var_obs, dtype=float),
                             var_disc=np.asarray(var_disc, dtype=float), cutoff=float(cutoff),
                             which=int(which), lower=lower, upper=upper, waves=[], nfev=0)
    keep = np.ones(len(cand), bool)
    Xw = design(lower, upper, n_design, "lhs", seed=int(rng.integers(2 ** 32)))
    fraction = 1.0
    message = f"stopped after max_waves={max_waves}"
    for wave in range(int(max_waves)):
        X, Y = run_design(func, Xw, executor)
        res.nfev += len(Xw)
        em = GPEmulator(lower, upper, nugget=nugget, pca_variance=None,
                        seed=int(rng.integers(2 ** 31))).fit(X, Y.reshape(len(X), -1))
        res.waves.append({"X": X, "Y": Y, "emulator": em})
        idx = np.flatnonzero(keep)
        mean, var = _predict(em, cand[idx])
        imp = implausibility(res.z, mean, var, res.var_obs, res.var_disc, which)
        keep[idx[imp > cutoff]] = False
        new = float(keep.mean())
        res.waves[-1]["nroy_fraction"] = new
        log.info("history matching wave %d: NROY fraction %.4g", wave + 1, new)
        if not keep.any():
            message = f"wave {wave + 1} ruled out every point: check Var_obs and Var_disc"
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            break
        if wave > 0 and fraction - new < tol * fraction:
            message = f"NROY stopped shrinking at wave {wave + 1}"
            fraction = new
            break
        fraction = new
        pool = np.flatnonzero(keep)
        Xw = cand[rng.choice(pool, size=min(n_design, pool.size), replace=False)]
    res.update(nroy=cand[keep], nroy_fraction=float(keep.mean()), message=message,
               n_waves=len(res.waves), success=bool(keep.any()))
    return res


def history_match_problem(problem, var_disc=0.0, box_width=4.0, **options):
    """`history_match` of a Problem's stacked observations: ``z`` the valid observations,
    ``Var_obs`` the diagonal of R, the box `pdaframe.emulator.prior_box`."""
    z = np.concatenate([s.observed for s in problem.streams])
    var_obs = np.concatenate([s.error.std.reshape(-1)[s.mask] ** 2
                              if s.error.std.size == s.values.size else s.error.std ** 2
                              for s in problem.streams])
    lo, up = prior_box(problem.prior, box_width)
    return history_match(problem.observation_vector, lo, up, z, var_obs, var_disc, **options)
