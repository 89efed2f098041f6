"""Neural-network emulators (issue 16 item 1): `NNEmulator`, the trained emulator as a model
(`EmulatorModel`: Taylor, dot product, conformance suite, save/load), bad inputs, CES with
``emulator = "nn"`` and 4D-Var on the emulator on the DALEC2 twin."""
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")

import pdaframe  # noqa: E402
from pdaframe.conformance import ModelConformance  # noqa: E402
from pdaframe.errors import ConfigError, DataError, ModelError, PluginError  # noqa: E402
from pdaframe.interfaces import Model, Parameter  # noqa: E402
from pdaframe.methods.emulation import gp  # noqa: E402
from pdaframe.methods.emulation.nn import NNEmulator, import_jax  # noqa: E402
from pdaframe.methods.emulation.nn_model import (load_emulator,  # noqa: E402
                                                 train_emulator_model)
from pdaframe.problem.fixed import FixedParameters  # noqa: E402
from pdaframe.testing import check_model, dot_product_test  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


class Relax(Model):
    """A pool relaxing from c0 towards a at rate k (daily from 2001-01-01); run only: its
    tangent and adjoint come from the emulator."""

    parameters = (Parameter("k", 0.1, lower=0.02, upper=0.3, std=0.02, units="day-1"),
                  Parameter("a", 5.0, lower=0.0, upper=10.0, std=1.0, units="g m-2"),
                  Parameter("c0", 20.0, lower=10.0, upper=30.0, std=2.0, units="g m-2"))
    output_units = {"pool": "g m-2", "flux": "g m-2 day-1"}

    def __init__(self, n_days=30, poison=False):
        self.t = np.arange(float(n_days))
        self.time = np.datetime64("2001-01-01") + np.arange(n_days)
        self.poison = poison

    def run(self, theta):
        k, a, c0 = theta
        pool = a + (c0 - a) * np.exp(-k * self.t)
        flux = k * pool
        if self.poison and k > 0.2:
            flux[3] = np.nan
        return {"pool": pool, "flux": flux}


BOX = ([0.02, 0.0, 10.0], [0.3, 10.0, 30.0])


@pytest.fixture(scope="module")
def relax_emulator():
    return train_emulator_model(Relax(), *BOX, n_runs=60, seed=3, hidden=(16, 16),
                                max_iter=1500)


def smooth(X):
    X = np.atleast_2d(X)
    return np.sin(3 * X[:, 0]) + 0.5 * np.cos(2 * X[:, 1]) + X[:, 0] * X[:, 1]


def test_nn_fits_held_out_points_with_early_stopping():
    X = gp.design([0, 0], [2, 2], 60, seed=3)
    nn = NNEmulator([0, 0], [2, 2], seed=0, patience=50).fit(X, smooth(X))
    Xt = gp.design([0, 0], [2, 2], 200, seed=6)
    out = gp.validate(nn, Xt, smooth(Xt))
    assert out["rmse"] < 0.05 * np.std(smooth(Xt))          # measured 0.020 / 0.59
    assert 0.8 <= out["coverage"] <= 1.0                    # variance = held-out error
    h = nn.history                                          # stopped by patience
    assert h["nit"] - h["best_iter"] == 50 and h["nit"] < nn.max_iter
    assert h["val_loss"][h["best_iter"] - 1] == h["val_loss"].min()
    assert nn.n_train == 48 and nn.n_validation == 12
    again = NNEmulator([0, 0], [2, 2], seed=0, patience=50).fit(X, smooth(X))
    assert np.array_equal(again.weights, nn.weights)        # deterministic


def test_emulator_model_taylor_and_dot_product(relax_emulator):
    em, model = relax_emulator, Relax()
    theta = np.array([0.12, 4.0, 22.0])
    real = model.run(theta)
    for k in ("pool", "flux"):                  # emulates the real run (60 runs)
        assert np.max(np.abs(em.run(theta)[k] - real[k])) < 0.05 * np.ptp(real[k])
    report = check_model(em, theta, scale=np.array([0.02, 1.0, 2.0]))
    assert all(r.passed and r.decades >= 4 for r in report["taylor"].values())
    assert report["dot_product"] <= 1e-12
    assert dot_product_test(em, theta, 7, 1e-12) <= 1e-12


def test_emulator_model_save_load_bit_identical(relax_emulator, tmp_path):
    em = relax_emulator
    path = em.save(tmp_path / "relax.npz")
    back = load_emulator(path, model=Relax())
    theta, d = np.array([0.2, 6.0, 15.0]), np.array([0.01, -0.5, 1.0])
    for a, b in ((em.run(theta), back.run(theta)), (em.tangent(theta, d), back.tangent(theta, d))):
        assert all(np.array_equal(a[k], b[k]) for k in a)
    cot = {"pool": np.linspace(0, 1, 30)}
    assert np.array_equal(em.adjoint(theta, cot), back.adjoint(theta, cot))
    X = gp.design(*BOX, 20, seed=1)
    assert np.array_equal(em.emulator.predict(X)[0], back.emulator.predict(X)[0])
    assert back.parameter_names == ("k", "a", "c0") and back.model_id == em.model_id
    assert np.array_equal(back.time, Relax().time)
    assert not np.load(path, allow_pickle=False)["meta"].dtype.hasobject


