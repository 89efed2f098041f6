"""Score model runs against observations: RMSE, bias, correlation (e.g. prior vs posterior
on held-out data).

The runs ask the model only for the outputs they use (`run_outputs`, shared with
`pdaframe.analysis.sensitivity`).
"""
from __future__ import annotations

import numpy as np

from ..problem.single import needed_outputs

METRICS = ("n", "rmse", "bias", "correlation")


def scores(observed, predicted) -> dict[str, float]:
    """RMSE, bias (mean of predicted − observed) and Pearson correlation on valid pairs.

    Parameters
    ----------
    observed, predicted : array_like, shape (n,)
        NaN in either leaves the pair out.

    Returns
    -------
    dict
        ``n``, ``rmse``, ``bias``, ``correlation`` (NaN when fewer than two pairs or
        constant series).
    """
    obs = np.asarray(observed, dtype=float).reshape(-1)
    pred = np.asarray(predicted, dtype=float).reshape(-1)
    ok = np.isfinite(obs) & np.isfinite(pred)
    o, p = obs[ok], pred[ok]
    if o.size == 0:
        return {"n": 0, "rmse": np.nan, "bias": np.nan, "correlation": np.nan}
    diff = p - o
    corr = np.nan
    if o.size > 1 and o.std() > 0 and p.std() > 0:
        corr = float(np.corrcoef(o, p)[0, 1])
    return {"n": int(o.size), "rmse": float(np.sqrt(np.mean(diff ** 2))),
            "bias": float(diff.mean()), "correlation": corr}


def run_outputs(problem, theta, names):
    """``problem.run`` at ``theta``, asking the model only for the outputs ``names``.

    Parameters
    ----------
    problem : Problem
    theta : array_like, shape (n_param,)
    names : collection of str or None
        The outputs the caller reads; None: every output.

    Returns
    -------
    dict of ndarray
        At least ``names`` (a model that cannot select returns all its outputs). The
        problem's own ``needed_outputs`` (what its streams read) are asked for too:
        `Problem.run` checks them in every run, and a run holding them stays in its cache
        for the problem's cost. Every output when ``names`` or the problem's
        ``needed_outputs`` is None (an operator that does not list its ``inputs``).
    """
    own = getattr(problem, "needed_outputs", None)
    if names is None or own is None:
        return problem.run(theta)
    names = set(names)
    # the problem's own tuple when it holds them all: Problem.run's fast path and its cache
    wanted = own if names <= set(own) else tuple(sorted(names.union(own)))
    return problem.run(theta, wanted)


def evaluate(problem, streams, estimates) -> dict:
    """Score the model at several parameter vectors against (held-out) streams.

    Each estimate is one model run (`run_outputs`) that computes only the outputs the
    streams' operators read (their ``inputs``, `pdaframe.problem.single.needed_outputs`;
    every output when an operator does not list them).

    Parameters
    ----------
    problem : Problem
        Supplies the model run (``problem.run``).
    streams : sequence of DataStream
        Observations to score against (their errors are not used).
    estimates : dict
        ``{label: theta}``, e.g. ``{"prior": result.x0, "posterior": result.x}``.

    Returns
    -------
    dict
        ``{stream name: {label: {"equivalent": array, **scores}}}``.
    """
    streams = list(streams)
    names = needed_outputs(streams)
    out = {s.name: {} for s in streams}
    for label, theta in estimates.items():
        outputs = run_outputs(problem, theta, names)
        for s in streams:
            eq = np.asarray(s.operator.apply(outputs), dtype=float).reshape(-1)
            out[s.name][label] = {"equivalent": eq,
                                  **scores(np.where(s.mask, s.values, np.nan), eq)}
    return out


def format_scores(evaluation) -> str:
    """A text table of `evaluate` results."""
    lines = [f"{'evaluation':<16}{'estimate':>10}{'n':>6}{'RMSE':>11}{'bias':>11}{'corr.':>8}"]
    for name, rows in evaluation.items():
        for label, r in rows.items():
            lines.append(f"{name:<16}{label:>10}{r['n']:>6}{r['rmse']:>11.4g}"
                         f"{r['bias']:>11.4g}{r['correlation']:>8.3f}")
    return "\n".join(lines)
