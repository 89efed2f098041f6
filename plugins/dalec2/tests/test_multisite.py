"""The DALEC2 multi-site twin (examples/dalec2_multisite): shared parameters from 4 sites.

Joint estimation pools every site's information on the 17 shared parameters: the analysis
must be closer to the truth (RMS error in prior sigma) than the background by far, and
closer than any of the four sites estimated alone from the same synthetic data, with a
smaller posterior spread overall. L-BFGS-B stops at ftol = 1e-10 (J to ~1e-7 of ~1450;
the default 1e-14 takes half again as many iterations for the same numbers to 3 digits).
The five minimisations take about 3 s in all.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import pdaframe

EXAMPLE = Path(__file__).parents[3] / "examples" / "dalec2_multisite"
CONFIG = EXAMPLE / "config.toml"
FTOL = 1e-10


@pytest.fixture(scope="module")
def loaded():
    return pdaframe.load_config(CONFIG)


@pytest.fixture(scope="module")
def problem(loaded):
    return loaded.problem


@pytest.fixture(scope="module")
def settings(loaded):
    return loaded.settings


@pytest.fixture(scope="module")
def joint(problem):
    return pdaframe.minimise(problem, "lbfgsb", maxiter=3000, ftol=FTOL)


def test_the_example_sites(problem, settings):
    assert isinstance(problem, pdaframe.MultiSiteProblem)
    assert problem.site_names == ["US-Me2", "US-Me2-2002", "DE-Hai", "US-Me2-warm"]
    assert problem.n_param == 17 + 4 * 6 and len(problem.shared) == 17
    assert "c_woo0@DE-Hai" in problem.parameter_names
    models = {s.name: s.model for s in problem.sites}
    assert models["US-Me2-2002"].n == 365 and models["US-Me2"].n == 1461
    assert np.allclose(models["DE-Hai"].drivers.dt, 30.4375)
    warm, real = models["US-Me2-warm"].drivers, models["US-Me2"].drivers
    np.testing.assert_allclose(warm.t_mean, real.t_mean + 1.5, atol=1e-6)
    np.testing.assert_allclose(warm.sw, 0.9 * real.sw, atol=1e-6)
    i = problem.parameter_names.index("c_woo0@DE-Hai")
    assert problem.prior.mean[i] == 9000.0 and problem.prior.std[i] == 4000.0
    assert settings.truth[i] == 11000.0
    assert settings.truth[problem.parameter_names.index("c_woo0@US-Me2")] == 5000.0


def test_synthetic_drivers_are_what_the_script_makes(tmp_path):
    spec = importlib.util.spec_from_file_location("make", EXAMPLE / "make_synthetic_drivers.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    out = make.main(tmp_path / "warm.csv")
    assert out.read_bytes() == (EXAMPLE / "US-Me2_warm_synthetic.csv").read_bytes()
    assert out.read_text().startswith("# SYNTHETIC drivers")


def test_joint_estimate_beats_background_and_every_single_site(problem, settings, joint):
    truth, xb = settings.truth, joint.x0
    ns = len(problem.shared)
    sd = problem.prior.std[:ns]

    def rms(x):
        return float(np.sqrt(np.mean(((x[:ns] - truth[:ns]) / sd) ** 2)))

    assert np.isfinite(joint.fun) and joint.nit > 10
    m = problem.n_obs
    assert abs(2 * joint.fun - m) < 4 * np.sqrt(2 * m)
    assert rms(joint.x) < 0.5 * rms(xb)
    # every parameter the data resolve (|truth - xb| > 3 posterior sigma) moved towards it
    resolved = np.abs(truth - xb) > 3 * joint.posterior_std
    assert resolved.sum() >= 10
    assert np.all(np.abs(joint.x - truth)[resolved] < np.abs(xb - truth)[resolved])
    spread = np.sum(np.log(joint.posterior_std[:ns]))
    for site in problem.site_names:
        alone = problem.select_sites([site])
        assert alone.parameter_names[:ns] == problem.parameter_names[:ns]
        res = pdaframe.minimise(alone, "lbfgsb", maxiter=3000, ftol=FTOL)
        assert rms(joint.x) < rms(res.x), site
        assert spread < np.sum(np.log(res.posterior_std[:ns])), site
