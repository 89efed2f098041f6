"""The O(n) discrepancy likelihood (`pdaframe.observations.discrepancy`): time per cost,
cost + gradient (residuals and log a, log l) and pointwise log density against ``n``, and
the dense ``n x n`` reference up to ``n = 2000`` (issue 17: "O(n)").

Run: ``.venv/bin/python benchmarks/discrepancy_scaling.py [--sizes 1000 10000 100000]``

The ``us/obs`` columns divide by ``n``: constant columns mean linear scaling.

Measured here (2 cores shared with other jobs, 2026-12-05; fastest of 5):

           n   cost ms   grad ms   logp ms  cost us/obs  grad us/obs  logp us/obs  dense grad ms
        1000      0.10      0.36      0.46        0.102        0.357        0.461          357.4
        2000      0.16      0.63      1.04        0.080        0.314        0.520         1791.3
       10000      0.57      2.84      8.25        0.057        0.284        0.825            nan
      100000     14.81    116.34     46.92        0.148        1.163        0.469            nan

(grad: cost and gradient in the residuals and both hyperparameters; logp: the pointwise log
density, a Kalman filter in a Python loop; the dense reference is O(n^3).)
"""
import argparse
import time

import numpy as np

from pdaframe.observations.discrepancy import DiscrepancyLikelihood
from pdaframe.observations.streams import DataStream


def best(f, repeats=5):
    """The fastest of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def dense_cost_gradient(times, var, r, a, ell):
    dt = np.abs(times[:, None] - times[None, :])
    k = a * a * np.exp(-dt / ell)
    s = np.diag(var) + k
    c = np.linalg.cholesky(s)
    alpha = np.linalg.solve(s, r)
    s_inv = np.linalg.inv(s)
    return (0.5 * r @ alpha + np.sum(np.log(np.diag(c))),
            [0.5 * (-alpha @ dk @ alpha + np.sum(s_inv * dk)) for dk in (2 * k, k * dt / ell)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 10000, 100000])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    h = np.log([1.0, 30.0])
    print(f"{'n':>8} {'cost ms':>9} {'grad ms':>9} {'logp ms':>9} {'cost us/obs':>12} "
          f"{'grad us/obs':>12} {'logp us/obs':>12} {'dense grad ms':>14}")
    for n in args.sizes:
        times = np.cumsum(rng.integers(1, 4, n)).astype(float)
        stream = DataStream("s", "y", rng.standard_normal(n), times=times, std=0.7)
        lik = DiscrepancyLikelihood().bind(stream)
        r = rng.standard_normal(n)
        # a fresh h per call, so the cached factor is not reused
        hs = iter(h + 1e-9 * np.arange(1, 100)[:, None])
        cost = best(lambda: lik.cost(r, next(hs)))
        grad = best(lambda: lik.cost_gradient(r, next(hs)))
        logp = best(lambda: lik.log_density(r, next(hs)))
        dense = best(lambda: dense_cost_gradient(times, np.full(n, 0.49), r, *np.exp(h)),
                     repeats=1) if n <= 2000 else float("nan")
        print(f"{n:>8} {1e3 * cost:>9.2f} {1e3 * grad:>9.2f} {1e3 * logp:>9.2f} "
              f"{1e6 * cost / n:>12.3f} {1e6 * grad / n:>12.3f} {1e6 * logp / n:>12.3f} "
              f"{1e3 * dense:>14.1f}")


if __name__ == "__main__":
    main()
