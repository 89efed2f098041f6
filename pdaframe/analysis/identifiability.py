"""Identifiability of an estimate: posterior correlations, the data's eigen-spectrum,
uncertainty reduction and local sensitivities.

All of it lives in the control space of the Laplace approximation, ``u = S^-1 (theta -
theta_b)`` with ``B = S S^T`` the prior covariance (`pdaframe.problem.base`), where the
prior is ``N(0, I)`` and the Gauss–Newton posterior covariance is ``A = (I + H)^-1`` with
``H = S^T G^T R^-1 G S`` the prior-preconditioned data Hessian (``B^1/2 H B^1/2``):

- **posterior correlation** ``C_ij / sqrt(C_ii C_jj)`` of ``C = S A S^T`` and its strongly
  correlated pairs (``|r| >= strong``, default 0.7): trade-offs the data cannot split;
- **eigen-spectrum** of ``H``: a direction with eigenvalue ``lambda > 1`` is one where the
  data outweigh the prior (the posterior variance is less than half the prior's); their
  number is the number of constrained directions and ``sum lambda / (1 + lambda)`` the
  degrees of freedom for signal (Rodgers 2000, *Inverse Methods for Atmospheric Sounding*,
  §2.4-2.5; Bousserez & Henze 2018, QJRMS 144:615). Each eigenvector is given in prior-σ
  units per parameter (``S v`` divided by the prior σ, unit length, largest entry positive);
  its largest entries name the parameters the direction moves;
- **uncertainty reduction** ``1 - sigma_post / sigma_prior`` per parameter, both in the
  parameter's own units (for a diagonal ``B`` the same as in ``u``): 0 = the data taught
  nothing, 1 = fully determined. For a Laplace result the covariance is the linearised,
  unbounded one: bounds do not narrow it (check ``at_bound``), and near a bound or where
  the model is strongly nonlinear it is only indicative; for sampler and ensemble results
  the draws respect the bounds, so the bounds' own constraint counts as reduction;
- **local sensitivities** ``d f / d theta_i * sigma_prior_i`` of scalar outputs ``f`` at
  the estimate: the change of ``f`` for a one-prior-σ change of each parameter. ``f`` is
  each stream's cost term ``J_o,k`` by default (``"cost:<stream>"``), or a reduction of a
  model output: ``"<output>_sum"``, ``"<output>_mean"``, ``"<output>_last"``, or
  ``"<output>_annual_sum"`` (365.25 times the mean of a per-day rate: an output whose
  ``output_units`` end in ``day-1``, e.g. DALEC2's ``nee`` in g m-2 day-1). One adjoint
  per output when the model has one, else ``n_model`` tangent calls, else finite
  differences (forward, as the problem's own).

Where the posterior covariance comes from (``source``): ``"laplace"`` (an optimisation
result's Gauss–Newton covariance; ``H`` from it exactly, no model run; with a uniform prior,
which has no Gaussian term, ``H`` from one Jacobian at the estimate and the uniform's σ as a
Gaussian prior), ``"samples"`` (a sampler's or an ensemble's covariance of its draws: ``H``
is then the one a Gaussian posterior of that covariance implies, ``A^-1 - I``; it can have
negative eigenvalues where the draws spread wider than the prior, and infinite ones where an
ensemble has fewer members than parameters). A result without a covariance gets
``missing``: why.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ..errors import ConfigError, ModelError
from ..interfaces import declared_outputs, has_adjoint, has_tangent
from ..prior.priors import GaussianPrior

STRONG = 0.7
"""Default threshold of ``|r|`` for a strongly correlated pair."""
REDUCTIONS = ("annual_sum", "sum", "mean", "last")
"""Scalar reductions of a model output named in ``sensitivity_outputs``."""
DAYS = 365.25
"""Days per year of ``annual_sum``."""
TOP = 3
"""Parameters listed per leading eigenvector in the summary."""
EPS = np.finfo(float).eps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    """``[output.identifiability]``: ``enabled`` (default true), ``strong_correlation``
    (default `STRONG`), ``sensitivity_outputs`` (None: each stream's cost term)."""

    enabled: bool = True
    strong: float = STRONG
    outputs: tuple | None = None


def read_options(table) -> Options:
    """The ``[output.identifiability]`` table as `Options`.

    Raises
    ------
    ConfigError
        An unknown key, a wrong type, or a threshold outside ``(0, 1)``.
    """
    where = "[output.identifiability]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table, got {table!r}")
    unknown = set(table) - {"enabled", "strong_correlation", "sensitivity_outputs"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; expected enabled, "
                          f"strong_correlation, sensitivity_outputs")
    enabled = table.get("enabled", True)
    strong = table.get("strong_correlation", STRONG)
    outputs = table.get("sensitivity_outputs")
    if not isinstance(enabled, bool):
        raise ConfigError(f"{where} enabled must be true or false, got {enabled!r}")
    if isinstance(strong, bool) or not isinstance(strong, (int, float)) or not 0 < strong < 1:
        raise ConfigError(f"{where} strong_correlation must be a number in (0, 1), "
                          f"got {strong!r}")
    if outputs is not None and (not isinstance(outputs, list) or
                                not all(isinstance(o, str) for o in outputs)):
        raise ConfigError(f"{where} sensitivity_outputs must be a list of names "
                          f"(\"cost:<stream>\", \"<output>_sum\", ...), got {outputs!r}")
    return Options(enabled, float(strong), None if outputs is None else tuple(outputs))


