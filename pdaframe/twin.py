"""Twin experiments: synthetic observations from a model run at a known truth."""
from __future__ import annotations

import numpy as np

from .errors import DataError


def synthetic_streams(model, truth, streams, seed):
    """Replace each stream's values by the truth's model equivalents plus Gaussian noise.

    The noise has the stream's own error covariance (``std`` or full R). Stream ``k`` draws
    from ``default_rng(SeedSequence(seed).spawn(n_streams)[k])``, so each stream's noise is
    reproducible and independent of the others. Values missing in the template stay
    missing, so a real gap pattern is kept.

    Parameters
    ----------
    model : object
        The model (``run(theta)``).
    truth : array_like, shape (n_param,)
        The true parameters.
    streams : sequence of DataStream
        Templates: times, errors, masks, operators, weights.
    seed : int
        Seed of the noise.

    Returns
    -------
    list of DataStream
        Copies with synthetic values; each has ``truth_values`` (noise-free equivalents).
    """
    outputs = model.run(np.asarray(truth, dtype=float))
    seeds = np.random.SeedSequence(seed).spawn(len(streams))
    out = []
    for s, ss in zip(streams, seeds):
        clean = np.asarray(s.operator.apply(outputs), dtype=float).reshape(-1)
        if clean.size != s.values.size:
            raise DataError(f"stream {s.name!r}: operator gives {clean.size} values for "
                            f"{s.values.size} observation times")
        values = clean.copy()
        values[s.mask] += s.error.sample(np.random.default_rng(ss))
        new = s.with_values(values)
        new.truth_values = clean
        out.append(new)
    return out
