"""The Problem: model + observation operators + data streams + prior -> cost and gradient.

    J(theta) = sum_k w_k/2 (h_k(M(theta)) - y_k)^T R_k^-1 (h_k(M(theta)) - y_k) + J_b(theta)

for Gaussian streams (the default); a stream with another likelihood
(`pdaframe.observations.likelihoods`) contributes its ``-log p(r_k | h_k)`` instead, with
its estimated error hyperparameters ``h_k`` (`pdaframe.problem.likelihood_terms`).

`Problem` works in physical space (``theta``); the control space ``u`` (`ControlSpace`),
``cost_u``/``gradient_u`` and the posterior covariance come from
`pdaframe.problem.base.BaseProblem`.

Operator parameters (bias, SIF slope/offset) are estimated with the model's: an operator
with a non-empty ``parameters`` tuple (of `pdaframe.plugin.Parameter`) has them appended to
theta after the model's, stream by stream, named ``"<stream>:<name>"``::

    theta = [model parameters..., stream_1 operator parameters..., stream_2 ...,
             stream_1 likelihood hyperparameters..., stream_2 ...]

Such an operator implements ``apply(outputs, params)``, ``tangent(outputs, d_outputs,
params)``, ``adjoint(outputs, d_obs, params)``, ``param_tangent(outputs, params, d_params)``
(shape ``(n_obs,)``) and ``param_adjoint(outputs, params, d_obs)`` (shape ``(n_params,)``).
Operators without parameters are called exactly as before (no ``params`` argument).

Only the outputs the streams read are asked of a model that can select them (a ``run``, and
``tangent``, with an ``outputs`` keyword; `pdaframe.interfaces`): `Problem.needed_outputs`.
"""
from __future__ import annotations

import copy
import logging
import math
from typing import Mapping, Sequence

import numpy as np

from ..errors import ConfigError, DataError, ModelError
from ..interfaces import has_adjoint, has_tangent, selects_outputs
from ..observations.streams import DataStream
from ..parallel.base import current_member
from ..prior.priors import Prior
from .base import BaseProblem, ControlSpace  # noqa: F401  (ControlSpace: re-exported)
from .layout import (bind_likelihoods, needed_outputs,  # noqa: F401  (re-exported)
                     operator_parameter_layout)
from .likelihood_terms import cost_hessian, resample_noise
from .twin import check_stream_outputs, synthetic_streams

log = logging.getLogger(__name__)

EPS = np.finfo(float).eps
_F8 = np.dtype(float)


def _call(method, params, *args):
    """Call an operator method, with ``params=`` only for a parameterised operator."""
    return method(*args) if params is None else method(*args, params=params)


class _Bound:
    """An operator with its parameters fixed (for `synthetic_streams`)."""

    def __init__(self, operator, params):
        self.operator, self.params = operator, params
        self.inputs = getattr(operator, "inputs", None)

    def apply(self, outputs):
        return self.operator.apply(outputs, params=self.params)


