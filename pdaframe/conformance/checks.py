"""The conformance checks of a model that are not derivative checks (those are in
`pdaframe.testing`): parameter table, outputs, time axis, units, determinism, failing runs.

Each check raises `AssertionError` with a message that names the parameter or output at
fault and what to change; `pdaframe.conformance.ModelConformance` runs them as pytest tests.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np

from ..errors import ModelError
from ..interfaces import declared_outputs
from ..observations.streams import DataStream
from ..prior.priors import GaussianPrior
from ..problem.single import Problem
from ..problem.twin import synthetic_streams


def _table(model):
    return tuple(getattr(model, "parameters", None) or ())


def default_theta(model) -> np.ndarray:
    """The model's default parameters (``model.defaults``, else its parameter table's)."""
    if getattr(model, "defaults", None) is not None:
        return np.array(model.defaults, dtype=float)
    if not _table(model):
        raise AssertionError(f"{model!r} has no parameter table (parameters) and no "
                             f"defaults: give the point of the checks (theta = [...])")
    return np.array([p.default for p in _table(model)], dtype=float)


def bounds(model, n) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` of the parameter table; infinite without a table."""
    table = _table(model)
    if len(table) != n:
        return np.full(n, -np.inf), np.full(n, np.inf)
    return (np.array([p.lower for p in table], dtype=float),
            np.array([p.upper for p in table], dtype=float))


def direction_scale(model, theta) -> np.ndarray:
    """Size of each parameter for the test directions: the table's prior ``std`` where
    it is a positive number, else ``max(|theta|, 1)``."""
    theta = np.asarray(theta, dtype=float)
    table = _table(model)
    std = np.array([p.std for p in table], dtype=float) if len(table) == theta.size \
        else np.full(theta.size, np.nan)
    return np.where(np.isfinite(std) & (std > 0), std, np.maximum(np.abs(theta), 1.0))


def check_parameter_table(model) -> None:
    """Names unique and as ``parameter_names``; defaults finite and inside the bounds;
    ``lower < upper``; ``std`` positive (or NaN: none given); units given."""
    table = _table(model)
    if not table:
        raise AssertionError(
            f"{model!r} has no parameter table: set parameters = (Parameter(name, default, "
            f"lower=, upper=, std=, units=), ...) (pdaframe.plugin.Parameter); users then get "
            f"its prior and bounds without restating them")
    names = [p.name for p in table]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise AssertionError(f"parameter table: name(s) {twice} appear more than once")
    if not (tuple(names) == tuple(model.parameter_names)):
        raise AssertionError(f"parameter table names {names} differ from parameter_names "
                             f"{list(model.parameter_names)}: derive one from the other")
    bad = []
    for p in table:
        where = f"parameter {p.name!r}"
        if not (isinstance(p.default, (int, float, np.number)) and math.isfinite(p.default)):
            bad.append(f"{where}: default {p.default!r} is not a finite number")
        elif not p.lower < p.upper:
            bad.append(f"{where}: lower bound {p.lower!r} is not below upper {p.upper!r}")
        elif not p.lower < p.default < p.upper:
            bad.append(f"{where}: default {p.default!r} is not inside its bounds "
                       f"({p.lower!r}, {p.upper!r}); move the default or the bound")
        if not (math.isnan(p.std) or (math.isfinite(p.std) and p.std > 0)):
            bad.append(f"{where}: std {p.std!r} must be positive (or NaN: none given)")
        if not (isinstance(p.units, str) and p.units.strip()):
            bad.append(f"{where}: no units (give units=..., '1' when dimensionless)")
    if bad:
        raise AssertionError("parameter table:\n  " + "\n  ".join(bad))


