"""Per-evaluation overhead of pdaframe: ``problem.cost(theta)`` vs ``model.run(theta)``.

A trivial model (a line over 365 daily steps, one observed output) makes the framework's own
work visible: validation, caching, operators, whitening, the prior term. Both are timed in
this one process, interleaved, over several repeats; the medians and their ratio are printed.

Run: ``.venv/bin/python benchmarks/overhead.py [--calls 2000] [--repeats 9]``
"""
import argparse
import time

import numpy as np

import pdaframe


class Line:
    """y_t = a + b t over 365 steps: about as cheap as a model can be."""

    parameter_names = ("a", "b")

    def __init__(self, n=365):
        self.t = np.arange(float(n))

    def run(self, theta):
        return {"y": theta[0] + theta[1] * self.t}


def per_call(func, thetas):
    start = time.perf_counter()
    for th in thetas:
        func(th)
    return (time.perf_counter() - start) / len(thetas)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    model = Line()
    rng = np.random.default_rng(0)
    y = model.run(np.array([1.0, 0.01]))["y"] + rng.normal(0, 0.1, 365)
    y[::7] = np.nan                                     # some missing values, as in real data
    problem = pdaframe.Problem(model, pdaframe.GaussianPrior([1.0, 0.0], std=[1.0, 0.1]),
                               [pdaframe.DataStream("y", "y", y, std=0.1)])
    # distinct thetas, so the Problem's one-entry cache never hides a run
    thetas = [np.array([1.0, 0.01]) + 1e-6 * i for i in range(args.calls)]
    raw, cost = [], []
    for _ in range(args.repeats):
        raw.append(per_call(model.run, thetas))
        cost.append(per_call(problem.cost, thetas))
    r, c = np.median(raw), np.median(cost)
    ratios = np.array(cost) / np.array(raw)
    print(f"model.run      median {r * 1e6:8.2f} µs per call")
    print(f"problem.cost   median {c * 1e6:8.2f} µs per call (overhead {(c - r) * 1e6:.2f} µs)")
    print(f"ratio cost/run median {np.median(ratios):.2f} (min {ratios.min():.2f}, "
          f"max {ratios.max():.2f}; {args.repeats} paired repeats of {args.calls} calls)")


if __name__ == "__main__":
    main()
