"""Failed model runs inside minimisers are rejected evaluations, never crashes."""
import numpy as np
import pytest

import pdaframe


class Fragile:
    """Fails (like a pool going negative) for a > 1.5; the data pull a towards 3."""

    parameter_names = ("a", "b")

    def run(self, th):
        if th[0] > 1.5:
            raise pdaframe.ModelError("pool 'x' negative at step 3", theta=th)
        return {"y": np.array([th[0], th[1], th[0] * th[1]])}

    def adjoint(self, th, d):
        y = d["y"]
        return np.array([y[0] + th[1] * y[2], y[1] + th[0] * y[2]])


def fragile_problem():
    return pdaframe.Problem(Fragile(), pdaframe.GaussianPrior([0.0, 0.0], std=[10.0, 10.0]),
                            [pdaframe.DataStream("y", "y", [3.0, 1.0, 3.0], std=0.1)])


@pytest.mark.parametrize("method", ["lbfgsb", "lbfgsb-fd", "nelder-mead"])
def test_failed_runs_are_rejected(method):
    problem = fragile_problem()
    start = problem.cost([0.0, 0.0])
    res = pdaframe.minimise(problem, method=method, posterior=False)
    assert res.n_rejected > 0
    assert np.isfinite(res.fun) and res.fun < start / 2
    assert res.x[0] <= 1.5
    assert res.fun == pytest.approx(problem.cost(res.x))


def test_failure_at_the_start_is_reported():
    with pytest.raises(pdaframe.ModelError, match="fails at the start point"):
        pdaframe.minimise(fragile_problem(), x0=[2.0, 0.0])


def test_direct_call_raises_model_error():
    with pytest.raises(pdaframe.ModelError, match="negative at step 3") as info:
        fragile_problem().cost([2.0, 1.0])
    np.testing.assert_array_equal(info.value.theta, [2.0, 1.0])


def test_non_finite_output_is_a_model_error():
    class NaNModel(Fragile):
        def run(self, th):
            return {"y": np.array([th[0], np.nan, 1.0])}
    problem = pdaframe.Problem(NaNModel(), pdaframe.GaussianPrior([0.0, 0.0], std=[1.0, 1.0]),
                               [pdaframe.DataStream("y", "y", [3.0, 1.0, 3.0], std=0.1)])
    with pytest.raises(pdaframe.ModelError, match="'y' is not finite at time index 1"):
        problem.cost([0.0, 0.0])


def test_failed_members_are_counted_in_result_and_netcdf(tmp_path):
    """4DEnVar drops members whose run fails; the count reaches the NetCDF file."""
    import xarray as xr

    problem = pdaframe.Problem(Fragile(), pdaframe.GaussianPrior([0.0, 0.0], std=[1.0, 1.0]),
                               [pdaframe.DataStream("y", "y", [3.0, 1.0, 3.0], std=0.1)])
    res = pdaframe.minimise(problem, method="4denvar", n_members=40, seed=3)
    assert res.n_failed > 0 and res.nfev >= 41
    path = res.to_netcdf(tmp_path / "r.nc", problem)
    with xr.open_dataset(path) as ds:
        assert ds.attrs["n_failed"] == res.n_failed
