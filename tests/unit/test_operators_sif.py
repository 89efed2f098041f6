"""SIF = a GPP + b and observation bias: values, parameter protocol and derivatives."""
import numpy as np
import pytest

import pdaframe
import pdaframe.plugin
from pdaframe.errors import ConfigError
from pdaframe.observations.operators import SIF, Bias, Select, TemporalAggregation
from tests.unit.test_operators_common import check_operator

GPP = {"gpp": np.array([1.0, 4.0, 2.5, 0.0, 3.0])}


def test_fixed_sif_values_and_derivatives():
    op = SIF("gpp", times=[1, 3, 1], a=0.5, b=0.2)
    assert op.parameters == ()
    np.testing.assert_allclose(op.apply(GPP), [2.2, 0.2, 2.2], rtol=1e-15)
    np.testing.assert_allclose(op.adjoint(GPP, np.ones(3))["gpp"], [0, 1.0, 0, 0.5, 0],
                               rtol=1e-15)
    check_operator(op, GPP)


def test_estimated_sif_parameters():
    op = SIF("gpp", a=0.02, b=0.1, estimate=True, a_std=0.01, b_std=0.1, prefix="sif_enf")
    a, b = op.parameters
    assert isinstance(a, pdaframe.plugin.Parameter)
    assert (a.name, a.default, a.lower, a.std) == ("sif_enf_a", 0.02, 0.0, 0.01)
    assert (b.name, b.default, b.lower, b.std) == ("sif_enf_b", 0.1, -np.inf, 0.1)
    np.testing.assert_allclose(op.apply(GPP, params=[2.0, -1.0]), 2 * GPP["gpp"] - 1,
                               rtol=1e-15)
    np.testing.assert_allclose(op.apply(GPP), 0.02 * GPP["gpp"] + 0.1, rtol=1e-15)
    np.testing.assert_allclose(op.param_adjoint(GPP, [2.0, -1.0], np.ones(5)),
                               [10.5, 5.0], rtol=1e-15)
    check_operator(op, GPP, params=[0.03, 0.2])
    only_b = SIF("gpp", times=[0, 2], a=2.0, estimate=["b"], b_std=1.0)
    np.testing.assert_allclose(only_b.param_tangent(GPP, [0.0], [3.0]), [3.0, 3.0])
    check_operator(only_b, GPP, params=[0.5])


@pytest.mark.parametrize("kwargs, message", [
    ({"estimate": ["c"]}, r"estimate \['c'\], expected 'a' and/or 'b'"),
    ({"estimate": True, "a_std": 1.0}, r"estimated b needs a positive b_std, got nan"),
    ({"a": -1.0}, r"a = -1.0 outside its bounds \[0.0, inf\]"),
    ({"times": [1.5]}, r"non-negative integer"),
])
def test_bad_sif(kwargs, message):
    with pytest.raises(ConfigError, match=r"sif operator for 'gpp': .*" + message):
        SIF("gpp", **kwargs)


def test_sif_bad_params_and_shapes():
    op = SIF("gpp", estimate=True, a_std=1.0, b_std=1.0)
    with pytest.raises(ConfigError, match=r"1 parameter values for its 2 parameters "
                                          r"\['sif_a', 'sif_b'\]"):
        op.apply(GPP, params=[1.0])
    with pytest.raises(ConfigError, match=r"time index 9 beyond the model's 5 steps"):
        SIF("gpp", times=[9]).apply(GPP)
    with pytest.raises(ConfigError, match=r"output shape \(5, 1\), expected \(n_time,\)"):
        SIF("gpp").apply({"gpp": np.zeros((5, 1))})


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_bias_on_plain_operator(kind):
    op = Bias(Select("gpp", [0, 2, 4]), kind=kind)
    (beta,) = op.parameters
    assert beta.default == (0.0 if kind == "additive" else 1.0)
    np.testing.assert_allclose(op.apply(GPP), [1.0, 2.5, 3.0], rtol=1e-15)  # prior centre
    expected = [1.5, 3.0, 3.5] if kind == "additive" else [0.5, 1.25, 1.5]
    np.testing.assert_allclose(op.apply(GPP, params=[0.5]), expected, rtol=1e-15)
    check_operator(op, GPP, params=[0.7])


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
def test_bias_on_parameterised_operator(kind):
    inner = SIF("gpp", times=[1, 2, 3], estimate=True, a_std=1.0, b_std=1.0)
    op = Bias(inner, kind=kind, name="sif_bias")
    assert [p.name for p in op.parameters] == ["sif_a", "sif_b", "sif_bias"]
    params = np.array([0.3, 0.1, 1.4])
    h = 0.3 * GPP["gpp"][1:4] + 0.1
    np.testing.assert_allclose(op.apply(GPP, params),
                               h + 1.4 if kind == "additive" else 1.4 * h, rtol=1e-15)
    check_operator(op, GPP, params=params)


def test_bias_ignores_dropped_windows():
    agg = TemporalAggregation("x", [0, 2, 4], valid=np.array([1, 1, 0, 0], bool))
    op = Bias(agg, kind="multiplicative")
    out = {"x": np.array([1.0, 3.0, 5.0, 7.0])}
    assert np.isnan(op.apply(out, [2.0])[1])
    np.testing.assert_allclose(op.param_adjoint(out, [2.0], np.array([1.0, 0.0])), [2.0])
    np.testing.assert_allclose(op.param_tangent(out, [2.0], [1.0]), [2.0, 0.0])


def test_bad_bias():
    with pytest.raises(ConfigError, match="kind 'affine'"):
        Bias(Select("x", [0]), kind="affine")
    with pytest.raises(ConfigError, match="is not an observation operator"):
        Bias(object())
    with pytest.raises(ConfigError, match=r"multiplicative bias 'bias_beta1' on \('x',\): "
                                          r"std must be positive"):
        Bias(Select("x", [0]), kind="multiplicative", std=0.0)
    with pytest.raises(ConfigError, match=r"bounds \[2.0, inf\] must contain the prior centre"):
        Bias(Select("x", [0]), kind="multiplicative", lower=2.0)
    with pytest.raises(ConfigError, match=r"2 parameter values for its 1 parameters"):
        Bias(Select("x", [0])).apply({"x": np.zeros(1)}, params=[1.0, 2.0])
