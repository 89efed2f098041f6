"""A trained multilayer perceptron as observation operator (e.g. SIF from GPP and LAI).

At each observed time step ``t`` the observation is ``y_t = MLP(x_t)`` with
``x_t = (outputs[name][t] for name in inputs)``: one or several model outputs in, one value
out. The network is small and dense (tanh hidden layers, a linear output) on standardised
inputs and output, written in numpy with a hand-written tangent and adjoint, so the operator
needs no ML library and runs inside any method with gradients. It is trained by
`pdaframe.observations.operators.mlp_train.train_mlp` (scipy L-BFGS) from paired data in a
CSV file and saved to an ``.npz`` (no pickle) holding the weights, the input names, the
scalings, the training range and the SHA-256 of the training file.

Config (factory `pdaframe.observations.operators.mlp_train.mlp_operator`):
``operator = "mlp"`` with ``operator_options = { file = "sif_mlp.npz" }`` (a trained file),
or ``{ train_file = "pairs.csv", inputs = ["gpp", "lai"], target = "sif" }`` to
train when the config is loaded (``save_file = "sif_mlp.npz"`` keeps it). Inputs outside the
training range are extrapolation: a warning gives the distance (in training standard
deviations) beyond the range (each operator warns again only farther out than before).
"""
from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np

from ...errors import ConfigError, DataError
from ...interfaces import ObservationOperator
from ...npz_file import read_npz, write_npz
from .times import time_indices

FORMAT = "pdaframe-mlp-operator-1"


