"""Sensitivity analysis against analytic indices (Method notes §8 VALIDATION)."""
import numpy as np
import pytest

import pdaframe
from pdaframe.analysis import sensitivity as sa
from pdaframe.errors import ConfigError, ModelError

# Ishigami a=7, b=0.1 (Method notes §8)
ISHIGAMI_S1 = np.array([0.31391, 0.44241, 0.0])
ISHIGAMI_ST = np.array([0.55759, 0.44241, 0.24368])


class Ishigami:
    parameter_names = ("x1", "x2", "x3")

    def run(self, theta):
        x1, x2, x3 = theta
        return {"f": np.array([np.sin(x1) + 7.0 * np.sin(x2) ** 2 + 0.1 * x3 ** 4 * np.sin(x1)])}


class Linear:
    """f = sum b_i x_i; ``fail_above``: a ModelError when x_0 exceeds it."""

    def __init__(self, b, fail_above=None):
        self.b = np.asarray(b, dtype=float)
        self.parameter_names = tuple(f"p{i}" for i in range(self.b.size))
        self.fail_above = fail_above

    def run(self, theta):
        if self.fail_above is not None and theta[0] > self.fail_above:
            raise pdaframe.ModelError("too big", theta=theta)
        return {"f": np.array([self.b @ theta, 2 * self.b @ theta])}


def _problem(model, lower, upper, n_out=1):
    prior = pdaframe.UniformPrior(lower, upper, names=model.parameter_names)
    return pdaframe.Problem(model, prior, [pdaframe.DataStream("f", "f", np.zeros(n_out),
                                                               std=1.0)])


@pytest.fixture(scope="module")
def ishigami():
    return _problem(Ishigami(), [-np.pi] * 3, [np.pi] * 3)


def test_sobol_ishigami_analytic(ishigami):
    res = sa.sobol(ishigami, n=2 ** 13, qoi="f:mean", seed=3)
    assert res.nfev == 2 ** 13 * 5 and res.n_failed == 0
    for key, exact in (("S1", ISHIGAMI_S1), ("ST", ISHIGAMI_ST)):
        err = np.abs(res.indices[key] - exact)
        assert np.all(err <= np.maximum(3 * res.conf[key], 0.01)), (key, res.indices[key])
        assert np.all(err < 0.03)
    assert res.ranking() == ["x1", "x2", "x3"]
    assert res.shortlist(threshold=0.3) == ["x1", "x2"]


def test_efast_ishigami_analytic(ishigami):
    res = sa.efast(ishigami, n=2000, qoi="f:mean", seed=2)
    assert res.nfev == 6000
    assert np.allclose(res.indices["S1"], ISHIGAMI_S1, atol=0.03)
    assert np.allclose(res.indices["ST"], ISHIGAMI_ST, atol=0.05)


def test_morris_linear_exact():
    b = np.array([3.0, -1.0, 0.2, 0.0])
    prob = _problem(Linear(b), [0, 0, 0, 0], [1, 2, 1, 1])
    res = sa.morris(prob, n=10, qoi="f:mean", seed=4)
    width = np.array([1, 2, 1, 1])
    # qoi = mean(b.x, 2 b.x) = 1.5 b.x; elementary effects are per unit-cube step, so
    # EE_i = 1.5 b_i (upper - lower) (SALib #191)
    assert np.allclose(res.indices["mu_star"], 1.5 * np.abs(b) * width, atol=1e-10)
    assert np.allclose(res.indices["mu"], 1.5 * b * width, atol=1e-10)
    assert np.allclose(res.indices["sigma"], 0.0, atol=1e-10)
    assert res.nfev == 10 * 5
    assert res.shortlist(top=2) == ["p0", "p1"]
    assert res.shortlist(threshold=0.1, relative=True) == ["p0", "p1"]   # 0.3 < 0.45
    assert res.shortlist(threshold=0.05, relative=True) == ["p0", "p1", "p2"]


