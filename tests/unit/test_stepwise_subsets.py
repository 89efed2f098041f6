"""Per-step parameter subsets of the stepwise chain (`pdaframe.methods.stepwise`).

A linear-Gaussian problem whose step-k streams depend only on step k's active parameters:
the chain (marginal step priors, Gaussian conditioning of the held parameters) equals the
simultaneous closed-form posterior to round-off; the conditional step prior, or a chain that
leaves the held parameters alone, does not. Bad steps are named errors at load.
"""
import logging

import numpy as np
import pytest

import pdaframe
from pdaframe.methods import stepwise as sw
from pdaframe.methods.stepwise import condition, stepwise
from pdaframe.observations.operators import Bias, Identity
from pdaframe.result import OptimisationResult
from tests.unit.test_bad_input_table import method
from tests.unit.test_bad_input_table import test_bad_input as _bad_input

NAMES = ["a", "b", "c", "d", "e"]
RNG = np.random.default_rng(15)
# stream p reads a, b; q reads b, c, d; r reads all five (a bias on r: "r:bias")
H = {"p": np.c_[RNG.normal(size=(6, 2)), np.zeros((6, 3))],
     "q": np.c_[np.zeros((5, 1)), RNG.normal(size=(5, 3)), np.zeros((5, 1))],
     "r": RNG.normal(size=(4, 5))}
STD = {"p": np.full(6, 0.4), "q": np.full(5, 0.3), "r": np.full(4, 0.5)}
Y = {k: RNG.normal(size=h.shape[0]) + 1.0 for k, h in H.items()}
XB = np.array([1.0, -0.5, 2.0, 0.3, -1.0, 0.0])          # the last: r's bias
_L = RNG.normal(size=(6, 6)) * 0.4 + np.eye(6)
B = _L @ _L.T                                             # full correlations
STEPS = [{"streams": ["p"], "parameters": ["a", "b"]},
         {"streams": ["q"], "parameters": ["b", "c", "d"]},
         {"streams": ["r"]}]


class Outputs:
    """``G = H theta`` per output, with tangent and adjoint."""
    parameter_names = NAMES

    def run(self, theta):
        return {k: h @ theta for k, h in H.items()}

    def tangent(self, theta, dtheta):
        return self.run(dtheta)

    def adjoint(self, theta, d):
        return sum(H[k].T @ v for k, v in d.items())


def problem(prior=None):
    prior = prior or pdaframe.GaussianPrior(XB, covariance=B, names=NAMES + ["r:bias"])
    streams = [pdaframe.DataStream(k, k, Y[k], std=STD[k]) for k in ("p", "q")]
    streams.append(pdaframe.DataStream("r", "r", Y["r"], std=STD["r"],
                                       operator=Bias(Identity("r"), name="bias")))
    return pdaframe.Problem(Outputs(), prior, streams)


def closed_form():
    """The simultaneous posterior over (a..e, r:bias)."""
    g = np.vstack([np.c_[H["p"], np.zeros(6)], np.c_[H["q"], np.zeros(5)],
                   np.c_[H["r"], np.ones(4)]])
    rinv = np.diag(1 / np.concatenate([STD[k] for k in "pqr"]) ** 2)
    y = np.concatenate([Y[k] for k in "pqr"])
    a = np.linalg.inv(g.T @ rinv @ g + np.linalg.inv(B))
    return XB + a @ g.T @ rinv @ (y - g @ XB), a


def gauss_newton(problem, x0=None, callback=None, executor=None, **options):
    """An exact inner 'minimiser' for a linear problem: one Newton step from the prior mean."""
    m = problem.prior.mean
    cov = problem.posterior_covariance(m)
    x = m - cov @ problem.gradient(m)
    return OptimisationResult(x=x, fun=problem.cost(x), success=True, status=0, nit=1,
                              nfev=1, njev=1, message="Newton step", posterior_covariance=cov,
                              posterior_std=np.sqrt(np.diag(cov)), x0=m,
                              history={"cost": np.array([problem.cost(m), problem.cost(x)])},
                              parameter_names=list(problem.parameter_names))


