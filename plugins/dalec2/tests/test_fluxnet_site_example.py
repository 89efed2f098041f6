"""examples/fluxnet_site end to end: a FLUXNET-format HH site file (real US-Me2 L4 half-hours
of 2005-2006, gzip-compressed) gives the drivers and the QC-filtered NEE, an ORNL MODIS subset
the LAI; 4D-Var over 2005; the unassimilated 2006 NEE is scored at the prior and the
posterior. Every count is checked against one made here from the source files with the csv
and gzip modules alone (and against the independent daily aggregation US-Me2_daily.csv)."""
import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.plugin import drivers_from_fluxnet
from pdaframe.run import run_problem
from pdaframe_dalec2.drivers import Drivers
from pdaframe_dalec2.readers import read_drivers_file

ROOT = Path(__file__).parents[3]
EXAMPLE = ROOT / "examples" / "fluxnet_site"
SITE_FILE = EXAMPLE / "US-Me2_L4_2005-2006_HH_in_FLUXNET_layout.csv.gz"
MODIS_FILE = EXAMPLE / "US-Me2_MOD15A2_2005-2006.asc"
US_ME2_DAILY = ROOT / "plugins" / "dalec2" / "pdaframe_dalec2" / "data" / "US-Me2" / \
    "US-Me2_daily.csv"
LATITUDE = 44.4523
UMOL_TO_GC_DAY = 12.011e-6 * 86400


def half_hours():
    """The site file's rows as ``{column: list of str}`` (csv + gzip modules only)."""
    with gzip.open(SITE_FILE, "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: [r[k] for r in rows] for k in rows[0]}


def independent_nee():
    """Per day of the file: the NEE days the QC rule of the config keeps (flag <= 1 on at
    least 80 % of the 48 half-hours), their mean in g C m-2 d-1, and the half-hour counts of
    missing values and of flags > 1."""
    hh = half_hours()
    nee = np.array(hh["NEE_VUT_REF"], dtype=float).reshape(-1, 48)
    flag = np.array(hh["NEE_VUT_REF_QC"], dtype=float).reshape(-1, 48)
    days = np.array([s[:8] for s in hh["TIMESTAMP_START"][::48]])
    good = (nee != -9999) & np.isin(flag, (0, 1))
    keep = good.sum(axis=1) >= 0.8 * 48
    mean = np.where(good, nee, 0.0).sum(axis=1) / np.maximum(good.sum(axis=1), 1)
    dates = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in days], dtype="datetime64[D]")
    return (dates[keep], mean[keep] * UMOL_TO_GC_DAY, int((nee == -9999).sum()),
            int(((nee != -9999) & (flag > 1)).sum()))


def daily_csv(year, column):
    with open(US_ME2_DAILY, newline="") as fh:
        return [(np.datetime64(r["date"]), float(r[column])) for r in csv.DictReader(fh)
                if r["year"] == str(year)]


@pytest.fixture(scope="module")
def loaded():
    return pdaframe.load_config(EXAMPLE / "config.toml")


def test_drivers_come_from_the_fluxnet_file_at_the_configured_latitude(loaded):
    problem, _ = loaded
    drivers = problem.model.drivers
    assert drivers.latitude == LATITUDE
    assert drivers.time[0] == np.datetime64("2005-01-01") and drivers.n == 730
    assert drivers.co2 is None                   # no CO2 column: DALEC2's constant 390 ppm
    table = drivers_from_fluxnet(SITE_FILE, latitude=LATITUDE, co2=False)
    direct = Drivers.from_table(table.window("2005-01-01", "2006-12-31"))
    for name in ("time", "doy", "elapsed", "t_min", "t_max", "t_mean", "sw", "dt"):
        np.testing.assert_array_equal(getattr(drivers, name), getattr(direct, name))
    assert direct.latitude == LATITUDE
    # the header of a .gz file is sniffed as FLUXNET (no format option in the config)
    sniffed = read_drivers_file(SITE_FILE, latitude=LATITUDE, co2=False)
    np.testing.assert_array_equal(sniffed.sw, drivers.sw)
    # independent: the daily extremes of Ta_f aggregated by aggregate_daily.py
    for year, rows in ((2005, slice(0, 365)), (2006, slice(365, 730))):
        for mine, column in (("t_min", "t_min_degC"), ("t_max", "t_max_degC")):
            theirs = np.array([v for _, v in daily_csv(year, column)])
            np.testing.assert_allclose(getattr(drivers, mine)[rows], theirs, atol=1e-9)
        sw = np.array([v for _, v in daily_csv(year, "sw_in_MJ_m2_d")])
        np.testing.assert_allclose(drivers.sw[rows], sw, atol=1e-6)


