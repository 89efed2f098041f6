"""Real model runs: calibrate-emulate-sample (``method="ces"``) vs direct DREAM(ZS), DALEC2 twin.

Problem: ``examples/dalec2_twin/config.toml`` (US-Me2 drivers 2004-2007, synthetic NEE, LAI
and wood carbon, P16 Gaussian prior) restricted to a few parameters with ``[parameters]
estimate`` through a modified copy written to /tmp (relative data paths made absolute; the
twin truth keeps only the estimated parameters, the others are at the prior mean xb in both
the truth run and the model, so the restricted twin is exact). CES
(`pdaframe.methods.emulation.ces.ces`) runs an ES-MDA ensemble (20 members, alphas 3, 3, 3: 80 runs), emulates the whitened
residuals from the runs near the posterior, samples the emulator with 16 vectorised chains,
refines with real runs at emulator-posterior draws (8 per round) until they agree with the
emulator, then checks with 5 real runs (+1 run at the mean); DREAM(ZS) runs the model
directly. Reported: real model runs of each, their ratio, posterior mean and sd of both,
and their agreement (|mean difference| / sd of DREAM(ZS), sd ratio).

Measured (2-core shared machine, 2026-11-26), defaults (seed 1, 16 chains x 600 CES steps,
DREAM(ZS) 3 chains x (1500 + 1500), ESS bulk min 211):

    ces 94 real runs (80 ES-MDA + 8 refinement + 5 check + 1), 2.0 s (emulator fits 1.2 s,
    emulator MCMC 0.6 s for both rounds), acceptance 0.21, R-hat 1.014; 4 PCA components of
    1336 outputs, discarded variance 0.001 (obs-error units); check runs: RMSE 0.001
    obs-error sd, max |J_real - J_emulated| 0.064.  dream-zs 9004 runs, 3.4 s.
    Ratio of real runs dream-zs / ces: 96.

    param      dz mean    dz sd   ces mean   ces sd  |dm|/sd  sd ratio
    f_auto      0.4513  0.002228   0.4512  0.002188   0.05     0.98
    c_lma        89.30    0.6459    89.29    0.6092   0.02     0.94
    d_onset      122.3    0.5419    122.3    0.5470   0.02     1.01
    d_fall       238.5    1.700     238.5    1.494    0.04     0.88

  Seed 2: |dm|/sd <= 0.10, sd ratio 0.99-1.05. ``--samples 5000 --ces-steps 2000``
  (DREAM(ZS) 30004 runs, ESS min 763; ratio 319): |dm|/sd <= 0.05, sd ratio 0.97-1.04.

History matching (``--hm-design 40``: waves of 40 runs, GP per output, 2nd-largest
implausibility ≤ 3) of the 46 monthly means of the observed NEE (the tower's valid days;
daily values would be 1207 GPs), box prior mean ± 4 sd:

    120 real runs in 3 waves (NROY stopped shrinking), 15 s; NROY fraction 2.5e-4, 4.6e-5,
    4.8e-5 of the box; 100 % of the DREAM(ZS) draws not ruled out; ratio of real runs
    dream-zs / history matching 75. NROY ranges vs DREAM(ZS) mean ± 3 sd: f_auto
    0.431-0.473 (0.445-0.458), c_lma 79.7-96.3 (87.4-91.2), d_onset 115.7-129.9
    (120.7-123.9), d_fall 225-259 (233-244): history matching rules out what the data
    exclude, 2-4 times wider than the posterior, and is not a posterior itself.

Before (design of 40 runs in the prior's bounds, one chain, full 1336 x 1336 covariance
per step): 46 real runs (ratio 196) but d_fall posterior mean 109 vs 240 (DREAM(ZS)), and
600 emulator steps took 55 s. The design box (the bounds [1, 365] days etc.) was 170-660
posterior sds wide; held-out runs at DREAM(ZS) posterior draws had emulated-vs-real J errors
of ~1e4 (median), ±2σ coverage 0.42, and the 99 % PCA of per-output standardised residuals
(10 components) discarded a variance of 300 (obs-error units) that flattened the likelihood.

Run: ``.venv/bin/python benchmarks/ces_dalec2.py [--estimate f_auto c_lma d_onset d_fall]
[--ces-steps 600] [--ces-chains 16] [--samples 1500] [--seed 1] [--hm-design 40]`` (about
30 s; ``--hm-design 0`` skips history matching).
"""
import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

