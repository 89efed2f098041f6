"""Observation times as CF time coordinates in every NetCDF file (`pdaframe.io.cf_time`):
dates decoded by ``xarray.open_dataset`` when the model has dates, step indices without."""
import netCDF4
import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.io.cf_time import time_variable
from pdaframe.io.ensembles import write_ensemble
from pdaframe.io.samples import write_samples
from pdaframe.problem.multisite import MultiSiteProblem, Site
from tests.models import Dated

STEPS = np.array([2, 5, 9, 19])


class SubDaily(Dated):
    """`Dated` on a 3-hourly axis from 06:00."""

    def __init__(self, n=20):
        super().__init__(n=n)
        self.time = np.datetime64("2004-01-01T06:00", "m") + np.arange(n) * np.timedelta64(3, "h")


class Undated(Dated):
    """`Dated` without dates (``n_steps`` only)."""

    def __init__(self, n=20):
        super().__init__(n=n)
        del self.time
        self.n_steps = n


def problem(model):
    prior = pdaframe.GaussianPrior([0.0, 0.0], std=[10.0, 10.0], names=["a", "b"])
    y = model.run([1.0, 0.5])["y"][STEPS]
    return pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", y, times=STEPS,
                                                               std=0.1)])


def written(tmp_path, model):
    p = problem(model)
    res = pdaframe.minimise(p, "lbfgsb")
    return res.to_netcdf(tmp_path / "result.nc", problem=p, equivalents={
        "posterior": p.equivalents(res.x)})


@pytest.mark.parametrize("model, units", [
    (Dated(), "days since 2004-01-01"),
    (SubDaily(), "seconds since 2004-01-01 06:00:00"),
])
def test_result_nc_times_decode_to_the_model_dates(tmp_path, model, units):
    path = written(tmp_path, model)
    with netCDF4.Dataset(path) as raw:
        t = raw["y_time"]
        assert (t.units, t.calendar, t.standard_name) == (units, "proleptic_gregorian", "time")
        step = 1 if units.startswith("days") else 3 * 3600
        np.testing.assert_array_equal(t[:], STEPS * step)       # exact integers
        assert t.dtype == np.int64
        assert raw["y_posterior"].coordinates == "y_time y_step"
    with xr.open_dataset(path) as ds:
        assert ds.y_time.dtype.kind == "M"
        np.testing.assert_array_equal(ds.y_time.values, model.time[STEPS].astype("M8[ns]"))
        np.testing.assert_array_equal(ds.y_step.values, STEPS)
        assert ds.y_step.attrs["units"] == "1"
        # the data variables carry the dates as their coordinate
        np.testing.assert_array_equal(ds.y_observed.y_time.values, ds.y_time.values)
        assert ds.y_observed.shape == ds.y_posterior.shape == (STEPS.size,)


def test_without_dates_the_index_stays_and_says_so(tmp_path):
    path = written(tmp_path, Undated())
    with xr.open_dataset(path) as ds:
        assert ds.y_time.dtype == np.int64 and ds.y_time.attrs["units"] == "1"
        np.testing.assert_array_equal(ds.y_time.values, STEPS)
        assert "the model has no dates" in ds.y_time.attrs["long_name"]
        assert "calendar" not in ds.y_time.attrs and "y_step" not in ds
        assert "coordinates" not in ds.y_observed.encoding


def test_time_variable_refuses_steps_off_the_axis():
    dates = np.datetime64("2004-01-01") + np.arange(5)
    values, attrs, dated = time_variable([0, 4], dates, "x")
    assert dated and list(values) == [0, 4]
    for steps in ([0, 5], [-1, 2], [0.5, 2.0]):        # outside, negative, not a step
        values, attrs, dated = time_variable(steps, dates, "x")
        assert not dated and attrs["units"] == "1"


def test_multisite_streams_use_their_own_sites_dates(tmp_path):
    a, b = Dated(start="2004-01-01"), Dated(start="2010-06-15")
    sites = [Site(name, m, [problem(m).streams[0]]) for name, m in (("A", a), ("B", b))]
    prior = pdaframe.GaussianPrior([0.0, 0.0], std=[10.0, 10.0], names=["a", "b"])
    p = MultiSiteProblem(sites, prior, ["a", "b"], [])
    res = pdaframe.minimise(p, "lbfgsb")
    path = res.to_netcdf(tmp_path / "result.nc", problem=p)
    with xr.open_dataset(path) as ds:
        np.testing.assert_array_equal(ds.A_y_time.values, a.time[STEPS].astype("M8[ns]"))
        np.testing.assert_array_equal(ds.B_y_time.values, b.time[STEPS].astype("M8[ns]"))
        assert ds.B_y_time.attrs["site"] == "B"


