"""What every reader shares: `ReadResult`, unit conversion and the options check."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from ...errors import ConfigError

#: µmol CO2 m-2 s-1 -> g C m-2 d-1 (12.011 g C per mol, 86400 s per day)
UMOL_TO_GC_DAY = 12.011e-6 * 86400.0
_UNIT_NAMES = {"umolm-2s-1": "umol m-2 s-1", "umol/m2/s": "umol m-2 s-1",
               "gcm-2d-1": "g C m-2 d-1", "gcm-2day-1": "g C m-2 d-1",
               "gc/m2/d": "g C m-2 d-1", "gc/m2/day": "g C m-2 d-1"}


@dataclass
class ReadResult:
    """What a reader returns.

    Attributes
    ----------
    times : ndarray of datetime64[D], shape (n,)
        One date per value, increasing, no repeats.
    values : ndarray of float, shape (n,)
    std : ndarray of float, shape (n,), or None
        Observation error std (``None``: the stream gives ``std``).
    units : str
        Units of ``values`` and ``std``.
    record : dict
        What the reader did (rows read, rejected and why, columns and options used); stored
        with the stream in the outputs.
    """
    times: np.ndarray
    values: np.ndarray
    std: np.ndarray | None
    units: str = ""
    record: dict = field(default_factory=dict)


def canonical_units(units) -> str:
    """``units`` in a canonical spelling (``"µmol CO2 m-2 s-1"`` -> ``"umol m-2 s-1"``)."""
    key = str(units).replace("µ", "u").replace("μ", "u").replace("CO2", "").replace(
        "C ", "C").replace(" ", "").lower()
    return _UNIT_NAMES.get(key, str(units).strip())


def convert_units(values, std, have, want, where):
    """``values`` and ``std`` from units ``have`` to ``want`` (carbon fluxes: µmol CO2
    m-2 s-1 <-> g C m-2 d-1, factor `UMOL_TO_GC_DAY` = 1.0377504).

    Raises
    ------
    ConfigError
        Naming ``where`` (file and option) when the units cannot be converted.
    """
    a, b = canonical_units(have), canonical_units(want)
    if a == b:
        return values, std, 1.0
    factors = {("umol m-2 s-1", "g C m-2 d-1"): UMOL_TO_GC_DAY,
               ("g C m-2 d-1", "umol m-2 s-1"): 1.0 / UMOL_TO_GC_DAY}
    if (a, b) not in factors:
        raise ConfigError(f"{where}: cannot convert {have or 'unknown units'!r} to {want!r}; "
                          f"convertible: 'umol m-2 s-1' <-> 'g C m-2 d-1' (carbon fluxes)")
    f = factors[a, b]
    return values * f, None if std is None else std * f, f


def reader_options(name, reader, options):
    """Check ``options`` against the keyword arguments ``reader`` accepts.

    Raises
    ------
    ConfigError
        An unknown option, naming the reader and the options it takes.
    """
    params = inspect.signature(reader).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return options
    allowed = sorted(p.name for p in params if p.kind is p.KEYWORD_ONLY)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"reader {name!r}: unknown reader_options {unknown}; allowed: "
                          f"{allowed}")
    return options
