"""The MLP observation operator on DALEC2: a SIF stand-in learnt and assimilated.

A synthetic "true" relation ``SIF = 0.35 GPP^0.8 (1 - exp(-0.7 LAI))`` plus noise (σ 0.05)
is sampled on DALEC2 runs at 10 prior draws (US-Me2 drivers, 2004-2005, every third day);
the operator (16 tanh units) is trained on these pairs and saved. The twin's SIF
observations (every fourth day) come from the true relation at a truth (not from the MLP),
so the operator's own error is part of the test; six parameters that drive GPP and LAI are
estimated through the trained operator with the adjoint.
"""
import json

import numpy as np
import pytest

import pdaframe
from pdaframe.errors import ConfigError
from pdaframe.testing import check_gradient, taylor_test
from pdaframe_dalec2 import PARAMETERS

NAMES = [p.name for p in PARAMETERS]
XB = np.array([p.default for p in PARAMETERS])
SD = np.array([p.std for p in PARAMETERS])
SHIFT = {"f_auto": -0.8, "f_fol": 0.7, "c_eff": -0.8, "c_lma": 0.6, "c_lab0": 0.7,
         "d_onset": 0.6}                                  # truth - xb in units of sigma_b
NOISE = 0.05
OPTIONS = 'options = { site = "US-Me2", start = "2004-01-01", end = "2005-12-31" }'


def true_sif(gpp, lai):
    return 0.35 * np.maximum(gpp, 0.0) ** 0.8 * (1.0 - np.exp(-0.7 * lai))


def config(folder, operator_options, estimate=tuple(SHIFT)):
    """Write the twin's config in ``folder`` with these ``operator_options`` (a dict)."""
    options = ", ".join(f"{k} = {json.dumps(v)}" for k, v in operator_options.items())
    text = f"""title = "SIF through a trained MLP"
[model]
name = "dalec2"
{OPTIONS}
[prior]
family = "gaussian"
[parameters]
estimate = {json.dumps(list(estimate))}
[[streams]]
name = "sif"
variable = "sif"
file = "{folder}/sif_obs.csv"
time_column = "step"
value_column = "sif"
std = {NOISE}
operator = "mlp"
operator_options = {{ {options} }}
[method]
name = "lbfgsb"
"""
    path = folder / "config.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mlp_twin")
    model = pdaframe.get_model("dalec2", site="US-Me2", start="2004-01-01", end="2005-12-31")
    lo = np.array([p.lower for p in PARAMETERS])
    hi = np.array([p.upper for p in PARAMETERS])
    rng = np.random.default_rng(16)
    rows = []
    for _ in range(10):
        theta = np.clip(XB + SD * rng.standard_normal(XB.size), lo + 1e-9 * (hi - lo),
                        hi - 1e-9 * (hi - lo))
        out = model.run(theta)
        g, lai = out["gpp"][::3], out["lai"][::3]
        rows.append(np.c_[g, lai, true_sif(g, lai) + NOISE * rng.standard_normal(g.size)])
    np.savetxt(folder / "pairs.csv", np.vstack(rows), delimiter=",", header="gpp,lai,sif",
               comments="")
    truth = XB.copy()
    for name, s in SHIFT.items():
        truth[NAMES.index(name)] += s * SD[NAMES.index(name)]
    out, steps = model.run(truth), np.arange(0, 731, 4)
    y = true_sif(out["gpp"][steps], out["lai"][steps]) + NOISE * rng.standard_normal(steps.size)
    np.savetxt(folder / "sif_obs.csv", np.c_[steps, y], delimiter=",", header="step,sif",
               comments="", fmt=["%d", "%.6f"])
    # paths relative to the config's folder, loaded from another working directory
    path = config(folder, {"train_file": "pairs.csv", "inputs": ["gpp", "lai"],
                           "hidden": [16], "save_file": "sif_mlp.npz"})
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path_factory.mktemp("elsewhere"))
        problem, _ = pdaframe.load_config(path)
    return folder, problem, truth, model


def test_operator_learns_the_relation(twin):
    folder, problem, _, _ = twin
    net = problem.streams[0].operator.net
    assert net.info["n_train"] == 1952 and net.info["n_validation"] == 488
    assert net.info["validation_r2"] > 0.99
    assert 0.8 * NOISE < net.info["validation_rmse"] < 1.3 * NOISE
    assert (folder / "sif_mlp.npz").is_file()      # `save_file` wrote it beside the config


def test_gradients_through_dalec2(twin):
    _, problem, truth, model = twin
    assert check_gradient(problem, problem.prior.mean.copy()).passed    # Taylor of J (adjoint)
    # tangent and adjoint of H∘M at the truth, in the six estimated directions
    op, idx = problem.streams[0].operator, [NAMES.index(n) for n in SHIFT]
    rng = np.random.default_rng(5)
    d = np.zeros(XB.size)
    d[idx] = SD[idx] * rng.standard_normal(len(idx))
    dy = rng.standard_normal(problem.streams[0].values.size)
    out = model.run(truth)
    lhs = float(op.tangent(out, model.tangent(truth, d)) @ dy)
    rhs = float(d @ model.adjoint(truth, op.adjoint(out, dy)))
    assert abs(lhs - rhs) / max(abs(lhs), abs(rhs)) <= 1e-12
    rep = taylor_test(lambda t: op.apply(model.run(t)),
                      lambda t, h: op.tangent(model.run(t), model.tangent(t, h)), truth, d,
                      steps=0.5 * 2.0 ** -np.arange(0, 30))
    assert rep.passed, str(rep)


def test_twin_recovers_the_parameters(twin):
    _, problem, truth, _ = twin
    assert problem.parameter_names == list(SHIFT) and problem.n_obs == 183
    res = pdaframe.minimise(problem, method="lbfgsb", maxiter=2000)
    true = truth[[NAMES.index(n) for n in SHIFT]]
    z = (res.x - true) / res.posterior_std
    zb = (res.x0 - true) / res.posterior_std
    assert np.all(np.abs(z) < 2.5), dict(zip(SHIFT, z))
    assert np.all(np.abs(zb) > 2) and np.all(np.abs(res.x - true) < np.abs(res.x0 - true))
    assert abs(2 * res.fun - problem.n_obs) < 4 * np.sqrt(2 * problem.n_obs)


def test_operator_on_outputs_the_model_lacks(twin, tmp_path):
    folder, _, _, _ = twin
    (tmp_path / "sif_obs.csv").write_text((folder / "sif_obs.csv").read_text())
    text = (folder / "pairs.csv").read_text().replace("gpp,lai,sif", "gpp,fapar,sif", 1)
    (tmp_path / "pairs.csv").write_text(text)
    path = config(tmp_path, {"train_file": "pairs.csv", "inputs": ["gpp", "fapar"],
                             "hidden": [4], "max_iter": 50})
    with pytest.raises(ConfigError, match=r"stream 'sif'.*needs model output\(s\) "
                                          r"\['fapar'\], which the model does not produce"):
        pdaframe.load_config(path, run_model=False)       # found before any model run
    path = config(tmp_path, {"file": f"{folder}/sif_mlp.npz", "inputs": ["lai", "gpp"]})
    with pytest.raises(ConfigError, match=r"differ from the input names \['gpp', 'lai'\]"):
        pdaframe.load_config(path, run_model=False)
