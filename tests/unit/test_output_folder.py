"""The output folder of a run (`pdaframe.io.output`, `pdaframe.io.atomic`): checked and locked
before the first model run, write failures saved elsewhere with a named error, one run id
per run, leftover temporary files removed, the umask honoured and secrets kept out.

Config-level cases (folder under a file, a file as folder, a read-only folder, bad stream
names, huge seeds) are rows of tests/unit/test_bad_input_table.py."""
import errno
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe import cli
from pdaframe.errors import OutputError
from pdaframe.io import atomic, netcdf, output
from pdaframe.run import run_problem

DATA = Path(__file__).parents[1] / "data"
LG2_MEAN = np.array([1.214354067, 2.0066985646])       # tests/conftest.py


def lg2_config(tmp_path, *pairs):
    """tests/data/lg2.toml in ``tmp_path`` with each ``(old, new)`` text replaced."""
    shutil.copy(DATA / "lg2_obs.csv", tmp_path)
    text = (DATA / "lg2.toml").read_text()
    for old, new in pairs:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


@pytest.fixture
def rescue_dir(tmp_path, monkeypatch):
    """$TMPDIR of the test: where failed writes are rescued to."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# -- before the first model run ----------------------------------------------------------

def test_output_option_under_a_file_is_refused_before_the_model_runs(tmp_path):
    problem, settings = pdaframe.load_config(lg2_config(tmp_path))
    with pytest.raises(OutputError, match=r"lg2_obs.csv is a file, so no folder can be made"):
        run_problem(problem, settings, tmp_path / "lg2_obs.csv" / "out", progress=False)
    assert problem.nrun == 0


def test_read_only_output_folder_is_refused_before_the_model_runs(tmp_path, monkeypatch):
    """A read-only filesystem (as root permission bits do not count: the check creates a
    file; here the filesystem refusal is simulated where the probe file is made)."""
    problem, settings = pdaframe.load_config(lg2_config(tmp_path))

    def refuse(folder, name):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    monkeypatch.setattr(output, "temp_file", refuse)
    with pytest.raises(OutputError, match=rf"cannot create files in {tmp_path / 'out2'}: "
                                          rf"Read-only file system"):
        run_problem(problem, settings, tmp_path / "out2", progress=False)
    assert problem.nrun == 0


def test_check_folder_probes_and_leaves_nothing(tmp_path):
    assert output.check_folder(tmp_path / "a" / "b") is None
    assert not (tmp_path / "a").exists() and list(tmp_path.iterdir()) == []
    assert output.check_folder("/sys/pdaframe-out").startswith("cannot create files in /sys")
    assert output.check_folder(tmp_path / "a", create=True) is None
    assert (tmp_path / "a").is_dir() and list((tmp_path / "a").iterdir()) == []


# -- write failures after the run --------------------------------------------------------

def fail_writes(monkeypatch, error, under=None):
    """Make `write_result` fail with ``error`` for files under ``under`` (all if None)."""
    original = netcdf._diagnostics

    def failing(ds, result):
        if under is None or Path(ds.filepath()).is_relative_to(under):
            raise error
        original(ds, result)
    monkeypatch.setattr(netcdf, "_diagnostics", failing)


def rescued_folder(message):
    found = re.search(r"saved in (\S+)", message)
    assert found, message
    return Path(found.group(1))


def test_disk_full_is_a_named_error_and_the_results_are_saved_elsewhere(
        tmp_path, monkeypatch, capsys, rescue_dir):
    out = tmp_path / "out"
    fail_writes(monkeypatch, OSError(errno.ENOSPC, "No space left on device"), under=out)
    status = cli.main(["run", str(lg2_config(tmp_path)), "-q", "-o", str(out)])
    err = capsys.readouterr().err
    assert status == 2 and "Traceback" not in err
    assert f"error (OutputError): disk full while writing {out / 'result.nc'}" in err
    assert "No space left on device" in err and "free on its filesystem" in err
    saved = rescued_folder(err)
    assert saved.parent == rescue_dir
    with xr.open_dataset(saved / "result.nc") as ds:
        np.testing.assert_allclose(ds.analysis.values, LG2_MEAN, rtol=1e-6)
    assert (saved / "streams.png").exists()
    assert not (out / "result.nc").exists() and not list(out.glob(".*.tmp"))


@pytest.mark.parametrize("free, words", [
    (10_000, ["disk full while writing", "RuntimeError: NetCDF: HDF error",
              "9.8 KiB free"]),
    (50 * 2 ** 30, ["write failed while writing", "RuntimeError: NetCDF: HDF error",
                    "50.0 GiB free"])])
def test_hdf_error_says_disk_full_only_when_space_is_short(tmp_path, monkeypatch, rescue_dir,
                                                           free, words):
    out = tmp_path / "out"
    fail_writes(monkeypatch, RuntimeError("NetCDF: HDF error"), under=out)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(atomic.shutil, "disk_usage",
                        lambda path: usage._replace(free=free))
    problem, settings = pdaframe.load_config(lg2_config(tmp_path))
    with pytest.raises(OutputError) as info:
        run_problem(problem, settings, out, progress=False)
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert (rescued_folder(message) / "result.nc").exists()


def test_when_the_rescue_folder_fails_too_the_arrays_go_to_an_npz(tmp_path, monkeypatch,
                                                                   rescue_dir):
    fail_writes(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    problem, settings = pdaframe.load_config(lg2_config(tmp_path))
    with pytest.raises(OutputError, match="disk full while writing") as info:
        run_problem(problem, settings, tmp_path / "out", progress=False)
    path = rescued_folder(str(info.value))
    assert path.name == "result.npz" and "the result's arrays" in str(info.value)
    with np.load(path, allow_pickle=False) as saved:
        np.testing.assert_allclose(saved["x"], LG2_MEAN, rtol=1e-6)
        assert saved["history.cost"][0] == pytest.approx(0.54)


# -- lock, run id, leftovers -------------------------------------------------------------

HOLD = """
import sys
from pdaframe.io.output import claim
with claim(sys.argv[1], "run-of-the-other-process"):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_run_into_a_locked_folder_is_a_named_error(tmp_path):
    out = tmp_path / "out"
    other = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(Path(pdaframe.__file__)
                                                                  .parents[1])})
    try:
        assert other.stdout.readline() == "locked\n"
        problem, settings = pdaframe.load_config(lg2_config(tmp_path))
        with pytest.raises(OutputError) as info:
            run_problem(problem, settings, out, progress=False)
        assert f"output folder {out} is in use by another pdaframe run (pid {other.pid} " \
               f"on host" in str(info.value)
        assert "run id run-of-the-other-process" in str(info.value)
        assert problem.nrun == 0
    finally:
        other.communicate("")
    assert other.returncode == 0
    result, paths = run_problem(problem, settings, out, progress=False)      # released: runs
    assert paths["netcdf"].exists()


