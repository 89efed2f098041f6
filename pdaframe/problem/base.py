"""The interface every problem shares: the control space, its cost and gradient, and the
Gauss–Newton (Laplace) posterior covariance.

Algorithms move in the control space ``u`` (`ControlSpace`):
``u = S^-1 (phi(theta) - phi(theta_b))`` with ``phi`` the prior's bounds transform and ``S``
the prior's square root scaled to ``phi``. For a Gaussian prior without bounds this is the
usual control-variable transform ``u = L^-1 (theta - theta_b)``.

`BaseProblem` holds what does not depend on how the cost is evaluated: the prior (a named
copy: the caller's prior is never changed), the control space, ``cost_u``/``gradient_u``, the
observation term's Gauss–Newton Hessian from a Jacobian, and the posterior covariance.
`pdaframe.problem.single.Problem` (one model) and
`pdaframe.problem.multisite.MultiSiteProblem` (many sites) subclass it.
"""
from __future__ import annotations

import copy
import functools
import logging

import numpy as np
from scipy import linalg

from ..errors import ConfigError
from ..prior.priors import GaussianPrior, Prior, solve_lower

log = logging.getLogger(__name__)

#: memory of one block of ``R^-1 G`` in `BaseProblem.data_hessian`
HESSIAN_BLOCK_BYTES = 8 * 2**20


class ControlSpace:
    """Map between physical ``theta`` and the unbounded, prior-scaled control ``u``.

    Parameters
    ----------
    prior : Prior
        Supplies the background, transform and scale ``S``.
    """

    def __init__(self, prior: Prior):
        self.transform = prior.transform
        self.phi_b = self.transform.to_phi(prior.mean)
        d = 1.0 / self.transform.dtheta_dphi(self.phi_b)        # d phi / d theta at theta_b
        self.scale = d[:, None] * prior.scale                    # S_phi = D S (lower triangular)

    @functools.cached_property
    def log_det_scale(self) -> float:
        """``log|det S_phi|`` (``S_phi`` lower triangular): the constant part of
        ``log|d theta / d u|``, computed once (samplers add it at every point)."""
        return float(np.sum(np.log(np.abs(np.diag(self.scale)))))

    def to_u(self, theta) -> np.ndarray:
        self.transform.check_inside(theta, "start point")
        return solve_lower(self.scale, self.transform.to_phi(theta) - self.phi_b)

    def to_theta(self, u) -> np.ndarray:
        return self.transform.to_theta(self.phi_b + self.scale @ np.asarray(u, dtype=float))

    def pullback(self, u, grad_theta) -> np.ndarray:
        """Gradient in ``u`` from the gradient in ``theta`` (chain rule)."""
        phi = self.phi_b + self.scale @ np.asarray(u, dtype=float)
        return self.scale.T @ (self.transform.dtheta_dphi(phi) * grad_theta)


