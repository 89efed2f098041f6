"""The checkpoint file format (`pdaframe.io.checkpoint`): every kind of value a state holds comes
back exactly; loading never runs code named in the file (a pickle, a class or function name,
an object array); the config guard hashes the parsed settings, not the text.

The corrupt-file cases that are one call each are rows of tests/unit/test_bad_input_table.py
(section "checkpoints"); here are the cases that need more than a raised error (a marker
file that must stay absent, ``pdaframe run --resume`` on the command line)."""
from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

import pdaframe
from pdaframe.io import checkpoint as ckpt
from pdaframe import cli
from pdaframe.errors import ConfigError
from pdaframe.result import Result
from tests.unit.test_bad_input_table import edit


class _Touch:
    """Unpickling it creates ``path`` (what a malicious pickle could do, harmlessly)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@ckpt.register
class Bag:
    """A registered class: any fields."""

    name, iteration = "bag", 0


@ckpt.register
def registered_func(x):
    return 2 * x


def _problem():
    model = pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
    prior = pdaframe.GaussianPrior([1.0, 2.0], [1.0, 2.0])
    return pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", [2.0, 0.0, 2.0],
                                                               std=0.1)])


def _same(a, b):
    """Equal values, types, dtypes, array layouts and bits (NaN signs included)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.flags.f_contiguous and not a.flags.c_contiguous:
            assert b.flags.f_contiguous, "memory order"
        assert a.tobytes(order="A") == b.tobytes(order="A")
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    elif isinstance(a, float):
        assert np.float64(a).tobytes() == np.float64(b).tobytes()
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    else:
        assert a == b


def _roundtrip(tmp_path, bag, problem=None, **kw):
    path = tmp_path / "checkpoint.npz"
    ckpt.save(bag, ckpt.Checkpoint(path, **kw))
    fresh = Bag()
    fresh.problem = problem
    assert ckpt.load_into(fresh, ckpt.Checkpoint(path, resume=True, **kw))
    return fresh


def test_every_kind_of_value_comes_back_exactly(tmp_path):
    problem = _problem()
    bag = Bag()
    shared = [1, 2]
    bag.problem, bag.space, bag.cost = problem, problem.streams, problem.cost
    bag.numbers = [0, -3, 2 ** 70, 0.1, -0.0, np.inf, -np.inf, float("nan"),
                   -float("nan"), True, None, "text", 1 + 2j, b"\x00\xff"]
    bag.scalars = [np.float64(0.1), np.float32(1 / 3), np.int64(-5), np.uint32(7),
                   np.bool_(True), np.float64("nan"), np.complex128(1 - 1j),
                   np.longdouble(1) / 3, np.float16(0.5)]
    bag.arrays = [np.arange(12.0).reshape(3, 4), np.asfortranarray(np.ones((2, 3))),
                  np.arange(10)[::3], np.zeros((0, 2)), np.array(4.5), np.array([True]),
                  np.array([1, 2], dtype=">i4"), np.array(["ab", "c"]),
                  np.zeros(2, dtype=[("a", "<f8"), ("b", "<i2")])]
    bag.containers = {"t": (1, (2.5,)), "s": {3}, "f": frozenset({4}), 7: "int key",
                      (1, 2): "tuple key", "slice": slice(1, None, 2)}
    bag.shared = (shared, shared)
    bag.cycle = []
    bag.cycle.append(bag.cycle)
    rng = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(1,)))
    rng.normal(size=3)
    bag.rngs = [rng, rng, np.random.RandomState(3), np.random.Generator(np.random.MT19937(2))]
    bag.rngs[2].normal()                     # a cached Gaussian in the legacy state
    res = Result(x=np.ones(2), message="ok")
    object.__setattr__(res, "extra", 3)
    bag.result, bag.func, bag.nested = res, registered_func, Bag()
    bag.nested.parent = bag

    got = _roundtrip(tmp_path, bag, problem)
    for key in ("numbers", "scalars", "arrays"):
        _same(getattr(bag, key), getattr(got, key))
    assert got.containers == bag.containers and list(got.containers) == list(bag.containers)
    assert got.shared[0] is got.shared[1] and got.shared[0] == [1, 2]
    assert got.cycle[0] is got.cycle
    assert got.problem is problem and got.space is problem.streams
    assert got.cost == problem.cost and got.cost.__self__ is problem
    assert got.rngs[0] is got.rngs[1] and got.rngs[0] is not rng
    assert got.rngs[0].bit_generator.seed_seq.spawn_key == (1,)
    for mine, theirs in zip(bag.rngs[1:], got.rngs[1:]):
        draw = "normal" if isinstance(mine, np.random.RandomState) else "standard_normal"
        _same(getattr(mine, draw)(size=4), getattr(theirs, draw)(size=4))
    assert type(got.result) is Result and got.result["message"] == "ok"
    assert vars(got.result) == {"extra": 3}
    _same(got.result["x"], np.ones(2))
    assert got.func is registered_func
    # a cycle back to the state itself ends at the loaded copy whose fields ``got`` took over
    assert type(got.nested) is Bag and got.nested.parent.nested is got.nested


