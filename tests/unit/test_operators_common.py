"""Derivative checks shared by the operator tests, and the config factories."""
import numpy as np
import pytest

import pdaframe
import pdaframe.plugin
from pdaframe.errors import ConfigError
from pdaframe.observations.operators import FACTORIES, MLP, Identity, Select
from pdaframe.testing import operator_dot_product_test, taylor_test


def check_operator(op, outputs, params=None, rng=0, first_step=1.0, tol=1e-12):
    """Taylor test (in the outputs, and in the params if any) and dot-product tests."""
    rng = np.random.default_rng(rng)
    names = list(op.inputs)
    shapes = [np.shape(outputs[k]) for k in names]
    sizes = np.cumsum([0] + [int(np.prod(s)) for s in shapes])

    def unflat(x):
        return {k: x[a:b].reshape(s) for k, a, b, s in zip(names, sizes[:-1], sizes[1:], shapes)}

    kw = {} if params is None else {"params": params}
    x0 = np.concatenate([np.asarray(outputs[k], float).reshape(-1) for k in names])
    h = rng.standard_normal(x0.size)
    steps = first_step * 2.0 ** -np.arange(0, 41)
    rep = taylor_test(lambda x: op.apply(unflat(x), **kw),
                      lambda x, d: op.tangent(unflat(x), unflat(d), **kw), x0, h, steps=steps)
    assert rep.passed, str(rep)
    mismatches = [operator_dot_product_test(op, outputs, rng, tol)] if params is None else []
    dx = unflat(rng.standard_normal(x0.size))
    dy = rng.standard_normal(np.size(op.apply(outputs, **kw)))
    adj = op.adjoint(outputs, dy, **kw)
    lhs = float(op.tangent(outputs, dx, **kw) @ dy)
    rhs = sum(float(np.sum(dx[k] * adj[k])) for k in adj)
    mismatches.append(abs(lhs - rhs) / max(abs(lhs), abs(rhs)))
    if params is not None:
        p = np.asarray(params, float)
        dp = rng.standard_normal(p.size)
        rep = taylor_test(lambda q: op.apply(outputs, params=q),
                          lambda q, d: op.param_tangent(outputs, q, d), p, dp, steps=steps)
        assert rep.passed, str(rep)
        lhs = float(op.param_tangent(outputs, p, dp) @ dy)
        rhs = float(dp @ op.param_adjoint(outputs, p, dy))
        mismatches.append(abs(lhs - rhs) / max(abs(lhs), abs(rhs)))
    assert max(mismatches) <= tol, mismatches
    return mismatches


def test_package_keeps_old_imports():
    from pdaframe.observations.operators import Identity as I2, Select as S2
    assert pdaframe.plugin.Identity is I2 is Identity and pdaframe.plugin.Select is S2 is Select


def test_factories_build_every_operator(tmp_path):
    mlp = MLP(["gpp"], [np.ones((1, 2)), np.ones((2, 1))], [np.zeros(2), np.zeros(1)], [0.0],
              [1.0], [0.0], [9.0], 0.0, 1.0, "sif").save(tmp_path / "m.npz")
    dates = {"start": "2004-01-01", "n_steps": 366}
    ops = {
        "aggregate": FACTORIES["aggregate"]("nee", period="monthly", **dates),
        "spatial_mean": FACTORIES["spatial_mean"]("lai", weights=[1.0, 3.0]),
        "sif": FACTORIES["sif"]("gpp", times=[0, 5], estimate=True, a_std=1.0, b_std=1.0),
        "normalised_seasonality": FACTORIES["normalised_seasonality"](
            "lai", times=[10, 100, 200], **dates),
        "cdf_matching": FACTORIES["cdf_matching"]("sm", knots=[[0, 1], [2, 5]]),
        "bias": FACTORIES["bias"]("gpp", times=[1, 2], kind="multiplicative",
                                  operator="sif", operator_options={"a": 2.0}),
        "mlp": FACTORIES["mlp"]("sif", times=[2], file=str(mlp)),
    }
    assert ops["aggregate"].edges.size == 13 and ops["aggregate"].edges[-1] == 366
    assert [p.name for p in ops["sif"].parameters] == ["sif_a", "sif_b"]
    assert [p.name for p in ops["bias"].parameters] == ["bias_beta1"]
    np.testing.assert_array_equal(
        ops["bias"].apply({"gpp": np.arange(4.0)}, params=[2.0]), [4.0, 8.0])
    np.testing.assert_allclose(ops["mlp"].apply({"gpp": np.arange(4.0)}), [2 * np.tanh(2.0)],
                               rtol=1e-15)
    assert sorted(ops) == sorted(FACTORIES)


def test_factory_errors_name_operator_and_variable():
    with pytest.raises(ConfigError, match=r"aggregate operator for 'nee'.*dates"):
        FACTORIES["aggregate"]("nee", period="monthly")
    with pytest.raises(ConfigError, match=r"exactly one of period"):
        FACTORIES["aggregate"]("nee")
    with pytest.raises(ConfigError, match=r"3 values, the operator 2 windows"):
        FACTORIES["aggregate"]("nee", times=[0, 1, 2], windows=[0, 5, 10])
    with pytest.raises(ConfigError, match=r"start 'soon' is not a date"):
        FACTORIES["aggregate"]("nee", period="annual", start="soon", n_steps=3)
    with pytest.raises(ConfigError, match=r"spatial_mean operator for 'lai'.*weights"):
        FACTORIES["spatial_mean"]("lai")
    with pytest.raises(ConfigError, match=r"bias operator for 'x': inner operator 'bias'"):
        FACTORIES["bias"]("x", operator="bias")
