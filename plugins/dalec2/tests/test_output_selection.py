"""DALEC2 computes and returns only the outputs asked for (``run(theta, outputs=...)``).

The kernel stores the selected outputs only (run, tangent) and its adjoint takes the
sensitivities of the selected outputs; every value is the full run's, bit for bit. Taylor
tests of the full tangent are in ``test_kernel.py``; a selected tangent is the same array.
"""
import numpy as np
import pytest

import pdaframe
from pdaframe_dalec2 import OUTPUTS, Dalec2
from pdaframe_dalec2 import model as dalec2_model
from pdaframe_dalec2.plugin import make_dalec2

from test_kernel import POINTS, STD, XB, daily_drivers, monthly_drivers

SELECTIONS = [("nee",), ("lai", "c_woo"), ("c_som", "gpp", "rh"), ("c_lab", "c_fol", "c_roo",
              "c_woo", "c_lit", "c_som"), ("rtot", "ra", "nee", "c_lit"),
              ("phi_fall", "day_length"), ("nee", "phi_onset", "c_fol")]


@pytest.fixture(scope="module")
def models():
    daily, monthly = daily_drivers(), monthly_drivers()
    return {"P16": Dalec2(daily), "CARDAMOM-monthly": Dalec2(monthly, "CARDAMOM")}


class Counting:
    """Stands in for the kernel module: counts the runs and records their selections."""

    def __init__(self, kernel):
        self.kernel, self.runs = kernel, []

    def dalec2_run(self, *args):
        self.runs.append(tuple(int(j) for j in args[-2]))
        return self.kernel.dalec2_run(*args)

    def __getattr__(self, name):
        return getattr(self.kernel, name)


@pytest.fixture
def counting(monkeypatch):
    counter = Counting(dalec2_model._kernel)
    monkeypatch.setattr(dalec2_model, "_kernel", counter)
    return counter


@pytest.mark.parametrize("which", ["P16", "CARDAMOM-monthly"])
@pytest.mark.parametrize("selection", SELECTIONS)
def test_selected_outputs_are_the_full_run_bit_for_bit(models, which, selection):
    model = models[which]
    theta = POINTS["productive"]
    full = Dalec2.run(model, theta)
    model.clear_cache()                                # no cache: a selected kernel run
    part = model.run(theta, outputs=selection)
    assert sorted(part) == sorted(selection)
    for name in selection:
        np.testing.assert_array_equal(part[name], full[name])
    d = STD * np.sin(np.arange(23.0))
    tl_full = model.tangent(theta, d)
    tl_part = model.tangent(theta, d, outputs=selection)
    assert sorted(tl_part) == sorted(selection)
    for name in selection:
        np.testing.assert_array_equal(tl_part[name], tl_full[name])


@pytest.mark.parametrize("which", ["P16", "CARDAMOM-monthly"])
@pytest.mark.parametrize("selection", SELECTIONS)
def test_adjoint_dot_product_on_the_selected_outputs(models, which, selection):
    model = models[which]
    theta = POINTS["productive"]
    rng = np.random.default_rng(3)
    d = STD * rng.standard_normal(23)
    w = {name: rng.standard_normal(model.n) for name in selection}
    tl = model.tangent(theta, d, outputs=selection)
    lhs = sum(float(tl[k] @ w[k]) for k in selection)
    model.run(theta, outputs=selection)                # the adjoint after a selected run
    rhs = float(d @ model.adjoint(theta, w))
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), abs(rhs))
    # the same gradient as from a fresh model (its own pool run)
    fresh = Dalec2(model.drivers, model.variant)
    np.testing.assert_array_equal(fresh.adjoint(theta, w), model.adjoint(theta, w))


def test_names_that_are_not_outputs_are_left_out(models):
    model = models["P16"]
    assert sorted(model.run(XB, outputs=["nee", "sif", 3])) == ["nee"]
    assert sorted(model.run(XB, outputs="lai")) == ["lai"]
    assert model.run(XB, outputs=[]) == {} and model.run(XB, outputs=["sif"]) == {}
    assert sorted(model.run(XB)) == sorted(OUTPUTS)
    out = model.run(XB, outputs=("nee",))
    with pytest.raises(ValueError):
        out["nee"][0] = 0.0                            # read-only: shared with the cache


def test_the_kernel_stores_the_selection_only(models, counting):
    model = Dalec2(models["P16"].drivers)
    model.run(XB, outputs=["lai", "nee"])
    model.run(XB, outputs=["nee"])                     # held by the last run: no new run
    model.run(XB)
    assert counting.runs == [(5, 6), tuple(range(1, 16))]