def test_deterministic_per_seed(ishigami):
    a = sa.sobol(ishigami, n=256, qoi="f:mean", seed=7)
    b = sa.sobol(ishigami, n=256, qoi="f:mean", seed=7)
    c = sa.sobol(ishigami, n=256, qoi="f:mean", seed=8)
    assert np.array_equal(a.indices["ST"], b.indices["ST"])
    assert np.array_equal(a.conf["ST"], b.conf["ST"])
    assert not np.array_equal(a.X, c.X)
    m1 = sa.morris(ishigami, n=8, qoi="f:mean", seed=1)
    m2 = sa.morris(ishigami, n=8, qoi="f:mean", seed=1)
    assert np.array_equal(m1.indices["mu_star"], m2.indices["mu_star"])


def test_oat_and_cost_qoi():
    b = np.array([2.0, -0.5, 0.0])
    prob = _problem(Linear(b), [-1, -1, -1], [1, 1, 1], n_out=2)
    res = sa.oat(prob, levels=5, qoi="f:max")
    # f:max = max(b.x, 2 b.x): over x_0 in [-1, 1] from 0 -> 2*2 - (-2) = 6
    assert np.allclose(res.indices["effect"], [6.0, 1.5, 0.0])
    assert res.nfev == 16
    # cost J = 0.5 (f^2 + 4 f^2) = 2.5 f^2 with f = b.x: at x=(1,0,0), J=10
    jres = sa.oat(prob, levels=3, qoi="cost")
    assert np.isclose(jres.Y[3], 10.0) and jres.Y[0] == 0.0
    assert jres.shortlist(top=1) == ["p0"]
    assert sa.analyse(prob, "oat", levels=3, qoi="f:mean").method == "oat"


