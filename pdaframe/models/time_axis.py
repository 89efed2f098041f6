"""`time_axis`: the dates of a model's steps from a start date and a step length."""
from __future__ import annotations

import re

import numpy as np

from ..errors import ConfigError

_STEP = re.compile(r"\s*(\d+)\s*(W|D|h|m|s)\s*\Z")


def time_axis(start, n, step="1D") -> np.ndarray:
    """``n`` dates from ``start`` every ``step``.

    Parameters
    ----------
    start : str, datetime.date or numpy.datetime64
        The first date, e.g. ``"2012-01-01"`` or ``"2012-01-01T00:00"``.
    n : int
        Number of steps.
    step : str, int or numpy.timedelta64
        ``"<count><unit>"`` with unit ``W`` (weeks), ``D`` (days), ``h``, ``m`` or ``s``
        (``"1D"``, ``"3h"``, ``"30m"``), a whole number of days, or a timedelta64.

    Returns
    -------
    ndarray of datetime64, shape (n,)
        In days (``datetime64[D]``) for whole-day steps from a date, else in the unit of the
        step or the start, whichever is finer.

    Raises
    ------
    ConfigError
        ``start`` is not a date, ``step`` not a positive step in one of those units.

    Examples
    --------
    >>> time_axis("2012-12-30", 3).tolist()
    [datetime.date(2012, 12, 30), datetime.date(2012, 12, 31), datetime.date(2013, 1, 1)]
    """
    if isinstance(step, np.timedelta64):
        delta = step
    elif isinstance(step, (int, np.integer)) and not isinstance(step, bool):
        delta = np.timedelta64(int(step), "D")
    elif isinstance(step, str) and _STEP.match(step):
        count, unit = _STEP.match(step).groups()
        delta = np.timedelta64(int(count), unit)
    else:
        raise ConfigError(f"time axis: step {step!r} is not a time step; expected e.g. "
                          f"'1D', '3h', '30m', '1W' or a whole number of days")
    if not delta > np.timedelta64(0, "s"):
        raise ConfigError(f"time axis: step {step!r} must be positive")
    try:
        first = np.datetime64(start)
    except ValueError:
        raise ConfigError(f"time axis: start {start!r} is not a date (expected e.g. "
                          f"'2012-01-01' or '2012-01-01T06:00')") from None
    return first + np.arange(int(n)) * delta
