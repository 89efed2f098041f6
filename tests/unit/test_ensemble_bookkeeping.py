"""The ask/tell book-keeping every ensemble method shares (`pdaframe.methods.ensemble`): the
results-length check, the `Failed` fill, the first-failure message, the run of the final
mean, the Laplace ending; and the shared pieces CES uses (ES-MDA state, accept step, ArviZ
diagnostics)."""
import logging

import numpy as np
import pytest

import pdaframe
from pdaframe.errors import ModelError
from pdaframe.methods.emulation import ces as ces_module
from pdaframe.methods.ensemble import failure_error, filled, laplace_ending, too_few_error
from pdaframe.methods.fourdenvar import FourDEnVarState
from pdaframe.methods.importance import GLUEState, ImportanceState
from pdaframe.methods.mcmc import AMState, DreamZSState, metropolis_accept, sample_diagnostics
from pdaframe.methods.mcmc.emcee import _Pool
from pdaframe.methods.search.de import DEState
from pdaframe.methods.search.ga import GAState
from pdaframe.methods.sequential import ESMDAState, kalman_increment
from pdaframe.parallel import Failed, SerialExecutor
from pdaframe.result import Result

from ..conftest import LG2_COV, LG2_MEAN, lg2_problem


class _Fails:
    """y = (a + b, a - b, 2 a); fails (``ModelError``) where ``a > limit``."""
    parameter_names = ("a", "b")

    def __init__(self, limit):
        self.limit = limit

    def run(self, theta):
        if theta[0] > self.limit:
            raise ModelError(f"a = {theta[0]:.3f} is too large")
        return {"y": np.array([theta[0] + theta[1], theta[0] - theta[1], 2 * theta[0]])}


def failing_problem(limit, bounded=False):
    kw = {"lower": [-5.0, -5.0], "upper": [5.0, 5.0]} if bounded else {}
    prior = pdaframe.GaussianPrior([1.0, 2.0], std=[1.0, 2.0], names=["a", "b"], **kw)
    return pdaframe.Problem(_Fails(limit), prior,
                            [pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2], std=0.7)])


def _results(state, members):
    return SerialExecutor().map(state.evaluate, list(members))


STATES = [
    ("4DEnVar", lambda p: FourDEnVarState(p, n_members=5)),
    ("ES-MDA", lambda p: ESMDAState(p, n_members=6, alphas=1)),
    ("importance sampling", lambda p: ImportanceState(p, n_members=5)),
    ("GLUE", lambda p: GLUEState(p, n_members=5)),
    ("adaptive-metropolis", lambda p: AMState(p, n_chains=3, n_samples=4, burn_in=0)),
    ("dream-zs", lambda p: DreamZSState(p, n_chains=3, n_samples=4, burn_in=0)),
    ("ga", lambda p: GAState(p, pop_size=6)),
    ("de", lambda p: DEState(p, popsize=3)),
]


@pytest.mark.parametrize("label, make", STATES, ids=[s[0] for s in STATES])
def test_every_state_checks_the_number_of_results_in_one_message(label, make, caplog):
    """One too few results: a ValueError naming the method and both numbers; nothing counted."""
    state = make(failing_problem(10.0, bounded=True))
    try:
        members = state.ask()
        n = len(members)
        results = _results(state, members)[:-1]
        with pytest.raises(ValueError, match=rf"^{label}: tell\(\) got {n - 1} results for "
                                             rf"the {n} members of the last ask\(\)$"):
            state.tell(results)
        assert (state.nfev, state.n_failed, state.iteration) == (0, 0, 0)
    finally:
        getattr(state, "stop", lambda: None)()


def test_filled_replaces_failed_records_and_converts_the_others():
    results = [2, Failed(1, "ModelError: x"), 3.5]
    assert filled(results, np.inf, float) == [2.0, np.inf, 3.5]
    assert filled(results, (-np.inf, np.inf)) == [2, (-np.inf, np.inf), 3.5]


