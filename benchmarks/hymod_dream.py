"""HYMOD posterior sampling: effective samples per model run, pdaframe DREAM(ZS) vs SPOTPY DREAM.

Problem, identical on both sides: ``examples/hymod_de/config.toml``, i.e. the observed
discharge (l/s) of SPOTPY's example catchment for 2013-2016 (1461 days, identical to
SPOTPY's ``spot_setup_hymod_python.evaluation()``; 2012 is warm-up), uniform priors on the
SPOTPY tutorial ranges, and the Gaussian log-likelihood with a fixed error
sigma = 7.5 l/s on discharge::

    log L(x) = -1/2 * sum_t ((q_sim,t(x) - q_obs,t) / 7.5)**2

pdaframe: ``method="dream-zs"`` on that config (its cost J is exactly ``-log L`` + a constant
for the uniform prior). SPOTPY: ``spotpy.algorithms.dream`` on a setup class whose
``objectivefunction`` returns that same ``log L`` and whose ``simulation`` runs the *same*
compiled HYMOD of the pdaframe plugin (so only the samplers differ; SPOTPY's pure-Python HYMOD
has the same equations, see ``benchmarks/hymod_spotpy.py``). SPOTPY's DREAM is run with
``acceptance_test_option=2`` (accept with probability ``exp(log L' - log L)``, the exact
Metropolis ratio for a log-likelihood; its default option 6 uses ``exp((L' - L)/2)``, which
expects ``-SSR`` and would sample a tempered posterior here) and ``convergence_limit=-1`` so
that it spends its whole budget instead of stopping 100 runs after R-hat < 1.2.

Both get the same budget of model runs. Draws: the chain states (SPOTPY: ``bestpar``, the
state after every accept/reject, not the database of proposals), first half of each chain
discarded as burn-in (pdaframe: ``burn_in = n_samples``). ESS: ArviZ bulk ESS
(rank-normalised) of the post-burn-in draws ``(chain, draw, param)`` per parameter; the
figure of merit is ESS per model run (all runs of the budget, burn-in included). Medians
over seeds. ``accept`` is the share of post-burn-in steps that moved, from the states of
either sampler alike. pdaframe's ESS comes from its 3 chains, SPOTPY's from 7 (ArviZ's
rank-normalised split-chain ESS is fine with few chains, but it is noisier: the per-seed
ratios below spread 0.75-1.7). SPOTPY's runs are not exactly reproducible from
``random_state``; pdaframe's are.

Measured (2026-11, after the DREAM(ZS) fixes: p_CR adapted only once every CR has had an
accepted jump, archive cut back to the second half of burn-in at its end), medians of
seeds 1-6, pdaframe / SPOTPY ESS per run (min over parameters; median over parameters):

* 12000 runs: 1.06; 1.07 (pdaframe 0.0161, SPOTPY 0.0152 min-ESS/run; accept 0.24 vs 0.27)
* 24000 runs: 1.20; 1.23 (pdaframe 0.0183, SPOTPY 0.0153)

Before the fixes: 0.32-0.38 (min-ESS) at 12000 runs; pdaframe's acceptance after burn-in
was ~0.10-0.14 because the prior draws and pre-convergence burn-in states in its archive
made most difference jumps far too long.

Needs SPOTPY, which is not a dependency of pdaframe: ``.venv/bin/pip install spotpy``.

Run: ``.venv/bin/python benchmarks/hymod_dream.py [--runs 12000 24000] [--seeds 1 2 3 4 5 6]``
(both samplers: about 30 s per seed at 24000 runs)
"""
import argparse
import contextlib
import io
import logging
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import pdaframe

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "hymod_de" / "config.toml"
SIGMA = 7.5                         # l/s, the config's std on discharge
log = logging.getLogger(__name__)


def ess_bulk(draws):
    """ArviZ bulk ESS per parameter of ``draws`` ``(chain, draw, param)``."""
    import arviz as az

    ds = az.convert_to_dataset({"x": np.asarray(draws, dtype=float)})
    return np.asarray(az.ess(ds, method="bulk")["x"].values)


