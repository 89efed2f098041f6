"""How a checkpoint (`pdaframe.io.checkpoint`) encodes a state: a JSON tree plus flat arrays.

The JSON holds numbers, strings, None, lists, tuples, dicts, sets, slices, numpy scalars,
arrays (dtype, shape and place in a pool), numpy random generators (their bit generator's
``state`` dict and seed sequence), bound methods (object and method name), shared references
(an object met twice is stored once) and objects of the allowed classes as ``{"cls":
"module:qualname", "fields": ...}``. The `Problem` (its model may hold native code, files or
threads) is not stored: every reference to it, or to one of its attributes, is stored by name
and re-attached from the problem of the resuming run.

Only the allowed classes (`ALLOWED`, subclasses of `~pdaframe.methods.ensemble.EnsembleState`,
scikit-learn's Gaussian process regressor and kernels, and what `register` adds) are rebuilt,
with ``object.__new__`` and field assignment; no module or function named in a file is imported
or called.
"""
from __future__ import annotations

import importlib
import json
import math
import struct
import sys
import types

import numpy as np

from ..errors import ConfigError

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