# --- sensitivity outputs ---------------------------------------------------------------

def parse_outputs(problem, outputs=None, produced=None) -> list[tuple]:
    """The sensitivity outputs as ``("cost", stream)`` or ``("output", name, reduction)``.

    Parameters
    ----------
    problem : Problem
    outputs : sequence of str, optional
        None: every stream's cost term.
    produced : collection of str, optional
        The model's outputs; default its declared ones (`declared_outputs`), and when it
        declares none, unchecked here (checked at the first run instead).

    Raises
    ------
    ConfigError
        A name of no stream, no reduction or no model output, listing the valid ones.
    """
    streams = [s.name for s in problem.streams]
    if outputs is None:
        return [("cost", name) for name in streams]
    if produced is None:
        model = getattr(problem, "model", None)
        produced = declared_outputs(model) if model is not None else []
    out = []
    for spec in outputs:
        if spec.startswith("cost:"):
            if spec[5:] not in streams:
                raise ConfigError(f"sensitivity output {spec!r}: no stream {spec[5:]!r}; "
                                  f"the streams are {streams}")
            out.append(("cost", spec[5:]))
            continue
        reduction = next((r for r in REDUCTIONS if spec.endswith("_" + r)), None)
        name = spec[:-len(reduction) - 1] if reduction else ""
        if not name:
            raise ConfigError(f"sensitivity output {spec!r}: expected \"cost:<stream>\" or "
                              f"\"<output>_<reduction>\" with a reduction of "
                              f"{list(REDUCTIONS)}")
        if not hasattr(problem, "model"):
            raise ConfigError(f"sensitivity output {spec!r}: model outputs are available for "
                              f"single-site problems only; use \"cost:<stream>\"")
        if produced is not None and name not in produced:
            raise ConfigError(f"sensitivity output {spec!r}: the model produces no output "
                              f"{name!r}; its outputs are {sorted(produced)}")
        unit = str(dict(getattr(problem.model, "output_units", None) or {}).get(name, ""))
        if reduction == "annual_sum" and not unit.endswith("day-1"):
            raise ConfigError(f"sensitivity output {spec!r}: annual_sum needs a per-day rate "
                              f"(output_units ending in 'day-1'); {name!r} has units "
                              f"{unit or 'none declared'}: use {name}_sum or {name}_mean")
        out.append(("output", name, reduction))
    return out


def output_label(spec) -> str:
    """The name of a parsed output (as given in ``sensitivity_outputs``)."""
    return f"cost:{spec[1]}" if spec[0] == "cost" else f"{spec[1]}_{spec[2]}"


def _reduce(values, reduction, derivative=False):
    """A reduction of an output's values (or its derivative with respect to them)."""
    v = np.asarray(values, dtype=float).reshape(-1)
    if not derivative:
        return {"sum": v.sum, "mean": v.mean, "last": lambda: v[-1],
                "annual_sum": lambda: DAYS * v.mean()}[reduction]()
    d = np.zeros_like(v)
    if reduction == "last":
        d[-1] = 1.0
    else:
        d[:] = {"sum": 1.0, "mean": 1.0 / v.size, "annual_sum": DAYS / v.size}[reduction]
    return d.reshape(np.shape(values))


def _mode(problem):
    model = problem.model
    return "adjoint" if has_adjoint(model) else "tangent" if has_tangent(model) else "fd"