def acceptance(draws):
    """Share of steps that moved, from the states ``(chain, draw, param)`` (both samplers alike)."""
    d = np.asarray(draws, dtype=float)
    return float(np.mean(np.any(d[:, 1:] != d[:, :-1], axis=2)))


def rhat(draws):
    import arviz as az

    ds = az.convert_to_dataset({"x": np.asarray(draws, dtype=float)})
    return np.asarray(az.rhat(ds)["x"].values)


def log_likelihood(sim, obs):
    """The Gaussian log-likelihood with fixed sigma used by both samplers."""
    r = (np.asarray(sim) - np.asarray(obs)) / SIGMA
    return -0.5 * float(r @ r)


def make_setup(spotpy, problem):
    """SPOTPY setup class: pdaframe's C HYMOD, same data, ranges and log-likelihood."""
    (stream,) = problem.streams
    lo, up = problem.prior.lower, problem.prior.upper
    names = list(problem.parameter_names)
    obs = np.asarray(stream.values, dtype=float)
    times = stream.times

    class Setup:
        def __init__(self):
            self.params = [spotpy.parameter.Uniform(n, low=float(a), high=float(b))
                           for n, a, b in zip(names, lo, up)]

        def parameters(self):
            return spotpy.parameter.generate(self.params)

        def simulation(self, x):
            return problem.model.run(np.asarray(x, dtype=float))["discharge_ls"][times]

        def evaluation(self):
            return obs

        def objectivefunction(self, simulation, evaluation, params=None):
            return log_likelihood(simulation, evaluation)

    return Setup()


