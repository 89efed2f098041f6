"""Checkpoints of ask/tell states (`pdaframe.methods.ensemble`) and resuming from them.

`pdaframe.methods.ensemble.drive` writes the whole state every ``every`` rounds to one file,
atomically (temporary file + rename, `pdaframe.io.atomic.atomic_path`), on MPI rank 0 only
(every rank holds the same state). A later run of the same config resumes from it and gives
the same result as an uninterrupted run.

File format (version 2): a NumPy ``.npz`` archive (`numpy.savez`, no pickle) of three kinds
of member: ``header``, UTF-8 JSON (format, version, method, state class, pdaframe version,
SHA-256 of the config's settings, round); ``state``, UTF-8 JSON describing the state; and
one flat array per dtype (``pool0``, ...) holding every array of the state. The JSON holds
numbers, strings, None, lists, tuples, dicts, sets, slices, numpy scalars, arrays (dtype,
shape and place in a pool), numpy random generators (their bit generator's ``state`` dict
and seed sequence), bound methods (object and method name), shared references (an object
met twice is stored once) and objects of the allowed classes as ``{"cls": "module:qualname",
"fields": ...}``. The `Problem` (its model may hold native code, files or threads) is not
stored: every reference to it, or to one of its attributes, is stored by name and
re-attached from the problem of the resuming run. A resume with a different config (its
parsed settings: comments and layout do not count, `config_hash`), method, state class or
pdaframe version is refused with a `ConfigError`.

Loading cannot run code: nothing is unpickled (`numpy.load` with ``allow_pickle=False``,
`json`), no module or function named in the file is imported or called, and objects are
rebuilt with ``object.__new__`` and field assignment only for the allowed classes (`ALLOWED`,
subclasses of `~pdaframe.methods.ensemble.EnsembleState`, scikit-learn's Gaussian process
regressor and kernels, and what `register` adds). Any other class name, an object array, a
damaged, truncated or foreign file, or the pickle file of pdaframe's earlier checkpoints
(``checkpoint.pkl``, never loaded) is a `ConfigError` that names the file and says to delete
it or run without ``--resume``. The file is not authenticated: whoever can write it can
still feed the run wrong numbers (or allowed objects with wrong contents); the header checks
guard against resuming the wrong run by mistake, not against tampering.

Methods that call ``drive`` from inside their own function (``ga``, ``de``, ``4denvar``,
``ienks``, importance sampling, ...) pick up the settings of the enclosing `use_checkpoint`
block, as ``pdaframe.run.run_problem`` does for ``pdaframe run`` (``--resume``, method option
``checkpoint_every``, or ``[output] checkpoint_every`` when the method option is absent).

``de`` runs scipy in a thread (`pdaframe.methods.search.adaptor.MapAskTell`): its state is stored
without the thread, with a log of the costs handed to scipy; a resumed state restarts scipy
with the same seed and replays the log to it (no model runs), so it continues bit for bit.
``emcee`` does not use ``drive``: it claims the settings (`claim`) and writes an
`~pdaframe.methods.mcmc.emcee.EmceeCheckpoint` (emcee's in-memory backend, hence its last
state and random state, and the counters) every N steps, in this same format; a resumed run continues
emcee from there, bit for bit.

Calibrate–emulate–sample logs the results of its executor batches (`replaying`): a resumed
run recomputes everything else from the seed and answers the logged batches without model
runs, so it too matches an uninterrupted run bit for bit.

The scipy minimisers (`pdaframe.methods.scipy_minimisers`) claim the same settings and write a
`~pdaframe.methods.scipy_minimisers.MinimiserState` (iterate, history, counters) from scipy's
callback, in this same format; their resume restarts scipy from the checkpointed iterate, so
it is not bit-identical to an uninterrupted run (L-BFGS-B's curvature memory is lost) but
converges to the same optimum within the minimiser's tolerance.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib
import json
import logging
import math
import struct
import sys
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .atomic import atomic_path

log = logging.getLogger(__name__)

FORMAT, VERSION = "pdaframe-checkpoint", 2
FILENAME = "checkpoint.npz"
#: The pickle checkpoints of earlier pdaframe versions: recognised, never loaded.
LEGACY_FILENAME, LEGACY_MAGIC = "checkpoint.pkl", b"PDAFRAME-CHECKPOINT 1 "
_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset)

#: Classes (module, attribute) whose objects a checkpoint may hold, besides the subclasses of
#: `~pdaframe.methods.ensemble.EnsembleState`, scikit-learn's GP regressor and kernels, and
#: what `register` adds. Resolved from this list, never from a name in a file.
ALLOWED = (
    ("pdaframe.io.checkpoint", "BatchLog"), ("pdaframe.parallel.base", "Failed"),
    ("pdaframe.result", "Result"), ("pdaframe.observations.streams", "ErrorCovariance"),
    ("pdaframe.methods.search.shared", "Fitness"), ("pdaframe.methods.search.shared", "_Box"),
    ("pdaframe.methods.search.de", "_ScipyDE"),
    ("pdaframe.methods.mcmc.emcee", "EmceeCheckpoint"),
    ("pdaframe.methods.mcmc.chains", "LogTargetU"),
    ("pdaframe.methods.importance", "ObservationWhitener"),
    ("pdaframe.methods.scipy_minimisers", "MinimiserState"),
    ("pdaframe.methods.emulation.gp", "GPEmulator"),
    ("pdaframe.methods.emulation.history_matching", "HistoryMatchResult"),
    ("scipy.optimize", "OptimizeResult"),
)
_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")
_REGISTERED: dict = {}


def register(obj):
    """Allow ``obj`` in checkpoints: objects of a class (of a plugin, or a user's own state
    or simulator), or a module-level function (e.g. the ``func`` of a history matching run
    from Python); usable as a decorator.

    A class must keep its state in its instance ``__dict__`` (or return a dict from
    ``__getstate__``): it is rebuilt with ``object.__new__`` and field assignment, without
    calling ``__init__``. A function is stored by name and, on loading, looked up among the
    registered ones.
    """
    _REGISTERED[_name(obj)] = obj
    return obj


def _name(cls) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _allowed_classes(sklearn=False) -> dict:
    """``{"module:qualname": class}`` of every allowed class (scikit-learn's only when it is
    imported or ``sklearn``)."""
    from ..methods.ensemble import EnsembleState
    table = {}
    for module, attr in ALLOWED:
        cls = getattr(importlib.import_module(module), attr)
        table[_name(cls)] = cls
    todo = [EnsembleState]
    while todo:
        cls = todo.pop()
        table[_name(cls)] = cls
        todo.extend(cls.__subclasses__())
    if sklearn or "sklearn" in sys.modules:
        from sklearn.gaussian_process import GaussianProcessRegressor, kernels
        table[_name(GaussianProcessRegressor)] = GaussianProcessRegressor
        todo = [kernels.Kernel]
        while todo:
            cls = todo.pop()
            if cls.__module__ == kernels.__name__:
                table[_name(cls)] = cls
            todo.extend(cls.__subclasses__())
    table.update(_REGISTERED)
    return table


def config_hash(text) -> str:
    """SHA-256 of a config's settings: its TOML text (None: empty) parsed and written as
    canonical JSON, so that comments and layout do not count but every value does (the
    text's own hash if it is not TOML)."""
    try:
        data = tomllib.loads(text or "")
    except tomllib.TOMLDecodeError:
        return hashlib.sha256((text or "").encode()).hexdigest()
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"),
                           default=lambda v: {type(v).__name__: v.isoformat()})
    return hashlib.sha256(canonical.encode()).hexdigest()


