"""The model conformance suite (`pdaframe.conformance`, issue 13 item 5): a correct small
model passes every check with the fixed default seed; deliberately broken copies of it each
fail the check that should catch them, with a message naming the output or parameter and
what to change; a model without derivatives has its derivative checks skipped."""
import math

import numpy as np
import pytest

from pdaframe.conformance import CHECKS, ModelConformance
from pdaframe.conformance.checks import direction_scale
from pdaframe.plugin import ConfigError, Model, ModelError, Parameter
from pdaframe.testing import DEFAULT_SEED, check_tangent

pytest_plugins = ["pytester"]


class Pools(Model):
    """A pool relaxing from c0 towards a at rate k: pool_t = a + (c0 - a) exp(-k t), and its
    outflow flux_t = k pool_t, daily from 2001-01-01; tangent and adjoint by hand."""

    parameters = (Parameter("k", 0.1, lower=0.0, upper=1.0, std=0.02, units="day-1"),
                  Parameter("a", 5.0, lower=0.0, upper=50.0, std=1.0, units="g m-2"),
                  Parameter("c0", 20.0, lower=0.0, upper=100.0, std=5.0, units="g m-2"))
    output_units = {"pool": "g m-2", "flux": "g m-2 day-1"}

    def __init__(self, n_days=40):
        self.t = np.arange(float(n_days))
        self.time = np.datetime64("2001-01-01") + np.arange(n_days)

    def _check(self, theta):
        theta = np.array(theta, dtype=float)
        if theta.shape != (3,) or not np.all(np.isfinite(theta)):
            raise ModelError(f"pools: theta must be 3 finite values, got {theta}", theta)
        if theta[0] < 0:
            raise ModelError(f"pools: k = {theta[0]} must not be negative", theta)
        return theta

    def run(self, theta):
        k, a, c0 = self._check(theta)
        pool = a + (c0 - a) * np.exp(-k * self.t)
        return {"pool": pool, "flux": k * pool}

    def _jacobian(self, theta):
        k, a, c0 = theta
        e = np.exp(-k * self.t)
        pool = a + (c0 - a) * e
        d_pool = np.column_stack([-(c0 - a) * self.t * e, 1 - e, e])
        return pool, d_pool, k * d_pool + np.outer(pool, [1.0, 0.0, 0.0])

    def tangent(self, theta, dtheta):
        _, d_pool, d_flux = self._jacobian(self._check(theta))
        return {"pool": d_pool @ dtheta, "flux": d_flux @ dtheta}

    def adjoint(self, theta, d_outputs):
        _, d_pool, d_flux = self._jacobian(self._check(theta))
        zero = np.zeros_like(self.t)
        return d_pool.T @ d_outputs.get("pool", zero) + d_flux.T @ d_outputs.get("flux", zero)


# --- deliberately broken copies ------------------------------------------------------------
class TangentOff(Pools):
    """The tangent of flux 1 % too large."""

    def tangent(self, theta, dtheta):
        out = super().tangent(theta, dtheta)
        return {**out, "flux": 1.01 * out["flux"]}


class AdjointNotTranspose(Pools):
    """The adjoint of flux forgets the k-derivative of the rate (d flux/dk = k d pool/dk
    + pool): tangent right, adjoint not its transpose."""

    def adjoint(self, theta, d_outputs):
        theta = self._check(theta)
        _, d_pool, _ = self._jacobian(theta)
        zero = np.zeros_like(self.t)
        return d_pool.T @ (d_outputs.get("pool", zero) + theta[0] * d_outputs.get("flux", zero))


class Nondeterministic(Pools):
    """Unseeded noise on the pool (a stochastic model that forgot its seed)."""

    def run(self, theta):
        out = super().run(theta)
        return {**out, "pool": out["pool"] * (1 + 1e-9 * np.random.default_rng().random())}


class NaNOutput(Pools):
    def run(self, theta):
        out = super().run(theta)
        out["flux"][7] = np.nan
        return out


class DefaultOutsideBounds(Pools):
    parameters = Pools.parameters[:1] + (
        Parameter("a", 60.0, lower=0.0, upper=50.0, std=1.0, units="g m-2"),) + \
        Pools.parameters[2:]


class CrashesOutsideBounds(Pools):
    """Takes sqrt(k) before validating: a negative k raises ValueError, not ModelError."""

    def run(self, theta):
        math.sqrt(theta[0])
        return super().run(theta)


class ReusedBuffer(Pools):
    """Writes every run's pool into one array and returns it."""

    def run(self, theta):
        out = super().run(theta)
        self.__dict__.setdefault("_buffer", np.empty_like(self.t))[:] = out["pool"]
        return {**out, "pool": self._buffer}


class NoUnits(Pools):
    output_units = {"pool": "g m-2"}
    output_names = ("pool", "flux")


class WrongTimeAxis(Pools):
    def __init__(self):
        super().__init__()
        self.time = self.time[:-1]


