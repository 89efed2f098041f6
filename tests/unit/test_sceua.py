"""Shuffled complex evolution (``sceua``): known optima of Rosenbrock and Griewank at a stated
budget, the CCE step and simplex draw, determinism over executors, the exact budget,
checkpoint/resume bit for bit, failures and bad input."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import pdaframe
from pdaframe.io import checkpoint as ckpt
from pdaframe.methods.search.sceua import SCEUAState, sceua
from pdaframe.parallel import SerialExecutor
from tests.unit.test_evolution import (ReversedExecutor, ThreadPoolMap, function_problem,
                                       rosenbrock_problem, same_run)


def griewank(x):
    i = np.arange(1, x.size + 1)
    return float(1.0 + np.sum(x ** 2) / 4000.0 - np.prod(np.cos(x / np.sqrt(i))))


def run_rounds(state, rounds=None):
    executor = SerialExecutor()
    while not state.done and rounds != 0:
        state.tell(executor.map(state.evaluate, state.ask()))
        rounds = None if rounds is None else rounds - 1
    return state


# --- known optima ----------------------------------------------------------------------------

def test_rosenbrock_5d_minimum_within_3000_runs():
    res = pdaframe.minimise(rosenbrock_problem(5), method=sceua, seed=0, max_runs=3000)
    assert res.method == "sceua" and res.success and res.status == 0
    assert "geometric range" in res.message                   # peps ended it
    assert res.fun < 1e-5 and res.nfev < 3000
    np.testing.assert_allclose(res.x, np.ones(5), atol=0.01)
    assert res.population.shape == (22, 5)                    # 2 complexes of 2n+1 = 11
    np.testing.assert_array_equal(res.population_cost, np.sort(res.population_cost))
    assert res.fun == res.population_cost[0] == res.history["cost"][-1]
    assert np.all(np.diff(res.history["cost"]) <= 0) and res.history["nfev"][-1] == res.nfev


@pytest.mark.parametrize("seed", [0, 1])
def test_griewank_10d_global_minimum_within_20000_runs(seed):
    # 10-d Griewank in [-600, 600]^10 (Duan's test function 5): thousands of local minima;
    # five complexes and a tight peps find the global one (seeds 0-4 all below 1e-10)
    res = pdaframe.minimise(function_problem(griewank, 10, -600.0, 600.0), method=sceua,
                            seed=seed, max_runs=20000, n_complexes=5, peps=1e-7)
    assert res.success and res.fun < 1e-8 and res.nfev < 20000
    np.testing.assert_allclose(res.x, np.zeros(10), atol=1e-3)


# --- the algorithm ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed, inside", [(0, True), (5, False)])
def test_a_cce_step_reflects_contracts_then_draws_in_the_complex_box(seed, inside):
    problem = rosenbrock_problem(2)
    state = SCEUAState(problem, seed=seed, n_complexes=1)     # m = 5, q = 3
    run_rounds(state, 1)
    assert state._stage[0] == 0                               # reflection pending
    cx, cf = state._cx[0].copy(), state._cf[0].copy()
    np.testing.assert_array_equal(cx, state.population)      # one complex: the population
    lo, up = cx.min(axis=0), cx.max(axis=0)
    idx = state._simplex[0]
    assert idx[0] == 0 and len(set(idx)) == 3 and list(idx) == sorted(idx)
    s = cx[idx]
    g, worst = s[:2].mean(axis=0), s[2]
    reflected = 2 * g - worst
    assert np.all((reflected >= 0) & (reflected <= 2)) == inside
    r = state.ask()[0]
    if inside:
        np.testing.assert_array_equal(r, reflected)
    else:                                                     # a random point instead
        assert np.all(r >= lo) and np.all(r <= up) and not np.array_equal(r, reflected)
    state.tell([cf[idx[2]] + 1.0])                            # worse than the worst point
    np.testing.assert_allclose(state.ask()[0], 0.5 * (g + worst), rtol=1e-15)
    state.tell([np.inf])                                      # contraction fails too
    z = state.ask()[0]
    assert np.all(z >= lo) and np.all(z <= up)
    state.tell([1e9])                                         # a random point is kept
    assert 1e9 in state._cf[0] and state._steps[0] == 1
    assert np.all(np.diff(state._cf[0]) >= 0)                 # complex sorted again
    assert any(np.array_equal(row, z) for row in state._cx[0])


def test_simplex_points_are_drawn_with_triangular_probabilities():
    # q = 2: the best point and one of ranks 2..m with probability prop. to m + 1 - rank
    state = SCEUAState(rosenbrock_problem(2), seed=1, n_complexes=1, points_per_complex=6,
                       simplex_size=2)
    run_rounds(state, 1)
    counts = np.zeros(6)
    for _ in range(20000):
        state._start_step(0)
        counts[state._simplex[0, 1]] += 1
    expected = np.array([0, 5, 4, 3, 2, 1]) / 15.0
    np.testing.assert_allclose(counts / 20000, expected, atol=0.01)


def test_complexes_take_every_pth_point_and_rounds_ask_one_point_per_complex():
    state = SCEUAState(rosenbrock_problem(3), seed=2, n_complexes=4)
    first = state.ask()
    assert first.shape == (28, 3)                             # 4 complexes of 7
    run_rounds(state, 1)
    for k in range(4):
        np.testing.assert_array_equal(state._cx[k], state.population[k::4])
    sizes = []
    while state.loop == 0:
        sizes.append(len(state.ask()))
        run_rounds(state, 1)
    # 7 CCE steps of 1-3 runs per complex, the 4 complexes side by side
    assert sizes[0] == 4 and max(sizes) == 4 and 7 <= len(sizes) <= 21
    assert state.nfev == 28 + sum(sizes)


# --- determinism, ask/tell, budget, checkpoints ---------------------------------------------

def test_same_seed_same_result_whatever_the_executor():
    def run(executor, seed=7):
        return pdaframe.minimise(rosenbrock_problem(), method=sceua, seed=seed,
                                 executor=executor, max_runs=2000, n_complexes=3)
    serial = run(SerialExecutor())
    same_run(serial, run(None))
    same_run(serial, run(ReversedExecutor()))
    with ThreadPoolExecutor(4) as pool:
        same_run(serial, run(ThreadPoolMap(pool)))
    other = run(SerialExecutor(), seed=8)
    assert not np.array_equal(other.history["cost"], serial.history["cost"])


def test_ask_tell_by_hand_equals_minimise():
    state = SCEUAState(rosenbrock_problem(), seed=3, max_runs=1500)
    while not state.done:
        members = state.ask()
        np.testing.assert_array_equal(members, state.ask())      # ask is repeatable
        state.tell([state.evaluate(m) for m in members])
    same_run(state.result(), pdaframe.minimise(rosenbrock_problem(), method=sceua, seed=3,
                                               max_runs=1500))
    with pytest.raises(RuntimeError, match="finished"):
        state.ask()


@pytest.mark.parametrize("max_runs", [22, 23, 1234])
def test_budget_is_respected_exactly(max_runs):
    problem = rosenbrock_problem()
    res = pdaframe.minimise(problem, method=sceua, seed=1, max_runs=max_runs, peps=0.0,
                            pcento=0.0)
    assert res.nfev == max_runs == problem.nrun
    assert res.status == 2 and not res.success and "budget" in res.message
    assert res.history["nfev"][-1] == max_runs
    assert res.fun == problem.cost(res.x) and res.population.shape == (22, 5)


def test_checkpointed_mid_loop_state_continues_bit_for_bit(tmp_path):
    problem = rosenbrock_problem()
    options = dict(seed=3, max_runs=900, n_complexes=3)
    reference = run_rounds(SCEUAState(problem, **options)).result()
    state = run_rounds(SCEUAState(problem, **options), 9)     # in the middle of loop 1
    assert 0 < state.loop or np.any(state._stage != 3)
    cp = ckpt.Checkpoint(tmp_path / "checkpoint.npz")
    ckpt.save(state, cp)
    resumed = SCEUAState(problem, **options)
    assert ckpt.load_into(resumed, cp) and resumed.nfev == state.nfev
    for result in (run_rounds(resumed).result(), run_rounds(state).result()):
        assert result.nfev == 900
        for key in ("x", "fun", "nfev", "nit", "population", "population_cost", "status"):
            np.testing.assert_array_equal(result[key], reference[key], err_msg=key)
        for key in reference.history:
            np.testing.assert_array_equal(result.history[key], reference.history[key])


def test_checkpoint_and_resume_through_minimise(tmp_path):
    from pdaframe.io.checkpoint import Checkpoint

    def stop_after(n):
        seen = []

        def callback(res):
            seen.append(res)
            if len(seen) == n:
                raise StopIteration
        return callback
    options = dict(seed=4, max_runs=600)
    reference = pdaframe.minimise(rosenbrock_problem(), sceua, **options)
    cut = pdaframe.minimise(rosenbrock_problem(), sceua, callback=stop_after(12),
                            checkpoint=Checkpoint(tmp_path / "cp.npz"), **options)
    assert cut.status == 3 and cut.nfev < 600
    problem = rosenbrock_problem()
    res = pdaframe.minimise(problem, sceua, checkpoint=Checkpoint(tmp_path / "cp.npz",
                                                                  resume=True), **options)
    assert problem.nrun == 600 - cut.nfev                     # only the runs left
    same_run(res, reference)


# --- start, failures, stopping ----------------------------------------------------------------

def test_x0_is_in_the_initial_population():
    res = pdaframe.minimise(rosenbrock_problem(), method=sceua, x0=np.ones(5), max_runs=500)
    assert res.history["cost"][0] == 0.0 and res.fun == 0.0
    np.testing.assert_array_equal(res.x0, np.ones(5))


def test_failed_runs_are_the_worst_and_the_search_goes_on():
    problem = rosenbrock_problem(fails=lambda th: th[4] > 1.3)
    res = pdaframe.minimise(problem, method=sceua, seed=2, max_runs=5000)
    assert res.n_failed > 0 and res.n_failed == problem.model.n_raised
    assert res.fun < 1e-4
    np.testing.assert_allclose(res.x, np.ones(5), atol=0.02)
    problem = rosenbrock_problem(fails=lambda th: True)
    with pytest.raises(pdaframe.ModelError, match="every member of the first generation"):
        pdaframe.minimise(problem, method=sceua)


def test_pcento_and_maxiter_end_the_search():
    problem = rosenbrock_problem()
    res = pdaframe.minimise(problem, method=sceua, seed=0, peps=0.0, kstop=2, pcento=50.0)
    assert res.status == 0 and "pcento" in res.message and res.nit >= 2
    res = pdaframe.minimise(problem, method=sceua, seed=0, maxiter=3)
    assert res.status == 1 and res.nit == 3 and not res.success


def test_callback_stop():
    seen = []

    def callback(res):
        seen.append(res)
        if len(seen) == 5:
            raise StopIteration
    res = pdaframe.minimise(rosenbrock_problem(), method=sceua, callback=callback)
    assert res.status == 3 and not res.success and seen[0].status == -1
    assert res.fun == seen[-1].fun and res.population.shape == (22, 5)


# --- bad input --------------------------------------------------------------------------------

def test_bad_input(lg2):
    with pytest.raises(pdaframe.ConfigError,
                       match=r"'sceua' searches the parameter box.*\['a', 'b'\] have none"):
        pdaframe.minimise(lg2, method=sceua)
    problem = rosenbrock_problem()
    with pytest.raises(pdaframe.ConfigError, match=r"max_runs = 21 is smaller than the "
                                                   r"initial population.*2 \* 11 = 22"):
        pdaframe.minimise(problem, method=sceua, max_runs=21)
    with pytest.raises(pdaframe.ConfigError, match="'n_complexes'"):
        pdaframe.minimise(problem, method=sceua, n_complexes=0)
    with pytest.raises(pdaframe.ConfigError, match="n_complexes must be a whole number >= 1"):
        SCEUAState(problem, n_complexes=0)
    with pytest.raises(pdaframe.ConfigError, match="simplex_size = 8 exceeds"):
        SCEUAState(problem, simplex_size=8, points_per_complex=7)
    with pytest.raises(pdaframe.ConfigError, match="mutation must be one of"):
        SCEUAState(problem, mutation="global")
    with pytest.raises(pdaframe.ConfigError, match="peps must be a number >= 0"):
        SCEUAState(problem, peps=-1.0)
    with pytest.raises(pdaframe.ConfigError, match="unknown option"):
        pdaframe.minimise(problem, method=sceua, ngs=3)
    with pytest.raises(pdaframe.ConfigError, match="outside its bounds"):
        pdaframe.minimise(problem, method=sceua, x0=np.full(5, 3.0))
    assert problem.nrun == 0


def test_registered_under_its_name():
    from pdaframe.plugins import get_method
    assert get_method("sceua") is sceua