def test_a_stale_lock_file_does_not_block(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".pdaframe.lock").write_text("pid 999999 on host gone, started 2020-01-01\n")
    problem, settings = pdaframe.load_config(lg2_config(tmp_path))
    run_problem(problem, settings, out, progress=False)
    assert (out / ".pdaframe.lock").read_text().startswith(f"pid {os.getpid()} on host")


def run_ids(paths):
    ids = {}
    for label, path in paths.items():
        if path.suffix == ".nc":
            with netCDF4.Dataset(path) as ds:
                ids[label] = ds.run_id
    return ids


@pytest.mark.parametrize("method, files", [
    ('name = "importance"\noptions = { n_members = 20 }', {"netcdf", "ensemble"}),
    ('name = "adaptive-metropolis"\noptions = { n_samples = 100, burn_in = 50 }',
     {"netcdf", "samples"}),
    ('name = "morris"\noptions = { n = 4, box_width = 2.0 }', {"netcdf"})])
def test_every_file_of_a_run_has_the_run_id_and_runs_differ(tmp_path, method, files):
    problem, settings = pdaframe.load_config(lg2_config(tmp_path, ('name = "lbfgsb"', method),
                                              ('directory = "out"',
                                               'directory = "out"\nplots = false')))
    _, first = run_problem(problem, settings, progress=False)
    ids = run_ids(first)
    assert set(ids) == files
    assert len(set(ids.values())) == 1 and re.fullmatch(r"[0-9a-f-]{36}", ids["netcdf"])
    if "shortlist" in first:
        assert f"# run id {ids['netcdf']}\n" in first["shortlist"].read_text()
    _, second = run_problem(problem, settings, progress=False)
    assert set(run_ids(second).values()) != set(ids.values())


def test_leftover_temporary_files_of_killed_runs_are_removed(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    ours = [".result.nc.a1b2c3d_.tmp", ".checkpoint.pkl.zz9x0y1w.tmp"]
    theirs = ["notes.tmp", ".draft.tmp", ".result.nc.SHORT.tmp", "result.nc.abcdefgh.tmp"]
    for name in ours + theirs:
        (out / name).write_text("x")
    problem, settings = pdaframe.load_config(lg2_config(tmp_path))
    run_problem(problem, settings, out, progress=False)
    assert {p.name for p in out.iterdir() if p.name.endswith(".tmp")} == set(theirs)


# -- permissions -------------------------------------------------------------------------

@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o027, 0o640)])
def test_files_honour_the_umask(tmp_path, mask, mode):
    problem, settings = pdaframe.load_config(lg2_config(
        tmp_path, ('directory = "out"', 'directory = "out"\ncheckpoint_every = 1')))
    old = os.umask(mask)
    try:
        _, paths = run_problem(problem, settings, progress=False)
        with atomic.atomic_path(tmp_path / "plain.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    for path in (paths["netcdf"], paths["streams_plot"], tmp_path / "out" / "checkpoint.npz",
                 tmp_path / "plain.txt"):
        assert oct(path.stat().st_mode & 0o777) == oct(mode), path