def test_failure_errors_name_the_first_failed_member():
    results = [1.0, Failed(1, "ModelError: a"), Failed(2, "ModelError: b")]
    assert str(failure_error("m", results)) == "m; first failure: member 1: ModelError: a"
    assert str(failure_error("m", [1.0, 2.0])) == "m"
    assert str(too_few_error("X round 2", 1, 3, 2, results)) == (
        "X round 2: only 1 of 3 members ran (2 failed; at least 2 needed); first failure: "
        "member 1: ModelError: a")


@pytest.mark.parametrize("method, options, message", [
    ("es-mda", {"n_members": 20}, r"^ES-MDA round 1: only \d of 20 members ran \(\d+ failed; "
                                  r"at least 3 needed\); first failure: member \d+: "
                                  r"ModelError: a = "),
    ("importance", {"n_members": 20}, r"^importance sampling: no sample has a positive "
                                      r"weight \(20 of 20 runs failed.*; first failure: "
                                      r"member 0: ModelError: a = "),
    ("ga", {"pop_size": 10}, r"^ga: every member of the first generation failed \(10 runs; "
                             r"check the parameter bounds and the model\); first failure: "
                             r"member 0: ModelError: a = "),
])
def test_methods_report_the_first_failed_member(method, options, message):
    with pytest.raises(ModelError, match=message):
        pdaframe.minimise(failing_problem(-10.0, bounded=True), method=method, seed=1,
                          **options)


@pytest.mark.parametrize("make, name", [
    (lambda p: ESMDAState(p, n_members=8, seed=2, alphas=1), "ES-MDA: the model fails at the "
                                                             "final mean"),
    (lambda p: ImportanceState(p, n_members=8, seed=2), "importance sampling: the model fails "
                                                         "at the weighted mean"),
])
def test_the_last_round_runs_the_estimate_once(make, name, caplog):
    """After the members, one round of ``x`` alone: ``fun = J(x)``, or ``inf`` (warning) when
    that run failed."""
    problem = lg2_problem()
    for fail in (False, True):
        state = make(problem)
        state.tell(_results(state, state.ask()))
        assert not state.done and state.x is not None
        np.testing.assert_array_equal(state.ask(), state.x[None, :])
        with pytest.raises(ValueError, match="got 2 results for the 1 members"):
            state.tell([1.0, 2.0])
        with caplog.at_level(logging.WARNING, logger="pdaframe"):
            state.tell([Failed(0, "ModelError: no")] if fail else
                       _results(state, state.ask()))
        assert state.done and state.nfev == 9 and state.iteration == 2
        if fail:
            assert state.fun == np.inf and f"{name} (ModelError: no); fun = inf" in caplog.text
        else:
            assert state.fun == pytest.approx(problem.cost(state.x), rel=1e-12)


def test_laplace_ending_adds_the_gauss_newton_posterior():
    problem = lg2_problem()
    runs = problem.nrun
    res = laplace_ending(problem, Result(x=LG2_MEAN.copy()))
    np.testing.assert_allclose(res.posterior_covariance, LG2_COV, rtol=1e-8)
    np.testing.assert_allclose(res.posterior_std, np.sqrt(np.diag(LG2_COV)), rtol=1e-8)
    assert res.nfev_posterior == problem.nrun - runs > 0


def test_emcee_pool_counts_like_the_states():
    problem = failing_problem(1.0)
    pool = _Pool(None, seed=0)
    out = pool.map(problem.cost, [np.array([0.5, 1.0]), np.array([2.0, 1.0]),
                                  np.array([3.0, 1.0])])
    assert out[0] == pytest.approx(problem.cost([0.5, 1.0]))
    assert out[1:] == [(-np.inf, np.inf)] * 2
    assert (pool.nfev, pool.n_failed) == (3, 2)
    assert pool.first_failure == "member 1: ModelError: a = 2.000 is too large"


