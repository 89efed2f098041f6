"""The prior predictive check on a linear-Gaussian problem: coverages of the 90 % and 50 %
bands match the closed form within sampling error; a stream whose data are shifted far away
is covered nowhere and flagged; the report's files and the command line."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy.stats import norm

import pdaframe
from pdaframe.analysis.prior_predictive import prior_predictive, write_prior_predictive
from pdaframe.errors import ConfigError

DATA = Path(__file__).parents[1] / "data"
M, N_MEMBERS = 1500, 2000
MEAN = np.array([1.0, -1.0])
B = np.array([[1.0, 0.3], [0.3, 0.25]])
R_STD = 0.8


def linear_gaussian(shift=0.0):
    """y = H θ_b + ε (truth at the prior mean), two streams; the second shifted by
    ``shift`` predictive standard deviations."""
    rng = np.random.default_rng(11)
    H = rng.standard_normal((2 * M, 2))
    sd = np.sqrt(np.einsum("ij,jk,ik->i", H, B, H) + R_STD ** 2)     # predictive sd
    y = H @ MEAN + R_STD * rng.standard_normal(2 * M)
    y[M:] += shift * sd[M:]
    model = pdaframe.LinearModel(H, names=["a", "b"])
    prior = pdaframe.GaussianPrior(MEAN, covariance=B, names=["a", "b"])
    streams = [pdaframe.DataStream("first", "y", y[:M], times=np.arange(M), std=R_STD),
               pdaframe.DataStream("second", "y", y[M:], times=np.arange(M, 2 * M), std=R_STD)]
    return pdaframe.Problem(model, prior, streams), H, y, sd


def expected(level, sd):
    """Closed form: P(|ε| <= z σ_pred) for ε ~ N(0, r), per observation; mean and the
    binomial standard deviation of the observed fraction."""
    p = 2 * norm.cdf(norm.ppf(0.5 + level / 2) * sd / R_STD) - 1
    return p.mean(), np.sqrt(np.sum(p * (1 - p))) / p.size


@pytest.fixture(scope="module")
def checked():
    problem, H, y, sd = linear_gaussian(shift=30.0)
    return prior_predictive(problem, N_MEMBERS, seed=4), H, y, sd


def test_coverage_matches_the_closed_form_within_sampling_error(checked):
    check, H, y, sd = checked
    first = check.streams[0]
    assert first.name == "first" and first.values.size == M and check.n_failed == 0
    for level, got in ((0.9, first.coverage_90), (0.5, first.coverage_50)):
        mean, sd_binom = expected(level, sd[:M])
        # the band's quantiles come from 2000 members: allow 0.02 for their error
        assert abs(got - mean) < 4 * sd_binom + 0.02, (level, got, mean, sd_binom)
        # the same data against the exact bands: only the quantile error is left
        z = norm.ppf(0.5 + level / 2)
        exact = np.mean(np.abs(y[:M] - H[:M] @ MEAN) <= z * sd[:M])
        assert abs(got - exact) < 0.02, (level, got, exact)
    # the numbers: coverage well above the nominal level (truth at the prior mean), and
    # clearly above what a band of the model spread alone (no observation error) gives
    assert 0.95 < first.coverage_90 < 0.995 and 0.6 < first.coverage_50 < 0.8
    model_only = np.mean(np.abs(y[:M] - H[:M] @ MEAN) <= 1.6449 * np.sqrt(
        np.einsum("ij,jk,ik->i", H[:M], B, H[:M])))
    assert first.coverage_90 - model_only > 0.05
    # the bands: the median near H θ_b, the 90 % half-width near 1.645 predictive sd
    np.testing.assert_allclose(first.bands[:, 2], H[:M] @ MEAN, atol=0.15 * sd[:M].max())
    np.testing.assert_allclose((first.bands[:, 4] - first.bands[:, 0]) / (2 * sd[:M]),
                               1.6449, rtol=0.08)
    assert not first.flagged


def test_a_far_shifted_stream_is_covered_nowhere_and_flagged(checked):
    check = checked[0]
    second = check.streams[1]
    assert second.coverage_90 == 0.0 and second.coverage_50 == 0.0 and second.flagged
    text = check.summary()
    assert "stream 'second': 1500 observations; inside the 90 % band 0.0%" in text
    assert "FLAGGED" in text.split("stream 'second'")[1]
    assert "FLAGGED" not in text.split("stream 'second'")[0]
    assert "1500 outside the 90 % band" in text and "... 1495 more" in text


def test_same_seed_same_bands_and_other_seed_differs():
    problem = linear_gaussian()[0]
    a = prior_predictive(problem, 50, seed=1).streams[0].bands
    b = prior_predictive(problem, 50, seed=1).streams[0].bands
    c = prior_predictive(problem, 50, seed=2).streams[0].bands
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_the_files_hold_the_numbers(checked, tmp_path):
    check = checked[0]
    paths = write_prior_predictive(check, tmp_path)
    lines = paths["prior_predictive_table"].read_text().splitlines()
    assert lines[0] == "stream,index,time,value,q05,q25,q50,q75,q95,inside_90,inside_50"
    assert len(lines) == 1 + 2 * M and lines[M + 1].startswith(f"second,{M},{M},")
    with xr.open_dataset(paths["prior_predictive"]) as ds:
        np.testing.assert_array_equal(ds.coverage_90.values,
                                      [s.coverage_90 for s in check.streams])
        assert list(ds.flagged.values) == [0, 1]
        np.testing.assert_array_equal(ds.band.values[:M], check.streams[0].bands)
        assert ds.attrs["n_members"] == N_MEMBERS


def test_bad_member_count():
    with pytest.raises(ConfigError, match="--members = 5: at least 10"):
        prior_predictive(linear_gaussian()[0], 5)


def test_command_line(tmp_path):
    for f in ("lg2.toml", "lg2_obs.csv"):
        (tmp_path / f).write_text((DATA / f).read_text())
    text = (tmp_path / "lg2_obs.csv").read_text().replace("2,2.2,", "2,40.0,")
    (tmp_path / "lg2_obs.csv").write_text(text)
    cmd = [sys.executable, "-m", "pdaframe.cli", "check", "--prior-predictive", "--members",
           "400", str(tmp_path / "lg2.toml"), "-o", str(tmp_path / "out")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "400 of 400 prior members ran (seed 3)" in proc.stdout
    assert "stream 'y': 3 observations; inside the 90 % band 66.7%" in proc.stdout
    assert "      2: 40 outside [" in proc.stdout
    assert (tmp_path / "out" / "prior_predictive.nc").exists()
    rows = (tmp_path / "out" / "prior_predictive.csv").read_text().splitlines()
    assert [r.split(",")[-2] for r in rows[1:]] == ["True", "True", "False"]
    bad = subprocess.run([*cmd[:6], "5", *cmd[7:-1], str(tmp_path / "out2")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "--members = 5" in bad.stderr
    assert not (tmp_path / "out2").exists()
    alone = subprocess.run([*cmd[:4], "--members", "5", str(tmp_path / "lg2.toml")],
                           capture_output=True, text=True, timeout=300)
    assert alone.returncode == 2 and "--members goes with --prior-predictive" in alone.stderr


def test_dates_when_the_model_has_a_date_axis(tmp_path):
    problem = linear_gaussian(shift=30.0)[0]
    problem.model.time = np.datetime64("2004-01-01") + np.arange(2 * M)
    check = prior_predictive(problem, 20, seed=1)
    assert check.streams[1].time_text(0) == str(np.datetime64("2004-01-01") + M)
    assert f"      {np.datetime64('2004-01-01') + M}: " in check.summary()
    rows = write_prior_predictive(check, tmp_path)["prior_predictive_table"].read_text()
    assert f"\nsecond,{M},{np.datetime64('2004-01-01') + M}," in rows
