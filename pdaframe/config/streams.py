"""The ``[[streams]]`` (and ``[[evaluate]]``, ``[[sites.streams]]``) tables of a config:
a `DataStream` from a CSV file (time, value and std columns; dates matched to the model's
time axis, start/end windows, index bases), from a registered reader (``reader = "fluxnet"``
with ``reader_options``) or from twin ``times``, with its operator; then optionally thinned
(``thin``) or super-obbed (``superob``), both recorded in the stream's ``attrs`` (written
with the stream in the NetCDF results).

Errors go through the config's `pdaframe.config.loader._Where` (``w``), so they name the file and
the table.
"""
from __future__ import annotations

import json

import numpy as np

from ..errors import DataError, PluginError, check_memory
from ..io.output import netcdf_name_problem
from ..tables import read_columns
from ..observations.readers.common import canonical_units
from ..observations.streams import DataStream
from ..plugins import registry
from .toml_file import resolve_paths

STREAM_KEYS = {"name", "variable", "file", "time_column", "value_column", "std",
               "std_column", "covariance", "fill_value", "weight", "operator",
               "operator_options", "times", "units", "start", "end", "index_base",
               "correlation_length", "model_error_std", "aggregate", "reader",
               "reader_options", "thin", "superob", "likelihood", "likelihood_options"}
AGGREGATE_KEYS = {"period", "windows", "statistic", "min_fraction", "sums"}
SUPEROB_KEYS = {"period", "floor", "min_count"}
OBS_BYTES = 128     # per observation: times, values, errors, mask, operator index and the
                    # cost's work vectors (~16 float64); a 10**8 'times' range used 4.1 GB
                    # before the first model run


def stream_from_table(w, tab, i, base, twin, model, table="streams"):
    """The `DataStream` of table ``i`` of ``[[table]]`` (``tab``); files relative to
    ``base``; ``twin``: values may be left out (a twin fills them)."""
    where = f"{table}.{i}"
    if not isinstance(tab, dict):
        raise w.error(where, "must be a table")
    w.keys(tab, STREAM_KEYS, where)
    name = w.get(tab, "name", (str,), where)
    bad = netcdf_name_problem(name)
    if bad:
        raise w.error(where, f"stream name {name!r} cannot name variables in the NetCDF "
                             f"results ({bad}); use letters, digits and _ ('/' separates "
                             f"NetCDF groups)")
    where = f"{table}.{i}] [{name}"
    variable = w.get(tab, "variable", (str,), where)
    times, values, std, attrs = None, None, None, {}
    if "reader" in tab or "reader_options" in tab:
        times, values, std, n_outside, attrs = from_reader(w, where, tab, base, model)
    elif "file" in tab:
        file = base / w.get(tab, "file", (str,), where)
        tcol = w.get(tab, "time_column", (str,), where, "time")
        vcol = w.get(tab, "value_column", (str,), where, variable)
        scol = w.get(tab, "std_column", (str,), where, None)
        cols = w.wrap(where, lambda: read_columns(file, [tcol, vcol] + ([scol] if scol else []),
                                                   text=[tcol], line_numbers=True))
        window = [w.get(tab, k, (str, int), where, None) for k in ("start", "end")]
        base_index = w.get(tab, "index_base", (int,), where, 0)
        keep, times = time_index(w, where, file, tcol, cols[tcol], model, *window,
                                  base=base_index)
        values = cols[vcol][keep]
        std = cols[scol][keep] if scol else None
        n_outside = int((~keep).sum())
    elif "times" in tab:
        times, n_outside = times_from_spec(w, tab["times"], where), 0
        if not twin:
            raise w.error(where, "observations need a 'file' (only a [twin] can make them)")
        values = np.zeros(times.size)
    else:
        raise w.error(where, "give a 'file' with the observations, or 'times' in a twin")
    if "std" in tab:
        if std is not None and "reader" in tab:     # the stream's std replaces the reader's
            std = None
            attrs["std"] = "the stream's 'std' replaces the reader's uncertainty"
        if std is not None:
            raise w.error(where, "give 'std' or 'std_column', not both")
        std = w.get(tab, "std", (float,), where)
    covariance = tab.get("covariance")
    if std is None and covariance is None:
        raise w.error(where, "observation errors missing: give 'std', 'std_column' or "
                             "'covariance'")
    length = w.get(tab, "correlation_length", (float,), where, None)
    fill = w.get(tab, "fill_value", (float,), where, None)
    weight = w.get(tab, "weight", (float,), where, 1.0)
    read_units = attrs.pop("units", "")
    units = w.get(tab, "units", (str,), where, read_units)
    if read_units and canonical_units(units) != read_units:
        raise w.error(where, f"'units' = {units!r} but the reader gives {read_units!r}; "
                             f"convert with reader_options.units = {units!r}")
    model_error_std = w.get(tab, "model_error_std", (float,), where, None)
    if "file" in tab and "reader" not in tab:     # one value per time (readers ensure it)
        once = w.wrap(where, lambda: single_times(
            file, cols[tcol][keep], cols["#line"][keep], times, values, std, fill))
        times, values = times[once], values[once]
        std = std[once] if np.ndim(std) else std
    if "thin" in tab:
        values, std, times = thinned(w, where, tab, values, std, times, model, fill, attrs)
    if "superob" in tab:
        values, std, times, operator = superobs(w, where, tab, variable, values, std, times,
                                                model, fill, attrs)
        fill = None
    elif "aggregate" in tab:
        values, std, times, operator = aggregated(w, where, tab, variable, values, std, times,
                                                  model, fill)
        fill = None
    else:
        op_name = w.get(tab, "operator", (str,), where,
                        "select" if times is not None else "identity")
        op_opts = resolve_paths(w.get(tab, "operator_options", (dict,), where, {}), base)
        operator = w.wrap(where, lambda: registry("operator").get(op_name)(
            variable=variable, times=None if times is None else times.astype(int), **op_opts))
    stream = w.wrap(where, lambda: DataStream(
        name, variable, values, times=None if times is None else times.astype(int), std=std,
        covariance=covariance, fill_value=fill, weight=weight, operator=operator, units=units,
        correlation=None if length is None else {"kind": "exponential", "length": length},
        model_error_std=model_error_std))
    stream.n_outside = n_outside
    stream.attrs = attrs
    if "likelihood" in tab or "likelihood_options" in tab:
        stream.likelihood = stream_likelihood_from(w, where, tab, table, stream)
    return stream