def check_outputs(model, theta) -> dict:
    """One run at ``theta``: a mapping of output name -> numeric array with a leading time
    axis, every value finite, only declared outputs. Returns the outputs (copies)."""
    outputs = model.run(np.array(theta, dtype=float))
    if not (isinstance(outputs, Mapping) and outputs):
        raise AssertionError(f"run returned {type(outputs).__name__}: it must return a dict "
                             f"{{output name: array whose first axis is time}} with at least "
                             f"one output")
    out, bad = {}, []
    for name, value in outputs.items():
        arr = np.array(value)
        if not isinstance(name, str):
            bad.append(f"output {name!r}: the name must be a str")
            continue
        if arr.dtype.kind not in "fiu" or arr.ndim == 0 or arr.size == 0:
            bad.append(f"output {name!r}: {arr.dtype} array of shape {arr.shape}; expected "
                       f"a non-empty float array whose first axis is time")
            continue
        rows = arr.reshape(arr.shape[0], -1)
        finite = np.isfinite(rows)
        if not finite.all():
            step = int(np.flatnonzero(~finite.all(axis=1))[0])
            value = float(rows[step][~finite[step]][0])
            bad.append(f"output {name!r}: not finite at time index {step} ({value!r}); a run "
                       f"that cannot give finite values must raise ModelError naming the cause")
        out[name] = arr.astype(float)
    declared = declared_outputs(model)
    if declared is not None:
        extra = sorted(set(out) - set(declared))
        if extra:
            bad.append(f"output(s) {extra} are not declared (output_units / output_names "
                       f"list {sorted(declared)}): declare every output")
    if bad:
        raise AssertionError("outputs at theta:\n  " + "\n  ".join(bad))
    return out


def check_time_axis(model, outputs) -> None:
    """Every output's first axis is the time axis: ``model.time`` (or ``n_steps``) has that
    length and ``time`` increases; without either, the outputs share one first-axis length
    and a `UserWarning` says that observation files can then give only step indices."""
    time = getattr(model, "time", None)
    n = len(time) if time is not None else getattr(model, "n_steps", None)
    if n is None:
        lengths = {k: v.shape[0] for k, v in outputs.items()}
        n = max(lengths.values(), key=list(lengths.values()).count)
        warnings.warn(f"{model!r} has no time axis attribute ('time': datetime64 dates or "
                      f"numbers, one per step; or 'n_steps'): observation files can give "
                      f"only step indices, not dates", UserWarning, stacklevel=2)
    if time is not None:
        t = np.asarray(time)
        if not (t.ndim == 1 and t.dtype.kind in "Mfiu"):
            raise AssertionError(f"model.time is a {t.dtype} array of shape {t.shape}: "
                                 f"expected one datetime64 date (or number) per step")
        if not (t.size < 2 or np.all(np.diff(t) > np.zeros((), np.diff(t).dtype))):
            raise AssertionError("model.time must increase strictly (one entry per step, in "
                                 "order)")
    bad = [f"output {k!r}: first axis {v.shape[0]}" for k, v in outputs.items()
           if v.shape[0] != n]
    if bad:
        raise AssertionError(f"the time axis has {n} steps but " + "; ".join(bad) +
                             ": the first axis of every output is time")


def check_output_units(model, outputs) -> None:
    """Every output has units in ``model.output_units`` (a non-empty string)."""
    units = getattr(model, "output_units", None) or {}
    bad = sorted(k for k in outputs
                 if not (isinstance(units.get(k), str) and units.get(k).strip()))
    if bad:
        raise AssertionError(f"output(s) {bad} have no units: set output_units = {{output: "
                             f"'units', ...}} ('1' when dimensionless); results write them")