def test_a_damaged_site_file_is_a_data_error_naming_it(tmp_path):
    """The header sniffing of ``drivers_file`` (no ``format``) on a truncated .gz."""
    from pdaframe.plugin import DataError
    bad = tmp_path / "truncated.csv.gz"
    bad.write_bytes(SITE_FILE.read_bytes()[:30])
    with pytest.raises(DataError, match="truncated.csv.gz: damaged gzip file"):
        read_drivers_file(bad, latitude=LATITUDE)
    with pytest.raises(DataError, match="truncated.csv.gz: damaged gzip file"):
        read_drivers_file(bad, latitude=LATITUDE, format="fluxnet")


def test_qc_keeps_the_days_an_independent_count_keeps(loaded):
    problem, settings = loaded
    nee, lai = problem.streams
    (held_out,) = settings.evaluate
    dates, values, n_missing, n_bad_flag = independent_nee()
    in_2005 = dates <= np.datetime64("2005-12-31")
    assert (in_2005.sum(), (~in_2005).sum()) == (354, 225)
    assert nee.n_valid == 354 and held_out.n_valid == 225
    time = problem.model.time
    np.testing.assert_array_equal(time[nee.times], dates[in_2005])
    np.testing.assert_array_equal(time[held_out.times], dates[~in_2005])
    np.testing.assert_allclose(nee.values, values[in_2005], rtol=1e-12)
    np.testing.assert_allclose(held_out.values, values[~in_2005], rtol=1e-12)
    record = json.loads(nee.attrs["reader_record"])
    assert record["rejected"] == {"missing value (HH steps)": n_missing,
                                  "NEE_VUT_REF_QC > 1 (HH steps)": n_bad_flag,
                                  "day with < 0.8 of its steps kept": 730 - dates.size}
    assert (n_missing, n_bad_flag, dates.size) == (608, 6085, 579)
    assert record["qc_rule"] == "NEE_VUT_REF_QC <= 1"
    assert record["error_model"] == "sigma = 0.5 + 0.2 * |value|"
    np.testing.assert_allclose(nee.error.std, 0.5 + 0.2 * np.abs(nee.values), rtol=1e-12)
    # independent: aggregate_daily.py's mask (at most 9 of 48 half-hours missing or B/C)
    for year, stream in ((2005, nee), (2006, held_out)):
        kept = [(d, v) for d, v in daily_csv(year, "nee_n_poor") if v <= 9]
        np.testing.assert_array_equal(time[stream.times], [d for d, _ in kept])
    # LAI: centre pixel (5 of 9), FparLai_QC MODLAND bit 0 and SCF_QC (bits 5-7) in {0, 1}
    with open(MODIS_FILE, newline="") as fh:
        lines = [r for r in csv.reader(fh) if r[2].startswith("A2005")]
    qc = {r[2]: int(r[9]) for r in lines if r[0].endswith("FparLai_QC")}
    raw = {r[2]: int(r[9]) for r in lines if r[0].endswith(".Lai_1km")}
    good = sorted(d for d, q in qc.items() if q & 1 == 0 and (q >> 5) in (0, 1)
                  and raw[d] <= 100)
    assert lai.n_valid == len(good) == 37
    np.testing.assert_allclose(lai.values, [0.1 * raw[d] for d in good], rtol=1e-12)


def test_4dvar_beats_the_prior_on_the_held_out_year(loaded, tmp_path):
    problem, settings = loaded
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    j0, j = result.history["cost"][0], result.fun
    prior, post = (result.evaluation["nee_2006"][k] for k in ("prior", "posterior"))
    print(f"\nJ {j0:.2f} -> {j:.2f}; held-out 2006 NEE RMSE prior {prior['rmse']:.3f}, "
          f"posterior {post['rmse']:.3f} g C m-2 d-1 (n = {post['n']})")
    assert result.success and j < 0.05 * j0               # measured: 4956.34 -> 186.32
    assert prior["n"] == post["n"] == 225
    assert prior["rmse"] == pytest.approx(4.403, abs=1e-3)   # the prior run: no optimiser
    assert post["rmse"] < 0.4 * prior["rmse"]              # measured: 1.475 (0.335 x prior)
    assert post["correlation"] > prior["correlation"] + 0.2   # measured: 0.433 -> 0.748
    assert abs(post["bias"]) < abs(prior["bias"])           # measured: -3.505 -> 1.118
    assert result.posterior_covariance.shape == (19, 19)    # the Laplace posterior
    assert np.all(np.linalg.eigvalsh(result.posterior_covariance) > 0)
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert ds.nee_2006_posterior.attrs["rmse"] == pytest.approx(post["rmse"])
        assert ds.nee_2006_prior.attrs["rmse"] == pytest.approx(prior["rmse"])
        assert json.loads(ds.nee_observed.attrs["reader_record"])["kept"] == 579
        assert SITE_FILE.name in ds.attrs["data_files"]
    check_predictions(problem, settings, paths)


