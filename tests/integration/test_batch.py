"""Batch inversions (`pdaframe.batch`) on a linear toy: 10 sites, each a twin with its own
truth from the site table. Per-site results equal single-site runs bit for bit; serial runs,
task shares and reruns give identical merged files; an interrupted run resumes only the
unfinished sites; failures are recorded, retried and rerun; locks; bad input is named."""
import json
import os
import subprocess
import sys
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from pdaframe.batch import load_batch, merge_batch, parse_task, run_batch, site_seed
from pdaframe.batch import runner as batch_runner
from pdaframe.batch.lock import batch_lock
from pdaframe.config.loader import load_config
from pdaframe.errors import ConfigError, DataError, OutputError
from pdaframe.run import run_problem

CONFIG = """title = "linear batch"
seed = 7

[batch]
sites = "sites.csv"
{batch}

[model]
name = "linear"
options = {{ matrix = [[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]], names = ["a", "b"] }}

[parameters]
a = {{ mean = 1.0, std = 1.0 }}
b = {{ mean = 2.0, std = 2.0 }}

[[streams]]
name = "y"
variable = "y"
{stream}

[twin]
truth = {{ a = "{{truth_a}}", b = "{{truth_b}}" }}

[method]
name = "lbfgsb"
options = {{ posterior = true }}

[output]
directory = "out"
"""