def rel(a, b):
    return np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b)


def test_subset_chain_equals_simultaneous_closed_form():
    xa, pa = closed_form()
    res = stepwise(problem(), steps=STEPS, inner=gauss_newton)
    print(f"\nchain vs closed form: mean {rel(res.x, xa):.2e}, "
          f"covariance {rel(res.posterior_covariance, pa):.2e} (relative)")
    assert rel(res.x, xa) <= 1e-10
    assert rel(res.posterior_covariance, pa) <= 1e-10
    assert res.fun == pytest.approx(problem().cost(xa), rel=1e-10)
    assert [s.parameters for s in res.steps] == [["a", "b"], ["b", "c", "d"],
                                                 NAMES + ["r:bias"]]
    assert res.step_parameters == [s.parameters for s in res.steps]
    # every step's record is the chain's full Gaussian after it; covariance stays full
    for s in res.steps:
        assert s.parameter_names == NAMES + ["r:bias"]
        assert s.x.shape == (6,) and s.posterior_covariance.shape == (6, 6)
    assert np.count_nonzero(np.abs(res.posterior_covariance) < 1e-14) == 0
    # step 0 moved the held c, d, e (correlated with a, b) and left r:bias's prior row
    # conditioned: its mean changed though r is not yet assimilated
    assert np.all(res.steps[0].x[2:] != XB[2:])
    # the streams depend on active parameters only: the sensitivity check says so
    assert res.steps[0].inactive_sensitivity < 1e-12
    assert res.steps[1].inactive_sensitivity < 1e-12
    assert "inactive_sensitivity" not in res.steps[2]


def test_subset_chain_with_lbfgsb_inner_minimiser():
    xa, pa = closed_form()
    res = stepwise(problem(), steps=STEPS, inner_options={"gtol": 1e-12, "ftol": 1e-15})
    assert rel(res.x, xa) <= 1e-7
    assert rel(res.posterior_covariance, pa) <= 1e-10


def test_marginal_step_prior_is_exact_and_conditional_is_not():
    """The first step's posterior of (a, b) computed by hand with both candidate priors:
    the marginal N(m_A, P_AA) matches the simultaneous posterior of p alone, the
    conditional N(m_A, P_AA - P_AI P_II^-1 P_IA) does not."""
    a, i = [0, 1], [2, 3, 4, 5]
    g = H["p"][:, :2]
    rinv = np.diag(1 / STD["p"] ** 2)
    full_g = np.c_[H["p"], np.zeros(6)]
    exact = np.linalg.inv(full_g.T @ rinv @ full_g + np.linalg.inv(B))[np.ix_(a, a)]
    marginal = B[np.ix_(a, a)]
    conditional = marginal - B[np.ix_(a, i)] @ np.linalg.solve(B[np.ix_(i, i)], B[np.ix_(i, a)])
    post = {k: np.linalg.inv(g.T @ rinv @ g + np.linalg.inv(p))
            for k, p in (("marginal", marginal), ("conditional", conditional))}
    assert rel(post["marginal"], exact) < 1e-12
    assert rel(post["conditional"], exact) > 1e-3


def test_chain_that_does_not_update_held_parameters_is_not_exact(monkeypatch):
    """The check above can fail: drop the conditioning of the held parameters (their mean
    and variance kept, their correlation with the active ones dropped)."""
    def no_gain(mean, cov, index, x_a, cov_a):
        held = np.setdiff1d(np.arange(mean.size), index)
        new_mean, new_cov = mean.copy(), cov.copy()
        new_mean[index], new_cov[np.ix_(index, index)] = x_a, cov_a
        new_cov[np.ix_(index, held)] = new_cov[np.ix_(held, index)] = 0.0
        return new_mean, new_cov
    monkeypatch.setattr(sw, "condition", no_gain)
    res = stepwise(problem(), steps=STEPS, inner=gauss_newton)
    assert rel(res.x, closed_form()[0]) > 1e-3