class BaseProblem:
    """Control-space cost, gradient and posterior covariance of a problem.

    A subclass calls `_use_prior` in its constructor (which sets ``prior``,
    ``parameter_names`` and ``space``), keeps its observation streams in ``streams`` (each
    with ``n_valid``, ``weight`` and ``error``), and implements ``cost(theta)``,
    ``gradient(theta, mode=None)`` and ``jacobian(theta, mode=None)``.

    Attributes
    ----------
    prior : Prior
        A copy of the prior given, named after the problem's parameters.
    parameter_names : list of str
    space : ControlSpace
        The control space of ``prior``.
    streams : list of DataStream
    """

    def _use_prior(self, prior: Prior, names, sizes: str, expected: str, what: str = ""):
        """Keep a copy of ``prior`` named ``names``; the caller's prior is not changed.

        Parameters
        ----------
        prior : Prior
        names : list of str
            The problem's parameter names.
        sizes, expected : str
            End of the error messages: the problem's parameter count (with its origin), and
            the parameter names expected.
        what : str
            Start of the error messages (``"multi-site "``).

        Raises
        ------
        ConfigError
            ``prior`` has another number of parameters, or other names.
        """
        if prior.n != len(names):
            raise ConfigError(f"{what}prior has {prior.n} parameters, {sizes}")
        if prior.named and list(prior.names) != names:
            raise ConfigError(f"{what}prior parameters {list(prior.names)} do not match "
                              f"{expected}")
        prior = copy.deepcopy(prior)
        prior.names[:] = prior.transform.names[:] = names
        self.prior, self.parameter_names = prior, names
        self.space = ControlSpace(prior)

    @property
    def n_param(self) -> int:
        return len(self.parameter_names)

    @property
    def n_obs(self) -> int:
        """Number of valid observations over all streams."""
        return sum(s.n_valid for s in self.streams)

    # --- control space -------------------------------------------------------------------
    def cost_u(self, u) -> float:
        """``J`` as a function of the control variable ``u``."""
        return self.cost(self.space.to_theta(u))

    def gradient_u(self, u) -> np.ndarray:
        """``dJ/du``."""
        return self.space.pullback(u, self.gradient(self.space.to_theta(u)))

    # --- Laplace posterior ---------------------------------------------------------------
    def data_hessian(self, theta, jacobian=None, mode=None) -> np.ndarray:
        """Gauss–Newton Hessian of the observation term, ``sum_k w_k G_k^T R_k^-1 G_k``.

        Accumulated stream by stream in blocks of Jacobian columns (``R_k^-1`` applied to
        at most `HESSIAN_BLOCK_BYTES` at a time), so beyond the Jacobian itself the memory
        is ``O(n_param^2 + block)``: the Jacobian is never copied.

        Parameters
        ----------
        theta : array_like, shape (n_param,)
        jacobian : ndarray, shape (n_obs, n_param), optional
            Default ``jacobian(theta, mode)``.
        mode : str, optional
            As in ``jacobian``.

        Returns
        -------
        ndarray, shape (n_param, n_param)
        """
        jac = self.jacobian(theta, mode=mode) if jacobian is None else jacobian
        hess = np.zeros((self.n_param, self.n_param))
        i = 0
        for s in self.streams:
            rows = jac[i:i + s.n_valid]
            i += s.n_valid
            step = max(1, HESSIAN_BLOCK_BYTES // (8 * max(s.n_valid, 1)))
            for j in range(0, self.n_param, step):
                hess[:, j:j + step] += s.weight * (rows.T @ s.error.solve(rows[:, j:j + step]))
        return 0.5 * (hess + hess.T)

    def posterior_covariance(self, theta, jacobian=None, mode=None) -> np.ndarray:
        """Gauss–Newton posterior covariance ``(G^T R^-1 G + B^-1)^-1`` at ``theta``.

        Computed as ``S (I + S^T H S)^-1 S^T`` with ``B = S S^T`` (no ``B^-1``) and ``H``
        the `data_hessian` (``jacobian`` and ``mode`` are passed to it). For a uniform prior
        the identity term is absent; directions the data do not constrain then get a
        pseudo-inverse (zero variance) and a warning.
        """
        return self._covariance(self.data_hessian(theta, jacobian, mode))

    def _covariance(self, data_hessian) -> np.ndarray:
        """The posterior covariance from the observation term's Gauss–Newton Hessian."""
        scale = self.prior.scale
        hess = scale.T @ data_hessian @ scale
        if isinstance(self.prior, GaussianPrior):
            hess += np.eye(self.n_param)
            inv = linalg.cho_solve(linalg.cho_factor(hess, lower=True), np.eye(self.n_param))
        else:
            inv, rank = linalg.pinvh(hess, return_rank=True)
            if rank < self.n_param:
                log.warning("posterior covariance: data constrain only %d of %d directions",
                            rank, self.n_param)
        cov = scale @ inv @ scale.T
        return 0.5 * (cov + cov.T)
