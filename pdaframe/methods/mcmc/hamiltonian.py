"""Hamiltonian Monte Carlo kernels: the leapfrog, multinomial NUTS, static HMC, dual
averaging and Stan's windowed warm-up (`pdaframe.methods.mcmc.nuts` drives them).

Everything here is plain numpy on one chain: a target ``target(q) -> (log p, grad log p,
J)`` (the control-space target, `pdaframe.methods.mcmc.nuts.GradientTarget`), a position
``q``, an inverse metric (``inv``: a vector, diagonal, or a matrix, dense) and the chain's
own `numpy.random.Generator`. A failed or non-finite evaluation gives ``log p = -inf``,
hence an infinite energy: a divergence, never an exception.

NUTS follows Stan's ``base_nuts`` (Betancourt 2017, arXiv:1701.02434): the trajectory
doubles in a random direction; each new subtree is built recursively with multinomial
sampling of its states (weights ``exp(H0 - H)``), and it replaces the current sample with
probability ``min(1, w_subtree / w_old)`` (biased progressive sampling); the generalised
no-U-turn criterion ``p#_minus . rho > 0 and p#_plus . rho > 0`` (``p# = M^-1 p``, ``rho``
the summed momenta) is checked on every subtree and on the two merged trees extended by
one state each (Stan's extra checks). An energy error above ``max_delta_h`` (1000) is a
divergence and ends the trajectory. The acceptance statistic for step-size adaptation is the
mean Metropolis probability ``min(1, exp(H0 - H))`` over the new states.

Step size: Nesterov dual averaging (Hoffman & Gelman 2014, Stan's constants ``gamma = 0.05``,
``t0 = 10``, ``kappa = 0.75``, ``mu = log(10 eps)``); its start by Stan's heuristic (double
or halve until a one-step Metropolis probability crosses 0.8). Metric: Stan's windows
(init buffer 75, windows of 25, 50, 100, ... with the last stretched to the terminal buffer
of 50, scaled down for short warm-ups); at each window's end the metric is the window's
(co)variance shrunk with weight ``5 / (n + 5)`` towards ``1e-3`` times its mean variance
(Stan: ``1e-3 I``; see `window_metric`) and the step size is searched again.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.linalg import cho_factor, solve_triangular

LOG_08 = math.log(0.8)


# --- metric --------------------------------------------------------------------------------

def metric_chol(inv):
    """Lower Cholesky factor of a dense inverse metric (None for a diagonal one)."""
    return None if inv.ndim == 1 else np.linalg.cholesky(inv)


def sample_momentum(inv, chol, rng) -> np.ndarray:
    """``p ~ N(0, M)``, ``M = inv^-1``."""
    z = rng.standard_normal(inv.shape[0])
    if inv.ndim == 1:
        return z / np.sqrt(inv)
    return solve_triangular(chol, z, lower=True, trans="T")


def velocity(inv, p) -> np.ndarray:
    """``dq/dt = M^-1 p`` (Stan's ``p#``)."""
    return inv * p if inv.ndim == 1 else inv @ p


def kinetic(inv, p) -> float:
    return 0.5 * float(p @ velocity(inv, p))


# --- one chain's position ------------------------------------------------------------------

class Point:
    """A phase-space point: position ``q``, momentum ``p`` and the target there."""

    __slots__ = ("q", "p", "logp", "grad", "J")

    def __init__(self, q, p, logp, grad, J):
        self.q, self.p, self.logp, self.grad, self.J = q, p, logp, grad, J

    def energy(self, inv) -> float:
        h = -self.logp + kinetic(inv, self.p)
        return math.inf if math.isnan(h) else h


class Integrator:
    """Leapfrog steps of size ``eps`` on ``target`` with inverse metric ``inv``; counts the
    gradient evaluations (``n_grad``)."""

    def __init__(self, target, inv):
        self.target, self.inv = target, inv
        self.chol = metric_chol(inv)
        self.n_grad = 0

    def evaluate(self, q):
        self.n_grad += 1
        return self.target(q)

    def step(self, z: Point, eps: float) -> Point:
        with np.errstate(invalid="ignore", over="ignore"):
            p = z.p + 0.5 * eps * z.grad
            q = z.q + eps * velocity(self.inv, p)
            logp, grad, J = self.evaluate(q) if np.all(np.isfinite(q)) else \
                (-math.inf, np.full_like(q, np.nan), math.inf)
            p = p + 0.5 * eps * grad
        return Point(q, p, logp, grad, J)


# --- NUTS ----------------------------------------------------------------------------------

def _no_u_turn(ps_minus, ps_plus, rho) -> bool:
    return float(ps_plus @ rho) > 0.0 and float(ps_minus @ rho) > 0.0


class _Tree:
    """One NUTS trajectory's shared counters (leapfrogs, Metropolis sum, divergence)."""

    def __init__(self, integ, eps, rng, H0, max_delta_h):
        self.integ, self.eps, self.rng, self.H0 = integ, eps, rng, H0
        self.max_delta_h = max_delta_h
        self.n_leapfrog = 0
        self.sum_metro = 0.0
        self.divergent = False

    def build(self, depth, z, sign):
        """Subtree of ``2**depth`` states from ``z`` in direction ``sign``.

        Returns ``(valid, z_end, z_propose, rho, p_beg, p_end, ps_beg, ps_end, lsw)``.
        """
        inv = self.integ.inv
        if depth == 0:
            z = self.integ.step(z, sign * self.eps)
            self.n_leapfrog += 1
            h = z.energy(inv)
            if h - self.H0 > self.max_delta_h:
                self.divergent = True
            dh = self.H0 - h
            self.sum_metro += 1.0 if dh > 0 else math.exp(dh)
            ps = velocity(inv, z.p)
            return (not self.divergent, z, z, z.p.copy(), z.p, z.p, ps, ps, dh)
        ok, z, prop, rho_i, p_beg, p_i_end, ps_beg, ps_i_end, lsw_i = self.build(
            depth - 1, z, sign)
        if not ok:
            return (False, z, prop, rho_i, p_beg, p_i_end, ps_beg, ps_i_end, lsw_i)
        ok, z, prop_f, rho_f, p_f_beg, p_end, ps_f_beg, ps_end, lsw_f = self.build(
            depth - 1, z, sign)
        if not ok:
            return (False, z, prop, rho_i, p_beg, p_end, ps_beg, ps_end, lsw_i)
        lsw = np.logaddexp(lsw_i, lsw_f)
        if lsw_f > lsw or self.rng.random() < math.exp(lsw_f - lsw):
            prop = prop_f
        rho = rho_i + rho_f
        persist = (_no_u_turn(ps_beg, ps_end, rho)
                   and _no_u_turn(ps_beg, ps_f_beg, rho_i + p_f_beg)
                   and _no_u_turn(ps_i_end, ps_end, rho_f + p_i_end))
        return (persist, z, prop, rho, p_beg, p_end, ps_beg, ps_end, lsw)


def nuts_transition(integ, z0: Point, eps, rng, max_depth, max_delta_h=1000.0):
    """One multinomial NUTS transition from ``z0`` (its momentum is drawn here).

    Returns ``(z_sample, stats)``; ``stats``: ``accept_stat``, ``tree_depth``,
    ``n_leapfrog``, ``divergent``, ``energy`` (H at the start).
    """
    inv = integ.inv
    p = sample_momentum(inv, integ.chol, rng)
    z = Point(z0.q, p, z0.logp, z0.grad, z0.J)
    H0 = z.energy(inv)
    tree = _Tree(integ, eps, rng, H0, max_delta_h)
    z_fwd = z_bck = z_sample = z
    ps = velocity(inv, p)
    p_ff = p_fb = p_bf = p_bb = p
    ps_ff = ps_fb = ps_bf = ps_bb = ps
    rho = p.copy()
    lsw = 0.0
    depth = 0
    while depth < max_depth:
        if rng.random() > 0.5:
            rho_b, p_bf, ps_bf = rho, p_ff, ps_ff
            ok, z_fwd, prop, rho_f, p_fb, p_ff, ps_fb, ps_ff, lsw_sub = tree.build(
                depth, z_fwd, 1)
        else:
            rho_f, p_fb, ps_fb = rho, p_bb, ps_bb
            ok, z_bck, prop, rho_b, p_bf, p_bb, ps_bf, ps_bb, lsw_sub = tree.build(
                depth, z_bck, -1)
        if not ok:
            break
        depth += 1
        if lsw_sub > lsw or rng.random() < math.exp(lsw_sub - lsw):
            z_sample = prop
        lsw = np.logaddexp(lsw, lsw_sub)
        rho = rho_b + rho_f
        if not (_no_u_turn(ps_bb, ps_ff, rho) and _no_u_turn(ps_bb, ps_fb, rho_b + p_fb)
                and _no_u_turn(ps_bf, ps_ff, rho_f + p_bf)):
            break
    n = max(tree.n_leapfrog, 1)
    return z_sample, {"accept_stat": tree.sum_metro / n, "tree_depth": depth,
                      "n_leapfrog": tree.n_leapfrog, "divergent": tree.divergent,
                      "energy": H0}


def hmc_transition(integ, z0: Point, eps, rng, n_steps, max_delta_h=1000.0):
    """Static HMC: ``n_steps`` leapfrogs and a Metropolis accept (stats as
    `nuts_transition`; ``tree_depth`` is 0)."""
    inv = integ.inv
    z = Point(z0.q, sample_momentum(inv, integ.chol, rng), z0.logp, z0.grad, z0.J)
    H0 = z.energy(inv)
    divergent = False
    for _ in range(n_steps):
        z = integ.step(z, eps)
        if z.energy(inv) - H0 > max_delta_h:
            divergent = True
            break
    dh = H0 - z.energy(inv)
    accept = 0.0 if divergent else 1.0 if dh > 0 else math.exp(dh)
    take = not divergent and rng.random() < accept
    return (z if take else z0), {"accept_stat": accept, "tree_depth": 0,
                                 "n_leapfrog": n_steps, "divergent": divergent,
                                 "energy": H0}


# --- adaptation ----------------------------------------------------------------------------

def initial_step_size(integ, z0: Point, eps, rng) -> float:
    """Stan's heuristic: double or halve ``eps`` until the one-step Metropolis probability
    crosses 0.8 (at most 100 tries; kept within ``[1e-10, 1e7]``)."""
    inv = integ.inv
    direction = 0
    for _ in range(100):
        z = Point(z0.q, sample_momentum(inv, integ.chol, rng), z0.logp, z0.grad, z0.J)
        H0 = z.energy(inv)
        dh = H0 - integ.step(z, eps).energy(inv)
        if direction == 0:
            direction = 1 if dh > LOG_08 else -1
        elif (direction == 1 and not dh > LOG_08) or (direction == -1 and not dh < LOG_08):
            break
        eps = eps * 2.0 if direction == 1 else eps * 0.5
        if not 1e-10 <= eps <= 1e7:
            eps = min(max(eps, 1e-10), 1e7)
            break
    return eps


class DualAveraging:
    """Nesterov dual averaging of ``log eps`` towards a mean acceptance ``delta``."""

    def __init__(self, eps, delta=0.8, gamma=0.05, kappa=0.75, t0=10.0):
        self.delta, self.gamma, self.kappa, self.t0 = delta, gamma, kappa, t0
        self.restart(eps)

    def restart(self, eps):
        self.mu = math.log(10.0 * eps)
        self.count, self.s_bar, self.x_bar = 0, 0.0, 0.0

    def update(self, accept_stat) -> float:
        """The next step size after a transition with ``accept_stat``."""
        self.count += 1
        a = min(1.0, accept_stat) if math.isfinite(accept_stat) else 0.0
        eta = 1.0 / (self.count + self.t0)
        self.s_bar = (1.0 - eta) * self.s_bar + eta * (self.delta - a)
        x = self.mu - self.s_bar * math.sqrt(self.count) / self.gamma
        w = self.count ** -self.kappa
        self.x_bar = (1.0 - w) * self.x_bar + w * x
        return math.exp(x)

    def final(self) -> float:
        return math.exp(self.x_bar)


def windows(n_warmup, init_buffer=75, term_buffer=50, base_window=25) -> list[tuple]:
    """Stan's metric windows ``[(start, end), ...]`` (warm-up iterations, end exclusive)."""
    if n_warmup < 20:
        return []
    if init_buffer + base_window + term_buffer > n_warmup:
        init_buffer = int(0.15 * n_warmup)
        term_buffer = int(0.1 * n_warmup)
        base_window = n_warmup - init_buffer - term_buffer
    out, start, size = [], init_buffer, base_window
    last = n_warmup - term_buffer
    while start + size <= last:
        end = start + size
        if end + 2 * size > last:          # the next window would not fit: stretch this one
            end = last
        out.append((start, end))
        start, size = end, 2 * size
    return out


def window_metric(draws, dense) -> np.ndarray:
    """The inverse metric from a window's draws ``(n, d)``, shrunk as Stan does but towards
    ``1e-3 v I`` with ``v`` the window's mean variance, not ``1e-3 I``: ``u`` is scaled by
    the prior, and posteriors 1000 times narrower than the prior (DALEC2's) would otherwise
    get a metric set by the shrinkage."""
    n = draws.shape[0]
    w = n / (n + 5.0)
    var = draws.var(axis=0, ddof=1)
    floor = 1e-3 * (5.0 / (n + 5.0)) * max(float(var.mean()), np.finfo(float).tiny)
    if dense:
        cov = np.atleast_2d(np.cov(draws, rowvar=False))
        inv = w * cov + floor * np.eye(draws.shape[1])
        cho_factor(inv, lower=True)        # raises LinAlgError if not positive definite
        return inv
    return w * var + floor