class NoDerivatives(Pools):
    tangent = None
    adjoint = None


def conformance(model_class, **attributes):
    """A fresh ModelConformance subclass testing ``model_class`` (as a plugin's file would)."""
    return type(f"Test{model_class.__name__}", (ModelConformance,),
                {"model": model_class, **attributes})


def run_check(cls, name, request):
    """Run one check of the suite class ``cls`` as pytest would; returns nothing or raises."""
    method = getattr(cls(), name)
    return method(request) if "request" in method.__code__.co_varnames else method()


# --- the correct model ----------------------------------------------------------------------
@pytest.mark.parametrize("name", CHECKS)
def test_correct_model_passes_every_check(name, request):
    run_check(conformance(Pools), name, request)


def test_checks_are_the_nine_documented_ones():
    import pdaframe.conformance as conf
    assert len(CHECKS) == 9
    for name in CHECKS:
        assert f"``{name}``" in conf.__doc__, name


def test_default_seed_and_per_parameter_scale_make_the_check_reproducible(request):
    model = Pools()
    theta = model.defaults
    np.testing.assert_array_equal(direction_scale(model, theta), [0.02, 1.0, 5.0])
    lower, upper = [0.0, 0.0, 0.0], [1.0, 50.0, 100.0]
    first = check_tangent(model, theta, direction_scale(model, theta), None,
                          lower=lower, upper=upper)
    again = check_tangent(model, theta, direction_scale(model, theta), DEFAULT_SEED,
                          lower=lower, upper=upper)
    for k in ("pool", "flux"):
        np.testing.assert_array_equal(first[k].remainders, again[k].remainders)
        assert first[k].passed and 4.0 <= first[k].decades < np.inf, (k, first[k].decades)
    # the suite draws the same direction: its report is this one
    assert run_check(conformance(Pools), "test_tangent_taylor", request) is None


# --- each broken model fails its check, naming the output or parameter and the remedy -------
BROKEN = [
    # (model, check, words the message must contain)
    (TangentOff, "test_tangent_taylor",
     ["output 'flux': tangent Taylor test: FAILED", "decades (4 needed)",
      "falls as step**1.0", "a term missing, a wrong sign or factor",
      "if the derivative is believed right, try"]),
    (TangentOff, "test_adjoint_dot_product", ["output 'flux'", "transpose of the tangent"]),
    (AdjointNotTranspose, "test_adjoint_dot_product",
     ["adjoint dot-product test FAILED", "output 'flux': <T dθ, dy>=",
      "the adjoint must be the transpose of the tangent linear"]),
    (AdjointNotTranspose, "test_cost_gradient_taylor",
     ["cost gradient Taylor test: FAILED", "falls as step**1.0"]),
    (Nondeterministic, "test_determinism",
     ["output 'pool': two runs at the same theta differ", "seed any randomness"]),
    (NaNOutput, "test_outputs",
     ["output 'flux': not finite at time index 7 (nan)", "must raise ModelError"]),
    (DefaultOutsideBounds, "test_parameter_table",
     ["parameter 'a': default 60.0 is not inside its bounds (0.0, 50.0)",
      "move the default or the bound"]),
    (CrashesOutsideBounds, "test_failing_runs_raise_model_error",
     ["parameter 'k' = -1.0 (below its lower bound 0): ValueError: math domain error",
      "must raise pdaframe.plugin.ModelError(message, theta)"]),
    (ReusedBuffer, "test_determinism",
     ["output 'pool': a run at another theta changed the arrays an earlier run returned",
      "return new arrays"]),
    (NoUnits, "test_output_units", ["output(s) ['flux'] have no units", "output_units ="]),
    (WrongTimeAxis, "test_time_axis",
     ["the time axis has 39 steps but output 'pool': first axis 40"]),
]


@pytest.mark.parametrize("model_class, check, words", BROKEN,
                         ids=[f"{m.__name__}-{c}" for m, c, _ in BROKEN])
def test_broken_model_fails_its_check(model_class, check, words, request):
    with pytest.raises(AssertionError) as info:
        run_check(conformance(model_class), check, request)
    message = str(info.value)
    for w in words:
        assert w in message, f"{w!r} not in:\n{message}"


#: checks a defect may also fail besides its own (they need what the defect breaks)
ALSO_FAILING = {
    Nondeterministic: {"test_tangent_taylor", "test_cost_gradient_taylor"},   # noise
    NaNOutput: {"test_tangent_taylor", "test_cost_gradient_taylor"},           # NaN remainders
    DefaultOutsideBounds: {"test_cost_gradient_taylor"},    # no prior: ConfigError
}
#: checks that need the outputs and are skipped when test_outputs fails
NEED_OUTPUTS = {"test_time_axis", "test_output_units"}


