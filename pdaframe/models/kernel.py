"""`KernelModel`: the Python side of a model whose run is one call of a compiled kernel.

A compiled model (Fortran through f90wrap, C through cffi, ...) runs its whole time loop in
one kernel call that fills a pre-allocated output array and returns a status code. What is
left for Python is the same for every such model, and `KernelModel` does it:

- **validation**: ``theta`` and ``dtheta`` of shape ``(n_param,)`` and finite, ``d_outputs``
  naming known outputs with arrays of shape ``(n_steps,)``, finite; each a `ModelError`
  naming the parameter, output or step;
- **allocation**: the ``(n_run, n_columns)`` output arrays, in Fortran (``"F"``,
  column-major: what f90wrap wants for ``intent(inout)``) or C order;
- **status -> ModelError**: a non-zero status becomes a `ModelError` with the subclass's
  message (`kernel_error`; `step_text` names a step and its date, `parameter_text` a
  parameter and its value), and non-finite outputs one naming the output, step and date;
- **caching**: the last forward run is kept (read-only), so ``adjoint(theta, ...)`` after
  ``run(theta)`` reuses it as the trajectory instead of running the kernel again;
- **the time axis**: ``time`` from the drivers' dates, or from a ``start`` and a ``step``
  (`time_axis`), less ``warmup`` leading steps that are run but not returned;
- **outputs**: ``{name: column}`` in the order of ``kernel_outputs``, plus outputs that are
  a kernel output times a constant (``scaled_outputs``, e.g. a unit conversion), carried
  through tangent and adjoint; ``run(theta, outputs=...)`` and ``tangent(..., outputs=...)``
  return only the outputs asked for (`pdaframe.interfaces`: only the outputs that are
  needed), and a kernel that can store only some columns (``selects_columns``) computes
  only those.

A subclass declares ``parameters`` (usually `load_parameter_table` of a file in its
package), ``kernel_outputs`` (the kernel's columns, in order), ``output_units`` (every
output), and implements the kernel calls; ``tangent``/``adjoint`` exist only when it
implements ``kernel_tangent``/``kernel_adjoint`` (otherwise pdaframe uses finite
differences). The calls receive float64 arrays and return a status: ``None`` or ``0`` for
success, else an int code or a sequence whose first item is the code (f90wrap returns
scalar ``intent(out)`` arguments as a tuple, e.g. ``(ierr, fail_step, fail_index)``)::

    kernel_run(theta, out) -> status
        fill out, shape (n_run, n_kernel_outputs)
    kernel_tangent(theta, dtheta, dout) -> status                 (optional)
        fill dout (like out) with the outputs' derivative along dtheta
    kernel_adjoint(theta, out, out_bar, theta_bar) -> status      (optional)
        out: the forward outputs (read-only); out_bar: the outputs' sensitivities (zero
        where none); add sum J.T @ out_bar to theta_bar (zeros, shape (n_param,))
    kernel_error(status, theta) -> str
        what a failing status means (the base puts "<name>: " in front)

A kernel that stores only the columns asked for sets ``selects_columns = True``; its calls
then take ``columns``, the sorted 0-based numbers of the kernel outputs to store, and the
arrays have one column per number, in that order. Its adjoint reads from the forward run
only the columns named by ``adjoint_needs`` (its trajectory, e.g. the pools), ``None`` when
that is empty; the base keeps storing them in every run while gradients are asked at the
points of runs (and stops when they go unused), so an adjoint after ``run(theta)`` needs no
second forward run::

    kernel_run(theta, out, columns)
    kernel_tangent(theta, dtheta, dout, columns)
    kernel_adjoint(theta, trajectory, out_bar, theta_bar, columns)

Nothing here imports a compiled module (or JAX): the subclass's kernel calls do.

Examples
--------
A C kernel wrapped with cffi (``lib.decay_run(n, theta, out)`` fills ``out[n][2]``, C order)::

    from pathlib import Path
    from pdaframe.plugin import KernelModel, load_parameter_table
    from ._decay_cffi import ffi, lib

    class Decay(KernelModel):
        name = "decay"
        parameters = load_parameter_table(Path(__file__).with_name("parameters.toml"))
        kernel_outputs = ("carbon", "flux")
        output_units = {"carbon": "g C m-2", "flux": "g C m-2 day-1"}
        order = "C"

        def __init__(self, n_days=365, start="2000-01-01"):
            super().__init__(n_days, start=start, step="1D")

        def kernel_run(self, theta, out):
            ptr = lambda a: ffi.from_buffer("double *", a)
            return lib.decay_run(self.n_run, ptr(theta), ptr(out))

        def kernel_error(self, status, theta):
            return f"kernel status {status}"
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import numpy as np

from ..errors import ConfigError, DataError, ModelError, PluginError
from ..interfaces import Model, check_parameter_vector
from .time_axis import time_axis


class KernelModel(Model):
    """Base class of a model run by a compiled kernel (see the module docstring).

    Parameters
    ----------
    n_run : int
        Steps the kernel runs, warm-up included.
    time : array_like of datetime64, shape (n_run,), optional
        The date of each step (from the drivers; the drivers' reader checks their order: a
        spin-up may repeat a year).
    start, step : optional
        Instead of ``time``: the first date and the step (`time_axis`; ``step`` default
        ``"1D"``). Without ``time`` and ``start`` the model has no ``time`` attribute, and
        streams place observations by integer step index.
    warmup : int
        Leading steps that are run but not returned; outputs and ``time`` start after them.

    Attributes
    ----------
    n_run : int
        Steps per kernel call.
    n_steps : int
        Steps returned (``n_run - warmup``); ``n`` is the same number.
    warmup : int
    run_time : ndarray of datetime64 or None
        Dates of all ``n_run`` steps (warm-up included): the dates of the kernel's steps.
    time : ndarray of datetime64
        Dates of the returned steps (absent when the model has no dates).

    Class attributes a subclass sets
    --------------------------------
    name : str
        Used in error messages (default: the class name in lower case).
    parameters : tuple of Parameter
        The parameter table, in the order of ``theta``.
    kernel_outputs : tuple of str
        The kernel's output columns, in order.
    output_units : mapping
        Units of every output (kernel outputs and ``scaled_outputs``).
    scaled_outputs : mapping
        ``{name: (kernel output, factor)}``: outputs that are a kernel output times a
        constant; returned after the kernel outputs.
    order : {"F", "C"}
        Memory order of the arrays the kernel fills: ``"F"`` (Fortran, f90wrap), ``"C"``.
    selects_columns : bool
        The kernel calls take ``columns`` and store only those (module docstring).
    adjoint_needs : tuple of str
        With ``selects_columns``: the kernel outputs the adjoint reads from the forward run.
    check_finite : bool
        Check ``theta`` and the forward outputs for NaN/inf (a `ModelError` naming the
        parameter, or the output, step and date); turn off when the kernel checks them.
    cache : bool
        Keep the last forward run (for the adjoint, and a repeated ``run(theta)``).
        Call `clear_cache` after changing anything the kernel reads.

    Raises
    ------
    ConfigError
        ``n_run``/``warmup`` not whole numbers with ``0 <= warmup < n_run``, or a bad
        ``start``/``step``.
    DataError
        ``time`` not datetime64 of shape ``(n_run,)``.
    PluginError
        (when the subclass is defined) inconsistent class attributes: an output without
        units, a scaled output of an unknown kernel output, an unknown ``order``.
    """

    name: str = ""
    kernel_outputs: tuple[str, ...] = ()
    scaled_outputs: Mapping[str, tuple[str, float]] = MappingProxyType({})
    order: str = "F"
    selects_columns: bool = False
    adjoint_needs: tuple[str, ...] = ()
    check_finite: bool = True
    cache: bool = True
    kernel_tangent = None
    kernel_adjoint = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.name:
            cls.name = cls.__name__.lower()
        if cls.kernel_outputs:
            _check_declaration(cls)

    def __init__(self, n_run, time=None, *, start=None, step="1D", warmup=0):
        for value, what in ((n_run, "n_run"), (warmup, "warmup")):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ConfigError(f"{self.name}: {what} must be a whole number, got {value!r}")
        if not 0 <= warmup < n_run:
            raise ConfigError(f"{self.name}: warmup must be a whole number of steps in "
                              f"[0, {n_run}), got {warmup!r}")
        self.n_run = int(n_run)
        self.warmup = int(warmup)
        self.n_steps = self.n_run - self.warmup
        if time is not None and start is not None:
            raise ConfigError(f"{self.name}: give the dates (time) or start and step, not both")
        if start is not None:
            time = time_axis(start, self.n_run, step)
        self.run_time = None if time is None else self._check_time(time)
        self._column = {name: j for j, name in enumerate(self.kernel_outputs)}
        self._names = (*self.kernel_outputs, *self.scaled_outputs)
        self._all = tuple(range(len(self.kernel_outputs)))
        self._needs = (tuple(sorted(self._column[n] for n in self.adjoint_needs))
                       if self.selects_columns else self._all)
        self._selections, self._plans, self._needs_at = {}, {}, {}
        self.clear_cache()

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """The parameters' names, in order (kept while ``parameters`` is the same table)."""
        kept = self.__dict__.get("_parameter_names")
        if kept is None or kept[0] is not self.parameters:
            kept = self._parameter_names = (self.parameters,
                                            tuple(p.name for p in self.parameters))
        return kept[1]

    @property
    def n(self) -> int:
        """Steps returned (``n_steps``)."""
        return self.n_steps

    @property
    def time(self) -> np.ndarray:
        """Dates of the returned steps; an AttributeError when the model has no dates."""
        if self.run_time is None:
            raise AttributeError(f"{self.name} has no dates (no time or start given)")
        return self.run_time[self.warmup:]

    def clear_cache(self):
        """Forget the cached forward run (after changing what the kernel reads)."""
        self._last = (None, (), None)        # (theta bytes, columns stored, outputs)
        self._keep_needs, self._needs_used = False, True   # store adjoint_needs in every
        # run; the last run's stored needs went to `adjoint`

    # --- the calls a subclass implements -----------------------------------------------------
    def kernel_run(self, theta, out, *columns):
        """Fill ``out`` (shape ``(n_run, n_columns)``) at ``theta``; return a status."""
        raise NotImplementedError(f"{type(self).__name__} must implement kernel_run")

    def kernel_error(self, status, theta) -> str:
        """What a failing ``status`` means (override: name the parameter, step, date)."""
        return f"kernel status {_code(status)} ({status!r})"

    # --- run, tangent, adjoint ---------------------------------------------------------------
    def run(self, theta, outputs=None) -> dict[str, np.ndarray]:
        """Run the kernel at ``theta``.

        Parameters
        ----------
        theta : array_like, shape (n_param,)
        outputs : collection of str, optional
            The outputs needed (default: all); names the model does not have are left out.

        Returns
        -------
        dict of ndarray, each shape (n_steps,)
            The outputs (``kernel_outputs`` then ``scaled_outputs``, or those asked for),
            read-only; the values do not depend on the selection.

        Raises
        ------
        ModelError
            ``theta`` of the wrong shape or not finite, a failing kernel status, or
            non-finite outputs (``check_finite``); ``theta`` is attached.
        """
        columns, names = self._selection(outputs)
        if not names:
            return {}
        theta = self._check_theta(theta)
        stored, out = self._forward(theta, columns)
        return self._outputs(out, stored, names)

    @property
    def tangent(self):
        """``tangent(theta, dtheta, outputs=None)``: the outputs' derivative along
        ``dtheta`` (same keys and shapes as `run`); an AttributeError when the kernel has no
        tangent linear."""
        if self.kernel_tangent is None:
            raise AttributeError(f"{self.name} has no tangent linear (no kernel_tangent)")
        return self._tangent

    @property
    def adjoint(self):
        """``adjoint(theta, d_outputs)``: ``sum_name J_name.T @ d_outputs[name]``, shape
        ``(n_param,)`` (missing outputs have zero sensitivity); an AttributeError when the
        kernel has no adjoint."""
        if self.kernel_adjoint is None:
            raise AttributeError(f"{self.name} has no adjoint (no kernel_adjoint)")
        return self._adjoint

    def _tangent(self, theta, dtheta, outputs=None):
        columns, names = self._selection(outputs)
        if not names:
            return {}
        theta = self._check_theta(theta)
        dtheta = self._check_theta(dtheta, "dtheta")
        dout = self._empty(columns)
        self._check_status(self.kernel_tangent(theta, dtheta, dout, *self._extra(columns)),
                           theta)
        return self._outputs(dout, columns, names)

    def _adjoint(self, theta, d_outputs):
        theta = self._check_theta(theta)
        columns, out_bar = self._output_bar(d_outputs)
        trajectory = self._trajectory(theta)
        theta_bar = np.zeros(len(self.parameters))
        self._check_status(self.kernel_adjoint(theta, trajectory, out_bar, theta_bar,
                                               *self._extra(columns)), theta)
        return theta_bar

    # --- the shared steps --------------------------------------------------------------------
    def _extra(self, columns) -> tuple:
        return (columns,) if self.selects_columns else ()

    def _empty(self, columns) -> np.ndarray:
        return np.empty((self.n_run, len(columns)), order=self.order)

    def _selection(self, outputs):
        """``(kernel columns to compute, output names to return)`` for ``outputs``."""
        key = None if outputs is None else frozenset(
            (outputs,) if isinstance(outputs, str) else outputs)
        found = self._selections.get(key)
        if found is None:
            names = tuple(n for n in self._names if key is None or n in key)
            columns = tuple(sorted({self._column[self.scaled_outputs[n][0]]
                                    if n in self.scaled_outputs else self._column[n]
                                    for n in names})) if self.selects_columns else self._all
            found = self._selections[key] = (columns, names)
        return found

    def _forward(self, theta, columns):
        """``(columns stored, outputs)`` of a run at ``theta`` holding (at least) ``columns``;
        the outputs read-only, the last run cached."""
        key = theta.tobytes()
        last = self._last                            # one read: safe under threads
        if self.cache and last[0] == key and (columns == last[1] or
                                              set(columns) <= set(last[1])):
            return last[1], last[2]
        if self.selects_columns and self._needs:
            if not self._needs_used:                 # stored needs went unused: stop
                self._keep_needs = False
            if self._keep_needs:
                columns = tuple(sorted(set(columns) | set(self._needs)))
            self._needs_used = not self._keep_needs
        out = self._run_kernel(theta, columns)
        if self.cache:
            self._last = (key, columns, out)
        return columns, out

    def _run_kernel(self, theta, columns) -> np.ndarray:
        out = self._empty(columns)
        self._check_status(self.kernel_run(theta, out, *self._extra(columns)), theta)
        if self.check_finite:
            self._check_finite(out, columns, theta)
        out.flags.writeable = False                  # shared with the caller and the cache
        return out

    def _trajectory(self, theta):
        """What ``kernel_adjoint`` reads of the forward run at ``theta``: the whole run, or
        (``selects_columns``) its ``adjoint_needs`` columns or None; from the cache when it
        holds them, else a new run."""
        needs = self._needs
        if not self.selects_columns:
            return self._forward(theta, needs)[1]
        if not needs:
            return None
        key, stored, out = self._last
        if key == theta.tobytes() and set(needs) <= set(stored):
            self._needs_used = True
            at = self._needs_at.get(stored)
            if at is None:
                at = [stored.index(c) for c in needs]
                if at == list(range(at[0], at[0] + len(at))):  # a slice: no copy
                    at = slice(at[0], at[0] + len(at))
                self._needs_at[stored] = at
            return out[:, at] if isinstance(at, slice) else np.array(out[:, at],
                                                                     order=self.order)
        if key == theta.tobytes():                   # a gradient at the last run's point
            self._keep_needs = True
        return self._run_kernel(theta, needs)

    def _outputs(self, out, columns, names) -> dict[str, np.ndarray]:
        """``{name: column}`` of ``out`` (holding ``columns``) for ``names``, after the
        warm-up; scaled outputs computed."""
        plan = self._plans.get((columns, names))
        if plan is None:
            at = {c: i for i, c in enumerate(columns)}
            plan = self._plans[(columns, names)] = (
                [(n, at[self._column[n]]) for n in names if n in self._column],
                [(n, at[self._column[self.scaled_outputs[n][0]]], self.scaled_outputs[n][1])
                 for n in names if n in self.scaled_outputs])
        kept = out[self.warmup:] if self.warmup else out
        result = {n: kept[:, i] for n, i in plan[0]}
        for n, i, factor in plan[1]:
            result[n] = kept[:, i] * factor
        return result

    def _output_bar(self, d_outputs):
        """``(columns, out_bar)`` for the kernel's adjoint from ``d_outputs`` (the columns
        of the outputs given, or all; zeros in the warm-up)."""
        names = self._names
        if not d_outputs.keys() <= self._column.keys() | self.scaled_outputs.keys():
            unknown = sorted(set(d_outputs) - set(names))
            raise ModelError(f"{self.name} adjoint: unknown output(s) {unknown}; the outputs "
                             f"are {list(names)}")
        given = [n for n in names if d_outputs.get(n) is not None]
        columns = self._selection(given or names[:1])[0]
        out_bar = np.zeros((self.n_run, len(columns)), order=self.order)
        at = columns.index
        bar = out_bar[self.warmup:] if self.warmup else out_bar
        for name in given:
            value = np.asarray(d_outputs[name], dtype=np.float64)
            if value.shape != (self.n_steps,):
                raise ModelError(f"{self.name} adjoint: d_outputs[{name!r}] has shape "
                                 f"{value.shape}, expected ({self.n_steps},)")
            if not np.all(np.isfinite(value)):
                step = int(np.flatnonzero(~np.isfinite(value))[0]) + self.warmup
                raise ModelError(f"{self.name} adjoint: d_outputs[{name!r}] is not finite "
                                 f"at {self.step_text(step)}")
            if name in self._column:                 # (kernel outputs come first)
                bar[:, at(self._column[name])] = value
            else:
                source, factor = self.scaled_outputs[name]
                bar[:, at(self._column[source])] += factor * value
        return columns, out_bar

    def _check_theta(self, theta, what="theta") -> np.ndarray:
        """``theta`` as a new float64 array (the kernel never sees the caller's)."""
        arr = check_parameter_vector(self.name, self.parameter_names, theta, what)
        if what == "theta" and self.check_finite and not np.isfinite(arr).all():
            i = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise ModelError(f"{self.name}: {self.parameter_text(i, arr)} is invalid: "
                             f"must be a finite number", theta)
        return arr

    def _check_status(self, status, theta):
        if _code(status):
            raise ModelError(f"{self.name}: {self.kernel_error(status, theta)}", theta=theta)

    def _check_finite(self, out, columns, theta):
        bad = ~np.isfinite(out)
        if bad.any():
            step, j = (int(i[0]) for i in np.nonzero(bad))
            raise ModelError(f"{self.name}: output {self.kernel_outputs[columns[j]]!r} is "
                             f"{float(out[step, j])} at {self.step_text(step)}", theta=theta)

    # --- message helpers for kernel_error ----------------------------------------------------
    def step_text(self, step) -> str:
        """``"step 17 (0-based, of 1827; dated 2012-01-18)"`` for kernel step ``step``."""
        step = int(step)
        date = ""
        if self.run_time is not None and 0 <= step < self.n_run:
            date = f"; dated {self.run_time[step]}"
        return f"step {step} (0-based, of {self.n_run}{date})"

    def parameter_text(self, index, theta) -> str:
        """``"parameter 'cmax' = -1.0"`` for the 0-based ``index`` into ``theta``."""
        index = int(index)
        return f"parameter {self.parameter_names[index]!r} = {float(theta[index])!r}"

    def _check_time(self, time) -> np.ndarray:
        arr = np.asarray(time)
        if arr.dtype.kind != "M" or arr.shape != (self.n_run,):
            raise DataError(f"{self.name}: time must be {self.n_run} dates (datetime64), got "
                            f"{arr.dtype} of shape {arr.shape}")
        return arr


