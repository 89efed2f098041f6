"""The interfaces a plugin implements: model, observation operator and method.

A *model* is any object with ``parameter_names`` and ``run``; ``tangent`` and ``adjoint`` are
optional. A plain Python object with these methods works without registration::

    class Decay:
        parameter_names = ("k", "c0")
        def run(self, theta):
            k, c0 = theta
            return {"carbon": c0 * np.exp(-k * np.arange(10.0))}

Outputs map a name to an array whose first axis is time. Tangent and adjoint are the
Jacobian-vector and vector-Jacobian products of ``run``:

- ``tangent(theta, dtheta)`` returns ``{name: J_name @ dtheta}`` (same shapes as ``run``);
- ``adjoint(theta, d_outputs)`` returns ``sum_name J_name.T @ d_outputs[name]`` with shape
  ``(n_param,)``; outputs missing from ``d_outputs`` have zero sensitivity.

`Model` is an optional base class that documents this and supplies the parameter table.

**Only the outputs that are needed** (optional): a model whose ``run`` (and ``tangent``)
takes a keyword ``outputs`` is told which outputs the caller uses, and may compute and return
only those::

    def run(self, theta, outputs=None):        # None: every output
    def tangent(self, theta, dtheta, outputs=None):

``outputs`` is a collection of names. The model returns (at least) those of them it produces;
it may return more, and needs not raise for a name it does not produce (the framework then
reports the stream that needs it, `pdaframe.problem.twin.check_stream_outputs`). The values
must be those a full run gives (bit for bit), whatever the selection. ``adjoint`` keeps its
signature: ``d_outputs`` holds only the outputs the caller uses. `pdaframe.Problem` passes
the variables its streams' operators read (their ``inputs``; every output when an operator
does not list its ``inputs``); diagnostics and `pdaframe.Problem.run` without ``outputs`` ask
for every output. Models without the keyword are called ``run(theta)`` as always
(`selects_outputs`).

**A model state** (optional; the joint state–parameter EnKF, ``method = "joint-enkf"``, needs
it): a model that can restart from a saved state has ``state_names`` (one name per state
variable), ``n_steps`` (the length of its time axis), ``initial_state(theta) -> x0`` and
``advance(theta, x, start, stop) -> (x_stop, outputs)``: from state ``x`` before step
``start``, run steps ``start .. stop - 1`` and return the state before step ``stop`` and the
outputs of those steps (as ``run`` gives them, first axis ``stop - start`` long). Chaining
``advance`` over any windows must give ``run(theta)`` bit for bit. Optional for
localisation: ``state_distance(output) -> (n_state,)``, the distance of every state
variable from where output ``output`` is observed (`StatefulModel`, `has_state`).

A model may declare its outputs without a run (`declared_outputs`: an ``output_names``
attribute, else the keys of a `Model`'s ``output_units``); then a stream whose variable names
no output is a `ConfigError` when the config is loaded, before any run (``pdaframe check``).
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from .errors import ModelError


@dataclass(frozen=True)
class Parameter:
    """One model parameter's metadata and default prior.

    Parameters
    ----------
    name : str
        Identifier used in configs and results.
    default : float
        Default value (the prior mean unless a config says otherwise).
    lower, upper : float
        Physical bounds; ``-inf``/``inf`` when unbounded.
    std : float, optional
        Default prior standard deviation; NaN when the model gives none.
    units : str
        UDUNITS-style units, ``"1"`` for dimensionless.
    long_name : str
        Human-readable description.
    """

    name: str
    default: float
    lower: float = -math.inf
    upper: float = math.inf
    std: float = math.nan
    units: str = "1"
    long_name: str = ""


@runtime_checkable
class ModelProtocol(Protocol):
    """What the framework needs from a model (tangent/adjoint optional)."""

    parameter_names: Sequence[str]

    def run(self, theta: np.ndarray) -> Mapping[str, np.ndarray]: ...
    # optional: run(theta, outputs=None), tangent(theta, dtheta, outputs=None): see the
    # module docstring ("Only the outputs that are needed")


@runtime_checkable
class StatefulModel(Protocol):
    """A model that exposes its state (module docstring, "A model state")."""

    state_names: Sequence[str]
    n_steps: int

    def initial_state(self, theta: np.ndarray) -> np.ndarray: ...

    def advance(self, theta: np.ndarray, x: np.ndarray, start: int,
                stop: int) -> tuple[np.ndarray, Mapping[str, np.ndarray]]: ...
    # optional: state_distance(output) -> (n_state,) distances, for localisation


#: what a model must provide to expose its state (`has_state`)
STATE_CAPABILITIES = ("state_names", "n_steps", "initial_state", "advance")


def has_state(model) -> bool:
    """Whether ``model`` exposes its state: every one of `STATE_CAPABILITIES`, the last two
    callable (see the module docstring)."""
    return all(getattr(model, name, None) is not None for name in STATE_CAPABILITIES[:2]) \
        and all(callable(getattr(model, name, None)) for name in STATE_CAPABILITIES[2:])


class Model:
    """Optional base class for models; subclasses set ``parameters`` and implement ``run``.

    Attributes
    ----------
    parameters : tuple of Parameter
        The parameter table (names, defaults, bounds, prior std, units).
    output_units : dict
        Units of each output, written to results.
    """

    parameters: tuple[Parameter, ...] = ()
    output_units: Mapping[str, str] = MappingProxyType({})

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    @property
    def defaults(self) -> np.ndarray:
        """Default parameter values, shape ``(n_param,)``."""
        return np.array([p.default for p in self.parameters], dtype=float)

    def run(self, theta: np.ndarray) -> Mapping[str, np.ndarray]:
        """Run the model at ``theta`` (shape ``(n_param,)``); return ``{output: array}``.

        A subclass may take ``outputs=None`` too (the outputs the caller needs; see
        `pdaframe.interfaces`).
        """
        raise NotImplementedError


def declared_outputs(model) -> list[str] | None:
    """The output names ``model`` declares without a run, or None when it declares none.

    ``model.output_names`` if set, else the keys of ``model.output_units`` when not empty.
    """
    names = getattr(model, "output_names", None)
    if names is None:
        names = getattr(model, "output_units", None) or None
    return None if names is None else list(names)


def check_parameter_vector(model_name, names, value, what="theta") -> np.ndarray:
    """``value`` as a new float64 array with one entry per parameter of ``names``.

    Shared by the model bases (`pdaframe.models.kernel.KernelModel`,
    `pdaframe.models.jax_model.JaxModel`): a wrong shape is a `ModelError` naming
    ``model_name``, the parameters and the shape; a direction (``what`` other than
    ``"theta"``, e.g. ``"dtheta"``) must also be finite (the error names the parameter).
    Whether ``theta`` itself must be finite is the model's rule.
    """
    arr = np.array(value, dtype=np.float64)
    if arr.shape != (len(names),):
        raise ModelError(f"{model_name}: {what} needs {len(names)} values {list(names)}, "
                         f"got shape {arr.shape}", theta=value if what == "theta" else None)
    if what != "theta" and not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ModelError(f"{model_name}: {what}[{names[i]!r}] is {float(arr[i])!r}")
    return arr


def selects_outputs(method) -> bool:
    """Whether a model method (``run`` or ``tangent``) takes the ``outputs`` keyword.

    True when ``method``'s signature has a parameter named ``outputs`` that can be given by
    keyword (see the module docstring); False for anything else, ``None`` included.
    """
    if not callable(method):
        return False
    try:
        param = inspect.signature(method).parameters.get("outputs")
    except (TypeError, ValueError):          # builtins and extension functions without one
        return False
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY)


def has_tangent(model) -> bool:
    """Whether ``model`` provides a tangent-linear ``tangent(theta, dtheta)``."""
    return callable(getattr(model, "tangent", None))


def has_adjoint(model) -> bool:
    """Whether ``model`` provides an adjoint ``adjoint(theta, d_outputs)``."""
    return callable(getattr(model, "adjoint", None))


class ObservationOperator:
    """Maps model outputs to the observation space of one data stream.

    Subclasses implement ``apply`` and, where differentiable, ``tangent`` and ``adjoint``.
    ``inputs`` lists the model outputs read, so a missing one is reported by name.
    """

    inputs: tuple[str, ...] = ()

    def apply(self, outputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """Return the model equivalent of the observations, shape ``(n_obs,)``."""
        raise NotImplementedError

    def tangent(self, outputs, d_outputs) -> np.ndarray:
        """Linearised ``apply`` at ``outputs`` applied to ``d_outputs``: shape ``(n_obs,)``."""
        raise NotImplementedError

    def adjoint(self, outputs, d_obs) -> dict[str, np.ndarray]:
        """Transpose of ``tangent``: ``{input: array shaped like outputs[input]}``."""
        raise NotImplementedError


MethodFunction = Callable[..., "Result"]  # noqa: F821 - documented signature below
"""A minimiser or sampler: ``method(problem, x0=None, callback=None, **options) -> Result``.

``x0`` is in physical space (``None``: the prior's background). Registered by name through
``pdaframe_register_methods``; `pdaframe.minimise` also accepts such a callable directly. A
method that can checkpoint takes a ``checkpoint`` keyword (`pdaframe.methods.contract`).
"""
