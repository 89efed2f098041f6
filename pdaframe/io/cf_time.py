"""CF time coordinates of the NetCDF outputs: observation and model times as dates.

A model with dates (attribute ``time``: datetime64, one per step, as `pdaframe.plugin.KernelModel`
and the bundled plugins have) places its observations on those dates, and every NetCDF file
pdaframe writes stores their times as a CF time coordinate::

    <s>_time   int64 "days since <first model date>" (or "seconds since <first date and
               time>" when a step is not a whole day), calendar = "proleptic_gregorian",
               standard_name = "time"
    <s>_step   int64 the 0-based model step of each observation (units "1")

so that ``xarray.open_dataset`` decodes ``<s>_time`` to datetime64. A model without dates keeps
the step index in ``<s>_time`` (``units = "1"``, and a ``long_name`` saying that the model has
no dates) and writes no ``<s>_step``.
"""
from __future__ import annotations

import numpy as np

CALENDAR = "proleptic_gregorian"
NO_DATES = "0-based model step; the model has no dates"


def model_dates(model):
    """The dates of ``model``'s steps (its ``time`` attribute, datetime64), or None."""
    t = getattr(model, "time", None) if model is not None else None
    if t is None:
        return None
    t = np.asarray(t)
    return t if t.dtype.kind == "M" and t.ndim == 1 and t.size else None


def stream_dates(problem, stream):
    """The model dates of ``stream``'s steps: its site's model in a multi-site problem
    (``stream.site``), else the problem's model; None without dates."""
    sites = getattr(problem, "site_problems", None)
    site = getattr(stream, "site", None)
    if sites and site in getattr(problem, "site_names", ()):
        return model_dates(sites[problem.site_names.index(site)].model)
    return model_dates(getattr(problem, "model", None))


def encoding(dates):
    """``(origin, unit, units)`` of a CF encoding of ``dates`` (the model's whole axis).

    Whole days from a midnight origin count ``days``, anything finer ``seconds``; the origin
    is the first date.
    """
    origin = dates[0]
    day = np.timedelta64(1, "D")
    if origin == origin.astype("datetime64[D]") and np.all((dates - origin) % day == 0):
        return origin, day, f"days since {origin.astype('datetime64[D]')}"
    text = str(origin.astype("datetime64[s]")).replace("T", " ")
    return origin, np.timedelta64(1, "s"), f"seconds since {text}"


def time_variable(steps, dates, what):
    """Values and attributes of the time variable of model steps ``steps``.

    Parameters
    ----------
    steps : array_like of int
        0-based model steps (the observations' ``times``).
    dates : ndarray of datetime64 or None
        The model's dates (`model_dates`); None: no dates.
    what : str
        What the times are of, for ``long_name`` (``"the nee observations"``).

    Returns
    -------
    values : ndarray
        int64 offsets from the first model date in the unit of ``units`` (float64 when a
        date falls between whole seconds); the steps themselves without dates (or when a
        step lies outside the model's axis, which a stream's operator would have refused).
    attrs : dict
        ``units``, ``long_name`` and, with dates, ``calendar`` and ``standard_name``.
    dated : bool
        Whether ``values`` are dates.
    """
    steps = np.asarray(steps)
    index = steps.astype(np.int64)
    inside = dates is not None and (steps.size == 0 or (
        np.array_equal(index, steps) and index.min() >= 0 and index.max() < dates.size))
    if not inside:
        return index, {"units": "1", "long_name": f"model time index ({NO_DATES}) of {what}"}, \
            False
    origin, unit, units = encoding(dates)
    offset = (dates[index] - origin) / unit
    whole = np.all(offset == np.round(offset))
    values = offset.astype(np.int64) if whole else offset.astype(float)
    return values, {"units": units, "calendar": CALENDAR, "standard_name": "time",
                    "long_name": f"time of {what}"}, True


def step_attrs(what) -> dict:
    """Attributes of the ``<s>_step`` variable that accompanies a dated ``<s>_time``."""
    return {"units": "1", "long_name": f"model time index (0-based step) of {what}"}
