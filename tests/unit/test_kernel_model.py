"""`pdaframe.plugin.KernelModel` with a kernel written in numpy (a stand-in for a compiled
one, same calling convention): outputs, memory order, warm-up, time axis, status ->
ModelError, caching, validation, and tangent/adjoint (Taylor, dot product) including the
scaled outputs."""
from collections import Counter

import numpy as np
import pytest

import pdaframe
from pdaframe.errors import PluginError
from pdaframe.interfaces import has_adjoint, has_tangent
from pdaframe.plugin import (ConfigError, DataError, KernelModel, ModelError, Parameter,
                             check_model, dot_product_test, time_axis)

KG = 1e-3
ERR_PARAM, ERR_POOL = 2, 1


class Decay(KernelModel):
    """Two outputs over ``n_run`` daily steps: ``carbon = c0 exp(-k t)`` and ``flux = k
    carbon``; f90wrap-like status ``(ierr, step, index)``; counts its kernel calls."""

    parameters = (Parameter("k", 0.1, 0.0, 1.0, 0.05, "day-1"),
                  Parameter("c0", 100.0, 0.0, 1e4, 20.0, "g m-2"))
    kernel_outputs = ("carbon", "flux")
    scaled_outputs = {"carbon_kg": ("carbon", KG)}
    output_units = {"carbon": "g m-2", "flux": "g m-2 day-1", "carbon_kg": "kg m-2"}

    def __init__(self, n=30, **kw):
        super().__init__(n, **kw)
        self.calls = Counter()
        self.t = np.arange(float(n))

    def _check_args(self, *arrays, n_columns=2):
        for a in arrays:
            assert a.dtype == np.float64
            assert a.flags.f_contiguous if self.order == "F" else a.flags.c_contiguous
            assert a.shape == (self.n_run, n_columns)

    def kernel_run(self, theta, out):
        self.calls["run"] += 1
        self._check_args(out)
        k, c0 = theta
        if k < 0:
            return (ERR_PARAM, 0, 1)                 # 1-based parameter index, as Fortran
        out[:, 0] = c0 * np.exp(-k * self.t)
        out[:, 1] = k * out[:, 0]
        if c0 > 5000:                                # "a pool overflows" at step 7
            return (ERR_POOL, 7, 1)
        if c0 == 4242:
            out[11, 1] = np.nan                      # a NaN the kernel does not report
        return (0, 0, 0)

    def kernel_tangent(self, theta, dtheta, dout):
        self.calls["tangent"] += 1
        self._check_args(dout)
        out = np.empty((self.n_run, 2), order=self.order)
        status = Decay.kernel_run(self, theta, out)
        self.calls["run"] -= 1                       # (not a forward run of the base)
        k, _ = theta
        dk, dc0 = dtheta
        e = np.exp(-k * self.t)
        dout[:, 0] = e * dc0 - self.t * out[:, 0] * dk
        dout[:, 1] = k * dout[:, 0] + out[:, 0] * dk
        return status

    def kernel_adjoint(self, theta, out, out_bar, theta_bar):
        self.calls["adjoint"] += 1
        self._check_args(out, out_bar)
        assert not out.flags.writeable               # the cached forward run
        k, c0 = theta
        c_bar = out_bar[:, 0] + k * out_bar[:, 1]
        theta_bar[0] += np.dot(out[:, 0], out_bar[:, 1]) - np.dot(self.t * out[:, 0], c_bar)
        theta_bar[1] += np.dot(np.exp(-k * self.t), c_bar)
        return 0

    def kernel_error(self, status, theta):
        ierr, step, index = status
        if ierr == ERR_PARAM:
            return f"{self.parameter_text(index - 1, theta)} must not be negative"
        return f"pool {index} negative at the end of {self.step_text(step)}"


class DecayC(Decay):
    order = "C"