def _cost_gradients(problem, theta, names, mode):
    """``dJ_o,k/dtheta`` of the streams ``names``: one adjoint each, else from the
    Jacobian (``n_model`` tangent calls or finite differences)."""
    from ..problem.single import _call
    eq = problem.equivalents(theta)
    index = {s.name: k for k, s in enumerate(problem.streams)}
    if mode == "adjoint":
        outputs = problem.run(theta, problem.needed_outputs)
        params = problem.operator_parameters(theta)
        rows = []
        for name in names:
            k = index[name]
            s, p, sl = problem.streams[k], params[k], problem._op_slices[k]
            d_obs = s.on_all(s.weight * s.error.solve(s.residual(eq[s.name])))
            g = np.zeros(problem.n_param)
            g[:problem.n_model] = problem.model.adjoint(
                theta[:problem.n_model].copy(), _call(s.operator.adjoint, p, outputs, d_obs))
            problem.nadjoint += 1
            if sl is not None:
                g[sl] = s.operator.param_adjoint(outputs, p, d_obs)
            rows.append(g)
        return rows
    jac = problem.jacobian(theta, mode)
    start = np.cumsum([0] + [s.n_valid for s in problem.streams])
    rows = []
    for name in names:
        k = index[name]
        s = problem.streams[k]
        w = s.weight * s.error.solve(s.residual(eq[s.name]))
        rows.append(jac[start[k]:start[k + 1]].T @ w)
    return rows


def _output_gradients(problem, theta, specs, mode):
    """``d f/dtheta`` of model-output reductions ``specs`` (zero for operator
    parameters)."""
    n_model = problem.n_model
    theta_m = theta[:n_model].copy()
    outputs = problem.run(theta)
    missing = sorted({name for _, name, _ in specs} - set(outputs))
    if missing:
        raise ConfigError(f"sensitivity outputs: the model produces no output {missing}; "
                          f"its outputs are {sorted(outputs)}")
    rows = np.zeros((len(specs), problem.n_param))
    if mode == "adjoint":
        for i, (_, name, red) in enumerate(specs):
            rows[i, :n_model] = problem.model.adjoint(
                theta_m, {name: _reduce(outputs[name], red, derivative=True)})
            problem.nadjoint += 1
        return list(rows)
    std = np.sqrt(np.diag(problem.prior.scale @ problem.prior.scale.T))
    for j in range(n_model):
        if mode == "tangent":
            e = np.zeros(n_model)
            e[j] = 1.0
            d_out = problem.model.tangent(theta_m.copy(), e)
            problem.ntangent += 1
            rows[:, j] = [np.sum(_reduce(outputs[name], red, True) *
                                 np.asarray(d_out[name], dtype=float))
                          for _, name, red in specs]
            continue
        h = np.sqrt(EPS) * max(abs(theta[j]), std[j])
        if theta[j] + h > problem.prior.upper[j]:
            h = -h
        tp = theta.copy()
        tp[j] += h
        h = tp[j] - theta[j]
        moved = problem.run(tp)
        rows[:, j] = [(_reduce(moved[name], red) - _reduce(outputs[name], red)) / h
                      for _, name, red in specs]
    problem.run(theta)                                   # leave the cache at theta
    return list(rows)


def sensitivities(problem, theta, outputs=None) -> dict:
    """Local sensitivities ``d f/d theta * sigma_prior`` of the outputs at ``theta``.

    Parameters
    ----------
    problem : Problem
    theta : array_like, shape (n_param,)
    outputs : sequence of str, optional
        As `parse_outputs` (None: every stream's cost term).

    Returns
    -------
    dict
        ``outputs`` (labels), ``gradient`` ``(n_output, n_param)`` (``df/dtheta``),
        ``values`` (``gradient * sigma_prior``), ``mode`` (adjoint, tangent or fd).
    """
    theta = np.asarray(theta, dtype=float)
    specs = parse_outputs(problem, outputs)
    mode = _mode(problem)
    costs = [s[1] for s in specs if s[0] == "cost"]
    named = [s for s in specs if s[0] == "output"]
    grads = dict(zip(costs, _cost_gradients(problem, theta, costs, mode))) if costs else {}
    named_rows = iter(_output_gradients(problem, theta, named, mode) if named else ())
    rows = np.array([grads[s[1]] if s[0] == "cost" else next(named_rows) for s in specs],
                    dtype=float).reshape(len(specs), problem.n_param)
    std = np.sqrt(np.diag(problem.prior.scale @ problem.prior.scale.T))
    return {"outputs": [output_label(s) for s in specs], "gradient": rows,
            "values": rows * std, "mode": mode}


# --- posterior in the control space ---------------------------------------------------

