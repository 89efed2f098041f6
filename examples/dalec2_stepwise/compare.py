"""Simultaneous vs stepwise assimilation on the DALEC2 twin (examples/dalec2_twin).

    .venv/bin/python examples/dalec2_stepwise/compare.py

Simultaneous: one cost with NEE, LAI and wood carbon (L-BFGS-B, adjoint gradient).
Stepwise: NEE first, then LAI, then wood carbon, each step's Gauss-Newton posterior (mean
and full covariance) the next step's prior. Prints J (of the full cost), model runs and, per
parameter, truth, both estimates and both posterior sigmas, then the diagnostics.
"""
from pathlib import Path

import numpy as np

import pdaframe
from pdaframe.analysis.diagnostics import diagnose, format_diagnostics
from pdaframe.methods.stepwise import stepwise

CONFIG = Path(__file__).resolve().parents[1] / "dalec2_twin" / "config.toml"
STEPS = [["nee"], ["lai"], ["c_woo"]]


def main():
    runs = {"simultaneous": dict(method="lbfgsb", maxiter=2000),
            "stepwise": dict(method=stepwise, steps=STEPS, inner_options={"maxiter": 2000})}
    results = {}
    for label, kw in runs.items():
        problem, settings = pdaframe.load_config(CONFIG)
        results[label] = res = pdaframe.minimise(problem, **kw)
        res["diagnostics"] = diagnose(problem, res)
    truth = settings.truth
    for label, res in results.items():
        print(f"{label}: J = {res.fun:.6g}, {res.nfev} model runs, {res.message}")
    print(f"\n{'parameter':<10}{'truth':>12}{'simult.':>12}{'σ':>11}{'stepwise':>12}{'σ':>11}")
    sim, step = results["simultaneous"], results["stepwise"]
    for i, name in enumerate(problem.parameter_names):
        print(f"{name:<10}{truth[i]:>12.5g}{sim.x[i]:>12.5g}{sim.posterior_std[i]:>11.3g}"
              f"{step.x[i]:>12.5g}{step.posterior_std[i]:>11.3g}")
    for label, res in results.items():
        print(f"\n{label}:\n{format_diagnostics(res['diagnostics'])}")
    err = {k: np.sqrt(np.mean(((r.x - truth) / problem.prior.std) ** 2))
           for k, r in results.items()}
    print("\nRMS |estimate - truth| / sigma_b: " +
          ", ".join(f"{k} {v:.3f}" for k, v in err.items()))


if __name__ == "__main__":
    main()