class Selecting(Decay):
    """`Decay` whose kernel stores only the columns asked for; its adjoint reads only the
    carbon column of the forward run."""

    selects_columns = True
    adjoint_needs = ("carbon",)

    def kernel_run(self, theta, out, columns):
        self.calls[columns] += 1
        self._check_args(out, n_columns=len(columns))
        full = np.empty((self.n_run, 2), order=self.order)
        status = Decay.kernel_run(self, theta, full)
        out[:] = full[:, list(columns)]
        return status

    def kernel_tangent(self, theta, dtheta, dout, columns):
        self._check_args(dout, n_columns=len(columns))
        full = np.empty((self.n_run, 2), order=self.order)
        status = Decay.kernel_tangent(self, theta, dtheta, full)
        dout[:] = full[:, list(columns)]
        return status

    def kernel_adjoint(self, theta, trajectory, out_bar, theta_bar, columns):
        assert trajectory.shape == (self.n_run, 1) and not trajectory.flags.writeable
        self._check_args(out_bar, n_columns=len(columns))
        out = np.empty((self.n_run, 2), order=self.order)
        out[:, 0] = trajectory[:, 0]
        out[:, 1] = theta[0] * trajectory[:, 0]
        out.flags.writeable = False
        full_bar = np.zeros((self.n_run, 2), order=self.order)
        full_bar[:, list(columns)] = out_bar
        return Decay.kernel_adjoint(self, theta, out, full_bar, theta_bar)


class ForwardOnly(KernelModel):
    parameters = Decay.parameters
    kernel_outputs = ("carbon",)
    output_units = {"carbon": "g m-2"}

    def __init__(self):
        super().__init__(5, start="2020-02-27", step="1D")

    def kernel_run(self, theta, out):
        out[:, 0] = theta[1] * np.exp(-theta[0] * np.arange(5.0))


THETA = np.array([0.1, 100.0])


@pytest.mark.parametrize("cls", [Decay, DecayC])
def test_outputs_in_either_memory_order(cls):
    model = cls()
    out = model.run(THETA)
    assert list(out) == ["carbon", "flux", "carbon_kg"]
    expected = 100.0 * np.exp(-0.1 * np.arange(30.0))
    np.testing.assert_array_equal(out["carbon"], expected)
    np.testing.assert_array_equal(out["flux"], 0.1 * expected)
    np.testing.assert_array_equal(out["carbon_kg"], expected * KG)
    assert all(v.shape == (30,) for v in out.values())
    assert not out["carbon"].flags.writeable
    assert model.name == "decay" and model.n == model.n_steps == 30


def test_warmup_and_time_axis_from_start_and_step():
    model = Decay(10, start="2020-02-27", step="1D", warmup=3)
    out = model.run(THETA)
    assert model.n_run == 10 and model.n_steps == 7
    np.testing.assert_array_equal(out["carbon"], 100.0 * np.exp(-0.1 * np.arange(3.0, 10.0)))
    assert model.time.dtype == np.dtype("datetime64[D]")
    assert model.time[0] == np.datetime64("2020-03-01")            # 2020 is a leap year
    assert model.run_time[0] == np.datetime64("2020-02-27") and model.time.size == 7
    hourly = Decay(4, start="2020-01-01T22", step="3h")
    assert [str(t) for t in hourly.time] == ["2020-01-01T22", "2020-01-02T01",
                                             "2020-01-02T04", "2020-01-02T07"]
    assert not hasattr(Decay(), "time")                 # no dates: streams use step indices


