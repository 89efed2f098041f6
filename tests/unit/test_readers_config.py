"""Readers as registered pieces in a config: ``reader``/``reader_options`` in ``[[streams]]``,
``thin`` and ``superob``, and their records in the NetCDF results."""
import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import pdaframe
import pdaframe.plugin
from pdaframe.cli import main
from pdaframe.errors import ConfigError, DataError
from pdaframe.observations.readers import read_fluxnet, read_modis
from pdaframe.run import run_problem
from tests.models import Dated

DATA = Path(__file__).parents[1] / "data"
DD = DATA / "fluxnet" / "US-Me2_L4_2005_DD_in_FLUXNET_layout.csv"
OPTS = {"qc": 0.8125, "uncertainty": "model", "error_model": {"relative": 0.2, "floor": 0.3}}
READ = ('reader = "fluxnet"\nreader_options = { qc = 0.8125, uncertainty = "model", '
        'error_model = { relative = 0.2, floor = 0.3 } }')
ASC = DATA / "modis" / "US-Me2_MOD15A2_2005.asc"

CONFIG = """
[model]
name = "dated"
options = {{ start = "{start}", n = {n} }}

[parameters]
a = {{ mean = 0.0, std = 10.0 }}
b = {{ mean = 0.0, std = 10.0 }}

[[streams]]
name = "nee"
variable = "y"
file = "{file}"
{extra}
"""


@pytest.fixture
def dated(monkeypatch):
    """Register the Dated model as if a plugin did it."""
    pdaframe.plugin.reset_plugins()
    pdaframe.plugins.registry("model").add("dated", Dated)
    yield
    pdaframe.plugin.reset_plugins()


def load(tmp_path, extra, start="2005-10-01", n=92, file=DD):
    path = tmp_path / "c.toml"
    path.write_text(CONFIG.format(start=start, n=n, file=file, extra=extra))
    return pdaframe.load_config(path)


def stream(tmp_path, extra):
    (s,) = load(tmp_path, extra)[0].streams
    return s


def test_registered_and_listed(capsys):
    reg = pdaframe.plugins.registry("reader")
    assert reg.names() == ["fluxnet", "modis"]
    assert reg.get("fluxnet") is read_fluxnet and reg.sources["modis"][0] == "pdaframe"
    assert main(["plugins"]) == 0
    assert "    readers: fluxnet, modis" in capsys.readouterr().out.splitlines()


def test_fluxnet_stream_and_its_record_in_the_results(tmp_path, dated):
    problem, settings = load(tmp_path, READ)
    (s,) = problem.streams
    r = read_fluxnet(DD, **OPTS)
    inside = r.times >= np.datetime64("2005-10-01")
    assert inside.sum() == 86 and s.n_outside == 354 - 86
    np.testing.assert_array_equal(s.times, (r.times[inside] - np.datetime64("2005-10-01"))
                                  .astype(int))
    np.testing.assert_array_equal(s.values, r.values[inside])
    np.testing.assert_array_equal(s.error.std, r.std[inside])
    assert s.units == "g C m-2 d-1" and s.attrs["reader"] == "fluxnet"
    record = json.loads(s.attrs["reader_record"])
    assert record["kept"] == 354 and record["outside_run_or_window"] == 268
    assert record["rejected"] == {"NEE_VUT_REF_QC < 0.8125": 11}
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert ds.nee_observed.attrs["reader"] == "fluxnet"
        assert json.loads(ds.nee_observed.attrs["reader_record"]) == record
        np.testing.assert_array_equal(ds.nee_observed.values, r.values[inside])


def test_modis_stream_on_composite_dates(tmp_path, dated):
    problem, _ = load(tmp_path, 'reader = "modis"\nreader_options = { scale = 0.1 }\n'
                                'std = 0.66', start="2005-01-01", n=181, file=ASC)
    (s,) = problem.streams
    r = read_modis(ASC, scale=0.1)
    half = r.times <= np.datetime64("2005-06-30")
    np.testing.assert_array_equal(s.times, (r.times[half] - np.datetime64("2005-01-01"))
                                  .astype(int))
    np.testing.assert_array_equal(s.values, r.values[half])
    assert s.units == "m2 m-2" and np.all(s.error.std == 0.66)