def test_pools_are_kept_while_gradients_follow_runs(models, counting):
    """After a gradient at the last run's point, runs store the pools too, until unused."""
    model = Dalec2(models["P16"].drivers)
    w = {"nee": np.ones(model.n)}
    thetas = [XB * (1 + 1e-3 * i) for i in range(5)]
    model.run(thetas[0], outputs=["nee"])
    g0 = model.adjoint(thetas[0], w)                   # no pools yet: one run for them
    model.run(thetas[1], outputs=["nee"])              # from now on the pools come along
    g1 = model.adjoint(thetas[1], w)
    model.run(thetas[2], outputs=["nee"])              # pools stored, never used
    model.run(thetas[3], outputs=["nee"])              # so this run stores NEE only
    g3 = model.adjoint(thetas[3], w)
    pools = tuple(range(7, 13))
    assert counting.runs == [(5,), pools, (5,) + pools, (5,) + pools, (5,), pools]
    for theta, g in [(thetas[0], g0), (thetas[1], g1), (thetas[3], g3)]:
        np.testing.assert_array_equal(g, Dalec2(model.drivers).adjoint(theta, w))


def test_problem_asks_the_kernel_for_its_streams_outputs(models, counting):
    model = Dalec2(models["P16"].drivers)
    truth = model.run(XB)
    streams = [pdaframe.DataStream("nee", "nee", truth["nee"], std=0.7),
               pdaframe.DataStream("lai", "lai", truth["lai"][::30], std=0.2,
                                   times=np.arange(0, model.n, 30))]
    problem = pdaframe.Problem(model, pdaframe.GaussianPrior.from_model(model), streams)
    reference = pdaframe.Problem(_Full(Dalec2(model.drivers)),
                                 pdaframe.GaussianPrior.from_model(model), streams)
    theta = POINTS["productive"]
    expected = [(reference.cost(t), reference.gradient(t)) for t in (XB, theta)]
    counting.runs.clear()
    for t, (cost, gradient) in zip((XB, theta), expected):
        assert problem.cost(t) == cost
        np.testing.assert_array_equal(problem.gradient(t), gradient)
    assert problem.needed_outputs == ("lai", "nee")
    # the first run (every output, at XB) is the model's cached truth run, whose pools serve
    # the gradient; then LAI and NEE at theta, and the pools for the gradient there
    assert counting.runs == [(5, 6), tuple(range(7, 13))]


class _Full:
    """DALEC2 without the ``outputs`` keyword: every run stores all 15 outputs."""

    def __init__(self, model):
        self.model, self.parameter_names = model, model.parameter_names

    def run(self, theta):
        return self.model.run(theta)

    def adjoint(self, theta, d_outputs):
        return self.model.adjoint(theta, d_outputs)


@pytest.mark.parametrize("sel", [[0], [16], [5, 16], [-1]])
def test_the_kernel_rejects_a_bad_selection(models, sel):
    model = models["P16"]
    out = np.empty((model.n, len(sel)), order="F")
    status = dalec2_model._kernel.dalec2_run(model.n, XB, model._met, *model._switch_args,
                                             len(sel), np.array(sel, dtype=np.int32), out)
    assert status[0] == 4


@pytest.mark.parametrize("kwargs", [{"pool_scalars": True}, {"edc": "reject", "edc_checks": [1, 2, 3, 4, 5, 6]},
                                    {"spinup": "cycle", "spinup_derivatives": "fixed"}])
def test_wrappers_pass_the_selection_on(models, kwargs):
    model = make_dalec2(drivers=models["P16"].drivers, **kwargs)
    theta = model.defaults
    full = model.run(theta)
    part = model.run(theta, outputs=["nee"])
    if kwargs.get("edc"):                              # plus what the EDCs read
        assert sorted(part) == sorted({"nee", "gpp", "ra", "c_lab", "c_fol", "c_roo",
                                       "c_woo", "c_lit", "c_som"})
    else:
        assert sorted(part) == ["nee"]
    np.testing.assert_array_equal(part["nee"], full["nee"])
    if callable(getattr(model, "tangent", None)) and "edc" not in kwargs:
        d = STD * np.cos(np.arange(23.0))
        np.testing.assert_array_equal(model.tangent(theta, d, outputs=["lai"])["lai"],
                                      model.tangent(theta, d)["lai"])