def check_predictions(problem, settings, paths):
    """The config's [predict] table, run after the calibration: the 2006 NEE (held out)
    inside the posterior predictive band about as often as its level says, far more often
    than in the credible band; the +2 K drivers are the site's + 2; the report shows both."""
    from pdaframe.plugin import read_driver_file
    base = read_drivers_file(SITE_FILE, latitude=LATITUDE, co2=False)
    warm = read_driver_file(paths["drivers_warm"], optional=("t_mean",))
    for name in ("t_min", "t_max", "t_mean"):
        np.testing.assert_allclose(warm[name], getattr(base, name) + 2.0, atol=1e-9)
    np.testing.assert_allclose(warm["sw"], base.sw, rtol=1e-12)
    (held_out,) = settings.evaluate
    when = problem.model.time[held_out.times]
    with xr.open_dataset(paths["predict_baseline"]) as b, \
            xr.open_dataset(paths["predict_warm"]) as w:
        assert b.attrs["source_run_id"] == w.attrs["source_run_id"] != ""
        assert w.attrs["drivers_file"] == "drivers_warm.csv"
        inside = {}
        for band in ("predictive", "credible"):
            q = b[f"nee_posterior_{band}"].sel(time=when.astype("datetime64[ns]")).values
            inside[band] = np.mean((held_out.values >= q[0]) & (held_out.values <= q[-1]))
        # warmer: more respiration and a different GPP at the same parameter draws
        gpp_shift = float((w.gpp_posterior - b.gpp_posterior).mean())
        reco = float((w.nee_posterior - b.nee_posterior + w.gpp_posterior -
                      b.gpp_posterior).mean())
    print(f"2006 NEE inside the 90 % posterior bands: predictive {inside['predictive']:.3f}, "
          f"credible {inside['credible']:.3f}; +2 K: mean GPP {gpp_shift:+.3f}, "
          f"Reco {reco:+.3f} g C m-2 d-1")
    assert inside["predictive"] > 0.75 and inside["predictive"] > inside["credible"] + 0.2
    assert reco > 0.05                          # respiration rises with temperature
    page = Path(paths["report"]).read_text(encoding="utf-8")
    assert "Predictions (run " in page and "scenario" in page
    assert page.count("data:image/png;base64,") >= 4    # streams, parameters, 2 predictions


def test_prior_predictive_check_sees_the_oak_prior_on_a_pine_stand(loaded):
    """`pdaframe check --prior-predictive` on the example: the data lie in the prior's bands
    where units and sign are tested hardest (winter and spring NEE, winter LAI), and outside
    them where the P16 (deciduous oak) prior puts a full summer canopy on the sparse pine
    stand: too much summer uptake, too high an LAI (README.md of the example)."""
    from pdaframe.analysis.prior_predictive import prior_predictive
    problem, settings = loaded
    check = prior_predictive(problem, 200, settings.seed)
    nee, lai = check.streams
    print(f"\nprior predictive 90 % coverage: NEE {nee.coverage_90:.3f}, "
          f"LAI {lai.coverage_90:.3f}")
    assert check.n_failed == 0
    assert nee.coverage_90 == pytest.approx(0.483, abs=0.002)     # 171 of 354
    assert lai.coverage_90 == pytest.approx(0.324, abs=0.002)     # 12 of 37
    month = nee.dates.astype("datetime64[M]").astype(int) % 12 + 1
    early = month <= 3
    assert nee.inside_90[early].mean() > 0.95                 # Jan-Mar: 83 of 85 inside
    summer = (month >= 6) & (month <= 9)
    above = nee.values > nee.bands[:, 4]
    assert above[summer].mean() > 0.9                         # less uptake than the prior
    lai_month = lai.dates.astype("datetime64[M]").astype(int) % 12 + 1
    assert np.all(lai.values[(lai_month >= 5) & (lai_month <= 7)] <
                  lai.bands[(lai_month >= 5) & (lai_month <= 7), 0])
