"""`Dalec2Hybrid`: DALEC2 in JAX whose autotrophic respiration has a neural-network response.

A hybrid process-ML model (issue 16, item 3; the review's section 4.2.1): DALEC2's constant
autotrophic respiration fraction ``f_auto`` becomes

    ra = f_auto * exp(g_w(x)) * GPP,

``g_w`` a small multilayer perceptron (tanh hidden layers, linear output) of per-step inputs
``x`` (daily mean temperature, optionally the day of year). The MLP's weights ``w`` are model
parameters appended to DALEC2's 23 (names ``nn.W1[h0,t_mean]``, ``nn.b1[h0]``, ...,
``nn.W2[out,h3]``, ``nn.b2[out]``), so every pdaframe method calibrates them with the process
parameters: 4D-Var (``lbfgsb``) uses the adjoint ``jax.vjp`` of the whole run that
`pdaframe.plugin.JaxModel` derives, through the MLP and the pools' recursion alike.

Prior of the weights: mean = a seeded Glorot-uniform draw for the hidden layers and 0 for the
output layer (so ``g_w = 0`` and the hybrid starts as plain DALEC2), standard deviation
``weight_std``, unbounded. The inputs are scaled by fixed constants (temperature / 20 degC;
day of year as sin and cos of its phase), not by the run's own statistics, so a calibrated
``w`` means the same response on any other period or site.
"""
from __future__ import annotations

import numpy as np

from pdaframe.plugin import ConfigError, Parameter
from pdaframe_dalec2.parameters import PARAMETERS

from .model import Dalec2Jax

#: the inputs the MLP may read: name -> number of input columns
INPUTS = {"t_mean": 1, "doy": 2}
T_SCALE = 20.0                                     # degC: t_mean / T_SCALE is the input


def check_options(hidden, inputs, weight_std, seed) -> tuple[tuple, tuple, float, int]:
    """The MLP options, checked: ``(hidden, inputs, weight_std, seed)``.

    Raises
    ------
    ConfigError
        Naming the option, what was found and what is expected.
    """
    hidden = (hidden,) if isinstance(hidden, int) and not isinstance(hidden, bool) else hidden
    if (not isinstance(hidden, (list, tuple)) or not hidden
            or not all(isinstance(h, int) and not isinstance(h, bool) and h >= 1
                       for h in hidden)):
        raise ConfigError(f"dalec2-hybrid option hidden = {hidden!r}: expected a positive "
                          f"integer or a non-empty list of them (the hidden layer sizes)")
    inputs = (inputs,) if isinstance(inputs, str) else inputs
    if (not isinstance(inputs, (list, tuple)) or not inputs
            or any(i not in INPUTS for i in inputs) or len(set(inputs)) != len(inputs)):
        raise ConfigError(f"dalec2-hybrid option inputs = {inputs!r}: expected a non-empty "
                          f"list of distinct names from {sorted(INPUTS)}")
    if (isinstance(weight_std, bool) or not isinstance(weight_std, (int, float))
            or not np.isfinite(weight_std) or weight_std <= 0):
        raise ConfigError(f"dalec2-hybrid option weight_std = {weight_std!r}: expected a "
                          f"positive number (the prior std of every network weight)")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"dalec2-hybrid option seed = {seed!r}: expected a non-negative "
                          f"integer (seeds the Glorot prior mean of the hidden layers)")
    return tuple(hidden), tuple(inputs), float(weight_std), seed


def input_columns(inputs) -> list[str]:
    """Names of the MLP's input columns (``doy`` gives ``sin_doy`` and ``cos_doy``)."""
    return [c for i in inputs for c in ((i,) if i == "t_mean" else ("sin_doy", "cos_doy"))]