def test_condition_is_the_kalman_update_with_zero_columns():
    """condition() against the Kalman update of the full state with H = [H_A, 0]."""
    index = np.array([1, 3])
    ha = RNG.normal(size=(3, 2))
    r = np.diag([0.2, 0.5, 0.3])
    y = RNG.normal(size=3)
    h = np.zeros((3, 6))
    h[:, index] = ha
    gain = B @ h.T @ np.linalg.inv(h @ B @ h.T + r)
    mean_k, cov_k = XB + gain @ (y - h @ XB), B - gain @ h @ B
    cov_k = 0.5 * (cov_k + cov_k.T)
    cov_a = cov_k[np.ix_(index, index)]
    mean, cov = condition(XB, B, index, mean_k[index], cov_a)
    assert rel(mean, mean_k) < 1e-13 and rel(cov, cov_k) < 1e-13
    np.testing.assert_array_equal(cov, cov.T)


def test_held_parameters_the_streams_depend_on_warn_once_per_step(caplog):
    """Step 0 holds b, which p reads: the approximation (b fixed at its mean) is flagged."""
    steps = [{"streams": ["p"], "parameters": ["a"]},
             {"streams": ["q", "r"]}]
    with caplog.at_level(logging.WARNING, logger="pdaframe.methods.stepwise"):
        res = stepwise(problem(), steps=steps, inner=gauss_newton)
    warned = [r.message for r in caplog.records if "holds at their mean" in r.message]
    assert len(warned) == 1 and "step 0 (p)" in warned[0] and "(b, c, d, e)" in warned[0]
    # one σ of b moves p's whitened equivalents by about |H_pb| σ_b / σ_p (one direction)
    expect = np.linalg.norm(H["p"][:, 1] / STD["p"]) * np.sqrt(B[1, 1])
    assert res.steps[0].inactive_sensitivity == pytest.approx(expect, rel=1e-6)
    # the step's own posterior of a is that of p with b known at its mean
    g, rinv = H["p"][:, :1], np.diag(1 / STD["p"] ** 2)
    cov_a = np.linalg.inv(g.T @ rinv @ g + 1 / B[0, 0])
    x_a = XB[0] + cov_a @ g.T @ rinv @ (Y["p"] - H["p"] @ XB[:5])
    assert res.steps[0].x[0] == pytest.approx(x_a[0], rel=1e-10)
    assert res.steps[0].posterior_covariance[0, 0] == pytest.approx(cov_a[0, 0], rel=1e-10)
    assert rel(res.x, closed_form()[0]) > 1e-3            # an approximation, not exact


def test_list_form_unchanged_and_records_all_parameters():
    """Without subsets the step results are the inner minimisers' own (full) results."""
    two = pdaframe.Problem(Outputs(), pdaframe.GaussianPrior(XB[:5], covariance=B[:5, :5],
                                                             names=NAMES),
                           [pdaframe.DataStream(k, k, Y[k], std=STD[k]) for k in "pq"])
    res = stepwise(two, steps=[["p"], ["q"]])
    assert [s.parameters for s in res.steps] == [NAMES, NAMES]
    np.testing.assert_array_equal(res.steps[1].x0, res.steps[0].x)
    np.testing.assert_array_equal(res.x, res.steps[-1].x)


def test_non_gaussian_prior_runs_without_subsets_and_refuses_them():
    uni = pdaframe.UniformPrior(XB[:5] - 5, XB[:5] + 5, names=NAMES)
    two = pdaframe.Problem(Outputs(), uni, [pdaframe.DataStream(k, k, Y[k], std=STD[k])
                                            for k in "pq"])
    assert stepwise(two, steps=[["p", "q"]]).success
    with pytest.raises(pdaframe.ConfigError, match=r"steps\[0\] estimate a subset of the "
                       r"parameters, which needs a Gaussian prior.*UniformPrior"):
        stepwise(two, steps=[{"streams": ["p"], "parameters": ["a", "b"]},
                             {"streams": ["q"]}])