def test_ensemble_and_samples_files_carry_dates(tmp_path):
    model = Dated()
    p = problem(model)
    want = model.time[STEPS].astype("M8[ns]")
    glue = pdaframe.minimise(p, "glue", n_members=24, seed=1, threshold=-1e9)
    with xr.open_dataset(write_ensemble(tmp_path / "glue.nc", glue, p)) as ds:
        np.testing.assert_array_equal(ds.y_time.values, want)
        np.testing.assert_array_equal(ds.y_step.values, STEPS)
    enkf = pdaframe.minimise(p, "enkf", n_members=16, n_cycles=2, seed=1)
    with xr.open_dataset(write_ensemble(tmp_path / "enkf.nc", enkf, p)) as ds:
        assert ds.cycle_time.dtype.kind == "M"
        np.testing.assert_array_equal(ds.cycle_step.values, enkf["history"]["time"])
        np.testing.assert_array_equal(
            ds.cycle_time.values,
            model.time[np.asarray(enkf["history"]["time"], int)].astype("M8[ns]"))
        assert ds.cycle_time.values[-1] == want[-1]
    am = pdaframe.minimise(p, "adaptive-metropolis", n_samples=200, burn_in=100, seed=1)
    path = write_samples(tmp_path / "samples.nc", am, p, n_prior=10)
    with xr.open_dataset(path, group="observed_data") as ds:
        np.testing.assert_array_equal(ds.y_time.values, want)
        np.testing.assert_array_equal(ds.y.y_time.values, want)
    import arviz as az
    np.testing.assert_array_equal(az.from_netcdf(path).observed_data.y_time.values, want)


@pytest.mark.parametrize("model, label", [(Dated(), "date"), (SubDaily(), "date"),
                                          (Undated(), "model time index")])
def test_stream_plot_has_a_date_axis_when_the_model_has_dates(model, label):
    import matplotlib.dates as mdates
    from pdaframe.plots import stream_figure
    p = problem(model)
    plt, fig = stream_figure(p, {"posterior": p.equivalents([1.0, 0.5])})
    (ax,) = fig.axes
    assert ax.get_xlabel() == label
    dated = isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
    assert dated == (label == "date")
    line = ax.get_lines()[-1]                                  # the posterior line
    x = np.asarray(line.get_xdata())
    if dated:
        np.testing.assert_array_equal(x, model.time[STEPS])
        first, last = mdates.date2num(model.time[STEPS[[0, -1]]])
        lo, hi = ax.get_xlim()                  # the axis spans the dates (in days)
        assert lo <= first and hi >= last and hi - lo < 2 * (last - first)
    else:
        np.testing.assert_array_equal(x, STEPS)
    plt.close(fig)


def test_multisite_plot_one_date_column_per_site():
    import matplotlib.dates as mdates
    from pdaframe.plots import stream_figure
    a, b = Dated(start="2004-01-01"), Undated()
    sites = [Site(name, m, [problem(m).streams[0]]) for name, m in (("A", a), ("B", b))]
    prior = pdaframe.GaussianPrior([0.0, 0.0], std=[10.0, 10.0], names=["a", "b"])
    p = MultiSiteProblem(sites, prior, ["a", "b"], [])
    plt, fig = stream_figure(p, {"prior": p.equivalents(np.zeros(2))})
    ax_a, ax_b = fig.axes
    assert (ax_a.get_title(), ax_a.get_xlabel()) == ("A", "date")
    assert (ax_b.get_title(), ax_b.get_xlabel()) == ("B", "model time index")
    assert isinstance(ax_a.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
    assert not isinstance(ax_b.xaxis.get_major_formatter(), mdates.ConciseDateFormatter)
    plt.close(fig)


# --- posterior bands on the model lines --------------------------------------------------

H = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.5]])


def linear_problem():
    model = pdaframe.LinearModel(H, names=["a", "b"])
    prior = pdaframe.GaussianPrior([1.0, 2.0], covariance=[[1.0, 0.5], [0.5, 4.0]],
                                   names=["a", "b"])
    return pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2],
                                                               std=0.7)])


