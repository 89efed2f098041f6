"""Compare two DALEC2 variants on real US-Me2 data: WAIC, PSIS-LOO and leave-year-out.

The two configs (``p16.toml``, ``cardamom.toml``) differ only in the model's ``variant``:
P16 (Pinnington et al. 2016) or CARDAMOM's DALEC_400 conventions (phenology clock, psi_d,
temperature, ...). Each is fitted to the same tower NEE and MODIS LAI of 2004-2007:

1. L-BFGS-B to the MAP (a start for the chains);
2. DREAM(ZS) from the MAP (short chains, 4 x (3000 + 2000): R-hat is printed), keeping
   the pointwise log-likelihood of every draw (``samples.nc``);
3. leave-year-out cross-validation with L-BFGS-B (one fit per held-out year, its Laplace
   draws scoring that year);

and the script prints one table: elpd by WAIC and PSIS-LOO (with SE, the difference to the
best, bad Pareto k), and the leave-year-out log pointwise predictive density (summed over
the years) and mean RMSE. The column ``log Z`` is left for the tempered-SMC evidence.

Usage (from the repository root; about 1-3 minutes)::

    python examples/dalec2_compare/compare.py [-o results/dalec2_compare]

``pdaframe compare results/dalec2_compare/p16 results/dalec2_compare/cardamom`` prints the
WAIC/LOO part again from the files.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

import pdaframe
from pdaframe.analysis.cross_validation import (format_cross_validation, leave_year_out,
                                                write_cross_validation)
from pdaframe.analysis.model_selection import compare, format_comparison
from pdaframe.io.samples import write_samples

HERE = Path(__file__).resolve().parent
VARIANTS = {"P16": HERE / "p16.toml", "CARDAMOM": HERE / "cardamom.toml"}


def inside(problem, x, margin=1e-3):
    """``x`` moved just inside the bounds (a MAP may sit on one; chains need the inside)."""
    lo, hi = problem.prior.lower, problem.prior.upper
    span = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
    return np.clip(x, lo + margin * span, hi - margin * span)


def fit_variant(config, out, samples=None, cv_draws=200):
    """MAP, chains from it and leave-year-out of one config; writes ``out/samples.nc`` and
    ``out/cross_validation.nc``. ``samples`` overrides the chains' ``n_samples`` and
    ``burn_in`` (a quick run)."""
    problem, settings = pdaframe.load_config(config)
    fit = pdaframe.minimise(problem, "lbfgsb", x0=settings.x0, maxiter=3000)
    options = dict(settings.method_options, seed=settings.seed)
    if samples is not None:
        options.update(n_samples=samples, burn_in=samples)
    chains = pdaframe.minimise(problem, settings.method, x0=inside(problem, fit.x), **options)
    out.mkdir(parents=True, exist_ok=True)
    write_samples(out / "samples.nc", chains, problem, seed=settings.seed)
    cv = leave_year_out(problem, "lbfgsb", n_draws=cv_draws, seed=settings.seed,
                        x0=settings.x0, maxiter=3000)
    write_cross_validation(out / "cross_validation.nc", cv)
    return {"map": fit, "chains": chains, "cv": cv, "problem": problem}


def table(runs) -> str:
    """The combined table: WAIC, PSIS-LOO and leave-year-out per variant."""
    loo = compare({v: r["chains"] for v, r in runs.items()}, ic="loo")
    waic = compare({v: r["chains"] for v, r in runs.items()}, ic="waic")
    lines = [f"{'variant':<10}{'elpd_waic':>11}{'SE':>7}{'elpd_loo':>11}{'SE':>7}"
             f"{'Δloo':>8}{'SE(Δ)':>7}{'k>0.7':>6}{'LYO lppd':>11}{'LYO RMSE':>10}"
             f"{'max R-hat':>10}{'log Z':>8}"]
    for v in loo.index:
        cv = runs[v]["cv"]["mean"]
        rhat = float(np.nanmax(runs[v]["chains"]["rhat"]))
        lines.append(f"{v:<10}{waic.loc[v, 'elpd_waic']:>11.1f}{waic.loc[v, 'se']:>7.1f}"
                     f"{loo.loc[v, 'elpd_loo']:>11.1f}{loo.loc[v, 'se']:>7.1f}"
                     f"{loo.loc[v, 'elpd_diff']:>8.1f}{loo.loc[v, 'dse']:>7.1f}"
                     f"{int(loo.loc[v, 'n_bad_k']):>6}{cv['lppd_total']:>11.1f}"
                     f"{cv['rmse']:>10.3f}{rhat:>10.3f}{'-':>8}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default=str(HERE.parents[1] / "results" /
                                                      "dalec2_compare"))
    parser.add_argument("--samples", type=int, help="draws and burn-in per chain (quick run)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    runs = {}
    for variant, config in VARIANTS.items():
        start = time.perf_counter()
        runs[variant] = fit_variant(config, Path(args.output) / variant.lower(), args.samples)
        r = runs[variant]
        print(f"{variant}: MAP J = {r['map'].fun:.1f}; chains: {r['chains']['message']} "
              f"({time.perf_counter() - start:.0f} s)")
        print(format_cross_validation(r["cv"]))
    print()
    print(format_comparison(compare({v: r["chains"] for v, r in runs.items()})))
    print()
    print(table(runs))
    return runs


if __name__ == "__main__":
    main()
