"""Diagnostics: the chi2 check, parameters at bounds and per-stream residual statistics,
computed by run_problem, printed in the summary and written to the NetCDF file."""
import netCDF4
import numpy as np
import pytest

import pdaframe
from pdaframe.analysis.diagnostics import chi2_check, diagnose, edge_hits, stream_statistics
from pdaframe.run import run_problem, summary_table
from tests.conftest import LG2_MEAN, lg2_problem

Y = np.array([3.5, -0.5, 2.2])
H = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])


def test_chi2_lg2_reference_numbers(lg2):
    res = pdaframe.minimise(lg2)
    c = chi2_check(res.fun, lg2.n_obs)
    assert c["two_j"] == pytest.approx(0.4798086124, rel=1e-9)
    assert c["dof"] == 3
    assert c["low"] == pytest.approx(0.2157952826, rel=1e-9)      # chi2_3 2.5 % quantile
    assert c["high"] == pytest.approx(9.3484036045, rel=1e-9)     # chi2_3 97.5 %
    assert c["verdict"] == "consistent"


def test_chi2_verdicts_and_dof_without_prior_term():
    assert chi2_check(10.0, 3)["verdict"] == "too large"           # 2J = 20 > 9.35
    assert chi2_check(0.05, 3)["verdict"] == "too small"           # 2J = 0.1 < 0.216
    c = chi2_check(1.0, 10, n_param=4, gaussian_prior=False)
    assert c["dof"] == 6 and c["ratio"] == pytest.approx(2.0 / 6)
    assert chi2_check(1.0, 2, n_param=2, gaussian_prior=False)["verdict"] == "undetermined"


def test_stream_statistics_lg2(lg2):
    r = H @ LG2_MEAN - Y                                   # residuals at the closed form
    st = stream_statistics(lg2, LG2_MEAN)["y"]
    assert st["n"] == 3
    assert st["mean"] == pytest.approx(r.mean(), rel=1e-9)
    assert st["mean"] == pytest.approx(-0.1141945774, rel=1e-8)
    assert st["rms"] == pytest.approx(0.2680698604, rel=1e-8)
    assert st["nrms"] == pytest.approx(st["rms"] / np.sqrt(0.5), rel=1e-12)
    assert st["jo"] == pytest.approx(0.2155843502, rel=1e-8)
    assert st["jo_per_obs"] == pytest.approx(0.2155843502 / 3, rel=1e-8)


def test_estimate_pinned_at_bound_is_flagged():
    # LG2's posterior mean of a is 1.214; an upper bound of 1.1 pins it there
    model = pdaframe.LinearModel(H, names=["a", "b"])
    prior = pdaframe.GaussianPrior([1.0, 2.0], covariance=[[1.0, 0.5], [0.5, 4.0]],
                                   lower=[0.0, -np.inf], upper=[1.1, np.inf], names=["a", "b"])
    problem = pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", Y, std=0.5 ** 0.5)])
    res = pdaframe.minimise(problem)
    assert res.x[0] > 1.1 - 0.011
    diag = diagnose(problem, res)
    assert diag["edge"] == {"a": "upper"}
    assert edge_hits(res.x, prior.lower, prior.upper, ["a", "b"], fraction=0.0) == {}
    assert edge_hits([0.005, 0.5], [0.0, 0.0], [1.0, 1.0], ["a", "b"]) == {"a": "lower"}
    with pytest.raises(pdaframe.ConfigError, match="edge fraction must be in"):
        edge_hits([0.5], [0.0], [1.0], ["a"], fraction=0.6)


CONFIG = """
title = "LG2"
[model]
name = "linear"
options = { matrix = [[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]], names = ["a", "b"] }
[parameters]
a = { mean = 1.0, std = 1.0 }
b = { mean = 2.0, std = 2.0 }
[prior]
family = "gaussian"
correlation = [[1.0, 0.25], [0.25, 1.0]]
[[streams]]
name = "y"
variable = "y"
file = "y.csv"
std = 0.7071067811865476
[method]
name = "%s"
[output]
directory = "out"
plots = false
"""


@pytest.mark.parametrize("method", ["lbfgsb", "stepwise"])
def test_run_problem_reports_and_writes_diagnostics(tmp_path, method):
    if method not in pdaframe.plugins.registry("method").names():
        from pdaframe.methods.stepwise import stepwise
        pdaframe.plugins.registry("method").add("stepwise", stepwise)
    (tmp_path / "y.csv").write_text("time,y\n0,3.5\n1,-0.5\n2,2.2\n")
    (tmp_path / "c.toml").write_text(CONFIG % method)
    problem, settings = pdaframe.load_config(tmp_path / "c.toml")
    result, paths = run_problem(problem, settings, progress=False)
    diag = result["diagnostics"]
    assert diag["chi2"]["two_j"] == pytest.approx(0.4798086124, rel=1e-8)
    assert diag["edge"] == {}
    assert diag["streams"]["y"]["nrms"] == pytest.approx(0.2680698604 / 0.5 ** 0.5, rel=1e-7)
    text = summary_table(result, problem)
    assert "chi2 check: 2J_min = 0.479809, dof = 3" in text and "consistent" in text
    assert "no estimate at a bound" in text
    with netCDF4.Dataset(paths["netcdf"]) as ds:
        assert ds.chi2_two_j == pytest.approx(0.4798086124, rel=1e-8)
        assert ds.chi2_dof == 3 and ds.chi2_verdict == "consistent"
        np.testing.assert_array_equal(ds["at_bound"][:], [0, 0])
        assert list(ds["stream"][:]) == ["y"]
        assert int(ds["stream_n_obs"][0]) == 3
        assert float(ds["stream_cost"][0]) == pytest.approx(0.2155843502, rel=1e-7)
        if method == "stepwise":
            assert list(ds["step_streams"][:]) == ["y"]


def test_edge_hits_use_a_log_scale_for_wide_positive_ranges():
    from pdaframe.analysis.diagnostics import edge_hits
    names = ["pool", "rate", "frac"]
    lower, upper = [100.0, 1e-5, 0.3], [2e5, 1e-2, 0.7]
    assert edge_hits([1820.0, 1e-3, 0.5], lower, upper, names) == {}
    assert edge_hits([101.0, 0.0099, 0.302], lower, upper, names) == {
        "pool": "lower", "rate": "upper", "frac": "lower"}
