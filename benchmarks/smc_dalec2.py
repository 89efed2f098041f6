"""Tempered SMC evidence (``method="smc"``) for two DALEC2 variants on the twin.

Problem: ``examples/dalec2_twin/config.toml`` (US-Me2 drivers 2004-2007, synthetic NEE, LAI
and wood carbon, P16 Gaussian prior with bounds) restricted to a few parameters, as in
``benchmarks/ces_dalec2.py`` (its `restricted_config`: the others stay at the prior mean in
both the truth run and the model). Two models of the same synthetic data:

* ``A`` (the structure that made the data): the others at the prior mean, as in the truth;
* ``B`` (a variant): the same, but one parameter that is not estimated (``--variant``,
  default ``c_eff``) held ``--shift`` prior standard deviations away from the truth's value.

Printed per model: ``log Z ± SE`` (Lee–Whiteley), stages, model runs, time, and the
posterior mean and sd per parameter with the truth; then the log Bayes factor
``log Z_A - log Z_B`` with its SE. A well-specified ``A`` must win. With ``--replicates
K``, K more runs of ``A`` (seeds ``seed + 1``, ...) compare the spread of ``log Z`` over
seeds with the single-run SEs.

Measured (2-core machine shared with other jobs, 2026-12-05): the README's "Sequential Monte
Carlo and evidence" section.

Run: ``.venv/bin/python benchmarks/smc_dalec2.py [--estimate f_auto c_lma d_onset d_fall]
[--particles 300] [--variant c_eff] [--shift 1.0] [--seed 1] [--replicates 0]``.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import pdaframe
from pdaframe.problem.fixed import FixedParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ces_dalec2 import restricted_config  # noqa: E402  (the restricted twin config)


def variant(problem, name, shift):
    """``problem`` with its model's fixed parameter ``name`` moved by ``shift`` prior sds."""
    view = problem.model                          # a FixedParameters view of DALEC2
    values = view.values.copy()
    i = list(view.model.parameter_names).index(name)
    values[i] += shift * {p.name: p for p in view.model.parameters}[name].std
    model = FixedParameters(view.model, view.parameter_names, values)
    return pdaframe.Problem(model, problem.prior, problem.streams), float(values[i])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimate", nargs="+",
                        default=["f_auto", "c_lma", "d_onset", "d_fall"])
    parser.add_argument("--particles", type=int, default=300)
    parser.add_argument("--variant", default="c_eff")
    parser.add_argument("--shift", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--replicates", type=int, default=0,
                        help="further runs of A (seeds seed+1, ...) to check the SE")
    args = parser.parse_args(argv)
    problem, cfg = pdaframe.load_config(restricted_config(args.estimate,
                                                          "/tmp/pdaframe_smc_dalec2.toml"))
    other, value = variant(problem, args.variant, args.shift)
    names = list(problem.parameter_names)
    truth = np.asarray(cfg.truth, dtype=float)
    print(f"DALEC2 twin (US-Me2 2004-2007, {problem.n_obs} observations), estimating "
          f"{names}; {args.particles} particles, seed {args.seed}")
    print(f"B: {args.variant} fixed at {value:.5g} ({args.shift:+g} prior sd from the truth)")
    out = {}
    for label, prob in (("A", problem), ("B", other)):
        t = time.perf_counter()
        res = pdaframe.minimise(prob, "smc", seed=args.seed, n_particles=args.particles)
        out[label] = res
        print(f"\n{label}: log Z = {res.log_evidence:.3f} ± {res.log_evidence_se:.3f}, "
              f"{res.n_stages} stages, {res.nfev} model runs, "
              f"{time.perf_counter() - t:.0f} s, {res.n_eves} Eves; {res.message}")
        print(f"  {'parameter':<10}{'truth':>12}{'mean':>12}{'sd':>12}")
        for n, tr, m, s in zip(names, truth, res.x, res.posterior_std):
            print(f"  {n:<10}{tr:>12.5g}{m:>12.5g}{s:>12.5g}")
    a, b = out["A"], out["B"]
    print(f"\nlog Bayes factor A vs B = {a.log_evidence - b.log_evidence:.2f} ± "
          f"{np.hypot(a.log_evidence_se, b.log_evidence_se):.2f}")
    if args.replicates:
        runs = [a] + [pdaframe.minimise(problem, "smc", seed=args.seed + k,
                                        n_particles=args.particles)
                      for k in range(1, args.replicates + 1)]
        z = np.array([r.log_evidence for r in runs])
        se = np.array([r.log_evidence_se for r in runs])
        print(f"A over {len(runs)} seeds: log Z {np.round(z, 3).tolist()}, SE "
              f"{np.round(se, 3).tolist()}; spread (sd) {z.std(ddof=1):.3f} vs mean SE "
              f"{se.mean():.3f}")


if __name__ == "__main__":
    main()
