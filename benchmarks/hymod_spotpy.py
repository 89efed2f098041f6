"""HYMOD calibration: SPOTPY's own HYMOD tutorial vs pdaframe's DE, same data and budget.

SPOTPY side: ``spotpy.examples.spot_setup_hymod_python.spot_setup`` (pure-Python HYMOD,
forcing 2012-2016, discharge in l/s, first 366 days dropped, uniform priors on the tutorial
ranges) with the objective of SPOTPY's tutorial (RMSE) sampled by SCE-UA as in
``tutorial_sceua_hymod.py`` (``sceua``, in-memory database). pdaframe side: the plugin's C
HYMOD (same equations) calibrated with ``method="de"`` on ``examples/hymod_de/config.toml``
(same data, same ranges, least squares = RMSE). Both get the same cap on model runs. For each
the best RMSE (l/s) reached, the runs used and the wall time per model run (whole
calibration time / runs, framework included) are printed, median over seeds. As a
like-with-like check the pdaframe optimum is also scored with SPOTPY's own HYMOD.

Needs SPOTPY, which is not a dependency of pdaframe: ``.venv/bin/pip install spotpy``.

Run: ``.venv/bin/python benchmarks/hymod_spotpy.py [--runs 5000] [--seeds 1 2 3]``
"""
import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import pdaframe

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "hymod_de" / "config.toml"
log = logging.getLogger(__name__)


def run_spotpy(spotpy, runs, seed):
    """SCE-UA on SPOTPY's HYMOD tutorial setup: (best RMSE, runs, seconds, best x)."""
    from spotpy.examples.spot_setup_hymod_python import spot_setup

    setup = spot_setup(spotpy.objectivefunctions.rmse)
    sampler = spotpy.algorithms.sceua(setup, dbname="hymod_sceua", dbformat="ram",
                                      random_state=seed, save_sim=False)
    start = time.perf_counter()
    sampler.sample(runs)
    seconds = time.perf_counter() - start
    results = sampler.getdata()
    best = int(np.argmin(results["like1"]))
    x = [results[f"par{name}"][best] for name in ("cmax", "bexp", "alpha", "Ks", "Kq")]
    return float(results["like1"][best]), len(results), seconds, x


def run_pdaframe(runs, seed):
    """DE on the example config: (best RMSE, runs, seconds, best x)."""
    problem, _ = pdaframe.load_config(CONFIG)
    (stream,) = problem.streams
    start = time.perf_counter()
    result = pdaframe.minimise(problem, method="de", seed=seed, max_runs=runs)
    seconds = time.perf_counter() - start
    q = problem.model.run(result.x)["discharge_ls"][stream.times]
    rmse = float(np.sqrt(np.mean((q - stream.values) ** 2)))
    return rmse, int(result.nfev), seconds, list(result.x)


def spotpy_rmse(spotpy, x):
    """RMSE of ``x`` computed by SPOTPY's own (pure-Python) HYMOD and tutorial setup."""
    from spotpy.examples.spot_setup_hymod_python import spot_setup

    setup = spot_setup()
    return float(spotpy.objectivefunctions.rmse(setup.evaluation(), setup.simulation(x)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5000,
                        help="model-run budget of each calibration (SPOTPY tutorial: 5000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        import spotpy
    except ImportError:
        print("benchmarks/hymod_spotpy.py needs SPOTPY (not a pdaframe dependency): "
              ".venv/bin/pip install spotpy")
        return 0

    rows = {"SPOTPY sceua (Python HYMOD)": [], "pdaframe de (C HYMOD)": []}
    for seed in args.seeds:
        rows["SPOTPY sceua (Python HYMOD)"].append(run_spotpy(spotpy, args.runs, seed))
        rows["pdaframe de (C HYMOD)"].append(run_pdaframe(args.runs, seed))
    print(f"HYMOD, SPOTPY example data, budget {args.runs} runs, seeds {args.seeds}; "
          f"objective RMSE of discharge (l/s) 2013-2016")
    print(f"{'':30s} {'best RMSE':>10s} {'runs':>6s} {'ms/run':>8s}   per seed RMSE")
    for name, res in rows.items():
        rmse, nrun, sec = ([r[i] for r in res] for i in range(3))
        per_run = [1e3 * s / n for s, n in zip(sec, nrun)]
        print(f"{name:30s} {statistics.median(rmse):10.4f} {statistics.median(nrun):6.0f} "
              f"{statistics.median(per_run):8.3f}   "
              + " ".join(f"{v:.4f}" for v in rmse))
    x = rows["pdaframe de (C HYMOD)"][0][3]
    ours = rows["pdaframe de (C HYMOD)"][0][0]
    print(f"check: pdaframe optimum (seed {args.seeds[0]}) scored by SPOTPY's HYMOD: RMSE "
          f"{spotpy_rmse(spotpy, x):.10f} vs pdaframe {ours:.10f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
