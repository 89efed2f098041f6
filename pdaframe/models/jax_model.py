"""Models written in JAX: the tangent linear (jvp) and the adjoint (vjp) without hand-written code.

A model author subclasses `JaxModel` and writes the model once, as a JAX function, in one of
two forms:

- ``run_jax(self, theta) -> {output: array}``: the whole run, each output with time first; or
- a step scanned over time with `jax.lax.scan`: ``init_jax(self, theta) -> state`` (any
  pytree), ``step_jax(self, state, forcing_t, theta) -> (state, {output: value at t})``
  and the attribute ``forcing`` (a pytree of arrays with time first, e.g. a dict of driver
  columns); the outputs are then the step values stacked over time.

The base provides `run`, `tangent` (``jax.jvp``) and `adjoint` (``jax.vjp``) as pdaframe
expects them (numpy in, read-only numpy arrays out; the last run is cached), each compiled once with ``jax.jit`` on the CPU in float64
(`enable_x64` is switched on when the first `JaxModel` is made: it is a process-wide JAX
setting). ``theta`` arrives in ``run_jax`` as a float64 JAX array of shape ``(n_param,)``.
Write the model with ``jax.numpy`` and ``jax.lax`` (no Python ``if`` on values that depend on
``theta``: use ``jnp.where``) and compute in float64.

Checks, before or at the first compilation: ``run_jax`` must return a dict of arrays, each
float64 with time first, with the outputs ``output_units`` declares (when it declares any);
anything else (a float32 output, a Python number, a list, a tuple
of arrays) is a `PluginError` naming the model, the output and what to change, raised before
any value is computed. Each run then checks ``theta`` (`check_theta`, shape and, for a
direction, finiteness; subclasses add their own rules) and the outputs (`check_outputs`: a
non-finite value is a `ModelError` naming the output and the step), so minimisers reject
such points as with any other model.

JAX is an optional dependency (``pip install "pdaframe[jax]"``): this module imports it only
when a `JaxModel` is made, so the core and the compiled plugins never need it, and a plugin
built on `JaxModel` registers without it (making the model then says what to install).

Examples
--------
>>> import numpy as np
>>> from pdaframe.plugin import JaxModel, Parameter
>>> class Decay(JaxModel):
...     parameters = (Parameter("k", 0.1, lower=0.0, std=0.05),
...                   Parameter("c0", 100.0, lower=0.0, std=20.0))
...     output_units = {"carbon": "g m-2"}
...     def __init__(self, n_days=30):
...         self.t = np.arange(float(n_days))
...     def run_jax(self, theta):
...         jax, jnp = self.jax()          # JAX imported here, not at module level
...         return {"carbon": theta[1] * jnp.exp(-theta[0] * self.t)}
>>> model = Decay()                                       # doctest: +SKIP
>>> model.adjoint(model.defaults, {"carbon": np.ones(30)})     # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelError, PluginError
from ..interfaces import Model, check_parameter_vector

#: what to install when JAX is missing
INSTALL_HINT = 'pip install "pdaframe[jax]"'


def import_jax():
    """``(jax, jax.numpy)`` with float64 enabled, or a `PluginError` saying what to install."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as err:
        raise PluginError(f"JAX models need JAX, which is not installed ({err}); install "
                          f"the extra: {INSTALL_HINT}") from None
    if not jax.config.read("jax_enable_x64"):
        jax.config.update("jax_enable_x64", True)
    return jax, jnp


