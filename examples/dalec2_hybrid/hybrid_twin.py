"""Hybrid DALEC2 twin: a neural network learns a temperature response DALEC2 lacks.

The "true" model is DALEC2 (US-Me2 drivers, 2004-2006) whose autotrophic respiration
fraction rises with temperature like a Q10 law, ``f_auto(T) = f_auto * Q10**((T - 10)/10)``;
plain DALEC2 has a constant f_auto, so no parameter value reproduces it. Synthetic
observations (seeded noise): daily NEE (sigma 0.71 g C m-2 d-1, P16's) and LAI every 8 days
(sigma 0.3) in 2004-2005; 2006 is held out. 4D-Var (pdaframe ``lbfgsb``, adjoint gradients
from JAX) calibrates

(a) plain DALEC2 ("dalec2-jax"): the 23 process parameters and initial pools;
(b) the hybrid ("dalec2-hybrid"): the same 23 and the weights of the MLP g_w(T) in
    ``ra = f_auto exp(g_w(T)) GPP``, all jointly through one adjoint;

and prints the NEE RMSE of each calibrated model against the true NEE of the held-out year
and the learned against the true respiration response. A script, not a config: a config
cannot express a truth model other than the calibrated one. Run::

    python examples/dalec2_hybrid/hybrid_twin.py
"""
from __future__ import annotations

import numpy as np

import pdaframe

SITE = {"site": "US-Me2", "start": "2004-01-01", "end": "2006-12-31"}
CALIBRATION_DAYS = 731                            # 2004-01-01 .. 2005-12-31
Q10, T_REF = 2.0, 10.0                            # the truth's temperature response
HYBRID = {"hidden": [4], "inputs": ["t_mean"], "weight_std": 1.0, "seed": 0}
NOISE_SEED = 16
# the truth's process parameters (examples/dalec2_twin's truth, f_auto lowered so that
# f_auto * Q10**((T - 10)/10) stays below 1 at US-Me2's warmest days)
TRUTH = {"theta_min": 0.0008, "f_auto": 0.3, "f_fol": 0.12, "f_roo": 0.38, "c_lspan": 1.25,
         "theta_woo": 8.0e-5, "theta_roo": 0.0035, "theta_lit": 0.0015, "theta_som": 1.2e-4,
         "theta": 0.05, "c_eff": 60.0, "d_onset": 122.0, "f_lab": 0.28, "c_ronset": 50.0,
         "d_fall": 240.0, "c_rfall": 105.0, "c_lma": 90.0, "c_lab0": 170.0, "c_fol0": 80.0,
         "c_roo0": 320.0, "c_woo0": 5000.0, "c_lit0": 250.0, "c_som0": 2200.0}


def true_multiplier(t_mean):
    """The truth's factor on f_auto at daily mean temperature ``t_mean`` (degC)."""
    return Q10 ** ((np.asarray(t_mean, dtype=float) - T_REF) / 10.0)


def truth_model():
    """DALEC2 (JAX) with the Q10 response of f_auto: the structurally different truth."""
    from pdaframe_dalec2_jax import Dalec2Jax

    class Q10Truth(Dalec2Jax):
        def f_auto_jax(self, theta):
            return {"f_auto": theta[1] * true_multiplier(self.forcing["temp"])}

    base = pdaframe.get_model("dalec2-jax", **SITE)
    return Q10Truth(base.drivers, variant=base.variant, **base.switches)


def observations(truth_run):
    """Noisy NEE (daily) and LAI (every 8 days) of the calibration years."""
    rng = np.random.default_rng(NOISE_SEED)
    days = np.arange(CALIBRATION_DAYS)
    lai_days = days[::8]
    return [pdaframe.DataStream("nee", "nee", truth_run["nee"][days]
                                + rng.normal(0.0, 0.71, days.size), times=days, std=0.71),
            pdaframe.DataStream("lai", "lai", truth_run["lai"][lai_days]
                                + rng.normal(0.0, 0.3, lai_days.size), times=lai_days,
                                std=0.3)]


def calibrate(model, streams, maxiter):
    """4D-Var (lbfgsb) from the prior mean (the model's parameter table): its result."""
    problem = pdaframe.Problem(model, pdaframe.GaussianPrior.from_model(model), streams)
    res = pdaframe.minimise(problem, method="lbfgsb", maxiter=maxiter, posterior=False)
    return res


def rmse(a, b):
    """Root-mean-square difference of two series."""
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def main(maxiter=3000, verbose=True):
    """Run the twin; returns the numbers printed (a dict)."""
    truth = truth_model()
    theta_true = np.array([TRUTH[n] for n in truth.parameter_names])
    true_run = truth.run(theta_true)
    streams = observations(true_run)
    plain = pdaframe.get_model("dalec2-jax", **SITE)
    hybrid = pdaframe.get_model("dalec2-hybrid", **SITE, **HYBRID)
    held = slice(CALIBRATION_DAYS, None)
    out = {}
    for label, model in (("dalec2", plain), ("hybrid", hybrid)):
        res = calibrate(model, streams, maxiter)
        nee = model.run(res.x)["nee"]
        out[label] = {"x": res.x, "fun": float(res.fun), "nit": int(res.nit),
                      "success": bool(res.success),
                      "rmse_calibration": rmse(nee[:CALIBRATION_DAYS],
                                               true_run["nee"][:CALIBRATION_DAYS]),
                      "rmse_held_out": rmse(nee[held], true_run["nee"][held])}
    temps = np.arange(-10.0, 26.0, 5.0)
    x_h = out["hybrid"]["x"]
    from pdaframe_dalec2_jax.hybrid import T_SCALE            # the MLP's input scaling
    learned = x_h[1] * hybrid.response(x_h, temps[:, None] / T_SCALE)
    out["curve"] = {"t_mean": temps, "true": TRUTH["f_auto"] * true_multiplier(temps),
                    "learned": learned,
                    "dalec2": np.full(temps.size, out["dalec2"]["x"][1])}
    if verbose:
        report(out)
    return out


def report(out):
    """Print the held-out comparison and the response curves."""
    print("NEE RMSE against the true NEE (g C m-2 d-1)")
    print(f"{'model':<10}{'J_min':>10}{'iters':>7}{'2004-2005':>11}{'2006 held out':>15}")
    for label in ("dalec2", "hybrid"):
        r = out[label]
        print(f"{label:<10}{r['fun']:>10.1f}{r['nit']:>7d}{r['rmse_calibration']:>11.3f}"
              f"{r['rmse_held_out']:>15.3f}")
    c = out["curve"]
    print("\nautotrophic respiration fraction ra/GPP against daily mean temperature")
    print(f"{'T (degC)':>9}{'true':>8}{'hybrid':>8}{'dalec2':>8}")
    for row in zip(c["t_mean"], c["true"], c["learned"], c["dalec2"]):
        print(f"{row[0]:>9.0f}{row[1]:>8.3f}{row[2]:>8.3f}{row[3]:>8.3f}")


if __name__ == "__main__":
    main()
