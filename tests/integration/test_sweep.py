"""`pdaframe sweep`: a linear-Gaussian twin over stream sets and error scales. The table's
posterior σ and uncertainty reduction match the closed form per case; resuming reruns only
the case whose output is gone (or whose config changed); a bad override key or value is a
named error before any run."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from pdaframe.errors import ConfigError
from pdaframe.sweep import run_sweep
from pdaframe.sweep.table import tidy_rows

H = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]])
PRIOR_STD = np.array([1.0, 2.0])
TRUTH = np.array([0.5, -1.0])
ROWS = {"first": [0, 2], "second": [1, 3]}

BASE = """title = "linear twin"
seed = 5
[model]
name = "linear"
options = { matrix = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]], names = ["a", "b"] }
[parameters]
a = { mean = 0.0, std = 1.0 }
b = { mean = 0.0, std = 2.0 }
[prior]
family = "gaussian"
[[streams]]
name = "first"
variable = "y"
times = [0, 2]
std = 0.5
[[streams]]
name = "second"
variable = "y"
times = [1, 3]
std = 0.5
[twin]
truth = { a = 0.5, b = -1.0 }
seed = 1
[method]
name = "lbfgsb"
[output]
directory = "out"
"""

SWEEP = """title = "which stream constrains a and b"
base = "base.toml"
[[axes]]
key = "streams"
values = [["first"], ["second"], ["first", "second"]]
[[axes]]
key = "streams.first.std"
values = [0.5, 2.0]
[output]
directory = "sweep_out"
"""


def write_sweep(folder, sweep=SWEEP, base=BASE):
    (folder / "base.toml").write_text(base)
    (folder / "sweep.toml").write_text(sweep)
    return folder / "sweep.toml"


def analytic_std(streams, std_first):
    rows = [r for s in streams for r in ROWS[s]]
    std = np.array([std_first if r in ROWS["first"] else 0.5 for r in rows])
    h = H[rows] / std[:, None]
    return np.sqrt(np.diag(np.linalg.inv(h.T @ h + np.diag(PRIOR_STD ** -2.0))))


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    return folder, run_sweep(write_sweep(folder))


def test_table_matches_the_closed_form_per_case(swept):
    folder, (sweep, rows, lines, paths) = swept
    assert [c.label for c in sweep.cases] == [
        f"streams={s}, streams.first.std={v}" for s in ("first", "second", "first+second")
        for v in (0.5, 2.0)]
    assert all(line.split(": ")[1].startswith("ran;") for line in lines)
    table = tidy_rows(sweep, rows)
    assert len(table) == 12 and {r["status"] for r in table} == {"ok"}
    for case in sweep.cases:
        got = [r for r in table if r["case"] == case.index]
        streams = case.overrides["streams"]
        expect = analytic_std(streams, case.overrides["streams.first.std"])
        assert [r["parameter"] for r in got] == ["a", "b"]
        np.testing.assert_allclose([r["posterior_std"] for r in got], expect, rtol=1e-6)
        np.testing.assert_allclose([r["reduction"] for r in got], 1 - expect / PRIOR_STD,
                                   rtol=1e-6)
        np.testing.assert_array_equal([r["truth"] for r in got], TRUTH)
        err = np.array([r["error"] for r in got])
        np.testing.assert_array_equal(err, np.array([r["analysis"] for r in got]) - TRUTH)
        assert np.all(np.abs(err) < 4 * expect)
        assert got[0]["n_obs"] == 2 * len(streams) and got[0]["nfev"] > 0
        assert got[0]["streams"] == "+".join(streams)
    # the second stream alone does not see the first stream's error: same σ for both scales
    by_label = {r["label"] + r["parameter"]: r["posterior_std"] for r in table}
    assert by_label["streams=second, streams.first.std=0.5a"] == \
        by_label["streams=second, streams.first.std=2.0a"]


def test_csv_netcdf_and_plot_hold_the_same_numbers(swept):
    folder, (sweep, rows, _, paths) = swept
    assert paths["table"] == folder / "sweep_out" / "sweep.csv"
    text = paths["table"].read_text().splitlines()
    assert text[0] == ("case,label,streams,streams.first.std,parameter,truth,analysis,error,"
                       "prior_std,posterior_std,reduction,two_j_over_m,n_obs,nfev,seconds,"
                       "converged,status")
    assert len(text) == 13
    table = tidy_rows(sweep, rows)
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert list(ds.parameter.values) == ["a", "b"] and ds.sizes["case"] == 6
        assert list(ds["streams"].values) == ["first", "first", "second", "second",
                                              "first+second", "first+second"]
        np.testing.assert_array_equal(ds["streams__first__std"].values, [0.5, 2.0] * 3)
        assert ds["streams__first__std"].attrs["config_key"] == "streams.first.std"
        np.testing.assert_array_equal(ds.reduction.values.ravel(),
                                      [r["reduction"] for r in table])
        np.testing.assert_array_equal(ds.nfev.values, [r["nfev"] for r in table[::2]])
    assert paths["plot"].stat().st_size > 5000
    case = folder / "sweep_out" / "cases" / "004"
    assert (case / "result.nc").exists() and (case / "config.toml").exists()


def test_resume_reruns_only_the_case_whose_output_is_gone(tmp_path):
    path = write_sweep(tmp_path)
    sweep, first, _, _ = run_sweep(path)
    cases = tmp_path / "sweep_out" / "cases"
    stamps = {p.parent.name: p.stat().st_mtime_ns for p in cases.glob("*/row.json")}
    shutil.rmtree(cases / "003")
    _, second, lines, _ = run_sweep(path)
    assert [row.reused for row in second] == [True, True, True, False, True, True]
    assert "case 3 (streams=second, streams.first.std=2.0): ran;" in lines[3]
    assert {p.parent.name: p.stat().st_mtime_ns for p in cases.glob("*/row.json")
            if p.parent.name != "003"} == {k: v for k, v in stamps.items() if k != "003"}
    keep = ("parameter", "truth", "analysis", "prior_std", "posterior_std", "fun", "n_obs",
            "nfev")
    for a, b in zip(first, second):
        assert {k: a.numbers[k] for k in keep} == {k: b.numbers[k] for k in keep}
    # a changed base config changes every case's digest: all run again
    (tmp_path / "base.toml").write_text(BASE.replace("seed = 1", "seed = 7"))
    _, third, _, _ = run_sweep(path)
    assert not any(row.reused for row in third)
    # a row file of other settings (a foreign digest) is not trusted either
    row = cases / "000" / "row.json"
    data = json.loads(row.read_text())
    row.write_text(json.dumps({**data, "digest": "0" * 64}))
    _, fourth, _, _ = run_sweep(path)
    assert [r.reused for r in fourth] == [False] + [True] * 5


@pytest.mark.parametrize("axis, message", [
    ('key = "streams.first.sd"\nvalues = [1.0]',
     "[[axes]] 0 (key 'streams.first.sd'): 'streams.first.sd' names no key of the base "
     "config"),
    ('key = "model.options.n"\nvalues = [1]', "no 'n' in [model.options]"),
    ('key = "streams.third.std"\nvalues = [1.0]', "[streams] has no element 'third'"),
    ('key = "streams.5.std"\nvalues = [1.0]', "[streams] has no element '5'"),
    ('key = "streams.first.std.x"\nvalues = [1.0]', "[streams.first.std] is a value"),
    ('key = "streams"\nvalues = [["first", "third"]]', "selects ['third'] tables"),
    ('key = "streams.first.std"\nvalues = [0.5, "big"]', "'std' must be"),
    ('key = "method.name"\nvalues = ["lbfgsb", "morris"]',
     "case 1 (method.name=morris): method 'morris' gives no estimate"),
])
def test_a_bad_override_is_a_named_error_before_any_run(tmp_path, axis, message):
    sweep = f'base = "base.toml"\n[[axes]]\n{axis}\n[output]\ndirectory = "sweep_out"\n'
    path = write_sweep(tmp_path, sweep)
    with pytest.raises(ConfigError) as err:
        run_sweep(path)
    assert str(err.value).startswith(str(path)), err.value
    assert message in str(err.value)
    assert not (tmp_path / "sweep_out").exists()          # nothing ran, nothing written


def test_named_cases_and_the_command_line(tmp_path):
    sweep = ('base = "base.toml"\n[[cases]]\nname = "tight"\nset = { "streams.second.std" = '
             '0.1 }\n[[cases]]\nname = "first only"\nset = { streams = ["first"] }\n'
             '[output]\ndirectory = "sweep_out"\n')
    path = write_sweep(tmp_path, sweep)
    cmd = [sys.executable, "-m", "pdaframe.cli", "sweep", str(path), "-o", str(tmp_path / "o")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "case 0 (tight): ran;" in proc.stdout and "case 1 (first only): ran;" in proc.stdout
    assert "wrote table: " in proc.stdout
    with xr.open_dataset(tmp_path / "o" / "sweep.nc") as ds:
        assert list(ds["streams__second__std"].values) == [0.1, 0.5]     # the base's value
        assert list(ds["streams"].values) == ["first+second", "first"]
        np.testing.assert_allclose(ds.posterior_std.values[1], analytic_std(["first"], 0.5),
                                   rtol=1e-6)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.stdout.count(": reused;") == 2
    bad = write_sweep(tmp_path, sweep.replace("streams.second.std", "streams.second.error"))
    proc = subprocess.run([*cmd[:4], str(bad), "-o", str(tmp_path / "bad")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "error (ConfigError)" in proc.stderr and "[[cases]] 'tight'" in proc.stderr
    assert not (tmp_path / "bad").exists()