def run_spotpy(spotpy, problem, runs, n_chains, seed):
    """SPOTPY DREAM: (ESS per parameter, R-hat, runs, seconds, posterior mean, sd, acceptance)."""
    setup = make_setup(spotpy, problem)
    sampler = spotpy.algorithms.dream(setup, dbname="hymod_dream", dbformat="ram",
                                      random_state=seed, save_sim=False)
    start = time.perf_counter()
    # SPOTPY prints progress and warns (overflow of exp(dlogL) on accepts; gamma = inf when a
    # crossover draw selects no dimension, the proposal then lands on a bound): both muted
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sampler.sample(runs, nChains=n_chains, convergence_limit=-1.0,
                       acceptance_test_option=2)
    seconds = time.perf_counter() - start
    nrun = len(sampler.getdata())
    k = min(sampler.nChainruns)                       # states recorded per chain
    states = np.asarray(sampler.bestpar, dtype=float)[:, :k, :]
    post = states[:, k // 2:, :]
    flat = post.reshape(-1, post.shape[-1])
    return (ess_bulk(post), rhat(post), nrun, seconds, flat.mean(0), flat.std(0, ddof=1),
            acceptance(post))


def run_pdaframe(problem, runs, n_chains, seed):
    """pdaframe DREAM(ZS): (ESS per parameter, R-hat, runs, seconds, posterior mean, sd,
    acceptance)."""
    n_gen = (runs - 1) // n_chains - 1               # nfev = n_chains (n_gen + 1) + 1
    burn_in = n_gen // 2
    start = time.perf_counter()
    res = pdaframe.minimise(problem, method="dream-zs", seed=seed, n_chains=n_chains,
                            n_samples=n_gen - burn_in, burn_in=burn_in)
    seconds = time.perf_counter() - start
    post = np.asarray(res.samples, dtype=float)
    flat = post.reshape(-1, post.shape[-1])
    return (ess_bulk(post), rhat(post), int(res.nfev), seconds, flat.mean(0),
            flat.std(0, ddof=1), acceptance(post))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[12000, 24000],
                        help="model-run budget(s) of each sampler")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--chains-pdaframe", type=int, default=3,
                        help="DREAM(ZS) chains (pdaframe default 3)")
    parser.add_argument("--chains-spotpy", type=int, default=7,
                        help="DREAM chains (SPOTPY default 7 = 2*delta+1 minimum)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        import spotpy
    except ImportError:
        print("benchmarks/hymod_dream.py needs SPOTPY (not a pdaframe dependency): "
              ".venv/bin/pip install spotpy")
        return 0

    problem, _ = pdaframe.load_config(CONFIG)
    for runs in args.runs:
        report(spotpy, problem, runs, args)
    return 0


def report(spotpy, problem, runs, args):
    """Run both samplers at a budget of ``runs`` for every seed and print the comparison."""
    names = list(problem.parameter_names)
    label = {"pdaframe": f"pdaframe dream-zs ({args.chains_pdaframe} ch)",
             "spotpy": f"SPOTPY dream ({args.chains_spotpy} ch)"}
    rows = {"pdaframe": [], "spotpy": []}
    for seed in args.seeds:
        rows["pdaframe"].append(run_pdaframe(problem, runs, args.chains_pdaframe, seed))
        rows["spotpy"].append(run_spotpy(spotpy, problem, runs, args.chains_spotpy, seed))

    print(f"\nHYMOD, SPOTPY example data 2013-2016, Gaussian log-likelihood sigma = {SIGMA} l/s, "
          f"uniform priors; budget {runs} runs, seeds {args.seeds}; post-burn-in = "
          f"second half of each chain; ArviZ bulk ESS; medians over seeds")
    print(f"{'':28s} {'runs':>6s} {'ESS min':>8s} {'ESS med':>8s} {'minESS/run':>11s} "
          f"{'medESS/run':>11s} {'Rhat max':>9s} {'accept':>7s} {'ms/run':>7s}")
    summary = {}
    for key, res in rows.items():
        ess = np.array([r[0] for r in res])                     # (seed, param)
        nrun = np.array([r[2] for r in res], dtype=float)
        per_run_min = ess.min(1) / nrun
        per_run_med = np.median(ess, 1) / nrun
        summary[key] = (np.median(per_run_min), np.median(per_run_med), ess / nrun[:, None])
        print(f"{label[key]:28s} {np.median(nrun):6.0f} {np.median(ess.min(1)):8.1f} "
              f"{np.median(np.median(ess, 1)):8.1f} {summary[key][0]:11.5f} "
              f"{summary[key][1]:11.5f} {np.median([r[1].max() for r in res]):9.3f} "
              f"{np.median([r[6] for r in res]):7.3f} "
              f"{statistics.median(1e3 * r[3] / r[2] for r in res):7.3f}")
    print("ESS per run by parameter (median over seeds):")
    print(f"{'':28s} " + " ".join(f"{n:>9s}" for n in names))
    for key in rows:
        print(f"{label[key]:28s} "
              + " ".join(f"{v:9.5f}" for v in np.median(summary[key][2], axis=0)))
    ratio = summary["pdaframe"][2] / summary["spotpy"][2]          # (seed, param)
    print(f"ratio pdaframe / SPOTPY of ESS per run: min-over-parameters "
          f"{summary['pdaframe'][0] / summary['spotpy'][0]:.2f}, median-over-parameters "
          f"{summary['pdaframe'][1] / summary['spotpy'][1]:.2f}; per seed (min ESS) "
          + " ".join(f"{a / b:.2f}" for a, b in
                     zip(*(np.array([r[0].min() / r[2] for r in rows[k]])
                           for k in ("pdaframe", "spotpy")))))
    print("  per parameter (median over seeds): "
          + " ".join(f"{n}={v:.2f}" for n, v in zip(names, np.median(ratio, axis=0))))
    print("posterior mean ± sd (seed {}):".format(args.seeds[0]))
    for key in rows:
        m, s = rows[key][0][4:6]
        print(f"  {label[key]:26s} "
              + " ".join(f"{n}={a:.4g}±{b:.2g}" for n, a, b in zip(names, m, s)))


if __name__ == "__main__":
    sys.exit(main())
