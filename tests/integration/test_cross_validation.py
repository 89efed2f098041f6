"""Leave-year-out cross-validation (pdaframe.analysis.cross_validation) on a dated
linear-Gaussian model, against the exact held-out-year predictive densities."""
import logging

import netCDF4
import numpy as np
import pytest
from scipy import stats

import pdaframe
from pdaframe.analysis import cross_validation as cv

DAYS = np.arange("2004-01-01", "2007-01-01", dtype="datetime64[D]")      # 3 years
N_T = DAYS.size
SIGMA = 0.4
TRUTH = np.array([1.0, 0.8, -0.3])


class SeasonalModel(pdaframe.LinearModel):
    """y_t = a + b sin(2 pi t / 365) + c cos(2 pi t / 365), with dates."""

    def __init__(self):
        w = 2 * np.pi * np.arange(N_T) / 365.25
        super().__init__(np.column_stack([np.ones(N_T), np.sin(w), np.cos(w)]),
                         names=["a", "b", "c"])
        self.time = DAYS.astype("datetime64[ns]")


def _problem(times=None, covariance=False):
    model = SeasonalModel()
    times = np.arange(0, N_T, 5) if times is None else times
    y = model.matrix[times] @ TRUTH + SIGMA * np.random.default_rng(1).standard_normal(
        times.size)
    y[3] = np.nan                                   # a gap
    errors = {"covariance": SIGMA ** 2 * np.eye(times.size)} if covariance else \
        {"std": SIGMA}
    prior = pdaframe.GaussianPrior(np.zeros(3), std=[2.0, 2.0, 2.0], names=["a", "b", "c"])
    return pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", y, times=times,
                                                               **errors)])


def exact_lppd(problem, year):
    """sum_i log N(y_i; g_i mu, g_i P g_i^T + s^2) of the year's observations, (mu, P) the
    exact posterior given the other years."""
    s = problem.streams[0]
    G = problem.model.matrix[s.times]
    years = DAYS.astype("datetime64[Y]").astype(int)[s.times] + 1970
    train, test = s.mask & (years != year), s.mask & (years == year)
    P = np.linalg.inv(G[train].T @ G[train] / SIGMA ** 2 + np.eye(3) / 4.0)
    mu = P @ G[train].T @ s.values[train] / SIGMA ** 2
    var = np.einsum("ij,jk,ik->i", G[test], P, G[test]) + SIGMA ** 2
    return float(np.sum(stats.norm(G[test] @ mu, np.sqrt(var)).logpdf(s.values[test]))), \
        int(test.sum()), mu


def test_leave_year_out_matches_the_exact_held_out_predictive(tmp_path):
    problem = _problem()
    out = cv.leave_year_out(problem, "lbfgsb", n_draws=4000, seed=3)
    assert [f["year"] for f in out["folds"]] == [2004, 2005, 2006]
    assert out["skipped"] == []
    for fold in out["folds"]:
        exact, n, mu = exact_lppd(problem, fold["year"])
        assert fold["n_test"] == n and fold["n_train"] == problem.n_obs - n
        np.testing.assert_allclose(fold["x"], mu, atol=1e-4)            # the fit w/o the year
        # Laplace draws of a linear-Gaussian posterior: exact up to MC error (0.02 seen)
        assert fold["lppd"] == pytest.approx(exact, abs=0.06)
        assert 0.3 < fold["rmse"] < 0.5                     # about SIGMA
        assert 0.15 < fold["crps"] < 0.35                   # SIGMA / sqrt(pi) = 0.23
    assert out["mean"]["lppd_total"] == pytest.approx(
        sum(exact_lppd(problem, y)[0] for y in (2004, 2005, 2006)), abs=0.3)
    text = cv.format_cross_validation(out)
    assert text.splitlines()[1].startswith("2004") and text.splitlines()[-1].startswith("mean")
    path = cv.write_cross_validation(tmp_path / "cv.nc", out, run_id="r1")
    with netCDF4.Dataset(path) as ds:
        assert list(ds["year"][:]) == [2004, 2005, 2006]
        np.testing.assert_allclose(ds["lppd"][:], [f["lppd"] for f in out["folds"]])
        assert ds["estimate"].shape == (3, 3)
        assert ds.mean_lppd_total == pytest.approx(out["mean"]["lppd_total"])
    assert not list(tmp_path.glob("*.tmp*"))