def _version() -> str:
    from .._version import __version__
    return __version__


@dataclass
class Checkpoint:
    """Where and how often to checkpoint, and whether to resume.

    Attributes
    ----------
    path : Path
        The checkpoint file.
    every : int
        Write after every ``every`` completed rounds (and at the end).
    config_hash : str
        `config_hash` of the run's config text; a checkpoint of another config is refused.
    resume : bool
        Continue from ``path`` if it exists (else start afresh).
    explicit : bool
        Checkpointing was asked for: a state that cannot be checkpointed (`dumps_state`) is
        a `ConfigError` (otherwise it only runs without checkpoints, with a log message).
    """

    path: Path
    every: int = 1
    config_hash: str = ""
    resume: bool = False
    explicit: bool = True
    used: bool = field(default=False, compare=False)

    def __post_init__(self):
        self.path = Path(self.path)
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ConfigError(f"checkpoint_every must be an integer >= 1, got {self.every!r}")


_ACTIVE: contextvars.ContextVar = contextvars.ContextVar("pdaframe_checkpoint", default=None)


@contextlib.contextmanager
def use_checkpoint(checkpoint):
    """Make ``checkpoint`` (a `Checkpoint`, or None) the settings of the next `drive`.

    Only the first ``drive`` inside the block takes it (a method that drives several
    states one after another checkpoints the first only).
    """
    token = _ACTIVE.set(checkpoint)
    try:
        yield checkpoint
    finally:
        _ACTIVE.reset(token)