def file_sha256(path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class MLP:
    """A dense tanh network ``R^n_in -> R`` on standardised inputs and output.

    Parameters
    ----------
    inputs : sequence of str
        Input names, in column order.
    weights, biases : list of ndarray
        ``weights[l]`` of shape ``(n_l, n_{l+1})``, ``biases[l]`` of shape ``(n_{l+1},)``;
        the last layer has one unit and no activation.
    x_mean, x_std, x_min, x_max : array_like, shape (n_in,)
        Input scaling and the training range.
    y_mean, y_std : float
        Output scaling.
    target : str
        Name of the predicted quantity.
    info : dict, optional
        Training record (``sha256``, ``validation_rmse``, ``validation_r2``, ...).
    """

    def __init__(self, inputs, weights, biases, x_mean, x_std, x_min, x_max, y_mean, y_std,
                 target="y", info=None):
        self.inputs = tuple(str(n) for n in inputs)
        self.weights = [np.asarray(w, dtype=float) for w in weights]
        self.biases = [np.asarray(b, dtype=float) for b in biases]
        self.x_mean, self.x_std, self.x_min, self.x_max = (
            np.asarray(a, dtype=float).reshape(-1) for a in (x_mean, x_std, x_min, x_max))
        self.y_mean, self.y_std = float(y_mean), float(y_std)
        self.target = str(target)
        self.info = dict(info or {})
        n_in = len(self.inputs)
        if self.weights[0].shape[0] != n_in or self.weights[-1].shape[1] != 1 or \
                any(a.size != n_in for a in (self.x_mean, self.x_std, self.x_min, self.x_max)):
            raise DataError(f"MLP for {self.target!r}: layer or scaling shapes do not match "
                            f"its {n_in} inputs {list(self.inputs)}")

    # --- network on standardised values ------------------------------------------------
    def _layers(self, xs):
        """Activations of every layer for standardised inputs ``xs`` (n, n_in)."""
        acts = [xs]
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = acts[-1] @ w + b
            acts.append(z if k == len(self.weights) - 1 else np.tanh(z))
        return acts

    def _tangent_s(self, acts, dxs):
        d = dxs
        for k, w in enumerate(self.weights):
            d = d @ w
            if k < len(self.weights) - 1:
                d = (1.0 - acts[k + 1] ** 2) * d
        return d

    def _adjoint_s(self, acts, dys):
        g = dys
        for k in range(len(self.weights) - 1, -1, -1):
            if k < len(self.weights) - 1:
                g = (1.0 - acts[k + 1] ** 2) * g
            g = g @ self.weights[k].T
        return g

    # --- in physical units -----------------------------------------------------------
    def predict(self, x) -> np.ndarray:
        """Predictions for inputs ``x`` of shape ``(n, n_in)``; shape ``(n,)``."""
        xs = (np.asarray(x, dtype=float) - self.x_mean) / self.x_std
        return self.y_mean + self.y_std * self._layers(xs)[-1][:, 0]

    def tangent(self, x, dx) -> np.ndarray:
        """Derivative of `predict` at ``x`` along ``dx`` (both ``(n, n_in)``); ``(n,)``."""
        acts = self._layers((np.asarray(x, dtype=float) - self.x_mean) / self.x_std)
        return self.y_std * self._tangent_s(acts, np.asarray(dx, dtype=float) / self.x_std)[:, 0]

    def adjoint(self, x, dy) -> np.ndarray:
        """Transpose of `tangent` at ``x`` applied to ``dy`` (n,); shape ``(n, n_in)``."""
        acts = self._layers((np.asarray(x, dtype=float) - self.x_mean) / self.x_std)
        g = self._adjoint_s(acts, self.y_std * np.asarray(dy, dtype=float).reshape(-1, 1))
        return g / self.x_std

    def outside(self, x) -> float:
        """Largest distance of ``x`` beyond the training range, in training standard
        deviations of that input (0 inside)."""
        x = np.asarray(x, dtype=float)
        beyond = np.maximum(self.x_min - x, 0.0) + np.maximum(x - self.x_max, 0.0)
        return float((beyond / self.x_std).max(initial=0.0))

    # --- files ---------------------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the network to ``path`` (``.npz``, no pickled objects; whole or none)."""
        arrays = {f"w{k}": w for k, w in enumerate(self.weights)}
        arrays.update({f"b{k}": b for k, b in enumerate(self.biases)})
        arrays.update(inputs=np.array(self.inputs, dtype=str),
                      target=np.array(self.target), n_layers=np.array(len(self.weights)),
                      x_mean=self.x_mean, x_std=self.x_std, x_min=self.x_min, x_max=self.x_max,
                      y_mean=np.array(self.y_mean), y_std=np.array(self.y_std))
        for k, v in self.info.items():
            arrays[f"info_{k}"] = np.array(v)
        return write_npz(path, FORMAT, arrays)

    @classmethod
    def load(cls, path) -> "MLP":
        """Read a network written by `save`; a `DataError` names the file otherwise."""
        d = read_npz(path, FORMAT, "an MLP operator file")
        n = int(d["n_layers"])
        info = {k[5:]: v.item() for k, v in d.items() if k.startswith("info_")}
        return cls(list(d["inputs"]), [d[f"w{k}"] for k in range(n)],
                   [d[f"b{k}"] for k in range(n)], d["x_mean"], d["x_std"], d["x_min"],
                   d["x_max"], d["y_mean"], d["y_std"], str(d["target"]), info)


class MLPOperator(ObservationOperator):
    """Observation ``MLP(outputs[inputs][t])`` at every step or at given time indices.

    Parameters
    ----------
    net : MLP
        The trained network; its ``inputs`` are the model outputs read.
    times : array_like of int, optional
        Time index of each observation (default every step).
    variable : str, optional
        The stream's variable (named in messages).
    """

    def __init__(self, net, times=None, variable=None):
        self.net = net
        self.inputs = net.inputs
        self._what = f"mlp operator for {variable or net.target!r} (inputs {list(net.inputs)})"
        self.times = time_indices(times, self._what)
        self._warned = 0.0

    def _x(self, outputs):
        cols = []
        for name in self.inputs:
            v = np.asarray(outputs[name], dtype=float)
            if v.ndim != 1:
                raise ConfigError(f"{self._what}: output {name!r} has shape {v.shape}, "
                                  f"expected (n_time,)")
            if self.times is not None and self.times.size and self.times.max() >= v.shape[0]:
                raise ConfigError(f"{self._what}: time index {int(self.times.max())} beyond "
                                  f"the model's {v.shape[0]} steps")
            cols.append(v if self.times is None else v[self.times])
        return np.stack(cols, axis=1)

    def apply(self, outputs):
        x = self._x(outputs)
        dist = self.net.outside(x)
        if dist > self._warned:
            self._warned = dist
            warnings.warn(f"{self._what}: inputs {dist:.3g} training standard deviations "
                          f"outside the training range (extrapolation)", stacklevel=2)
        return self.net.predict(x)

    def tangent(self, outputs, d_outputs):
        return self.net.tangent(self._x(outputs), self._x(d_outputs))

    def adjoint(self, outputs, d_obs):
        g = self.net.adjoint(self._x(outputs), d_obs)
        out = {}
        for j, name in enumerate(self.inputs):
            arr = np.zeros(np.shape(outputs[name]))
            if self.times is None:
                arr += g[:, j]
            else:
                np.add.at(arr, self.times, g[:, j])
            out[name] = arr
        return out