def test_folds_over_an_executor_and_a_sampler():
    problem = _problem(covariance=True)           # full covariance: its rows and columns kept

    class Mapper:
        def map(self, func, items):
            return [func(x) for x in items]

    a = cv.leave_year_out(problem, "lbfgsb", n_draws=50, seed=1)
    b = cv.leave_year_out(problem, "lbfgsb", n_draws=50, seed=1, executor=Mapper())
    assert [f["lppd"] for f in a["folds"]] == [f["lppd"] for f in b["folds"]]
    diag = cv.leave_year_out(_problem(), "lbfgsb", n_draws=50, seed=1)
    np.testing.assert_allclose([f["lppd"] for f in a["folds"]],
                               [f["lppd"] for f in diag["folds"]], rtol=1e-8)
    mc = cv.leave_year_out(problem, "adaptive-metropolis", years=[2005], n_draws=200,
                           seed=2, n_samples=400, burn_in=400, pointwise_log_likelihood=False)
    exact = exact_lppd(problem, 2005)[0]
    assert mc["folds"][0]["lppd"] == pytest.approx(exact, abs=1.0)


def test_years_without_observations_and_bad_input(caplog):
    problem = _problem(times=np.arange(0, 730, 5))           # 2004 and 2005 only
    with caplog.at_level(logging.WARNING):
        out = cv.leave_year_out(problem, "lbfgsb", years=[2005, 2006], n_draws=20)
    assert [f["year"] for f in out["folds"]] == [2005] and out["skipped"] == [2006]
    assert "no observations in 2006: skipped" in caplog.text
    with pytest.raises(pdaframe.ConfigError, match=r"none of the years \[2007\].*\[2004, 2005\]"):
        cv.leave_year_out(problem, "lbfgsb", years=[2007])
    one_year = _problem(times=np.arange(0, 300, 5))
    with pytest.raises(pdaframe.ConfigError, match="leaves nothing to fit"):
        cv.leave_year_out(one_year, "lbfgsb")
    undated = pdaframe.Problem(pdaframe.LinearModel(np.ones((5, 1))),
                               pdaframe.GaussianPrior([0.0], std=[1.0]),
                               [pdaframe.DataStream("y", "y", np.ones(5), std=1.0)])
    with pytest.raises(pdaframe.ConfigError, match="no dates"):
        cv.leave_year_out(undated, "lbfgsb")


CONFIG = """
seed = 2
[model]
name = "seasonal"

[parameters]
a = { mean = 0.0, std = 2.0 }
b = { mean = 0.0, std = 2.0 }
c = { mean = 0.0, std = 2.0 }

[[streams]]
name = "y"
variable = "y"
file = "obs.csv"
time_column = "date"
value_column = "y"
std = 0.4

[method]
name = "lbfgsb"
"""


@pytest.fixture
def seasonal_plugin():
    import pdaframe.plugin
    pdaframe.plugin.reset_plugins()
    pdaframe.plugins.registry("model").add("seasonal", SeasonalModel)
    yield
    pdaframe.plugin.reset_plugins()


def test_cli_cross_validate_a_config(tmp_path, seasonal_plugin, capsys, caplog):
    from pdaframe.cli import main
    problem = _problem()
    s = problem.streams[0]
    rows = "\n".join(f"{DAYS[t]},{'' if np.isnan(v) else v}" for t, v in zip(s.times, s.values))
    (tmp_path / "obs.csv").write_text("date,y\n" + rows + "\n")
    (tmp_path / "c.toml").write_text(CONFIG)
    with caplog.at_level(logging.WARNING):
        assert main(["cross-validate", str(tmp_path / "c.toml"), "--years", "2005", "2007",
                     "--draws", "400", "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "2005" in out and "skipped (no observations): [2007]" in out
    assert "no observations in 2007: skipped" in caplog.text
    with netCDF4.Dataset(tmp_path / "out" / "cross_validation.nc") as ds:
        assert list(ds["year"][:]) == [2005]
        assert list(np.atleast_1d(ds.skipped_years)) == [2007]
        assert float(ds["lppd"][0]) == pytest.approx(exact_lppd(problem, 2005)[0], abs=0.3)
