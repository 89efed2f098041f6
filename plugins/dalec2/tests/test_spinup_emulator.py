"""Emulated spin-up (`pdaframe_dalec2.spinup_emulator`): fewer cycles, the same pools.

US-Me2 drivers of 2004, ``spinup = "cycle"`` (tol 1e-4); the 17 rates in the P16 prior
mean ± 0.75 sd; 64 Sobol design spin-ups train the emulator, 12 held-out LHS points test
it against the cycling from the default pools and a tight (tol 1e-9) reference.
"""
import warnings

import numpy as np
import pytest

import pdaframe
from pdaframe.errors import ConfigError, DataError
from pdaframe.methods.emulation.gp import design
from pdaframe_dalec2 import PARAMETERS
from pdaframe_dalec2.spinup import SpinUp
from pdaframe_dalec2.spinup_emulator import EmulatedSpinUp, SpinupEmulator, \
    train_spinup_emulator

XB = np.array([p.default for p in PARAMETERS])
SD = np.array([p.std for p in PARAMETERS])
LO = np.maximum(XB - 0.75 * SD, [p.lower for p in PARAMETERS])[:17]
HI = np.minimum(XB + 0.75 * SD, [p.upper for p in PARAMETERS])[:17]
SITE = {"site": "US-Me2", "start": "2004-01-01", "end": "2004-12-31"}


def with_pools(rates):
    return np.hstack([rates, np.tile(XB[17:], (len(rates), 1))])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model = pdaframe.get_model("dalec2", spinup="cycle", **SITE)
    emu = train_spinup_emulator(model, design(LO, HI, 64, "sobol", seed=3), n_trees=50)
    path = emu.save(tmp_path_factory.mktemp("spinup") / "emulated.npz")
    return model, emu, path


def test_numpy_trees_are_scikit_learn_and_the_file_round_trips(trained):
    model, emu, path = trained
    assert emu.info["n_design"] + emu.info["n_collapsed"] + emu.info["n_failed"] == 64
    assert emu.info["n_design"] >= 50
    x = np.log(design(LO, HI, 20, "lhs", seed=4))
    np.testing.assert_allclose(emu.residual(x), emu.forest.predict(x), rtol=0, atol=1e-12)
    with np.load(path, allow_pickle=False) as z:                # plain arrays only
        assert str(z["format"]).startswith("pdaframe-dalec2-spinup-emulator")
    back = SpinupEmulator.load(path)
    np.testing.assert_array_equal(back.predict(np.exp(x)), emu.predict(np.exp(x)))
    assert back.info == emu.info and back.names == emu.names


def test_emulated_start_converges_to_the_same_pools_in_fewer_cycles(trained):
    model, _, path = trained
    emulated = pdaframe.get_model("dalec2", spinup="cycle", spinup_start_file=str(path), **SITE)
    assert isinstance(emulated, EmulatedSpinUp)
    tight = SpinUp(model.model, tol=1e-9, max_cycles=20000)
    c0, c1, d0, d1 = [], [], [], []
    for theta in with_pools(design(LO, HI, 12, "lhs", seed=11)):
        ref = tight.spun_up(theta)[17:]
        if ref.min() < 1.0:
            continue                                     # a collapsing ecosystem
        p0, p1 = model.spun_up(theta)[17:], emulated.spun_up(theta)[17:]
        c0.append(model.cycles)
        c1.append(emulated.cycles)
        d0.append(np.max(np.abs(p0 / ref - 1)))
        d1.append(np.max(np.abs(p1 / ref - 1)))
        # the same stopping test: both end at pools changing < spinup_tol per cycle, and
        # the two ends agree as closely as each agrees with the equilibrium
        assert np.max(np.abs(p1 / p0 - 1)) <= d0[-1] + d1[-1] + model.tol
    c0, c1 = np.array(c0), np.array(c1)
    assert len(c0) >= 8
    assert c1.sum() < 0.8 * c0.sum(), (c0, c1)         # at least 20 % fewer cycles
    assert np.mean(c1 < c0) >= 0.75
    assert max(d1) < 0.05 and np.median(d1) <= 2 * np.median(d0) + model.tol, (d0, d1)


def test_bad_emulator_input(trained, tmp_path):
    model, emu, path = trained
    other = pdaframe.get_model("dalec2", site="US-Me2", start="2005-01-01", end="2005-12-31")
    with pytest.raises(ConfigError, match=r"trained on other drivers"):
        EmulatedSpinUp(other, path)
    with pytest.raises(ConfigError, match=r"spinup_start_file \(an emulator file\) goes with "
                                          r"spinup = 'cycle'"):
        pdaframe.get_model("dalec2", spinup_start_file=str(path), **SITE)
    with pytest.raises(DataError, match=r"file not found \(expected a DALEC2 spin-up "
                                        r"emulator file \(spinup_start_file\)\)"):
        pdaframe.get_model("dalec2", spinup="cycle", spinup_start_file=str(tmp_path / "x.npz"),
                           **SITE)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(DataError, match=r"not a DALEC2 spin-up emulator file"):
        SpinupEmulator.load(tmp_path / "other.npz")
    emulated = EmulatedSpinUp(model.model, emu)
    far = XB.copy()
    far[0] = HI[0] + 0.5 * (HI[0] - LO[0])                # half a box width beyond
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        emulated.spun_up(far)
    lo, up = emu.a["lower"][0], emu.a["upper"][0]            # the design's own box
    expected = f"rates {(far[0] - up) / (up - lo):.3g} of the design box width outside it"
    assert expected.startswith("rates 0.5") and \
        any(expected in str(w.message) for w in rec), [str(w.message) for w in rec]
