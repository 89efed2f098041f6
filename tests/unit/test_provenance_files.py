"""Provenance of the data (`pdaframe.io.provenance`): every output lists the sha256 of the
config and of every data file it names; the dependency versions cover every distribution
pdaframe imports."""
import ast
import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path

import netCDF4
import numpy as np
import xarray as xr

import pdaframe
from pdaframe.io.provenance import data_files, dependency_versions
from pdaframe.run import run_problem

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "examples" / "toy_twin" / "config.toml"

OBS_CONFIG = """
title = "toy from a file"
[model]
name = "toy-carbon"
options = { n_days = 60 }
[parameters]
estimate = ["eps"]
[[streams]]
name = "nee"
variable = "nee"
file = "data/nee.csv"
time_column = "t"
value_column = "nee"
std = 0.5
[method]
name = "lbfgsb"
options = { maxiter = 20 }
[output]
plots = false
"""


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def with_obs_file(tmp_path):
    (tmp_path / "data").mkdir(exist_ok=True)
    rows = "\n".join(f"{t},{-1.0 + 0.01 * t:.3f}" for t in range(0, 60, 3))
    (tmp_path / "data" / "nee.csv").write_text("t,nee\n" + rows + "\n")
    path = tmp_path / "c.toml"
    path.write_text(OBS_CONFIG)
    return path


def run(config, out):
    problem, settings = pdaframe.load_config(config)
    _, paths = run_problem(problem, settings, output_dir=out, progress=False)
    with xr.open_dataset(paths["netcdf"]) as ds:
        return json.loads(ds.attrs["data_files"])


def test_config_without_data_files_records_its_own_hash_only(tmp_path):
    config = tmp_path / "toy.toml"
    config.write_text(TOY.read_text())
    recorded = run(config, tmp_path / "out")
    assert recorded == {"toy.toml": sha(config)}


def test_stream_file_hash_recorded_and_changes_with_one_byte(tmp_path):
    config = with_obs_file(tmp_path)
    first = run(config, tmp_path / "a")
    csv = tmp_path / "data" / "nee.csv"
    assert first == {"c.toml": sha(config), "data/nee.csv": sha(csv)}
    text = csv.read_bytes()
    i = text.index(b"-0.970")                    # one byte: -0.970 -> -0.971
    csv.write_bytes(text[:i + 5] + b"1" + text[i + 6:])
    second = run(config, tmp_path / "b")
    assert second["c.toml"] == first["c.toml"]
    assert second["data/nee.csv"] == sha(csv) != first["data/nee.csv"]


def test_model_options_and_nested_strings_naming_files_are_hashed(tmp_path):
    (tmp_path / "drivers.csv").write_text("a,b\n1,2\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "params.toml").write_text("x = 1\n")
    data = {"model": {"name": "m", "options": {"drivers_file": "drivers.csv",
                                               "site": "US-Me2", "tables": ["sub/params.toml"],
                                               "nested": {"p": "drivers.csv"}}},
            "output": {"directory": "sub/params.toml"},     # the output table names no input
            "title": "x" * 5000}                          # not a file name (too long)
    config = tmp_path / "c.toml"
    config.write_text("# config\n")
    got = data_files(config, data)
    assert got == {"c.toml": sha(config), "drivers.csv": sha(tmp_path / "drivers.csv"),
                   "sub/params.toml": sha(tmp_path / "sub" / "params.toml")}
    assert list(got)[0] == "c.toml"


def test_every_output_file_of_a_run_carries_the_data_files(tmp_path):
    config = with_obs_file(tmp_path)
    text = config.read_text().replace('name = "lbfgsb"\noptions = { maxiter = 20 }',
                                      'name = "importance"\noptions = { n_members = 16 }')
    config.write_text(text)
    problem, settings = pdaframe.load_config(config)
    _, paths = run_problem(problem, settings, output_dir=tmp_path / "out", progress=False)
    want = {"c.toml": sha(config), "data/nee.csv": sha(tmp_path / "data" / "nee.csv")}
    for key in ("netcdf", "ensemble"):
        with netCDF4.Dataset(paths[key]) as ds:
            assert json.loads(ds.data_files) == want


def test_sensitivity_outputs_and_shortlist_carry_the_data_files(tmp_path):
    config = with_obs_file(tmp_path)
    text = config.read_text().replace('estimate = ["eps"]', "").replace(
        'name = "lbfgsb"\noptions = { maxiter = 20 }',
        'name = "morris"\noptions = { n = 4, qoi = "cost" }')
    config.write_text(text)
    problem, settings = pdaframe.load_config(config)
    _, paths = run_problem(problem, settings, output_dir=tmp_path / "out", progress=False)
    want = {"c.toml": sha(config), "data/nee.csv": sha(tmp_path / "data" / "nee.csv")}
    with netCDF4.Dataset(paths["netcdf"]) as ds:
        assert json.loads(ds.data_files) == want
    shortlist = paths["shortlist"].read_text()
    assert f"# data file data/nee.csv sha256 {want['data/nee.csv']}\n" in shortlist


def test_settings_made_in_python_hash_their_config_file(tmp_path):
    from pdaframe.run import _data_files
    config = with_obs_file(tmp_path)
    _, settings = pdaframe.load_config(config)
    recorded = settings.data_files
    del settings.data_files                                 # as if built by hand
    assert _data_files(settings) == recorded
    settings.path = tmp_path / "gone.toml"
    assert _data_files(settings) == {}


def _imported_modules():
    """Top-level third-party modules imported by pdaframe's and the plugins' sources."""
    roots = [ROOT / "pdaframe"] + sorted(ROOT.glob("plugins/*/pdaframe_*"))
    found = set()
    for root in roots:
        for path in root.rglob("*.py"):
            if "templates" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and
            not m.startswith("pdaframe")}