@pytest.mark.parametrize("model_class", sorted({m for m, _, _ in BROKEN}, key=str))
def test_broken_model_passes_the_other_checks(model_class, request):
    """Each check catches its own defect: the others stay green (so a report points at
    the one that is wrong), except those that need what the defect breaks."""
    own = {c for m, c, _ in BROKEN if m is model_class}
    failing = own | ALSO_FAILING.get(model_class, set())
    for name in sorted(set(CHECKS) - failing):
        if "test_outputs" in own and name in NEED_OUTPUTS:
            with pytest.raises(pytest.skip.Exception, match="test_outputs failed"):
                run_check(conformance(model_class), name, request)
        else:
            run_check(conformance(model_class), name, request)


def test_model_without_derivatives_skips_the_derivative_checks(request):
    cls = conformance(NoDerivatives)
    for name in ("test_tangent_taylor", "test_adjoint_dot_product",
                 "test_cost_gradient_taylor"):
        with pytest.raises(pytest.skip.Exception, match="no tangent/adjoint"):
            run_check(cls, name, request)
    for name in sorted(set(CHECKS) - {"test_tangent_taylor", "test_adjoint_dot_product",
                                      "test_cost_gradient_taylor"}):
        run_check(cls, name, request)


def test_skip_attribute_and_its_bad_names(request):
    cls = conformance(WrongTimeAxis, skip={"test_time_axis": "monthly outputs, daily dates"})
    with pytest.raises(pytest.skip.Exception, match="monthly outputs, daily dates"):
        run_check(cls, "test_time_axis", request)
    bad = conformance(Pools, skip={"time_axis": "typo"})
    with pytest.raises(ConfigError, match=r"skip: unknown check\(s\) \['time_axis'\]; the "
                                          r"checks are \['test_adjoint_dot_product'"):
        run_check(bad, "test_outputs", request)


def test_model_may_be_a_registered_name_a_factory_or_an_object():
    assert isinstance(conformance(Pools, options={"n_days": 5})().make_model(), Pools)
    assert conformance(Pools, options={"n_days": 5})().make_model().t.size == 5
    obj = Pools(7)
    assert conformance(Pools, model=obj)().make_model() is obj
    assert conformance(Pools, model=lambda n_days: Pools(n_days),
                       options={"n_days": 3})().make_model().t.size == 3
    model = conformance(Pools, model="linear", options={"matrix": [[1.0, 2.0]]})().make_model()
    assert model.parameter_names == ("theta_0", "theta_1")
    with pytest.raises(ConfigError, match="set the class attribute model ="):
        ModelConformance().make_model()


# --- through pytest, with the plugin -----------------------------------------------------
def test_the_pytest_plugin_runs_the_suite(pytester):
    pytester.makepyfile(test_models="""
        from pdaframe.plugin import ModelConformance
        from tests.unit.test_conformance import NoDerivatives, Pools, TangentOff

        class TestPools(ModelConformance):
            model = Pools

        class TestTangentOff(ModelConformance):
            model = TangentOff

        class TestNoDerivatives(ModelConformance):
            model = NoDerivatives

        def test_not_part_of_the_suite():
            pass
    """)
    result = pytester.runpytest("-p", "pdaframe.conformance", "-m", "conformance", "-rfs",
                                "--pdaframe-seed", "7", "-p", "no:cacheprovider",
                                "-W", "ignore::pytest.PytestAssertRewriteWarning")
    result.assert_outcomes(passed=9 + 7 + 6, failed=2, skipped=3, deselected=1)
    result.stdout.fnmatch_lines([
        "pdaframe conformance suite: seed 7",
        "E * AssertionError: output 'flux': tangent Taylor test: FAILED, second order over *",
        "E * AssertionError: adjoint dot-product test FAILED:",
        "E * output 'flux': <T dθ, dy>=*",
        "FAILED test_models.py::TestTangentOff::test_tangent_taylor - *",
        "FAILED test_models.py::TestTangentOff::test_adjoint_dot_product - *",
        "SKIPPED [[]3[]]*: no tangent/adjoint*",
    ])


def test_outputs_check_names_the_first_bad_value_of_a_two_column_output():
    from pdaframe.conformance.checks import check_outputs

    class Columns(Pools):
        def run(self, theta):
            out = super().run(theta)
            both = np.column_stack([out["pool"], out["flux"]])
            both[4, 1] = -np.inf
            return {"both": both, "label": np.array(["a"] * 40)}
    with pytest.raises(AssertionError) as info:
        check_outputs(Columns(), Pools().defaults)
    assert str(info.value).splitlines()[1:] == [
        "  output 'both': not finite at time index 4 (-inf); a run that cannot give finite "
        "values must raise ModelError naming the cause",
        "  output 'label': <U1 array of shape (40,); expected a non-empty float array whose "
        "first axis is time",
        "  output(s) ['both'] are not declared (output_units / output_names list ['flux', "
        "'pool']): declare every output"]