@pytest.mark.parametrize("steps, match", [
    ([{"streams": ["p"], "parameters": ["a", "z"]}, {"streams": ["q", "r"]}],
     r"steps\[0\] parameters: 'z' is not a parameter of the problem; the step can estimate "
     r"\['a', 'b', 'c', 'd', 'e'\]"),
    ([{"streams": ["p"], "parameters": ["a", "r:bias"]}, {"streams": ["q", "r"]}],
     r"'r:bias' is an operator parameter of stream 'r', which this step does not"),
    ([{"streams": ["p", "q", "r"], "parameters": ["r:bias"]}],
     r"steps\[0\] parameters \['r:bias'\] name no model parameter"),
    ([{"streams": ["p"], "parameters": []}, {"streams": ["q", "r"]}],
     r"steps\[0\] 'parameters' must be a non-empty list of names; got \[\]"),
    ([{"streams": ["p"], "parameters": ["a", "a"]}, {"streams": ["q", "r"]}],
     r"steps\[0\] 'parameters' names \['a'\] more than once"),
    ([{"streams": ["p"], "parameters": ["a", "b"]}, {"streams": ["q", "r"],
                                                      "parameters": ["b", "c", "d"]}],
     r"parameters \['e', 'r:bias'\] are estimated in no step"),
    ([{"streams": ["p"]}, {"streams": ["q"]}],
     r"parameters \['r:bias'\] are estimated in no step.*streams \['r'\] are in no step"),
    ([["p"], {"streams": ["q", "r"]}], r"steps mixes tables \(steps\[1\]\) and lists"),
    ([{"stream": ["p"]}], r"steps\[0\] has unknown key\(s\) \['stream'\]"),
    ([{"parameters": ["a"]}], r"steps\[0\] has no 'streams'"),
    ([{"streams": ["p", "x"]}], r"steps\[0\] names stream 'x'"),
    ([{"streams": ["p"]}, {"streams": ["p", "q", "r"]}],
     r"stream 'p' is in steps\[0\] and steps\[1\]"),
])
def test_bad_steps_are_config_errors(steps, match, monkeypatch):
    def no_run(self, theta):
        raise AssertionError("the model ran before the bad steps were found")
    monkeypatch.setattr(Outputs, "run", no_run)
    with pytest.raises(pdaframe.ConfigError, match=match):
        stepwise(problem(), steps=steps)


@pytest.mark.parametrize("options, words", [
    ('steps = [{ streams = ["y"], parameters = ["a", "z"] }]',
     ("'z' is not a parameter of the problem", "['a', 'b']")),
    ('steps = [{ streams = ["y"], parameters = [] }]',
     ("steps[0] 'parameters' must be a non-empty list",)),
    ('steps = [{ streams = ["y"], parameters = ["a"] }]',
     ("parameters ['b'] are estimated in no step",)),
    ('steps = [["y"], { streams = ["y"] }]', ("steps mixes tables",)),
    ('steps = [{ stream = ["y"] }]', ("unknown key(s) ['stream']",)),
], ids=["unknown-parameter", "empty-parameters", "parameter-in-no-step", "mixed-forms",
        "unknown-key"])
def test_bad_steps_in_a_config_found_at_load_and_check(options, words, tmp_path, capsys,
                                                       monkeypatch):
    """load_config, ``pdaframe check`` and ``pdaframe run`` stop with a ConfigError naming
    the file and [method], before the model runs (`tests.unit.test_bad_input_table`)."""
    _bad_input(method("stepwise", options), pdaframe.ConfigError,
               ("c.toml", "[method]", "stepwise") + words, tmp_path, capsys, monkeypatch)


