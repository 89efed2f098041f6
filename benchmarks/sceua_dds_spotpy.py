"""SCE-UA and DDS: pdaframe's ``sceua`` and ``dds`` against SPOTPY's, at equal TRUE model calls.

Problems, identical on both sides:

* HYMOD: ``examples/hymod_de/config.toml`` (the observed discharge, l/s, of SPOTPY's example
  catchment 2013-2016, 2012 warm-up, uniform priors on the SPOTPY tutorial ranges). Both
  tools run the SAME compiled HYMOD of the pdaframe plugin (SPOTPY through a setup class
  whose ``simulation`` calls it); the score of a call is the RMSE of discharge (pdaframe
  minimises ``J = SSE / (2 * 7.5**2)``, the same ordering).
* Rosenbrock: SPOTPY's own example (``spot_setup_rosenbrock``: 3 parameters in [-10, 10],
  score ``f(x)``, minimum 0 at (1, 1, 1)); pdaframe gets a model whose ``J`` is ``f``.

Counting: the model function is wrapped on both sides and every call records its score, so
the counts are the true model calls (SPOTPY's database rows and repetition counter leave
out the reflection/contraction points its SCE-UA runs but does not save) and "best at N
calls" is the lowest score among the first N calls, saved or not. Settings:

* pdaframe ``sceua``: its defaults (2 complexes, random points in the complex's box, kstop
  10, pcento 0.1 %, peps 0.001), and with SPOTPY's tutorial settings (7 complexes, random
  points in the whole box, kstop 3, pcento 0.1 %, peps 0.1: the same algorithm as SPOTPY's,
  which checks the implementation), ``max_runs`` = the largest budget; ``dds``: defaults (r = 0.2, reflection at the bounds as
  Tolson & Shoemaker 2007) and with ``p_absorb = 0.5`` (SPOTPY's and Tolson's later bound
  handling: like with like), ``max_runs`` = the budget.
* SPOTPY 1.6.7 ``sceua`` with the settings of its HYMOD tutorial
  (``tutorial_sceua_hymod.py``: ``ngs=7, kstop=3, peps=0.1, pcento=0.1``) and with its
  defaults (``ngs=20, kstop=100, peps=pcento=1e-7``); ``repetitions`` = twice the largest
  budget (its counter runs ahead of the true calls), scores read at the budgets; a run that
  stops earlier (its convergence tests) keeps its last best. SPOTPY ``dds``: defaults (``r=0.2``, one trial), ``repetitions`` = the
  budget (its ``objectivefunction`` returns ``-score``: SPOTPY's DDS maximises).

For each tool the table gives the median over seeds of the best score after 500, 1000 and
2000 calls (``--calls``), the calls needed to reach each target score (median; ``>N`` when over
half of the seeds did not reach it within the calls made; in brackets how many seeds did),
the calls made and the wall time per call (whole run / calls, framework included). The load
average before and after and the BLAS thread limit are printed (pdaframe's searches do no
dense algebra, SPOTPY neither). The goal of issue 17: fewer calls than SPOTPY's SCE-UA to the
same HYMOD RMSE.

Measured 2026-12-05 (seeds 1-10, load average ~7.7 on 2 cores, shared):

=========================== ====== ====== ====== ======== ========= ==========
HYMOD RMSE (l/s)            N=500  N=1000 N=2000 to 7.6   to 7.51   calls made
=========================== ====== ====== ====== ======== ========= ==========
pdaframe sceua (defaults)   7.506  7.505  7.505  204 (10) 362 (10)  678
pdaframe sceua (tutorial)   7.668  7.531  7.517  738 (9)  >N (3)    1244
pdaframe dds (r=0.2)        7.524  7.512  7.506  163 (10) 1051 (8)  2000
pdaframe dds (p_absorb=0.5) 7.508  7.506  7.505  94 (10)  456 (10)  1995
SPOTPY sceua (tutorial)     7.701  7.538  7.513  738 (10) >N (3)    1342
SPOTPY sceua (defaults)     8.085  7.757  7.572  1684 (10) >N (0)   2750
SPOTPY dds (r=0.2)          7.513  7.507  7.505  137 (10) 700 (10)  2000
=========================== ====== ====== ====== ======== ========= ==========

With SPOTPY's tutorial settings pdaframe's ``sceua`` behaves as SPOTPY's (the same algorithm);
its defaults (2 complexes, random points in the complex's box) make the difference.
Rosenbrock f: pdaframe sceua 0.0114 / 5.6e-6 / 5.6e-6 (f < 0.001 in 551 calls, all seeds),
with the tutorial settings 2.39 / 0.79 / 0.79 (stops after ~770 calls); SPOTPY sceua
(tutorial) 1.43 / 0.95 / 0.95 (stops after ~670 calls), (defaults) 24.4 / 3.03 / 0.87; DDS 1.92 / 0.62 / 0.61 (pdaframe) and 0.83 / 0.57 / 0.37 (SPOTPY); over 100 seeds the
DDS medians at 2000 calls are 0.86 and 0.61 (heavy tails: one seed's run decides a lot).
pdaframe's ``dds`` with ``p_absorb = 0.5`` made 1995 model calls for 2000 evaluations: a
candidate absorbed back onto the bound equals the last point run, which the problem's
one-run cache does not run again. Wall time per call (framework included, machine shared):
HYMOD 0.85-1.1 ms on both sides; the trivial Rosenbrock 0.27-0.37 ms (pdaframe) vs 0.16-0.18
ms (SPOTPY): pdaframe's cost function, member bookkeeping and search state cost more per call
than SPOTPY's loop on a model that costs nothing.

Needs SPOTPY, which is not a dependency of pdaframe, in a separate directory:
``.venv/bin/pip install --target /tmp/peers-site spotpy==1.6.7``, then
``PYTHONPATH=/tmp/peers-site .venv/bin/python benchmarks/sceua_dds_spotpy.py
[--seeds 1 2 3 4 5] [--calls 500 1000 2000] [--hymod-targets 7.6 7.51]
[--rosenbrock-targets 0.1 0.001] [--problems hymod rosenbrock]``
"""
import argparse
import contextlib
import io
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import pdaframe

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "hymod_de" / "config.toml"
TARGETS = {"hymod": (7.6, 7.51), "rosenbrock": (1e-1, 1e-3)}