class Problem(BaseProblem):
    """Cost function, gradient and linearisation of a parameter-estimation problem.

    Parameters
    ----------
    model : object
        Has ``parameter_names`` and ``run(theta)``; ``tangent``/``adjoint`` optional.
    prior : Prior
        Prior over the full vector: the model's parameters (order of
        ``model.parameter_names``), then each stream's operator parameters, then each
        stream's estimated likelihood hyperparameters (see the module docstring). The
        problem keeps a named copy; ``prior`` itself is not changed.
    streams : sequence of DataStream
        Observation streams.
    fd_scheme : {"forward", "central"}
        Finite differences used when the model has no adjoint/tangent. Forward: ``n`` extra
        runs per gradient, step ``h_i = sqrt(eps) * max(|theta_i|, s_i)``; central: ``2n``,
        ``h_i = eps**(1/3) * max(|theta_i|, s_i)``; ``s_i`` is the prior standard deviation.
        A step that would cross a bound is taken the other way.

    Attributes
    ----------
    nrun, ntangent, nadjoint : int
        Counts of model runs, tangent-linear and adjoint calls.
    parameter_names : list of str
        Model parameters, then operator parameters ``"<stream>:<name>"``, then likelihood
        hyperparameters ``"<stream>:<name>"``.
    likelihoods : list of Likelihood
        Per stream, its likelihood bound to it (`pdaframe.observations.likelihoods`).
    n_model : int
        Number of model parameters (``theta[:n_model]`` goes to the model).
    needed_outputs : tuple of str or None
        The model outputs the streams' operators read (`needed_outputs`); None: every
        output (an operator does not list its ``inputs``). Cost, gradient, Jacobian and
        equivalents ask the model for these only, when its ``run`` (``tangent``) takes an
        ``outputs`` keyword (`pdaframe.interfaces.selects_outputs`).
    """

    def __init__(self, model, prior: Prior, streams: Sequence[DataStream], fd_scheme="forward"):
        names = list(getattr(model, "parameter_names", None) or [])
        if not callable(getattr(model, "run", None)) or not names:
            raise ConfigError(f"model {model!r} needs parameter_names and a run(theta) method")
        streams = list(streams)
        if not streams:
            raise DataError("problem has no observation streams")
        seen = set()
        for s in streams:
            if s.name in seen:
                raise DataError(f"two streams are named {s.name!r}")
            seen.add(s.name)
        self.n_model = len(names)
        op_names, self._op_slices = operator_parameter_layout(streams, names)
        lik_names, self._hyper_slices, self.likelihoods = bind_likelihoods(
            streams, names + op_names)
        names = names + op_names + lik_names
        extra = "".join(f" and {len(n)} {k} {n}" for k, n in (
            ("operator parameters", op_names), ("likelihood hyperparameters", lik_names)) if n)
        self._use_prior(prior, names, f"the problem {len(names)}: the model's "
                        f"{self.n_model}{extra}", f"the problem's {names}")
        if fd_scheme not in ("forward", "central"):
            raise ConfigError(f"fd_scheme {fd_scheme!r}: expected 'forward' or 'central'")
        self.model, self.streams = model, streams
        self.fd_scheme = fd_scheme
        self.nrun = self.ntangent = self.nadjoint = 0
        self._last = (None, None, None)               # (key, names or None: all, outputs)
        self.needed_outputs = needed_outputs(streams)
        self._needed_set = None if self.needed_outputs is None else \
            frozenset(self.needed_outputs)
        self._select = selects_outputs(model.run)
        self._select_tangent = selects_outputs(getattr(model, "tangent", None))
        self._inputs_checked = False
        self._op_slices_any = any(sl is not None for sl in self._op_slices)
        self.n_hyper = len(lik_names)
        self._extra = self._op_slices_any or bool(lik_names)    # theta longer than the model's
        self._gaussian = [lik.gaussian for lik in self.likelihoods]

    # --- model runs ------------------------------------------------------------------------
    def run(self, theta, outputs=None) -> Mapping[str, np.ndarray]:
        """Model outputs at ``theta`` (cached for the last model part; counts runs).

        Parameters
        ----------
        theta : array_like, shape (n_param,)
            The full vector; only ``theta[:n_model]`` is given to the model, so changing
            operator parameters alone does not rerun it.
        outputs : collection of str, optional
            The outputs needed (e.g. `needed_outputs`), asked of a model that can select
            them; None (default): every output. The last run is reused when it holds them.
            The problem's first run asks for every output, so that a stream that needs an
            output the model does not produce is reported with the model's outputs.
        """
        theta = np.asarray(theta, dtype=float)
        if theta.ndim != 1:
            theta = theta.reshape(-1)
        if theta.size != self.n_param:
            raise ConfigError(f"theta has {theta.size} values, the problem {self.n_param} "
                              f"parameters {self.parameter_names}")
        if outputs is None or not self._select or not self._inputs_checked:
            names = None          # the first run is a full one: streams checked against it
        elif outputs is self.needed_outputs:
            names, outputs = self._needed_set, self.needed_outputs
        else:
            names = frozenset(outputs)
            outputs = sorted(names)
        # a stochastic model gives each member its own run (`current_member`); read the
        # cache once (executor threads share it)
        if self._extra:
            theta = theta[:self.n_model]
        key = (theta.tobytes(), current_member())
        last = self._last
        if last[0] == key and (last[1] is None or names is not None and names <= last[1]):
            return last[2]
        self.nrun += 1
        theta = theta.copy()                          # the model's own copy
        outputs = self.model.run(theta) if names is None else \
            self.model.run(theta, outputs=outputs)
        outputs = {k: v if type(v) is np.ndarray and v.dtype is _F8 else
                   np.asarray(v, dtype=float) for k, v in outputs.items()}
        self._check_outputs(outputs, key[0])
        self._last = (key, names, outputs)
        return outputs

    def _run(self, theta) -> Mapping[str, np.ndarray]:
        """`run` for the streams: the outputs they read only."""
        return self.run(theta, self.needed_outputs)

    def _check_outputs(self, outputs, key):
        """Operators' inputs present (checked once) and finite (every run); ``key``: the
        bytes of the model's theta (attached to the error, as the model was given it)."""
        if not self._inputs_checked:
            check_stream_outputs(self.streams, outputs)
            self._inputs_checked = True
        used = self.needed_outputs or outputs     # operators without `inputs`: check all
        for name in used:
            arr = outputs[name]
            # fast path (a NaN or inf, or an overflow, falls through to the exact check)
            if math.isfinite(np.dot(arr, arr) if arr.ndim == 1 else np.add.reduce(arr, None)):
                continue
            bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
            if bad.any():
                raise ModelError(f"model output {name!r} is not finite at time index "
                                 f"{int(np.flatnonzero(bad)[0])}",
                                 theta=np.frombuffer(key, dtype=float).copy())

    def operator_parameters(self, theta) -> list:
        """Per stream, its operator's parameters taken from ``theta`` (None: it has none)."""
        if not self._op_slices_any:
            return list(self._op_slices)                  # all None
        theta = np.asarray(theta, dtype=float)
        return [None if sl is None else theta[sl] for sl in self._op_slices]

    def fit_operators(self, theta=None) -> list[str]:
        """Fit operators that need a reference run (``needs_fit``, e.g. CDF matching) once.

        The reference run is the model at ``theta`` (default: the prior mean); each such
        operator is fitted on it and the stream's observed values, then stays fixed.
        Returns the names of the streams fitted.
        """
        todo = [s for s in self.streams if getattr(s.operator, "needs_fit", False)]
        if todo:
            outputs = self._run(self.prior.mean if theta is None else theta)
            for s in todo:
                s.operator.fit(outputs, s.values)
                log.info("stream %r: operator fitted on the reference run", s.name)
        return [s.name for s in todo]

    def equivalents(self, theta) -> dict[str, np.ndarray]:
        """Model equivalents ``h_k(M(theta))`` of every stream (all values, masked or not)."""
        return {s.name: eq for s, eq in zip(self.streams, self._equivalents(theta))}

    def _equivalents(self, theta) -> list[np.ndarray]:
        """`equivalents` as a list in stream order, each a flat float array."""
        outputs = self.run(theta, self.needed_outputs)
        eqs = []
        for s, p in zip(self.streams, self.operator_parameters(theta)):
            eq = _call(s.operator.apply, p, outputs)
            if type(eq) is not np.ndarray or eq.dtype is not _F8 or eq.ndim != 1:
                eq = np.asarray(eq, dtype=float).reshape(-1)
            eqs.append(eq)
        return eqs

    def _residuals(self, theta):
        res = []
        for s, eq in zip(self.streams, self._equivalents(theta)):
            if eq.size != s.values.size:
                raise DataError(f"stream {s.name!r}: operator gives {eq.size} values "
                                f"for {s.values.size} observations")
            res.append(s.residual(eq))
        return res

    # --- cost and gradient -----------------------------------------------------------------
    def _terms(self, theta) -> list[float]:
        """``[J_b, J_o,1, ...]`` (streams in order)."""
        terms = [self.prior.cost(theta)]
        for s, r, lik, sl, gauss in zip(self.streams, self._residuals(theta), self.likelihoods,
                                         self._hyper_slices, self._gaussian):
            if gauss:
                z = s.error.whiten(r)
                terms.append(0.5 * s.weight * float(np.dot(z, z)))
            else:
                terms.append(lik.cost(r, theta[sl]))
        return terms

    def _cost_gradients(self, theta, res) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Per stream ``d J_o,k / d r_k``, and ``d J_o / d theta`` through the likelihood
        hyperparameters (shape ``(n_param,)``; None when nothing is estimated)."""
        dh_all = np.zeros(self.n_param) if self.n_hyper else None
        out = []
        for s, r, lik, sl, gauss in zip(self.streams, res, self.likelihoods,
                                         self._hyper_slices, self._gaussian):
            if gauss:
                out.append(s.weight * s.error.solve(r))
                continue
            dr, dh = lik.cost_gradient(r, theta[sl])
            if dh.size:
                dh_all[sl] += dh
            out.append(dr)
        return out, dh_all

    def cost_terms(self, theta) -> dict[str, float]:
        """``{"prior": J_b, <stream name>: J_o,k, ...}``; their sum is `cost`."""
        return dict(zip(["prior", *(s.name for s in self.streams)], self._terms(theta)))

    def cost(self, theta) -> float:
        """``J(theta)``."""
        theta = np.asarray(theta, dtype=float)
        if not self.prior.inside(theta):
            return np.inf
        return float(sum(self._terms(theta)))

    def log_likelihood(self, theta, pointwise=False):
        """Normalised ``log p(y | theta)`` of the valid observations (streams in order).

        Unlike `cost` it keeps the constant terms (``log det R``, ``log 2 pi``), as model
        comparison needs; a stream's weight ``w`` makes its errors ``R / w``. Each stream's
        likelihood gives it (``log_density``, at theta's hyperparameters). With
        ``pointwise``, one value per valid observation (stream order; correlated errors:
        each given the earlier ones, `pdaframe.observations.likelihoods`). ``-inf`` (every
        value) outside the prior's bounds.
        """
        theta = np.asarray(theta, dtype=float)
        if not self.prior.inside(theta):
            return np.full(self.n_obs, -np.inf) if pointwise else -np.inf
        parts = [lik.log_density(r, theta[sl]) for lik, r, sl in
                 zip(self.likelihoods, self._residuals(theta), self._hyper_slices)]
        return np.concatenate(parts) if pointwise else float(sum(p.sum() for p in parts))

    def _mode(self, mode):
        if mode in (None, "auto"):
            return "adjoint" if has_adjoint(self.model) else \
                "tangent" if has_tangent(self.model) else "fd"
        if mode not in ("adjoint", "tangent", "fd"):
            raise ConfigError(f"derivative mode {mode!r}: expected auto, adjoint, tangent or fd")
        if mode == "adjoint" and not has_adjoint(self.model) or \
                mode == "tangent" and not has_tangent(self.model):
            raise ConfigError(f"the model has no {mode}")
        return mode

    def gradient(self, theta, mode=None) -> np.ndarray:
        """``dJ/dtheta``.

        Parameters
        ----------
        theta : array_like, shape (n_param,)
        mode : {None, "auto", "adjoint", "tangent", "fd"}
            ``auto``: the adjoint (one sweep), else ``n_param`` tangent-linear calls, else
            finite differences (see ``fd_scheme``).
        """
        theta = np.asarray(theta, dtype=float)
        mode = self._mode(mode)
        res = self._residuals(theta)
        grad = np.array(self.prior.gradient(theta), dtype=float)
        d_res, dh = self._cost_gradients(theta, res)
        if dh is not None:
            grad += dh
        if mode == "adjoint":
            outputs = self._run(theta)
            d_out: dict[str, np.ndarray] = {}
            for s, d, p, sl in zip(self.streams, d_res, self.operator_parameters(theta),
                                   self._op_slices):
                d_obs = s.on_all(d)
                for name, v in _call(s.operator.adjoint, p, outputs, d_obs).items():
                    d_out[name] = d_out[name] + v if name in d_out else v
                if sl is not None:
                    grad[sl] += np.asarray(s.operator.param_adjoint(outputs, p, d_obs),
                                           dtype=float)
            self.nadjoint += 1
            theta_m = theta[:self.n_model].copy()
            grad[:self.n_model] += np.asarray(self.model.adjoint(theta_m, d_out), dtype=float)
            return grad
        return grad + self.jacobian(theta, mode).T @ np.concatenate(d_res)

    def data_hessian(self, theta, jacobian=None, mode=None) -> np.ndarray:
        """Hessian of the observation term at ``theta``, for the Laplace posterior
        (`BaseProblem.posterior_covariance`).

        With only fixed Gaussian streams, Gauss–Newton ``sum_k w_k G_k^T R_k^-1 G_k``
        (`BaseProblem.data_hessian`). With a non-Gaussian likelihood or estimated error
        hyperparameters Gauss–Newton is wrong (the hyperparameters are not in ``G``, and
        ``-log p`` is not quadratic in ``r``): the Hessian of the cost is then taken by
        central differences of the exact gradient (``2 n_param`` gradients in ``mode``),
        symmetrised (`pdaframe.problem.likelihood_terms.cost_hessian`); ``jacobian`` is
        not used.
        """
        if all(self._gaussian):
            return super().data_hessian(theta, jacobian, mode)
        return cost_hessian(self, np.asarray(theta, dtype=float), mode)

    # --- linearisation ---------------------------------------------------------------------
    def observation_vector(self, theta) -> np.ndarray:
        """Stacked valid model equivalents ``G(theta)``, shape ``(n_obs,)``."""
        eq = self.equivalents(theta)
        return np.concatenate([eq[s.name][s.mask] for s in self.streams])

    def jacobian(self, theta, mode=None) -> np.ndarray:
        """``dG/dtheta`` of the stacked valid observations, shape ``(n_obs, n_param)``.

        ``mode`` as in `gradient`, but ``auto`` prefers ``n_param`` tangent-linear calls
        over ``n_obs`` adjoint calls.
        """
        theta = np.asarray(theta, dtype=float)
        if mode in (None, "auto"):
            mode = "tangent" if has_tangent(self.model) else self._mode(None)
        mode = self._mode(mode)
        params = self.operator_parameters(theta)
        if mode == "tangent":
            outputs = self._run(theta)
            jac = np.empty((self.n_obs, self.n_param))      # filled in place: no copies
            select = {} if self.needed_outputs is None or not self._select_tangent else \
                {"outputs": sorted(self.needed_outputs)}
            for j in range(self.n_model):
                e = np.zeros(self.n_model)
                e[j] = 1.0
                d_out = self.model.tangent(theta[:self.n_model].copy(), e, **select)
                self.ntangent += 1
                i = 0
                for s, p in zip(self.streams, params):
                    jac[i:i + s.n_valid, j] = np.asarray(
                        _call(s.operator.tangent, p, outputs, d_out)).reshape(-1)[s.mask]
                    i += s.n_valid
            self._operator_jacobian(outputs, params, out=jac[:, self.n_model:])
            return jac
        if mode == "adjoint":
            outputs = self._run(theta)
            rows = []
            for s, p in zip(self.streams, params):
                for i in np.flatnonzero(s.mask):
                    d_obs = np.zeros(s.values.size)
                    d_obs[i] = 1.0
                    d_out = _call(s.operator.adjoint, p, outputs, d_obs)
                    self.nadjoint += 1
                    rows.append(np.asarray(self.model.adjoint(theta[:self.n_model].copy(),
                                                              d_out), dtype=float))
            return np.hstack([np.vstack(rows), self._operator_jacobian(outputs, params)])
        return self._fd_jacobian(theta)

    def _operator_jacobian(self, outputs, params, out=None) -> np.ndarray:
        """``dG/d(operator parameters)``, shape ``(n_obs, n_param - n_model)`` (into
        ``out`` if given)."""
        jac = np.zeros((self.n_obs, self.n_param - self.n_model)) if out is None else out
        jac[...] = 0.0
        i = 0
        for s, p, sl in zip(self.streams, params, self._op_slices):
            if sl is not None:
                for j in range(p.size):
                    e = np.zeros(p.size)
                    e[j] = 1.0
                    col = np.asarray(s.operator.param_tangent(outputs, p, e), dtype=float)
                    jac[i:i + s.n_valid, sl.start - self.n_model + j] = col.reshape(-1)[s.mask]
            i += s.n_valid
        return jac

    def _fd_jacobian(self, theta):
        std = np.sqrt(np.diag(self.prior.scale @ self.prior.scale.T))
        size = np.maximum(np.abs(theta), std)
        g0 = self.observation_vector(theta)
        cached = self._last
        jac = np.empty((g0.size, self.n_param))
        central = self.fd_scheme == "central"
        base = EPS ** (1 / 3) if central else np.sqrt(EPS)
        for j in range(self.n_param):
            h = base * size[j]
            lo, up = self.prior.lower[j], self.prior.upper[j]
            if central and theta[j] - h >= lo and theta[j] + h <= up:
                tp, tm = theta.copy(), theta.copy()
                tp[j] += h
                tm[j] -= h
                jac[:, j] = (self.observation_vector(tp) - self.observation_vector(tm)) / (2 * h)
                continue
            if theta[j] + h > up:
                h = -h
            tp = theta.copy()
            tp[j] += h
            h = tp[j] - theta[j]                         # the step actually represented
            jac[:, j] = (self.observation_vector(tp) - g0) / h
        self._last = cached                              # leave the cache at theta
        return jac

    def synthetic(self, truth, seed) -> "Problem":
        """The same problem with synthetic observations from a run at ``truth``.

        Each stream's equivalents at ``truth`` (operator parameters included) plus noise
        drawn as in `pdaframe.synthetic_streams` (same seeds, so without operator
        parameters the values are those of ``synthetic_streams(model, truth, streams,
        seed)``); a stream whose likelihood is not a fixed Gaussian draws its noise from
        its likelihood at the true hyperparameters instead
        (`pdaframe.problem.likelihood_terms.resample_noise`). The model run is not counted
        in ``nrun``.

        Parameters
        ----------
        truth : array_like, shape (n_param,)
            The full true vector.
        seed : int
            Seed of the noise.
        """
        truth = np.asarray(truth, dtype=float).reshape(-1)
        if truth.size != self.n_param:
            raise ConfigError(f"truth has {truth.size} values, the problem {self.n_param} "
                              f"parameters {self.parameter_names}")
        bound = []
        for s, p in zip(self.streams, self.operator_parameters(truth)):
            b = copy.copy(s)
            if p is not None:
                b.operator = _Bound(s.operator, p)
            bound.append(b)
        streams = synthetic_streams(self.model, truth[:self.n_model], bound, seed)
        for new, s in zip(streams, self.streams):
            new.operator = s.operator
        resample_noise(self, streams, truth, seed)
        return Problem(self.model, self.prior, streams, fd_scheme=self.fd_scheme)