@pytest.mark.parametrize("value, words", [
    (lambda x: x, "function"),
    (np.array([object()]), "array of Python objects"),
    (io.StringIO(), "_io.StringIO"),
])
def test_values_a_checkpoint_cannot_hold_are_refused_when_saving(value, words):
    bag = Bag()
    bag.value = [value]
    with pytest.raises(ConfigError, match="Bag cannot be checkpointed") as info:
        ckpt.dumps_state(bag)
    assert words in str(info.value) and "Bag.value[0]" in str(info.value)


def _legacy_pickle(path, marker, head):
    """A checkpoint as pdaframe wrote them before (header line + pickle), whose pickle would
    create ``marker``; with the header a real run of ``head`` would accept."""
    path.write_bytes(ckpt.LEGACY_MAGIC + json.dumps(head).encode() + b"\n"
                     + pickle.dumps(_Touch(marker)))


@pytest.mark.parametrize("name", ["checkpoint.pkl", "checkpoint.npz"])
def test_an_old_pickle_checkpoint_is_never_unpickled(tmp_path, name):
    """(a) header + pickle whose ``__reduce__`` creates a marker: the marker stays absent,
    whether the file has the old name (beside no new checkpoint) or the new one."""
    marker = tmp_path / "marker"
    cp = ckpt.Checkpoint(tmp_path / name, resume=True)
    bag = Bag()
    _legacy_pickle(tmp_path / name, marker, ckpt.header(bag, cp))
    with pytest.raises(ConfigError) as info:
        ckpt.load_into(bag, ckpt.Checkpoint(tmp_path / "checkpoint.npz", resume=True))
    assert not marker.exists()
    message = str(info.value)
    assert str(tmp_path / name) in message and "pickle" in message
    assert "delete the file or run without --resume" in message


def _tamper(path, state=None, members=None):
    """Rewrite the checkpoint ``path`` with its state JSON replaced by ``state(json)`` and
    archive members replaced by ``members``."""
    with np.load(path) as npz:
        files = {k: npz[k] for k in npz.files}
    if state is not None:
        tree = state(json.loads(files["state"].tobytes()))
        files["state"] = np.frombuffer(json.dumps(tree).encode(), np.uint8)
    files.update(members or {})
    with open(path, "wb") as f:
        np.savez(f, **files)


@pytest.mark.parametrize("cls", ["os:system", "subprocess:Popen", "builtins:eval",
                                 "pdaframe.models.external:ExternalModel"])
def test_a_class_that_is_not_allowed_is_refused_and_not_imported(tmp_path, cls):
    """(b) the JSON names a class outside the allowed ones: refused, nothing built."""
    bag = Bag()
    bag.value = Bag()
    path = tmp_path / "checkpoint.npz"
    ckpt.save(bag, ckpt.Checkpoint(path))
    marker = tmp_path / "marker"

    def swap(tree):
        node = tree["root"]["fields"][-1][1]
        node["cls"] = cls
        node["fields"] = [["args", ["touch", str(marker)]]]
        return tree
    _tamper(path, swap)
    with pytest.raises(ConfigError, match=f"names the class '{cls}', which is not allowed"):
        ckpt.load_into(Bag(), ckpt.Checkpoint(path, resume=True))
    assert not marker.exists()


