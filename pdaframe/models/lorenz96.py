"""Lorenz-96 with the forcing ``F`` as its parameter: a model that exposes its state.

``dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`` on a ring of ``n`` variables (indices
modulo ``n``; Lorenz 1996), integrated with fourth-order Runge–Kutta steps of ``dt``
(DAPPER's ``mods/Lorenz96``: ``n = 40``, ``dt = 0.05``). Step ``k`` of the time axis maps
the state before it to the state after it; the outputs ``x0 .. x{n-1}`` at step ``k`` are
the state after step ``k`` (time ``(k + 1) dt``), one 1-d output per variable, so a
stream observes one variable at chosen steps (the ``select`` operator).

It implements the optional state interface of `pdaframe.interfaces` (``state_names``,
``n_steps``, ``initial_state``, ``advance``, ``state_distance``: the ring distance
``min(|i - j|, n - |i - j|)``), which the joint state–parameter EnKF (``joint-enkf``) uses.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError, ModelError
from ..interfaces import Model, Parameter


def tendency(x, forcing) -> np.ndarray:
    """``dx/dt`` of Lorenz-96 at ``x`` ``(n,)``."""
    xp = np.concatenate((x[-2:], x, x[:1]))          # x_{-2}, x_{-1}, x_0 .. x_{n-1}, x_n
    return (xp[3:] - xp[:-3]) * xp[1:-2] - x + forcing


def rk4_step(x, forcing, dt) -> np.ndarray:
    """One fourth-order Runge–Kutta step of length ``dt``."""
    k1 = tendency(x, forcing)
    k2 = tendency(x + 0.5 * dt * k1, forcing)
    k3 = tendency(x + 0.5 * dt * k2, forcing)
    k4 = tendency(x + dt * k3, forcing)
    return x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


class Lorenz96(Model):
    """Lorenz-96 on ``n`` variables, ``n_steps`` RK4 steps of ``dt``; parameter ``F``.

    Parameters
    ----------
    n : int
        Number of variables on the ring (at least 4; default 40).
    n_steps : int
        Length of the time axis (default 100).
    dt : float
        Step length in model time units (default 0.05).
    x0 : array_like, shape (n,), optional
        Initial state; default ``F`` everywhere with ``x0[0] += 0.01`` (the unstable
        equilibrium, nudged), ``F`` taken from ``theta``.
    """

    parameters = (Parameter("F", 8.0, std=2.0, long_name="forcing"),)

    def __init__(self, n=40, n_steps=100, dt=0.05, x0=None):
        if int(n) != n or n < 4:
            raise ConfigError(f"lorenz96: n must be a whole number >= 4, got {n}")
        if int(n_steps) != n_steps or n_steps < 1:
            raise ConfigError(f"lorenz96: n_steps must be a whole number >= 1, got {n_steps}")
        if not (np.isfinite(dt) and dt > 0):
            raise ConfigError(f"lorenz96: dt must be positive, got {dt}")
        self.n, self.n_steps, self.dt = int(n), int(n_steps), float(dt)
        self.x0 = None
        if x0 is not None:
            self.x0 = np.asarray(x0, dtype=float).reshape(-1)
            if self.x0.shape != (self.n,) or not np.isfinite(self.x0).all():
                raise ConfigError(f"lorenz96: x0 needs {self.n} finite values, got shape "
                                  f"{np.shape(x0)}")
        self.state_names = tuple(f"x{i}" for i in range(self.n))
        self.output_units = {name: "1" for name in self.state_names}

    def initial_state(self, theta) -> np.ndarray:
        """The state before step 0, shape ``(n,)``."""
        if self.x0 is not None:
            return self.x0.copy()
        x = np.full(self.n, float(theta[0]))
        x[0] += 0.01
        return x

    def advance(self, theta, x, start, stop):
        """From ``x`` (before step ``start``) through steps ``start .. stop - 1``.

        Returns
        -------
        x_stop : ndarray, shape (n,)
            The state before step ``stop``.
        outputs : dict
            ``{"x<i>": (stop - start,)}``: the state after each step.
        """
        start, stop = int(start), int(stop)
        if not 0 <= start < stop <= self.n_steps:
            raise ModelError(f"lorenz96: window [{start}, {stop}) outside the time axis "
                             f"[0, {self.n_steps})")
        forcing = float(theta[0])
        x = np.array(x, dtype=float).reshape(-1)
        if x.shape != (self.n,):
            raise ModelError(f"lorenz96: state needs {self.n} values, got {x.shape}")
        traj = np.empty((stop - start, self.n))
        with np.errstate(over="ignore", invalid="ignore"):     # a blow-up: ModelError below
            for k in range(stop - start):
                x = rk4_step(x, forcing, self.dt)
                traj[k] = x
        if not np.isfinite(traj).all():
            raise ModelError(f"lorenz96: the state is not finite (F = {forcing})",
                             theta=np.asarray(theta, dtype=float))
        return x, {name: traj[:, i].copy() for i, name in enumerate(self.state_names)}

    def run(self, theta):
        """Every step from `initial_state`: ``{"x<i>": (n_steps,)}``."""
        return self.advance(theta, self.initial_state(theta), 0, self.n_steps)[1]

    def state_distance(self, output) -> np.ndarray:
        """Ring distance of every state variable from variable ``output`` (``"x<j>"``)."""
        try:
            j = self.state_names.index(output)
        except ValueError:
            raise ConfigError(f"lorenz96: no output {output!r} (outputs x0 .. "
                              f"x{self.n - 1})") from None
        d = np.abs(np.arange(self.n) - j)
        return np.minimum(d, self.n - d).astype(float)
