"""The prior predictive check: do the observations lie where the prior says they may?

Before a calibration is spent, ``pdaframe check --prior-predictive CONFIG`` draws ``N``
parameter vectors from the prior (seeded by the config's seed), runs them as an ensemble
(`pdaframe.parallel`: serial, or spread over MPI ranks) and adds to every member's model
equivalents a draw of each stream's observation error (its ``std`` or full R, without the
stream ``weight``, which tunes the cost, not the data). Per observation the 5, 25, 50, 75
and 95 % quantiles of these members are the prior predictive bands; per stream the report
gives the fraction of observations inside the 90 % band (5-95 %) and the 50 % band
(25-75 %), and lists those outside the 90 % band (time, value, band). A stream whose 90 %
band covers less than ``flag_below`` (default one half) of its observations is flagged:
its data and the prior disagree (units, sign convention, an offset, a prior far off), and a
calibration would be spent fitting that.

Members whose run fails (a `ModelError`) are left out and counted. Missing observations
(NaN, fill values) are not counted.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelError, check_int
from ..io.atomic import atomic_path
from ..parallel import Failed, SerialExecutor, with_members

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
FLAG_BELOW = 0.5
NOISE_KEY = 2 ** 31            # spawn key of the noise draws (members use their index)


@dataclass
class StreamCheck:
    """One stream's prior predictive check.

    Attributes
    ----------
    name : str
    index : ndarray of int
        Model time index of each valid observation.
    dates : ndarray or None
        Their dates, when the model has a date axis (``model.time``).
    values : ndarray
        The valid observations.
    bands : ndarray, shape (n, 5)
        Their predictive quantiles `QUANTILES`.
    flagged : bool
        The 90 % band covers less than ``flag_below`` of the observations.
    """

    name: str
    index: np.ndarray
    dates: np.ndarray | None
    values: np.ndarray
    bands: np.ndarray
    flagged: bool = False

    @property
    def inside_90(self) -> np.ndarray:
        return (self.values >= self.bands[:, 0]) & (self.values <= self.bands[:, 4])

    @property
    def inside_50(self) -> np.ndarray:
        return (self.values >= self.bands[:, 1]) & (self.values <= self.bands[:, 3])

    @property
    def coverage_90(self) -> float:
        return float(self.inside_90.mean())

    @property
    def coverage_50(self) -> float:
        return float(self.inside_50.mean())

    def time_text(self, i) -> str:
        return str(self.dates[i]) if self.dates is not None else str(int(self.index[i]))


@dataclass
class PriorPredictive:
    """The check of every stream, the number of members run and of those that failed."""

    streams: list
    n_members: int
    n_failed: int
    seed: int
    first_failure: str | None = None
    paths: dict = field(default_factory=dict)

    def summary(self, max_listed=5) -> str:
        """Per stream the coverages and the first ``max_listed`` observations outside the
        90 % band; flagged streams marked."""
        lines = [f"prior predictive check: {self.n_members - self.n_failed} of "
                 f"{self.n_members} prior members ran (seed {self.seed})" +
                 (f"; first failure: {self.first_failure}" if self.n_failed else "")]
        for s in self.streams:
            outside = np.flatnonzero(~s.inside_90)
            lines.append(f"  stream {s.name!r}: {s.values.size} observations; inside the "
                         f"90 % band {s.coverage_90:.1%}, the 50 % band {s.coverage_50:.1%}; "
                         f"{outside.size} outside the 90 % band" +
                         ("  <- FLAGGED: data and prior disagree" if s.flagged else ""))
            for i in outside[:max_listed]:
                lines.append(f"      {s.time_text(i)}: {s.values[i]:.6g} outside "
                             f"[{s.bands[i, 0]:.6g}, {s.bands[i, 4]:.6g}]")
            if outside.size > max_listed:
                lines.append(f"      ... {outside.size - max_listed} more (see the CSV)")
        return "\n".join(lines)


def prior_predictive(problem, n_members=200, seed=0, executor=None,
                     flag_below=FLAG_BELOW) -> PriorPredictive:
    """Run the prior predictive check of ``problem``.

    Parameters
    ----------
    problem : Problem or MultiSiteProblem
        With its observations (a twin's synthetic ones).
    n_members : int
        Prior draws (at least 10).
    seed : int
        Seeds the draws (parameters: ``SeedSequence(seed)``; observation errors: a stream
        of their own), so the check is the same on any number of MPI ranks.
    executor : object with ``map``, optional
        Runs the members (`pdaframe.parallel.get_executor`'s by default).
    flag_below : float
        Flag a stream whose 90 % band covers a smaller fraction of its observations.

    Raises
    ------
    ModelError
        When fewer than 10 members ran.
    """
    n_members = check_members(n_members)
    if not 0 <= flag_below <= 1:
        raise ConfigError(f"flag_below must lie in [0, 1], got {flag_below}")
    if hasattr(problem, "site_problems"):    # sites one after another inside each member
        problem.executor = SerialExecutor()
    thetas = problem.prior.sample(n_members, np.random.default_rng(np.random.SeedSequence(seed)))
    results = with_members(executor, seed).map(problem.equivalents, list(thetas))
    ok = [r for r in results if not isinstance(r, Failed)]
    failures = [r for r in results if isinstance(r, Failed)]
    if len(ok) < 10:
        raise ModelError(f"prior predictive check: only {len(ok)} of {n_members} prior members "
                         f"ran (at least 10 needed); first failure: "
                         f"{failures[0].error if failures else '-'}")
    checks = []
    for k, s in enumerate(problem.streams):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(NOISE_KEY, k)))
        members = np.array([r[s.name][s.mask] for r in ok])
        members += np.array([s.error.sample(rng) for _ in ok])
        bands = np.quantile(members, QUANTILES, axis=0).T
        index = (np.arange(s.mask.size) if s.times is None else np.asarray(s.times))[s.mask]
        dates = _dates(getattr(_model_of(problem, s), "time", None), index)
        check = StreamCheck(s.name, index, dates, s.values[s.mask], bands)
        check.flagged = check.coverage_90 < flag_below
        checks.append(check)
    return PriorPredictive(checks, n_members, len(failures), int(seed),
                           failures[0].error if failures else None)


def check_members(n_members) -> int:
    """``n_members`` as an int of at least 10, or a `ConfigError` (before any run)."""
    return check_int(n_members, "--members", 10, "for the 5 % and 95 % quantiles")


def _model_of(problem, stream):
    """The model whose run ``stream`` observes (its site's in a multi-site problem)."""
    if hasattr(problem, "site_problems") and getattr(stream, "site", None) is not None:
        return problem.site_problems[problem.site(stream.site)].model
    return getattr(problem, "model", None)


def _dates(axis, index):
    """The dates of ``index`` on the model's date axis, or None without one."""
    if axis is None:
        return None
    axis = np.asarray(axis)
    if axis.dtype.kind != "M" or index.dtype.kind not in "iu" or \
            (index.size and index.max() >= axis.size):
        return None
    return axis[index].astype("datetime64[D]")


def write_prior_predictive(check, folder) -> dict:
    """``prior_predictive.csv`` (one row per observation) and ``prior_predictive.nc`` (the
    same plus per-stream coverages and flags) in ``folder``, each written atomically."""
    folder = Path(folder)
    names = [f"q{round(q * 100):02d}" for q in QUANTILES]
    rows = [{"stream": s.name, "index": int(s.index[i]), "time": s.time_text(i),
             "value": repr(float(s.values[i])),
             **{n: repr(float(s.bands[i, j])) for j, n in enumerate(names)},
             "inside_90": bool(s.inside_90[i]), "inside_50": bool(s.inside_50[i])}
            for s in check.streams for i in range(s.values.size)]
    csv_path = folder / "prior_predictive.csv"
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    import xarray as xr
    cat = np.concatenate
    ds = xr.Dataset(
        {"stream": ("obs", np.array([s.name for s in check.streams for _ in s.values],
                                    dtype=object)),
         "time_index": ("obs", cat([s.index for s in check.streams]).astype(np.int64)),
         "value": ("obs", cat([s.values for s in check.streams])),
         "band": (("obs", "quantile"), cat([s.bands for s in check.streams])),
         "inside_90": ("obs", cat([s.inside_90 for s in check.streams]).astype(np.int8)),
         "inside_50": ("obs", cat([s.inside_50 for s in check.streams]).astype(np.int8)),
         "coverage_90": ("stream_name", [s.coverage_90 for s in check.streams]),
         "coverage_50": ("stream_name", [s.coverage_50 for s in check.streams]),
         "flagged": ("stream_name", np.array([s.flagged for s in check.streams], np.int8))},
        coords={"quantile": list(QUANTILES),
                "stream_name": np.array([s.name for s in check.streams], dtype=object)},
        attrs={"title": "prior predictive check", "n_members": check.n_members,
               "n_failed": check.n_failed, "seed": check.seed})
    ds["band"].attrs["long_name"] = ("quantiles of the prior predictive (model equivalents "
                                     "of prior draws plus observation error)")
    nc_path = folder / "prior_predictive.nc"
    with atomic_path(nc_path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4")
    check.paths = {"prior_predictive_table": csv_path, "prior_predictive": nc_path}
    return check.paths

