"""Training of the MLP observation operator (`pdaframe.observations.operators.mlp.MLP`) and
its config factory `mlp_operator`.

The loss is the standardised least squares ``½ mean((f(x_s) − y_s)²) + ½ λ Σ‖W‖²``
(``λ``: ``weight_decay``; biases not decayed) over a seeded training split; the gradient is
written out (back-propagation, a few lines) and minimised with scipy's L-BFGS-B, so the
operator needs no ML library (the issue's one ML stack, JAX, stays optional: the operator
is numpy in the core). The held-out split gives the validation RMSE (units of the target)
and R², stored with the network and in its file.
"""
from __future__ import annotations

import logging

import numpy as np

from ...errors import ConfigError, DataError
from .mlp import MLP, MLPOperator, file_sha256

log = logging.getLogger(__name__)

#: keyword options of `train_mlp` a config may give
TRAIN_OPTIONS = frozenset({"hidden", "weight_decay", "validation", "seed", "max_iter"})


def read_pairs(path, inputs, target):
    """The ``inputs`` columns ``(n, n_in)`` and ``target`` ``(n,)`` of a CSV file.

    A missing (NaN) value is a `DataError` naming the file, the column and the line.
    """
    from ...tables import read_columns
    cols = read_columns(path, list(inputs) + [target], line_numbers=True)
    for name in list(inputs) + [target]:
        bad = ~np.isfinite(cols[name])
        if bad.any():
            raise DataError(f"{path}: training data column {name!r} is missing (NaN) at "
                            f"line {int(cols['#line'][bad][0])} ({int(bad.sum())} rows); "
                            f"remove or fill those rows")
    return np.stack([cols[n] for n in inputs], axis=1), cols[target]


def _unpack(p, sizes):
    ws, bs, k = [], [], 0
    for a, b in zip(sizes[:-1], sizes[1:]):
        ws.append(p[k:k + a * b].reshape(a, b))
        k += a * b
        bs.append(p[k:k + b])
        k += b
    return ws, bs


def _loss_grad(p, sizes, xs, ys, decay):
    """Loss and its gradient in the flat parameter vector ``p``."""
    ws, bs = _unpack(p, sizes)
    acts = [xs]
    for k, (w, b) in enumerate(zip(ws, bs)):
        z = acts[-1] @ w + b
        acts.append(z if k == len(ws) - 1 else np.tanh(z))
    r = acts[-1][:, 0] - ys
    n = ys.size
    loss = 0.5 * float(r @ r) / n + 0.5 * decay * sum(float(np.sum(w * w)) for w in ws)
    g = (r / n).reshape(-1, 1)
    grads = []
    for k in range(len(ws) - 1, -1, -1):
        if k < len(ws) - 1:
            g = (1.0 - acts[k + 1] ** 2) * g
        grads.append((acts[k].T @ g + decay * ws[k], g.sum(axis=0)))
        g = g @ ws[k].T
    flat = [np.concatenate([gw.reshape(-1), gb]) for gw, gb in reversed(grads)]
    return loss, np.concatenate(flat)