class Trace:
    """Scores of the calls of one run, in call order."""

    def __init__(self):
        self.scores = []

    def best_at(self, n) -> float:
        return min(self.scores[:n]) if self.scores else np.nan

    def calls_to(self, target) -> float:
        hits = np.flatnonzero(np.asarray(self.scores) <= target)
        return float(hits[0] + 1) if hits.size else np.inf


# --- the problems: a pdaframe Problem, and a scoring function for SPOTPY's setup ------------

def hymod_problem():
    """(problem, names, lower, upper, simulate, score): the HYMOD config, its C model."""
    problem, _ = pdaframe.load_config(CONFIG)
    (stream,) = problem.streams
    times, obs = stream.times, np.asarray(stream.values, dtype=float)
    run = problem.model.run

    def simulate(x):
        return run(np.asarray(x, dtype=float))["discharge_ls"][times]

    def score(q):
        return float(np.sqrt(np.mean((q - obs) ** 2)))
    return problem, simulate, score, lambda out: score(out["discharge_ls"][times])


def rosenbrock(x):
    x = np.asarray(x, dtype=float)
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


class RosenbrockModel:
    """Output ``f = sqrt(rosenbrock)``: with one observation 0 of std 1/sqrt(2), J = f."""

    parameter_names = ["x", "y", "z"]

    def run(self, theta):
        return {"f": np.array([np.sqrt(rosenbrock(theta))])}


def rosenbrock_problem():
    prior = pdaframe.UniformPrior([-10.0] * 3, [10.0] * 3, names=RosenbrockModel.parameter_names)
    obs = pdaframe.DataStream("f", "f", [0.0], std=1.0 / np.sqrt(2.0))
    problem = pdaframe.Problem(RosenbrockModel(), prior, [obs])
    return (problem, lambda x: np.array([rosenbrock(x)]), lambda sim: float(sim[0]),
            lambda out: float(out["f"][0] ** 2))


PROBLEMS = {"hymod": hymod_problem, "rosenbrock": rosenbrock_problem}


# --- the runs ----------------------------------------------------------------------------------

def run_pdaframe(make, method, calls, seed, **options):
    """pdaframe's ``method`` with its model wrapped: (trace, seconds)."""
    problem, _, _, score_outputs = make()
    trace, model_run = Trace(), problem.model.run

    def counted(theta, outputs=None):
        out = model_run(theta) if outputs is None else model_run(theta, outputs=outputs)
        trace.scores.append(score_outputs(out))
        return out
    problem.model.run = counted
    start = time.perf_counter()
    pdaframe.minimise(problem, method=method, seed=seed, max_runs=calls, **options)
    return trace, time.perf_counter() - start


def spotpy_setup(spotpy, make, trace, sign=1.0):
    """A SPOTPY setup class running the same model; every ``simulation`` call is counted."""
    problem, simulate, score, _ = make()
    names = list(problem.parameter_names)
    lower, upper = problem.prior.lower, problem.prior.upper

    class Setup:
        def __init__(self):
            self.params = [spotpy.parameter.Uniform(n, low=float(a), high=float(b))
                           for n, a, b in zip(names, lower, upper)]

        def parameters(self):
            return spotpy.parameter.generate(self.params)

        def simulation(self, x):
            sim = simulate(x)
            trace.scores.append(score(sim))
            return sim

        def evaluation(self):
            return None

        def objectivefunction(self, simulation, evaluation, params=None):
            return sign * score(simulation)
    return Setup()