def test_result_file_and_summary_record_each_steps_parameters(tmp_path):
    import netCDF4
    from pdaframe.run import summary_table
    prob = problem()
    res = stepwise(prob, steps=STEPS, inner=gauss_newton)
    res.to_netcdf(tmp_path / "result.nc", problem=prob)
    with netCDF4.Dataset(tmp_path / "result.nc") as ds:
        assert list(ds["step_streams"][:]) == ["p", "q", "r"]
        assert list(ds["step_parameters"][:]) == ["a,b", "b,c,d", "a,b,c,d,e,r:bias"]
        np.testing.assert_allclose(ds["posterior_covariance"][:], closed_form()[1],
                                   rtol=1e-9)
    text = summary_table(res, prob)
    assert "step 0 (p): J_step" in text and "; estimates a, b\n" in text
    assert "; estimates b, c, d\n" in text and "step 2 (r)" in text
    assert "estimates a, b, c, d, e" not in text


def test_streams_in_another_order_with_operator_parameters():
    """A step's streams in another order than the problem's, both with a bias: the step's
    parameters, its held-parameter check and the records follow the problem's names."""
    b7 = np.eye(7) * 0.5 + 0.1
    prior = pdaframe.GaussianPrior(np.r_[XB, 0.2], covariance=b7,
                                   names=NAMES + ["q:bias", "r:bias"])
    streams = [pdaframe.DataStream("p", "p", Y["p"], std=STD["p"])]
    streams += [pdaframe.DataStream(k, k, Y[k], std=STD[k],
                                    operator=Bias(Identity(k), name="bias")) for k in "qr"]
    prob = pdaframe.Problem(Outputs(), prior, streams)
    steps = [{"streams": ["r", "q"], "parameters": ["a", "b", "c", "d", "r:bias", "q:bias"]},
             {"streams": ["p"]}]
    res = stepwise(prob, steps=steps, inner=gauss_newton)
    assert res.steps[0].parameters == ["a", "b", "c", "d", "q:bias", "r:bias"]
    assert res.steps[1].parameters == NAMES
    assert res.parameter_names == NAMES + ["q:bias", "r:bias"]
    # step 0 holds e, which r reads: one σ_e moves r's whitened equivalents by this
    expect = np.linalg.norm(H["r"][:, 4] / STD["r"]) * np.sqrt(b7[4, 4])
    assert res.steps[0].inactive_sensitivity == pytest.approx(expect, rel=1e-6)
    # step 1 holds the biases (p has none) and estimates e: its record moved them
    # through their correlation with a..e only
    assert np.all(res.steps[1].x[5:] != res.steps[0].x[5:])
    # the step's x is the full vector; x[held] of step 0 (e) is moved by correlation
    assert res.steps[0].x[4] != prior.mean[4]
    np.testing.assert_array_equal(res.x, res.steps[1].x)
    assert res.fun == pytest.approx(prob.cost(res.x), rel=1e-14)


def test_config_run_with_per_step_parameters_writes_them(tmp_path, capsys):
    """LG2 with its stream given twice (y1, y2): ``pdaframe run`` of a chain whose first
    step estimates a only; result.nc and the printed summary name each step's set."""
    import netCDF4
    from pdaframe import cli
    from tests.unit.test_bad_input_table import LG2, edit
    stream = LG2[LG2.index("[[streams]]"):LG2.index("[method]")]
    path = edit(("[[streams]]\nname = \"y\"", "[[streams]]\nname = \"y1\""),
                ("[method]", stream.replace('name = "y"', 'name = "y2"') + "[method]"),
                ('name = "lbfgsb"', 'name = "stepwise"\noptions = { steps = [{ streams = '
                                    '["y1"], parameters = ["a"] }, { streams = ["y2"] }] }'))(
        tmp_path)
    assert cli.main(["run", str(path), "-q"]) == 0
    out = capsys.readouterr().out
    with netCDF4.Dataset(tmp_path / "out" / "result.nc") as ds:
        assert list(ds["step_streams"][:]) == ["y1", "y2"]
        assert list(ds["step_parameters"][:]) == ["a", "a,b"]
        assert ds["posterior_covariance"][:].shape == (2, 2)
    assert "step 0 (y1)" in out and "; estimates a\n" in out and "step 1 (y2)" in out
