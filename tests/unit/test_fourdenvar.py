"""4DEnVar (Method notes §2): closed-form linear-Gaussian answers, outer loops, failures, seeds."""
import numpy as np
import pytest
import pdaframe
from pdaframe.methods.fourdenvar import (METHODS, FourDEnVarState, default_members,
                                         draw_perturbations, ensemble_cost, ensemble_gradient,
                                         ensemble_hessian, fourdenvar, solve_ensemble)
from pdaframe.parallel import evaluate, member_rng
from tests.conftest import LG2_COV, LG2_MEAN, lg2_problem, random_linear_gaussian
from tests.models import Decay, decay_problem

H = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
B = np.array([[1.0, 0.5], [0.5, 4.0]])
R = 0.5 * np.eye(3)
Y_OBS = np.array([3.5, -0.5, 2.2])
XB = np.array([1.0, 2.0])


def closed_form(H, B, R, y, xb):
    A = np.linalg.inv(H.T @ np.linalg.solve(R, H) + np.linalg.inv(B))
    return xb + A @ H.T @ np.linalg.solve(R, y - H @ xb), A


XA, A = closed_form(H, B, R, Y_OBS, XB)


def run(problem, **options):
    return pdaframe.minimise(problem, method=fourdenvar, **options)


# --- closed form ---------------------------------------------------------------------------
def test_reference_numbers_agree_with_the_closed_form():
    np.testing.assert_allclose(XA, LG2_MEAN, rtol=1e-9)
    np.testing.assert_allclose(A, LG2_COV, rtol=1e-7)


@pytest.mark.parametrize("n_members", [4, 10, 50])
def test_lg2_exact_moments_reproduce_the_closed_form(n_members):
    problem = lg2_problem()
    res = run(problem, n_members=n_members)
    assert res.method == "4denvar" and res.success and res.nit == 1
    np.testing.assert_allclose(res.x, XA, rtol=1e-10)
    np.testing.assert_allclose(res.posterior_covariance, A, rtol=1e-10)
    np.testing.assert_allclose(res.posterior_std, np.sqrt(np.diag(A)), rtol=1e-10)
    assert res.fun == pytest.approx(0.2399043062, rel=1e-9)
    assert res.fun == pytest.approx(problem.cost(res.x), rel=1e-13)
    assert res.fun_ensemble == pytest.approx(res.fun, rel=1e-12)    # J is quadratic in w
    assert res.history["cost"][0] == pytest.approx(0.54, rel=1e-13)
    assert res.nfev == n_members + 2 and res.njev == 0 and res.n_failed == 0
    # the prior ensemble has exactly B; the posterior ensemble exactly A, around x
    assert res.ensemble.shape == res.posterior_ensemble.shape == (n_members, 2)
    np.testing.assert_allclose(res.ensemble.mean(0), XB, atol=1e-12)
    np.testing.assert_allclose(np.cov(res.ensemble.T), B, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.posterior_ensemble.mean(0), XA, rtol=1e-10)
    np.testing.assert_allclose(np.cov(res.posterior_ensemble.T), A, rtol=1e-10)
    assert res.parameter_names == ["a", "b"]
    np.testing.assert_array_equal(res.x0, XB)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("n_members", [5, 9, 40])
def test_random_full_B_full_R_closed_form(seed, n_members):
    problem, xa, A_ref = random_linear_gaussian(seed)          # n = 4, m = 9
    res = run(problem, n_members=n_members, seed=seed)
    np.testing.assert_allclose(res.x, xa, rtol=1e-10, atol=1e-10 * np.abs(xa).max())
    np.testing.assert_allclose(res.posterior_covariance, A_ref, rtol=1e-10,
                               atol=1e-10 * np.abs(A_ref).max())


