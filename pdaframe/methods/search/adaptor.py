"""The map -> ask/tell adaptor: `MapAskTell` turns an optimiser that evaluates its
population through a map hook (scipy's ``workers=``) into an ask/tell ensemble state.

Why a thread
    scipy has no ask/tell interface, only a map hook (``workers(func, population)``).
    `MapAskTell` turns any such optimiser into an ask/tell state: it runs the optimiser in a
    daemon thread whose map hook hands the population to the caller and waits; ``ask()``
    returns that population, ``tell(results)`` hands the costs back and lets the optimiser
    run on to its next map call (or its end) before returning, so ``done`` is exact. All
    evaluations, and thus all MPI communication, happen in the caller's thread; the
    optimiser thread only does bookkeeping. It never outlives the state: it ends with the
    optimiser, on `MapAskTell.stop` (the entry functions call it after an early stop or an
    error), or when the state is garbage-collected (`weakref.finalize`; the thread holds no
    reference to the state). An exception in the optimiser is re-raised by ``tell`` and
    ``result``. The cost is one short thread switch per generation, nothing per member.
    The alternative, re-implementing DE's ask/tell by hand, would duplicate scipy's
    strategies, dithering, initialisation and convergence test.
Checkpoints of DE (and of any `MapAskTell` whose ``run`` can be checkpointed)
    The thread cannot be stored, and scipy keeps state between generations that its public
    interface neither returns nor accepts: the population in its internal ``[0, 1]`` scaling
    (``intermediate_result.population`` is rescaled, and ``init=`` rescales again, so both
    round off), and an index array that every mutation shuffles in place, so each generation
    depends on all earlier shuffles. Restarting scipy from the checkpointed population would
    therefore not continue the same run. Instead the state logs, per round, the values handed
    to the optimiser (and a digest of what it asked for); a resumed state restarts the
    optimiser from the beginning with the same seed and answers its first map calls from the
    log, without evaluating anything, so it retraces exactly the same path (checked against
    the digests: a `ConfigError` if it does not, e.g. after a scipy upgrade) and continues bit
    for bit as the uninterrupted run would. This needs only the map hook and a deterministic
    optimiser; it costs one stored value per evaluation in the checkpoint and the optimiser's
    own bookkeeping (not the model) for the replayed rounds.

"""
from __future__ import annotations

import collections
import logging
import threading
import weakref

import numpy as np

from ...io.checkpoint import digest
from ...errors import ConfigError
from ..ensemble import EnsembleState, filled
from .shared import Fitness, _check_budget

log = logging.getLogger(__name__)


class _Shutdown(BaseException):
    """Raised in the optimiser thread at its map call to end it (not an `Exception`, so
    libraries that catch ``Exception`` let it through)."""


class _Channel:
    """Hand-over between the optimiser thread and the caller; holds no reference to the
    state, so a dropped state can be collected (and its finaliser stops the thread).

    ``replay``: ``(digest, values)`` of rounds already answered (a resumed state): the
    optimiser's first map calls get these values at once, without the caller.
    """

    def __init__(self, replay=()):
        self._replay = collections.deque(replay)
        self._cond = threading.Condition()
        self._request = None         # members the optimiser waits for
        self._reply = None           # their values, from the caller
        self._closing = False
        self.finished = False
        self.value = None            # what the optimiser returned
        self.error = None            # what it raised

    # optimiser thread
    def map(self, func, items):
        """The map hook given to the optimiser. ``func`` is not called: the caller
        evaluates the members (with the state's ``evaluate``) and `answer` s."""
        items = np.array([np.asarray(x, dtype=float) for x in items])
        if len(items) == 0:
            return []
        if self._replay:
            key, values = self._replay.popleft()
            if key != digest(items):
                raise ConfigError("cannot resume: the optimiser asked for other members than "
                                  "in the checkpointed run (another scipy version?); remove "
                                  "the checkpoint or run without --resume")
            return list(values)
        with self._cond:
            if self._closing:
                raise _Shutdown
            self._request, self._reply = items, None
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._reply is not None or self._closing)
            if self._closing:
                raise _Shutdown
            reply, self._reply = self._reply, None
        return reply

    def main(self, run):
        try:
            self.value = run(self.map)
        except _Shutdown:
            pass
        except BaseException as err:      # handed to the caller by tell()/result()
            self.error = err
        finally:
            with self._cond:
                self.finished, self._request = True, None
                self._cond.notify_all()

    # caller
    def wait(self):
        """Members of the optimiser's next map call, or None once it has ended."""
        with self._cond:
            self._cond.wait_for(lambda: self._request is not None or self.finished)
            return self._request

    def answer(self, values):
        with self._cond:
            self._request, self._reply = None, list(values)
            self._cond.notify_all()

    def close(self, thread, timeout=60.0):
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("optimiser thread %s did not stop within %g s", thread.name,
                            timeout)