def test_load_refuses_other_model_or_parameter_set(relax_emulator, tmp_path):
    path = relax_emulator.save(tmp_path / "relax.npz")
    with pytest.raises(ConfigError, match="relax.npz.*model.*Relax"):
        load_emulator(path, model="dalec2")
    with pytest.raises(ConfigError, match="parameter set.*'c0'"):
        load_emulator(path, parameters=["k", "a"])
    with pytest.raises(ConfigError, match="time axis"):
        load_emulator(path, model=Relax(n_days=40))
    view = FixedParameters(Relax(), ["k", "a"], [0.1, 5.0, 20.0])
    with pytest.raises(ConfigError, match="parameter set"):
        load_emulator(path, model=view)
    with pytest.raises(ConfigError, match="fixed parameter values"):
        load_emulator(path, fixed={"c0": 20.0})
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="junk.npz: not a pdaframe NN-emulator file"):
        load_emulator(tmp_path / "junk.npz")
    # the registered model factory reads it too
    from pdaframe.plugins import get_model
    m = get_model("nn-emulator", file=str(path), model="Relax", parameters=["k", "a", "c0"])
    assert np.array_equal(m.run([0.1, 5, 20])["pool"], relax_emulator.run([0.1, 5, 20])["pool"])


def test_nan_in_training_data_is_a_data_error():
    X = gp.design([0, 0], [1, 1], 10, seed=1)
    Y = smooth(X)
    Y[4] = np.nan
    with pytest.raises(DataError, match="training output of run 4"):
        NNEmulator([0, 0], [1, 1]).fit(X, Y)
    # the default executor drops runs with non-finite outputs (warning), as for the GP
    with pytest.warns(RuntimeWarning, match="8 of 20 runs failed and are dropped"):
        em = train_emulator_model(Relax(poison=True), *BOX, n_runs=20, seed=1, max_iter=5)
    assert em.emulator.n_train + em.emulator.n_validation == 12

    class Plain:                                    # an executor that keeps every result
        def map(self, f, xs):
            return [f(x) for x in xs]
    with pytest.raises(DataError, match=r"run 0 at theta .* non-finite 'flux' \(entry 3\)"):
        train_emulator_model(Relax(poison=True), *BOX, n_runs=20, seed=1, executor=Plain())
    with pytest.raises(ConfigError, match=r"output\(s\) \['gpp'\]"):
        train_emulator_model(Relax(), *BOX, n_runs=20, outputs=["gpp"])


def test_outside_the_box_warns_with_distance_and_is_refused_far(relax_emulator):
    em = relax_emulator
    with pytest.warns(RuntimeWarning, match=r"outside the training design, up to 0\.1"):
        em.run([0.12, 11.0, 20.0])                  # a 0.1 box widths beyond
    with pytest.raises(ModelError, match="beyond the training runs.*extrapolation_limit"):
        em.run([0.12, 20.0, 20.0])                  # 1 box width beyond
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        em.run([0.12, 5.0, 20.0])                   # inside: no warning
    with pytest.raises(ModelError, match="not finite"):
        em.run([np.nan, 5.0, 20.0])


def test_missing_jax_is_a_named_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(PluginError, match=r'pip install "pdaframe\[jax\]".*jax==0.10.2'):
        import_jax()


class TestEmulatorConformance(ModelConformance):
    """The whole model conformance suite on a trained emulator of `Relax`."""

    model = staticmethod(lambda: train_emulator_model(Relax(), *BOX, n_runs=60, seed=3,
                                                       hidden=(16, 16), max_iter=1500))
    theta = [0.12, 4.0, 22.0]


# --- DALEC2 twin ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dalec2_problem(tmp_path_factory):
    pytest.importorskip("pdaframe_dalec2")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from ces_dalec2 import restricted_config
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    path = tmp_path_factory.mktemp("nn") / "twin.toml"
    return pdaframe.load_config(restricted_config(["f_auto", "c_lma", "d_onset", "d_fall"],
                                                  path=str(path)))[0]


TRUTH = np.array([0.45, 90.0, 122.0, 240.0])


@pytest.mark.slow
def test_ces_with_nn_emulator_covers_the_truth(dalec2_problem):
    res = pdaframe.minimise(dalec2_problem, method="ces", seed=1, n_steps=300, n_chains=8,
                            emulator="nn", nn={"hidden": [32, 32], "patience": 50})
    assert isinstance(res.emulator, NNEmulator)
    z = (res.x - TRUTH) / res.posterior_std
    assert np.all(np.abs(z) < 3), z                         # measured |z| <= 1.1
    # the posterior sd of DREAM(ZS) (benchmarks/ces_dalec2.py): 0.00223, 0.646, 0.542, 1.70
    ratio = res.posterior_std / np.array([0.00223, 0.646, 0.542, 1.70])
    assert np.all((ratio > 0.6) & (ratio < 1.6)), ratio
    assert res.check["rmse"] < 0.05                         # obs-error units at check runs
    with pytest.raises(ConfigError, match="emulator='svm'"):
        pdaframe.minimise(dalec2_problem, method="ces", emulator="svm")


@pytest.mark.slow
def test_4dvar_on_the_emulator_model(dalec2_problem):
    p = dalec2_problem
    lo, up = gp.prior_box(p.prior, 2.0, use_bounds=False)
    em = train_emulator_model(p.model, lo, up, n_runs=120, outputs=["nee", "lai", "c_woo"],
                              seed=1, max_iter=2000)
    res = pdaframe.minimise(pdaframe.Problem(em, p.prior, p.streams), method="lbfgsb")
    real = pdaframe.minimise(p, method="lbfgsb")
    assert res.success and res.njev > 0                     # the emulator's adjoint
    # within 2 posterior sds (0.0023, 0.63, 0.57, 1.6) of the real 4D-Var's; measured
    # 0.15, 1.8, 0.75, 1.2 sds (200 runs, 5000 iterations: within 0.9)
    sd = real.posterior_std
    assert np.all(np.abs(res.x - real.x) < 2 * sd), (res.x - real.x) / sd
    assert np.all(np.abs(res.x - TRUTH) < 3 * sd), (res.x - TRUTH) / sd