class JaxModel(Model):
    """Base class of a model written in JAX; see the module docstring.

    Subclasses set ``parameters`` and ``output_units`` as for `Model` and write ``run_jax``
    (or ``init_jax``, ``step_jax`` and ``forcing``); they may extend `check_theta` and
    `check_outputs`. Subclasses need not call ``JaxModel.__init__``.

    Attributes
    ----------
    scan_unroll : int
        Steps per loop iteration of the step form's `jax.lax.scan` (``unroll``): larger
        values compile longer and may run faster.
    """

    scan_unroll = 1

    # --- what the author writes ---------------------------------------------------------
    def run_jax(self, theta):
        """The run as a JAX function: ``{output: array}``, time first (see the module).

        The default scans ``step_jax`` from ``init_jax(theta)`` over ``forcing``.
        """
        jax, _ = import_jax()
        if type(self).step_jax is JaxModel.step_jax or getattr(self, "forcing", None) is None:
            raise PluginError(f"{self._name()}: a JaxModel writes run_jax(theta) -> "
                              f"{{output: array}}, or init_jax(theta), step_jax(state, "
                              f"forcing_t, theta) and the attribute forcing (arrays with "
                              f"time first)")
        _, outputs = jax.lax.scan(lambda state, x: self.step_jax(state, x, theta),
                                  self.init_jax(theta), self.forcing,
                                  unroll=self.scan_unroll)
        return outputs

    def init_jax(self, theta):
        """The state at the start of the run (step form), e.g. the initial pools."""
        raise PluginError(f"{self._name()}: step_jax needs init_jax(theta) -> state")

    def step_jax(self, state, forcing_t, theta):
        """One step (step form): ``(state at t+1, {output: value at t})``."""
        raise NotImplementedError

    @staticmethod
    def jax():
        """``(jax, jax.numpy)`` with float64 enabled (`import_jax`): import JAX inside
        methods with it, so a plugin's modules import without JAX."""
        return import_jax()

    # --- checks subclasses may extend ---------------------------------------------------
    def check_theta(self, theta, what="theta") -> np.ndarray:
        """``theta`` (or a direction, ``what="dtheta"``) as a new float64 array, checked.

        Raises
        ------
        ModelError
            Wrong shape (naming the parameters), or a non-finite direction.
        """
        self._n_param()                          # a PluginError without a parameter table
        return check_parameter_vector(self._name(), self.parameter_names, theta, what)

    def check_outputs(self, theta, outputs) -> None:
        """Raise `ModelError` for a non-finite output, naming it and the first bad step."""
        for name, values in outputs.items():
            bad = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
            if bad.size:
                raise ModelError(f"{self._name()}: output {name!r} is not finite at "
                                 f"{self._when(int(bad[0]))} ({bad.size} steps in all)",
                                 theta=theta)

    # --- what pdaframe calls ----------------------------------------------------------------
    def run(self, theta, outputs=None):
        """Run the model: ``{output: ndarray}``, time first.

        ``outputs`` (the names a problem needs; `pdaframe.interfaces.selects_outputs`) is
        accepted and ignored: XLA computes the whole run as one compiled function, so every
        output is returned (the protocol allows more than asked).

        Raises
        ------
        PluginError
            ``run_jax`` returns something other than a dict of float64 arrays.
        ModelError
            ``theta`` is invalid (`check_theta`) or an output is not finite.
        """
        theta = self.check_theta(theta)
        key = theta.tobytes()
        cached = getattr(self, "_jax_last", None)
        if cached is not None and cached[0] == key:
            return dict(cached[1])
        outputs = self._numpy(self._compiled("run")(self._put(theta)))
        self.check_outputs(theta, outputs)
        self._jax_last = (key, outputs)
        return dict(outputs)

    def tangent(self, theta, dtheta, outputs=None):
        """Tangent linear along ``dtheta`` (``jax.jvp``): ``{output: J_output @ dtheta}``;
        ``outputs`` is ignored, as in `run`."""
        theta = self.check_theta(theta)
        dtheta = self.check_theta(dtheta, "dtheta")
        outputs, douts = self._compiled("tangent")(self._put(theta), self._put(dtheta))
        self.check_outputs(theta, self._numpy(outputs))
        return self._numpy(douts)

    def adjoint(self, theta, d_outputs):
        """Adjoint (``jax.vjp``): ``sum_output J_output.T @ d_outputs[output]``, shape
        ``(n_param,)``; outputs missing from ``d_outputs`` have zero sensitivity.

        Raises
        ------
        ModelError
            As `run`, or ``d_outputs`` names an unknown output or holds a wrongly shaped or
            non-finite array.
        """
        theta = self.check_theta(theta)
        spec = self._output_spec()
        unknown = sorted(set(d_outputs) - set(spec))
        if unknown:
            raise ModelError(f"{self._name()} adjoint: unknown output(s) {unknown}; the "
                             f"outputs are {list(spec)}")
        cot = {}
        for name, shape in spec.items():
            value = d_outputs.get(name)
            value = np.zeros(shape) if value is None else np.asarray(value, dtype=np.float64)
            if value.shape != shape:
                raise ModelError(f"{self._name()} adjoint: d_outputs[{name!r}] has shape "
                                 f"{value.shape}, expected {shape}")
            if not np.all(np.isfinite(value)):
                raise ModelError(f"{self._name()} adjoint: d_outputs[{name!r}] is not finite")
            cot[name] = self._put(value)
        outputs, grad = self._compiled("adjoint")(self._put(theta), cot)
        self.check_outputs(theta, self._numpy(outputs))
        return np.array(grad, dtype=np.float64)

    # --- compilation ------------------------------------------------------------------------
    def _checked_run(self, theta):
        """``run_jax`` with its result checked (at trace time, before any value exists)."""
        outputs = self.run_jax(theta)
        jax, jnp = import_jax()
        where = f"{self._name()}: run_jax"
        if not isinstance(outputs, dict) or not outputs:
            what = "an array" if isinstance(outputs, (jax.Array, np.ndarray)) else \
                "an empty dict" if isinstance(outputs, dict) else f"a {type(outputs).__name__}"
            raise PluginError(f"{where} returned {what}; return a dict {{output name: array "
                              f"with time first}}")
        for name, value in outputs.items():
            if not isinstance(name, str):
                raise PluginError(f"{where}: output name {name!r} is not a string")
            if not isinstance(value, (jax.Array, np.ndarray)):
                raise PluginError(f"{where}: output {name!r} is a {type(value).__name__}, "
                                  f"not an array; return a jax.numpy array with time first "
                                  f"(e.g. jnp.stack of the steps' values)")
            if value.dtype != jnp.float64:
                raise PluginError(f"{where}: output {name!r} is {value.dtype}, expected "
                                  f"float64; compute in float64 (no astype(jnp.float32), "
                                  f"no float32 constants or arrays: jnp.asarray(x, "
                                  f"dtype=jnp.float64))")
            if value.ndim < 1:
                raise PluginError(f"{where}: output {name!r} is a scalar; outputs have "
                                  f"time first (shape (n_steps, ...))")
        declared = set(self.output_units or outputs)
        if set(outputs) != declared:
            raise PluginError(f"{where} returned the outputs {sorted(outputs)}, but "
                              f"output_units declares {sorted(declared)}; return the "
                              f"declared outputs (or declare what is returned)")
        return outputs

    def _output_spec(self) -> dict:
        """``{output: shape}`` from tracing ``run_jax`` once (no computation)."""
        spec = getattr(self, "_jax_spec", None)
        if spec is None:
            jax, jnp = import_jax()
            shapes = jax.eval_shape(self._checked_run,
                                    jax.ShapeDtypeStruct((self._n_param(),), jnp.float64))
            spec = self._jax_spec = {k: tuple(v.shape) for k, v in shapes.items()}
        return spec

    def _compiled(self, which):
        """The jit-compiled ``run``, ``tangent`` or ``adjoint`` function."""
        table = self.__dict__.setdefault("_jax_fns", {})
        if which not in table:
            jax, _ = import_jax()
            self._output_spec()                  # the output checks, before compiling
            f = self._checked_run
            if which == "run":
                fn = f
            elif which == "tangent":
                def fn(theta, dtheta):
                    return jax.jvp(f, (theta,), (dtheta,))
            else:
                def fn(theta, cotangent):
                    outputs, pullback = jax.vjp(f, theta)
                    return outputs, pullback(cotangent)[0]
            table[which] = jax.jit(fn)
        return table[which]

    def _put(self, array):
        """``array`` as a float64 JAX array on the CPU."""
        jax, jnp = import_jax()
        return jax.device_put(jnp.asarray(array, dtype=jnp.float64), jax.devices("cpu")[0])

    @staticmethod
    def _numpy(outputs) -> dict:
        return {k: np.asarray(v) for k, v in outputs.items()}

    def __getstate__(self):
        """Pickled without the compiled functions and caches (recompiled where unpickled)."""
        state = dict(self.__dict__)
        for key in ("_jax_fns", "_jax_spec", "_jax_last"):
            state.pop(key, None)
        return state

    # --- messages -----------------------------------------------------------------------
    def _n_param(self) -> int:
        if not self.parameters:
            raise PluginError(f"{self._name()}: a JaxModel declares its parameter table "
                              f"(parameters = (Parameter(...), ...))")
        return len(self.parameters)

    def _name(self) -> str:
        return getattr(self, "name", None) or type(self).__name__

    def _when(self, step) -> str:
        time = getattr(self, "time", None)
        try:
            return f"step {step} ({time[step]})"
        except (TypeError, IndexError):
            return f"step {step}"