def claim():
    """The active `Checkpoint` if no ``drive`` has taken it yet (marks it taken), else None."""
    cp = _ACTIVE.get()
    if cp is None or cp.used:
        return None
    cp.used = True
    return cp


class _Unsupported(Exception):
    """A value that cannot be checkpointed (where, what)."""


class _Encoder:
    """A state as a JSON-able tree plus arrays (`dumps_state`); see the module docstring."""

    def __init__(self, problem):
        self.refs = _problem_refs(problem) if problem is not None else {}
        self.memo, self.keep = {}, []      # id(obj) -> node id; objects kept alive meanwhile
        self.pools, self.extra = {}, {}    # dtype.str -> [arrays]; member -> odd-dtype array
        self.sizes = {}
        self.allowed = None

    def _new(self, obj, node):
        """Memoise ``obj`` (a mutable object) as ``node`` (which gets its id)."""
        node["id"] = len(self.keep)
        self.memo[id(obj)] = node["id"]
        self.keep.append(obj)
        return node

    def encode(self, obj, where):
        t = type(obj)
        if obj is None or t in (bool, int, str):
            return obj
        if t is float:
            if math.isnan(obj):               # JSON's NaN drops the sign and payload
                return {"t": "nan", "bits": struct.unpack("<q", struct.pack("<d", obj))[0]}
            return obj
        if id(obj) in self.refs:
            return {"t": "problem", "v": self.refs[id(obj)]}
        if id(obj) in self.memo:
            return {"t": "ref", "id": self.memo[id(obj)]}
        if t is tuple:
            return {"t": "tuple", "v": [self.encode(v, f"{where}[{i}]") for i, v in
                                        enumerate(obj)]}
        if t is list:
            node = self._new(obj, {"t": "list"})
            node["v"] = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
            return node
        if t is dict:
            node = self._new(obj, {"t": "dict"})
            node["v"] = self._items(obj, where)
            return node
        if t in (set, frozenset):
            return {"t": t.__name__, "v": [self.encode(v, where) for v in obj]}
        if t in (complex, bytes, slice):
            parts = {complex: lambda: [obj.real, obj.imag], bytes: lambda: list(obj),
                     slice: lambda: [obj.start, obj.stop, obj.step]}[t]()
            return {"t": t.__name__, "v": [self.encode(v, where) for v in parts]}
        if t is np.ndarray:
            return self._new(obj, self._array(obj, where))
        if isinstance(obj, np.generic):
            kind, size = obj.dtype.kind, obj.dtype.itemsize
            if kind in "biu" or (kind == "f" and size <= 8 and not np.isnan(obj)):
                return {"t": "scalar", "dtype": obj.dtype.str, "v": obj.item()}
            return {"t": "scalar", "a": self._array(np.asarray(obj), where)}
        if t is np.random.Generator:
            node = self._new(obj, {"t": "generator"})
            node["bg"] = self.encode(obj.bit_generator, f"{where}.bit_generator")
            return node
        if t is np.random.RandomState:
            node = self._new(obj, {"t": "randomstate"})
            node["state"] = self.encode(obj.get_state(legacy=False), f"{where} state")
            return node
        if t.__name__ in _BIT_GENERATORS and t is getattr(np.random, t.__name__):
            node = self._new(obj, {"t": "bitgen", "name": t.__name__})
            node["state"] = self.encode(obj.state, f"{where}.state")
            node["seed_seq"] = self._seed_seq(getattr(obj, "seed_seq", None), where)
            return node
        if t is types.FunctionType:
            if _REGISTERED.get(_name(obj)) is not obj:
                raise _Unsupported(f"{where} is the function {_name(obj)}, not registered "
                                   f"for checkpoints (pdaframe.io.checkpoint.register)")
            return {"t": "func", "name": _name(obj)}
        if t is types.MethodType:
            name = obj.__func__.__name__
            if getattr(type(obj.__self__), name, None) is not obj.__func__:
                raise _Unsupported(f"{where} is a method not found on its object's class")
            return {"t": "method", "name": name, "self": self.encode(obj.__self__, where)}
        return self._object(obj, where)

    def _items(self, mapping, where, fields=False):
        return [[self.encode(k, where), self.encode(v, f"{where}.{k}" if fields else
                                                    f"{where}[{k!r}]")]
                for k, v in mapping.items()]

    def _seed_seq(self, seq, where):
        if seq is None:
            return None
        if type(seq) is not np.random.SeedSequence:
            raise _Unsupported(f"{where} has a {type(seq).__name__}")
        return self.encode({"entropy": seq.entropy, "spawn_key": seq.spawn_key,
                            "pool_size": seq.pool_size,
                            "n_children_spawned": seq.n_children_spawned}, where)

    def _array(self, a, where):
        if a.dtype.hasobject:
            raise _Unsupported(f"{where} is an array of Python objects")
        order = "F" if a.flags.f_contiguous and not a.flags.c_contiguous else "C"
        node = {"t": "array", "shape": list(a.shape), "order": order}
        if np.dtype(a.dtype.str) != a.dtype:         # structured: an archive member of its own
            node["member"] = member = f"extra{len(self.extra)}"
            self.extra[member] = a.copy()
            return node
        key = a.dtype.str
        pool = self.pools.setdefault(key, [])
        node.update(dtype=key, at=self.sizes.get(key, 0))
        pool.append(a.flatten(order=order))     # a copy: the encoding is a snapshot
        self.sizes[key] = node["at"] + a.size
        return node

    def _object(self, obj, where):
        cls = type(obj)
        if self.allowed is None:
            self.allowed = _allowed_classes()
        if self.allowed.get(_name(cls)) is not cls or not isinstance(cls, type):
            raise _Unsupported(f"{where} is a {cls.__module__}.{cls.__qualname__}, not a "
                               f"class allowed in checkpoints (pdaframe.io.checkpoint.register)")
        # a class's own __getstate__ says what to store (MapAskTell: not its thread), except
        # scikit-learn's, which adds a version entry that only its __setstate__ removes
        getstate = getattr(cls, "__getstate__", None)
        custom = getstate not in (None, object.__getstate__) and \
            not cls.__module__.startswith("sklearn.")
        fields = obj.__getstate__() if custom else getattr(obj, "__dict__", None)
        if type(fields) is not dict:
            raise _Unsupported(f"{where} ({cls.__qualname__}) keeps no field dict")
        node = self._new(obj, {"t": "obj", "cls": _name(cls)})
        node["fields"] = self._items(fields, where, fields=True)
        if isinstance(obj, dict):
            node["items"] = self._items(obj, where)
        return node

    def archive(self, header, tree) -> dict:
        """The members of the ``.npz`` file."""
        pools = {f"pool{i}": np.concatenate(arrays, dtype=np.dtype(key))   # keeps byte order
                 for i, (key, arrays) in enumerate(self.pools.items())}
        tree = {**tree, "pools": {key: f"pool{i}" for i, key in enumerate(self.pools)}}
        return {"header": _utf8(header), "state": _utf8(tree), **pools, **self.extra}