def train_mlp(path, inputs, target, hidden=(16,), weight_decay=1e-4, validation=0.2, seed=0,
              max_iter=3000) -> MLP:
    """Train an MLP from the paired data of CSV ``path``.

    Parameters
    ----------
    path : str or Path
        CSV with a header: the ``inputs`` columns and the ``target`` column.
    inputs : sequence of str
        Input columns (model output names, in the order the operator reads them).
    target : str
        Observed quantity.
    hidden : sequence of int
        Units of each tanh hidden layer.
    weight_decay : float
        ``λ`` of the loss (≥ 0).
    validation : float
        Held-out fraction (0 < validation < 1), drawn with ``seed``.
    seed : int
        Seed of the split and of the initial weights.
    max_iter : int
        L-BFGS iterations.

    Returns
    -------
    MLP
        With ``info``: ``sha256`` of the file, ``source``, ``validation_rmse``,
        ``validation_r2``, ``train_rmse``, ``n_train``, ``n_validation``, ``weight_decay``.
    """
    from scipy.optimize import minimize
    inputs = [str(n) for n in inputs]
    what = f"mlp training on {path}"
    hidden = [int(h) for h in ([hidden] if np.isscalar(hidden) else hidden)]
    if not hidden or min(hidden) < 1:
        raise ConfigError(f"{what}: hidden = {hidden}, expected positive layer sizes")
    if not 0.0 < validation < 1.0 or weight_decay < 0:
        raise ConfigError(f"{what}: validation = {validation} (0 < v < 1) and weight_decay = "
                          f"{weight_decay} (>= 0)")
    x, y = read_pairs(path, inputs, target)
    rng = np.random.default_rng(seed)
    order = rng.permutation(y.size)
    n_val = int(round(validation * y.size))
    if n_val < 2 or y.size - n_val < 2 * len(inputs) + 2:
        raise DataError(f"{what}: {y.size} rows are too few for a training and a "
                        f"validation split")
    val, tr = order[:n_val], order[n_val:]
    x_mean, x_std = x[tr].mean(axis=0), x[tr].std(axis=0)
    y_mean, y_std = float(y[tr].mean()), float(y[tr].std())
    flat = [inputs[j] for j in np.flatnonzero(x_std == 0)] + ([target] if y_std == 0 else [])
    if flat:
        raise DataError(f"{what}: column(s) {flat} are constant in the training rows")
    xs, ys = (x[tr] - x_mean) / x_std, (y[tr] - y_mean) / y_std
    sizes = [len(inputs)] + hidden + [1]
    p0 = np.concatenate([np.concatenate([rng.standard_normal(a * b) / np.sqrt(a), np.zeros(b)])
                         for a, b in zip(sizes[:-1], sizes[1:])])
    res = minimize(_loss_grad, p0, args=(sizes, xs, ys, float(weight_decay)), jac=True,
                   method="L-BFGS-B", options={"maxiter": int(max_iter), "gtol": 1e-10})
    ws, bs = _unpack(res.x, sizes)
    net = MLP(inputs, ws, bs, x_mean, x_std, x[tr].min(axis=0), x[tr].max(axis=0), y_mean,
              y_std, target)
    err = net.predict(x[val]) - y[val]
    rmse = float(np.sqrt(np.mean(err ** 2)))
    net.info = {"sha256": file_sha256(path), "source": str(path), "validation_rmse": rmse,
                "validation_r2": 1.0 - float(np.mean(err ** 2) / np.var(y[val])),
                "train_rmse": float(np.sqrt(np.mean((net.predict(x[tr]) - y[tr]) ** 2))),
                "n_train": int(tr.size), "n_validation": int(n_val),
                "weight_decay": float(weight_decay), "iterations": int(res.nit)}
    return net


def mlp_operator(variable, times=None, file=None, train_file=None, inputs=None, target=None,
                 save_file=None, **train_options):
    """Config factory of ``operator = "mlp"`` (see the module docstring).

    ``file``: a trained ``.npz``; with ``inputs`` given too they must be its input names.
    ``train_file``: a CSV of pairs trained now (``inputs``, ``target`` (default the stream's
    variable), and the options of `train_mlp`); ``save_file`` writes the trained file. In a
    config, the paths are relative to the config's folder (option names ending in ``file``).
    """
    what = f"mlp operator for {variable!r}"
    if (file is None) == (train_file is None):
        raise ConfigError(f"{what}: give exactly one of 'file' (a trained .npz) or "
                          f"'train_file' (a CSV of pairs)")
    if file is not None:
        if train_options or save_file is not None or target is not None:
            extra = sorted(set(train_options) | {k for k, v in (("save_file", save_file),
                                                 ("target", target)) if v is not None})
            raise ConfigError(f"{what}: options {extra} only go with 'train_file'")
        net = MLP.load(file)
        if inputs is not None and list(inputs) != list(net.inputs):
            raise ConfigError(f"{what}: the config's inputs {list(inputs)} differ from the "
                              f"input names {list(net.inputs)} the file {file} was trained "
                              f"on (same names, same order)")
    else:
        if not inputs:
            raise ConfigError(f"{what}: 'train_file' needs 'inputs' (the CSV columns that are "
                              f"model outputs)")
        unknown = sorted(set(train_options) - TRAIN_OPTIONS)
        if unknown:
            raise ConfigError(f"{what}: unknown option(s) {unknown}; training takes "
                              f"{sorted(TRAIN_OPTIONS)}")
        net = train_mlp(train_file, inputs, target or variable, **train_options)
        if save_file is not None:
            net.save(save_file)
    log.info("%s: validation RMSE %.4g, R2 %.4f (%s)", what,
             net.info.get("validation_rmse", np.nan), net.info.get("validation_r2", np.nan),
             net.info.get("source", "?"))
    return MLPOperator(net, times=times, variable=variable)