def stream_likelihood_from(w, where, tab, table, stream):
    """The stream's ``likelihood`` with ``likelihood_options`` (fixed values, ``estimate``,
    ``priors``; `pdaframe.observations.likelihoods.make_likelihood`), checked against the
    stream (independent errors, regular times for ``ar1``) before any model run."""
    from ..observations.likelihoods import make_likelihood
    if table != "streams":
        kind = "evaluate" if table == "evaluate" else "sites.streams"
        raise w.error(where, f"'likelihood' is taken in [[streams]] only, not in [[{kind}]] "
                             f"(held-out and multi-site streams keep the Gaussian likelihood)")
    name = w.get(tab, "likelihood", (str,), where, "gaussian")
    options = w.get(tab, "likelihood_options", (dict,), where, {})
    lik = w.wrap(where, lambda: make_likelihood(name, options, f"stream {stream.name!r}"))
    w.wrap(where, lambda: lik.bind(stream))
    return lik


def from_reader(w, where, tab, base, model):
    """Times (model step indices), values, σ (or None), rows outside the run and the
    ``attrs`` (reader name, its record as JSON, units) of a ``reader = "..."`` stream."""
    from ..observations.readers import reader_options
    from ..plugins import registry
    if "reader" not in tab:
        raise w.error(where, "'reader_options' without 'reader'")
    if "file" not in tab:
        raise w.error(where, "'reader' reads a 'file': give 'file'")
    clash = sorted({"time_column", "value_column", "std_column", "fill_value",
                    "index_base"} & set(tab))
    if clash:
        raise w.error(where, f"a reader finds its own columns and missing values; remove "
                             f"{clash}")
    name = w.get(tab, "reader", (str,), where)
    options = w.get(tab, "reader_options", (dict,), where, {})
    try:
        reader = registry("reader").get(name)
    except PluginError as err:
        raise w.error(where, str(err)) from None
    file = base / w.get(tab, "file", (str,), where)
    w.wrap(where, lambda: reader_options(name, reader, options))
    got = w.wrap(where, lambda: reader(file, **options))
    window = [w.get(tab, k, (str, int), where, None) for k in ("start", "end")]
    keep, times = time_index(w, where, file, "dates", np.asarray(got.times).astype(str), model,
                             *window)
    record = dict(got.record, outside_run_or_window=int((~keep).sum()))
    attrs = {"reader": name, "reader_record": json.dumps(record), "units": got.units}
    std = None if got.std is None else np.asarray(got.std)[keep]
    return times, np.asarray(got.values)[keep], std, int((~keep).sum()), attrs