# -- secrets -----------------------------------------------------------------------------

MODEL = """
import json, os
p = json.load(open(os.environ["PDAFRAME_PARAMETERS"]))
assert os.environ["API_KEY"] == "s3cret"
a, b = p["a"], p["b"]
open("out.csv", "w").write("y\\n%r\\n%r\\n%r\\n" % (a + b, a - b, 2 * a))
"""


def test_env_values_stay_out_of_the_results(tmp_path):
    (tmp_path / "case").mkdir()
    (tmp_path / "case" / "model.py").write_text(MODEL)
    model = (f'name = "external"\noptions = {{ command = ["{sys.executable}", "model.py"], '
             f'template_dir = "case", workdir = "runs", parameter_names = ["a", "b"], '
             f'outputs = ["y"], output_csv = "out.csv", env = {{ API_KEY = "s3cret" }} }}')
    path = lg2_config(tmp_path, ('name = "linear"\noptions = { matrix = [[1.0, 1.0], '
                                 '[1.0, -1.0], [2.0, 0.0]], names = ["a", "b"] }', model),
                      ('name = "lbfgsb"', 'name = "nelder-mead"\noptions = { maxiter = 4 }'),
                      ('directory = "out"', 'directory = "out"\nplots = false'))
    _, paths = run_problem(*pdaframe.load_config(path), progress=False)
    assert b"s3cret" not in paths["netcdf"].read_bytes()
    with xr.open_dataset(paths["netcdf"]) as ds:
        config = ds.attrs["config"]
    assert "s3cret" not in config and 'API_KEY = "<hidden>"' in config
    parsed = tomllib.loads(config)                      # still a valid TOML config
    assert parsed["model"]["options"]["env"] == {"API_KEY": "<hidden>"}
    assert parsed["model"]["options"]["workdir"] == "runs"
    assert parsed["parameters"] == {"a": {"mean": 1.0, "std": 1.0},
                                    "b": {"mean": 2.0, "std": 2.0}}


def test_values_listed_in_output_hide_stay_out_of_the_results(tmp_path):
    path = lg2_config(tmp_path, ('directory = "out"', 'directory = "out"\nplots = false\n'
                                 'hide = ["streams.file", "model.options.names"]'))
    _, paths = run_problem(*pdaframe.load_config(path), progress=False)
    assert b"lg2_obs.csv" not in paths["netcdf"].read_bytes()
    with netCDF4.Dataset(paths["netcdf"]) as ds:
        parsed = tomllib.loads(ds.config)
    assert parsed["streams"][0]["file"] == "<hidden>"
    assert parsed["model"]["options"] == {"matrix": [[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]],
                                          "names": "<hidden>"}
    assert parsed["output"]["hide"] == ["streams.file", "model.options.names"]


def test_config_without_secrets_is_copied_verbatim(tmp_path):
    path = lg2_config(tmp_path)
    _, paths = run_problem(*pdaframe.load_config(path), progress=False)
    with netCDF4.Dataset(paths["netcdf"]) as ds:
        assert ds.config == path.read_text()


def test_output_option_replaces_an_unusable_config_directory(tmp_path):
    """``run -o`` (and ``check -o``) check and use the given folder, not the config's: a
    config whose [output] directory cannot be written still runs elsewhere."""
    from pdaframe import cli
    for f in ("lg2.toml", "lg2_obs.csv"):
        shutil.copy(DATA / f, tmp_path)
    config = tmp_path / "lg2.toml"
    config.write_text(config.read_text().replace('directory = "out"',
                                                 'directory = "lg2_obs.csv/out"'))
    with pytest.raises(pdaframe.OutputError, match="'directory'"):
        pdaframe.load_config(config)
    assert cli.main(["check", str(config), "-o", str(tmp_path / "elsewhere")]) == 0
    assert cli.main(["run", str(config), "-q", "-o", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "result.nc").exists()


def test_a_probe_removed_by_a_concurrent_claim_still_counts_as_writable(tmp_path, monkeypatch):
    """Under mpiexec, rank 0 claims the folder (removing leftover temp files) while another
    rank probes it: a probe file that vanished was still created, so the folder is fine
    (it was 'cannot create files in ...: No such file or directory')."""
    made = atomic.temp_file

    def made_then_removed(folder, name):
        path = made(folder, name)
        output.remove_leftovers(folder)
        return path
    monkeypatch.setattr(output, "temp_file", made_then_removed)
    assert output.check_folder(tmp_path) is None