def interp_quantile(values, q):
    """The quantile rule of `weighted_quantile` with equal weights: (k/N, v_(k))."""
    v = np.sort(values, axis=0)
    c = np.arange(1, len(v) + 1) / len(v)
    return np.array([np.interp(q, c, v[:, j]) for j in range(v.shape[1])])


def test_laplace_band_matches_the_linear_gaussian_posterior():
    from pdaframe.plots import posterior_band
    p = linear_problem()
    res = pdaframe.minimise(p, "lbfgsb")
    band = posterior_band(p, res, level=0.9, n_draws=20000, seed=3)
    mean = H @ res.x
    sd = np.sqrt(np.diag(H @ res["posterior_covariance"] @ H.T))
    assert band["n"] == 20000 and band["level"] == 0.9
    np.testing.assert_allclose(band["lower"]["y"], mean - 1.6448536 * sd, atol=0.03 * sd.max())
    np.testing.assert_allclose(band["upper"]["y"], mean + 1.6448536 * sd, atol=0.03 * sd.max())


def test_sample_and_weighted_ensemble_bands_are_quantiles_of_the_draws():
    from pdaframe.plots import posterior_band
    from pdaframe.result import EnsembleResult, SampleResult
    p = linear_problem()
    rng = np.random.default_rng(0)
    chains = rng.normal([1.2, 2.0], 0.3, size=(2, 40, 2))
    res = SampleResult(method="adaptive-metropolis", parameter_names=["a", "b"],
                       x=chains.mean(axis=(0, 1)), samples=chains)
    band = posterior_band(p, res, level=0.8, n_draws=100)        # all 80 draws
    y = chains.reshape(-1, 2) @ H.T
    assert band["n"] == 80
    np.testing.assert_allclose(band["lower"]["y"], interp_quantile(y, 0.1), rtol=1e-12)
    np.testing.assert_allclose(band["upper"]["y"], interp_quantile(y, 0.9), rtol=1e-12)
    members = rng.normal([1.2, 2.0], 0.3, size=(30, 2))
    w = np.r_[np.full(20, 0.05), np.zeros(10)]                   # the last 10 weigh nothing
    ens = EnsembleResult(method="importance", parameter_names=["a", "b"], x=w @ members,
                         samples=members, weights=w)
    band = posterior_band(p, ens, level=0.8)
    y = members[:20] @ H.T
    np.testing.assert_allclose(band["lower"]["y"], interp_quantile(y, 0.1), rtol=1e-12)
    np.testing.assert_allclose(band["upper"]["y"], interp_quantile(y, 0.9), rtol=1e-12)
    # more members than draws: systematic resampling keeps only weighted members
    band = posterior_band(p, ens, level=0.8, n_draws=12)
    assert band["n"] == 12
    assert np.all(band["lower"]["y"] >= y.min(axis=0)) and \
        np.all(band["upper"]["y"] <= y.max(axis=0))


def test_no_band_without_draws_or_time():
    from pdaframe.plots import posterior_band
    from pdaframe.result import OptimisationResult
    p = linear_problem()
    plain = OptimisationResult(method="de", parameter_names=["a", "b"], x=np.ones(2))
    assert posterior_band(p, plain) is None
    res = pdaframe.minimise(p, "lbfgsb")
    assert posterior_band(p, res, budget_s=0.0) is None          # stopped before 10 runs


def test_band_is_drawn_on_the_panel_and_multisite_runs_without_its_executor():
    from matplotlib.collections import PolyCollection
    from pdaframe.plots import posterior_band, stream_figure

    class Refuse:
        def map(self, func, items):
            raise AssertionError("the band must not use the problem's executor")

    a, b = Dated(start="2004-01-01"), Dated(start="2010-06-15")
    sites = [Site(name, m, [problem(m).streams[0]]) for name, m in (("A", a), ("B", b))]
    prior = pdaframe.GaussianPrior([0.0, 0.0], std=[10.0, 10.0], names=["a", "b"])
    p = MultiSiteProblem(sites, prior, ["a", "b"], [])
    res = pdaframe.minimise(p, "lbfgsb")
    posterior = p.equivalents(res.x)
    p.executor = Refuse()
    band = posterior_band(p, res, n_draws=50)
    assert band["n"] == 50 and set(band["lower"]) == {"A_y", "B_y"}
    assert np.all(band["lower"]["A_y"] < band["upper"]["A_y"])
    plt, fig = stream_figure(p, {"posterior": posterior}, band)
    for ax in fig.axes:
        (poly,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert poly.get_label() == "posterior 90 %"
    plt.close(fig)
