"""Score model runs against observations: RMSE, bias, correlation (e.g. prior vs posterior
on held-out data)."""
from __future__ import annotations

import numpy as np

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


def evaluate(problem, streams, estimates) -> dict:
    """Score the model at several parameter vectors against (held-out) streams.

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
    out = {}
    for s in streams:
        out[s.name] = {}
        for label, theta in estimates.items():
            eq = np.asarray(s.operator.apply(problem.run(theta)), dtype=float).reshape(-1)
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
