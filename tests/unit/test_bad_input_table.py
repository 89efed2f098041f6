"""The bad-input table: every malformed input, its error class and the words its message needs.

Each row is ``case(id, make, error, *words)``. ``make(tmp_path)`` builds the input and
returns either

- a config path: then ``pdaframe.load_config``, ``pdaframe check`` and ``pdaframe run`` must
  each stop with ``error`` (``check``/``run``: exit status 2, one paragraph on stderr, no
  traceback) whose message contains every word, found before the (linear) model ever runs,
  and no result file is left behind; or
- a callable: calling it must raise ``error`` whose message contains every word.

``edit(...)`` makes the LG2 config (tests/data/lg2.toml) with text replacements and an
optional observation file; add rows to the section of the table that fits.
"""
import json
import shutil
import sys
from pathlib import Path

import pytest

import numpy as np

import pdaframe
from pdaframe import cli
from pdaframe.errors import ConfigError, DataError  # noqa: F401  (used by rows)
from pdaframe.plugin import load_parameter_table

DATA = Path(__file__).parents[1] / "data"
LG2 = (DATA / "lg2.toml").read_text()


def edit(*pairs, obs=None, obs_bytes=None, config=None):
    """A maker of the LG2 config with each ``(old, new)`` text replaced once.

    ``obs``/``obs_bytes`` replace the observation file's text/bytes; ``config`` replaces
    the whole config text (before the replacements).
    """
    def make(tmp_path):
        shutil.copy(DATA / "lg2_obs.csv", tmp_path)
        text = LG2 if config is None else config
        for old, new in pairs:
            assert old in text, f"table row edits text not in the config: {old!r}"
            text = text.replace(old, new, 1)
        path = tmp_path / "c.toml"
        path.write_text(text)
        if obs is not None:
            (tmp_path / "lg2_obs.csv").write_text(obs)
        if obs_bytes is not None:
            (tmp_path / "lg2_obs.csv").write_bytes(obs_bytes)
        return path
    return make


def case(id, make, error, *words):
    return pytest.param(make, error, words, id=id)


OBS = (DATA / "lg2_obs.csv").read_text()
METHOD = ('name = "lbfgsb"', 'name = "lbfgsb"')       # ([method] name line, unchanged)
BOUNDED = [('a = { mean = 1.0, std = 1.0 }', 'a = { mean = 1.0, std = 1.0, lower = -5.0, '
                                              'upper = 5.0 }'),
           ('b = { mean = 2.0, std = 2.0 }', 'b = { mean = 2.0, std = 2.0, lower = -5.0, '
                                              'upper = 5.0 }')]


def method(name, options, *more):
    """A maker of LG2 with ``[method] name`` and ``options`` (TOML inline-table text)."""
    return edit(('name = "lbfgsb"', f'name = "{name}"\noptions = {{ {options} }}'), *more)


def twin(*more):
    """A maker of LG2 as a twin (``[twin] truth``) with further replacements."""
    return edit(("[method]", "[twin]\ntruth = { a = 1.5 }\nseed = 4\n\n[method]"), *more)


def api(func, *args, **kwargs):
    """A maker of a Python call (a row of the "Python API" section)."""
    return lambda tmp_path: lambda: func(*args, **kwargs)


def external_model(table, suffix=".csv", **options):
    """A maker of an external-model config whose ``parameters_file`` (``p.csv``/``p.toml``)
    holds ``table`` (``None``: no file written)."""
    def make(tmp_path):
        if table is not None:
            (tmp_path / f"p{suffix}").write_text(table)
        opts = {"command": [sys.executable, "-c", "pass"], "parameters_file": f"p{suffix}",
                "outputs": ["y"], **options}
        inline = ", ".join(f"{k} = {json.dumps(v)}" for k, v in opts.items())
        path = tmp_path / "c.toml"
        path.write_text(f'[model]\nname = "external"\noptions = {{ {inline} }}\n\n'
                        f'[[streams]]\nname = "y"\nvariable = "y"\n'
                        f'times = {{ start = 0, stop = 3, step = 1 }}\nstd = 0.5\n\n'
                        f'[twin]\ntruth = {{ a = 1.0 }}\n\n[method]\nname = "nelder-mead"\n')
        return path
    return make