def test_an_object_array_is_refused_without_unpickling(tmp_path):
    """(c) a pool replaced by an object array (stored by numpy as a pickle): refused."""
    bag = Bag()
    bag.value = np.arange(3.0)
    path = tmp_path / "checkpoint.npz"
    ckpt.save(bag, ckpt.Checkpoint(path))
    marker = tmp_path / "marker"
    evil = np.empty(1, dtype=object)
    evil[0] = _Touch(marker)
    _tamper(path, members={"pool0": evil})
    with pytest.raises(ConfigError, match="Object arrays cannot be loaded when "
                                          "allow_pickle=False"):
        ckpt.load_into(Bag(), ckpt.Checkpoint(path, resume=True))
    assert not marker.exists()


@pytest.mark.parametrize("node, words", [
    ({"t": "problem", "v": "problem.__class__"}, "refers to problem.__class__"),
    ({"t": "method", "name": "__init__", "self": {"t": "problem", "v": "problem"}},
     "has no method '__init__'"),
    ({"t": "func", "name": "os:system"}, "names the function 'os:system'"),
    ({"t": "bitgen", "name": "Evil", "state": {}, "seed_seq": None},
     "unknown bit generator 'Evil'"),
    ({"t": "array", "dtype": "<f8", "at": 10 ** 6, "shape": [3], "order": "C"},
     "outside its pool"),
    ({"t": "pickle", "v": "x"}, "unknown entry type 'pickle'"),
])
def test_a_tampered_entry_is_refused(tmp_path, node, words):
    bag = Bag()
    bag.value, bag.problem = np.arange(3.0), _problem()
    path = tmp_path / "checkpoint.npz"
    ckpt.save(bag, ckpt.Checkpoint(path))

    def swap(tree):
        tree["root"]["fields"][-2][1] = node           # the entry of "value"
        return tree
    _tamper(path, swap)
    fresh = Bag()
    fresh.problem = bag.problem
    with pytest.raises(ConfigError, match="delete the file or run without --resume") as info:
        ckpt.load_into(fresh, ckpt.Checkpoint(path, resume=True))
    assert words in str(info.value) and str(path) in str(info.value)


