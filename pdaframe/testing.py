"""Derivative checks for models, operators and problems: Taylor and dot-product tests.

Use them in a plugin's own tests (they are also in `pdaframe.plugin`, the plugin author's
one import)::

    from pdaframe.plugin import check_model
    check_model(MyModel(), theta)          # raises AssertionError with the numbers

Taylor test: along a pseudo-random direction ``h``, the remainder
``|f(x + e h) - f(x) - e f'(x) h|`` must fall as ``e**2`` (rate 2 per unit of log e) over at
least ``min_decades`` decades before round-off (`check_tangent`: each output of a model;
`check_gradient`: a problem's cost). Dot-product test: ``<T dx, dy> = <dx, A dy>`` for the
tangent ``T`` and adjoint ``A`` to ``tol`` relative, for all outputs and each alone.
`check_model` is `check_tangent` then `dot_product_test`. The model conformance suite
(`pdaframe.conformance`) runs these checks and more as pytest tests.

Every check is deterministic by default: without ``rng`` the directions are drawn with the
fixed seed `DEFAULT_SEED`, so a check that passes once passes every time. A failing Taylor
test names the output, the decades reached, what the remainders suggest
(`TaylorReport.diagnosis`) and the remedies to try when the derivative is believed right
(`REMEDIES`); a failing dot-product test the outputs at fault (`ADJOINT_REMEDY`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import PdaframeError
from .interfaces import has_adjoint, has_tangent

EPS = np.finfo(float).eps
#: seed of the test directions when no ``rng`` is given (checks are reproducible)
DEFAULT_SEED = 20260101
#: what to try when a Taylor test fails although the derivative is believed right
REMEDIES = ("if the derivative is believed right, try: another direction (rng=<another "
            "seed>, or direction=...), a step range suited to the model (steps=...: smaller "
            "first steps for a strongly nonlinear model or one that leaves its valid region, "
            "larger ones when the remainder reaches round-off early), parameter scaling "
            "(scale=the typical size of each parameter, so the direction is not dominated "
            "by one of them), or fewer min_decades")


def _rng(rng):
    """`numpy.random.Generator` of ``rng``; `DEFAULT_SEED` when it is None."""
    return np.random.default_rng(DEFAULT_SEED if rng is None else rng)


@dataclass
class TaylorReport:
    """Steps, remainders and observed convergence rates of a Taylor test.

    ``decades`` is the longest run of steps (in decades) over which the rate stayed in
    [1.9, 2.1]; ``needed`` the decades the test asked for; ``floor`` the remainder below
    which a step counts as round-off.
    """

    steps: np.ndarray
    remainders: np.ndarray
    rates: np.ndarray
    decades: float
    passed: bool
    needed: float = 4.0
    floor: float = 0.0

    def __str__(self):
        rows = "\n".join(f"  {e:10.3e}  {r:12.5e}  {q:6.3f}" for e, r, q in
                         zip(self.steps[1:], self.remainders[1:], self.rates))
        what = "remainder at round-off at every step (linear)" if np.isinf(self.decades) \
            else f"second order over {self.decades:.1f} decades ({self.needed:g} needed)"
        return (f"Taylor test: {'passed' if self.passed else 'FAILED'}, {what}\n"
                f"      step     remainder    rate\n{rows}")

    def diagnosis(self) -> str:
        """What the remainders say about a failed test, in one sentence.

        The median rate over the five smallest steps whose remainders are above round-off:
        near 1, the derivative differs from the function's (a term missing or scaled
        wrong: the remainder keeps a part linear in the step); near 0, it is not the
        derivative at all, or the function is not smooth (a threshold, a table, noise).
        """
        rem = self.remainders
        with np.errstate(invalid="ignore"):
            above = np.isfinite(self.rates) & (rem[1:] > self.floor) & (rem[:-1] > self.floor)
        if not np.isfinite(rem).any():
            return "every step raised an error: the steps leave the valid region (steps=)"
        if not above.any():
            return "no two steps above round-off: the steps are too small (steps=)"
        rate = float(np.median(self.rates[above][-5:]))
        if abs(rate - 1) < 0.3:
            return (f"the remainder falls as step**{rate:.2f} at the smallest steps: the "
                    f"derivative differs from the function's by a part linear in the step "
                    f"(a term missing, a wrong sign or factor)")
        if abs(rate) < 0.3:
            return (f"the remainder does not fall (rate {rate:.2f}): the derivative is not "
                    f"the function's, or the function is not smooth or not deterministic")
        return f"rate {rate:.2f} at the smallest steps above round-off"


def _remainders(f, f0, d, x, h, steps):
    """``|f(x + e h) - f0 - e d|`` for each step; NaN where ``f`` raises a pdaframe error."""
    rem = []
    for e in steps:
        try:
            rem.append(np.linalg.norm(np.asarray(f(x + e * h), dtype=float) - f0 - e * d))
        except PdaframeError:      # e.g. a step that leaves the model's valid region
            rem.append(np.nan)
    return np.array(rem)


def _report(steps, rem, scale, min_decades, floor=None) -> TaylorReport:
    if floor is None:       # round-off of the remainder; a rate that stays near 2 over
        floor = 10 * EPS * max(scale, 1e-300)   # several halvings above it is genuine
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.log(rem[:-1] / rem[1:]) / np.log(steps[:-1] / steps[1:])
    ok = (rates > 1.9) & (rates < 2.1) & (rem[1:] > floor) & (rem[:-1] > floor)
    best, run_start = 0.0, None
    for i, good in enumerate(np.append(ok, False)):
        if good and run_start is None:
            run_start = i
        elif not good and run_start is not None:
            best = max(best, float(np.log10(steps[run_start] / steps[i])))
            run_start = None
    finite = rem[np.isfinite(rem)]
    if finite.size and finite.max() <= floor:      # linear along h: exact to round-off
        return TaylorReport(steps, rem, rates, np.inf, True, min_decades, floor)
    return TaylorReport(steps, rem, rates, best, best >= min_decades, min_decades, floor)


def first_step(theta, h, lower=None, upper=None) -> float:
    """The first Taylor step: 1, or half the distance to the nearest bound along ``h``
    when that is smaller (so that a point near a bound is tested with steps inside)."""
    if lower is None and upper is None:
        return 1.0
    n = np.size(theta)
    lower = np.broadcast_to(-np.inf if lower is None else np.asarray(lower, float), n)
    upper = np.broadcast_to(np.inf if upper is None else np.asarray(upper, float), n)
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(h > 0, (upper - theta) / h,
                        np.where(h < 0, (lower - theta) / h, np.inf))
    return min(1.0, 0.5 * float(np.min(room)))


def taylor_test(f, df, x, h, steps=None, min_decades=4.0, floor=None) -> TaylorReport:
    """Taylor test of ``df(x, h)`` (directional derivative) against ``f`` (vector or scalar).

    Parameters
    ----------
    f : callable
        ``f(x) -> array``; a step where it raises a `PdaframeError` is skipped.
    df : callable
        ``df(x, h) -> array``, the claimed derivative of ``f`` at ``x`` along ``h``.
    x, h : ndarray
        Point and direction.
    steps : array_like, optional
        Step sizes, decreasing (default ``2**-k``, ``k = 0..40``).
    min_decades : float
        Decades of steps over which the rate must stay in [1.9, 2.1].
    floor : float, optional
        Remainders below it are round-off (default ``10 * eps * max(|f(x)|, |df| step_0)``).
    """
    steps = 2.0 ** -np.arange(0, 41) if steps is None else np.asarray(steps, dtype=float)
    f0 = np.asarray(f(x), dtype=float)
    d = np.asarray(df(x, h), dtype=float)
    rem = _remainders(f, f0, d, x, h, steps)
    scale = max(np.linalg.norm(f0), np.linalg.norm(d) * steps[0])
    return _report(steps, rem, scale, min_decades, floor)


def random_outputs_like(outputs, rng):
    """Random arrays with the shapes of ``outputs`` (for dot-product tests)."""
    return {k: rng.standard_normal(np.shape(v)) for k, v in outputs.items()}


#: what to do when the adjoint is not the transpose of the tangent
ADJOINT_REMEDY = ("the adjoint must be the transpose of the tangent linear at the same theta: "
                  "check the adjoint's part for each output named (a term missing, a wrong "
                  "sign or factor, the time loop not reversed, or state reused from another "
                  "run), and that outputs missing from d_outputs count as zero")


def dot_product_test(model, theta, rng=None, tol=1e-12) -> float:
    """Relative mismatch of ``<T dθ, dy>`` and ``<dθ, A dy>`` for a model; asserts ``<= tol``.

    The test is made for all outputs together and for each output alone (``dy`` zero on
    the others), so a failure names the outputs whose adjoint is wrong. An output's
    mismatch is relative to the larger of its two products and ``sum |T dθ| |dy|`` over
    it, so that an output whose products cancel (a sum of many terms of both signs) is
    not failed by round-off.

    Returns
    -------
    float
        The mismatch of all outputs together, relative to the larger product.

    Raises
    ------
    AssertionError
        Naming each output whose mismatch exceeds ``tol``, with both products and
        `ADJOINT_REMEDY`.
    """
    rng = _rng(rng)
    theta = np.asarray(theta, dtype=float)
    outputs = model.run(theta.copy())
    dtheta = rng.standard_normal(theta.size)
    dy = random_outputs_like(outputs, rng)
    tl = model.tangent(theta.copy(), dtheta)
    missing = sorted(set(outputs) - set(tl))
    if missing:
        raise AssertionError(f"output(s) {missing}: run returns them but the tangent does not: "
                             f"return every output of run (zeros where constant)")
    lhs = sum(float(np.sum(np.asarray(tl[k]) * dy[k])) for k in outputs)
    rhs = float(np.dot(dtheta, model.adjoint(theta.copy(), dy)))
    rows = [("all outputs", lhs, rhs, _mismatch(lhs, rhs))]
    for k in outputs:
        terms = np.asarray(tl[k], dtype=float) * dy[k]
        a = float(np.sum(terms))
        b = float(np.dot(dtheta, model.adjoint(theta.copy(), {k: dy[k]})))
        rows.append((f"output {k!r}", a, b, _mismatch(a, b, float(np.sum(np.abs(terms))))))
    bad = [f"{what}: <T dθ, dy>={a!r}, <dθ, A dy>={b!r}, relative mismatch {m:.3e} > {tol:g}"
           for what, a, b, m in rows if m > tol]
    if bad:
        raise AssertionError("adjoint dot-product test FAILED:\n  " + "\n  ".join(bad)
                             + f"\n{ADJOINT_REMEDY}")
    return rows[0][3]


def _mismatch(a, b, size=0.0) -> float:
    return abs(a - b) / max(abs(a), abs(b), size, 1e-300)


def operator_dot_product_test(operator, outputs, rng=None, tol=1e-12) -> float:
    """Dot-product test of an observation operator's tangent and adjoint at ``outputs``."""
    rng = _rng(rng)
    dx = random_outputs_like({k: outputs[k] for k in operator.inputs}, rng)
    dy = rng.standard_normal(np.size(operator.apply(outputs)))
    lhs = float(np.dot(operator.tangent(outputs, dx), dy))
    adj = operator.adjoint(outputs, dy)
    rhs = sum(float(np.sum(dx[k] * adj[k])) for k in adj)
    mismatch = _mismatch(lhs, rhs)
    if not mismatch <= tol:             # NaN fails too
        raise AssertionError(f"operator dot-product test: {lhs!r} vs {rhs!r}, "
                             f"relative mismatch {mismatch:.3e} > {tol:g}")
    return mismatch