def test_time_axis_and_bad_construction():
    assert time_axis("2012-12-30", 3, 1).tolist() == time_axis(
        np.datetime64("2012-12-30"), 3, np.timedelta64(1, "D")).tolist()
    assert str(time_axis("2012-12-30", 3, "1W")[-1]) == "2013-01-13"
    for step in ("1M", "day", 0, "-1D", 1.5):
        with pytest.raises(ConfigError, match=f"step {step!r}"):
            time_axis("2012-01-01", 3, step)
    with pytest.raises(ConfigError, match="start 'soon' is not a date"):
        time_axis("soon", 3)
    for warmup in (10, -1, 2.0, True):
        with pytest.raises(ConfigError, match=r"decay: warmup must be a whole number of "
                                              r"steps in \[0, 10\)|warmup must be a whole"):
            Decay(10, warmup=warmup)
    with pytest.raises(ConfigError, match="not both"):
        Decay(3, time=time_axis("2000-01-01", 3), start="2000-01-01")
    with pytest.raises(DataError, match=r"decay: time must be 3 dates \(datetime64\), got "
                                        r"float64 of shape \(3,\)"):
        Decay(3, time=[1.0, 2.0, 3.0])
    repeated = np.array(["2000-01-01", "2000-01-02", "2000-01-01"], dtype="datetime64[D]")
    assert Decay(3, time=repeated).time.tolist() == repeated.tolist()   # a spin-up cycle


def test_kernel_status_becomes_a_model_error_naming_step_and_date():
    model = Decay(20, start="2001-06-01")
    with pytest.raises(ModelError) as info:
        model.run([0.1, 6000.0])
    assert str(info.value) == ("decay: pool 1 negative at the end of step 7 (0-based, of 20; "
                               "dated 2001-06-08)")
    np.testing.assert_array_equal(info.value.theta, [0.1, 6000.0])
    with pytest.raises(ModelError, match=r"^decay: parameter 'k' = -0.5 must not be negative$"):
        model.run([-0.5, 1.0])
    with pytest.raises(ModelError, match=r"^decay: output 'flux' is nan at step 11 \(0-based, "
                                         r"of 20; dated 2001-06-12\)$"):
        model.run([0.1, 4242.0])
    model.check_finite = False                           # the kernel checks itself
    assert np.isnan(model.run([0.1, 4242.0])["flux"][11])
    with pytest.raises(ModelError, match="pool 1 negative"):    # tangent: the same mapping
        model.tangent([0.1, 6000.0], [1.0, 0.0])


def test_default_kernel_error_and_int_status():
    class Bad(ForwardOnly):
        def kernel_run(self, theta, out):
            return 3
    with pytest.raises(ModelError, match=r"^forwardonly: kernel status 3 \(3\)$"):
        Bad().run(THETA)


def test_forward_run_is_cached_for_the_adjoint():
    model = Decay()
    out = model.run(THETA)
    again = model.run(THETA.copy())
    assert again["carbon"] is not out["carbon"]
    assert np.shares_memory(again["carbon"], out["carbon"]) and model.calls["run"] == 1
    model.adjoint(THETA, {"flux": np.ones(30)})
    assert model.calls == Counter(run=1, adjoint=1)           # no new forward run
    model.run([0.2, 100.0])
    model.adjoint(THETA, {"flux": np.ones(30)})
    assert model.calls == Counter(run=3, adjoint=2)           # a new theta: one new run
    model.clear_cache()
    model.run([0.1, 100.0])
    assert model.calls["run"] == 4
    model.cache = False
    model.run(THETA)
    model.run(THETA)
    assert model.calls["run"] == 6


@pytest.mark.parametrize("cls", [Decay, DecayC])
@pytest.mark.parametrize("warmup", [0, 4])
def test_tangent_and_adjoint_pass_taylor_and_dot_product(cls, warmup):
    model = cls(25, warmup=warmup)
    result = check_model(model, THETA, scale=[0.1, 100.0])
    reports = result["taylor"]
    assert set(reports) == {"carbon", "flux", "carbon_kg"}
    assert all(r.passed and r.decades >= 4 for r in reports.values())
    assert result["dot_product"] <= 1e-12
    rng = np.random.default_rng(5)
    dtheta = rng.normal(size=2)
    d_out = {k: rng.normal(size=model.n_steps) for k in model.output_units}
    lhs = sum(np.dot(v, d_out[k]) for k, v in model.tangent(THETA, dtheta).items())
    rhs = np.dot(dtheta, model.adjoint(THETA, d_out))
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs)
    # the scaled output's sensitivity goes to its kernel output, times the factor
    only_kg = model.adjoint(THETA, {"carbon_kg": np.ones(model.n_steps)})
    only_c = model.adjoint(THETA, {"carbon": np.full(model.n_steps, KG)})
    np.testing.assert_allclose(only_kg, only_c, rtol=1e-15)
    assert dot_product_test(model, THETA) <= 1e-12