@pytest.mark.parametrize("extra, error, message", [
    ('reader = "flux"', ConfigError, r"\[streams.0\] \[nee\] unknown reader 'flux'; "
                                     r"available: fluxnet, modis"),
    ('reader = "fluxnet"\nreader_options = { qcc = 0.5 }', ConfigError,
     r"reader 'fluxnet': unknown reader_options \['qcc'\]; allowed: \[.*'qc'"),
    ('reader_options = { qc = 0.5 }', ConfigError, "'reader_options' without 'reader'"),
    ('reader = "fluxnet"\ntime_column = "TIMESTAMP"', ConfigError,
     r"a reader finds its own columns and missing values; remove \['time_column'\]"),
    (READ + '\nunits = "umol m-2 s-1"', ConfigError,
     r"'units' = 'umol m-2 s-1' but the reader gives 'g C m-2 d-1'; convert with "
     r"reader_options.units"),
    ('reader = "fluxnet"\nreader_options = { variable = "NEE_X", uncertainty = "none" }', DataError,
     r"c.toml: \[streams.0\] \[nee\] .*US-Me2_L4_2005_DD.*: no column 'NEE_X'"),
    (READ + '\nsuperob = { period = "8D" }\naggregate = { period = "monthly" }',
     ConfigError, r"'superob' builds its own windows.*remove \['aggregate'\]"),
    (READ + '\nthin = { every = 0 }', ConfigError, "'every' must be >= 1"),
    (READ + '\nthin = { every = 2, min_spacing = 3 }', ConfigError,
     "'thin' must be"),
    (READ + '\nsuperob = { period = "8X" }', ConfigError,
     "'8X': expected a number of model steps"),
])
def test_bad_stream_tables(tmp_path, dated, extra, error, message):
    with pytest.raises(error, match=message):
        load(tmp_path, extra)


def test_thin_every_k_and_min_spacing(tmp_path, dated):
    full = stream(tmp_path, READ)
    every = stream(tmp_path, READ + '\n'
                                 'thin = { every = 3 }')
    np.testing.assert_array_equal(every.times, full.times[::3])
    np.testing.assert_array_equal(every.values, full.values[::3])
    np.testing.assert_array_equal(every.error.std, full.error.std[::3])
    assert json.loads(every.attrs["thin"]) == {"rule": {"every": 3}, "valid_before": 86,
                                               "kept": 29}
    spaced = stream(tmp_path, READ + '\n'
                                  'thin = { min_spacing = "8D" }')
    expected, last = [], -100
    for t in full.times:
        if t - last >= 8:
            expected.append(t)
            last = t
    np.testing.assert_array_equal(spaced.times, expected)
    assert np.diff(spaced.times).min() >= 8 and spaced.times[-2:].tolist() == [81, 89]


def test_superob_mean_error_floor_and_min_count(tmp_path, dated):
    full = stream(tmp_path, READ)
    s = stream(tmp_path, READ + '\n'
                             'superob = { period = "8D", floor = 0.15, min_count = 7 }')
    edges = np.r_[np.arange(0, 92, 8), 92]
    values, stds, raw = [], [], []
    for a, b in zip(edges[:-1], edges[1:]):
        inbin = (full.times >= a) & (full.times < b)
        if inbin.sum() >= 7:
            values.append(full.values[inbin].mean())
            raw.append(np.sqrt((full.error.std[inbin] ** 2).sum()) / inbin.sum())
            stds.append(max(raw[-1], 0.15))
        else:
            values.append(np.nan)
    np.testing.assert_array_equal(s.times, edges[:-1])
    np.testing.assert_allclose(s.values, values, rtol=1e-14)
    np.testing.assert_allclose(s.error.std, stds, rtol=1e-14)
    assert np.isnan(values).sum() == 2 and min(raw) < 0.15 < max(raw)   # floor used, or not
    y = np.arange(92.0) ** 2                          # the operator averages the same days
    eq = s.operator.apply({"y": y})
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        days = full.times[(full.times >= a) & (full.times < b)]
        if np.isfinite(values[k]):
            assert eq[k] == pytest.approx(y[days].mean(), rel=1e-14)
    record = json.loads(s.attrs["superob"])
    assert record == {"period": "8D", "floor": 0.15, "min_count": 7, "observations_in": 86,
                      "superobs": 10, "bins_below_min_count": 2}
    monthly = stream(tmp_path, READ + '\n'
                                   'superob = { period = "monthly" }')
    np.testing.assert_array_equal(monthly.times, [0, 31, 61])
    october = full.times < 31
    assert monthly.values[0] == pytest.approx(full.values[october].mean(), rel=1e-14)


