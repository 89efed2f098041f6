"""Checkpoints of ask/tell states (`pdaframe.methods.ensemble`) and resuming from them.

`pdaframe.methods.ensemble.drive` writes the whole state every ``every`` rounds to one file,
atomically (temporary file + rename, `pdaframe.io.atomic.atomic_path`), on MPI rank 0 only
(every rank holds the same state). A later run of the same config resumes from it and gives
the same result as an uninterrupted run.

File format (version 2): a NumPy ``.npz`` archive (`numpy.savez`, no pickle) of three kinds
of member: ``header``, UTF-8 JSON (format, version, method, state class, pdaframe version,
SHA-256 of the config's settings, round); ``state``, UTF-8 JSON describing the state; and
one flat array per dtype (``pool0``, ...) holding every array of the state. How the JSON
holds a state, and the classes it may hold: `pdaframe.io.state_format`. A resume with a different config (its
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

The checkpoint is an argument: ``pdaframe.minimise(problem, method, checkpoint=...)`` (a
path or a `Checkpoint`) hands it to the methods that take a ``checkpoint`` keyword
(`pdaframe.methods.contract.takes_checkpoint`; any other method refuses it), and
``pdaframe.run.run_problem`` builds it for ``pdaframe run`` (``--resume``, method option
``checkpoint_every``, or ``[output] checkpoint_every`` when the method option is absent). The
method called alone checkpoints: ``stepwise`` hands it to its first step only, and what a
method runs inside (the L-BFGS-B polish of ``ga``/``de``) is not checkpointed.

``de`` runs scipy in a thread (`pdaframe.methods.search.adaptor.MapAskTell`): its state is stored
without the thread, with a log of the costs handed to scipy; a resumed state restarts scipy
with the same seed and replays the log to it (no model runs), so it continues bit for bit.
``emcee`` does not use ``drive``: given a checkpoint, it writes an
`~pdaframe.methods.mcmc.emcee.EmceeCheckpoint` (emcee's in-memory backend, hence its last
state and random state, and the counters) every N steps, in this same format; a resumed run
continues emcee from there, bit for bit.

Calibrate–emulate–sample logs the results of its executor batches (`replaying`): a resumed
run recomputes everything else from the seed and answers the logged batches without model
runs, so it too matches an uninterrupted run bit for bit.

The scipy minimisers (`pdaframe.methods.scipy_minimisers`), given a checkpoint, write a
`~pdaframe.methods.scipy_minimisers.MinimiserState` (iterate, history, counters) from scipy's
callback, in this same format; their resume restarts scipy from the checkpointed iterate, so
it is not bit-identical to an uninterrupted run (L-BFGS-B's curvature memory is lost) but
converges to the same optimum within the minimiser's tolerance.
"""
from __future__ import annotations

import hashlib
import json
import logging
import tomllib
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .atomic import atomic_path
from .state_format import _Bad, _Decoder, _get, dumps_state
from .state_format import ALLOWED, register  # noqa: F401  (public here: ckpt.register)

log = logging.getLogger(__name__)

FORMAT, VERSION = "pdaframe-checkpoint", 2
FILENAME = "checkpoint.npz"
#: The pickle checkpoints of earlier pdaframe versions: recognised, never loaded.
LEGACY_FILENAME, LEGACY_MAGIC = "checkpoint.pkl", b"PDAFRAME-CHECKPOINT 1 "


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
    """

    path: Path
    every: int = 1
    config_hash: str = ""
    resume: bool = False

    def __post_init__(self):
        self.path = Path(self.path)
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ConfigError(f"checkpoint_every must be an integer >= 1, got {self.every!r}")

    # what `pdaframe.methods.ensemble.drive` calls (so that it needs no import of this module)
    def encode(self, state):
        """`dumps_state` of ``state`` (a `ConfigError` if it cannot be checkpointed)."""
        return dumps_state(state)

    def save(self, state, payload=None) -> Path:
        """`save` ``state`` here (``payload``: its `encode`, when already computed)."""
        return save(state, self, payload)

    def load_into(self, state) -> bool:
        """`load_into` ``state`` from here (False when there is no file)."""
        return load_into(state, self)


def as_checkpoint(value) -> Checkpoint | None:
    """``value`` as a `Checkpoint`: None, a `Checkpoint`, or a path (every round, no resume)."""
    if value is None or isinstance(value, Checkpoint):
        return value
    if isinstance(value, (str, PathLike)):
        return Checkpoint(value)
    raise TypeError(f"checkpoint must be a path or a pdaframe.io.checkpoint.Checkpoint, got "
                    f"{type(value).__name__}")


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


def replaying(executor, name, checkpoint=None):
    """``executor``, wrapped in a `ReplayExecutor` given a ``checkpoint`` (a `Checkpoint`),
    resumed from its file when asked; else ``executor`` itself."""
    if checkpoint is None:
        return executor
    log = BatchLog(name)
    if checkpoint.resume:
        load_into(log, checkpoint)
    return ReplayExecutor(executor, log, checkpoint)
