"""Shared fixtures: LG2, the linear-Gaussian problem of README Method notes §1, and variants."""
import os

# one BLAS thread: the tests' matrices are small, and on a shared 2-core machine OpenBLAS
# threads competing with other processes made L-BFGS-B runs up to 10x slower
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest

import pdaframe

LG2_MEAN = np.array([1.214354067, 2.0066985646])
LG2_COV = np.array([[0.0765550239, 0.0023923445], [0.0023923445, 0.2344497608]])


def lg2_problem():
    model = pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]], names=["a", "b"])
    prior = pdaframe.GaussianPrior([1.0, 2.0], covariance=[[1.0, 0.5], [0.5, 4.0]],
                                   names=["a", "b"])
    obs = pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2], std=np.sqrt(0.5))
    return pdaframe.Problem(model, prior, [obs])


def random_linear_gaussian(seed, n=4, m=9):
    """G = H theta, full B and full R, random but seeded; returns problem, mean, covariance."""
    rng = np.random.default_rng(seed)
    H = rng.standard_normal((m, n))
    a = rng.standard_normal((n, n))
    B = a @ a.T + n * np.eye(n) * 0.5
    c = rng.standard_normal((m, m))
    R = 0.3 * (c @ c.T) / m + 0.2 * np.eye(m)
    xb = rng.standard_normal(n)
    y = H @ rng.multivariate_normal(xb, B) + rng.multivariate_normal(np.zeros(m), R)
    problem = pdaframe.Problem(pdaframe.LinearModel(H), pdaframe.GaussianPrior(xb, covariance=B),
                               [pdaframe.DataStream("y", "y", y, covariance=R)])
    A = np.linalg.inv(H.T @ np.linalg.solve(R, H) + np.linalg.inv(B))
    xa = xb + A @ H.T @ np.linalg.solve(R, y - H @ xb)
    return problem, xa, A


@pytest.fixture
def lg2():
    return lg2_problem()
