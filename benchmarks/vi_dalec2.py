"""Variational inference (``method="vi"``) vs the Laplace (``lbfgsb``) and DREAM(ZS) posteriors
on the DALEC2 twin.

Problem: ``examples/dalec2_twin/config.toml`` (US-Me2 drivers 2004-2007, synthetic NEE, LAI
and wood carbon, P16 Gaussian prior with bounds) restricted to a few parameters, as in
``benchmarks/ces_dalec2.py`` (its `restricted_config`: the others stay at the prior mean in
both the truth run and the model). Three posteriors of the same problem:

* Laplace: L-BFGS-B with the adjoint gradient, Gauss–Newton covariance at the optimum;
* VI: full-rank Gaussian in the control space (`pdaframe.methods.vi`), ``K`` fixed whitened
  draws, L-BFGS-B on the ELBO with adjoint gradients, then ``n_samples`` draws from ``q``;
* DREAM(ZS): the reference, sampling the exact posterior.

Printed: model runs (VI: ``K`` runs with adjoint per ELBO evaluation, plus the draws), time,
and per parameter the mean and sd of each, with ``|mean - mean_dz| / sd_dz`` and the sd ratio
to DREAM(ZS).

Measured (2-core machine shared with 4 other jobs, 2026-12-05): the table in the README's
"Uncertainty" section (variational inference), 4, 8 and 23 parameters.

Run: ``.venv/bin/python benchmarks/vi_dalec2.py [--estimate f_auto c_lma d_onset d_fall]
[--draws 20] [--samples 1500] [--seed 1]``.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import pdaframe

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ces_dalec2 import restricted_config  # noqa: E402  (the restricted twin config)


def timed(problem, method, **options):
    """``(result, seconds)`` of ``pdaframe.minimise``."""
    t = time.perf_counter()
    res = pdaframe.minimise(problem, method=method, **options)
    return res, time.perf_counter() - t


def compare(estimate, draws=None, samples=1500, chains=3, seed=1, vi_samples=2000):
    """The three posteriors of the restricted twin: ``{name: (mean, sd, runs, seconds,
    result)}`` for ``laplace``, ``vi`` and ``dream-zs``, and the problem."""
    problem, _ = pdaframe.load_config(restricted_config(estimate, "/tmp/pdaframe_vi_dalec2.toml"))
    out = {}
    lap, t = timed(problem, "lbfgsb")
    out["laplace"] = (np.asarray(lap.x), np.asarray(lap.posterior_std),
                      lap.nfev + lap.get("nfev_posterior", 0), t, lap)
    vi, t = timed(problem, "vi", seed=seed, n_draws=draws, n_samples=vi_samples)
    out["vi"] = (np.asarray(vi.x), np.asarray(vi.posterior_std), vi.nfev, t, vi)
    dz, t = timed(problem, "dream-zs", seed=seed, n_chains=chains, n_samples=samples,
                  burn_in=samples)
    out["dream-zs"] = (np.asarray(dz.x), np.asarray(dz.posterior_std), dz.nfev, t, dz)
    return out, problem


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimate", nargs="+",
                        default=["f_auto", "c_lma", "d_onset", "d_fall"])
    parser.add_argument("--draws", type=int, default=None,
                        help="VI base draws K (default 2 (n_param + 1))")
    parser.add_argument("--samples", type=int, default=1500,
                        help="DREAM(ZS) draws per chain after as many burn-in draws")
    parser.add_argument("--chains", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    out, problem = compare(args.estimate, args.draws, args.samples, args.chains, args.seed)
    names = list(problem.parameter_names)
    print(f"DALEC2 twin (US-Me2 2004-2007), estimating {names}; seed {args.seed}")
    for name, (_, _, runs, t, res) in out.items():
        if name == "laplace":
            extra = f"{res.njev} adjoint gradients, then the Gauss-Newton covariance"
        elif name == "vi":
            extra = (f"K = {res.n_draws} draws, {res.nit} L-BFGS-B iterations, {res.njev} "
                     f"adjoint gradients, {res.nfev_start} runs of its Laplace start, "
                     f"{res.n_samples * res.n_chains} draws from q; ELBO "
                     f"{res.elbo:.4f}; {res.message}")
        else:
            extra = f"R-hat max {np.max(res.rhat):.3f}, ESS bulk min {np.min(res.ess_bulk):.0f}"
        print(f"  {name:9s} {runs:6d} model runs, {t:6.1f} s; {extra}")
    m_dz, s_dz = out["dream-zs"][:2]
    print(f"  {'param':10s} {'prior sd':>9s}" + "".join(
        f" {k + ' mean':>14s} {k + ' sd':>12s}" for k in out) +
        "  |dm|/sd: lap   vi   sd ratio: lap   vi")
    for i, n in enumerate(names):
        row = "".join(f" {m[i]:14.6g} {s[i]:12.4g}" for m, s, *_ in out.values())
        ratios = "".join(f" {abs(out[k][0][i] - m_dz[i]) / s_dz[i]:5.2f}"
                         for k in ("laplace", "vi"))
        sds = "".join(f" {out[k][1][i] / s_dz[i]:5.2f}" for k in ("laplace", "vi"))
        print(f"  {n:10s} {problem.prior.std[i]:9.4g}{row}        {ratios}            {sds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
