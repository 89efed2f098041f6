"""`MPIExecutor`: evaluate a batch over all MPI ranks, SPMD style (mpi4py, imported here only).

Every rank runs the same program and calls ``map(func, items)`` collectively with the same
``items``. Every rank computes a share (rank 0 included; there is no idle master) and every
rank receives all results, in item order, so the algorithm around ``map`` runs identically
on all ranks. Launch with::

    mpiexec -n 4 pdaframe run config.toml

(``pip install mpi4py mpich`` provides ``mpiexec`` on a workstation; on a cluster build
mpi4py against the site MPI: ``MPICC=mpicc pip install --no-binary mpi4py mpi4py``.) This SPMD launch is the supported one. ``python -m mpi4py.futures`` (rank 0 runs the script,
the other ranks wait for pickled tasks) is not: it would have to pickle the problem and its
model for every task, which compiled models cannot always do; `MPIExecutor` refuses to start
under it rather than hang.

Schedules
---------
``"static"``
    Item ``i`` on rank ``i % size``. No communication before the final exchange; best when
    members cost the same and are cheap (well under 10 ms).
``"dynamic"``
    A shared counter on rank 0 (an MPI one-sided window, ``Fetch_and_op``): every rank,
    rank 0 included, takes the next unclaimed index when it is free, so uneven member costs
    (a spin-up that converges slowly, a member near a bound) balance out. Without
    hardware or asynchronous progress, MPI libraries serve one-sided operations only while
    the target rank is inside an MPI call: with the MPICH wheel, every request waited until
    rank 0 had finished its own member. Rank 0 therefore runs a small thread that polls MPI
    (``Iprobe`` every millisecond) while it computes; this needs ``MPI_THREAD_MULTIPLE``
    (mpi4py's default; without it the schedule still works, only less evenly). A compiled
    model that holds the GIL for a whole run delays that thread, so with such models a
    request can still wait for up to one of rank 0's members. The polling costs about 1-2 ms
    per member: for members of a few ms, ``"static"`` is faster.
``"auto"`` (default)
    Static while members are cheap; dynamic from the next `map` on once the previous one
    showed members taking more than ``AUTO_DYNAMIC_SECONDS`` on average on some rank. The
    timings travel with the results, so every rank takes the same decision.

Either way each item is computed by exactly one rank, the same way as in serial, and placed
by its index: results are bit-identical to `SerialExecutor` whatever the number of ranks.

Errors
------
A `pdaframe.PdaframeError` raised by ``func``, or a non-finite result, is a `Failed` record
(`pdaframe.parallel.evaluate`), as in serial. Any other exception is a bug: the rank that
hits it stops taking members (under the dynamic schedule it also tells the others to stop),
the collective exchange still completes, and then **every rank raises the same**
`ExecutorError` (on the rank where it happened, chained to the original exception). Nothing
hangs, the ranks stay in step, and the caller decides (the ``pdaframe`` command reports it
and exits with status 1). ``KeyboardInterrupt`` and other non-``Exception`` exceptions are
not caught.

``map`` also checks that all ranks passed the same items (a hash of the pickled items): a
rank-dependent random draw would otherwise give silently wrong results. Draw member noise
from `pdaframe.parallel.member_rng` (keyed by seed and member index), never by rank.
"""
from __future__ import annotations

import hashlib
import logging
import pickle
import sys
import threading
import time
import traceback

import numpy as np

from ..errors import PdaframeError
from .base import evaluate

log = logging.getLogger(__name__)

SCHEDULES = ("auto", "static", "dynamic")
AUTO_DYNAMIC_SECONDS = 0.05   # mean member time above which "auto" balances dynamically


class ExecutorError(RuntimeError):
    """A member raised an exception that is not a `pdaframe.PdaframeError` (a bug), or the
    ranks called ``map`` with different items. Raised on every rank alike.

    Attributes
    ----------
    index : int or None
        The item whose evaluation raised (the lowest such index), None for a mismatch.
    rank : int or None
        The rank that evaluated it.
    error_type : str
        Name of the original exception's type.
    remote_traceback : str
        The original traceback, formatted on the rank where it happened.
    """

    def __init__(self, message, index=None, rank=None, error_type="", remote_traceback=""):
        super().__init__(message)
        self.index = index
        self.rank = rank
        self.error_type = error_type
        self.remote_traceback = remote_traceback


