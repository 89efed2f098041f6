"""Emulated spin-up: a regression from DALEC2's rate parameters to its spun-up pools.

Spin-up by cycling the drivers (`pdaframe_dalec2.spinup.SpinUp`) costs tens to hundreds of
cycles per run. Following Sun et al. (2023, bagged trees for ORCHIDEE's spin-up), a
regression learns the log of the six spun-up pools from the log of the 17 rate parameters
over a design of full cycling spin-ups: a least-squares log-log trend (steady pools are
close to products of powers of the rates: input flux over turnover) plus an extremely
randomised tree ensemble (scikit-learn ``ExtraTreesRegressor``) on its residuals. Trees
alone cannot follow the smooth 17-dimensional trend from a few hundred runs (on US-Me2
2004-2005 their start saved 23 % of the cycles, the trend plus trees 42 %;
``benchmarks/spinup_emulation.py``). Designs whose ecosystem collapses (a spun-up pool
below `COLLAPSED`) are left out of the fit (`train_spinup_emulator`; the design points
come from
`pdaframe.methods.emulation.gp.design`, LHS or Sobol). `EmulatedSpinUp` (``spinup =
"cycle"``, ``spinup_start_file = "emulated.npz"``) starts the cycling from the predicted pools,
so it stops after fewer cycles at the same test (every pool changing by less than
``spinup_tol`` per cycle); it is not a replacement: the cycling still decides the pools.

The trees are stored in an ``.npz`` as plain arrays (no pickle), with the parameter names,
the design box, a SHA-256 of the drivers they were trained on and the design's spin-up
record, and predicted in numpy (the same comparisons as scikit-learn, float32 features).
"""
from __future__ import annotations

import hashlib
import logging
import time
import warnings
from pathlib import Path

import numpy as np

from pdaframe.plugin import ConfigError, ModelError, read_npz, write_npz

from .spinup import N_RATES, SpinUp

log = logging.getLogger(__name__)

FORMAT = "pdaframe-dalec2-spinup-emulator-1"
COLLAPSED = 1.0              # g C m-2: a spun-up pool below it is a collapsed ecosystem
WARN_OUTSIDE = 0.05          # distance beyond the design box (fraction of its width) that warns
_DRIVER_FIELDS = ("doy", "elapsed", "t_min", "t_max", "t_mean", "sw", "dt")


def drivers_sha256(model) -> str:
    """SHA-256 of a model's drivers (values, latitude, variant and switches)."""
    d = model.drivers
    h = hashlib.sha256()
    for name in _DRIVER_FIELDS:
        h.update(np.ascontiguousarray(getattr(d, name), dtype=float).tobytes())
    if d.co2 is not None:
        h.update(np.ascontiguousarray(d.co2, dtype=float).tobytes())
    h.update(repr((float(d.latitude), model.variant, sorted(model.switches.items()))).encode())
    return h.hexdigest()


