"""Transfer functions: site parameters as a learned function of site attributes.

A `Transfer` rule of a `pdaframe.problem.mapping.SiteMap` gives local parameters
``j = 1..m`` (its ``outputs``) at every site ``k`` from the site's attributes ``a_k`` (columns
of the site table, its ``inputs``) through one network ``f_w`` whose weights ``w`` are what is
estimated::

    theta_k[j] = T_j^-1( phi0_kj + f_w(a_k)[j] ),     phi0_kj = T_j(default_kj)

* ``a_k``: the input columns, standardised with the mean and standard deviation (``ddof=0``)
  of the *whole* site table, so the same ``w`` gives the same function for any subset of its
  sites (training sites, held-out sites: `Transfer.for_sites`);
* ``f_w``: linear (``kind="linear"``: ``f(a) = W1 a + b1``) or a multilayer perceptron
  (``kind="mlp"``, ``hidden=[8]``: ``z_l = tanh(W_l z_(l-1) + b_l)``, output layer linear);
* ``T_j``: the bound transform of parameter ``j`` at site ``k`` (`ParameterTransform` of the
  site entry's bounds and ``transform``), so a site value is always inside its bounds, and
  ``w`` with a zero output layer gives every site its own default.

Weights are named ``<name>.W<l>[<to>,<from>]`` and ``<name>.b<l>[<to>]`` (layer ``l = 1..L``;
units are the input columns, ``h<i>`` for hidden unit ``i`` of the layer, and the output
parameter names): ``tf1.W1[f_auto,lat]``, ``tf1.W1[h3,t_offset]``, ``tf1.W2[f_auto,h3]``,
``tf1.b2[f_auto]``. Their prior: mean 0 for the biases and the output layer (so the
background is the defaults) and a seeded Glorot-uniform draw for the hidden layers' weights
(so the background is not a saddle where every output weight has a zero gradient), standard
deviation ``weight_std``, unbounded.

Tangent and adjoint are hand-written numpy (forward and backward propagation over all sites
at once); the adjoint takes every site's gradient in site order at once, so its numbers do not
depend on how the sites were evaluated.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..prior.transforms import ParameterTransform
from .mapping import MapContext, Rule

KINDS = ("linear", "mlp")


def standardised_inputs(ctx: MapContext, inputs, what) -> np.ndarray:
    """The ``inputs`` columns at ``ctx.sites``, standardised over the whole site table.

    Raises
    ------
    ConfigError
        No site table, a column it lacks, a site it lacks, or a constant column.
    """
    out = []
    for name in inputs:
        values = ctx.column(name, what)
        if values.dtype.kind not in "fiu":
            raise ConfigError(f"{what}: input column {name!r} of {ctx.table.source} is "
                              f"text; inputs must be numeric columns (for a PFT, add a 0/1 "
                              f"column, or use [parameters] groups)")
        values = values.astype(float)
        full = np.asarray(ctx.table.column(name), dtype=float)
        mean, std = float(np.mean(full)), float(np.std(full))
        if not (np.isfinite(mean) and np.isfinite(std)):
            raise ConfigError(f"{what}: input column {name!r} of {ctx.table.source} has "
                              f"missing or non-finite values")
        if not std > 1e-12 * max(1.0, abs(mean)):
            raise ConfigError(f"{what}: input column {name!r} of {ctx.table.source} is "
                              f"constant ({mean:g} at every site); it cannot inform a "
                              f"transfer function (leave it out of inputs)")
        out.append((values - mean) / std)
    return np.column_stack(out) if out else np.zeros((len(ctx.sites), 0))


class Transfer(Rule):
    """Local parameters as a function of site attributes (the module docstring's maths).

    Parameters
    ----------
    ctx : MapContext
        Sites, their parameter entries (defaults, bounds, transforms) and the site table.
    outputs : sequence of str
        Local parameter names the network gives (one output unit each).
    inputs : sequence of str
        Numeric site-table columns (``lat``, ``t_offset``, ``elevation``...).
    kind : {"linear", "mlp"}
    hidden : sequence of int
        Hidden layer sizes of an ``"mlp"`` (e.g. ``[8]``); empty for ``"linear"``.
    weight_std : float
        Prior standard deviation of every weight, > 0.
    seed : int
        Seed of the hidden layers' Glorot initialisation (the prior mean).
    name : str
        Prefix of the weights' names.

    Attributes
    ----------
    a : ndarray, shape (n_sites, n_inputs)
        The standardised attributes of the sites.
    phi0 : ndarray, shape (n_sites, n_outputs)
        Each site's defaults in its bound transforms' space.
    sizes : list of int
        Units per layer, inputs to outputs.
    entries : list of dict
        The weights (global entries), layer by layer: ``W`` row by row, then ``b``.

    Raises
    ------
    ConfigError
        Empty or repeated inputs/outputs, an output without per-site entries, an unknown
        kind, hidden sizes < 1 (or any for a linear kind, none for an mlp),
        ``weight_std <= 0``, a bad name, an input column the table lacks, a text or
        constant column, a site default outside its bounds.
    """

    def __init__(self, ctx: MapContext, outputs: Sequence[str], inputs: Sequence[str],
                 kind="linear", hidden: Sequence[int] = (), weight_std=1.0, seed=0,
                 name="tf1"):
        self.name, self.kind = name, kind
        self.outputs, self.inputs = list(outputs), list(inputs)
        self.hidden = [int(h) for h in hidden] if _all_ints(hidden) else hidden
        self.weight_std, self.seed = weight_std, seed
        what = f"transfer function {name!r}"
        self._check(what)
        missing = [n for n in self.outputs if any(n not in p for p in ctx.parameters)]
        if missing or not ctx.parameters:
            raise ConfigError(f"{what}: output(s) {missing or self.outputs} have no per-site "
                              f"entry (default, bounds); the sites' parameters are "
                              f"{list(ctx.parameters[0]) if ctx.parameters else []}")
        self.a = standardised_inputs(ctx, self.inputs, what)
        n_sites, m = len(ctx.sites), len(self.outputs)
        ent = [[ctx.entry(k, n) for n in self.outputs] for k in range(n_sites)]
        self.transform = ParameterTransform(
            [e.get("lower", -np.inf) for row in ent for e in row],
            [e.get("upper", np.inf) for row in ent for e in row],
            [e.get("transform") for row in ent for e in row],
            [f"{n} at site {s}" for s in ctx.sites for n in self.outputs])
        defaults = np.array([float(e["mean"]) for row in ent for e in row])
        self.transform.check_inside(defaults, f"{what}: the sites' defaults")
        self.phi0 = self.transform.to_phi(defaults).reshape(n_sites, m)
        self.sizes = [len(self.inputs)] + self.hidden + [m]
        self.entries = self._entries()

    def _check(self, what):
        if not isinstance(self.name, str) or not self.name or not all(
                c.isalnum() or c in "_-" for c in self.name):
            raise ConfigError(f"transfer function name {self.name!r}: use letters, digits, "
                              f"_ and -")
        for label, names in (("outputs", self.outputs), ("inputs", self.inputs)):
            if not names or not all(isinstance(n, str) and n for n in names):
                raise ConfigError(f"{what}: {label} must be a non-empty list of names, got "
                                  f"{names!r}")
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ConfigError(f"{what}: {label} lists {dup} twice")
        if self.kind not in KINDS:
            raise ConfigError(f"{what}: kind {self.kind!r} unknown; expected one of {KINDS}")
        if not _all_ints(self.hidden) or any(h < 1 for h in self.hidden):
            raise ConfigError(f"{what}: hidden must be a list of layer sizes >= 1, got "
                              f"{self.hidden!r}")
        if self.kind == "linear" and self.hidden:
            raise ConfigError(f"{what}: a linear transfer function has no hidden layers; "
                              f"use kind = \"mlp\" with hidden = {self.hidden}")
        if self.kind == "mlp" and not self.hidden:
            raise ConfigError(f"{what}: kind = \"mlp\" needs hidden layer sizes "
                              f"(e.g. hidden = [8])")
        if isinstance(self.weight_std, bool) or not isinstance(
                self.weight_std, (int, float)) or not (np.isfinite(self.weight_std)
                                                       and self.weight_std > 0):
            raise ConfigError(f"{what}: weight_std must be a number > 0, got "
                              f"{self.weight_std!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) \
                or self.seed < 0:
            raise ConfigError(f"{what}: seed must be an integer >= 0, got {self.seed!r}")

    def _units(self, layer) -> list[str]:
        """Names of the units of layer ``layer`` (0: the inputs, L: the outputs)."""
        if layer == 0:
            return self.inputs
        if layer == len(self.sizes) - 1:
            return self.outputs
        return [f"h{i}" for i in range(self.sizes[layer])]

    def _entries(self) -> list[dict]:
        rng = np.random.default_rng(self.seed)
        n_layers = len(self.sizes) - 1
        out = []
        for l in range(1, n_layers + 1):
            to, frm = self._units(l), self._units(l - 1)
            fan_out, fan_in = len(to), len(frm)
            if l < n_layers:
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                mean = rng.uniform(-limit, limit, size=(fan_out, fan_in))
            else:
                mean = np.zeros((fan_out, fan_in))
            common = {"std": float(self.weight_std), "lower": -np.inf, "upper": np.inf,
                      "transform": "identity", "units": "1"}
            out += [{"name": f"{self.name}.W{l}[{t},{f}]", "mean": float(mean[i, j]),
                     "long_name": f"transfer function {self.name}: weight of {f} in {t}",
                     **common} for i, t in enumerate(to) for j, f in enumerate(frm)]
            out += [{"name": f"{self.name}.b{l}[{t}]", "mean": 0.0,
                     "long_name": f"transfer function {self.name}: bias of {t}", **common}
                    for t in to]
        return out

    def for_sites(self, ctx: MapContext) -> "Transfer":
        """The same transfer function (same weights' names and prior) at ``ctx``'s sites:
        ``values(w)`` then predicts their parameters (e.g. at held-out sites)."""
        return Transfer(ctx, self.outputs, self.inputs, self.kind, self.hidden,
                        self.weight_std, self.seed, self.name)

    def new_site_values(self, xs, ctx: MapContext, rng=None) -> np.ndarray:
        """A new site's parameters (``ctx``: that site alone, same site table) for each draw
        of the weights ``xs`` ``(n_draws, n_entries)``: ``(n_draws, n_outputs)``. The hook of
        `pdaframe.analysis.leave_out` (leave-site-out scores); deterministic (no ``rng``)."""
        new = self.for_sites(ctx)
        return np.array([new.values(x)[0] for x in np.atleast_2d(xs)])

    # --- the network -------------------------------------------------------------------------
    def _layers(self, x) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W_l, b_l)]`` from the rule's slice ``x`` of the global vector."""
        x = np.asarray(x, dtype=float)
        out, i = [], 0
        for l in range(1, len(self.sizes)):
            n_to, n_from = self.sizes[l], self.sizes[l - 1]
            w = x[i:i + n_to * n_from].reshape(n_to, n_from)
            i += n_to * n_from
            out.append((w, x[i:i + n_to]))
            i += n_to
        return out

    def _forward(self, layers) -> list[np.ndarray]:
        """Activations ``z_0 = a, z_1, ..., z_L = f(a)``, each ``(n_sites, units)``."""
        z = [self.a]
        for l, (w, b) in enumerate(layers, 1):
            pre = z[-1] @ w.T + b
            z.append(np.tanh(pre) if l < len(layers) else pre)
        return z

    def _phi(self, z_out):
        return (self.phi0 + z_out).reshape(-1)

    def network(self, x) -> np.ndarray:
        """``f_w(a_k)`` at every site, ``(n_sites, n_outputs)``: the change in the bound
        transforms' space from each site's default."""
        return self._forward(self._layers(x))[-1]

    def values(self, x) -> np.ndarray:
        phi = self._phi(self.network(x))
        return self.transform.to_theta(phi).reshape(self.phi0.shape)

    def tangent(self, x, dx) -> np.ndarray:
        layers, dlayers = self._layers(x), self._layers(dx)
        z = self._forward(layers)
        dz = np.zeros_like(self.a)
        for l, ((w, _), (dw, db)) in enumerate(zip(layers, dlayers), 1):
            dpre = dz @ w.T + z[l - 1] @ dw.T + db
            dz = dpre * (1.0 - z[l] ** 2) if l < len(layers) else dpre
        scale = self.transform.dtheta_dphi(self._phi(z[-1])).reshape(self.phi0.shape)
        return scale * dz

    def adjoint(self, x, g, out) -> None:
        layers = self._layers(x)
        z = self._forward(layers)
        scale = self.transform.dtheta_dphi(self._phi(z[-1])).reshape(self.phi0.shape)
        gz = np.asarray(g, dtype=float) * scale
        grads = []
        for l in range(len(layers), 0, -1):
            w = layers[l - 1][0]
            gpre = gz * (1.0 - z[l] ** 2) if l < len(layers) else gz
            grads.append((gpre.T @ z[l - 1], gpre.sum(axis=0)))
            gz = gpre @ w
        flat = np.concatenate([np.concatenate([gw.ravel(), gb]) for gw, gb in grads[::-1]])
        out += flat


def _all_ints(values) -> bool:
    try:
        return all(isinstance(h, (int, np.integer)) and not isinstance(h, bool)
                   for h in values)
    except TypeError:
        return False