def _posterior_control(problem, result):
    """``(A, lam, V, source)``: the control-space posterior covariance, the eigenvalues of
    the prior-preconditioned data Hessian (descending) and their eigenvectors (columns);
    or a string: why there is none."""
    if "posterior_covariance" not in result:
        return (f"{result.get('method', 'this method')} gives no posterior covariance (an "
                f"optimiser without one): ask for the Gauss–Newton covariance with option "
                f"posterior = true (de, ga), or use a minimiser or a sampler")
    scale = np.asarray(problem.prior.scale, dtype=float)
    laplace = getattr(result, "kind", None) == "optimisation"
    if laplace and not isinstance(problem.prior, GaussianPrior):
        try:
            hess = scale.T @ problem.data_hessian(np.asarray(result["x"], dtype=float)) \
                @ scale
        except ModelError as err:
            return f"the model failed at the estimate: {err}"
        lam, vec = linalg.eigh(0.5 * (hess + hess.T))
        lam, vec = np.maximum(lam[::-1], 0.0), vec[:, ::-1]
        a = (vec / (1.0 + lam)) @ vec.T
        return 0.5 * (a + a.T), lam, vec, "laplace"
    cov = np.asarray(result["posterior_covariance"], dtype=float)
    if not np.all(np.isfinite(cov)):
        return "the posterior covariance has non-finite entries"
    tmp = linalg.solve_triangular(scale, cov, lower=True)
    a = linalg.solve_triangular(scale, tmp.T, lower=True)
    a = 0.5 * (a + a.T)
    ev, vec = linalg.eigh(a)                   # ascending a: descending lambda
    with np.errstate(divide="ignore"):
        lam = np.where(ev > EPS * max(1.0, ev.max()), 1.0 / ev - 1.0, np.inf)
    if laplace:
        lam = np.maximum(lam, 0.0)          # (I + H)^-1 <= I: round-off only below 0
    return a, lam, vec, "laplace" if laplace else "samples"


def _directions(scale, vec) -> np.ndarray:
    """Eigenvectors (columns of ``vec``, control space) as rows in prior-σ units per
    parameter: ``S v / sigma_prior``, unit length, largest entry positive."""
    std = np.sqrt(np.sum(scale ** 2, axis=1))
    d = (scale @ vec / np.where(std > 0, std, 1.0)[:, None]).T
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    sign = np.sign(d[np.arange(len(d)), np.argmax(np.abs(d), axis=1)])
    return d * sign[:, None]


def strong_pairs(corr, names, strong=STRONG) -> list[tuple]:
    """``(name_i, name_j, r)`` with ``|r| >= strong`` (``i < j``), strongest first."""
    corr = np.asarray(corr, dtype=float)
    i, j = np.triu_indices(len(names), 1)
    r = corr[i, j]
    keep = np.flatnonzero(np.abs(np.nan_to_num(r)) >= strong)
    keep = keep[np.argsort(-np.abs(r[keep]), kind="stable")]
    return [(names[i[k]], names[j[k]], float(r[k])) for k in keep]