class SpinupEmulator:
    """``log pools = [1, log rates] @ trend + trees(log rates)`` in numpy arrays.

    Parameters
    ----------
    arrays : dict
        ``trend`` (18, 6): the least-squares log-log fit; the trees of its residuals:
        ``left``, ``right`` (child node indices, -1 at leaves), ``feature``, ``threshold``,
        ``value`` (n_nodes, 6), ``roots`` (first node of each tree); ``lower``/``upper``
        (design box of the rates), ``names`` (parameter names).
    info : dict
        ``drivers_sha256`` and the design record (``n_design``, ``mean_cycles``, ...).
    """

    def __init__(self, arrays, info):
        self.a = {k: np.asarray(v) for k, v in arrays.items()}
        self.info = dict(info)
        self.names = tuple(str(n) for n in self.a["names"])

    @classmethod
    def fit(cls, rates, pools, names, n_trees=100, seed=0, info=None) -> "SpinupEmulator":
        """Fit the log-log trend and ``ExtraTreesRegressor`` to its residuals; keep both as
        arrays (every pool of ``pools`` must be positive)."""
        from sklearn.ensemble import ExtraTreesRegressor
        x = np.log(np.asarray(rates, dtype=float))
        y = np.log(np.asarray(pools, dtype=float))
        a = np.c_[np.ones(len(x)), x]
        trend = np.linalg.lstsq(a, y, rcond=None)[0]                 # (18, 6)
        forest = ExtraTreesRegressor(n_estimators=int(n_trees), random_state=int(seed),
                                     max_features=0.5).fit(x, y - a @ trend)
        parts, offset, roots = [], 0, []
        for est in forest.estimators_:
            t = est.tree_
            shift = lambda c: np.where(c < 0, -1, c + offset)     # noqa: E731
            parts.append((shift(t.children_left), shift(t.children_right), t.feature,
                          t.threshold, t.value.reshape(t.node_count, -1)))
            roots.append(offset)
            offset += t.node_count
        arrays = {k: np.concatenate([p[j] for p in parts]) for j, k in
                  enumerate(("left", "right", "feature", "threshold", "value"))}
        arrays.update(roots=np.array(roots), trend=trend, lower=np.exp(x.min(axis=0)),
                      upper=np.exp(x.max(axis=0)), names=np.array(names, dtype=str))
        emu = cls(arrays, info or {})
        emu.forest = forest                                   # for the equality test only
        return emu

    def predict(self, rates) -> np.ndarray:
        """Spun-up pools for rate vectors ``rates`` (n, 17) or (17,); shape (n, 6) or (6,)."""
        r = np.asarray(rates, dtype=float)
        x = np.log(np.atleast_2d(r))
        return (np.exp(np.c_[np.ones(len(x)), x] @ self.a["trend"] + self.residual(x))
                [0 if r.ndim == 1 else slice(None)])

    def residual(self, x) -> np.ndarray:
        """The trees' mean prediction at log rates ``x`` (n, 17); shape (n, 6).

        All trees descend together (one numpy step per level, not per tree and level).
        """
        x = x.astype(np.float32)                     # the features scikit-learn compares
        a = self.a
        node = np.broadcast_to(a["roots"], (x.shape[0], a["roots"].size)).copy()
        rows = np.arange(x.shape[0])[:, None]
        while True:
            left = a["left"][node]
            inner = left >= 0
            if not inner.any():
                break
            go_left = x[rows, np.maximum(a["feature"][node], 0)] <= a["threshold"][node]
            node = np.where(inner, np.where(go_left, left, a["right"][node]), node)
        return a["value"][node].mean(axis=1)

    def outside(self, rates) -> float:
        """Largest distance of ``rates`` beyond the design box, as a fraction of its width."""
        lo, up = self.a["lower"], self.a["upper"]
        r = np.asarray(rates, dtype=float)
        return float(((np.maximum(lo - r, 0) + np.maximum(r - up, 0)) / (up - lo)).max())

    def save(self, path) -> Path:
        """Write to ``path`` (``.npz``, no pickled objects; whole or none)."""
        info = {f"info_{k}": np.array(v) for k, v in self.info.items()}
        return write_npz(path, FORMAT, {**self.a, **info})

    @classmethod
    def load(cls, path) -> "SpinupEmulator":
        """Read a file written by `save` (a `DataError` naming it otherwise)."""
        d = read_npz(path, FORMAT, "a DALEC2 spin-up emulator file (spinup_start_file)")
        info = {k[5:]: d.pop(k).item() for k in list(d) if k.startswith("info_")}
        return cls(d, info)