def test_start_away_from_the_background_still_exact():
    # x0 centres the first ensemble; the prior stays at xb (w_k = min-norm coefficients)
    res = run(lg2_problem(), n_members=6, x0=[-1.0, 5.0])
    np.testing.assert_allclose(res.x, XA, rtol=1e-10)
    np.testing.assert_allclose(res.posterior_covariance, A, rtol=1e-10)
    np.testing.assert_array_equal(res.x0, [-1.0, 5.0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plain_random_draws_converge_as_inverse_sqrt_n(seed):
    N = 2000
    res = run(lg2_problem(), n_members=N, exact_moments=False, seed=seed)
    tol = 5 / np.sqrt(N)
    assert np.all(np.abs(res.x - XA) <= tol * np.abs(XA)), res.x - XA
    assert np.abs(res.posterior_covariance - A).max() <= tol * np.abs(A).max()
    assert not np.allclose(res.x, XA, rtol=1e-6)                 # not exact: really random


def test_plain_draws_are_the_member_streams():
    Z = draw_perturbations(3, 5, seed=7, exact_moments=False)
    for i in range(5):
        np.testing.assert_array_equal(Z[:, i], member_rng(7, i).standard_normal(3))
    Ze = draw_perturbations(3, 5, seed=7)
    np.testing.assert_allclose(Ze.mean(1), 0.0, atol=1e-15)
    np.testing.assert_allclose(Ze @ Ze.T / 4, np.eye(3), atol=1e-13)


def test_chi_square_of_the_analysis():
    """Method notes §11: over twin replicates of LG2, E[2 J(θa)] = m = 3, E[2 J_b] = Tr(HK)."""
    rng = np.random.default_rng(11)
    two_j, two_jb = [], []
    L = np.linalg.cholesky(B)
    for _ in range(400):
        truth = XB + L @ rng.standard_normal(2)
        y = H @ truth + np.sqrt(0.5) * rng.standard_normal(3)
        problem = pdaframe.Problem(pdaframe.LinearModel(H), pdaframe.GaussianPrior(XB, B),
                                   [pdaframe.DataStream("y", "y", y, std=np.sqrt(0.5))])
        res = run(problem, n_members=4)
        two_j.append(2 * res.fun)
        two_jb.append(2 * problem.prior.cost(res.x))
    se = np.sqrt(6 / 400)                                       # Var[2J] = 2m
    assert abs(np.mean(two_j) - 3.0) < 4 * se
    assert abs(np.mean(two_jb) - 1.8564593301) < 0.25


# --- the ensemble-space problem -------------------------------------------------------------
@pytest.mark.parametrize("solver, rtol", [("trust-exact", 1e-8), ("newton-cg", 1e-7)])
def test_scipy_minimisation_equals_the_closed_form(solver, rtol):
    rng = np.random.default_rng(3)
    Y, d, w_k = rng.standard_normal((30, 12)), rng.standard_normal(30), rng.standard_normal(12)
    w = solve_ensemble(Y, d, w_k)
    np.testing.assert_allclose(w, w_k + np.linalg.solve(np.eye(12) + Y.T @ Y,
                                                         Y.T @ d - w_k), rtol=1e-12)
    np.testing.assert_allclose(solve_ensemble(Y, d, w_k, solver=solver), w, rtol=rtol,
                               atol=rtol)
    assert np.abs(ensemble_gradient(w, Y, d, w_k)).max() < 1e-12
    wide = Y[:5]                                                # more members than obs
    np.testing.assert_allclose(solve_ensemble(wide, d[:5], w_k),
                               w_k + np.linalg.solve(np.eye(12) + wide.T @ wide,
                                                     wide.T @ d[:5] - w_k), rtol=1e-12)
    # analytic gradient and Hessian against finite differences
    v = rng.standard_normal(12)
    h = 1e-6
    fd = [(ensemble_cost(v + h * e, Y, d, w_k) - ensemble_cost(v - h * e, Y, d, w_k)) / (2 * h)
          for e in np.eye(12)]
    np.testing.assert_allclose(ensemble_gradient(v, Y, d, w_k), fd, rtol=1e-7, atol=1e-7)
    fd = np.column_stack([(ensemble_gradient(v + h * e, Y, d, w_k)
                           - ensemble_gradient(v - h * e, Y, d, w_k)) / (2 * h)
                          for e in np.eye(12)])
    np.testing.assert_allclose(ensemble_hessian(v, Y, d, w_k), fd, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("solver", ["trust-exact", "newton-cg"])
def test_scipy_solver_in_a_run(solver):
    problem, xa, A_ref = random_linear_gaussian(1)
    res = run(problem, n_members=9, solver=solver)
    ref = run(random_linear_gaussian(1)[0], n_members=9)
    np.testing.assert_allclose(res.x, ref.x, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.x, xa, rtol=1e-8, atol=1e-10)


# --- outer loops ----------------------------------------------------------------------------
def test_outer_loops_reduce_j_and_reach_the_lbfgsb_optimum():
    ref = pdaframe.minimise(decay_problem(), method="lbfgsb")
    one = run(decay_problem())
    assert one.nit == 1 and one.fun < 0.05 * one.history["cost"][0]
    sec = run(decay_problem(), outer_loops=3)                   # secant at prior spread
    assert sec.nit == 3 and sec.fun < 0.2 * one.fun
    assert np.all(np.diff(sec.history["cost_u"]) < 0)
    bundle = run(decay_problem(), outer_loops=10, epsilon=1e-4)  # finite-difference bundle
    assert bundle.success and bundle.status == 0 and 2 <= bundle.nit < 10
    assert np.all(np.diff(bundle.history["cost"]) < 0)
    assert bundle.fun == pytest.approx(ref.fun, rel=1e-7)
    np.testing.assert_allclose(bundle.x, ref.x, rtol=1e-5)
    # Gauss-Newton posterior of the last linearisation, one small step before the optimum
    np.testing.assert_allclose(bundle.posterior_covariance, ref.posterior_covariance,
                               rtol=1e-2)
    assert bundle.nfev == bundle.nit * (default_members(3) + 1) + 1


def test_linear_problem_converges_in_two_outer_loops():
    res = run(lg2_problem(), n_members=4, outer_loops=5)
    assert res.success and res.nit == 2 and res.history["dw2"][-1] < 1e-20
    np.testing.assert_allclose(res.x, XA, rtol=1e-10)


def test_outer_loop_limit_is_not_success():
    res = run(decay_problem(), outer_loops=2)
    assert res.nit == 2 and not res.success and res.status == 1
    assert "outer_loops=2" in res.message


# --- failures -------------------------------------------------------------------------------
class FailingLinear(pdaframe.LinearModel):
    """LG2's model that fails (like a negative pool) where ``fails(theta)``."""

    def __init__(self, fails):
        super().__init__(H, names=["a", "b"])
        self.fails = fails

    def run(self, theta):
        if self.fails(theta):
            raise pdaframe.ModelError("pool 'x' negative at step 2", theta=theta)
        return super().run(theta)


def failing_problem(fails):
    prior = pdaframe.GaussianPrior(XB, covariance=B, names=["a", "b"])
    obs = pdaframe.DataStream("y", "y", Y_OBS, std=np.sqrt(0.5))
    return pdaframe.Problem(FailingLinear(fails), prior, [obs])


def test_failed_members_are_dropped_and_counted():
    fails = lambda th: th[0] > 2.0                               # noqa: E731
    N = 40
    members = XB + draw_perturbations(2, N, seed=0).T @ np.linalg.cholesky(B).T
    n_bad = int(np.sum(members[:, 0] > 2.0))
    assert 3 <= n_bad <= 15
    res = run(failing_problem(fails), n_members=N)
    assert res.n_failed == n_bad and res.n_members_used == N - n_bad
    assert res.nfev == N + 2
    assert res.posterior_ensemble.shape == (N - n_bad, 2)
    assert res.fun < 0.6 * res.history["cost"][0]
    # a truncated ensemble is not exact any more, but still a fair estimate
    np.testing.assert_allclose(res.x, XA, atol=0.15)


def test_too_few_members_is_a_model_error():
    fails = lambda th: abs(th[0] - 1.0) > 1e-9                   # noqa: E731
    with pytest.raises(pdaframe.ModelError, match=r"only 0 of 10 members ran \(10 failed; "
                                                  r"at least 2 needed\).*negative"):
        run(failing_problem(fails), n_members=10)
    members = XB + draw_perturbations(2, 40, seed=0).T @ np.linalg.cholesky(B).T
    n_ok = int(np.sum(members[:, 0] <= 1.9))
    assert n_ok < 35
    with pytest.raises(pdaframe.ModelError, match=rf"only {n_ok} of 40 .* at least 35 needed"):
        run(failing_problem(lambda th: th[0] > 1.9), n_members=40, min_members=35)


def test_failing_background_or_start_is_a_model_error():
    with pytest.raises(pdaframe.ModelError, match="fails at the background"):
        run(failing_problem(lambda th: th[0] == 1.0), n_members=4)
    with pytest.raises(pdaframe.ModelError, match="fails at the start point x0"):
        run(failing_problem(lambda th: th[0] == 0.5), n_members=4, x0=[0.5, 2.0])


def test_failed_new_centre_halves_the_step():
    # the analysis (a = 1.21) fails: the step is halved until the centre runs
    res = run(failing_problem(lambda th: 1.15 < th[0] < 1.3), n_members=4)
    assert res.n_backtracks >= 1 and res.n_failed == res.n_backtracks
    assert res.x[0] <= 1.15 and res.fun < res.history["cost"][0]
    assert res.nfev == 4 + 2 + res.n_backtracks


# --- seeds, bounds, options -----------------------------------------------------------------
def test_same_seed_same_result_different_seed_differs():
    a = run(decay_problem(), seed=5, outer_loops=2)
    b = run(decay_problem(), seed=5, outer_loops=2)
    c = run(decay_problem(), seed=6, outer_loops=2)
    for key in ("x", "posterior_covariance", "ensemble", "posterior_ensemble"):
        np.testing.assert_array_equal(a[key], b[key])
        assert not np.allclose(a[key], c[key], rtol=1e-6, atol=0)
    np.testing.assert_array_equal(a.history["cost"], b.history["cost"])


def test_any_executor_gives_the_same_answer():
    class Reversed:                   # evaluates in another order, as MPI ranks would
        def map(self, func, items):
            items = list(items)
            out = [evaluate(func, items[i], i) for i in reversed(range(len(items)))]
            return out[::-1]
    a = run(decay_problem(), seed=1, outer_loops=2)
    b = run(decay_problem(), seed=1, outer_loops=2, executor=Reversed())
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.posterior_ensemble, b.posterior_ensemble)


@pytest.mark.parametrize("uniform", [False, True])
def test_members_respect_bounds(uniform):
    seen = []

    class Recording(Decay):
        def run(self, theta):
            seen.append(np.array(theta))
            return super().run(theta)

    problem = decay_problem(bounds=True)
    lower, upper = np.array([0.0, 0.0, -5.0]), np.array([1.0, 20.0, 5.0])
    prior = pdaframe.UniformPrior(lower, upper) if uniform else \
        pdaframe.GaussianPrior([0.1, 3.0, 0.5], std=[0.5, 10.0, 4.0], lower=lower, upper=upper)
    problem = pdaframe.Problem(Recording(), prior, problem.streams)
    res = run(problem, outer_loops=3, epsilon=2.0)
    seen = np.array(seen)
    assert len(seen) == res.nfev
    for arr in (seen, res.ensemble, res.posterior_ensemble, res.x[None, :]):
        assert np.all((arr > lower) & (arr < upper))
    # wide prior: a plain Gaussian would put many members outside the box
    plain = prior.mean + np.random.default_rng(0).standard_normal((1000, 3)) * [0.5, 10, 4]
    if not uniform:
        assert np.mean(np.any((plain < lower) | (plain > upper), axis=1)) > 0.3
    assert res.fun < res.history["cost"][0]


def test_configuration_errors():
    with pytest.raises(pdaframe.ConfigError, match=r"n_members - 1 >= n_param.*n_members=2"):
        run(lg2_problem(), n_members=2)
    with pytest.raises(pdaframe.ConfigError, match=r"unknown option\(s\) \['maxiter'\]"):
        run(lg2_problem(), maxiter=3)
    with pytest.raises(pdaframe.ConfigError, match="solver 'bfgs' unknown"):
        run(lg2_problem(), solver="bfgs")
    with pytest.raises(pdaframe.ConfigError, match="option .outer_loops. = 0: at least 1 needed"):
        run(lg2_problem(), outer_loops=0)
    res = run(lg2_problem(), n_members=2, exact_moments=False)  # allowed, rank-deficient
    assert res.posterior_ensemble.shape == (2, 2)
    assert default_members(2) == 20 and default_members(23) == 47
    assert METHODS == {"4denvar": fourdenvar}


def test_callback_and_stop_iteration():
    seen = []

    def cb(state):
        seen.append(state.fun)
        raise StopIteration

    res = run(decay_problem(), outer_loops=5, callback=cb)
    assert len(seen) == 1 and not res.success and res.status == 2
    assert res.nit == 1 and res.fun == res.history["cost"][0]


def test_ask_tell_by_hand():
    problem = lg2_problem()
    state = FourDEnVarState(problem, n_members=4, seed=3)
    rounds = 0
    while not state.done:
        members = state.ask()
        state.tell([problem.observation_vector(th) for th in members])
        rounds += 1
    assert rounds == 2
    np.testing.assert_allclose(state.result().x, XA, rtol=1e-10)
    with pytest.raises(ValueError, match="got 1 results for the 5 members"):
        s = FourDEnVarState(problem, n_members=4)
        s.ask()
        s.tell([problem.observation_vector(XB)])