TABLE_HEADER = "name,default,lower,upper,std,units,description\n"
TABLE_ROW = "a,1.0,0.0,5.0,1.0,1,first\n"
TOML_ROW = ('[[parameters]]\nname = "a"\ndefault = 1.0\nlower = 0.0\nupper = 5.0\nstd = 1.0\n'
            'units = "1"\n\n')


def lg2_problem():
    return pdaframe.load_config(DATA / "lg2.toml").problem


CASES = [
    # --- prior and parameters ---------------------------------------------------------
    case("prior-std-negative", edit(("std = 2.0", "std = -1.0")),
         ConfigError, "[parameters.b]", "'std' must be positive", "-1.0"),
    case("prior-std-zero-with-correlation", edit(("std = 2.0", "std = 0.0")),
         ConfigError, "[parameters.b]", "'std' must be positive", "0.0"),
    case("prior-std-inf", edit(("std = 2.0", "std = inf")),
         ConfigError, "[parameters.b]", "'std' must be a finite number", "inf"),
    case("prior-mean-nan", edit(("mean = 2.0", "mean = nan")),
         ConfigError, "[parameters.b]", "'mean' must be a finite number", "nan"),
    case("prior-lower-nan", edit(("b = { mean = 2.0, std = 2.0 }",
                                  "b = { mean = 2.0, std = 2.0, lower = nan }")),
         ConfigError, "[parameters.b]", "'lower' must be a finite number", "nan"),
    case("model-linear-matrix-ragged", edit(("[2.0, 0.0]]", "[2.0]]")),
         ConfigError, "[model]", "linear model", "rows of equal length", "[2, 2, 1]"),
    # --- data files and streams -------------------------------------------------------
    case("data-missing-column", edit(obs="time,value\n0,1.0\n"),
         DataError, "lg2_obs.csv", "missing column", "sigma"),
    case("data-duplicate-time-conflicting-value",
         edit(obs=OBS + "1,0.7,0.7071067811865476\n"),
         DataError, "lg2_obs.csv", "time 1 appears twice", "line 4", "line 7", "-0.5", "0.7"),
    case("data-duplicate-time-conflicting-value-one-std",
         edit(('value_column = "value"\nstd_column = "sigma"', 'value_column = "value"\nstd = 0.5'),
              obs=OBS + "1,0.7,0.7071067811865476\n"),
         DataError, "lg2_obs.csv", "time 1 appears twice", "line 4", "line 7", "-0.5", "0.7"),
    case("data-duplicate-time-conflicting-std",
         edit(obs=OBS + "2,2.2,0.5\n"),
         DataError, "lg2_obs.csv", "time 2 appears twice", "line 5", "line 7", "std 0.5"),
    case("data-inf-value", edit(obs=OBS.replace("2,2.2,", "2,inf,")),
         DataError, "lg2_obs.csv", "line 5", "'value'", "infinite value 'inf'"),
    case("data-minus-inf-std", edit(obs=OBS.replace("2,2.2,0.7071067811865476", "2,2.2,-Inf")),
         DataError, "lg2_obs.csv", "line 5", "'sigma'", "infinite value '-Inf'"),
    case("data-utf16", edit(obs_bytes=OBS.encode("utf-16")),
         DataError, "lg2_obs.csv", "not UTF-8", "must be UTF-8"),
    case("data-latin1", edit(obs_bytes=("# Station Köln\n" + OBS).encode("latin-1")),
         DataError, "lg2_obs.csv", "not UTF-8", "b'\\xf6'", "must be UTF-8"),
    case("data-field-over-128KiB", edit(obs=OBS + "3," + "9" * 140_000 + ",0.7\n"),
         DataError, "lg2_obs.csv", "line 7", "field larger than field limit", "131072"),
    case("data-path-is-directory", edit(('file = "lg2_obs.csv"', 'file = "."')),
         DataError, "is a directory", "CSV data file"),
    case("twin-variable-not-a-model-output",
         edit(('variable = "y"\nfile = "lg2_obs.csv"\nvalue_column = "value"\n'
               'std_column = "sigma"\nfill_value = -9999.0',
               'variable = "nope"\ntimes = { start = 0, stop = 3, step = 1 }\nstd = 0.5\n\n'
               '[twin]\ntruth = { a = 1.2, b = 1.9 }')),
         ConfigError, "c.toml", "[streams]", "stream 'y'", "variable 'nope'", "['nope']",
         "outputs are ['y']"),
    # --- method options and seeds -----------------------------------------------------
    case("seed-negative", edit(("seed = 3", "seed = -1")),
         ConfigError, "[top level]", "'seed' = -1", "at least 0"),
    case("seed-over-64-bit", edit(("seed = 3", f"seed = {2 ** 70}")),
         ConfigError, "[top level]", f"'seed' = {2 ** 70}", "2**63"),
    case("twin-seed-negative", twin(("seed = 4", "seed = -1")),
         ConfigError, "[twin]", "'seed' = -1", "at least 0"),
    case("method-seed-negative", method("es-mda", "seed = -1"),
         ConfigError, "[method]", "'es-mda'", "'seed' = -1", "at least 0"),
    case("maxiter-string", method("lbfgsb", 'maxiter = "many"'),
         ConfigError, "[method]", "'lbfgsb'", "'maxiter'", "whole number", "'many'"),
    case("maxiter-zero", method("lbfgsb-fd", "maxiter = 0"),
         ConfigError, "[method]", "'lbfgsb-fd'", "'maxiter' = 0", "at least 1"),
    case("bool-option-number", method("lbfgsb", "posterior = 1"),
         ConfigError, "[method]", "'lbfgsb'", "'posterior'", "true or false", "1"),
    case("float-option-string", method("nelder-mead", 'xatol = "small"'),
         ConfigError, "[method]", "'nelder-mead'", "'xatol'", "finite number", "'small'"),
    case("de-popsize-zero", method("de", "popsize = 0", *BOUNDED),
         ConfigError, "[method]", "'de'", "'popsize' = 0", "at least 1"),
    case("ga-pop-size-one", method("ga", "pop_size = 1", *BOUNDED),
         ConfigError, "[method]", "'ga'", "'pop_size' = 1", "at least 2"),
    case("n-members-fractional", method("es-mda", "n_members = 2.5"),
         ConfigError, "[method]", "'es-mda'", "'n_members'", "whole number", "2.5"),
    case("4denvar-n-members-zero", method("4denvar", "n_members = 0"),
         ConfigError, "[method]", "'4denvar'", "'n_members' = 0", "at least 2"),
    case("enkf-n-cycles-negative", method("enkf", "n_cycles = -3"),
         ConfigError, "[method]", "'enkf'", "'n_cycles' = -3", "at least 1"),
    case("mcmc-n-samples-fractional", method("adaptive-metropolis", "n_samples = 10.5"),
         ConfigError, "[method]", "'adaptive-metropolis'", "'n_samples'", "whole number"),
    case("method-unknown", edit(('name = "lbfgsb"', 'name = "bfgs"')),
         ConfigError, "[method]", "unknown method 'bfgs'", "available:", "lbfgsb, lbfgsb-fd"),
    case("method-option-misspelt", method("4denvar", "outer_loop = 2"),
         ConfigError, "[method]", "'4denvar'", "unknown option(s) ['outer_loop']",
         "valid options:", "outer_loops"),
    case("method-option-mistyped", method("es-mda", 'n_members = "many"'),
         ConfigError, "[method]", "'es-mda'", "'n_members'", "whole number", "'many'"),
    case("method-seed-fractional", method("de", "seed = 1.5", *BOUNDED),
         ConfigError, "[method]", "'de'", "'seed'", "whole number", "1.5"),
    case("method-seed-string", method("glue", 'seed = "7"'),
         ConfigError, "[method]", "'glue'", "'seed'", "whole number", "'7'"),
    case("method-x0-not-used", edit(('name = "lbfgsb"', 'name = "es-mda"\nx0 = { a = 1.5 }')),
         ConfigError, "[method]", "'es-mda'", "does not use x0"),
    case("method-option-is-an-argument", method("stepwise", 'checkpoint = "cp.npz"'),
         ConfigError, "[method]", "'stepwise'", "['checkpoint'] cannot be options",
         "checkpoint_every", "--resume"),
    # --- output folder and names ------------------------------------------------------
    case("output-under-a-file", edit(('directory = "out"', 'directory = "lg2_obs.csv/out"')),
         pdaframe.errors.OutputError, "c.toml", "[output]", "'directory'",
         "lg2_obs.csv is a file, so no folder can be made below it"),
    case("output-is-a-file", edit(('directory = "out"', 'directory = "lg2_obs.csv"')),
         pdaframe.errors.OutputError, "c.toml", "[output]", "is a file, not a folder"),
    case("output-not-writable", edit(('directory = "out"', 'directory = "/sys/pdaframe"')),
         pdaframe.errors.OutputError, "[output]", "/sys/pdaframe", "cannot create files in /sys"),
    case("output-hide-names-nothing",
         edit(('directory = "out"', 'directory = "out"\nhide = ["model.options.token"]')),
         ConfigError, "c.toml", "[output]", "'hide'", "model.options.token"),
    case("stream-name-netcdf-group", edit(('name = "y"', 'name = "nee/day"')),
         ConfigError, "c.toml", "[streams.0]", "'nee/day'", "NetCDF", "illegal characters"),
    # --- sizes ------------------------------------------------------------------------
    case("n-members-above-configured-limit",
         method("es-mda", "n_members = 1000000", ("[output]", "[output]\nmax_memory_gb = 1.0")),
         ConfigError, "[method]", "n_members = 1000000", "GB", "limit of 1 GB",
         "[output] max_memory_gb"),
    case("n-members-above-default-limit", method("importance", f"n_members = {10 ** 9}"),
         ConfigError, "[method]", f"n_members = {10 ** 9}", "[output] max_memory_gb"),
    case("de-popsize-above-limit", method("de", f"popsize = {10 ** 9}", *BOUNDED),
         ConfigError, "[method]", f"popsize = {10 ** 9}", "[output] max_memory_gb"),
    case("times-range-above-default-limit",
         twin(('file = "lg2_obs.csv"', "times = { start = 0, stop = 100000000, step = 1 }"),
              ('value_column = "value"\nstd_column = "sigma"', "std = 0.5")),
         ConfigError, "[streams.0] [y]", "'times'", "100000000 observations", "GB",
         "[output] max_memory_gb"),
    case("max-memory-not-positive", edit(("[output]", "[output]\nmax_memory_gb = 0")),
         ConfigError, "[output]", "'max_memory_gb' must be a positive number", "0"),
    # --- checkpoints ------------------------------------------------------------------
    # (``pdaframe run --resume`` on a spoilt checkpoint: tests/unit/test_checkpoint.py)
    case("checkpoint-old-pickle", lambda p: spoilt_checkpoint(p, "pickle"), ConfigError,
         "checkpoint.pkl", "pickle", "not loaded", "delete the file or run without --resume"),
    case("checkpoint-truncated", lambda p: spoilt_checkpoint(p, "truncated"), ConfigError,
         "checkpoint.npz", "damaged or truncated", "delete the file or run without --resume"),
    case("checkpoint-garbage", lambda p: spoilt_checkpoint(p, "garbage"), ConfigError,
         "checkpoint.npz", "not a pdaframe checkpoint", "--resume"),
    case("checkpoint-folder", lambda p: spoilt_checkpoint(p, "folder"), ConfigError,
         "checkpoint.npz", "is a folder", "--resume"),
    case("checkpoint-foreign-npz", lambda p: spoilt_checkpoint(p, "foreign-npz"),
         ConfigError, "checkpoint.npz", "not a pdaframe checkpoint", "no header", "--resume"),
    case("checkpoint-header-json", lambda p: spoilt_checkpoint(p, "header-json"),
         ConfigError, "checkpoint.npz", "damaged", "JSONDecodeError", "--resume"),
    case("checkpoint-state-json", lambda p: spoilt_checkpoint(p, "state-json"),
         ConfigError, "checkpoint.npz", "damaged", "JSONDecodeError", "--resume"),
    case("checkpoint-version", lambda p: spoilt_checkpoint(p, "version"), ConfigError,
         "checkpoint.npz", "format version 99", "reads version 2", "--resume"),
    case("checkpoint-class-not-allowed", lambda p: spoilt_checkpoint(p, "class-not-allowed"),
         ConfigError, "checkpoint.npz", "'subprocess:Popen'", "not allowed", "--resume"),
    case("checkpoint-unknown-entry", lambda p: spoilt_checkpoint(p, "unknown-entry"),
         ConfigError, "checkpoint.npz", "unknown entry type 'eval'", "--resume"),
    case("checkpoint-object-array", lambda p: spoilt_checkpoint(p, "object-array"),
         ConfigError, "checkpoint.npz", "allow_pickle=False", "--resume"),
    case("checkpoint-another-config", lambda p: spoilt_checkpoint(p, "none",
                                                                  config_hash="other"),
         ConfigError, "checkpoint.npz", "another config", "--resume"),
    # --- parameter tables (an external model's parameters_file) ----------------------
    case("parameter-table-default-outside-bounds",
         external_model(TABLE_HEADER + TABLE_ROW + "b,9.0,0.0,5.0,1.0,mm,second\n"),
         ConfigError, "c.toml", "[model]", "parameters_file", "p.csv, line 3 (parameter 'b'), "
         "column 'default'", "9.0 is outside its bounds [0.0, 5.0]", "lower <= default <= upper"),
    case("parameter-table-duplicate-name", external_model(TOML_ROW * 2, ".toml"),
         ConfigError, "c.toml", "[model]", "p.toml, [[parameters]] 2, line 9",
         "parameter 'a' is listed twice (first at [[parameters]] 1, line 1)", "distinct"),
    case("parameter-table-missing-column",
         external_model("name,default,lower,upper,units\na,1.0,0.0,5.0,1\n"),
         ConfigError, "c.toml", "[model]", "p.csv, header line 1", "missing column(s) ['std']",
         "expected the columns ['name', 'default', 'lower', 'upper', 'std', 'units', "
         "'description']"),
    case("parameter-table-not-found", external_model(None, ".toml"),
         ConfigError, "c.toml", "[model]", "parameter table not found", "p.toml"),
    case("parameters-file-and-parameter-names",
         external_model(TABLE_HEADER + TABLE_ROW, parameter_names=["a"]),
         ConfigError, "c.toml", "[model]", "give parameter_names or parameters_file", "not both"),
    case("api-parameter-table-std-zero", lambda tmp_path: lambda: load_parameter_table(
             external_model(TABLE_HEADER + "a,1.0,0.0,5.0,0.0,1,\n")(tmp_path).with_name("p.csv")),
         ConfigError, "p.csv, line 2 (parameter 'a'), column 'std'", "positive finite number",
         "got 0.0"),
    # --- Python API -------------------------------------------------------------------
    case("api-linear-model-ragged", api(pdaframe.LinearModel, [[1.0, 2.0], [1.0]]),
         ConfigError, "linear model", "rows of equal length", "[2, 1]"),
    case("api-gaussian-prior-negative-std",
         api(pdaframe.GaussianPrior, [0.0, 1.0], std=[1.0, -1.0], names=["a", "b"]),
         ConfigError, "parameter 'b'", "prior std must be positive", "-1.0"),
    case("api-data-stream-inf", api(pdaframe.DataStream, "y", "y", [1.0, np.inf], std=1.0),
         DataError, "stream 'y'", "value 1 is inf", "not a missing value"),
    case("api-de-popsize-zero",
         lambda tmp_path: lambda: pdaframe.minimise(lg2_problem(), "de", popsize=0),
         ConfigError, "method 'de'", "'popsize' = 0", "at least 1"),
    case("api-x0-wrong-length", lambda tmp_path: lambda: pdaframe.minimise(
             lg2_problem(), "lbfgsb", x0=[1.0, 2.0, 3.0]),
         ConfigError, "method 'lbfgsb'", "x0", "one value per parameter (2)", "(3,)"),
    case("api-x0-not-used", lambda tmp_path: lambda: pdaframe.minimise(
             lg2_problem(), "importance", x0=[1.0, 2.0]),
         ConfigError, "method 'importance'", "does not use x0"),
    case("api-checkpoint-not-supported", lambda tmp_path: lambda: pdaframe.minimise(
             lg2_problem(), "sobol", checkpoint=tmp_path / "cp.npz"),
         ConfigError, "method 'sobol'", "cannot checkpoint", "without one"),
    case("api-option-misspelt", lambda tmp_path: lambda: pdaframe.minimise(
             lg2_problem(), "enkf", n_member=10),
         ConfigError, "method 'enkf'", "unknown option(s) ['n_member']", "n_members"),
    case("api-option-mistyped", lambda tmp_path: lambda: pdaframe.minimise(
             lg2_problem(), "nelder-mead", adaptive="yes"),
         ConfigError, "method 'nelder-mead'", "'adaptive'", "true or false", "'yes'"),
    case("api-seed-not-integer", lambda tmp_path: lambda: pdaframe.minimise(
             lg2_problem(), "es-mda", seed=2.5),
         ConfigError, "method 'es-mda'", "'seed'", "whole number", "2.5"),
    case("api-unknown-method", lambda tmp_path: lambda: pdaframe.minimise(
             lg2_problem(), "bfgs"),
         ConfigError, "unknown method 'bfgs'", "available:", "nelder-mead"),
    case("api-n-members-fractional",
         lambda tmp_path: lambda: pdaframe.minimise(lg2_problem(), "4denvar", n_members=2.5),
         ConfigError, "method '4denvar'", "'n_members'", "whole number", "2.5"),
    case("twin-variable-of-a-model-declaring-no-outputs", lambda tmp_path: lambda:
         pdaframe.synthetic_streams(
             type("Undeclared", (), {"parameter_names": ("a",),
                                     "run": lambda self, th: {"y": th * [1.0, 2.0]}})(),
             [1.0], [pdaframe.DataStream("obs", "nope", [0.0, 0.0], std=1.0)], seed=1),
         ConfigError, "stream 'obs'", "variable 'nope'", "outputs are ['y']"),
]