def network_parameters(hidden, inputs, weight_std, seed) -> tuple[Parameter, ...]:
    """The MLP's weights as `Parameter` rows, layer by layer: ``W`` row-major
    (``nn.W1[h0,t_mean]``: hidden unit 0 of layer 1, input t_mean), then ``b``."""
    rng = np.random.default_rng(seed)
    rows_in = input_columns(inputs)
    sizes = list(hidden) + [1]
    params = []
    for k, n_out in enumerate(sizes, start=1):
        last = k == len(sizes)
        rows_out = ["out"] if last else [f"h{j}" for j in range(n_out)]
        limit = np.sqrt(6.0 / (len(rows_in) + n_out))          # Glorot uniform
        w = np.zeros((n_out, len(rows_in))) if last else \
            rng.uniform(-limit, limit, (n_out, len(rows_in)))
        params += [Parameter(f"nn.W{k}[{o},{i}]", float(w[a, b]), std=weight_std,
                             long_name=f"network layer {k} weight")
                   for a, o in enumerate(rows_out) for b, i in enumerate(rows_in)]
        params += [Parameter(f"nn.b{k}[{o}]", 0.0, std=weight_std,
                             long_name=f"network layer {k} bias") for o in rows_out]
        rows_in = rows_out
    return tuple(params)


def mlp(jnp, w, x, hidden):
    """``g_w(x)``, shape (n,), from the flat weights ``w`` (the order of
    `network_parameters`) and the inputs ``x`` (n, n_in): tanh hidden layers, linear out."""
    h, at = x, 0
    for k, n_out in enumerate(list(hidden) + [1]):
        n_in = h.shape[1]
        W = w[at:at + n_out * n_in].reshape(n_out, n_in)
        b = w[at + n_out * n_in:at + n_out * (n_in + 1)]
        at += n_out * (n_in + 1)
        h = h @ W.T + b
        if k < len(hidden):
            h = jnp.tanh(h)
    return h[:, 0]


class Dalec2Hybrid(Dalec2Jax):
    """DALEC2 (JAX) with ``ra = f_auto exp(g_w(x)) GPP`` (see the module docstring).

    Parameters
    ----------
    drivers : Drivers
        Meteorology, one value per step (``t_mean`` and ``doy`` feed the MLP).
    hidden : int or sequence of int
        Hidden layer sizes (default one layer of 4).
    inputs : sequence of {"t_mean", "doy"}
        What the MLP reads (default daily mean temperature only).
    weight_std : float
        Prior std of every weight and bias.
    seed : int
        Seeds the Glorot-uniform prior mean of the hidden layers.
    variant, **switches
        As for `Dalec2Jax`.

    Raises
    ------
    ConfigError
        A bad MLP option, or as `Dalec2Jax`.
    """

    name = "dalec2-hybrid"

    def __init__(self, drivers, hidden=(4,), inputs=("t_mean",), weight_std=1.0, seed=0,
                 variant="P16", **switches):
        self.hidden, self.inputs, self.weight_std, self.seed = check_options(
            hidden, inputs, weight_std, seed)
        super().__init__(drivers, variant=variant, **switches)
        self.parameters = PARAMETERS + network_parameters(*self.network_options())
        phase = 2.0 * np.pi * np.asarray(drivers.doy, dtype=float) / 365.25
        cols = {"t_mean": np.asarray(drivers.t_mean, dtype=float) / T_SCALE,
                "sin_doy": np.sin(phase), "cos_doy": np.cos(phase)}
        self.nn_inputs = np.stack([cols[c] for c in input_columns(self.inputs)], axis=1)

    def network_options(self) -> tuple:
        """``(hidden, inputs, weight_std, seed)``."""
        return self.hidden, self.inputs, self.weight_std, self.seed

    def __repr__(self):
        return (super().__repr__().replace("Dalec2Jax(", "Dalec2Hybrid(")[:-1]
                + f", hidden={list(self.hidden)}, inputs={list(self.inputs)})")

    def f_auto_jax(self, theta):
        """The per-step ``f_auto exp(g_w(x))`` for `physics.run`."""
        _, jnp = self.jax()
        g = mlp(jnp, theta[len(PARAMETERS):], jnp.asarray(self.nn_inputs), self.hidden)
        return {"f_auto": theta[1] * jnp.exp(g)}

    def response(self, theta, x) -> np.ndarray:
        """The multiplier ``exp(g_w(x))`` of f_auto at inputs ``x`` (n, n_in; scaled as
        ``nn_inputs``) for the weights in ``theta`` (the learned response curve)."""
        _, jnp = self.jax()
        theta = self.check_theta(theta)
        x = np.atleast_2d(np.asarray(x, dtype=float))
        return np.asarray(jnp.exp(mlp(jnp, jnp.asarray(theta[len(PARAMETERS):]),
                                      jnp.asarray(x), self.hidden)))
