"""Differential evolution and the genetic algorithm (Method notes §3 VALIDATION), the
map -> ask/tell thread adaptor, and the GA operators' distributions."""
import gc
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from scipy import stats

import pdaframe
from pdaframe.methods.search import de as de_module
from pdaframe.methods.search import ga as ga_module
from pdaframe.methods.search.adaptor import MapAskTell
from pdaframe.methods.search.de import DEState, de
from pdaframe.methods.search.ga import GAState, ga, polynomial_mutation, sbx, tournament
from pdaframe.parallel import Failed, SerialExecutor, evaluate

from tests.conftest import LG2_COV, LG2_MEAN


# --- test problems: J(theta) = f(theta) exactly ----------------------------------------------

def rosenbrock(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def rastrigin(x):
    return float(10.0 * x.size + np.sum(x ** 2 - 10.0 * np.cos(2.0 * np.pi * x)))


class FunctionModel:
    """Output ``f = sqrt(func(theta))``: with one observation 0 of std 1/sqrt(2),
    J = 1/2 f^2 / (1/2) = func(theta). ``fails(theta)`` -> `ModelError` (counted)."""

    def __init__(self, func, n, fails=None):
        self.func, self.fails = func, fails
        self.parameter_names = [f"x{i}" for i in range(n)]
        self.n_raised = 0

    def run(self, theta):
        if self.fails is not None and self.fails(theta):
            self.n_raised += 1
            raise pdaframe.ModelError("pool negative", theta=theta)
        return {"f": np.array([np.sqrt(max(self.func(theta), 0.0))])}


def function_problem(func, n, lower, upper, fails=None):
    model = FunctionModel(func, n, fails)
    prior = pdaframe.UniformPrior(np.full(n, lower), np.full(n, upper))
    obs = pdaframe.DataStream("f", "f", [0.0], std=1.0 / np.sqrt(2.0))
    return pdaframe.Problem(model, prior, [obs])


def rosenbrock_problem(n=5, fails=None):
    return function_problem(rosenbrock, n, 0.0, 2.0, fails)


def rastrigin_problem(n=5, fails=None):
    return function_problem(rastrigin, n, -5.12, 5.12, fails)


# --- executors: same results whatever the evaluation order (stand-ins for MPI) -------------

class ReversedExecutor:
    """Evaluates the last member first; returns the results in item order."""

    def map(self, func, items):
        items = list(items)
        out = [None] * len(items)
        for i in reversed(range(len(items))):
            out[i] = evaluate(func, items[i], i)
        return out


class ThreadPoolMap:
    """Evaluates members concurrently in a thread pool."""

    def __init__(self, pool):
        self.pool = pool

    def map(self, func, items):
        items = list(items)
        return list(self.pool.map(lambda i: evaluate(func, items[i], i), range(len(items))))


def same_run(a, b):
    np.testing.assert_array_equal(a.x, b.x)
    assert a.fun == b.fun and a.nfev == b.nfev and a.nit == b.nit
    np.testing.assert_array_equal(a.history["cost"], b.history["cost"])
    np.testing.assert_array_equal(a.history["x"], b.history["x"])
    np.testing.assert_array_equal(a.population, b.population)
    np.testing.assert_array_equal(a.population_cost, b.population_cost)


@pytest.fixture
def no_new_threads():
    """The test must leave no thread behind (the adaptor's optimiser threads)."""
    before = threading.active_count()
    yield
    gc.collect()
    assert threading.active_count() == before, [t.name for t in threading.enumerate()]


# --- Method notes §3 VALIDATION ------------------------------------------------------------------

def test_de_rosenbrock(no_new_threads):
    res = pdaframe.minimise(rosenbrock_problem(), method=de, seed=0, max_runs=60000)
    assert res.success and res.status == 0 and res.method == "de"
    assert res.fun < 1e-10
    np.testing.assert_allclose(res.x, np.ones(5), atol=1e-5)
    assert res.nfev <= 60000 and res.njev == 0 and res.n_failed == 0
    assert res.population.shape == (75, 5) and res.population_cost.shape == (75,)
    assert res.nit == len(res.history["cost"]) - 1
    assert res.history["nfev"][-1] == res.nfev
    assert np.all(np.diff(res.history["cost"]) <= 0)
    assert res.fun == res.history["cost"][-1] == res.population_cost.min()
    assert "posterior_covariance" not in res


def test_de_rastrigin(no_new_threads):
    # best1bin is greedy and stops in a local minimum for some seeds; rand1bin with a low
    # crossover rate (Storn & Price's advice for separable functions) finds the global one
    res = pdaframe.minimise(rastrigin_problem(), method=de, seed=0, max_runs=60000,
                            strategy="rand1bin", recombination=0.3)
    assert res.success and res.fun < 1e-10
    np.testing.assert_allclose(res.x, np.zeros(5), atol=1e-6)


def test_ga_rastrigin():
    res = pdaframe.minimise(rastrigin_problem(), method=ga, seed=0, max_runs=30000)
    assert res.success and res.status == 0 and res.method == "ga"
    assert res.fun < 0.01 and res.nfev <= 30000
    np.testing.assert_allclose(res.x, np.zeros(5), atol=0.01)
    assert res.population.shape == (100, 5)
    np.testing.assert_array_equal(res.population_cost, np.sort(res.population_cost))


def test_ga_rosenbrock():
    # n = 2: the minimum; n = 5: SBX and polynomial mutation act coordinate-wise and creep
    # along the curved valley (pymoo's GA with the same operators does alike): over ten
    # seeds the 5-D run ends at J = 0.002 ... 1.2, so we only ask for the valley.
    res = pdaframe.minimise(rosenbrock_problem(2), method=ga, seed=0, max_runs=10000)
    assert res.fun < 1e-4
    np.testing.assert_allclose(res.x, np.ones(2), atol=0.03)
    res = pdaframe.minimise(rosenbrock_problem(5), method=ga, seed=0, max_runs=50000)
    assert res.fun < 1.5 and res.fun < res.history["cost"][0] / 10


def test_lg2_with_bounds_and_posterior(lg2):
    """A bounded LG2: DE finds theta_a; posterior=True gives LG2's A; polish sharpens x."""
    prior = pdaframe.GaussianPrior([1.0, 2.0], covariance=[[1.0, 0.5], [0.5, 4.0]],
                                   lower=[-4.0, -8.0], upper=[6.0, 12.0], names=["a", "b"])
    problem = pdaframe.Problem(lg2.model, prior, lg2.streams)
    res = pdaframe.minimise(problem, method=de, seed=3, posterior=True, tol=1e-8)
    np.testing.assert_allclose(res.x, LG2_MEAN, atol=1e-4)
    assert res.fun == pytest.approx(0.2399043062, abs=1e-9)
    np.testing.assert_allclose(res.posterior_covariance, LG2_COV, atol=1e-9)
    np.testing.assert_allclose(res.posterior_std, np.sqrt(np.diag(LG2_COV)), atol=1e-9)
    res = pdaframe.minimise(problem, method=ga, seed=3, polish=True, max_runs=2000)
    np.testing.assert_allclose(res.x, LG2_MEAN, atol=1e-6)
    assert res.polish["nfev"] > 0 and res.nfev > res.history["nfev"][-1]


# --- determinism ---------------------------------------------------------------------------

@pytest.mark.parametrize("method, options", [
    (de, {"max_runs": 3000}),
    (ga, {"max_runs": 3000, "pop_size": 40}),
])
def test_same_seed_same_result_whatever_the_executor(method, options, no_new_threads):
    def run(executor, seed=7):
        return pdaframe.minimise(rosenbrock_problem(), method=method, seed=seed,
                                 executor=executor, **options)
    serial = run(SerialExecutor())
    same_run(serial, run(None))
    same_run(serial, run(ReversedExecutor()))
    with ThreadPoolExecutor(4) as pool:
        same_run(serial, run(ThreadPoolMap(pool)))
    other = run(SerialExecutor(), seed=8)
    assert not np.array_equal(other.x, serial.x)
    assert not np.array_equal(other.history["cost"], serial.history["cost"])


@pytest.mark.parametrize("state_class, options", [(DEState, {}), (GAState, {"pop_size": 30})])
def test_ask_tell_by_hand_equals_drive(state_class, options, no_new_threads):
    problem = rosenbrock_problem()
    state = state_class(problem, seed=3, max_runs=2000, **options)
    rounds = 0
    while not state.done:
        members = state.ask()
        np.testing.assert_array_equal(members, state.ask())          # ask is repeatable
        state.tell([state.evaluate(m) for m in members])              # no executor at all
        rounds += 1
    by_hand = state.result()
    method = de if state_class is DEState else ga
    driven = pdaframe.minimise(rosenbrock_problem(), method=method, seed=3, max_runs=2000,
                               **options)
    same_run(by_hand, driven)
    assert by_hand.nit == rounds - 1 and by_hand.status == driven.status
    with pytest.raises(RuntimeError, match="finished"):
        state.ask()


# --- budget, failures, start point ---------------------------------------------------------

@pytest.mark.parametrize("method, options", [(de, {}), (ga, {"pop_size": 40})])
@pytest.mark.parametrize("max_runs", [1234, 50])      # 50: less than the first population
def test_budget_is_respected(method, options, max_runs, no_new_threads):
    problem = rosenbrock_problem()
    res = pdaframe.minimise(problem, method=method, seed=1, max_runs=max_runs, **options)
    assert res.nfev == max_runs and problem.nrun <= max_runs
    assert res.status == 2 and not res.success and "budget" in res.message
    assert res.history["nfev"][-1] == max_runs
    assert np.isfinite(res.fun) and res.fun == problem.cost(res.x)


@pytest.mark.parametrize("method, options, problem, minimum", [
    (de, {"max_runs": 60000}, rosenbrock_problem, np.ones(5)),
    (ga, {"max_runs": 30000}, rastrigin_problem, np.zeros(5)),
])
def test_failed_members_get_the_worst_fitness(method, options, problem, minimum,
                                              no_new_threads):
    # runs fail in a third of the box, away from the minimum
    problem = problem(fails=lambda th: th[4] > minimum[4] + 0.3)
    res = pdaframe.minimise(problem, method=method, seed=2, **options)
    assert res.n_failed > 0 and res.n_failed == problem.model.n_raised
    assert res.fun < 0.01
    np.testing.assert_allclose(res.x, minimum, atol=0.01)
    assert np.all(np.isfinite(res.population_cost))   # selection removed the failures


def test_failed_members_in_the_population_are_infinite():
    problem = rosenbrock_problem(fails=lambda th: th[0] > 1.0)
    state = GAState(problem, seed=0, pop_size=20)
    members = state.ask()
    state.tell(SerialExecutor().map(state.evaluate, members))
    failed = members[:, 0] > 1.0
    assert failed.any() and state.n_failed == failed.sum()
    assert np.all(np.isinf(state.costs[-failed.sum():]))              # sorted last


@pytest.mark.parametrize("method", [de, ga])
def test_every_first_member_failing_is_an_error(method, no_new_threads):
    problem = rosenbrock_problem(fails=lambda th: True)
    with pytest.raises(pdaframe.ModelError, match="every member of the first generation"):
        pdaframe.minimise(problem, method=method)


@pytest.mark.parametrize("method", [de, ga])
def test_x0_is_in_the_first_population(method, no_new_threads):
    res = pdaframe.minimise(rosenbrock_problem(), method=method, x0=np.ones(5), max_runs=500)
    assert res.history["cost"][0] == 0.0 and res.fun == 0.0
    np.testing.assert_array_equal(res.x, np.ones(5))
    np.testing.assert_array_equal(res.x0, np.ones(5))


@pytest.mark.parametrize("method", [de, ga])
def test_bad_input(method, lg2, no_new_threads):
    with pytest.raises(pdaframe.ConfigError, match=r"finite lower and upper bounds.*\['a', 'b'\]"):
        pdaframe.minimise(lg2, method=method)
    problem = rosenbrock_problem()
    with pytest.raises(pdaframe.ConfigError, match="unknown option"):
        pdaframe.minimise(problem, method=method, maxfev=10)
    with pytest.raises(pdaframe.ConfigError, match="outside its bounds"):
        pdaframe.minimise(problem, method=method, x0=np.full(5, 3.0))
    with pytest.raises(pdaframe.ConfigError, match="max_runs"):
        pdaframe.minimise(problem, method=method, max_runs=0)


def test_scipy_rejecting_an_option_is_a_config_error(no_new_threads):
    with pytest.raises(pdaframe.ConfigError, match="de: .*mutation"):
        pdaframe.minimise(rosenbrock_problem(), method=de, mutation=3.0)


# --- callback, early stop, threads ---------------------------------------------------------

@pytest.mark.parametrize("method", [de, ga])
def test_callback_stop(method, no_new_threads):
    seen = []

    def callback(res):
        seen.append(res)
        if len(seen) == 3:
            raise StopIteration

    res = pdaframe.minimise(rosenbrock_problem(), method=method, callback=callback)
    assert res.status == 3 and not res.success and res.nit == 2
    assert seen[0].status == -1 and seen[0].message == "in progress"
    assert res.fun == seen[-1].fun and res.population.shape == seen[-1].population.shape


def test_thread_ends_when_state_is_dropped_or_stopped(no_new_threads):
    before = threading.active_count()
    state = DEState(rosenbrock_problem(), seed=0)
    assert threading.active_count() == before + 1
    state.tell(SerialExecutor().map(state.evaluate, state.ask()))
    del state
    gc.collect()
    assert threading.active_count() == before
    with DEState(rosenbrock_problem(), seed=0) as state:
        state.tell(SerialExecutor().map(state.evaluate, state.ask()))
    assert state.done and threading.active_count() == before
    res = state.result()
    assert res.status == 3 and res.nit == 0 and res.population.shape == (75, 5)


def test_executor_error_stops_the_thread(no_new_threads):
    class Broken:
        def map(self, func, items):
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        pdaframe.minimise(rosenbrock_problem(), method=de, executor=Broken())


def test_map_ask_tell_with_any_map_based_optimiser(no_new_threads):
    """The adaptor is generic: here a two-round random search written against ``map``."""
    def random_search(map_like):
        rng = np.random.default_rng(0)
        xs = rng.random((6, 2))
        first = list(map_like(None, xs))
        second = list(map_like(None, xs[:3] + 1.0))
        return first + second

    problem = rosenbrock_problem(2)
    state = MapAskTell(problem, random_search, max_runs=8)
    asked = []
    while not state.done:
        members = state.ask()
        asked.append(members)
        results = [Failed(i, "boom") if i == 0 else state.evaluate(m)
                   for i, m in enumerate(members)]
        state.tell(results)
    assert [len(a) for a in asked] == [6, 2]                          # cut to the budget
    values = state.result()                  # what random_search returned
    assert len(values) == 9
    assert values[0] == values[6] == np.inf                           # failed
    assert values[8] == np.inf                                        # beyond the budget
    assert values[1] == pytest.approx(rosenbrock(asked[0][1]))
    assert values[7] == pytest.approx(rosenbrock(asked[1][1]))
    assert state.nfev == 8 and state.n_failed == 2


def test_errors_in_the_optimiser_reach_tell_and_result(no_new_threads):
    def bad(map_like):
        map_like(None, np.zeros((2, 2)))
        raise ArithmeticError("inside the optimiser")

    state = MapAskTell(rosenbrock_problem(2), bad)
    with pytest.raises(ArithmeticError, match="inside the optimiser"):
        state.tell([1.0, 2.0])
    assert state.done
    with pytest.raises(ArithmeticError):
        state.result()


# --- GA operators (Method notes §3 pitfalls: regression-test child distributions) ------------

def test_sbx_spread_has_debs_density():
    """Unbounded SBX: beta = |c2 - c1| / |x2 - x1| has density (eta+1)/2 beta^eta (beta <= 1),
    (eta+1)/2 beta^-(eta+2) (beta > 1) (Deb & Agrawal 1995); KS test on 40 000 draws."""
    eta, n = 20.0, 40000
    rng = np.random.default_rng(0)
    x1, x2 = np.full((n, 1), 0.3), np.full((n, 1), 0.8)
    c1, c2 = sbx(x1, x2, -np.inf, np.inf, eta, rng)
    crossed = (c1 != x1)[:, 0]
    assert abs(crossed.mean() - 0.5) < 0.01                # each variable with probability 0.5
    beta = (np.abs(c2 - c1) / 0.5)[crossed, 0]

    def cdf(b):
        return np.where(b <= 1, 0.5 * b ** (eta + 1), 1 - 0.5 * b ** -(eta + 1))
    assert stats.kstest(beta, cdf).pvalue > 0.01
    np.testing.assert_allclose(0.5 * (c1 + c2)[crossed], 0.55)   # children centred on parents
    assert abs(np.mean(c1[crossed] > c2[crossed]) - 0.5) < 0.015  # swapped with probability 0.5


def test_sbx_bounded():
    rng = np.random.default_rng(1)
    n = 20000
    lower, upper = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    p1 = np.tile([0.0, 0.95], (n, 1))                      # one parent on a bound
    p2 = np.tile([0.1, 1.0], (n, 1))
    c1, c2 = sbx(p1, p2, lower, upper, 20.0, rng)
    for c in (c1, c2):
        assert np.all((c >= lower) & (c <= upper)) and np.all(np.isfinite(c))
    same = np.array([[0.4, 0.4]])                          # identical parents do not cross
    a, b = sbx(same, same, lower, upper, 20.0, rng)
    np.testing.assert_array_equal(a, same)
    np.testing.assert_array_equal(b, same)


def test_polynomial_mutation_distribution():
    """At the box centre, dq = (2u + (1-2u) c)^(1/(eta+1)) - 1 for u < 1/2, c = (1/2)^(eta+1)
    (and symmetric): P(dq <= d) = ((1+d)^(eta+1) - c) / (2 (1-c)) for d <= 0."""
    eta, n = 20.0, 40000
    rng = np.random.default_rng(2)
    x = np.full((n, 1), 0.5)
    y = polynomial_mutation(x, 0.0, 1.0, eta, 0.5, rng)
    moved = (y != x)[:, 0]
    assert abs(moved.mean() - 0.5) < 0.01
    dq = (y - x)[moved, 0]
    c = 0.5 ** (eta + 1)

    def cdf(d):
        lo = ((1 + np.minimum(d, 0)) ** (eta + 1) - c) / (2 * (1 - c))
        hi = 1 - ((1 - np.maximum(d, 0)) ** (eta + 1) - c) / (2 * (1 - c))
        return np.where(d <= 0, lo, hi)
    assert stats.kstest(dq, cdf).pvalue > 0.01
    edge = polynomial_mutation(np.array([[0.0, 1.0]] * 1000), 0.0, 1.0, eta, 1.0, rng)
    assert np.all((edge >= 0.0) & (edge <= 1.0))


def test_tournament():
    rng = np.random.default_rng(3)
    costs = np.array([3.0, 1.0, np.inf, 2.0, 0.5, 4.0])
    winners = tournament(costs, 6000, rng)
    counts = np.bincount(winners, minlength=6) / 6000
    # with every member in two tournaments per 6 draws, member k of rank r (0 = best)
    # wins 2 (n - 1 - r) / (n - 1) / n of them: 10/30, 8/30, ..., 0
    expected = np.array([4, 8, 0, 6, 10, 2]) / 30
    np.testing.assert_allclose(counts, expected, atol=0.02)
    assert counts[2] == 0.0                              # a failed member never wins


def test_config_names_reach_de_and_ga():
    # through the plugin registry, as a config's [method] name does
    from pdaframe.plugins import get_method
    assert get_method("de") is de and get_method("ga") is ga
    assert set(de_module.METHODS) | set(ga_module.METHODS) == {"de", "ga"}


def test_summary_says_why_de_has_no_posterior_std():
    from pdaframe.run import summary_table
    problem = pdaframe.Problem(
        pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]], names=["a", "b"]),
        pdaframe.GaussianPrior([1.0, 2.0], std=[1.0, 2.0], lower=-5.0, upper=5.0),
        [pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2], std=0.7)])
    res = pdaframe.minimise(problem, "de", max_runs=200, seed=1)
    assert "posterior_std" not in res
    lines = summary_table(res, problem).splitlines()
    assert lines[1].split()[-1] == "-" and lines[2].split()[-1] == "-"     # a, b: no σ
    assert "nan" not in "\n".join(lines)
    notes = [line for line in lines if line.startswith("post. σ -:")]
    assert notes == ["post. σ -: de gives no posterior (an optimiser); ask for the Gauss–Newton "
                     "covariance at the optimum with option posterior = true (minimisers, de, "
                     "ga) or use a sampler (adaptive-metropolis, dream-zs, emcee)"]
    with_posterior = pdaframe.minimise(problem, "de", max_runs=200, seed=1, posterior=True)
    assert not any(line.startswith("post. σ -:")
                   for line in summary_table(with_posterior, problem).splitlines())