def test_no_kernel_tangent_means_no_tangent():
    model = ForwardOnly()
    assert not has_tangent(model) and not has_adjoint(model)
    assert has_tangent(Decay()) and has_adjoint(Decay())
    with pytest.raises(AttributeError, match="forwardonly has no tangent linear"):
        model.tangent
    assert model.time[-1] == np.datetime64("2020-03-02")
    prior = pdaframe.GaussianPrior([0.1, 100.0], std=[0.05, 20.0])
    stream = pdaframe.DataStream("c", "carbon", np.full(5, 90.0), std=1.0)
    g_fd = pdaframe.Problem(model, prior, [stream]).gradient(THETA)    # finite differences
    g_adjoint = pdaframe.Problem(Decay(5), prior, [stream]).gradient(THETA)
    np.testing.assert_allclose(g_fd, g_adjoint, rtol=1e-6)


@pytest.mark.parametrize("call, match", [
    (lambda m: m.run([1.0]), r"decay: theta needs 2 values \['k', 'c0'\], got shape \(1,\)"),
    (lambda m: m.run([np.nan, 1.0]),
     r"decay: parameter 'k' = nan is invalid: must be a finite number"),
    (lambda m: m.tangent(THETA, [1.0, np.inf]), r"decay: dtheta\['c0'\] is inf"),
    (lambda m: m.tangent(THETA, [1.0]), r"dtheta needs 2 values"),
    (lambda m: m.adjoint(THETA, {"nee": np.ones(26)}),
     r"unknown output\(s\) \['nee'\]; the outputs are \['carbon', 'flux', 'carbon_kg'\]"),
    (lambda m: m.adjoint(THETA, {"flux": np.ones(30)}),
     r"d_outputs\['flux'\] has shape \(30,\), expected \(26,\)"),
    (lambda m: m.adjoint(THETA, {"carbon_kg": np.r_[np.ones(5), np.nan, np.ones(20)]}),
     r"d_outputs\['carbon_kg'\] is not finite at step 9 \(0-based, of 30; dated "
     r"2000-01-10\)"),
])
def test_bad_arguments_are_model_errors(call, match):
    model = Decay(30, warmup=4, start="2000-01-01")
    with pytest.raises(ModelError, match=match):
        call(model)
    assert model.calls == Counter()                  # found before any kernel call


def test_large_finite_theta_is_not_an_error():
    with np.errstate(all="raise"):
        assert ForwardOnly().run([0.0, 1e300])["carbon"].tolist() == [1e300] * 5


@pytest.mark.parametrize("attrs, words", [
    ({"output_units": {"carbon": "g m-2"}}, ["output_units lacks ['flux']"]),
    ({"output_units": {"carbon": "g", "flux": "g", "nee": "g"}},
     ["output_units names ['nee'], not outputs"]),
    ({"output_units": {"carbon": "g", "flux": "g", "x": "g"},
      "scaled_outputs": {"x": ("nee", 2.0)}}, ["scaled_outputs['x'] = ('nee', 2.0)"]),
    ({"output_units": {"carbon": "g", "flux": "g"}, "order": "K"}, ["order = 'K'"]),
    ({"kernel_outputs": ("carbon", "carbon"), "output_units": {"carbon": "g"}},
     ["appears twice"]),
])
def test_inconsistent_declaration_is_a_plugin_error(attrs, words):
    base = {"kernel_outputs": ("carbon", "flux"), "parameters": Decay.parameters}
    with pytest.raises(PluginError) as info:
        type("Broken", (KernelModel,), {**base, **attrs})
    assert "Broken (a KernelModel)" in str(info.value)
    assert all(w in str(info.value) for w in words), str(info.value)


