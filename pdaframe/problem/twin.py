"""Twin experiments: synthetic observations from a model run at a known truth."""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, DataError


def check_stream_outputs(streams, outputs):
    """Every stream's operator reads outputs the model has.

    Parameters
    ----------
    streams : sequence of DataStream
    outputs : collection of str
        The model's output names (from a run, or `pdaframe.interfaces.declared_outputs`).

    Raises
    ------
    ConfigError
        Naming the first stream at fault, its variable, the missing outputs and the
        model's outputs.
    """
    for s in streams:
        missing = [v for v in getattr(s.operator, "inputs", None) or () if v not in outputs]
        if missing:
            raise ConfigError(f"stream {s.name!r} (variable {s.variable!r}): its operator "
                              f"needs model output(s) {missing}, which the model does not "
                              f"produce; the model's outputs are {sorted(outputs)}")


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
    check_stream_outputs(streams, outputs)
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