def identifiability(problem, result, options=None) -> dict:
    """The identifiability diagnostics of ``result`` (see the module docstring).

    Parameters
    ----------
    problem : Problem or MultiSiteProblem
    result : Result
        With ``x``; the covariance diagnostics need ``posterior_covariance``.
    options : Options, optional

    Returns
    -------
    dict
        ``names`` (the parameters), ``strong`` (threshold); with a covariance:
        ``source``, ``correlation`` ``(n, n)``, ``strong_pairs``, ``eigenvalues`` ``(n,)``
        (descending), ``eigenvectors`` ``(n, n)`` (rows: directions, in prior-σ units per
        parameter), ``n_constrained``, ``dfs``,
        ``uncertainty_reduction`` ``(n,)``; else ``missing`` (why). ``sensitivity``
        (`sensitivities`) for a single-site `Problem`, else ``sensitivity_missing``.
    """
    options = options or Options()
    names = list(result.get("parameter_names", problem.parameter_names))
    out = {"names": names, "strong": options.strong}
    post = _posterior_control(problem, result)
    if isinstance(post, str):
        out["missing"] = post
    else:
        a, lam, vec, source = post
        scale = np.asarray(problem.prior.scale, dtype=float)
        cov = scale @ a @ scale.T
        std = np.sqrt(np.maximum(np.diag(cov), 0.0))
        prior_std = np.sqrt(np.sum(scale ** 2, axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = cov / np.outer(std, std)
        np.fill_diagonal(corr, np.where(std > 0, 1.0, np.nan))
        finite = np.isfinite(lam)
        out.update(source=source, correlation=corr,
                   strong_pairs=strong_pairs(corr, names, options.strong),
                   eigenvalues=lam, eigenvectors=_directions(scale, vec),
                   n_constrained=int(np.sum(lam > 1.0)),
                   dfs=float(np.sum(lam[finite] / (1.0 + lam[finite])) + np.sum(~finite)),
                   uncertainty_reduction=1.0 - std / prior_std)
    if hasattr(problem, "model"):
        try:
            out["sensitivity"] = sensitivities(problem, result["x"], options.outputs)
        except ModelError as err:           # the estimate is kept; say why they are missing
            log.warning("identifiability: no sensitivities: %s", err)
            out["sensitivity_missing"] = f"the model failed at the estimate: {err}"
    else:
        out["sensitivity_missing"] = ("local sensitivities are computed for single-site "
                                      "problems only")
    return out


def leading(ident, names, count=TOP) -> list[str]:
    """Per constrained direction: ``"lambda: name (+w), ..."`` with its ``count`` largest
    parameters."""
    lines = []
    for k in range(ident["n_constrained"]):
        row = ident["eigenvectors"][k]
        top = np.argsort(-np.abs(row), kind="stable")[:count]
        lines.append(f"{ident['eigenvalues'][k]:.4g}: " +
                     ", ".join(f"{names[i]} ({row[i]:+.2f})" for i in top))
    return lines


def format_identifiability(ident, least=5) -> str:
    """The diagnostics as compact text lines for the run summary: the strong pairs, the
    number of constrained directions, the least reduced parameters, the leading directions
    and the largest sensitivities."""
    names = ident["names"]
    if "missing" in ident:
        lines = [f"identifiability: not available: {ident['missing']}"]
    else:
        pairs = ident["strong_pairs"]
        lines = [f"identifiability ({'Laplace' if ident['source'] == 'laplace' else 'draws'}"
                 f" covariance): {ident['n_constrained']} of {len(names)} directions "
                 f"constrained by the data (eigenvalue of B^1/2 H B^1/2 > 1); degrees of "
                 f"freedom for signal {ident['dfs']:.3g}",
                 f"strongly correlated pairs (|r| >= {ident['strong']:g}): " +
                 (", ".join(f"{a}~{b} ({r:+.2f})" for a, b, r in pairs[:10]) +
                  (f" and {len(pairs) - 10} more" if len(pairs) > 10 else "")
                  if pairs else "none")]
        red = ident["uncertainty_reduction"]
        order = np.argsort(red, kind="stable")[:least]
        lines.append("least reduced uncertainty (1 - σ_post/σ_prior): " +
                     ", ".join(f"{names[i]} {red[i]:.2f}" for i in order))
        if ident["n_constrained"]:
            lines.append("leading directions (eigenvalue: top parameters, prior-σ units): " +
                         "; ".join(leading(ident, names)[:3]))
    if "sensitivity_missing" in ident:
        lines.append(f"sensitivities: not available: {ident['sensitivity_missing']}")
    sens = ident.get("sensitivity")
    if sens is not None:
        for label, row in zip(sens["outputs"], sens["values"]):
            top = np.argsort(-np.abs(row), kind="stable")[:TOP]
            lines.append(f"sensitivity of {label} ({sens['mode']}), per prior σ: " +
                         ", ".join(f"{names[i]} {row[i]:+.3g}" for i in top))
    return "\n".join(lines)


def netcdf_variables(ident) -> tuple[dict, list, dict]:
    """What ``result.nc`` stores: ``({dimension: size or labels}, [(name, dims, data,
    long_name, attrs)], {global attribute: value})``; the dimensions ``param`` and
    ``param_j`` are the file's own."""
    dims, variables = {}, []
    if "missing" not in ident:
        dims["direction"] = len(ident["eigenvalues"])
        variables += [
            ("posterior_correlation", ("param", "param_j"), ident["correlation"],
             "posterior correlation of the parameters", {"source": ident["source"]}),
            ("hessian_eigenvalues", ("direction",), ident["eigenvalues"],
             "eigenvalues of the prior-preconditioned data Hessian B^1/2 H B^1/2",
             {"n_constrained": ident["n_constrained"], "dfs": ident["dfs"]}),
            ("hessian_eigenvectors", ("direction", "param"), ident["eigenvectors"],
             "eigenvectors of B^1/2 H B^1/2, in prior standard deviations per parameter",
             {}),
            ("uncertainty_reduction", ("param",), ident["uncertainty_reduction"],
             "1 - posterior std / prior std", {})]
    sens = ident.get("sensitivity")
    if sens is not None and sens["outputs"]:
        dims["output"] = list(sens["outputs"])
        variables.append(("sensitivity", ("output", "param"), sens["values"],
                          "d output / d parameter times the prior std of the parameter",
                          {"mode": sens["mode"]}))
    attrs = {name: ident[key] for key, name in (("missing", "identifiability_missing"),
                                                ("sensitivity_missing", "sensitivity_missing"))
             if key in ident}
    return dims, variables, attrs