def _valid(values, fill):
    valid = np.isfinite(values)
    return valid if fill is None else valid & (values != fill)


def _spacing(w, where, value, model):
    """A spacing in model steps: an int, or ``"7D"`` (days) for a daily time axis."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    dates = getattr(model, "time", None)
    if isinstance(value, str) and value[:-1].isdigit() and value.endswith("D") \
            and int(value[:-1]) > 0 and dates is not None:
        d = np.asarray(dates, dtype="datetime64[D]")
        if d.size < 2 or np.all(np.diff(d) == np.timedelta64(1, "D")):
            return int(value[:-1])
        raise w.error(where, f"{value!r} needs daily model steps; give a number of steps")
    raise w.error(where, f"{value!r}: expected a number of model steps > 0 or 'ND' (days, "
                         f"daily models)")


def thinned(w, where, tab, values, std, times, model, fill, attrs):
    """``thin = {every = k}`` (every k-th valid observation) or ``{min_spacing = s}``
    (greedy in time: a valid observation at least ``s`` after the last one kept); missing
    values go too. Returns the kept values, σ and times; the rule goes into ``attrs``."""
    spec = tab["thin"]
    here = where + "] [thin"
    if not isinstance(spec, dict) or len(spec) != 1 or not {"every", "min_spacing"} & set(spec):
        raise w.error(where, f"'thin' must be {{every = k}} or {{min_spacing = \"7D\"}}, got "
                             f"{spec!r}")
    if times is None:
        raise w.error(where, "'thin' needs observation times")
    valid = np.flatnonzero(_valid(values, fill))
    if "every" in spec:
        k = w.get(spec, "every", (int,), here)
        if k < 1:
            raise w.error(here, f"'every' must be >= 1, got {k}")
        keep = valid[::k]
    else:
        gap = _spacing(w, here, spec["min_spacing"], model)
        keep, last = [], None
        for i in valid[np.argsort(times[valid], kind="stable")]:
            if last is None or times[i] - last >= gap:
                keep.append(i)
                last = times[i]
        keep = np.sort(np.array(keep, dtype=np.intp))
    attrs["thin"] = json.dumps({"rule": spec, "valid_before": int(valid.size),
                                "kept": int(keep.size)})
    std = std[keep] if np.ndim(std) else std
    return values[keep], std, times[keep]


def superobs(w, where, tab, variable, values, std, times, model, fill, attrs):
    """``superob = {period, floor, min_count}``: one super-observation per bin of model steps
    (``period``: 8-day, monthly, annual as in ``aggregate``, ``"ND"`` days or a number of
    steps): the mean of its valid observations with σ/√n (`TemporalAggregation.error_std`)
    but at least ``floor``; bins with fewer than ``min_count`` (default 1) observations are
    dropped (missing). The operator averages the model over the same steps."""
    spec = tab["superob"]
    here = where + "] [superob"
    if not isinstance(spec, dict):
        raise w.error(where, f"'superob' must be a table, got {spec!r}")
    w.keys(spec, SUPEROB_KEYS, here)
    clash = sorted({"aggregate", "operator", "operator_options", "covariance",
                    "correlation_length"} & set(tab))
    if clash:
        raise w.error(where, f"'superob' builds its own windows, operator and errors from "
                             f"independent errors; remove {clash}")
    period = w.get(spec, "period", (str, int), here)
    floor = w.get(spec, "floor", (float,), here, 0.0)
    min_count = w.get(spec, "min_count", (int,), here, 1)
    if floor < 0 or min_count < 1:
        raise w.error(here, f"need floor >= 0 and min_count >= 1, got {floor}, {min_count}")
    if std is None:
        raise w.error(where, "'superob' needs independent errors: 'std', 'std_column' or a "
                             "reader's uncertainty")
    n_steps = _n_steps(w, here, model)
    if period in ("8-day", "monthly", "annual"):
        period_opts = {"period": period}
    else:
        p = _spacing(w, here, period, model)
        period_opts = {"windows": np.r_[np.arange(0, n_steps, p), n_steps]}
    step, valid, step_std = _step_arrays(times, values, std, n_steps, fill)
    op = w.wrap(here, lambda: _aggregate_op(variable, model, n_steps, valid, period_opts))
    small = (op.n_valid_steps > 0) & (op.n_valid_steps < min_count)
    valid &= ~np.repeat(small, op.n_window)
    op = w.wrap(here, lambda: _aggregate_op(variable, model, n_steps, valid, period_opts))
    obs = op.aggregate(np.where(valid, step, 0.0))
    err = np.maximum(op.error_std(std=np.where(valid, step_std, 1.0)), floor)
    attrs["superob"] = json.dumps({"period": period, "floor": floor, "min_count": min_count,
                                   "observations_in": int(_valid(values, fill).sum()),
                                   "superobs": int(op.kept.sum()),
                                   "bins_below_min_count": int(small.sum())})
    return obs, np.where(op.kept, err, 1.0), op.edges[:-1].copy(), op


def _n_steps(w, where, model):
    dates = getattr(model, "time", None)
    n_steps = len(dates) if dates is not None else getattr(model, "n_steps", None)
    if n_steps is None:
        raise w.error(where, "the model has no time axis ('time' or 'n_steps') to place the "
                             "file's values on")
    return int(n_steps)


def _step_arrays(times, values, std, n_steps, fill):
    """Values, validity and σ on every model step (NaN / False / 1 where none)."""
    step = np.full(n_steps, np.nan)
    step[np.asarray(times, dtype=int)] = values
    if fill is not None:
        step[step == fill] = np.nan
    step_std = np.ones(n_steps)
    step_std[np.asarray(times, dtype=int)] = np.broadcast_to(std, np.shape(values))
    return step, np.isfinite(step), step_std


def _aggregate_op(variable, model, n_steps, valid, opts):
    from ..observations.operators import FACTORIES
    return FACTORIES["aggregate"](variable, dates=getattr(model, "time", None),
                                  n_steps=n_steps, valid=valid, min_fraction=1e-9, **opts)


def aggregated(w, where, tab, variable, values, std, times, model, fill=None):
    """``aggregate = { period | windows, statistic, min_fraction, sums }``: the file's step
    values averaged (or summed) over calendar or explicit windows of the model's steps.

    A step is valid where the file has a finite value (not ``fill_value``); a window keeps a
    value if at least ``min_fraction`` (0.8) of its steps are valid, else it is missing.
    Independent step errors (``std`` or ``std_column``) give each window's error
    (`TemporalAggregation.error_std`: ``σ/sqrt(n_valid)`` for a mean). Returns the window
    values, their errors, the windows' first steps and the operator.
    """
    from ..observations.operators import FACTORIES
    agg = tab["aggregate"]
    here = where + "] [aggregate"
    if not isinstance(agg, dict):
        raise w.error(where, f"'aggregate' must be a table, got {agg!r}")
    w.keys(agg, AGGREGATE_KEYS, here)
    if "file" not in tab:
        raise w.error(where, "'aggregate' averages a file's step values: give 'file'")
    clash = sorted({"operator", "operator_options", "covariance", "correlation_length"} &
                   set(tab))
    if clash:
        raise w.error(where, f"'aggregate' builds its own operator and window errors from "
                             f"independent step errors ('std' or 'std_column'); remove {clash}")
    n_steps = _n_steps(w, here, model)
    step, valid, step_std = _step_arrays(times, values, std, n_steps, fill)
    op = w.wrap(here, lambda: FACTORIES["aggregate"](
        variable, dates=getattr(model, "time", None), n_steps=n_steps, valid=valid, **agg))
    obs = op.aggregate(np.where(valid, step, 0.0))
    err = op.error_std(std=np.where(valid, step_std, 1.0))
    return obs, np.where(op.kept, err, 1.0), op.edges[:-1].copy(), op


def single_times(file, cells, lines, times, values, std=None, fill=None):
    """Rows to keep so that each model time has one observation.

    Two valid values (finite, not ``fill``) at one time are a `DataError` naming the file,
    the time and both lines when they differ (value or std); an exact repeat is kept once,
    with a warning. Missing values are left to the stream's mask.
    """
    import warnings
    if std is not None and np.ndim(std) == 0:
        std = None                  # one std for every row: rows differ by value only
    valid = np.isfinite(values)
    if fill is not None:
        valid &= values != fill
    keep = np.ones(times.size, dtype=bool)
    first = {}
    for i in np.flatnonzero(valid):
        j = first.setdefault(int(times[i]), i)
        if j == i:
            continue
        if values[i] != values[j] or (std is not None and std[i] != std[j]):
            shown = [f"line {lines[k]}: value {float(values[k])!r}" +
                     ("" if std is None else f", std {float(std[k])!r}") for k in (j, i)]
            raise DataError(f"{file}: time {cells[i]} appears twice with different values "
                            f"({'; '.join(shown)}); keep one row per time")
        keep[i] = False
        warnings.warn(f"{file}: line {lines[i]} repeats line {lines[j]} (time {cells[i]}, "
                      f"same value and error); it is used once", stacklevel=2)
    return keep


def time_index(w, where, file, column, cells, model, start=None, end=None, base=0):
    """Rows to keep and their model time indices, from integer indices or ISO dates.

    Integer indices count model steps from ``base`` (0 by default; 1 for files that number
    steps from 1); ``start``/``end`` are then in the file's numbering. Dates are matched to
    the model's time axis (``model.time``, datetime64). Rows outside the run period, or
    outside ``[start, end]``, are left out (and counted by the caller).
    """
    try:
        idx = np.array([int(c) for c in cells])
    except ValueError:
        idx = None
    if idx is not None:
        lo = -np.inf if start is None else int(start)
        hi = np.inf if end is None else int(end)
        keep = (idx >= lo) & (idx <= hi) & (idx >= base)
        n_steps = len(getattr(model, "time", ())) or None
        if n_steps is not None:
            keep &= idx - base < n_steps
        return keep, idx[keep] - base
    try:
        dates = np.array(cells, dtype="datetime64[D]")
        lo, hi = (None if v is None else np.datetime64(str(v), "D") for v in (start, end))
    except ValueError as err:
        raise w.error(where, f"{file}: column {column!r} (or start/end) must hold integer "
                             f"time indices or dates YYYY-MM-DD ({err})", DataError) from None
    axis = getattr(model, "time", None)
    if axis is None:
        raise w.error(where, f"{file}: column {column!r} holds dates but the model has no time "
                             f"axis (attribute 'time'); give integer time indices")
    axis = np.asarray(axis, dtype="datetime64[D]")
    keep = (dates >= axis[0]) & (dates <= axis[-1])
    if lo is not None:
        keep &= dates >= lo
    if hi is not None:
        keep &= dates <= hi
    if not keep.any():
        raise w.error(where, f"{file}: no row of column {column!r} falls in the run period "
                             f"{axis[0]} .. {axis[-1]}" + (f" and the window {lo} .. {hi}"
                                                           if lo or hi else ""), DataError)
    pos = np.searchsorted(axis, dates[keep])
    pos = np.minimum(pos, axis.size - 1)
    off = np.flatnonzero(axis[pos] != dates[keep])
    if off.size:
        raise w.error(where, f"{file}: date {dates[keep][off[0]]} in column {column!r} is not "
                             f"a model step date", DataError)
    return keep, pos


def times_from_spec(w, spec, where):
    """Model step indices of ``times = [..]`` or ``times = { start, stop, step }``."""
    if isinstance(spec, dict):
        w.keys(spec, {"start", "stop", "step"}, where + "] [times")
        start = w.get(spec, "start", (int,), where, 0)
        stop = w.get(spec, "stop", (int,), where)
        step = w.get(spec, "step", (int,), where, 1)
        if step <= 0 or stop <= start:
            raise w.error(where, f"'times' range needs stop > start and step > 0, got {spec}")
        n = -(-(stop - start) // step)
        w.wrap(where, lambda: check_memory(
            n * OBS_BYTES, getattr(w, "max_memory_gb", 8.0),
            f"'times' = {{ start = {start}, stop = {stop}, step = {step} }} ({n} observations)"))
        return np.arange(start, stop, step)
    if isinstance(spec, list) and spec and all(isinstance(t, int) for t in spec):
        return np.array(spec)
    raise w.error(where, "'times' must be a list of integer indices or {start, stop, step}")