def check_determinism(model, theta, other) -> None:
    """Runs at ``theta``, ``other``, ``theta``: the two runs at ``theta`` are identical,
    ``theta`` is not modified, and the run at ``other`` does not change the arrays the
    first run returned."""
    theta = np.array(theta, dtype=float)
    given = theta.copy()
    first = model.run(given)
    kept = {k: np.array(v, dtype=float) for k, v in first.items()}
    if not np.array_equal(given, theta, equal_nan=True):
        raise AssertionError("run modified the theta it was given: work on a copy "
                             "(np.array(theta, dtype=float))")
    bad = []
    try:
        model.run(np.array(other, dtype=float))
    except ModelError:
        pass
    else:
        bad += [f"output {k!r}: a run at another theta changed the arrays an earlier run "
                f"returned: return new arrays (or copies), not a reused buffer"
                for k, v in kept.items()
                if not np.array_equal(np.asarray(first[k], dtype=float), v, equal_nan=True)]
    again = model.run(theta.copy())
    for k, v in kept.items():
        now = np.asarray(again[k], dtype=float) if k in again else None
        if now is None or now.shape != v.shape:
            bad.append(f"output {k!r}: missing or reshaped in a second run at the same theta")
        elif not np.array_equal(now, v, equal_nan=True):
            bad.append(f"output {k!r}: two runs at the same theta differ (max |difference| "
                       f"{np.nanmax(np.abs(now - v)):.3e}); a model must be deterministic: "
                       f"seed any randomness from its options, and carry no state from one "
                       f"run to the next (e.g. a cache keyed on something other than theta)")
    if bad:
        raise AssertionError("determinism:\n  " + "\n  ".join(bad))


def probes(model, theta) -> list[tuple[str, np.ndarray]]:
    """``(description, theta)`` of the runs `check_failing_runs` makes: each parameter
    below its lower and above its upper bound (by the bounds' width, or 1) and NaN, and
    a theta one value short."""
    theta = np.asarray(theta, dtype=float)
    lower, upper = bounds(model, theta.size)
    names = list(getattr(model, "parameter_names", [f"theta[{i}]" for i in
                                                     range(theta.size)]))
    out = []
    for i, name in enumerate(names):
        width = upper[i] - lower[i] if np.isfinite(upper[i] - lower[i]) else 1.0
        cases = [(lower[i] - width, f"below its lower bound {lower[i]:g}"),
                 (upper[i] + width, f"above its upper bound {upper[i]:g}"),
                 (np.nan, "not a number")]
        for value, why in cases:
            if np.isfinite(value) or np.isnan(value):
                t = theta.copy()
                t[i] = value
                out.append((f"parameter {name!r} = {float(value)!r} ({why})", t))
    out.append((f"theta with {theta.size - 1} values instead of {theta.size}", theta[:-1]))
    return out


def check_failing_runs(model, theta) -> None:
    """Every run of `probes` returns outputs or raises `ModelError`, never another error."""
    bad = []
    for what, t in probes(model, theta):
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                model.run(t)
        except ModelError:
            continue
        except Exception as err:             # noqa: BLE001 - any other error is the finding
            bad.append(f"{what}: {type(err).__name__}: {err}")
    if bad:
        raise AssertionError(
            "runs that fail must raise pdaframe.plugin.ModelError(message, theta) naming the "
            "parameter (a minimiser or sampler then rejects the point and goes on); these raised "
            "something else, which stops the whole run:\n  " + "\n  ".join(bad))


def twin_problem(model, theta, scale, seed) -> Problem:
    """A twin `Problem` over every output: observations of the run at ``theta`` plus noise
    (σ 5 % of each output's RMS), a Gaussian prior with the table's bounds and defaults
    (``theta`` without a table) and σ ``scale``."""
    theta = np.asarray(theta, dtype=float)
    outputs = model.run(theta.copy())
    lower, upper = bounds(model, theta.size)
    mean = default_theta(model) if _table(model) or getattr(model, "defaults", None) \
        is not None else theta
    prior = GaussianPrior(mean, std=scale, lower=lower, upper=upper,
                          names=list(model.parameter_names))
    streams = []
    for name in sorted(outputs):
        values = np.asarray(outputs[name], dtype=float).reshape(-1)
        rms = float(np.sqrt(np.mean(values ** 2)))
        streams.append(DataStream(name, name, values, std=0.05 * rms if rms > 0 else 1.0))
    return Problem(model, prior, synthetic_streams(model, theta, streams, seed))