def run_spotpy(spotpy, make, algorithm, calls, seed, **settings):
    """SPOTPY's ``algorithm`` ("sceua" or "dds"): (trace, seconds). Its SCE-UA gets
    ``repetitions = 2 calls``: its counter advances by more than one per true call (about
    2000 repetitions are 1600 calls), and the scores are read at ``calls`` anyway."""
    trace = Trace()
    setup = spotpy_setup(spotpy, make, trace, sign=-1.0 if algorithm == "dds" else 1.0)
    sampler = getattr(spotpy.algorithms, algorithm)(setup, dbname=f"bench_{algorithm}",
                                                   dbformat="ram", random_state=seed,
                                                   save_sim=False)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sampler.sample(2 * calls if algorithm == "sceua" else calls, **settings)
    return trace, time.perf_counter() - start


def tools(spotpy, calls):
    """``{label: run(make, seed) -> (trace, seconds)}`` of the compared searches."""
    return {
        "pdaframe sceua (defaults)": lambda make, seed: run_pdaframe(make, "sceua", calls, seed),
        "pdaframe sceua (tutorial)": lambda make, seed: run_pdaframe(
            make, "sceua", calls, seed, n_complexes=7, mutation="box", kstop=3, peps=0.1,
            pcento=0.1),
        "pdaframe dds (r=0.2)": lambda make, seed: run_pdaframe(make, "dds", calls, seed),
        "pdaframe dds (p_absorb=0.5)": lambda make, seed: run_pdaframe(
            make, "dds", calls, seed, p_absorb=0.5),
        "SPOTPY sceua (tutorial)": lambda make, seed: run_spotpy(
            spotpy, make, "sceua", calls, seed, ngs=7, kstop=3, peps=0.1, pcento=0.1),
        "SPOTPY sceua (defaults)": lambda make, seed: run_spotpy(
            spotpy, make, "sceua", calls, seed),
        "SPOTPY dds (r=0.2)": lambda make, seed: run_spotpy(spotpy, make, "dds", calls, seed),
    }


def _median_calls(values) -> str:
    reached = sum(np.isfinite(values))
    med = float(np.median(values))         # inf when over half did not reach the target
    return f"{med:.0f} ({reached})" if np.isfinite(med) else f">N ({reached})"


def report(name, rows, checkpoints, targets, seeds):
    unit = "RMSE l/s" if name == "hymod" else "f"
    print(f"\n{name}: best {unit} after N true model calls and calls to reach a target "
          f"(seeds reaching it), medians over seeds {seeds}")
    head = "".join(f"{'N=' + str(n):>9s}" for n in checkpoints) + \
        "".join(f"{'to ' + format(t, 'g'):>12s}" for t in targets)
    print(f"{'':28s}{head} {'calls made':>11s} {'ms/call':>8s}")
    for label, runs in rows.items():
        best = [statistics.median(t.best_at(n) for t, _ in runs) for n in checkpoints]
        made = statistics.median(len(t.scores) for t, _ in runs)
        ms = statistics.median(1e3 * s / max(len(t.scores), 1) for t, s in runs)
        reach = [_median_calls([t.calls_to(target) for t, _ in runs]) for target in targets]
        print(f"{label:28s}" + "".join(f" {b:8.4g}" for b in best) +
              "".join(f"{r:>12s}" for r in reach) + f" {made:11.0f} {ms:8.3f}")
    return rows


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info
        return ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info())
    except ImportError:
        return f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--calls", type=int, nargs="+", default=[500, 1000, 2000],
                        help="budgets at which the best score is read (the largest is the "
                             "budget of every run)")
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    parser.add_argument("--hymod-targets", type=float, nargs="+", default=TARGETS["hymod"],
                        help="RMSEs (l/s) to reach on HYMOD")
    parser.add_argument("--rosenbrock-targets", type=float, nargs="+",
                        default=TARGETS["rosenbrock"], help="values of f to reach")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        import spotpy
    except ImportError:
        print("benchmarks/sceua_dds_spotpy.py needs SPOTPY (not a pdaframe dependency): "
              ".venv/bin/pip install --target /tmp/peers-site spotpy==1.6.7 and "
              "PYTHONPATH=/tmp/peers-site")
        return 0
    print(f"SPOTPY {spotpy.__version__}, pdaframe {pdaframe.__version__}; BLAS threads: "
          f"{blas_threads()}; {load()}")
    targets = {"hymod": args.hymod_targets, "rosenbrock": args.rosenbrock_targets}
    calls = max(args.calls)
    for name in args.problems:
        rows = {label: [run(PROBLEMS[name], seed) for seed in args.seeds]
                for label, run in tools(spotpy, calls).items()}
        report(name, rows, sorted(args.calls), targets[name], args.seeds)
    print(f"\n{load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
