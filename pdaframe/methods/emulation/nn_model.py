"""A trained neural emulator as a model: `EmulatorModel` (run, tangent, adjoint, file).

`train_emulator_model` runs a model at a Latin-hypercube or Sobol design in a box (the GP
toolkit's `design` and `run_design`), trains an `NNEmulator` on the chosen outputs
(flattened side by side, each output divided by its own RMS spread so outputs in different
units weigh alike, then the emulator's common scale and PCA) and returns an `EmulatorModel`:
``parameter_names``, ``run``, ``tangent`` (``jax.jvp``) and ``adjoint`` (``jax.vjp``) of the
emulated outputs, the original model's parameter table, units and time axis. Any method
uses it like a model (4D-Var with its adjoint, samplers, CES): a differentiable stand-in
for a model without a tangent linear or adjoint (the review's §4.3.2).

`EmulatorModel.save` writes one ``.npz`` (``numpy.savez``, no pickle: weights, scalings,
PCA basis, parameter names and table, output layout, time axis, the model's id and the
values of the parameters held fixed); `load_emulator` reads it back (predictions bit for bit
those of the saved emulator) and, given the model or the parameter names it is meant for,
refuses a file trained for another model or parameter set (`ConfigError` naming the file,
the field, what was expected and what the file holds). ``load_emulator`` is also the
registered model factory ``nn-emulator`` (``[model] name = "nn-emulator"``, ``options =
{ file = "...", model = "dalec2", parameters = [...] }``).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import ConfigError, DataError, ModelError
from ...interfaces import Parameter, check_parameter_vector
from ...npz_file import read_npz, write_npz
from .gp import design, run_design
from .nn import NNEmulator, import_jax

FORMAT = "pdaframe-nn-emulator-1"


def model_id(model) -> str:
    """``name (module.Class)`` of a model (through a `FixedParameters` view)."""
    inner = getattr(model, "model", None)
    base = inner if inner is not None and hasattr(model, "fixed") else model
    cls = type(base)
    return f"{getattr(base, 'name', None) or cls.__name__} ({cls.__module__}.{cls.__qualname__})"


def fixed_values(model) -> dict:
    """The values of the parameters a `FixedParameters` view holds fixed (else empty)."""
    return {k: float(v) for k, v in (getattr(model, "fixed", None) or {}).items()}


class EmulatorModel:
    """An `NNEmulator` of a model's outputs, itself a model (see the module docstring).

    Attributes
    ----------
    emulator : NNEmulator
    parameter_names : tuple of str
    parameters : tuple of Parameter
        The emulated model's table for these parameters (bounds, default, std, units).
    output_names, output_shapes, output_units, time
    model_id : str
        Of the model the emulator was trained on (`model_id`).
    fixed : dict
        Values of the parameters that were held fixed in the training runs.
    """

    def __init__(self, emulator, parameters, outputs, scales, model_id, fixed=None,
                 time=None, output_units=None):
        self.emulator = emulator
        self.parameters = tuple(parameters)
        self.output_names = tuple(outputs)
        self.output_shapes = {k: tuple(int(n) for n in v) for k, v in outputs.items()}
        self.scales = np.asarray(scales, dtype=float)
        self.model_id, self.fixed = model_id, dict(fixed or {})
        self.time = time
        self.output_units = dict(output_units or {})
        self.name = "nn-emulator"

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def defaults(self) -> np.ndarray:
        return np.array([p.default for p in self.parameters], dtype=float)

    # --- the model ------------------------------------------------------------------------
    def _theta(self, theta, what="theta"):
        theta = check_parameter_vector("nn-emulator", self.parameter_names, theta, what)
        if what == "theta" and not np.all(np.isfinite(theta)):
            raise ModelError(f"nn-emulator: theta {theta.tolist()} is not finite", theta=theta)
        if what == "theta":
            self.emulator.check_distance(theta)
        return theta

    def _fn(self, which):
        """The jit-compiled flat run, jvp or vjp."""
        table = self.__dict__.setdefault("_jit", {})
        if which not in table:
            jax, jnp = import_jax()
            scales = jnp.asarray(self.scales)

            def f(t):
                return self.emulator.mean_jax(t) * scales
            table.update(run=jax.jit(f), tangent=jax.jit(lambda t, d: jax.jvp(f, (t,), (d,))[1]),
                         adjoint=jax.jit(lambda t, c: jax.vjp(f, t)[1](c)[0]))
        return table[which]

    def _split(self, flat) -> dict:
        out, pos, flat = {}, 0, np.asarray(flat, dtype=np.float64)
        for name in self.output_names:
            shape = self.output_shapes[name]
            n = int(np.prod(shape))
            out[name] = flat[pos:pos + n].reshape(shape)
            pos += n
        return out

    def run(self, theta, outputs=None):
        """Emulated outputs at ``theta``: ``{output: array}`` (time first).

        Raises
        ------
        ModelError
            Wrong shape, non-finite ``theta``, or ``theta`` beyond the emulator's
            ``extrapolation_limit`` (warns beyond ``extrapolation_tol``).
        """
        return self._split(self._fn("run")(self._theta(theta)))

    def tangent(self, theta, dtheta, outputs=None):
        """``{output: J_output @ dtheta}`` (``jax.jvp`` of `run`)."""
        t, d = self._theta(theta), self._theta(dtheta, "dtheta")
        return self._split(self._fn("tangent")(t, d))

    def adjoint(self, theta, d_outputs):
        """``sum_output J_output.T @ d_outputs[output]`` (``jax.vjp`` of `run`)."""
        t = self._theta(theta)
        unknown = sorted(set(d_outputs) - set(self.output_names))
        if unknown:
            raise ModelError(f"nn-emulator adjoint: unknown output(s) {unknown}; the "
                             f"emulated outputs are {list(self.output_names)}")
        parts = []
        for name in self.output_names:
            shape = self.output_shapes[name]
            v = d_outputs.get(name)
            v = np.zeros(shape) if v is None else np.asarray(v, dtype=float)
            if v.shape != shape:
                raise ModelError(f"nn-emulator adjoint: d_outputs[{name!r}] has shape "
                                 f"{v.shape}, expected {shape}")
            parts.append(v.ravel())
        return np.array(self._fn("adjoint")(t, np.concatenate(parts)), dtype=np.float64)

    # --- file -------------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the emulator to ``path`` (``.npz``, no pickle); returns the path."""
        p = self.parameters
        meta = {"model_id": self.model_id, "fixed": self.fixed,
                "outputs": {k: list(v) for k, v in self.output_shapes.items()},
                "output_order": list(self.output_names), "output_units": self.output_units,
                "parameters": [{"name": q.name, "default": q.default, "lower": q.lower,
                                "upper": q.upper, "std": q.std, "units": q.units,
                                "long_name": q.long_name} for q in p]}
        arrays = self.emulator.to_arrays()
        arrays.update(meta=np.array(json.dumps(meta)), scales=self.scales)
        if self.time is not None:
            arrays["time"] = np.asarray(self.time)
        return write_npz(path, FORMAT, arrays)