def check_model(model, theta, scale=None, rng=None, steps=None, min_decades=4.0,
                tol=1e-12, direction=None, lower=None, upper=None) -> dict:
    """Check a model's tangent linear (Taylor test, per output) and adjoint (dot product).

    Parameters
    ----------
    model : object
        Model with ``run`` and at least one of ``tangent``/``adjoint``.
    theta : array_like
        Point of the check.
    scale : array_like, optional
        Typical size of each parameter; the random direction is scaled by it
        (default ``max(|theta|, 1)``).
    rng : int or Generator, optional
        Seed of the random directions (default `DEFAULT_SEED`: the same every call).
    steps : array_like, optional
        Taylor step sizes (default ``first * 2**-k``, ``k = 0..40``, ``first`` from
        `first_step`: 1 without bounds); steps where the model raises a `PdaframeError`
        are skipped.
    min_decades : float
        Decades over which the Taylor remainder must fall as ``e**2``.
    tol : float
        Relative tolerance of the dot-product test.
    direction : array_like, optional
        The Taylor test's direction ``h`` (default ``scale`` times a standard normal draw).
    lower, upper : array_like, optional
        Bounds the default steps stay inside along ``h`` (e.g. the parameter table's).

    Returns
    -------
    dict
        ``{"taylor": {output: TaylorReport}, "dot_product": mismatch}`` (no
        ``"dot_product"`` unless the model has both tangent and adjoint).

    Raises
    ------
    AssertionError
        With the numbers, when a check fails or the model has neither derivative; a
        failed Taylor test names each failing output, the decades reached, what the
        remainders suggest (`TaylorReport.diagnosis`) and the remedies (`REMEDIES`).
    """
    rng = _rng(rng)
    reports = check_tangent(model, theta, scale, rng, steps, min_decades, direction,
                            lower, upper)
    report = {"taylor": reports}
    if has_tangent(model) and has_adjoint(model):
        report["dot_product"] = dot_product_test(model, theta, rng, tol)
    return report