def _utf8(doc) -> np.ndarray:
    return np.frombuffer(json.dumps(doc, separators=(",", ":")).encode(), dtype=np.uint8)


class _Bad(Exception):
    """The file does not hold what a checkpoint holds."""


class _Decoder:
    """The inverse of `_Encoder`: rebuilds a state from the archive ``npz``."""

    def __init__(self, npz, tree, problem):
        self.npz, self.problem = npz, problem
        self.pools = {key: npz[member] for key, member in _get(tree, "pools", dict).items()}
        self.memo = {}
        self.allowed = _allowed_classes()

    def _new(self, node, obj):
        self.memo[_get(node, "id", int)] = obj
        return obj

    def decode(self, node):
        if node is None or type(node) in (bool, int, float, str):
            return node
        t = _get(node, "t", str)
        v = node.get("v")
        if t == "ref":
            if node.get("id") not in self.memo:
                raise _Bad(f"reference to an unknown object {node.get('id')!r}")
            return self.memo[node["id"]]
        if t == "problem":
            return _resolve(self.problem, _get(node, "v", str))
        if t == "list":
            out = self._new(node, [])
            out.extend(self.decode(x) for x in _get(node, "v", list))
            return out
        if t == "dict":
            out = self._new(node, {})
            out.update(self._pairs(node, "v"))
            return out
        if t in ("tuple", "set", "frozenset", "complex", "bytes", "slice"):
            items = [self.decode(x) for x in _get(node, "v", list)]
            return {"tuple": tuple, "set": set, "frozenset": frozenset, "bytes": bytes,
                    "complex": lambda p: complex(*p), "slice": lambda p: slice(*p)}[t](items)
        if t == "nan":
            return struct.unpack("<d", struct.pack("<q", _get(node, "bits", int)))[0]
        if t == "array":
            return self._new(node, self._array(node))
        if t == "scalar":
            if "a" in node:
                return self._array(node["a"])[()]
            dtype = np.dtype(_get(node, "dtype", str))
            if dtype.kind not in "biuf" or type(v) not in (bool, int, float):
                raise _Bad(f"a numpy scalar of dtype {dtype} holds {v!r}")
            return dtype.type(v)
        if t == "generator":
            return self._new(node, np.random.Generator(self._bitgen(node["bg"])))
        if t == "randomstate":
            state = self.decode(node["state"])
            rs = np.random.RandomState(self._bit_generator_class(state["bit_generator"])())
            rs.set_state(state)
            return self._new(node, rs)
        if t == "bitgen":
            return self._bitgen(node)
        if t == "method":
            obj, name = self.decode(node["self"]), _get(node, "name", str)
            func = getattr(type(obj), name, None) if _plain(name) else None
            if not isinstance(func, types.FunctionType):
                raise _Bad(f"{type(obj).__name__} has no method {name!r}")
            return types.MethodType(func, obj)
        if t == "obj":
            return self._object(node)
        if t == "func":
            func = _REGISTERED.get(_get(node, "name", str))
            if type(func) is not types.FunctionType:
                raise _Bad(f"it names the function {node['name']!r}, which is not registered "
                           f"for checkpoints (it was not loaded)")
            return func
        raise _Bad(f"unknown entry type {t!r}")

    def _pairs(self, node, key):
        pairs = _get(node, key, list)
        return [(self.decode(k), self.decode(v)) for k, v in pairs]

    def _array(self, node):
        shape, order = tuple(_get(node, "shape", list)), _get(node, "order", str)
        if "member" in node:
            a = self.npz[_get(node, "member", str)]
            if a.shape != shape:
                raise _Bad(f"array {node['member']} has shape {a.shape}, not {shape}")
            return a
        pool, at = self.pools[_get(node, "dtype", str)], _get(node, "at", int)
        size = math.prod(shape)
        if not 0 <= at <= at + size <= pool.size or order not in "CF":
            raise _Bad("an array lies outside its pool")
        return pool[at:at + size].reshape(shape, order=order).copy(order="K")

    def _bit_generator_class(self, name):
        if name not in _BIT_GENERATORS:
            raise _Bad(f"unknown bit generator {name!r}")
        return getattr(np.random, name)

    def _bitgen(self, node):
        if node.get("t") == "ref":
            return self.decode(node)
        cls = self._bit_generator_class(_get(node, "name", str))
        seq = self.decode(node["seed_seq"])
        bg = self._new(node, cls(None if seq is None else np.random.SeedSequence(**seq)))
        bg.state = self.decode(node["state"])
        return bg

    def _object(self, node):
        name = _get(node, "cls", str)
        if name not in self.allowed and name.startswith("sklearn.gaussian_process."):
            self.allowed = _allowed_classes(sklearn=True)      # fitted GP emulators
        cls = self.allowed.get(name)
        if not isinstance(cls, type):
            raise _Bad(f"it names the class {name!r}, which is not allowed in checkpoints "
                       f"(it was not loaded)")
        base = dict if issubclass(cls, dict) else object
        obj = self._new(node, base.__new__(cls))
        for key, value in self._pairs(node, "fields"):
            if type(key) is not str:
                raise _Bad(f"a field name of {name} is {key!r}")
            vars(obj)[key] = value
        if "items" in node:
            dict.update(obj, self._pairs(node, "items"))
        return obj