def train_spinup_emulator(spinup, design, n_trees=100, seed=0) -> SpinupEmulator:
    """Spin up DALEC2 at every design point and fit the emulator to the pools.

    Parameters
    ----------
    spinup : SpinUp
        The cycling spin-up (its drivers, ``tol`` and ``max_cycles``).
    design : array_like, shape (n, 23) or (n, 17)
        Parameter points (rates first; initial pools, if given, are the cycling's start,
        else the defaults), e.g. from `pdaframe.methods.emulation.gp.design`.
    n_trees, seed : int
        Size and seed of the ensemble.

    Returns
    -------
    SpinupEmulator
        ``info``: ``drivers_sha256``, ``n_design`` (points used), ``n_collapsed`` (points
        whose spun-up ecosystem collapsed: a pool below `COLLAPSED`, left out),
        ``n_failed`` (spin-ups that did not converge, left out), ``mean_cycles``,
        ``spinup_tol``, ``train_seconds``.
    """
    design = np.atleast_2d(np.asarray(design, dtype=float))
    defaults = np.array([p.default for p in spinup.parameters])
    if design.shape[1] == N_RATES:
        design = np.hstack([design, np.tile(defaults[N_RATES:], (design.shape[0], 1))])
    if design.shape[1] != defaults.size:
        raise ConfigError(f"spin-up emulator design: {design.shape[1]} columns, expected "
                          f"{N_RATES} rates or all {defaults.size} parameters")
    if not np.all(design[:, :N_RATES] > 0):
        raise ConfigError("spin-up emulator design: the rates must be positive (the "
                          "regression is on their logarithms)")
    t0, rates, pools, cycles, collapsed = time.perf_counter(), [], [], [], 0
    for theta in design:
        try:
            end = spinup.spun_up(theta)[N_RATES:]
        except ModelError:
            continue
        if end.min() < COLLAPSED:
            collapsed += 1
            continue
        pools.append(end)
        rates.append(theta[:N_RATES])
        cycles.append(spinup.cycles)
    if len(rates) < 10:
        raise ModelError(f"spin-up emulator: only {len(rates)} of {design.shape[0]} design "
                         f"spin-ups converged to a viable ecosystem (10 needed); narrow the "
                         f"design box")
    info = {"drivers_sha256": drivers_sha256(spinup.model), "n_design": len(rates),
            "n_collapsed": collapsed, "n_failed": design.shape[0] - len(rates) - collapsed,
            "mean_cycles": float(np.mean(cycles)),
            "spinup_tol": spinup.tol, "train_seconds": time.perf_counter() - t0}
    names = [p.name for p in spinup.parameters][:N_RATES]
    return SpinupEmulator.fit(rates, pools, names, n_trees=n_trees, seed=seed, info=info)


class EmulatedSpinUp(SpinUp):
    """`SpinUp` whose cycling starts from the emulator's pools for theta's rates.

    Parameters
    ----------
    model : Dalec2
    emulator : SpinupEmulator or path
        Trained on the same drivers, variant and switches (checked by their SHA-256).
    tol, max_cycles, derivatives
        As `SpinUp`.
    """

    def __init__(self, model, emulator, tol=1e-4, max_cycles=2000, derivatives="fd"):
        super().__init__(model, tol, max_cycles, derivatives)
        source = emulator
        if not isinstance(emulator, SpinupEmulator):
            emulator = SpinupEmulator.load(emulator)
        names = [p.name for p in model.parameters][:N_RATES]
        if list(emulator.names) != names:
            raise ConfigError(f"dalec2: spinup_start_file {source}: trained on parameters "
                              f"{list(emulator.names)}, the model's rates are {names}")
        if emulator.info.get("drivers_sha256") != drivers_sha256(model):
            raise ConfigError(f"dalec2: spinup_start_file {source}: trained on other drivers "
                              f"(or variant/switches) than this model's "
                              f"({model.drivers.site or model.drivers.source}); train it on "
                              f"these drivers")
        self.emulator, self._warned = emulator, WARN_OUTSIDE

    def spun_up(self, theta) -> np.ndarray:
        theta = np.array(theta, dtype=float)
        dist = self.emulator.outside(theta[:N_RATES])
        if dist > self._warned:
            self._warned = dist
            warnings.warn(f"dalec2 spin-up emulator: rates {dist:.3g} of the design box "
                          f"width outside it; the start may be poor (the cycling still "
                          f"converges)", stacklevel=2)
        theta[N_RATES:] = self.emulator.predict(theta[:N_RATES])
        return super().spun_up(theta)