def toy_batch(folder, n=10, batch="", stream='times = [0, 1, 2]\nstd = 0.5', rows=None):
    """A batch of ``n`` linear twins on a 5 x 2 lat/lon grid in ``folder``; the config."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["site,pft,lat,lon,elevation,truth_a,truth_b"] + (rows or [
        f"s{k:02d},{'evergreen' if k % 2 else 'deciduous'},{40 + k % 5:.1f},"
        f"{-120 + 2 * (k // 5):.1f},{100 * k},{1 + 0.1 * k:.2f},{2 - 0.05 * k:.3f}"
        for k in range(n)])
    (folder / "sites.csv").write_text("\n".join(lines) + "\n")
    path = folder / "config.toml"
    path.write_text(CONFIG.format(batch=batch, stream=stream))
    return path


def estimates(path):
    with netCDF4.Dataset(path) as ds:
        return np.array(ds["estimate"][:].filled(np.nan))


def test_each_site_equals_its_single_site_run_bit_for_bit(tmp_path):
    config = toy_batch(tmp_path)
    run = run_batch(config, progress=False)
    assert [s["status"] for s in run.statuses] == ["done"] * 10
    out = tmp_path / "out"
    merged = estimates(out / "batch.nc")
    assert merged.shape == (10, 2) and np.all(np.isfinite(merged))
    for k in (0, 3, 9):
        site = f"s{k:02d}"
        folder = out / "sites" / site
        problem, settings = load_config(folder / "config.toml")
        assert settings.seed == site_seed(7, site)
        np.testing.assert_array_equal(settings.truth, [1 + 0.1 * k, round(2 - 0.05 * k, 3)])
        result, _ = run_problem(problem, settings, tmp_path / f"alone_{site}", progress=False)
        assert np.array_equal(result["x"], merged[k])               # bit for bit
        with netCDF4.Dataset(folder / "result.nc") as ds:
            assert np.array_equal(ds["analysis"][:], result["x"])
    assert len({site_seed(7, f"s{k:02d}") for k in range(10)}) == 10
    assert merged[0, 0] != merged[1, 0]              # other truths and noise per site
    with netCDF4.Dataset(out / "batch.nc") as ds:
        assert ds.Conventions == "CF-1.8"
        assert list(ds["status"][:]) == ["done"] * 10
        np.testing.assert_array_equal(ds["elevation"][:], 100.0 * np.arange(10))
        assert ds["lat"].standard_name == "latitude"
        assert ds["truth"][3, 0] == pytest.approx(1.3)
    with netCDF4.Dataset(out / "batch_map.nc") as ds:          # a 5 x 2 grid
        assert ds["estimate"].shape == (2, 5, 2)
        assert ds["estimate"][0, 3, 1] == merged[8, 0]          # s08: lat 43, lon -118
    assert (out / "map_a.png").stat().st_size > 1000


def test_serial_tasks_and_reruns_give_identical_merged_files(tmp_path, capsys):
    config = toy_batch(tmp_path)
    run_batch(config, tmp_path / "serial", progress=False)
    shares = []
    for i in (1, 2, 3):
        run = run_batch(config, tmp_path / "tasks", task=(i, 3), progress=i == 1)
        shares.append(run.share)
        assert not run.merged                            # a task never merges
    assert shares[0] == ["s00", "s03", "s06", "s09"] and shares[2] == ["s02", "s05", "s08"]
    merge_batch(tmp_path / "tasks", lock=True)
    for name in ("batch.nc", "batch_map.nc"):
        assert (tmp_path / "serial" / name).read_bytes() == \
            (tmp_path / "tasks" / name).read_bytes(), name
    before = (tmp_path / "serial" / "batch.nc").read_bytes()
    err = capsys.readouterr().err
    assert "site s03 done in" in err and "(2/4, " in err
    again = run_batch(config, tmp_path / "serial", progress=False)      # nothing left to do
    assert again.statuses == [] and len(again.skipped) == 10
    merge_batch(tmp_path / "serial")
    assert (tmp_path / "serial" / "batch.nc").read_bytes() == before


def test_interrupted_run_resumes_only_unfinished_sites(tmp_path, monkeypatch, caplog):
    config = toy_batch(tmp_path)
    run_batch(config, tmp_path / "whole", progress=False)
    out = tmp_path / "cut"
    real = batch_runner.run_problem

    def interrupted(problem, settings, folder, **kw):
        if "s04" in Path(settings.path).read_text().splitlines()[0]:
            (Path(folder) / "result.nc").write_text("half written")
            raise KeyboardInterrupt
        return real(problem, settings, folder, **kw)
    monkeypatch.setattr(batch_runner, "run_problem", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_batch(config, out, progress=False)
    monkeypatch.setattr(batch_runner, "run_problem", real)
    sites = out / "sites"
    assert sorted(p.name for p in sites.iterdir()) == ["s00", "s01", "s02", "s03"]
    assert not list((out / ".locks").iterdir())              # released on the way out
    # what a SIGKILL leaves: a half-built site and the lock of a process that is gone
    (sites / ".s05.abcd1234.tmp").mkdir()
    (sites / ".s05.abcd1234.tmp" / "result.nc").write_text("half written")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".locks" / "all.lock").write_text(json.dumps(
        {"host": os.uname().nodename, "pid": dead.pid, "started": "earlier"}))
    with caplog.at_level("WARNING", logger="pdaframe.batch"):
        run = run_batch(config, out, progress=False)
    assert f"taking over the stale batch lock {out / '.locks' / 'all.lock'}" in caplog.text
    assert f"pid {dead.pid} on host" in caplog.text
    assert "removed 1 unfinished site folder(s) of an interrupted run: .s05." in caplog.text
    assert [s["site"] for s in run.statuses] == [f"s{k:02d}" for k in range(4, 10)]
    assert run.skipped == ["s00", "s01", "s02", "s03"]
    assert not (sites / ".s05.abcd1234.tmp").exists()
    assert (out / "batch.nc").read_bytes() == (tmp_path / "whole" / "batch.nc").read_bytes()


def test_failed_sites_are_recorded_retried_and_rerun(tmp_path, monkeypatch):
    config = toy_batch(tmp_path, batch="retries = 2")
    real = batch_runner.run_problem
    calls = []

    def flaky(problem, settings, folder, **kw):
        site = Path(settings.path).read_text().split()[2]
        calls.append(site)
        if site == "s07" or (site == "s02" and calls.count("s02") < 3):
            raise ValueError(f"bad luck at {site}")
        return real(problem, settings, folder, **kw)
    monkeypatch.setattr(batch_runner, "run_problem", flaky)
    run = run_batch(config, progress=False)
    assert calls.count("s02") == 3 and calls.count("s07") == 3        # 1 + retries
    assert [s["site"] for s in run.failed] == ["s07"] and not run.merged
    out = tmp_path / "out"
    record = json.loads((out / "sites" / "s07.failed.json").read_text())
    assert record["error_type"] == "ValueError" and record["attempts"] == 3
    assert "bad luck at s07" in record["message"] and "Traceback" in record["traceback"]
    assert not (out / "sites" / "s07").exists() and (out / "sites" / "s02").is_dir()
    assert "FAILED s07 after 3 attempt(s): ValueError: bad luck at s07" in run.summary()
    paths = merge_batch(out)                                 # the failed site is listed
    assert paths["counts"] == {"done": 9, "failed": 1, "not run": 0}
    with netCDF4.Dataset(out / "batch.nc") as ds:
        assert ds.failed_sites == "s07" and ds["status"][7] == "failed"
        assert "bad luck" in ds["error"][7]
        assert np.all(ds["estimate"][7].mask) and ds["runs"][7] is np.ma.masked
    monkeypatch.setattr(batch_runner, "run_problem", real)
    rerun = run_batch(config, progress=False)
    assert [s["site"] for s in rerun.statuses] == ["s07"] and rerun.merged
    assert not (out / "sites" / "s07.failed.json").exists()


def test_changed_config_reruns_its_sites(tmp_path):
    config = toy_batch(tmp_path, n=4)
    run_batch(config, progress=False)
    config.write_text(config.read_text().replace("std = 0.5", "std = 0.6"))
    run = run_batch(config, progress=False)
    assert len(run.statuses) == 4 and not run.skipped
    assert "std = 0.6" in (tmp_path / "out" / "sites" / "s01" / "config.toml").read_text()
    assert not [p for p in (tmp_path / "out" / "sites").iterdir() if p.name.startswith(".")]


def test_select_and_placeholders(tmp_path):
    config = toy_batch(tmp_path, batch='select = "1:8:3"', stream=(
        'file = "obs/{site}_{pft}.csv"\nvalue_column = "value"\nstd = "{elevation}"'))
    batch = load_batch(config)
    assert batch.sites == ["s01", "s04", "s07"]
    from pdaframe.batch import site_config
    data = site_config(batch, "s04")
    assert data["streams"][0]["file"] == str(tmp_path.resolve() / "obs" / "s04_deciduous.csv")
    assert data["streams"][0]["std"] == 400.0                        # a number
    assert data["twin"]["truth"] == {"a": 1.4, "b": 1.8}
    assert data["output"] == {"directory": ".", "plots": False, "report": False}
    with pytest.raises(DataError, match=r"(?s)3 of 3 sites lack a file.*site s01: "
                                        r"'streams.0.file' = .*obs/s01_evergreen.csv"):
        run_batch(config, progress=False)
    assert not (tmp_path / "out" / "sites").exists()          # nothing ran


@pytest.mark.parametrize("batch, stream, rows, error, message", [
    ("", 'times = [0, 1, 2]\nstd = "{sigma}"', None, ConfigError,
     r"'streams.0.std' has the placeholder \{sigma\}, but the site table .* has no column "
     r"'sigma'"),
    ("", None, ["a1,x,40,0,1,1,2", "a1,x,41,0,1,1,2"], DataError,
     r"line 3, column 'site': site 'a1' again"),
    ("", None, ["a1,x,40,0,1,NaN,2"], DataError,
     r"line 2, column 'truth_a': missing value \(site 'a1'\)"),
    ('select = ["s01", "s01"]', None, None, ConfigError, r"select lists site\(s\) \['s01'\] "
     r"twice"),
    ('select = ["s99"]', None, None, ConfigError, r"select names site\(s\) \['s99'\]"),
    ("grid = true", None, ["a1,x,40,0,1,1,2", "a2,x,41.3,0,1,1,2", "a3,x,45,0,1,1,2"],
     ConfigError, r"grid = true, but the lat values are not regularly spaced"),
    ("retries = -1", None, None, ConfigError, r"'retries' must be a whole number >= 0"),
    ("", 'times = [0, 1, 2]\nstd = "{elevation}"', None, DataError,
     r"site s00: .*std"),                                        # s00: elevation 0
])
def test_bad_batch_input_is_named(tmp_path, batch, stream, rows, error, message):
    kw = {} if stream is None else {"stream": stream}
    config = toy_batch(tmp_path, batch=batch, rows=rows, **kw)
    with pytest.raises(error, match=message):
        run_batch(config, progress=False)
    assert not (tmp_path / "out" / "sites").exists()


def test_task_out_of_range_and_locks(tmp_path):
    for text in ("0/3", "4/3", "3", "a/b", "-1/2"):
        with pytest.raises(ConfigError, match=r"--task .*expected I/N with 1 <= I <= N"):
            parse_task(text)
    assert parse_task(" 2/5 ") == (2, 5)
    config = toy_batch(tmp_path, n=3)
    with pytest.raises(ConfigError, match=r"--task 1/4: 4 tasks for 3 sites"):
        run_batch(config, task=(1, 4), progress=False)
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".locks").mkdir(parents=True)
        (out / ".locks" / "task-1-of-2.lock").write_text(json.dumps(
            {"host": os.uname().nodename, "pid": holder.pid, "started": "now"}))
        with pytest.raises(OutputError, match=rf"in use by task 1/2: pid {holder.pid}"):
            run_batch(config, progress=False)                    # a full run
        with pytest.raises(OutputError, match=r"in use by task 1/2"):
            run_batch(config, task=(1, 3), progress=False)       # another array
        with pytest.raises(OutputError, match=r"in use by the same share"):
            run_batch(config, task=(1, 2), progress=False)
        run = run_batch(config, task=(2, 2), progress=False)       # same array: may run
        assert run.share == ["s01"] and run.statuses[0]["status"] == "done"
        with pytest.raises(OutputError, match=r"in use by task 1/2"):
            merge_batch(out, lock=True)
    finally:
        holder.kill()
        holder.wait()
    with batch_lock(out, "all"):
        with pytest.raises(OutputError, match=r"in use by a full run"):
            run_batch(config, task=(1, 2), progress=False)
    assert not list((out / ".locks").iterdir())


def test_cli_batch_run_check_and_merge(tmp_path):
    from tests.integration.test_cli import pdaframe_cli

    def cli(*args):
        proc = pdaframe_cli(*args)
        return proc.returncode, proc.stdout, proc.stderr
    config = toy_batch(tmp_path, n=4)
    code, out, err = cli("check", str(config))
    assert code == 0 and "OK (batch)" in out and "4 checked" in out
    code, out, err = cli("run", str(config), "--task", "5/3")
    assert code == 2 and "--task '5/3'" in err
    code, out, err = cli("run", str(config), "--task", "2/2", "-q")
    assert code == 0 and "pdaframe merge" in out and "2 sites; 0 already done, 2 ran" in out
    code, out, err = cli("merge", str(tmp_path / "out"))
    assert code == 0 and "2 sites done, 0 failed, 2 not run" in out
    with netCDF4.Dataset(tmp_path / "out" / "batch.nc") as ds:
        assert ds.missing_sites == "s00,s02" and list(ds["status"][:]) == [
            "not run", "done", "not run", "done"]
    code, out, err = cli("merge", str(tmp_path))
    assert code == 2 and "not the output folder of a batch run" in err
    code, out, err = cli("run", str(tmp_path / "out" / "sites" / "s01" /
                                             "config.toml"), "--task", "1/2")
    assert code == 2 and "--task goes with a batch config" in err


def test_reports_option_and_no_map(tmp_path):
    config = toy_batch(tmp_path, n=2, batch="reports = true\ngrid = false")
    run = run_batch(config, progress=False)
    folder = tmp_path / "out" / "sites" / "s01"
    assert (folder / "report.html").stat().st_size > 1000
    assert (folder / "streams.png").is_file() and (folder / "parameters.png").is_file()
    assert set(run.merged) == {"batch", "counts"}               # grid = false: no map
    assert not (tmp_path / "out" / "batch_map.nc").exists()
    bare = toy_batch(tmp_path / "bare", n=2)
    run_batch(bare, progress=False)
    assert sorted(p.name for p in (tmp_path / "bare" / "out" / "sites" / "s01").iterdir()) \
        == ["config.toml", "result.nc", "summary.json"]


@pytest.mark.parametrize("sig, status", [("SIGKILL", -9), ("SIGTERM", 143)])
def test_killed_cli_run_resumes_to_the_same_merged_file(tmp_path, sig, status):
    import re
    import signal
    config = toy_batch(tmp_path)
    run_batch(config, tmp_path / "whole", progress=False)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "pdaframe.cli", "run", str(config), "-o",
                             str(out)], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True)
    for line in proc.stderr:                     # kill it after its third site
        if "(3/10," in line:
            proc.send_signal(getattr(signal, sig))
            break
    assert proc.wait(timeout=120) == status
    proc.stderr.close()
    sites = out / "sites"
    done = [p.name for p in sites.iterdir() if not p.name.startswith(".")]
    assert 3 <= len(done) < 10
    assert all((sites / s / "summary.json").is_file() for s in done)   # no half site counts
    if sig == "SIGTERM":                         # cleaned up on the way out
        assert not [p for p in sites.iterdir() if p.name.startswith(".")]
        assert not list((out / ".locks").iterdir())
    rerun = subprocess.run([sys.executable, "-m", "pdaframe.cli", "run", str(config), "-o",
                            str(out), "-q"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    if sig == "SIGKILL":                         # its lock file stayed behind
        assert "taking over the stale batch lock" in rerun.stderr
    m = re.search(r"(\d+) already done, (\d+) ran, 0 failed", rerun.stdout)
    assert m and int(m.group(1)) == len(done) and int(m.group(2)) == 10 - len(done)
    assert (out / "batch.nc").read_bytes() == (tmp_path / "whole" / "batch.nc").read_bytes()
    assert not [p for p in sites.iterdir() if p.name.startswith(".")]