def _get(node, key, kind):
    """``node[key]``, checked to be a ``kind``."""
    if type(node) is not dict or type(node.get(key)) is not kind:
        raise _Bad(f"entry {key!r} missing or not a {kind.__name__}")
    return node[key]


def _plain(name) -> bool:
    """An attribute name a checkpoint may refer to: an identifier, not a dunder."""
    return name.isidentifier() and not name.startswith("__")


def _problem_refs(problem) -> dict:
    """``{id(obj): name}`` of the problem and its (mutable) attribute values."""
    refs = {id(problem): "problem"}
    for key, value in vars(problem).items():
        if isinstance(value, _IMMUTABLE):
            continue
        refs.setdefault(id(value), f"problem.{key}")
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, _IMMUTABLE):
                    refs.setdefault(id(item), f"problem.{key}[{i}]")
    return refs


def _resolve(problem, name):
    if name == "problem" and problem is not None:
        return problem
    key, index = name[len("problem."):], None
    if key.endswith("]"):
        key, _, index = key[:-1].partition("[")
    try:
        if not name.startswith("problem.") or not _plain(key) or problem is None:
            raise ValueError("not an attribute of a problem")
        value = getattr(problem, key)
        return value if index is None else value[int(index)]
    except (AttributeError, IndexError, ValueError, TypeError) as err:
        raise _Bad(f"it refers to {name}, which this problem does not have ({err})") from None