def test_dependency_versions_cover_every_installed_distribution_pdaframe_imports():
    versions = dependency_versions()
    by_module = metadata.packages_distributions()
    modules = _imported_modules()
    assert {"numpy", "scipy", "netCDF4", "threadpoolctl", "xarray"} <= modules
    missing = {m: by_module[m] for m in modules if m in by_module
               and not any(d in versions for d in by_module[m])}
    assert not missing
    assert versions["threadpoolctl"] == metadata.version("threadpoolctl")   # no requirement
    assert versions["numpy"] == np.__version__


def test_files_named_by_hidden_values_keep_their_hash_not_their_name(tmp_path):
    config = with_obs_file(tmp_path)
    config.write_text(config.read_text().replace("plots = false",
                                                 'plots = false\nhide = ["streams.file"]'))
    problem, settings = pdaframe.load_config(config)
    _, paths = run_problem(problem, settings, output_dir=tmp_path / "out", progress=False)
    assert b"nee.csv" not in paths["netcdf"].read_bytes()
    with netCDF4.Dataset(paths["netcdf"]) as ds:
        recorded = json.loads(ds.data_files)
    assert recorded == {"c.toml": sha(config),
                        "<hidden 1>": sha(tmp_path / "data" / "nee.csv")}


def test_multisite_example_lists_its_sites_drivers_file_and_streams_files():
    config = ROOT / "examples" / "dalec2_multisite" / "config.toml"
    _, settings = pdaframe.load_config(config, run_model=False)
    folder = config.parent
    named = ["US-Me2_warm_synthetic.csv",                          # [[sites]] drivers_file
             "../../plugins/dalec2/pdaframe_dalec2/data/US-Me2/US-Me2_daily.csv",
             "../../plugins/dalec2/pdaframe_dalec2/data/DE-Hai/"
             "de-hai_fluxval_monthly_2001_2016.csv"]
    assert list(settings.data_files)[0] == "config.toml"
    assert sorted(settings.data_files) == sorted(["config.toml"] + named)   # each file once
    for name, digest in settings.data_files.items():
        assert digest == sha(folder / name)


READER_CONFIG = """
[model]
name = "dated"
options = {{ start = "2005-10-01", n = 92 }}
[parameters]
a = {{ mean = 0.0, std = 10.0 }}
b = {{ mean = 0.0, std = 10.0 }}
[[streams]]
name = "nee"
variable = "y"
file = "{file}"
reader = "fluxnet"
reader_options = {{ qc = 0.8125, uncertainty = "model", error_model = {{ relative = 0.2, floor = 0.3 }} }}
[output]
plots = false
"""


def test_a_reader_stream_records_its_file_hash_and_dates(tmp_path, monkeypatch):
    """A FLUXNET-format file read by the fluxnet reader: its sha256 in data_files, its
    observation times as dates, the reader's record kept on <s>_observed."""
    import pdaframe.plugin
    from tests.models import Dated
    dd = ROOT / "tests" / "data" / "fluxnet" / "US-Me2_L4_2005_DD_in_FLUXNET_layout.csv"
    pdaframe.plugin.reset_plugins()
    pdaframe.plugins.registry("model").add("dated", Dated)
    try:
        config = tmp_path / "c.toml"
        config.write_text(READER_CONFIG.format(file=dd))
        problem, settings = pdaframe.load_config(config)
        _, paths = run_problem(problem, settings, output_dir=tmp_path / "out",
                               progress=False)
    finally:
        pdaframe.plugin.reset_plugins()
    (s,) = problem.streams
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert json.loads(ds.attrs["data_files"]) == {"c.toml": sha(config), str(dd): sha(dd)}
        np.testing.assert_array_equal(
            ds.nee_time.values, (np.datetime64("2005-10-01") + s.times).astype("M8[ns]"))
        assert ds.nee_observed.attrs["reader"] == "fluxnet"
