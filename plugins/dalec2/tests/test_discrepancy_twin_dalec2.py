"""DALEC2 twin (examples/dalec2_twin) whose NEE carries a structural error the model lacks:
the Kennedy-O'Hagan discrepancy (``likelihood = "discrepancy"`` on NEE) absorbs it.

The twin's daily NEE (1207 valid days, US-Me2 gaps, sigma_o = 0.71) gains a seasonal error
with a slow drift, ``0.8 sin(2 pi (t - 120) / 365.25) + 0.4 (t / T - 1/2)`` (RMS 0.57 at the
valid days). All 23 parameters and pools are fitted by 4D-Var (L-BFGS-B, adjoint) with and
without the discrepancy; the bias is ``|x - truth|`` in prior sigma (it includes the twin's
noise, so it is not zero without the structural error either).
"""
import copy
from pathlib import Path

import numpy as np
import pytest

import pdaframe
from pdaframe.observations.discrepancy import DiscrepancyLikelihood

CONFIG = Path(__file__).parents[3] / "examples" / "dalec2_twin" / "config.toml"


@pytest.mark.slow
def test_discrepancy_shrinks_the_bias_on_dalec2(tmp_path):
    (tmp_path / "c.toml").write_text(CONFIG.read_text().replace(
        "../../", str(CONFIG.parents[2]) + "/"))
    problem, settings = pdaframe.load_config(tmp_path / "c.toml")
    nee = problem.streams[0]
    t = nee.times.astype(float)
    delta = 0.8 * np.sin(2 * np.pi * (t - 120) / 365.25) + 0.4 * (t / t.max() - 0.5)
    rms = float(np.sqrt(np.mean(delta[nee.mask] ** 2)))
    biased = nee.with_values(nee.values + delta)
    prior = problem.prior
    sd = np.sqrt(np.diag(prior.scale @ prior.scale.T))
    bias, amplitude = {}, None
    for label in ("without", "with"):
        stream, pr = copy.copy(biased), prior
        if label == "with":
            stream.likelihood = DiscrepancyLikelihood()
            ps = stream.likelihood.bind(stream).parameters       # the documented defaults
            pr = pdaframe.GaussianPrior(
                np.r_[prior.mean, [p.default for p in ps]], std=np.r_[sd, [p.std for p in ps]],
                lower=np.r_[prior.lower, [p.lower for p in ps]],
                upper=np.r_[prior.upper, [p.upper for p in ps]])
        fit = pdaframe.Problem(problem.model, pr, [stream] + problem.streams[1:])
        x = np.asarray(pdaframe.minimise(fit, "lbfgsb", maxiter=3000).x)
        bias[label] = np.abs(x[:23] - settings.truth) / sd
        if label == "with":
            amplitude, length = np.exp(x[23:])
    print(f"\n{'fit':>8} {'|bias| norm':>12} {'mean':>6} {'max':>6}  (prior sd, 23 parameters)")
    for label, b in bias.items():
        print(f"{label:>8} {np.linalg.norm(b):12.3f} {b.mean():6.3f} {b.max():6.3f}")
    print(f"estimated amplitude {amplitude:.3f} (RMS of the injected error {rms:.3f}), "
          f"length {length:.0f} days")
    assert np.linalg.norm(bias["with"]) < 0.5 * np.linalg.norm(bias["without"])
    assert bias["with"].max() < 1.0 < bias["without"].max()
    # of the size of the injected error (a seasonal cycle and a drift over four years: few
    # independent stretches, so within a factor 2)
    assert 0.5 * rms < amplitude < 2.0 * rms