def dumps_state(state):
    """``state`` encoded for a checkpoint (without its problem): a snapshot, its arrays
    copied, so it can be saved later (`save`'s ``payload``) whatever the state does
    meanwhile; `ConfigError` if it holds something a checkpoint cannot (see the module
    docstring)."""
    enc = _Encoder(getattr(state, "problem", None))
    try:
        tree = {"root": enc.encode(state, type(state).__name__)}
    except _Unsupported as err:
        raise ConfigError(f"{type(state).__name__} cannot be checkpointed ({err}); run it "
                          f"without checkpoints (method option checkpoint_every = 0 and no "
                          f"--resume)") from None
    return enc, tree


def header(state, checkpoint) -> dict:
    return {"format": FORMAT, "version": VERSION,
            "method": str(getattr(state, "name", "")) or type(state).__name__,
            "state": f"{type(state).__module__}.{type(state).__qualname__}",
            "pdaframe_version": _version(), "config_sha256": checkpoint.config_hash,
            "round": int(getattr(state, "iteration", 0))}


def save(state, checkpoint, payload=None) -> Path:
    """Write ``state`` to ``checkpoint.path`` atomically (call on rank 0 only).

    ``payload`` is `dumps_state`'s value for ``state`` when already computed.
    """
    enc, tree = dumps_state(state) if payload is None else payload
    members = enc.archive(header(state, checkpoint), tree)
    with atomic_path(checkpoint.path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **members)
    return checkpoint.path


def _damaged(path, why) -> ConfigError:
    return ConfigError(f"cannot resume from {path}: {why}; delete the file or run without "
                       f"--resume")


def _open(path):
    """The archive of the checkpoint ``path`` (`numpy.lib.npyio.NpzFile`) and its header."""
    with open(path, "rb") as f:
        start = f.read(len(LEGACY_MAGIC))
    if start.startswith(LEGACY_MAGIC):
        raise _damaged(path, "it is a pickle checkpoint of an earlier pdaframe version, "
                             "which is not loaded (loading a pickle can run any code)")
    if not start.startswith(b"PK"):
        raise _damaged(path, "it is not a pdaframe checkpoint (not an .npz archive)")
    npz = None
    try:
        npz = np.load(path, allow_pickle=False)
        if not {"header", "state"} <= set(npz.files):
            raise _Bad("it is not a pdaframe checkpoint (no header and state in the archive)")
        head = json.loads(npz["header"].tobytes())
        if type(head) is not dict or head.get("format") != FORMAT:
            raise _Bad("it is not a pdaframe checkpoint (no checkpoint header)")
        if head.get("version") != VERSION:
            raise _Bad(f"it is a pdaframe checkpoint of format version "
                       f"{head.get('version')!r}, this pdaframe reads version {VERSION}")
        return npz, head
    except Exception as err:
        if npz is not None:
            npz.close()
        raise _damaged(path, _why(err)) from None


def _why(err) -> str:
    """What is wrong with a checkpoint file, from the exception that reading it raised."""
    if isinstance(err, _Bad):
        return str(err)
    return f"it is damaged or truncated ({type(err).__name__}: {err})"


def read_header(path) -> dict:
    """The JSON header of a checkpoint file (`ConfigError` if it is not one)."""
    npz, head = _open(path)
    npz.close()
    return head


