"""pdaframe's ``nsga2`` against pymoo 0.6.2's NSGA2 on ZDT1 and ZDT2 (30 variables).

Both with population 100; pdaframe for 250 generations (its real model runs: offspring
equal to a member are not run), pymoo stopped at the same number of evaluations. The table
gives the hypervolume (reference point (1.1, 1.1)) of each final front, computed by
pdaframe's exact `hypervolume` and, as an independent check of it, by pymoo's (moocore), and
the true front's. pymoo is a peer here, never a dependency: install it apart and run::

    pip install --target /tmp/peers-site --no-deps pymoo==0.6.2 moocore alive-progress \\
        about-time grapheme
    PYTHONPATH=. python benchmarks/nsga2_vs_pymoo.py [--seeds 5]

(``/tmp/peers-site`` goes to the end of ``sys.path``, so the environment's numpy and scipy
are used.) Recorded on two shared cores (s: pdaframe's seconds)::

    problem seed   runs  pdaframe HV  (moocore)   pymoo HV  true HV     s
    zdt1       0  24194      0.87022    0.87022    0.86983  0.87667  10.6
    zdt1       1  24210      0.86957    0.86957    0.86966  0.87667   9.1
    zdt1       2  24215      0.86891    0.86891    0.86961  0.87667   8.8
    zdt1       3  24181      0.86912    0.86912    0.86959  0.87667   6.8
    zdt1       4  24161      0.86951    0.86951    0.87001  0.87667   7.4
    zdt2       0  24190      0.53688    0.53688    0.53659  0.54333   8.8
    zdt2       1  24209      0.53644    0.53644    0.53619  0.54333   8.3
    zdt2       2  24214      0.53661    0.53661    0.53613  0.54333   8.9
    zdt2       3  24181      0.53646    0.53646    0.53624  0.54333   7.7
    zdt2       4  24159      0.53616    0.53616    0.53540  0.54333   7.5

pdaframe's hypervolume equals moocore's on every front; the fronts are as good as pymoo's
at equal runs (ZDT1: 0.8691-0.8702 against 0.8696-0.8700; ZDT2: 0.5362-0.5369 against
0.5354-0.5366), 0.7-0.9 % (ZDT1) and 1.2-1.3 % (ZDT2) under the true fronts, the part 100
points cannot fill.
"""
import argparse
import sys
import time

import numpy as np

import pdaframe
from pdaframe.methods.search import pareto

sys.path.append("/tmp/peers-site")

TRUE_HV = {"zdt1": 1.21 - 1 / 3, "zdt2": 1.21 - 2 / 3}
REF = np.array([1.1, 1.1])


class ZDT:
    """ZDT1/ZDT2 on [0, 1]^n as a pdaframe model: outputs sqrt(2 f), observed 0, std 1."""

    def __init__(self, name, n=30):
        self.parameter_names = tuple(f"x{i}" for i in range(n))
        self.name = name

    def run(self, x):
        f1, f2 = objectives(self.name, x)
        return {"f1": np.array([np.sqrt(2 * f1)]), "f2": np.array([np.sqrt(2 * max(f2, 0))])}


def objectives(name, x):
    f1 = x[0]
    g = 1.0 + 9.0 * np.sum(x[1:]) / (len(x) - 1)
    return f1, g * (1.0 - (np.sqrt(f1 / g) if name == "zdt1" else (f1 / g) ** 2))


def ours(name, seed):
    streams = [pdaframe.DataStream(k, k, [0.0], std=1.0) for k in ("f1", "f2")]
    problem = pdaframe.Problem(ZDT(name), pdaframe.UniformPrior(np.zeros(30), np.ones(30)),
                               streams)
    res = pdaframe.minimise(problem, "nsga2", seed=seed, pop_size=100, maxiter=250,
                            reference_point=list(REF))
    return res.front_objectives[res.front_rank == 0], res.nfev


def theirs(name, seed, n_eval):
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.optimize import minimize
    from pymoo.problems import get_problem
    res = minimize(get_problem(name), NSGA2(pop_size=100), ("n_eval", n_eval), seed=seed,
                   verbose=False)
    return res.F


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args(argv)
    from pymoo.indicators.hv import HV
    print(f"{'problem':<8}{'seed':>5}{'runs':>7}{'pdaframe HV':>13}{'(moocore)':>11}"
          f"{'pymoo HV':>11}{'true HV':>9}{'s':>6}")
    for name in ("zdt1", "zdt2"):
        for seed in range(args.seeds):
            start = time.perf_counter()
            front, nfev = ours(name, seed)
            seconds = time.perf_counter() - start
            f = theirs(name, seed, nfev)
            hv_f = pareto.hypervolume(f[np.all(f < REF, axis=1)], REF)
            print(f"{name:<8}{seed:>5}{nfev:>7}{pareto.hypervolume(front, REF):>13.5f}"
                  f"{HV(ref_point=REF)(front):>11.5f}{hv_f:>11.5f}{TRUE_HV[name]:>9.5f}"
                  f"{seconds:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