def _code(status) -> int:
    """The status code of a kernel call: 0 for success (``None`` too)."""
    if status is None:
        return 0
    if isinstance(status, (tuple, list, np.ndarray)):
        status = status[0]
    return int(status)


def _check_declaration(cls):
    """The class attributes of a `KernelModel` subclass agree (a `PluginError` if not)."""
    outputs = list(cls.kernel_outputs) + list(cls.scaled_outputs)
    problems = []
    if len(set(outputs)) != len(outputs):
        problems.append(f"an output name appears twice in kernel_outputs/scaled_outputs "
                        f"{outputs}")
    for name, spec in cls.scaled_outputs.items():
        if not (isinstance(spec, tuple) and len(spec) == 2 and spec[0] in cls.kernel_outputs):
            problems.append(f"scaled_outputs[{name!r}] = {spec!r} is not (kernel output, "
                            f"factor)")
    no_units = [n for n in outputs if n not in cls.output_units]
    if no_units:
        problems.append(f"output_units lacks {no_units}")
    extra = sorted(set(cls.output_units) - set(outputs))
    if extra:
        problems.append(f"output_units names {extra}, not outputs")
    if cls.order not in ("F", "C"):
        problems.append(f"order = {cls.order!r}, expected 'F' or 'C'")
    unknown = [n for n in cls.adjoint_needs if n not in cls.kernel_outputs]
    if unknown:
        problems.append(f"adjoint_needs names {unknown}, not kernel outputs")
    if problems:
        raise PluginError(f"{cls.__module__}.{cls.__qualname__} (a KernelModel): "
                          + "; ".join(problems))