def check_tangent(model, theta, scale=None, rng=None, steps=None, min_decades=4.0,
                  direction=None, lower=None, upper=None) -> dict:
    """The Taylor test of each output of `check_model` alone: ``{output: TaylorReport}``.

    The derivative comes from ``model.tangent``, or from ``model.adjoint`` (one adjoint
    per output value) when there is no tangent. An output is left out only when neither
    its derivative nor its value changes along the direction. Parameters and errors as
    `check_model`.
    """
    rng = _rng(rng)
    theta = np.asarray(theta, dtype=float)
    if not (has_tangent(model) or has_adjoint(model)):
        raise AssertionError(f"{model!r} has neither tangent nor adjoint: nothing to check")
    scale = np.maximum(np.abs(theta), 1.0) if scale is None else np.asarray(scale, float)
    h = scale * rng.standard_normal(theta.size) / np.sqrt(theta.size) if direction is None \
        else np.asarray(direction, dtype=float)
    steps = first_step(theta, h, lower, upper) * 2.0 ** -np.arange(0, 41) if steps is None \
        else np.asarray(steps, dtype=float)
    base = {k: np.array(v, dtype=float) for k, v in model.run(theta.copy()).items()}
    names = sorted(base)
    if has_tangent(model):
        deriv = {k: np.array(v, dtype=float) for k, v in model.tangent(theta.copy(), h).items()}
    else:
        flat = _adjoint_directional(model, theta, h, names)
        sizes = np.cumsum([0] + [base[k].size for k in names])
        deriv = {k: flat[a:b].reshape(base[k].shape) for k, a, b in
                 zip(names, sizes[:-1], sizes[1:])}
    missing = sorted(set(names) - set(deriv))
    if missing:
        raise AssertionError(f"output(s) {missing}: run returns them but the tangent does not: "
                             f"return every output of run (zeros where constant)")
    remainders = {k: np.full(steps.size, np.nan) for k in names}
    for i, e in enumerate(steps):
        try:
            run = model.run(theta + e * h)
        except PdaframeError:        # a step outside the model's valid region: skipped
            continue
        for k in names:
            remainders[k][i] = np.linalg.norm(np.asarray(run[k], dtype=float) - base[k]
                                              - e * deriv[k])
    reports, failed = {}, []
    for k in names:
        rem = remainders[k]
        scale_k = max(np.linalg.norm(base[k]), np.linalg.norm(deriv[k]) * steps[0])
        if not np.any(deriv[k]) and not np.nanmax(rem, initial=0.0) > 10 * EPS * scale_k:
            continue                     # output does not depend on theta along h
        reports[k] = _report(steps, rem, scale_k, min_decades)
        if not reports[k].passed:
            failed.append(f"output {k!r}: tangent {reports[k]}\n  -> {reports[k].diagnosis()}")
    if failed:
        raise AssertionError("\n".join(failed) + f"\n{REMEDIES}")
    return reports


