"""Diagnostics of an estimate: parameters at bounds, the χ² check, per-stream residuals.

- **Edge hitting**: an estimate within ``fraction`` (default 1 %) of its bounds' range from a
  bound is flagged; the data (or a wrong prior) push it against the box.
- **χ² check** (Method notes §11): for a linear model, Gaussian errors and correct ``B`` and
  ``R``, ``2 J_min ~ χ²_m`` with ``m`` the number of observations (with a Gaussian prior; no
  prior term: ``m - n`` degrees of freedom). ``2 J_min`` outside the 2.5–97.5 % quantiles
  says the errors are underestimated (too large) or overestimated (too small); for a
  nonlinear model the test is approximate.
- **Per stream**: number of valid observations ``n``, mean and RMS of the residuals
  ``h(M(theta)) - y``, the normalised RMS (RMS of the whitened residuals ``L^-1 r``, ≈ 1
  when the errors are right), ``J_o,k`` (weighted) and ``J_o,k / m_k``.
- **Identifiability** (`pdaframe.analysis.identifiability`): posterior correlations, the
  data's eigen-spectrum, uncertainty reduction and local sensitivities.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from ..errors import ConfigError
from ..prior.priors import GaussianPrior
from .identifiability import Options, format_identifiability, identifiability

VERDICTS = {
    "consistent": "2J_min is inside the chi2 2.5-97.5% range: errors consistent",
    "too large": "2J_min above the 97.5% quantile: errors (incl. model error) underestimated",
    "too small": "2J_min below the 2.5% quantile: errors overestimated",
}


def edge_hits(x, lower, upper, names, fraction=0.01) -> dict[str, str]:
    """Parameters whose estimate lies within ``fraction`` of the range from a bound.

    Positive bounds more than a decade apart (initial pools, rates) are measured on a
    log scale, as the range is then orders of magnitude wide: 1820 in [100, 200000] is
    far from both bounds, not within 1 % of the lower one.

    Parameters
    ----------
    x, lower, upper : array_like, shape (n_param,)
        Estimate and bounds (infinite bounds are never hit).
    names : sequence of str
    fraction : float
        Share of ``upper - lower`` counted as "at the bound", in ``[0, 0.5)``.

    Returns
    -------
    dict
        ``{name: "lower" or "upper"}`` for the flagged parameters, in parameter order.
    """
    if not 0 <= fraction < 0.5:
        raise ConfigError(f"diagnostics: edge fraction must be in [0, 0.5), got {fraction}")
    x, lower, upper = (np.asarray(a, dtype=float) for a in (x, lower, upper))
    out = {}
    for i, name in enumerate(names):
        lo, up, xi = lower[i], upper[i], x[i]
        if not np.isfinite(up - lo):
            continue
        if lo > 0 and up / lo > 10 and xi > 0:
            lo, up, xi = np.log(lo), np.log(up), np.log(xi)
        if xi - lo <= fraction * (up - lo):
            out[name] = "lower"
        elif up - xi <= fraction * (up - lo):
            out[name] = "upper"
    return out


def chi2_check(fun, m, n_param=0, gaussian_prior=True) -> dict:
    """Compare ``2 J_min`` with the χ² distribution of its degrees of freedom.

    Parameters
    ----------
    fun : float
        ``J_min``.
    m : int
        Number of valid observations.
    n_param : int
        Number of parameters (used only without a Gaussian prior: ``m - n`` dof).
    gaussian_prior : bool
        Whether ``J`` has a Gaussian prior term.

    Returns
    -------
    dict
        ``two_j``, ``dof``, ``ratio`` (``2J/dof``), ``low``, ``high`` (2.5 and 97.5 %
        quantiles), ``verdict`` (a key of `VERDICTS`).
    """
    dof = int(m) if gaussian_prior else int(m) - int(n_param)
    two_j = 2.0 * float(fun)
    if dof < 1:
        return {"two_j": two_j, "dof": dof, "ratio": np.nan, "low": np.nan, "high": np.nan,
                "verdict": "undetermined"}
    low, high = (float(q) for q in stats.chi2.ppf([0.025, 0.975], dof))
    verdict = "too large" if two_j > high else "too small" if two_j < low else "consistent"
    return {"two_j": two_j, "dof": dof, "ratio": two_j / dof, "low": low, "high": high,
            "verdict": verdict}


def stream_statistics(problem, theta) -> dict[str, dict]:
    """Residual statistics of every stream at ``theta``.

    Returns
    -------
    dict
        ``{stream: {"n", "mean", "rms", "nrms", "jo", "jo_per_obs"}}`` (see the module
        docstring; residuals are model minus observation, in the stream's units).
    """
    eq = problem.equivalents(theta)
    out = {}
    for s in problem.streams:
        r = s.residual(np.asarray(eq[s.name], dtype=float))
        z = s.error.whiten(r)
        jo = 0.5 * s.weight * float(z @ z)
        n = int(r.size)
        out[s.name] = {"n": n, "mean": float(r.mean()), "rms": float(np.sqrt(np.mean(r ** 2))),
                       "nrms": float(np.sqrt(np.mean(z ** 2))), "jo": jo,
                       "jo_per_obs": jo / n}
    return out


def diagnose(problem, result, fraction=0.01, options=None) -> dict:
    """All diagnostics of ``result`` (an estimate of ``problem``).

    ``options``: the identifiability `Options` (default: on, each stream's cost term as
    sensitivity output; ``enabled = false``: none).

    Returns
    -------
    dict
        ``{"edge": edge_hits(...), "edge_fraction": fraction, "chi2": chi2_check(...),
        "streams": stream_statistics(...), "identifiability": identifiability(...)}``.
    """
    options = options or Options()
    prior = problem.prior
    x = np.asarray(result["x"], dtype=float)
    names = list(result.get("parameter_names", problem.parameter_names))
    return {"edge": edge_hits(x, prior.lower, prior.upper, names, fraction),
            "edge_fraction": float(fraction),
            "chi2": chi2_check(result["fun"], problem.n_obs, len(names),
                               isinstance(prior, GaussianPrior)),
            "streams": stream_statistics(problem, x),
            **({"identifiability": identifiability(problem, result, options)}
               if options.enabled else {})}


def format_diagnostics(diag) -> str:
    """The diagnostics as text lines for the run summary."""
    c = diag["chi2"]
    lines = [f"chi2 check: 2J_min = {c['two_j']:.6g}, dof = {c['dof']}, 95% range "
             f"[{c['low']:.4g}, {c['high']:.4g}]: {VERDICTS.get(c['verdict'], c['verdict'])}"]
    if diag["edge"]:
        hits = ", ".join(f"{n} ({side})" for n, side in diag["edge"].items())
        lines.append(f"at a bound (within {100 * diag['edge_fraction']:g}% of the range): "
                     f"{hits}")
    else:
        lines.append("no estimate at a bound")
    width = max(6, *(len(n) for n in diag["streams"]))
    lines.append(f"{'stream':<{width}}" + "".join(f"{c:>12}" for c in
                                                 ("n", "mean res.", "RMS", "norm. RMS",
                                                  "J_o", "J_o/m")))
    for name, st in diag["streams"].items():
        lines.append(f"{name:<{width}}{st['n']:>12d}" + "".join(
            f"{st[k]:>12.4g}" for k in ("mean", "rms", "nrms", "jo", "jo_per_obs")))
    if "identifiability" in diag:
        lines.append(format_identifiability(diag["identifiability"]))
    return "\n".join(lines)