def _check_words(message, error, words):
    missing = [w for w in words if w not in message]
    assert not missing, f"{error.__name__} message lacks {missing}: {message}"


@pytest.mark.parametrize("make, error, words", CASES)
def test_bad_input(make, error, words, tmp_path, capsys, monkeypatch):
    made = make(tmp_path)
    if callable(made):
        with pytest.raises(error) as info:
            made()
        _check_words(str(info.value), error, words)
        return
    def no_model_run(self, theta):
        raise AssertionError("the model ran before the bad input was found")
    monkeypatch.setattr(pdaframe.LinearModel, "run", no_model_run)
    with pytest.raises(error) as info:
        pdaframe.load_config(made)
    _check_words(str(info.value), error, words)
    for argv in (["check", str(made)], ["run", str(made), "-q"]):
        capsys.readouterr()
        status = cli.main(argv)
        err = capsys.readouterr().err
        assert status == 2, f"pdaframe {argv[0]} exited {status}: {err}"
        assert f"error ({error.__name__})" in err and "Traceback" not in err, err
        _check_words(err, error, words)
    assert not list(tmp_path.rglob("result.nc"))


# Not table rows: these check more than the error (memory used, a warning and the data kept).

@pytest.mark.parametrize("make", [
    twin(('file = "lg2_obs.csv"', "times = { start = 0, stop = 100000000, step = 1 }"),
         ('value_column = "value"\nstd_column = "sigma"', "std = 0.5")),
    method("es-mda", "n_members = 1000000", ("[output]", "[output]\nmax_memory_gb = 1.0")),
], ids=["times-range", "n-members"])
def test_size_refusal_is_immediate(make, tmp_path):
    """The size guard refuses before allocating: load_config peaks below 20 MB (the
    10**8 'times' range used 4.1 GB before it was rejected)."""
    import tracemalloc
    path = make(tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"needs about [\d.]+ GB of memory, above the "
                                              r"limit .* raise the limit with \[output\] "
                                              r"max_memory_gb"):
            pdaframe.load_config(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"peak {peak / 1e6:.1f} MB"


def test_exact_duplicate_row_is_used_once_with_a_warning(tmp_path):
    path = edit(obs=OBS + "2,2.2,0.7071067811865476\n")(tmp_path)
    with pytest.warns(UserWarning, match=r"lg2_obs.csv: line 7 repeats line 5 \(time 2"):
        problem, _ = pdaframe.load_config(path)
    (stream,) = problem.streams
    assert stream.times.tolist() == [0, 1, 2, 1]          # the repeat left out
    assert stream.n_valid == 3 and stream.n_missing == 1  # the fill value at time 1
    reference = pdaframe.load_config(DATA / "lg2.toml").problem
    assert problem.cost(np.array([1.0, 2.0])) == reference.cost(np.array([1.0, 2.0]))


def spoilt_checkpoint(tmp_path, how, **resume):
    """Rows of the "checkpoints" section (`tests.unit.test_checkpoint.spoilt_checkpoint`)."""
    from tests.unit.test_checkpoint import spoilt_checkpoint as spoilt
    return spoilt(tmp_path, how, **resume)
