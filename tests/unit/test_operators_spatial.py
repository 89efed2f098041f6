"""Spatial aggregation: area-weighted means and weight validation."""
import numpy as np
import pytest

from pdaframe.errors import ConfigError, DataError
from pdaframe.observations.operators import SpatialMean
from tests.unit.test_operators_common import check_operator


def test_weighted_mean_of_site_axis():
    x = np.array([[1.0, 3.0], [2.0, 6.0], [0.0, 4.0]])
    op = SpatialMean("lai", [1.0, 3.0])
    np.testing.assert_allclose(op.apply({"lai": x}), [2.5, 5.0, 3.0], rtol=1e-15)
    np.testing.assert_allclose(SpatialMean("lai", [2, 6], times=[2, 0]).apply({"lai": x}),
                               [3.0, 2.5], rtol=1e-15)
    check_operator(op, {"lai": x})
    check_operator(SpatialMean("lai", [1.0, 0.0], times=[0, 0, 2]), {"lai": x})


def test_several_outputs():
    out = {"a": np.array([1.0, 2.0]), "b": np.array([4.0, 8.0]), "c": np.zeros(2)}
    op = SpatialMean(["a", "b", "c"], [1.0, 1.0, 2.0], times=[1])
    np.testing.assert_allclose(op.apply(out), [2.5], rtol=1e-15)
    assert op.inputs == ("a", "b", "c")
    check_operator(op, out)


@pytest.mark.parametrize("weights, message", [
    ([1.0, -1.0], r"weight 1 is -1.0; weights must be finite and non-negative"),
    ([1.0, np.nan], r"weight 1 is nan"),
    ([0.0, 0.0], r"all weights are zero"),
    ([[1.0]], r"1-d"),
])
def test_bad_weights(weights, message):
    with pytest.raises(ConfigError, match=r"spatial mean of 'lai': .*" + message):
        SpatialMean("lai", weights)


def test_bad_shapes():
    with pytest.raises(ConfigError, match="2 weights for 3 outputs"):
        SpatialMean(["a", "b", "c"], [1.0, 1.0])
    with pytest.raises(DataError, match=r"output shape \(3, 3\), expected \(n_time, 2\)"):
        SpatialMean("lai", [1.0, 1.0]).apply({"lai": np.zeros((3, 3))})
    with pytest.raises(DataError, match=r"output 'b' has shape \(3,\), expected \(2,\)"):
        SpatialMean(["a", "b"], [1.0, 1.0]).apply({"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ConfigError, match="time index 5 beyond the model's 2 steps"):
        SpatialMean("lai", [1.0], times=[5]).apply({"lai": np.zeros((2, 1))})
    with pytest.raises(ConfigError, match="non-negative integer"):
        SpatialMean("lai", [1.0], times=[-1])