import pdaframe

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "examples" / "dalec2_twin" / "config.toml"


def restricted_config(estimate, path="/tmp/pdaframe_ces_dalec2.toml"):
    """Copy of the twin config estimating only ``estimate``; returns its path."""
    out, section = [], None
    for line in SRC.read_text().splitlines():
        s = line.strip()
        if s.startswith("["):
            section = s
        line = re.sub(r'"(\.\./[^"]*)"',
                      lambda m: '"' + str((SRC.parent / m.group(1)).resolve()) + '"', line)
        if (section == "[twin.truth]" and "=" in s and not s.startswith("#")
                and s.split("=")[0].strip() not in estimate):
            continue
        if s == "[prior]":
            out.append("[parameters]\nestimate = [" + ", ".join(f'"{n}"' for n in estimate)
                       + "]\n")
        out.append(line)
    Path(path).write_text("\n".join(out) + "\n")
    return path


class MonthlyNEE:
    """Monthly means of the model's NEE over the days the tower observed (picklable): the
    outputs history matching emulates (48 instead of 1207 daily values)."""

    def __init__(self, problem):
        stream = next(s for s in problem.streams if s.name == "nee")
        month = np.asarray(problem.model.time, dtype="datetime64[M]")[stream.times]
        self.valid = stream.mask
        self.month = np.unique(month[self.valid], return_inverse=True)[1]
        self.count = np.bincount(self.month)
        self.problem = problem
        self.z = self(None, stream.values)
        self.var_obs = float(np.ravel(stream.error.std)[0]) ** 2 / self.count   # one std

    def __call__(self, theta, daily=None):
        if daily is None:
            daily = self.problem.run(theta)["nee"]
        return np.bincount(self.month, weights=np.asarray(daily)[self.valid]) / self.count


