"""Validation of the time indices that operators take (one place for all of them)."""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError


def time_indices(times, what):
    """``times`` as a 1-d array of non-negative step indices, or ``None`` (every step)."""
    if times is None:
        return None
    idx = np.asarray(times)
    if idx.ndim != 1 or not np.all(idx == np.round(idx)) or (idx.size and idx.min() < 0):
        raise ConfigError(f"{what}: times must be non-negative integer indices")
    return idx.astype(np.intp)