def test_misfit_qoi_leaves_out_the_prior_term():
    model = pdaframe.LinearModel([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    prior = pdaframe.GaussianPrior([0.0, 0.0], std=[0.1, 0.1], lower=[-1, -1], upper=[1, 1])
    streams = [pdaframe.DataStream("a", "y", [1.0, 0.5, 0.0], std=0.5)]
    prob = pdaframe.Problem(model, prior, streams)
    res = sa.oat(prob, levels=3)                       # default qoi: misfit = J_o
    theta = res.X[3]
    assert res.qoi == "misfit" and res.Y[3] == pytest.approx(prob.cost_terms(theta)["a"])
    assert res.Y[3] == pytest.approx(prob.cost(theta) - prior.cost(theta))
    one = sa.oat(prob, levels=3, qoi="misfit:a")
    np.testing.assert_array_equal(one.Y, res.Y)
    # J_b = 0.5 (x / 0.1)^2 dominates the cost over the bounds box, not the misfit
    cost = sa.oat(prob, levels=3, qoi="cost")
    assert cost.indices["effect"][0] > 5 * res.indices["effect"][0]
    with pytest.raises(ConfigError, match="no stream 'b'; the problem has \\['a'\\]"):
        sa.oat(prob, qoi="misfit:b")
    # box_width: the prior mean +- k sd (clipped to the bounds) instead of the bounds
    near = sa.morris(prob, n=4, box_width=2.0, seed=1)
    assert np.all(np.abs(near.X) <= 0.2 + 1e-12) and np.isclose(np.abs(near.X).max(), 0.2)
    with pytest.raises(ConfigError, match="box_width=0"):
        sa.oat(prob, box_width=0)


def test_box_width_samples_unbounded_priors(lg2):
    res = sa.sobol(lg2, n=16, box_width=3.0, seed=2)
    sd = np.sqrt(np.diag(lg2.prior.scale @ lg2.prior.scale.T))
    assert np.all(res.X >= lg2.prior.mean - 3 * sd) and np.all(res.X <= lg2.prior.mean + 3 * sd)
    assert np.all(res.X.max(axis=0) - res.X.min(axis=0) > 5 * sd)


def test_failed_runs(recwarn):
    b = np.array([1.0, 0.5])
    prob = _problem(Linear(b, fail_above=0.9), [0, 0], [1, 1])
    res = sa.morris(prob, n=20, qoi="f:mean", seed=1)
    assert res.n_failed > 0 and 0 < res.n_dropped < 20
    assert any("dropping" in str(w.message) for w in recwarn)
    assert np.allclose(res.indices["mu_star"], 1.5 * np.abs(b))
    s = sa.sobol(prob, n=64, qoi="f:mean", seed=1)
    assert 0 < s.n_dropped < 64
    with pytest.raises(ModelError, match="efast"):
        sa.efast(prob, n=100, qoi="f:mean", seed=1)


def test_bad_inputs(lg2, ishigami):
    with pytest.raises(ConfigError, match="needs finite lower and upper bounds"):
        sa.sobol(lg2, n=64)
    with pytest.raises(ConfigError, match="power of 2"):
        sa.sobol(ishigami, n=100, qoi="f:mean")
    with pytest.raises(ConfigError, match="statistic"):
        sa.oat(ishigami, qoi="f:mode")
    with pytest.raises(ModelError, match="all 16 runs failed.*no output"):
        sa.oat(ishigami, qoi="g:mean")
    for call, match in ((lambda: sa.morris(ishigami, n=1), "morris: n = 1: at least 2"),
                        (lambda: sa.morris(ishigami, n=4, num_levels=1), "num_levels = 1"),
                        (lambda: sa.oat(ishigami, levels=1), "oat: levels = 1: at least 2"),
                        (lambda: sa.morris(ishigami, n=2.5), "whole number")):
        with pytest.raises(ConfigError, match=match):
            call()


def test_plot(ishigami, tmp_path):
    res = sa.sobol(ishigami, n=128, qoi="f:mean", seed=1)
    path = sa.plot_sensitivity(res, tmp_path / "sobol.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    m = sa.morris(ishigami, n=6, qoi="f:mean", seed=1)
    assert sa.plot_sensitivity(m, tmp_path / "m.png").stat().st_size > 1000


# --- only the outputs the QoI reads (issue 13, item 3) -------------------------------------
def _w_sum(outputs):
    """A QoI that reads ``w`` (module level, as for MPI)."""
    return float(outputs["w"].sum())


def _w_sum_listed(outputs):
    return float(outputs["w"].sum())


_w_sum_listed.inputs = ("w",)


def test_qoi_runs_ask_only_for_the_outputs_read():
    """The model records what each run is asked for; the QoI values equal those of a model
    that always computes every output, bit for bit."""
    from tests.unit.test_scores import Plain, Recording

    def problem(model):
        prior = pdaframe.UniformPrior([0.05, 2.0, 0.0], [0.3, 6.0, 1.0],
                                      names=["k", "c0", "a"])
        y = Recording().run([0.15, 4.0, 0.8])["y"]
        return pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", y, std=0.1)])

    # (qoi, what every run after the first (full) one asks for)
    cases = [("w:mean", ("w", "y")), ("y:max", ("y",)), ("misfit", ("y",)), ("cost", ("y",)),
             (_w_sum_listed, ("w", "y")), (_w_sum, None)]
    for qoi, asked in cases:
        model = Recording()
        res = sa.morris(problem(model), n=4, qoi=qoi, seed=5)
        assert res.nfev == 16 and model.asked[0] is None, qoi
        assert model.asked[1:] == [asked] * 15, (qoi, model.asked)
        full = sa.morris(problem(Plain()), n=4, qoi=qoi, seed=5)
        assert np.array_equal(res.Y, full.Y) and np.all(np.isfinite(res.Y)), qoi
        assert np.array_equal(res.indices["mu_star"], full.indices["mu_star"]), qoi
    # w = y^2: the mean of w at the first sample, by hand from the model's formula
    k, c0, a = res.X[0]
    t = np.arange(20.0)
    y = c0 * np.exp(-k * t) + a * np.sin(t) + a ** 2 * k
    assert sa.QuantityOfInterest(problem(Recording()), "w:mean")(res.X[0]) == \
        pytest.approx(np.mean(y ** 2), rel=1e-14)
    assert sa.QuantityOfInterest(problem(Recording()), _w_sum).inputs is None
    # an output the model does not have: the message lists all of its outputs
    model = Recording()
    with pytest.raises(ModelError, match=r"no output 'v'; it has \['w', 'y', 'z'\]"):
        sa.oat(problem(model), levels=2, qoi="v:mean")
