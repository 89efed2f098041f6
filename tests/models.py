"""Small nonlinear test models with hand-written tangent and adjoint."""
import numpy as np

import pdaframe
import pdaframe.plugin


class Decay:
    """y_t = c0 exp(-k t) + a sin(t) + a^2 k on t = 0..n-1, and a scalar-per-step z_t = c0 k t.

    Parameters: k, c0, a. Outputs ``y`` (n,) and ``z`` (n, 2) (two columns: c0 k t, k^2).
    """

    parameter_names = ("k", "c0", "a")

    def __init__(self, n=20):
        self.t = np.arange(float(n))

    def run(self, theta):
        k, c0, a = theta
        e = np.exp(-k * self.t)
        y = c0 * e + a * np.sin(self.t) + a ** 2 * k
        z = np.column_stack([c0 * k * self.t, np.full_like(self.t, k ** 2)])
        return {"y": y, "z": z}

    def jac(self, theta):
        k, c0, a = theta
        t = self.t
        e = np.exp(-k * t)
        jy = np.column_stack([-c0 * t * e + a ** 2, e, np.sin(t) + 2 * a * k])
        jz0 = np.column_stack([c0 * t, k * t, 0 * t])
        jz1 = np.column_stack([2 * k + 0 * t, 0 * t, 0 * t])
        return jy, jz0, jz1

    def tangent(self, theta, dtheta):
        jy, jz0, jz1 = self.jac(theta)
        return {"y": jy @ dtheta, "z": np.column_stack([jz0 @ dtheta, jz1 @ dtheta])}

    def adjoint(self, theta, d_outputs):
        jy, jz0, jz1 = self.jac(theta)
        out = np.zeros(3)
        if "y" in d_outputs:
            out += jy.T @ d_outputs["y"]
        if "z" in d_outputs:
            out += jz0.T @ d_outputs["z"][:, 0] + jz1.T @ d_outputs["z"][:, 1]
        return out


class NoDerivatives(Decay):
    """The same model without tangent or adjoint (finite-difference fallback)."""

    tangent = None
    adjoint = None


class Dated:
    """A daily linear trend with a date axis: y_t = a + b t, t = 0..n-1 from ``start``."""

    parameter_names = ("a", "b")

    def __init__(self, start="2004-01-01", n=20):
        self.time = np.datetime64(start, "D") + np.arange(n)
        self.t = np.arange(float(n))

    def run(self, theta):
        return {"y": theta[0] + theta[1] * self.t}

    def tangent(self, theta, dtheta):
        return {"y": dtheta[0] + dtheta[1] * self.t}

    def adjoint(self, theta, d_outputs):
        d = d_outputs.get("y", np.zeros_like(self.t))
        return np.array([d.sum(), d @ self.t])


TRUTH = np.array([0.15, 4.0, 0.8])


def decay_problem(model=None, bounds=False, uniform=False):
    """Decay observed with noise (y every other step, z every step): mildly nonlinear."""
    model = model or Decay()
    kw = dict(lower=[0.0, 0.0, -5.0], upper=[1.0, 20.0, 5.0]) if bounds else {}
    prior = pdaframe.UniformPrior([0.0, 0.0, -5.0], [1.0, 20.0, 5.0]) if uniform else \
        pdaframe.GaussianPrior([0.1, 3.0, 0.5], covariance=[[0.01, 0.01, 0.0], [0.01, 1.0, 0.1],
                                                             [0.0, 0.1, 0.25]], **kw)
    out = model.run(TRUTH)
    rng = np.random.default_rng(0)
    streams = [pdaframe.DataStream("y", "y", out["y"][::2] + 0.1 * rng.standard_normal(10),
                                   times=np.arange(0, 20, 2), std=0.1),
               pdaframe.DataStream("z", "z", out["z"].reshape(-1) + 0.05, std=0.2,
                                   operator=pdaframe.plugin.Identity("z"), weight=0.5)]
    return pdaframe.Problem(model, prior, streams)
