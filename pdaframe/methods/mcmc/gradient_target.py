"""The control-space target of the gradient-based samplers (`pdaframe.methods.mcmc.nuts`):
``log p(u)``, its gradient and ``J`` (`GradientTarget`), and the check that a problem has a
gradient at all (`gradient_mode`)."""
from __future__ import annotations

import logging
import math
import warnings

import numpy as np
from scipy.special import expit

from ...errors import ConfigError, ModelError
from .chains import log_jacobian

log = logging.getLogger(__name__)

GRADIENTS = ("auto", "adjoint", "tangent", "fd")


class GradientTarget:
    """``(log p(u), d log p / du, J)`` at ``u`` (picklable: holds the problem).

    A failed model run (`ModelError`), a non-finite cost or gradient gives ``(-inf, NaN,
    inf)``: the sampler treats it as a divergence.
    """

    def __init__(self, problem, mode=None):
        self.problem, self.mode = problem, mode
        kinds = np.array(problem.space.transform.kinds)
        self._unit = (kinds == "log") | (kinds == "neglog")   # d log|dtheta/dphi| / dphi = 1
        self._logit = kinds == "logit"

    def __call__(self, u):
        space = self.problem.space
        u = np.asarray(u, dtype=float)
        phi = space.phi_b + space.scale @ u
        theta = space.transform.to_theta(phi)
        bad = (-math.inf, np.full(u.size, np.nan), math.inf)
        try:
            J = float(self.problem.cost(theta))
            if not math.isfinite(J):
                return bad
            g = np.asarray(self.problem.gradient(theta, mode=self.mode), dtype=float)
        except ModelError as err:
            log.debug("gradient target: %s", err)
            return bad
        if not np.all(np.isfinite(g)):
            return bad
        dlogdet = np.zeros(u.size)
        dlogdet[self._unit] = 1.0
        dlogdet[self._logit] = 1.0 - 2.0 * expit(phi[self._logit])
        grad = space.scale.T @ (dlogdet - space.transform.dtheta_dphi(phi) * g)
        return -J + log_jacobian(space, u), grad, J


def gradient_mode(problem, gradient, method) -> str | None:
    """The ``mode`` handed to ``problem.gradient`` (None: each model's own), or a
    `ConfigError` when the problem has no gradient and ``gradient`` is not ``"fd"``."""
    if gradient not in GRADIENTS:
        raise ConfigError(f"{method}: option gradient = {gradient!r}; expected one of "
                          f"{', '.join(GRADIENTS)}")
    if gradient == "fd":
        warnings.warn(f"{method}: finite-difference gradients (n_param + 1 = "
                      f"{problem.n_param + 1} model runs per leapfrog step); a model with an "
                      f"adjoint or an emulator with gradients is far cheaper",
                      RuntimeWarning, stacklevel=3)
        return "fd"
    for p in getattr(problem, "site_problems", [problem]):
        mode = p._mode(None if gradient == "auto" else gradient)
        if mode == "fd":
            name = type(p.model).__name__
            raise ConfigError(
                f"{method}: the model {name} has no adjoint or tangent linear, so the problem "
                f"has no gradient and {method} needs one. Options: an emulator of the model "
                f"that gives gradients (a differentiable emulator used as the model), a model "
                f"with an adjoint (a JAX model, the DALEC2 kernel), finite differences with "
                f"option gradient = \"fd\" (n_param + 1 runs per gradient, as lbfgsb-fd), "
                f"or a gradient-free sampler (dream-zs, adaptive-metropolis, emcee)")
    return None if gradient == "auto" else gradient