def load_emulator(file, model=None, parameters=None, fixed=None) -> EmulatorModel:
    """The `EmulatorModel` saved in ``file``.

    Parameters
    ----------
    file : str or Path
    model : str or model, optional
        The model it is meant for: a model object (its `model_id`, fixed parameter values
        and time axis must match the file's) or a model name (must match the name in the
        file's model id).
    parameters : sequence of str, optional
        The parameter names it must take, in order.
    fixed : dict, optional
        Values of the parameters held fixed it must have been trained with.

    Raises
    ------
    DataError
        Not a pdaframe NN-emulator file.
    ConfigError
        Trained for another model, parameter set, fixed values or time axis.
    """
    file = Path(file)
    a = read_npz(file, FORMAT, "a pdaframe NN-emulator file")
    try:
        meta = json.loads(str(a["meta"]))
    except (ValueError, KeyError) as err:
        raise DataError(f"{file}: not a pdaframe NN-emulator file (metadata: {err})") from None
    params = tuple(Parameter(**q) for q in meta["parameters"])
    em = EmulatorModel(NNEmulator.from_arrays(a), params,
                       {k: meta["outputs"][k] for k in meta["output_order"]}, a["scales"],
                       meta["model_id"], meta["fixed"], a.get("time"), meta["output_units"])

    def mismatch(field, expected, found):
        raise ConfigError(f"{file}: emulator trained for {field} {found!r}, expected "
                          f"{expected!r}; train an emulator for this {field}")

    if isinstance(model, str):
        if em.model_id.split(" (")[0] != model:
            mismatch("model", model, em.model_id)
    elif model is not None:
        if model_id(model) != em.model_id:
            mismatch("model", model_id(model), em.model_id)
        fixed = fixed_values(model) if fixed is None else fixed
        if parameters is None:
            parameters = model.parameter_names
        t = getattr(model, "time", None)
        if t is not None and em.time is not None and not np.array_equal(np.asarray(t), em.time):
            mismatch("time axis", f"{len(t)} steps from {t[0]}",
                     f"{len(em.time)} steps from {em.time[0]}")
    if parameters is not None and tuple(parameters) != em.parameter_names:
        mismatch("parameter set", list(parameters), list(em.parameter_names))
    if fixed is not None and fixed != em.fixed:
        mismatch("fixed parameter values", fixed, em.fixed)
    return em


