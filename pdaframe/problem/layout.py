"""Where theta's entries after the model's come from: operator parameters and likelihood
hyperparameters, stream by stream, named ``"<stream>:<name>"``::

    theta = [model..., operator parameters of stream 1, of stream 2, ...,
             likelihood hyperparameters of stream 1, of stream 2, ...]

and the model outputs the streams' operators read (`needed_outputs`).
"""
from __future__ import annotations

from ..errors import ConfigError
from ..observations.likelihoods import stream_likelihood


def needed_outputs(streams) -> tuple[str, ...] | None:
    """The model outputs the streams' operators read, sorted; None when an operator does not
    list its ``inputs`` (None or empty: then it may read any output)."""
    inputs = [getattr(s.operator, "inputs", None) for s in streams]
    if any(not i for i in inputs):
        return None
    return tuple(sorted({name for i in inputs for name in i}))


def operator_parameter_layout(streams, model_names) -> tuple[list[str], list]:
    """Names ``"<stream>:<name>"`` of the streams' operator parameters and their slices.

    Parameters
    ----------
    streams : sequence of DataStream
    model_names : sequence of str
        The model's parameter names (the operator parameters follow them).

    Returns
    -------
    names : list of str
    slices : list of slice or None
        Per stream, where its operator's parameters sit in theta (None: it has none).

    Raises
    ------
    ConfigError
        A name that clashes with another parameter (of the model or another operator).
    """
    names, slices = [], []
    taken = {n: "the model" for n in model_names}
    start = len(model_names)
    for s in streams:
        params = tuple(getattr(s.operator, "parameters", None) or ())
        if not params:
            slices.append(None)
            continue
        for p in params:
            name = f"{s.name}:{getattr(p, 'name', p)}"
            if name in taken:
                raise ConfigError(f"stream {s.name!r}: operator parameter {name!r} clashes "
                                  f"with a parameter of {taken[name]}; operator parameters "
                                  f"need distinct names")
            taken[name] = f"stream {s.name!r}'s operator"
            names.append(name)
        slices.append(slice(start, start + len(params)))
        start += len(params)
    return names, slices


def bind_likelihoods(streams, names) -> tuple[list[str], list[slice], list]:
    """Each stream's likelihood bound to it, and where its estimated hyperparameters sit.

    Parameters
    ----------
    streams : sequence of DataStream
        A stream's ``likelihood`` attribute (`pdaframe.observations.likelihoods`; default
        the fixed Gaussian).
    names : sequence of str
        Theta's names before the hyperparameters (model, then operator parameters).

    Returns
    -------
    names : list of str
        ``"<stream>:<name>"`` of the estimated hyperparameters.
    slices : list of slice
        Per stream, its hyperparameters in theta (empty slice: none).
    bound : list of Likelihood

    Raises
    ------
    ConfigError
        A name that clashes with another parameter.
    DataError
        A stream that does not suit its likelihood (`Likelihood.bind`).
    """
    taken = set(names)
    out, slices, bound = [], [], []
    start = len(names)
    for s in streams:
        lik = stream_likelihood(s).bind(s)
        for p in lik.parameters:
            name = f"{s.name}:{p.name}"
            if name in taken:
                raise ConfigError(f"stream {s.name!r}: likelihood hyperparameter {name!r} "
                                  f"clashes with another parameter of that name")
            taken.add(name)
            out.append(name)
        slices.append(slice(start, start + len(lik.parameters)))
        start += len(lik.parameters)
        bound.append(lik)
    return out, slices, bound


def likelihood_parameters(streams) -> list:
    """``(name, Parameter)`` of every estimated likelihood hyperparameter, in theta's order
    (``name`` = ``"<stream>:<name>"``): their default priors, to build a problem's prior
    (of the likelihood bound to the stream: a default prior may follow the stream's errors
    and times, as the discrepancy's do)."""
    return [(f"{s.name}:{p.name}", p) for s in streams
            for p in stream_likelihood(s).bind(s).parameters]
