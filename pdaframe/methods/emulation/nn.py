"""Neural-network (MLP) emulators in JAX (issue 16 item 1): differentiable emulators.

`NNEmulator` is a multilayer perceptron (tanh hidden layers, linear output) from the
parameters to the standardised PCA scores of the outputs. Everything around the network is
the GP emulator's (`pdaframe.methods.emulation.gp.GPEmulator`, which it subclasses): the
input scaling to ``[0, 1]`` by the box, the output standardisation (per output or one common
scale), the PCA with its discarded variance, `predict`, `gaussian_loglik` (so calibrate–
emulate–sample uses it as it uses the GP: ``emulator = "nn"``), `extrapolation` and the
out-of-box warning; in addition a point farther than ``extrapolation_limit`` (unit-cube
distance) beyond the training runs is refused (`ModelError`).

Training: the runs are split (seeded) into a training and a held-out validation part
(``validation``); the weights start from a seeded Glorot draw and minimise the mean squared
error of the standardised scores plus a small weight decay, full batch, with
``scipy.optimize`` L-BFGS on ``jax.value_and_grad`` of the loss (float64; deterministic:
no stochastic minibatches, and no new dependency such as optax, as the issue's one-ML-stack
rule asks). Early stopping: the validation loss is evaluated at every iteration, and
training stops when it has not improved for ``patience`` iterations; the weights with the
lowest validation loss are kept. The loss weighs each PCA score's error by the score's
variance (the mean squared error of the standardised outputs). The predictive variance is the validation mean squared
error of each score (a constant per component, not a function of ``θ``: an MLP gives no
local uncertainty), plus the discarded PCA variance.

JAX is imported only when an `NNEmulator` is fitted or loaded (`import_jax`); without it
the error says what to install. ``jax_enable_x64`` is switched on at that point.
"""
from __future__ import annotations

import warnings

import numpy as np

from ...errors import ConfigError, DataError, ModelError, PluginError
from .gp import EXTRAPOLATION_WARN, GPEmulator

EXTRAPOLATION_LIMIT = 0.5     # unit-cube distance beyond the training runs that is refused
INSTALL_HINT = "jax==0.10.2, jaxlib==0.10.2 in .ci/constraints.txt"


def import_jax():
    """``(jax, jax.numpy)`` with float64 enabled (`pdaframe.models.jax_model.import_jax`);
    without JAX a `PluginError` naming what to install."""
    from ...models.jax_model import import_jax as jax_model_import
    try:
        return jax_model_import()
    except PluginError as err:
        raise PluginError(f"NN emulators: {err}; pinned: {INSTALL_HINT}") from None


def layer_shapes(n_in, hidden, n_out) -> list[tuple[int, int]]:
    """Weight-matrix shapes of the MLP ``n_in -> hidden... -> n_out``."""
    sizes = [int(n_in), *[int(h) for h in hidden], int(n_out)]
    return list(zip(sizes[:-1], sizes[1:]))


def mlp(jnp, w, U, shapes):
    """The MLP at unit-cube inputs ``U`` ``(n, d)`` with flat weights ``w`` (per layer:
    the matrix row-major, then the bias); tanh hidden layers, linear output."""
    h, pos = 2.0 * U - 1.0, 0
    for i, (a, b) in enumerate(shapes):
        W = w[pos:pos + a * b].reshape(a, b)
        bias = w[pos + a * b:pos + a * b + b]
        pos += a * b + b
        h = h @ W + bias
        if i < len(shapes) - 1:
            h = jnp.tanh(h)
    return h


def initial_weights(shapes, rng) -> np.ndarray:
    """Glorot-normal matrices and zero biases, flat."""
    parts = []
    for a, b in shapes:
        parts += [rng.standard_normal(a * b) * np.sqrt(2.0 / (a + b)), np.zeros(b)]
    return np.concatenate(parts)