def test_reader_dates_cut_by_start_and_end(tmp_path):
    pdaframe.plugin.reset_plugins()
    pdaframe.plugins.registry("model").add("dated", Dated)
    try:
        s = stream(tmp_path, READ + '\n'
                             'start = "2005-11-01"\nend = "2005-11-30"')
    finally:
        pdaframe.plugin.reset_plugins()
    r = read_fluxnet(DD, **OPTS)
    nov = (r.times >= np.datetime64("2005-11-01")) & (r.times <= np.datetime64("2005-11-30"))
    np.testing.assert_array_equal(s.values, r.values[nov])
    np.testing.assert_array_equal(s.times, (r.times[nov] - np.datetime64("2005-10-01"))
                                  .astype(int))
    assert s.n_outside == 354 - nov.sum() and nov.sum() == 28


def test_stream_std_replaces_the_readers_and_evaluate_streams(tmp_path, dated):
    s = stream(tmp_path, READ + '\nstd = 0.7')
    assert s.values.size == 86 and np.all(s.error.std == 0.7)
    assert s.attrs["std"] == "the stream's 'std' replaces the reader's uncertainty"
    text = CONFIG.format(start="2005-10-01", n=92, file=DD, extra=(
        READ + '\nend = "2005-11-30"')) + f"""
[[evaluate]]
name = "nee_held_out"
variable = "y"
file = "{DD}"
reader = "fluxnet"
reader_options = {{ qc = 0.8125, uncertainty = "model", error_model = {{ relative = 0.2, floor = 0.3 }} }}
start = "2005-12-01"
"""
    (tmp_path / "e.toml").write_text(text)
    _, settings = pdaframe.load_config(tmp_path / "e.toml")
    (e,) = settings.evaluate            # the loader's std = 1.0 of [[evaluate]] replaces σ
    r = read_fluxnet(DD, **OPTS)
    dec = r.times >= np.datetime64("2005-12-01")
    np.testing.assert_array_equal(e.values, r.values[dec])
    assert dec.sum() == 28 and e.attrs["reader"] == "fluxnet"


def test_a_plugin_reader(tmp_path, dated):
    """A reader registered like a plugin's: any object with the ReadResult attributes."""
    from types import SimpleNamespace

    def weekly(path, *, value=1.0):
        days = np.datetime64("2005-10-03") + 7 * np.arange(4)
        return SimpleNamespace(times=days, values=value + np.arange(4.0), std=np.full(4, 0.5),
                               units="m2 m-2", record={"reader": "weekly", "rows_read": 4})

    pdaframe.plugins.registry("reader").add("weekly", weekly)
    s = stream(tmp_path, 'reader = "weekly"\nreader_options = { value = 2.0 }')
    np.testing.assert_array_equal(s.times, [2, 9, 16, 23])
    np.testing.assert_array_equal(s.values, [2.0, 3.0, 4.0, 5.0])
    assert s.units == "m2 m-2" and json.loads(s.attrs["reader_record"])["rows_read"] == 4
    with pytest.raises(ConfigError, match=r"reader 'weekly': unknown reader_options "
                                          r"\['values'\]; allowed: \['value'\]"):
        stream(tmp_path, 'reader = "weekly"\nreader_options = { values = 2.0 }')
