"""Simultaneous vs stepwise assimilation on the DALEC2 twin (examples/dalec2_twin).

    .venv/bin/python examples/dalec2_stepwise/compare.py

Simultaneous: one cost with NEE, LAI and wood carbon (L-BFGS-B, adjoint gradient).
Stepwise: NEE first, then LAI, then wood carbon, each step's Gauss-Newton posterior (mean
and full covariance) the next step's prior. Stepwise with per-step parameters: LAI first,
estimating phenology, allocation and the foliar/labile initial pools only (`LAI`), then NEE
and wood carbon estimating the rest; and the same with the second step estimating all.
Prints J (of the full cost), model runs, each step's held-parameter sensitivity and, per
parameter, truth, the estimates and posterior sigmas, the diagnostics, then the RMS error
and the number of parameters within their 95 % interval.
"""
import logging
from pathlib import Path

import numpy as np

import pdaframe
from pdaframe.analysis.diagnostics import diagnose, format_diagnostics
from pdaframe.methods.stepwise import stepwise

CONFIG = Path(__file__).resolve().parents[1] / "dalec2_twin" / "config.toml"
STEPS = [["nee"], ["lai"], ["c_woo"]]
LAI = ["f_auto", "f_fol", "f_roo", "c_lspan", "d_onset", "f_lab", "c_ronset", "d_fall",
       "c_rfall", "c_lma", "c_lab0", "c_fol0"]


def runs(names):
    """The four runs: label -> options of `pdaframe.minimise`."""
    rest = [n for n in names if n not in LAI]
    step = {"method": stepwise, "inner_options": {"maxiter": 2000}}
    return {"simultaneous": dict(method="lbfgsb", maxiter=2000),
            "stepwise": dict(step, steps=STEPS),
            "LAI|NEE rest": dict(step, steps=[{"streams": ["lai"], "parameters": LAI},
                                              {"streams": ["nee", "c_woo"],
                                               "parameters": rest}]),
            "LAI|NEE all": dict(step, steps=[{"streams": ["lai"], "parameters": LAI},
                                             {"streams": ["nee", "c_woo"]}])}


def main():
    logging.disable(logging.WARNING)        # the held-parameter warnings: printed below
    problem, settings = pdaframe.load_config(CONFIG)
    names, truth = problem.parameter_names, settings.truth
    results = {}
    for label, kw in runs(names).items():
        problem, _ = pdaframe.load_config(CONFIG)
        results[label] = res = pdaframe.minimise(problem, **kw)
        res["diagnostics"] = diagnose(problem, res)
        print(f"{label}: J = {res.fun:.6g}, {res.nfev} model runs, {res.message}")
        for k, s in enumerate(res.get("steps", ())):
            if "inactive_sensitivity" in s:
                print(f"  step {k} ({', '.join(s.streams)}) holds {23 - len(s.parameters)} "
                      f"parameters; sensitivity {s.inactive_sensitivity:.3g}")
    print(f"\n{'parameter':<10}{'truth':>11}" +
          "".join(f"{label[:12]:>13}{'σ':>9}" for label in results))
    for i, name in enumerate(names):
        print(f"{name:<10}{truth[i]:>11.4g}" + "".join(
            f"{r.x[i]:>13.4g}{r.posterior_std[i]:>9.2g}" for r in results.values()))
    for label, res in results.items():
        print(f"\n{label}:\n{format_diagnostics(res['diagnostics'])}")
    print()
    for label, r in results.items():
        rms = np.sqrt(np.mean(((r.x - truth) / problem.prior.std) ** 2))
        inside = np.sum(np.abs(r.x - truth) < 1.96 * r.posterior_std)
        print(f"{label:<14} RMS |estimate - truth| / sigma_b {rms:.3f}; {inside} of "
              f"{len(names)} within the 95 % interval")


if __name__ == "__main__":
    main()