def history_match_monthly(problem, seed, n_design, box_width=4.0):
    """History matching of the monthly NEE means (2nd-largest implausibility; model
    discrepancy 0, the twin is exact), box prior mean ± ``box_width`` sd."""
    from pdaframe.methods.emulation.gp import prior_box
    from pdaframe.methods.emulation.history_matching import history_match
    f = MonthlyNEE(problem)
    lo, up = prior_box(problem.prior, box_width, use_bounds=False)
    return history_match(f, lo, up, f.z, f.var_obs, which=2, n_design=n_design,
                         max_waves=6, n_candidates=20000, seed=seed, problem=problem)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimate", nargs="+",
                        default=["f_auto", "c_lma", "d_onset", "d_fall"])
    parser.add_argument("--ces-steps", type=int, default=600,
                        help="emulator MCMC steps kept per chain (after an adaptive burn-in)")
    parser.add_argument("--ces-chains", type=int, default=16,
                        help="emulator MCMC chains, advanced together (one vectorised GP "
                             "prediction per step)")
    parser.add_argument("--samples", type=int, default=1500,
                        help="DREAM(ZS) draws per chain after as many burn-in draws")
    parser.add_argument("--chains", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hm-design", type=int, default=40,
                        help="runs per history-matching wave (0: skip history matching)")
    args = parser.parse_args(argv)
    cfg = restricted_config(args.estimate)
    problem, _ = pdaframe.load_config(cfg)
    names = list(problem.parameter_names)

    t = time.perf_counter()
    ces = pdaframe.minimise(problem, method="ces", seed=args.seed, n_steps=args.ces_steps,
                            n_chains=args.ces_chains)
    t_ces = time.perf_counter() - t
    t = time.perf_counter()
    dz = pdaframe.minimise(problem, method="dream-zs", seed=args.seed, n_chains=args.chains,
                           n_samples=args.samples, burn_in=args.samples)
    t_dz = time.perf_counter() - t
    flat = np.asarray(dz.samples).reshape(-1, len(names))
    m_dz, s_dz = flat.mean(0), flat.std(0, ddof=1)
    m_c, s_c = np.asarray(ces.x), np.asarray(ces.posterior_std)

    print(f"DALEC2 twin (US-Me2 2004-2007), estimating {names}; seed {args.seed}")
    tm = ces.timing
    print(f"  ces:      {ces.nfev:6d} real runs ({ces.n_design} ES-MDA + {ces.n_refine_runs} "
          f"refinement + {len(ces.check.get('real_cost', []))} check + 1), {t_ces:6.1f} s "
          f"(emulator fits {tm['fit']:.1f} s, emulator MCMC {tm['mcmc']:.1f} s), "
          f"{args.ces_chains} chains x {args.ces_steps} steps, acceptance "
          f"{ces.acceptance:.2f}, R-hat max {np.max(ces.rhat):.3f}")
    for i, r in enumerate(ces.refine_rounds):
        print(f"            refinement {i}: {r['n_train']} training runs, {r['n_components']} PCA "
              f"components ({100 * r['explained_variance']:.3f} % variance), max |J_real - "
              f"J_emulated| at {r['n_runs']} new runs {r['max_abs_dJ']:.3f}")
    dj = np.asarray(ces.check.get("real_cost", [])) - np.asarray(ces.check.get("emulated_cost", []))
    print(f"            check: coverage {ces.check.get('coverage', float('nan')):.2f}, "
          f"RMSE {ces.check.get('rmse', float('nan')):.3f} (obs-error units), "
          f"max |J_real - J_emulated| {np.max(np.abs(dj)) if dj.size else float('nan'):.3f}")
    e = ces.emulator
    print(f"            final emulator: {ces.n_train} training runs, {e.n_components} PCA "
          f"components of {e.basis.shape[0] if e.basis is not None else 1} outputs, discarded "
          f"variance {np.sum(e.trunc_var) * e.y_std[0] ** 2:.3g} (obs-error units, summed)")
    print(f"  dream-zs: {dz.nfev:6d} real runs, {t_dz:6.1f} s, {args.chains} chains x "
          f"({args.samples} burn-in + {args.samples}), R-hat max {np.max(dz.rhat):.3f}, "
          f"ESS bulk min {np.min(dz.ess_bulk):.0f}")
    print(f"  ratio of real runs dream-zs / ces: {dz.nfev / ces.nfev:.0f}")
    if args.hm_design:
        t = time.perf_counter()
        hm = history_match_monthly(problem, args.seed, args.hm_design)
        t_hm = time.perf_counter() - t
        inside = hm.in_nroy(flat[::max(len(flat) // 2000, 1)]).mean()
        fractions = ", ".join(f"{w['nroy_fraction']:.3g}" for w in hm.waves)
        print(f"  history matching (monthly NEE means, {hm.waves[0]['Y'].shape[1]} outputs): "
              f"{hm.nfev} real runs in {hm.n_waves} waves, {t_hm:.1f} s; NROY fraction per "
              f"wave {fractions}; "
              f"{100 * inside:.1f} % of the DREAM(ZS) draws not ruled out; ratio of real "
              f"runs dream-zs / history matching: {dz.nfev / hm.nfev:.0f}")
        lo, up = hm.nroy.min(axis=0), hm.nroy.max(axis=0)
        print(f"  {'param':10s} {'NROY min':>10s} {'NROY max':>10s}  (DREAM(ZS) mean ± 3 sd)")
        for i, n in enumerate(names):
            print(f"  {n:10s} {lo[i]:10.4g} {up[i]:10.4g}  ({m_dz[i] - 3 * s_dz[i]:.4g} .. "
                  f"{m_dz[i] + 3 * s_dz[i]:.4g})")
    print(f"  {'param':10s} {'prior sd':>10s} {'dz mean':>10s} {'dz sd':>10s} {'ces mean':>10s} "
          f"{'ces sd':>10s} {'|dm|/sd':>8s} {'sd ratio':>8s}")
    for i, n in enumerate(names):
        print(f"  {n:10s} {problem.prior.std[i]:10.4g} {m_dz[i]:10.4g} {s_dz[i]:10.4g} "
              f"{m_c[i]:10.4g} {s_c[i]:10.4g} {abs(m_c[i] - m_dz[i]) / s_dz[i]:8.2f} "
              f"{s_c[i] / s_dz[i]:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
