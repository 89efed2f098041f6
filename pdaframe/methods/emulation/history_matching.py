"""History matching in waves (Method notes §9; Vernon et al. 2010, Williamson et al. 2013).

    I_i(θ) = |z_i − E f_i(θ)| / sqrt(Var_obs,i + Var_disc,i + Var_emul,i(θ))

A point is not ruled out yet (NROY) when the largest ``I_i`` (or the 2nd largest, to
tolerate one poor emulator: ``which=2``) is at most the cutoff (3, Pukelsheim's 3σ rule).
Each wave runs the simulator (through an executor) on a design inside the current NROY,
fits GP emulators (`pdaframe.methods.emulation.gp.GPEmulator`, one per output, no PCA), and keeps
the candidates of a large Latin hypercube that every wave so far leaves in; the next
candidates fill the bounding box of those (`HistoryMatchState._refocus`), so NROY stays
resolved as it shrinks by orders of magnitude. Waves stop
when the NROY fraction stops shrinking (relative change < ``tol``), or after
``max_waves``.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np

from .gp import GPEmulator, design, prior_box
from ...errors import ConfigError, check_int
from ..ensemble import EnsembleState, drive
from ...parallel import keep_succeeded
from ...result import AnalysisResult

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


class HistoryMatchResult(AnalysisResult):
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

    def summary(self) -> str:
        """NROY fraction per wave and the range of the NROY points per parameter, as text."""
        names = self.get("parameter_names") or [f"x{i}" for i in range(len(self.lower))]
        width = max(9, *(len(n) for n in names))
        lines = [f"history matching: {self.n_waves} waves, {self.nfev} model runs; "
                 f"{self.message}",
                 "NROY fraction per wave: " + ", ".join(f"{w['nroy_fraction']:.4g}"
                                                        for w in self.waves),
                 f"{'parameter':<{width}}{'box low':>12}{'box high':>12}{'NROY min':>12}"
                 f"{'NROY max':>12}"]
        lo, up = (self.nroy.min(axis=0), self.nroy.max(axis=0)) if len(self.nroy) else \
            (np.full(len(names), np.nan),) * 2
        for i, n in enumerate(names):
            lines.append(f"{n:<{width}}{self.lower[i]:>12.5g}{self.upper[i]:>12.5g}"
                         f"{lo[i]:>12.5g}{up[i]:>12.5g}")
        return "\n".join(lines)


def _predict(emulator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # candidates cover the box
        mean, var = emulator.predict(X)
    return mean.reshape(len(X), -1), var.reshape(len(X), -1)


class HistoryMatchState(EnsembleState):
    """History-matching waves as an ask/tell state (`pdaframe.methods.ensemble.drive`).

    One round = one wave: `ask` gives the wave's design (``n_design`` points inside the
    current NROY), `tell` takes the simulator outputs, fits the wave's emulator and cuts the
    candidates. Being an ask/tell state, the waves run through any executor (MPI) and are
    checkpointed after every wave (``pdaframe run --resume``). See `history_match`.
    """

    name = "history-matching"

    def __init__(self, func, lower, upper, z, var_obs, var_disc=0.0, cutoff=3.0, which=1,
                 n_design=None, n_candidates=20000, max_waves=5, tol=0.05, seed=None,
                 nugget=1e-6, problem=None):
        super().__init__(problem)
        self.evaluate = func
        lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        if lower.shape != upper.shape or lower.ndim != 1 or \
                not np.all(np.isfinite(lower) & np.isfinite(upper) & (lower < upper)):
            raise ConfigError("history matching: lower and upper must be finite 1-D bounds "
                              "with lower < upper")
        self.n_design = check_int(n_design or 10 * lower.size, "history matching: n_design",
                                  2, "runs per wave, to fit an emulator")
        self.max_waves = check_int(max_waves, "history matching: max_waves", 1, "waves")
        n_candidates = check_int(n_candidates, "history matching: n_candidates",
                                 self.n_design, "candidates to draw each wave's design from")
        check_int(which, "history matching: which", 1, "1: the largest implausibility")
        if not cutoff > 0:
            raise ConfigError(f"history matching: cutoff={cutoff!r} must be positive (3: "
                              f"Pukelsheim's 3 sigma rule)")
        self.tol, self.nugget, self.seed = float(tol), nugget, seed
        self.rng = np.random.default_rng(seed)
        self.cand = design(lower, upper, int(n_candidates), "lhs",
                           seed=int(self.rng.integers(2 ** 32)))
        self.res = HistoryMatchResult(
            method="history-matching", z=np.atleast_1d(z).astype(float),
            var_obs=np.asarray(var_obs, dtype=float), var_disc=np.asarray(var_disc, dtype=float),
            cutoff=float(cutoff), which=int(which), lower=lower, upper=upper, waves=[], nfev=0)
        self.keep = np.ones(len(self.cand), bool)
        self.n_lhs, self.volume = len(self.cand), 1.0    # see `_refocus`
        self.Xw = design(lower, upper, self.n_design, "lhs",
                         seed=int(self.rng.integers(2 ** 32)))
        self.fraction = 1.0
        self.message = f"stopped after max_waves={self.max_waves}"

    def ask(self) -> np.ndarray:
        return self.Xw.copy()

    def tell(self, results) -> None:
        res, wave = self.res, len(self.res.waves)
        self._count(results)
        X, Y = keep_succeeded(self.Xw, results, f"history matching wave {wave + 1}")
        res.nfev += len(self.Xw)
        em = GPEmulator(res.lower, res.upper, nugget=self.nugget, pca_variance=None,
                        loo_calibrate=True,
                        seed=int(self.rng.integers(2 ** 31))).fit(X, Y.reshape(len(X), -1))
        res.waves.append({"X": X, "Y": Y, "emulator": em})
        idx = np.flatnonzero(self.keep)
        mean, var = _predict(em, self.cand[idx])
        imp = implausibility(res.z, mean, var, res.var_obs, res.var_disc, res.which)
        self.keep[idx[imp > res.cutoff]] = False
        new = self.volume * float(self.keep[:self.n_lhs].mean())
        res.waves[-1]["nroy_fraction"] = new
        log.info("history matching wave %d: NROY fraction %.4g", wave + 1, new)
        if not self.keep.any():
            self.message = f"wave {wave + 1} ruled out every point: check Var_obs and Var_disc"
            warnings.warn(self.message, RuntimeWarning, stacklevel=2)
            self.done = True
        elif wave > 0 and self.fraction - new < self.tol * self.fraction:
            self.message = f"NROY stopped shrinking at wave {wave + 1}"
            self.done = True
        self.fraction = new
        if wave + 1 >= self.max_waves:
            self.done = True
        if not self.done:
            self._refocus()
            pool = np.flatnonzero(self.keep)
            self.Xw = self.cand[self.rng.choice(pool, size=min(self.n_design, pool.size),
                                                replace=False)]

    def _refocus(self):
        """New candidates: a Latin hypercube of ``n_candidates`` in the bounding box of the
        NROY points (widened by 10 % of its size on each side, inside the initial box),
        filtered by every wave so far, plus the NROY points themselves. The first
        ``n_lhs`` candidates are the uniform sample that estimates the NROY fraction
        (``volume`` = the sub-box's share of the initial box), so the fraction keeps
        resolving however small NROY gets."""
        res, pts = self.res, self.cand[self.keep]
        pad = 0.1 * (pts.max(axis=0) - pts.min(axis=0)) + 1e-9 * (res.upper - res.lower)
        lo = np.maximum(pts.min(axis=0) - pad, res.lower)
        up = np.minimum(pts.max(axis=0) + pad, res.upper)
        new = design(lo, up, self.n_lhs, "lhs", seed=int(self.rng.integers(2 ** 32)))
        ok = res.implausibility(new) <= res.cutoff
        self.cand = np.concatenate([new, pts])
        self.keep = np.concatenate([ok, np.ones(len(pts), bool)])
        self.volume = float(np.prod((up - lo) / (res.upper - res.lower)))

    def result(self) -> HistoryMatchResult:
        res = HistoryMatchResult(self.res)
        res.update(nroy=self.cand[self.keep], nroy_fraction=self.fraction,
                   message=self.message if self.done else f"stopped after wave "
                   f"{len(res.waves)}", n_waves=len(res.waves), nit=len(res.waves),
                   success=bool(self.keep.any()), waves=list(res.waves))
        return res


def history_match(func, lower, upper, z, var_obs, var_disc=0.0, cutoff=3.0, which=1,
                  n_design=None, n_candidates=20000, max_waves=5, tol=0.05, seed=None,
                  executor=None, nugget=1e-6, callback=None, problem=None, checkpoint=None
                  ) -> HistoryMatchResult:
    """History matching of ``func(θ) -> outputs (n_out,)`` to observations ``z``.

    Parameters
    ----------
    func : callable
        The simulator (picklable for MPI), e.g. ``problem.observation_vector``.
    lower, upper : array_like, shape (n_param,)
        The initial box (finite).
    z, var_obs, var_disc : array_like, shape (n_out,) or float
    cutoff : float
        Implausibility cutoff: a point is ruled out when its implausibility exceeds this (3:
        Pukelsheim's 3 sigma rule).
    which : int
        Which implausibility is compared with the cutoff: 1 the largest over the outputs, 2
        the second largest (tolerates one poor emulator), ...
    n_design : int, optional
        Model runs per wave, inside the current NROY (default ``10 n_param``).
    n_candidates : int
        Size of the Latin hypercube in the box from which NROY is sampled (rejection).
    max_waves : int
        Maximum number of waves.
    tol : float
        Stop when a wave shrinks the NROY fraction by less than ``tol`` of itself.
    seed : int, optional
        Seed of the designs and the emulator fits.
    nugget : float
        Noise variance added to each GP's diagonal, relative to its target's variance.
    executor : object, optional
        Runs the simulator (ordered ``map``).
    callback : callable, optional
        ``callback(result)`` after each wave; `StopIteration` stops cleanly.
    problem : Problem, optional
        The problem ``func`` belongs to (checkpoints store it by reference).

    Notes
    -----
    Checkpointed after every wave given a ``checkpoint``
    (`pdaframe.io.checkpoint.Checkpoint`; ``pdaframe run`` with
    ``checkpoint_every``/``--resume``).
    """
    state = HistoryMatchState(func, lower, upper, z, var_obs, var_disc, cutoff, which,
                              n_design, n_candidates, max_waves, tol, seed, nugget, problem)
    return drive(state, executor, callback, checkpoint)


def history_match_problem(problem, var_disc=0.0, box_width=4.0, **options):
    """`history_match` of a Problem's stacked observations: ``z`` the valid observations,
    ``Var_obs`` the diagonal of R, the box the prior mean ± ``box_width`` prior standard
    deviations clipped to the bounds (`pdaframe.methods.emulation.gp.prior_box` with
    ``use_bounds=False``; for a uniform prior, its bounds)."""
    z = np.concatenate([s.observed for s in problem.streams])
    var_obs = np.concatenate([s.error.std.reshape(-1)[s.mask] ** 2
                              if s.error.std.size == s.values.size else s.error.std ** 2
                              for s in problem.streams])
    lo, up = prior_box(problem.prior, box_width, use_bounds=False)
    res = history_match(problem.observation_vector, lo, up, z, var_obs, var_disc,
                        problem=problem, **options)
    res["parameter_names"] = list(problem.prior.names)
    return res


def history_matching(problem, x0=None, callback=None, executor=None, seed=None, var_disc=0.0,
                     box_width=4.0, max_outputs=100, checkpoint=None,
                     **options) -> HistoryMatchResult:
    """`history_match_problem` as a registered method (``[method] name =
    "history-matching"``); options as `history_match` (``x0`` is not used).

    Every valid observation is an output with its own GP emulator, so a problem with more
    than ``max_outputs`` of them is refused: history-match aggregated streams (``aggregate =
    { period = "monthly" }`` in a stream: monthly means of a daily file) or a few chosen
    times instead.

    Parameters
    ----------
    problem, x0, callback, executor, seed
        As `history_match` (``x0`` is refused: the designs fill the box).
    var_disc : float
        Model-discrepancy variance ``Var_disc`` of every output (squared observation
        units), added to the observation-error and emulator variances.
    box_width : float
        The initial box: the prior mean ± ``box_width`` prior standard deviations, clipped
        to the bounds.
    max_outputs : int
        Most valid observations accepted (each is emulated by its own GP).
    **options
        `history_match`'s ``cutoff``, ``which``, ``n_design``, ``n_candidates``,
        ``max_waves``, ``tol``, ``nugget``.
    """
    if not hasattr(problem, "streams"):
        raise ConfigError("history-matching works on single-site problems only")
    if problem.n_obs > max_outputs:
        raise ConfigError(f"history-matching: {problem.n_obs} observations, each emulated by "
                          f"its own GP, exceed max_outputs = {max_outputs}; history-match "
                          f"aggregated streams (aggregate = {{ period = \"monthly\" }} in "
                          f"[[streams]]) or a few chosen times, or raise max_outputs")
    return history_match_problem(problem, var_disc, box_width, callback=callback,
                                 executor=executor, seed=seed, checkpoint=checkpoint,
                                 **options)


# the further options `HistoryMatchState` declares (`pdaframe.methods.contract`)
history_matching.option_sources = (HistoryMatchState,)
history_matching.uses_x0 = False               # the design fills the prior box
history_matching.option_docs = (history_match,)
history_matching.family = "emulation"
history_matching.result_kind = "analysis"      # of the emulation family, but no estimate

METHODS = {"history-matching": history_matching}