def train_emulator_model(model, lower, upper, n_runs=100, outputs=None, design_method="lhs",
                         seed=None, executor=None, **options) -> EmulatorModel:
    """Run ``model`` at a design of ``n_runs`` points in ``[lower, upper]`` and train an
    `EmulatorModel` of its ``outputs`` (default: every output).

    ``options`` go to `NNEmulator` (``hidden``, ``validation``, ``patience``, ...). Failed
    runs are dropped (`run_design`); a run whose outputs are not finite is a `DataError`
    naming it and the output.
    """
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    X = design(lower, upper, int(n_runs), design_method, seed=seed)
    names = list(model.parameter_names)
    first = model.run(X[0])
    outputs = list(first) if outputs is None else list(outputs)
    missing = sorted(set(outputs) - set(first))
    if missing:
        raise ConfigError(f"train_emulator_model: output(s) {missing} are not outputs of the "
                          f"model; it has {sorted(first)}")
    shapes = {k: np.shape(first[k]) for k in outputs}

    def flat(theta):
        out = model.run(theta)
        return np.concatenate([np.ravel(out[k]) for k in outputs])

    X, Y = run_design(flat, X, executor, minimum=4)
    for i, row in enumerate(Y):
        if not np.all(np.isfinite(row)):
            j, pos = int(np.flatnonzero(~np.isfinite(row))[0]), 0
            for k in outputs:
                n = int(np.prod(shapes[k]))
                if j < pos + n:
                    raise DataError(f"train_emulator_model: run {i} at theta "
                                    f"{X[i].tolist()} gives a non-finite {k!r} (entry "
                                    f"{j - pos}); fix the model or drop the run")
                pos += n
    scales = np.concatenate([np.full(int(np.prod(shapes[k])), _spread(Y, shapes, outputs, k))
                             for k in outputs])
    seed_nn = None if seed is None else int(np.random.default_rng(seed).integers(2 ** 31))
    em = NNEmulator(lower, upper, seed=seed_nn, standardise=False,
                    **options).fit(X, Y / scales)
    table = {p.name: p for p in (getattr(model, "parameters", None) or ())}
    params = [table.get(n) or Parameter(n, float(0.5 * (lo + up)), std=float((up - lo) / 4))
              for n, lo, up in zip(names, lower, upper)]
    units = getattr(model, "output_units", None) or {}
    return EmulatorModel(em, params, shapes, scales, model_id(model), fixed_values(model),
                         getattr(model, "time", None),
                         {k: units[k] for k in outputs if k in units})


def _spread(Y, shapes, outputs, name) -> float:
    """RMS spread over the runs of output ``name``'s block of ``Y`` (1 when constant)."""
    pos = 0
    for k in outputs:
        n = int(np.prod(shapes[k]))
        if k == name:
            s = float(np.sqrt(np.mean(Y[:, pos:pos + n].var(axis=0))))
            return s if s > 0 else 1.0
        pos += n
    raise KeyError(name)
