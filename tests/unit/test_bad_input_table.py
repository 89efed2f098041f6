"""The bad-input table: every malformed input, its error class and the words its message needs.

Each row is ``case(id, make, error, *words)``. ``make(tmp_path)`` builds the input and
returns either

- a config path: then ``pdaframe.load_config``, ``pdaframe check`` and ``pdaframe run`` must
  each stop with ``error`` (``check``/``run``: exit status 2, one paragraph on stderr, no
  traceback) whose message contains every word, and ``run`` must not have run the model nor
  left a result file behind; or
- a callable: calling it must raise ``error`` whose message contains every word.

``edit(...)`` makes the LG2 config (tests/data/lg2.toml) with text replacements and an
optional observation file; add rows to the section of the table that fits.
"""
import shutil
from pathlib import Path

import pytest

import pdaframe
from pdaframe import cli
from pdaframe.errors import ConfigError, DataError  # noqa: F401  (used by rows)

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


CASES = [
    # --- prior and parameters ---------------------------------------------------------
    # --- data files and streams -------------------------------------------------------
    case("data-missing-column", edit(obs="time,value\n0,1.0\n"),
         DataError, "lg2_obs.csv", "missing column", "sigma"),
    # --- method options and seeds -----------------------------------------------------
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
    case("seed-beyond-int64", edit(("seed = 3", "seed = 1180591620717411303424")),
         ConfigError, "c.toml", "'seed' = 1180591620717411303424", "2**63 - 1"),
    # --- sizes ------------------------------------------------------------------------
    # --- checkpoints ------------------------------------------------------------------
    # --- Python API -------------------------------------------------------------------
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
    with pytest.raises(error) as info:
        pdaframe.load_config(made)
    _check_words(str(info.value), error, words)
    out = tmp_path / "run_out"
    for argv in (["check", str(made)], ["run", str(made), "-q", "-o", str(out)]):
        capsys.readouterr()
        status = cli.main(argv)
        err = capsys.readouterr().err
        assert status == 2, f"pdaframe {argv[0]} exited {status}: {err}"
        assert f"error ({error.__name__})" in err and "Traceback" not in err, err
        _check_words(err, error, words)
    assert not (out / "result.nc").exists()