#: The finaliser (ends the thread) of each live `MapAskTell`, outside the state's own
#: attributes, so that contents replaced by `pdaframe.io.checkpoint.load_into` still end theirs.
_THREADS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class MapAskTell(EnsembleState):
    """Ask/tell state around an optimiser that evaluates its population through a map hook.

    ``run(map_like)`` starts the optimiser (scipy's ``differential_evolution(...,
    workers=map_like)``, or any library taking a ``map(func, items)``) and returns its
    result; it runs in a daemon thread. Each ``map_like(func, items)`` call becomes one
    ask/tell round: `ask` returns ``items``; `tell` takes the results of ``evaluate`` on
    them, hands the values back to the optimiser and returns once it has reached its next
    map call or its end. ``func`` itself is never called: ``evaluate`` must compute what it
    would (it is what executors run).

    Parameters
    ----------
    problem : Problem
    run : callable
        ``run(map_like) -> value``; must not hold a reference to this state.
    evaluate : callable, optional
        What one member computes (default the problem's cost, `Fitness`).
    fill : float
        Value handed to the optimiser for a `Failed` member and for members beyond the
        budget (default ``+inf``, the worst cost).
    max_runs : int, optional
        Budget of evaluations: a larger request is cut to what is left (the rest get
        ``fill``); a request once the budget is used stops the optimiser.
    name : str
        Name of the thread.

    Attributes
    ----------
    library_result
        What ``run`` returned, once it has (None before, or if it was stopped).
    exhausted : bool
        The optimiser was stopped because the budget was used.
    stopped : bool
        `stop` ended the optimiser before it finished.

    Notes
    -----
    Use the state as a context manager, or call `stop`, to end the thread when abandoning
    a run; it also ends when the state is garbage-collected.

    The state can be checkpointed (`pdaframe.io.checkpoint`) if ``run`` and ``evaluate`` can
    (and it pickles if they do): without its thread, with a log of the values handed to the
    optimiser in every round (it grows by one value per member evaluated). After
    unpickling (or `pdaframe.io.checkpoint.load_into`) the next `ask` or `tell` restarts
    ``run`` and replays the log to it (see the module docstring), so ``run`` must be
    deterministic: the same answers must make it ask for the same members.
    """

    def __init__(self, problem, run, evaluate=None, fill=np.inf, max_runs=None, name="map"):
        super().__init__(problem)
        self.evaluate = Fitness(problem) if evaluate is None else evaluate
        self.fill = fill
        self.max_runs = _check_budget(max_runs)
        self.library_result = None
        self.exhausted = self.stopped = False
        self._members = None
        self._run, self._name = run, name
        self._log = []               # (digest of the members, values handed back) per round
        self._channel = None
        self._start()

    def __getstate__(self):
        state = vars(self).copy()
        state["_channel"] = None     # the thread is restarted, and replayed, on first use
        return state

    def _end_thread(self):
        """End this state's optimiser thread, if it has one."""
        finalizer = _THREADS.pop(self, None)
        if finalizer is not None:
            finalizer()

    def _start(self):
        """End this state's thread (if any) and start ``run`` afresh, replaying the log."""
        self._end_thread()           # e.g. the thread of contents replaced by `load_into`
        self._channel = channel = _Channel(self._log)
        thread = threading.Thread(target=channel.main, args=(self._run,),
                                  name=f"pdaframe-{self._name}", daemon=True)
        _THREADS[self] = weakref.finalize(self, channel.close, thread)
        thread.start()
        self._advance()

    def _attach(self):
        """After unpickling: restart the optimiser, or only end a stale thread if done."""
        if self._channel is None:
            if self.done:
                self._end_thread()
            else:
                self._start()

    def _advance(self):
        """Wait for the optimiser's next request or its end."""
        members = self._channel.wait()
        if members is None:
            self._members = None
            self.stop()
            if self._channel.error is not None:
                raise self._channel.error
            self.library_result = self._channel.value
        elif self.max_runs is not None and self.nfev >= self.max_runs:
            self.exhausted = True
            self.stop()
        else:
            self._members = members

    def ask(self) -> np.ndarray:
        """Members of the pending map call (cut to the budget), ``(n_member, n_param)``."""
        self._attach()
        if self.done:
            raise RuntimeError("ask(): the optimiser has finished")
        members = self._members
        if self.max_runs is not None:
            members = members[:self.max_runs - self.nfev]
        return members.copy()

    def tell(self, results) -> None:
        """Results of `ask`'s members, in order; runs the optimiser to its next request."""
        if self.done:
            raise RuntimeError("tell(): the optimiser has finished")
        members = self.ask()
        values = list(self._values(members, results))
        values += [self.fill] * (len(self._members) - len(values))
        self._log.append((digest(self._members), values))
        self._channel.answer(values)
        self._advance()

    def _values(self, members, results):
        """Values handed to the optimiser: the round checked and counted
        (`EnsembleState._receive`), `Failed` -> ``fill``."""
        return filled(self._receive(results, len(members), self._name), self.fill)

    def result(self):
        """What the optimiser returned (re-raises its exception)."""
        self._attach()
        if self._channel is not None and self._channel.error is not None:
            raise self._channel.error
        return self.library_result

    def stop(self) -> None:
        """End the optimiser thread now (idempotent); the state is then done."""
        if not self.done and (self._channel is None or not self._channel.finished):
            self.stopped = not self.exhausted
        self._end_thread()
        self.done = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
