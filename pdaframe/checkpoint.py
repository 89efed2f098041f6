"""Checkpoints of ask/tell states (`pdaframe.methods.ensemble`) and resuming from them.

`pdaframe.methods.ensemble.drive` writes the whole state every ``every`` rounds to one file,
atomically (temporary file + rename, `pdaframe.io.atomic.atomic_path`), on MPI rank 0 only
(every rank holds the same state). A later run of the same config resumes from it and gives
the same result as an uninterrupted run.

File format: one header line ``PDAFRAME-CHECKPOINT 1 {json}`` (method, state class,
pdaframe version, SHA-256 of the config text, round), then a pickle of the state. The
`Problem` (its model may hold native code, files or threads) is not stored: every reference
to it, or to one of its attributes, is stored by name and re-attached from the problem of the
resuming run. A resume with a different config, method, state class or pdaframe version is
refused with a `ConfigError`.

.. warning:: The payload is a pickle: loading it runs code named in the file. Only resume
   from checkpoints written by your own runs, in directories you trust.

Methods that call ``drive`` from inside their own function (``ga``, ``de``, ``4denvar``,
``ienks``, importance sampling, ...) pick up the settings of the enclosing `use_checkpoint`
block, as ``pdaframe.run.run_problem`` does for ``pdaframe run`` (``--resume``, method option
``checkpoint_every``, or ``[output] checkpoint_every`` when the method option is absent).

``de`` runs scipy in a thread (`pdaframe.methods.evolution.MapAskTell`): its state pickles
without the thread, with a log of the costs handed to scipy; a resumed state restarts scipy
with the same seed and replays the log to it (no model runs), so it continues bit for bit.
``emcee`` does not use ``drive``: it claims the settings (`claim`) and writes an
`~pdaframe.methods.mcmc.EmceeCheckpoint` (emcee's in-memory backend, hence its last state and
random state, and the counters) every N steps, in this same format; a resumed run continues
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
import io
import json
import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .io.atomic import atomic_path

log = logging.getLogger(__name__)

MAGIC = b"PDAFRAME-CHECKPOINT 1 "
FILENAME = "checkpoint.pkl"
_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset)


def config_hash(text) -> str:
    """SHA-256 of the config text (``""`` when there is none)."""
    return hashlib.sha256((text or "").encode()).hexdigest()


def _version() -> str:
    from . import __version__
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
        Checkpointing was asked for: a state that cannot be pickled is a `ConfigError`
        (otherwise it only runs without checkpoints, with a log message).
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
    if name == "problem":
        return problem
    key = name[len("problem."):]
    index = None
    if key.endswith("]"):
        key, index = key[:-1].split("[")
    value = getattr(problem, key)
    return value if index is None else value[int(index)]


class _Pickler(pickle.Pickler):
    def __init__(self, file, problem):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._refs = _problem_refs(problem) if problem is not None else {}

    def persistent_id(self, obj):
        return self._refs.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, problem):
        super().__init__(file)
        self._problem = problem

    def persistent_load(self, pid):
        try:
            return _resolve(self._problem, pid)
        except (AttributeError, IndexError, ValueError) as err:
            raise ConfigError(f"checkpoint refers to {pid}, which this problem does not "
                              f"have ({err})") from None


def dumps_state(state) -> bytes:
    """Pickle ``state`` without its problem; `ConfigError` if it cannot be pickled."""
    buf = io.BytesIO()
    try:
        _Pickler(buf, getattr(state, "problem", None)).dump(state)
    except (TypeError, AttributeError, pickle.PicklingError) as err:
        raise ConfigError(f"{type(state).__name__} cannot be checkpointed ({err}); run it "
                          f"without checkpoints (method option checkpoint_every = 0 and no "
                          f"--resume)") from None
    return buf.getvalue()


def header(state, checkpoint) -> dict:
    return {"method": str(getattr(state, "name", "")) or type(state).__name__,
            "state": f"{type(state).__module__}.{type(state).__qualname__}",
            "pdaframe_version": _version(), "config_sha256": checkpoint.config_hash,
            "round": int(getattr(state, "iteration", 0))}


def save(state, checkpoint, payload=None) -> Path:
    """Write ``state`` to ``checkpoint.path`` atomically (call on rank 0 only)."""
    payload = dumps_state(state) if payload is None else payload
    head = json.dumps(header(state, checkpoint), sort_keys=True).encode()
    with atomic_path(checkpoint.path) as tmp:
        with open(tmp, "wb") as f:
            f.write(MAGIC + head + b"\n")
            f.write(payload)
    return checkpoint.path


def read_header(path) -> dict:
    """The JSON header of a checkpoint file (does not unpickle anything)."""
    with open(path, "rb") as f:
        line = f.readline()
    if not line.startswith(MAGIC):
        raise ConfigError(f"{path} is not a pdaframe checkpoint")
    return json.loads(line[len(MAGIC):])


def load_into(state, checkpoint) -> bool:
    """Replace ``state``'s contents by the checkpoint's (same object, problem re-attached).

    Returns False when there is no checkpoint file. Refuses (`ConfigError`) a checkpoint
    of another config, state class or pdaframe version. Only load trusted files (pickle).
    """
    path = checkpoint.path
    if not path.exists():
        log.info("no checkpoint at %s: starting afresh", path)
        return False
    head = read_header(path)
    want = header(state, checkpoint)
    for key, what in (("config_sha256", "config"), ("state", "method state"),
                      ("pdaframe_version", "pdaframe version")):
        if head.get(key) != want[key]:
            raise ConfigError(f"cannot resume from {path}: it was written with another {what} "
                              f"({head.get(key)!r}, this run has {want[key]!r}); remove the "
                              f"file or run without --resume")
    with open(path, "rb") as f:
        f.readline()
        loaded = _Unpickler(f, getattr(state, "problem", None)).load()
    if type(loaded) is not type(state):
        raise ConfigError(f"cannot resume from {path}: it holds a {type(loaded).__name__}, "
                          f"not a {type(state).__name__}")
    vars(state).clear()
    vars(state).update(vars(loaded))
    log.info("resumed %s from %s after round %d", want["method"], path, head["round"])
    return True


class BatchLog:
    """Checkpoint of a method that is deterministic given its seed and the results of its
    executor batches (calibrate–emulate–sample): the results of every ``map`` batch.

    Use `replaying`; the log is what `save` pickles (``name``/``iteration`` for the header).
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
        from .parallel import is_root
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
        from .parallel import is_root
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