# --- only the outputs that are needed -----------------------------------------------------

def test_run_and_tangent_return_only_the_outputs_asked_for():
    full, selecting = Decay(12, warmup=2), Selecting(12, warmup=2)
    reference = full.run(THETA)
    d_reference = full.tangent(THETA, [1.0, 2.0])
    for outputs, columns in [(["flux"], (1,)), ({"carbon_kg"}, (0,)), ("flux", (1,)),
                             (["nee", "carbon_kg", "flux"], (0, 1)), (None, (0, 1))]:
        selecting.clear_cache()
        selecting.calls.clear()
        out = selecting.run(THETA, outputs=outputs)
        names = [n for n in reference if outputs is None or n in outputs]
        assert list(out) == names and selecting.calls == Counter({"run": 1, columns: 1})
        for n in names:
            np.testing.assert_array_equal(out[n], reference[n])     # bit for bit
        d_out = selecting.tangent(THETA, [1.0, 2.0], outputs=outputs)
        assert list(d_out) == names
        for n in names:
            np.testing.assert_array_equal(d_out[n], d_reference[n])
        assert list(full.run(THETA, outputs=outputs)) == names    # all computed, some returned
    selecting.calls.clear()
    assert selecting.run(THETA, outputs=["nee"]) == {} and selecting.tangent(
        THETA, [1.0, 2.0], outputs=[]) == {}
    assert selecting.calls == Counter()              # nothing asked: no kernel call


def test_selecting_kernel_is_cached_by_columns():
    model = Selecting(12)
    model.run(THETA, outputs=["flux"])
    model.run(THETA, outputs=["flux"])
    model.run(THETA.copy())                          # needs carbon too: a new run
    model.run(THETA, outputs=["carbon_kg", "flux"])  # held by the last run
    assert model.calls == Counter({"run": 2, (1,): 1, (0, 1): 1})


def test_adjoint_trajectory_is_stored_while_gradients_are_asked_at_run_points():
    model = Selecting(12)
    reference = Decay(12)
    d_out = {"flux": np.linspace(1.0, 2.0, 12)}
    thetas = [THETA * (1 + 0.01 * i) for i in range(6)]
    model.run(thetas[0], outputs=["flux"])
    np.testing.assert_array_equal(model.adjoint(thetas[0], d_out),
                                  reference.adjoint(thetas[0], d_out))
    assert model.calls == Counter({"run": 2, (1,): 1, (0,): 1,      # a run for the trajectory
                                   "adjoint": 1})
    for th in thetas[1:3]:                           # from now on runs store carbon too
        model.run(th, outputs=["flux"])
        np.testing.assert_array_equal(model.adjoint(th, d_out), reference.adjoint(th, d_out))
    assert model.calls == Counter({"run": 4, (1,): 1, (0,): 1, (0, 1): 2, "adjoint": 3})
    model.run(thetas[3], outputs=["flux"])           # stored, but no adjoint follows ...
    model.run(thetas[4], outputs=["flux"])           # ... so this run stops storing it
    model.run(thetas[5], outputs=["flux"])
    assert model.calls == Counter({"run": 7, (1,): 3, (0,): 1, (0, 1): 3, "adjoint": 3})
    assert model.adjoint(thetas[5], {})[0] == 0.0    # no sensitivities: a zero gradient


@pytest.mark.parametrize("warmup", [0, 3])
def test_selecting_kernel_passes_taylor_and_dot_product(warmup):
    model = Selecting(20, warmup=warmup)
    result = check_model(model, THETA, scale=[0.1, 100.0])
    assert all(r.passed and r.decades >= 4 for r in result["taylor"].values())
    assert result["dot_product"] <= 1e-12
    d_out = {"carbon_kg": np.ones(model.n_steps), "flux": np.arange(model.n_steps, dtype=float)}
    np.testing.assert_array_equal(model.adjoint(THETA, d_out),
                                  Decay(20, warmup=warmup).adjoint(THETA, d_out))
