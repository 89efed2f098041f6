"""Operators fitted once on a reference run (CDF matching) through Problem and configs."""
import numpy as np
import pytest

import pdaframe
from pdaframe.observations.operators.cdf import CDFMatching


class Soil:
    """Soil moisture as a linear function of one parameter: s_t = theta * base_t."""

    parameter_names = ("w",)

    def __init__(self, n=400):
        self.base = 0.2 + 0.1 * np.sin(np.arange(n) / 20.0)

    def run(self, theta):
        return {"soil_moisture": theta[0] * self.base}


def test_cdf_operator_is_fitted_on_the_prior_run_and_then_fixed():
    model = Soil()
    obs = 30.0 + 100.0 * model.base            # satellite units: a different scale
    op = CDFMatching("soil_moisture")
    stream = pdaframe.DataStream("sm", "soil_moisture", obs, std=1.0, operator=op)
    problem = pdaframe.Problem(model, pdaframe.GaussianPrior([1.0], std=[0.5]), [stream])
    with pytest.raises(pdaframe.ConfigError, match="not fitted"):
        problem.cost([1.0])
    assert problem.fit_operators() == ["sm"] and not op.needs_fit
    # at the reference (prior) run the mapped model matches the observed distribution
    np.testing.assert_allclose(problem.equivalents([1.0])["sm"], obs, atol=1e-6 * obs.max())
    knots = [k.copy() for k in op.knots]
    assert problem.fit_operators() == []         # fitted once, then fixed
    np.testing.assert_array_equal(op.knots[0], knots[0])