def load_into(state, checkpoint) -> bool:
    """Replace ``state``'s contents by the checkpoint's (same object, problem re-attached).

    Returns False when there is no checkpoint file. Refuses (`ConfigError`) a checkpoint
    of another config, state class or pdaframe version, and any file that is not a
    checkpoint this pdaframe wrote (see the module docstring: loading runs no code).
    """
    path = checkpoint.path
    legacy = path.with_name(LEGACY_FILENAME)
    if not path.exists() and path.name == FILENAME and legacy.exists():
        raise _damaged(legacy, "it is a pickle checkpoint of an earlier pdaframe version, "
                               "which is not loaded (loading a pickle can run any code)")
    if not path.exists():
        log.info("no checkpoint at %s: starting afresh", path)
        return False
    if path.is_dir():
        raise _damaged(path, "it is a folder, not a checkpoint file")
    npz, head = _open(path)
    with npz:
        want = header(state, checkpoint)
        for key, what in (("config_sha256", "config"), ("state", "method state"),
                          ("pdaframe_version", "pdaframe version")):
            if head.get(key) != want[key]:
                raise ConfigError(f"cannot resume from {path}: it was written with another "
                                  f"{what} ({head.get(key)!r}, this run has {want[key]!r}); "
                                  f"remove the file or run without --resume")
        try:
            tree = json.loads(npz["state"].tobytes())
            loaded = _Decoder(npz, tree, getattr(state, "problem", None)).decode(
                _get(tree, "root", dict))
        except ConfigError:
            raise
        except Exception as err:
            raise _damaged(path, _why(err)) from None
    if type(loaded) is not type(state):
        raise _damaged(path, f"it holds a {type(loaded).__name__}, not a "
                             f"{type(state).__name__}")
    vars(state).clear()
    vars(state).update(vars(loaded))
    log.info("resumed %s from %s after round %s", want["method"], path, head.get("round"))
    return True


class BatchLog:
    """Checkpoint of a method that is deterministic given its seed and the results of its
    executor batches (calibrate–emulate–sample): the results of every ``map`` batch.

    Use `replaying`; the log is what `save` writes (``name``/``iteration`` for the header).
    """

    def __init__(self, name):
        self.name, self.batches, self.iteration = name, [], 0


def digest(items) -> str:
    """Short fingerprint of a batch of members (to check that a replay retraces a run)."""
    import numpy as np
    return hashlib.sha256(np.ascontiguousarray(items, dtype=float).tobytes()).hexdigest()[:16]


class ReplayExecutor:
    """Executor wrapper: each ``map`` batch's results are logged and written to the
    checkpoint every ``every`` batches (rank 0); a resumed run gets the batches of the
    earlier run from the log, in order and checked against a digest of their items, without
    evaluating them, and continues live from the first batch the log does not hold."""

    def __init__(self, executor, log, checkpoint):
        self.executor, self.log, self.checkpoint, self._next = executor, log, checkpoint, 0

    def __getattr__(self, name):                  # size, rank, schedule, ... of the executor
        return getattr(self.executor, name)

    def map(self, func, items):
        from ..parallel import is_root
        items = list(items)
        k, self._next = self._next, self._next + 1
        if k < len(self.log.batches):
            key, results = self.log.batches[k]
            if key != digest(items):
                raise ConfigError(f"cannot resume {self.log.name}: batch {k + 1} asks for other "
                                  f"runs than the checkpointed run did; remove "
                                  f"{self.checkpoint.path} or run without --resume")
            return list(results)
        results = self.executor.map(func, items)
        self.log.batches.append((digest(items), list(results)))
        self.log.iteration = len(self.log.batches)
        if is_root() and self.log.iteration % self.checkpoint.every == 0:
            save(self.log, self.checkpoint)
        return results

    def finish(self):
        """Write the complete log (call at the end of the method)."""
        from ..parallel import is_root
        if is_root():
            save(self.log, self.checkpoint)


def replaying(executor, name):
    """``executor``, wrapped in a `ReplayExecutor` when a checkpoint is active (`claim`),
    resumed from its file when asked; else ``executor`` itself."""
    cp = claim()
    if cp is None:
        return executor
    log = BatchLog(name)
    if cp.resume:
        load_into(log, cp)
    return ReplayExecutor(executor, log, cp)