CORRUPT = {
    "truncated": lambda good: good[:len(good) // 2],
    "garbage": lambda good: b"\x00\x01 not a checkpoint",
    "empty": lambda good: b"",
    "zip-without-header": lambda good: _zip({"other.npy": b""}),
}


def _zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("how", sorted(CORRUPT) + ["pickle"])
def test_resume_from_a_corrupt_checkpoint_is_exit_2(tmp_path, capsys, how):
    """``pdaframe run --resume`` with a corrupt checkpoint: one paragraph, exit 2, nothing
    run (the bad-input table runs ``pdaframe run`` without ``--resume``)."""
    config = edit(('name = "lbfgsb"', 'name = "lbfgsb"\noptions = { checkpoint_every = 1 }'))(
        tmp_path)
    out = tmp_path / "out"
    assert cli.main(["run", str(config), "-q", "-o", str(out)]) == 0
    path = out / "checkpoint.npz"
    marker = tmp_path / "marker"
    if how == "pickle":
        _legacy_pickle(path, marker, ckpt.read_header(path))
    else:
        path.write_bytes(CORRUPT[how](path.read_bytes()))
    (out / "result.nc").unlink()
    capsys.readouterr()
    assert cli.main(["run", str(config), "-q", "-o", str(out), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "error (ConfigError)" in err and "Traceback" not in err, err
    assert str(path) in err and "delete the file or run without --resume" in err
    assert not (out / "result.nc").exists() and not marker.exists()


def test_config_hash_ignores_comments_and_layout_not_values():
    text = 'title = "t"\nseed = 3\n[method]\nname = "ga"\noptions = { pop_size = 8 }\n'
    same = ('# a comment\ntitle   =  "t"   # why\n\nseed = 3\n[method]  # the method\n'
            'name = "ga"\noptions = {pop_size=8}\n')
    assert ckpt.config_hash(same) == ckpt.config_hash(text)
    for other in (text.replace("8", "9"), text.replace("8", "8.0"),
                  text.replace("seed = 3", "seed = 3\nextra = 1"), text.replace('"t"', '"u"')):
        assert ckpt.config_hash(other) != ckpt.config_hash(text), other


def test_resume_after_a_comment_edit_and_not_after_a_value_edit(tmp_path, caplog):
    config = edit(('name = "lbfgsb"', 'name = "lbfgsb"\noptions = { checkpoint_every = 1 }'))(
        tmp_path)
    out = tmp_path / "out"
    assert cli.main(["run", str(config), "-q", "-o", str(out)]) == 0
    config.write_text("# edited: comments and blank lines do not count\n\n"
                      + config.read_text().replace("seed = 3", "seed = 3   # the seed"))
    caplog.set_level("INFO", logger="pdaframe.io.checkpoint")
    assert cli.main(["run", str(config), "-q", "-o", str(out), "--resume"]) == 0
    assert "resumed L-BFGS-B from" in caplog.text
    config.write_text(config.read_text().replace("seed = 3", "seed = 4"))
    with pytest.raises(ConfigError, match="another config"):
        from pdaframe.run import run_problem
        run_problem(*pdaframe.load_config(config), out, progress=False, resume=True)


def _spoil_state(how):
    """``how`` applied to the state JSON of a checkpoint of ``Bag(value=np.array([1.0]))``."""
    def spoil(tree):
        if how == "class-not-allowed":
            tree["root"]["cls"] = "subprocess:Popen"
        elif how == "unknown-entry":
            tree["root"]["fields"][-1][1] = {"t": "eval", "v": "1 + 1"}
        return tree
    return spoil


SPOIL = {
    "truncated": lambda path: path.write_bytes(path.read_bytes()[:200]),
    "garbage": lambda path: path.write_bytes(b"\x00\x01 not a checkpoint"),
    "folder": lambda path: (path.unlink(), path.mkdir()),
    "foreign-npz": lambda path: np.savez(path, x=np.zeros(2)),
    "header-json": lambda path: _tamper(path, members={
        "header": np.frombuffer(b"{not json", np.uint8)}),
    "state-json": lambda path: _tamper(path, members={
        "state": np.frombuffer(b"[1, 2", np.uint8)}),
    "version": lambda path: _tamper(path, members={"header": np.frombuffer(json.dumps(
        {"format": ckpt.FORMAT, "version": 99}).encode(), np.uint8)}),
    "class-not-allowed": lambda path: _tamper(path, _spoil_state("class-not-allowed")),
    "unknown-entry": lambda path: _tamper(path, _spoil_state("unknown-entry")),
    "object-array": lambda path: _tamper(path, members={"pool0": np.array([None, 1])}),
}


def spoilt_checkpoint(tmp_path, how, **resume):
    """A row maker of the bad-input table: a checkpoint of a `Bag` in
    ``tmp_path/run_out/checkpoint.npz`` spoilt ``how`` (a key of `SPOIL`, or "pickle": an
    old pickle checkpoint that would create a marker file); returns the call that resumes
    from it (with ``resume``: other `Checkpoint` settings), which also asserts that no
    marker file was made."""
    out = tmp_path / "run_out"
    bag, marker = Bag(), tmp_path / "marker"
    bag.value = np.array([1.0])
    path = ckpt.save(bag, ckpt.Checkpoint(out / ckpt.FILENAME, config_hash="abc"))
    if how == "pickle":
        path.unlink()
        _legacy_pickle(out / ckpt.LEGACY_FILENAME, marker,
                       ckpt.header(bag, ckpt.Checkpoint(path, config_hash="abc")))
    elif how in SPOIL:
        SPOIL[how](path)

    def resume_from_it():
        try:
            ckpt.load_into(Bag(), ckpt.Checkpoint(path, resume=True,
                                                  **{"config_hash": "abc", **resume}))
        finally:
            assert not marker.exists()
    return resume_from_it
