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
    # --- sizes ------------------------------------------------------------------------
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


def spoilt_checkpoint(tmp_path, how, **resume):
    """Rows of the "checkpoints" section (`tests.unit.test_checkpoint.spoilt_checkpoint`)."""
    from tests.unit.test_checkpoint import spoilt_checkpoint as spoilt
    return spoilt(tmp_path, how, **resume)