class MPIExecutor:
    """Spread ``map`` over the ranks of an MPI communicator; all ranks get all results.

    Calling `map` is collective: every rank of ``comm`` must call it, in the same order, with
    the same items. With a single rank it is `SerialExecutor` (a bug in ``func`` raises the
    original exception).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        Default ``MPI.COMM_WORLD``.
    schedule : {"auto", "static", "dynamic"}
        How items are shared out (see the module docstring).

    Attributes
    ----------
    rank, size : int
        This process's rank in ``comm`` and the number of ranks.
    assignment : list of int
        Rank that evaluated each item of the last `map` (diagnostics).

    Examples
    --------
    Under ``mpiexec -n 2 python script.py``::

        ex = MPIExecutor(schedule="static")
        ex.map(abs, [-1, -2, -3])       # [1, 2, 3] on both ranks; ranks 0, 1, 0 computed them
    """

    def __init__(self, comm=None, schedule="auto"):
        from mpi4py import MPI

        if schedule not in SCHEDULES:
            raise PdaframeError(f"unknown MPI schedule {schedule!r}; expected one of "
                                f"{list(SCHEDULES)}")
        core = sys.modules.get("mpi4py.futures._core")
        if comm is None and getattr(core, "SharedPool", None) is not None:
            raise PdaframeError("launched with 'python -m mpi4py.futures': pdaframe's MPI "
                                "runs are SPMD, start them as 'mpiexec -n N pdaframe run "
                                "CONFIG' (or 'mpiexec -n N python script.py')")
        self._MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.schedule = schedule
        self._slow = False               # "auto": members of the last map were expensive
        self.assignment = []
        self._threads_ok = MPI.Query_thread() >= MPI.THREAD_MULTIPLE
        self._local_errors = {}          # index -> exception raised here by the last map

    def __repr__(self):
        return f"MPIExecutor(rank={self.rank}, size={self.size}, schedule={self.schedule!r})"

    def map(self, func, items) -> list:
        """``[func(item) for item in items]`` computed across ranks, on every rank, in order.

        Parameters
        ----------
        func : callable
            Evaluates one item; must not depend on the rank or on state changed by earlier
            items.
        items : iterable
            The same items on every rank.

        Returns
        -------
        list
            ``func(item)`` or a `Failed` record per item, in the order of ``items``.

        Raises
        ------
        ExecutorError
            On every rank, when ``func`` raised something other than a `PdaframeError` on
            any rank, or when the ranks passed different items.
        """
        items = list(items)
        n = len(items)
        if self.size == 1:                        # exactly SerialExecutor
            self.assignment = [0] * n
            return [evaluate(func, item, i) for i, item in enumerate(items)]
        self._local_errors = {}
        dynamic = self.schedule == "dynamic" or (self.schedule == "auto" and self._slow)
        window = self._counter() if dynamic else None
        try:
            self._check_same_items(items)         # collective; also orders the counter reset
            start = time.perf_counter()
            pairs, crash = self._compute(func, items, window)
            mean = (time.perf_counter() - start) / max(len(pairs), 1)
            gathered = self.comm.allgather((self._pack(pairs, crash), mean))
        finally:
            if window is not None:
                window.Free()
        self._slow = max(m for _, m in gathered) > AUTO_DYNAMIC_SECONDS
        gathered = [blob for blob, _ in gathered]
        results = [None] * n
        self.assignment = [-1] * n
        crashes = []
        for rank, blob in enumerate(gathered):
            rank_pairs, rank_crash = pickle.loads(blob)
            for index, value in rank_pairs:
                results[index] = value
                self.assignment[index] = rank
            if rank_crash is not None:
                crashes.append(rank_crash)
        if crashes:
            c = min(crashes, key=lambda c: c["index"])
            raise ExecutorError(
                f"member {c['index']} raised {c['type']} on rank {c['rank']} (not a "
                f"PdaframeError, so a bug rather than a failed run): {c['message']}\n"
                f"--- traceback on rank {c['rank']} ---\n{c['traceback']}",
                index=c["index"], rank=c["rank"], error_type=c["type"],
                remote_traceback=c["traceback"]) from self._local_errors.get(c["index"])
        return results

    # -- pieces of map ------------------------------------------------------------------

    def _counter(self):
        """One-sided window with a single int64 counter on rank 0, set to 0 (collective)."""
        MPI = self._MPI
        win = MPI.Win.Allocate(8 if self.rank == 0 else 0, 8, comm=self.comm)
        if self.rank == 0:
            win.Lock(0, MPI.LOCK_EXCLUSIVE)
            win.Put(np.zeros(1, dtype=np.int64), 0)
            win.Unlock(0)
        return win

    def _check_same_items(self, items):
        try:
            digest = hashlib.blake2b(pickle.dumps(items, protocol=4), digest_size=16).digest()
        except Exception:                         # unpicklable items: compare lengths only
            digest = b""
        mine = (len(items), digest)
        everyone = self.comm.allgather(mine)
        if any(other[0] != mine[0] or (other[1] and mine[1] and other[1] != mine[1])
               for other in everyone):
            raise ExecutorError(
                "MPIExecutor.map was called with different items on different ranks "
                f"(numbers of items per rank: {[e[0] for e in everyone]}). Every rank must "
                "call map with the same items: draw random numbers from "
                "pdaframe.parallel.member_rng(seed, index) or a generator seeded the same "
                "on every rank, never from the rank")

    def _compute(self, func, items, window):
        """Evaluate this rank's share: ``[(index, result)]`` and a crash record or None."""
        pairs = []
        crash = None
        stop_progress = self._start_progress() if window is not None and self.rank == 0 \
            else None
        try:
            for i in self._indices(len(items), window):
                try:
                    pairs.append((i, evaluate(func, items[i], i)))
                except Exception as err:   # a bug in func: finish the collective, then raise
                    crash = self._crash_record(i, err)
                    if window is not None:
                        self._raise_counter(window, len(items))
                    break
        finally:
            if stop_progress is not None:
                stop_progress()
        return pairs, crash

    def _indices(self, n, window):
        """Indices this rank evaluates: ``rank, rank + size, ...`` or the next unclaimed."""
        if window is None:
            yield from range(self.rank, n, self.size)
            return
        while (i := self._fetch(window)) < n:
            yield i

    def _pack(self, pairs, crash) -> bytes:
        """Pickle this rank's results here, so that an unpicklable one becomes a crash record
        instead of an exception inside the collective (which would leave the others waiting)."""
        try:
            return pickle.dumps((pairs, crash), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:
            bad = next((i for i, value in pairs if not _picklable(value)), -1)
            return pickle.dumps(([], self._crash_record(bad, err)),
                                protocol=pickle.HIGHEST_PROTOCOL)

    def _fetch(self, window) -> int:
        MPI = self._MPI
        one = np.ones(1, dtype=np.int64)
        got = np.empty(1, dtype=np.int64)
        window.Lock(0, MPI.LOCK_SHARED)
        window.Fetch_and_op(one, got, 0, 0, MPI.SUM)
        window.Unlock(0)
        return int(got[0])

    def _raise_counter(self, window, n):
        """Push the counter to ``n`` so that the other ranks take no new members."""
        MPI = self._MPI
        window.Lock(0, MPI.LOCK_SHARED)
        window.Accumulate(np.array([n], dtype=np.int64), 0, None, MPI.MAX)
        window.Unlock(0)

    def _start_progress(self):
        """Poll MPI from a thread so that counter requests to rank 0 are served while it
        computes; returns the function that stops the thread."""
        if not self._threads_ok:
            log.debug("MPI thread level below MULTIPLE: no progress thread; rank 0 serves "
                      "counter requests only between its own members")
            return None
        MPI = self._MPI
        comm = self.comm
        stop = threading.Event()

        def poll():
            while not stop.wait(0.001):
                comm.Iprobe(MPI.ANY_SOURCE, MPI.ANY_TAG)

        thread = threading.Thread(target=poll, name="pdaframe-mpi-progress", daemon=True)
        thread.start()

        def finish():
            stop.set()
            thread.join()
        return finish

    def _crash_record(self, index, err):
        log.debug("member %d raised %s on rank %d: %s", index, type(err).__name__,
                  self.rank, err)
        self._local_errors[index] = err
        return {"index": index, "rank": self.rank, "type": type(err).__name__,
                "message": str(err),
                "traceback": "".join(traceback.format_exception(err)).rstrip()}


def _picklable(value) -> bool:
    try:
        pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return False
    return True