def test_metropolis_accept_is_the_one_accept_step():
    """``log u < lp_new - lp_old + correction``; an undefined ratio (both -inf) rejects."""
    lp_old = np.array([0.0, -1.0, -np.inf, -np.inf, 0.0])
    lp_new = np.array([-0.5, 0.0, -np.inf, -3.0, -np.inf])
    log_u = np.log([0.5, 0.99, 0.5, 0.5, 0.01])
    np.testing.assert_array_equal(metropolis_accept(lp_old, lp_new, log_u),
                                  [True, True, False, True, False])
    np.testing.assert_array_equal(metropolis_accept(lp_old, lp_new, log_u, correction=-1.0),
                                  [False, True, False, True, False])


def test_sample_diagnostics_is_nan_below_two_chains_or_four_draws():
    rng = np.random.default_rng(0)
    for shape in ((1, 50, 2), (3, 3, 2)):
        out = sample_diagnostics(rng.standard_normal(shape))
        assert set(out) == {"rhat", "ess_bulk", "ess_tail"}
        assert all(v.shape == (2,) and np.all(np.isnan(v)) for v in out.values())
    out = sample_diagnostics(rng.standard_normal((4, 500, 2)))
    assert np.all(np.abs(out["rhat"] - 1) < 0.02) and np.all(out["ess_bulk"] > 1000)


def test_few_members_warn_unless_the_state_says_otherwise(caplog):
    problem = lg2_problem()
    with caplog.at_level(logging.WARNING, logger="pdaframe"):
        ESMDAState(problem, n_members=10)
        ces_module._Calibration(problem, 10, (2.0, 2.0), np.random.default_rng(0))
    assert [r.getMessage() for r in caplog.records] == [
        "ES-MDA: 10 members; 50-100 or more are recommended"]


def test_ces_calibration_is_es_mda_from_prior_draws_with_plain_perturbations():
    """`ces`'s `_Calibration`: members start at ``prior.sample(N, rng)`` (in u), and the
    update is ES-MDA's with the next ``(N, n_obs)`` standard normals of the same ``rng``,
    not centred: CES's own calibration, on the shared state."""
    problem = lg2_problem()
    state = ces_module._Calibration(problem, 12, (2.0, 2.0), np.random.default_rng(7))
    ref = np.random.default_rng(7)
    U0 = np.array([problem.space.to_u(t) for t in problem.prior.sample(12, ref)])
    np.testing.assert_array_equal(state.U, U0)
    G = np.array(_results(state, state.ask()))
    state.tell(list(G))
    Gw = np.array([state.obs.whiten(g) for g in G])
    D = state.obs.y_white + np.sqrt(2.0) * ref.standard_normal((12, 3))
    np.testing.assert_allclose(state.U, U0 + kalman_increment(U0, Gw, D, 2.0), rtol=1e-13)
    assert state.rng.bit_generator.state == ref.bit_generator.state


def test_ces_runs_the_shared_es_mda_and_reports_arviz_diagnostics(monkeypatch):
    """One `ESMDAState.tell` per inflation factor, the final ensemble run as well; R-hat and
    ESS are ArviZ's (`sample_diagnostics`) of the chains in ``samples`` (row ``k``: step
    ``k // n_chains`` of chain ``k % n_chains``)."""
    tells = []
    tell = ESMDAState.tell
    monkeypatch.setattr(ESMDAState, "tell", lambda self, r: (tells.append(len(r)),
                                                             tell(self, r))[1])
    problem = lg2_problem()
    res = ces_module.ces(problem, seed=4, n_design=20, alphas=(2.0, 2.0), n_steps=200,
                         n_check=0, max_refine=0)
    assert tells == [20, 20] and res.n_design == 20 * 3 and res.nfev == problem.nrun
    chains = res.samples.reshape(200, res.n_chains, -1).swapaxes(0, 1)
    diag = sample_diagnostics(chains)
    for key in ("rhat", "ess_bulk", "ess_tail"):
        np.testing.assert_array_equal(res[key], diag[key])
    assert np.all(res.rhat < 1.1)