def _adjoint_directional(model, theta, h, names):
    """Directional derivative from the adjoint alone (one adjoint per output value)."""
    outputs = model.run(theta.copy())
    cols = []
    for k in names:
        arr = np.asarray(outputs[k])
        for i in range(arr.size):
            e = {n: np.zeros(np.shape(outputs[n])) for n in names}
            e[k].flat[i] = 1.0
            cols.append(float(np.dot(model.adjoint(theta.copy(), e), h)))
    return np.array(cols)


def check_gradient(problem, theta, rng=None, min_decades=4.0) -> TaylorReport:
    """Taylor test of ``problem.gradient`` at ``theta`` along a random prior-scaled direction
    (seed ``rng``, default `DEFAULT_SEED`).

    Steps start at the smaller of 1 and half the distance to the nearest bound along the
    direction, so points near bounds are tested with steps that stay inside.
    """
    rng = _rng(rng)
    z = rng.standard_normal(problem.n_param)
    h = problem.prior.scale @ (z / np.linalg.norm(z))
    theta = np.asarray(theta, dtype=float)
    first = first_step(theta, h, problem.prior.lower, problem.prior.upper)
    g = problem.gradient(theta)
    rep = taylor_test(problem.cost, lambda x, d: float(g @ d), theta, h,
                      steps=first * 2.0 ** -np.arange(0, 41), min_decades=min_decades)
    if not rep.passed:
        raise AssertionError(f"cost gradient {rep}\n  -> {rep.diagnosis()}\n"
                             f"if the gradient is believed right, try another direction "
                             f"(rng=<another seed>) or fewer min_decades; the direction is scaled "
                             f"by the prior, so a prior std far from a parameter's typical size "
                             f"makes the test hard (rescale the prior)")
    return rep