class NNEmulator(GPEmulator):
    """MLP emulator of a scalar or vector function of ``θ`` (see the module docstring).

    Parameters
    ----------
    lower, upper : array_like, shape (n_param,)
        Box used to scale the inputs to ``[0, 1]``.
    hidden : sequence of int
        Widths of the hidden (tanh) layers.
    weight_decay : float
        Weight of ``mean(w²)`` in the loss (standardised units).
    validation : float
        Fraction of the runs held out for early stopping and the predictive variance
        (at least 2 runs are held out and at least 2 train).
    patience : int
        L-BFGS iterations without a lower validation loss before training stops.
    max_iter : int
        Maximum L-BFGS iterations.
    pca_variance, pca_tol, max_components, standardise
        As `GPEmulator` (PCA of the outputs, output standardisation).
    extrapolation_tol : float
        A prediction point farther than this (unit-cube distance) from the training runs'
        bounding box warns (with the distance).
    extrapolation_limit : float
        Farther than this is refused: `ModelError`.
    seed : int, optional
        Seeds the validation split and the initial weights.
    """

    def __init__(self, lower, upper, hidden=(32, 32), weight_decay=1e-6, validation=0.2,
                 patience=100, max_iter=5000, pca_variance=0.9999, pca_tol=None,
                 max_components=None, standardise=True, extrapolation_tol=EXTRAPOLATION_WARN,
                 extrapolation_limit=EXTRAPOLATION_LIMIT, seed=None):
        super().__init__(lower, upper, pca_variance=pca_variance, seed=seed,
                         extrapolation_tol=extrapolation_tol, standardise=standardise,
                         pca_tol=pca_tol, max_components=max_components)
        hidden = tuple(int(h) for h in np.atleast_1d(hidden))
        if not hidden or min(hidden) < 1:
            raise ConfigError(f"NNEmulator: hidden={hidden!r}: expected positive layer widths")
        if not 0 < validation < 1:
            raise ConfigError(f"NNEmulator: validation={validation!r} must be in (0, 1)")
        for name, val in (("patience", patience), ("max_iter", max_iter)):
            if int(val) != val or val < 1:
                raise ConfigError(f"NNEmulator: {name}={val!r} must be an integer ≥ 1")
        if not (weight_decay >= 0 and extrapolation_limit > 0):
            raise ConfigError("NNEmulator: weight_decay must be ≥ 0 and extrapolation_limit "
                              "> 0")
        self.hidden, self.weight_decay, self.validation = hidden, float(weight_decay), validation
        self.patience, self.max_iter = int(patience), int(max_iter)
        self.extrapolation_limit = float(extrapolation_limit)

    # --- training ---------------------------------------------------------------------------
    def fit(self, X, Y, warm=None) -> "NNEmulator":
        """Train on runs ``X`` ``(n_run, n_param)``, ``Y`` ``(n_run,)`` or ``(n_run, n_out)``.

        ``warm`` is accepted for `GPEmulator` compatibility and ignored (the PCA basis, so
        the targets, change with the runs).

        Raises
        ------
        DataError
            A non-finite input or output (naming the run and the column), or fewer than 4
            runs.
        """
        jax, jnp = import_jax()
        X = np.atleast_2d(np.asarray(X, dtype=float))
        Y = np.asarray(Y, dtype=float)
        Y2 = Y.reshape(len(Y), -1)
        for what, A in (("input", X), ("output", Y2)):
            bad = np.argwhere(~np.isfinite(A))
            if bad.size:
                raise DataError(f"NNEmulator.fit: training {what} of run {bad[0][0]} "
                                f"(column {bad[0][1]}) is {A[tuple(bad[0])]!r}; "
                                f"{len(np.unique(bad[:, 0]))} run(s) have non-finite "
                                f"{what}s: drop or rerun them")
        if len(X) < 4 or len(X) != len(Y2):
            raise DataError(f"NNEmulator.fit: needs at least 4 runs with one output row "
                            f"each, got {len(X)} inputs and {len(Y2)} outputs")
        rng = np.random.default_rng(self.seed)
        n_val = min(max(2, int(round(self.validation * len(X)))), len(X) - 2)
        order = rng.permutation(len(X))
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        U, S = self._targets(X[train], Y[train])
        Uv = self._scale(X[val])
        Sv = ((Yv := Y2[val]) - self.y_mean) / self.y_std
        if self.basis is not None:
            Sv = Sv @ self.basis
        Sv = (Sv - self.s_mean) / self.s_std
        self.shapes = layer_shapes(U.shape[1], self.hidden, S.shape[1])
        w0 = initial_weights(self.shapes, rng)
        self.weights, self.history = self._train(jax, jnp, w0, U, S, Uv, Sv)
        res = np.asarray(self._scores(Uv)) - Sv
        self.score_var = np.mean(res ** 2, axis=0)               # standardised units
        self.validation_rmse = float(np.sqrt(np.mean(
            (self.predict(X[val])[0].reshape(Yv.shape) - Yv) ** 2)))
        self.X_train, self.n_train, self.n_validation = U, len(train), n_val
        self._ll_const = None
        return self

    def _train(self, jax, jnp, w0, U, S, Uv, Sv):
        """L-BFGS with early stopping; returns the best-validation weights and the history
        (``loss``, ``val_loss`` per iteration, ``best_iter``, ``nit``)."""
        from scipy.optimize import minimize
        shapes, n_w, lam = self.shapes, w0.size, self.weight_decay
        U, S, Uv, Sv = (jnp.asarray(a) for a in (U, S, Uv, Sv))
        # each score's error weighs as its variance: the loss is the squared error of the
        # standardised outputs (PCA space), not of the unit-variance scores
        c = jnp.asarray(self.s_std ** 2 / np.sum(self.s_std ** 2) * len(self.s_std))

        def loss(w):
            r = mlp(jnp, w, U, shapes) - S
            return jnp.mean(r * r * c) + lam * jnp.sum(w * w) / n_w

        value_grad = jax.jit(jax.value_and_grad(loss))
        val_loss = jax.jit(lambda w: jnp.mean((mlp(jnp, w, Uv, shapes) - Sv) ** 2 * c))
        hist = {"loss": [], "val_loss": []}
        best = [np.inf, w0.copy(), 0]

        def fun(w):
            v, g = value_grad(jnp.asarray(w))
            return float(v), np.asarray(g, dtype=float)

        def callback(intermediate_result):
            w = intermediate_result.x
            vl = float(val_loss(jnp.asarray(w)))
            hist["loss"].append(float(intermediate_result.fun))
            hist["val_loss"].append(vl)
            if vl < best[0]:
                best[:] = [vl, np.array(w, dtype=float), len(hist["val_loss"])]
            elif len(hist["val_loss"]) - best[2] >= self.patience:
                raise StopIteration

        minimize(fun, w0, jac=True, method="L-BFGS-B", callback=callback,
                 options={"maxiter": self.max_iter, "maxcor": 20, "ftol": 0.0, "gtol": 1e-12})
        if not np.isfinite(best[0]):
            best[1] = w0
        hist = {k: np.array(v) for k, v in hist.items()}
        hist.update(best_iter=best[2], nit=len(hist["loss"]))
        return best[1], hist

    # --- prediction ---------------------------------------------------------------------------
    @property
    def n_components(self) -> int:
        return self.shapes[-1][1]

    def _scores(self, U):
        """Standardised scores of the MLP at unit-cube inputs (a JAX array)."""
        jax, jnp = import_jax()
        fn = self.__dict__.get("_jit")
        if fn is None:
            shapes = self.shapes
            fn = self._jit = jax.jit(lambda w, u: mlp(jnp, w, u, shapes))
        return fn(jnp.asarray(self.weights), jnp.asarray(U))

    def check_distance(self, X, warn=True) -> np.ndarray:
        """Unit-cube distances of ``X`` from the training runs' box; warns beyond
        ``extrapolation_tol`` and raises `ModelError` beyond ``extrapolation_limit``."""
        dist = self.extrapolation(X)
        self.last_extrapolation = dist
        if dist.max(initial=0.0) > self.extrapolation_limit:
            i = int(np.argmax(dist))
            raise ModelError(f"NNEmulator: point {np.atleast_2d(X)[i].tolist()} is "
                             f"{dist[i]:.3g} (unit-cube distance) beyond the training runs, "
                             f"more than extrapolation_limit {self.extrapolation_limit}; "
                             f"the emulator refuses it (train on a wider design)")
        far = dist > self.extrapolation_tol
        if warn and far.any():
            warnings.warn(f"NNEmulator: {int(far.sum())} prediction point(s) outside the "
                          f"training design, up to {dist.max():.3g} (unit-cube distance) "
                          f"beyond it", RuntimeWarning, stacklevel=3)
        return dist

    def predict_scores(self, X, warn=True):
        """Mean and (constant) variance of each PCA score at ``X``, ``(n_pts, k)`` each."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        self.check_distance(X, warn)
        mu = np.asarray(self._scores(self._scale(X)), dtype=float)
        var = np.broadcast_to(self.score_var * self.s_std ** 2, mu.shape)
        return self.s_mean + mu * self.s_std, var.copy()

    def mean_jax(self, theta):
        """The emulated outputs at one ``theta`` as a JAX function (flat ``(n_out,)``):
        what `pdaframe.methods.emulation.nn_model.EmulatorModel` differentiates."""
        _, jnp = import_jax()
        u = ((theta - self.lower) / (self.upper - self.lower))[None]
        s = self.s_mean + mlp(jnp, jnp.asarray(self.weights), u, self.shapes)[0] * self.s_std
        z = s if self.basis is None else jnp.asarray(self.basis) @ s
        return self.y_mean + z * self.y_std

    # --- file ---------------------------------------------------------------------------------
    ARRAYS = ("lower", "upper", "x_min", "x_max", "y_mean", "y_std", "s_mean", "s_std",
              "weights", "score_var", "trunc_var", "X_train")

    def to_arrays(self) -> dict:
        """Everything a prediction needs, as arrays (prefix ``nn_``; no pickle)."""
        out = {f"nn_{k}": np.asarray(getattr(self, k)) for k in self.ARRAYS}
        out.update(nn_hidden=np.array(self.hidden), nn_scalar=np.array(self.scalar),
                   nn_n_out=np.array(self.shapes[-1][1]),
                   nn_limits=np.array([self.extrapolation_tol, self.extrapolation_limit]),
                   nn_explained_variance=np.array(self.explained_variance))
        for k in ("basis", "trunc_basis"):
            v = getattr(self, k)
            out[f"nn_{k}"] = np.zeros((0, 0)) if v is None else np.asarray(v)
        return out

    @classmethod
    def from_arrays(cls, a) -> "NNEmulator":
        """The emulator `to_arrays` wrote (``a``: a mapping of arrays)."""
        tol, limit = (float(v) for v in a["nn_limits"])
        em = cls(a["nn_lower"], a["nn_upper"], hidden=tuple(int(h) for h in a["nn_hidden"]),
                 extrapolation_tol=tol, extrapolation_limit=limit)
        for k in cls.ARRAYS:
            setattr(em, k, np.array(a[f"nn_{k}"]))
        for k in ("basis", "trunc_basis"):
            v = np.array(a[f"nn_{k}"])
            setattr(em, k, None if v.size == 0 else v)
        em.scalar, em.explained_variance = bool(a["nn_scalar"]), float(a["nn_explained_variance"])
        em.shapes = layer_shapes(len(em.lower), em.hidden, int(a["nn_n_out"]))
        em.n_train, em._ll_const = len(em.X_train), None
        em._trunc_cov = np.zeros((len(em.y_mean),) * 2) if em.basis is None else None
        return em
