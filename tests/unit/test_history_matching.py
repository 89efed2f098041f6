"""History matching (Method notes §9 VALIDATION) and a twin that never rules out the truth."""
import numpy as np
import pytest

import pdaframe
from pdaframe.methods.emulation import history_matching as hm
from pdaframe.errors import ConfigError


def identity(theta):
    return np.asarray(theta, dtype=float)


def test_implausibility_exact_interval():
    theta = np.linspace(0, 1, 100001)[:, None]
    imp = hm.implausibility(0.5, theta, 0.0, var_obs=0.01)
    nroy = theta[imp <= 3, 0]
    assert np.isclose(nroy.min(), 0.2, atol=2e-5) and np.isclose(nroy.max(), 0.8, atol=2e-5)
    imp = hm.implausibility(0.5, theta, 0.0, var_obs=0.01, var_disc=0.0125)
    nroy = theta[imp <= 3, 0]
    assert np.isclose(nroy.min(), 0.05, atol=2e-5) and np.isclose(nroy.max(), 0.95, atol=2e-5)
    # max and second max over outputs
    m = np.array([[0.0, 0.0, 0.0], [1.0, 0.1, 0.5]])
    assert np.allclose(hm.implausibility([0, 0, 0], m, var_obs=0.01), [0.0, 10.0])
    assert np.allclose(hm.implausibility([0, 0, 0], m, var_obs=0.01, which=2), [0.0, 5.0])
    with pytest.raises(ConfigError, match="positive"):
        hm.implausibility(0.5, theta, 0.0)


@pytest.mark.parametrize("var_disc, lo, hi", [(0.0, 0.2, 0.8), (0.0125, 0.05, 0.95)])
def test_waves_identity_interval(var_disc, lo, hi):
    res = hm.history_match(identity, [0.0], [1.0], 0.5, 0.01, var_disc=var_disc, n_design=8,
                           n_candidates=4000, max_waves=3, seed=1)
    assert abs(res.nroy[:, 0].min() - lo) < 5e-3 and abs(res.nroy[:, 0].max() - hi) < 5e-3
    assert abs(res.nroy_fraction - (hi - lo)) < 0.01
    assert res.nfev == 8 * res.n_waves and res.success


class Twin:
    parameter_names = ("k", "c")

    def __init__(self):
        self.t = np.linspace(0, 4, 12)

    def run(self, theta):
        k, c = theta
        return {"y": c * np.exp(-k * self.t) + 0.3 * k * c}


def test_twin_truth_never_ruled_out():
    truth = np.array([0.7, 2.0])
    prior = pdaframe.UniformPrior([0.1, 0.5], [2.0, 4.0], names=["k", "c"])
    y = Twin().run(truth)["y"]
    obs = pdaframe.DataStream("y", "y", y + 0.05 * np.random.default_rng(3).standard_normal(12),
                              std=0.05)
    prob = pdaframe.Problem(Twin(), prior, [obs])
    # 12 outputs: the max of 12 |N(0,1)| noise terms exceeds 3 with probability ~3 %, so
    # the second largest implausibility is used (it tolerates one outlying observation)
    res = hm.history_match_problem(prob, var_disc=0.0, n_design=15, n_candidates=3000,
                                   max_waves=3, which=2, seed=2)
    fr = [w["nroy_fraction"] for w in res.waves]
    assert res.n_waves >= 2 and all(b <= a for a, b in zip(fr, fr[1:]))
    assert fr[-1] < 0.05                     # the data rule out most of the box
    for wave in range(res.n_waves):
        assert res.implausibility(truth, wave=wave)[0] <= 3.0
    assert res.in_nroy(truth)[0]
    assert res.nfev == 15 * res.n_waves
    assert np.all(res.nroy.min(axis=0) <= truth) and np.all(truth <= res.nroy.max(axis=0))


@pytest.mark.parametrize("options, match", [
    ({"n_design": 1}, "n_design = 1: at least 2"),
    ({"max_waves": 0}, "max_waves = 0: at least 1"),
    ({"n_candidates": 5}, "n_candidates = 5: at least 8"),
    ({"which": 0}, "which = 0: at least 1"),
    ({"cutoff": 0.0}, "cutoff=0.0 must be positive"),
])
def test_bad_settings_are_named(options, match):
    with pytest.raises(ConfigError, match=match):
        hm.history_match(identity, [0.0], [1.0], 0.5, 0.01, **{"n_design": 8, **options})
