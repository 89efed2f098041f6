"""Real model runs: calibrate-emulate-sample (``method="ces"``) vs direct DREAM(ZS), DALEC2 twin.

Problem: ``examples/dalec2_twin/config.toml`` (US-Me2 drivers 2004-2007, synthetic NEE, LAI
and wood carbon, P16 Gaussian prior) restricted to a few parameters with ``[parameters]
estimate`` through a modified copy written to /tmp (relative data paths made absolute; the
twin truth keeps only the estimated parameters, the others are at the prior mean xb in both
the truth run and the model, so the restricted twin is exact). CES runs its design
(10 x n_param) + check runs + 1; DREAM(ZS) runs the model directly. Reported: real model runs
of each, their ratio, posterior mean and sd of both, and their agreement
(|mean difference| / sd of DREAM(ZS), sd ratio); the truth is printed for reference.

Run: ``.venv/bin/python benchmarks/ces_dalec2.py [--estimate f_auto c_lma d_onset d_fall]
[--ces-steps 600] [--samples 1500] [--seed 1]``
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimate", nargs="+",
                        default=["f_auto", "c_lma", "d_onset", "d_fall"])
    parser.add_argument("--ces-steps", type=int, default=600,
                        help="emulator MCMC steps (each step is a GP prediction)")
    parser.add_argument("--samples", type=int, default=1500,
                        help="DREAM(ZS) draws per chain after as many burn-in draws")
    parser.add_argument("--chains", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    cfg = restricted_config(args.estimate)
    problem = pdaframe.load_config(cfg)
    names = list(problem.parameter_names)

    t = time.perf_counter()
    ces = pdaframe.minimise(problem, method="ces", seed=args.seed, n_steps=args.ces_steps)
    t_ces = time.perf_counter() - t
    t = time.perf_counter()
    dz = pdaframe.minimise(problem, method="dream-zs", seed=args.seed, n_chains=args.chains,
                           n_samples=args.samples, burn_in=args.samples)
    t_dz = time.perf_counter() - t
    flat = np.asarray(dz.samples).reshape(-1, len(names))
    m_dz, s_dz = flat.mean(0), flat.std(0, ddof=1)
    m_c, s_c = np.asarray(ces.x), np.asarray(ces.posterior_std)

    print(f"DALEC2 twin (US-Me2 2004-2007), estimating {names}; seed {args.seed}")
    print(f"  ces:      {ces.nfev:6d} real runs ({ces.n_design} design), {t_ces:6.1f} s, "
          f"{args.ces_steps} emulator steps, acceptance {ces.acceptance:.2f}, "
          f"check coverage {ces.check.get('coverage', float('nan')):.2f}")
    print(f"  dream-zs: {dz.nfev:6d} real runs, {t_dz:6.1f} s, {args.chains} chains x "
          f"({args.samples} burn-in + {args.samples}), R-hat max {np.max(dz.rhat):.3f}, "
          f"ESS bulk min {np.min(dz.ess_bulk):.0f}")
    print(f"  ratio of real runs dream-zs / ces: {dz.nfev / ces.nfev:.0f}")
    print(f"  {'param':10s} {'prior sd':>10s} {'dz mean':>10s} {'dz sd':>10s} {'ces mean':>10s} "
          f"{'ces sd':>10s} {'|dm|/sd':>8s} {'sd ratio':>8s}")
    for i, n in enumerate(names):
        print(f"  {n:10s} {problem.prior.std[i]:10.4g} {m_dz[i]:10.4g} {s_dz[i]:10.4g} "
              f"{m_c[i]:10.4g} {s_c[i]:10.4g} {abs(m_c[i] - m_dz[i]) / s_dz[i]:8.2f} "
              f"{s_c[i] / s_dz[i]:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
