"""Dynamically dimensioned search (``dds``): optima of Griewank and Rosenbrock at a stated
budget, the perturbation probability and the reflection at the bounds, parallel candidates,
determinism over executors, the exact budget, checkpoint/resume bit for bit and bad input."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import pdaframe
from pdaframe.io import checkpoint as ckpt
from pdaframe.methods.search.dds import DDSState, dds
from pdaframe.parallel import SerialExecutor
from tests.unit.test_evolution import (ReversedExecutor, ThreadPoolMap, function_problem,
                                       rosenbrock, rosenbrock_problem, same_run)
from tests.unit.test_sceua import griewank, run_rounds


# --- optima at a stated budget -----------------------------------------------------------------

def test_griewank_2d_global_minimum_within_2000_runs():
    # 2-d Griewank in [-10, 10]^2 (local minima 0.0074 and up around (±3.1, ±4.4), ...):
    # DDS is a budget-bound global search, not an exact optimiser; 5 of 6 seeds reach the
    # global minimum's basin and f < 1e-3, the sixth a local minimum (f = 0.0074)
    found = []
    for seed in range(6):
        res = pdaframe.minimise(function_problem(griewank, 2, -10.0, 10.0), method=dds,
                                seed=seed, max_runs=2000)
        assert res.nfev == 2000 and res.success and res.status == 2 and res.fun < 0.01
        found.append(res.fun < 1e-3 and np.abs(res.x).max() < 0.05)
    assert sum(found) >= 5


def test_rosenbrock_2d_within_5000_runs():
    # a curved valley: DDS perturbs few coordinates at a time, so it creeps along it
    # (seeds 0-5 end at f = 2e-5 ... 0.13, x within 0.9 of (1, 1))
    funs = [pdaframe.minimise(rosenbrock_problem(2), method=dds, seed=seed, max_runs=5000)
            for seed in range(6)]
    assert np.median([r.fun for r in funs]) < 0.07 and max(r.fun for r in funs) < 0.2
    assert min(r.fun for r in funs) < 1e-4


# --- the algorithm -----------------------------------------------------------------------------

def state_after_start(n=5, max_runs=10 ** 12, **options):
    state = DDSState(rosenbrock_problem(n), seed=1, max_runs=max_runs, n_init=5, **options)
    run_rounds(state, 1)
    return state


def test_each_parameter_is_perturbed_with_probability_1_minus_ln_i_over_ln_m():
    state = state_after_start()
    state.nfev = int(np.exp(0.5 * np.log(1e12))) - 1            # P(i) = 0.5 at i = nfev + 1
    x = state._candidates(40000)
    changed = x != state.x_best
    i = state.nfev + 1.0 + np.arange(40000)
    p = 1.0 - np.log(i) / np.log(1e12)
    # each of 5 parameters with p, and one at random when none was chosen
    expected = np.mean(p + (1.0 - p) ** 5 / 5)
    assert abs(expected - 0.5064) < 1e-3
    assert abs(changed.mean() - expected) < 0.005
    assert changed.any(axis=1).all()
    state.nfev = 10 ** 12 - 1                                     # the last run: P = 0
    assert np.all((state._candidates(500) != state.x_best).sum(axis=1) == 1)


def test_steps_are_r_times_the_range_and_reflected_at_the_bounds():
    state = state_after_start(n=2, r=0.2)
    state.nfev = 10 ** 12 - 1                                     # one parameter per step
    state.x_best = np.array([0.0, 1.0])                           # on the lower bound of [0, 2]
    x = state._candidates(40000)
    first = x[:, 0] != 0.0
    assert abs(first.mean() - 0.5) < 0.01
    assert np.all((x >= 0.0) & (x <= 2.0))
    # reflected at 0: |N(0, 0.2 * 2)|, mean 0.4 sqrt(2/pi); beyond 2 after reflection -> 0
    np.testing.assert_allclose(x[first, 0].mean(), 0.4 * np.sqrt(2 / np.pi), rtol=0.02)
    step = x[~first, 1] - 1.0                                     # from the middle: N(0, 0.4)
    np.testing.assert_allclose(step.std(), 0.4, rtol=0.02)
    state.options["p_absorb"] = 0.5                               # half of the crossings stop
    x = state._candidates(40000)
    at_bound = np.mean(x[:, 0] == 0.0)
    np.testing.assert_allclose(at_bound, 0.5 + 0.5 * 0.5 * 0.5, atol=0.01)


def test_candidates_start_from_the_best_point_which_never_gets_worse():
    state = DDSState(rosenbrock_problem(3), seed=2, max_runs=300)
    best = []
    while not state.done:
        x = state.ask()
        if state.x_best is not None:
            differs = x[0] != state.x_best
            assert 1 <= differs.sum() <= 3
        run_rounds(state, 1)
        best.append(state.f_best)
    assert np.all(np.diff(best) <= 0) and best[-1] == state.result().fun
    assert len(best) == 300 - 5 + 1          # n_init = max(5, round(0.005 m)) = 5, then 1 each


def test_parallel_candidates():
    res = pdaframe.minimise(rosenbrock_problem(2), method=dds, seed=0, max_runs=2001,
                            n_candidates=4)
    assert res.nfev == 2001 and res.nit == 498                    # 10 initial, 4 x 497 + 3
    assert res.fun < 0.05


def test_x0_starts_the_search():
    res = pdaframe.minimise(rosenbrock_problem(), method=dds, x0=np.ones(5), max_runs=50)
    assert res.history["nfev"][0] == 1 and res.history["cost"][0] == 0.0 and res.fun == 0.0


# --- determinism, ask/tell, budget, checkpoints -------------------------------------------------

@pytest.mark.parametrize("n_candidates", [1, 4])
def test_same_seed_same_result_whatever_the_executor(n_candidates):
    def run(executor, seed=7):
        return pdaframe.minimise(rosenbrock_problem(), method=dds, seed=seed,
                                 executor=executor, max_runs=600, n_candidates=n_candidates)
    serial = run(SerialExecutor())
    same_run(serial, run(None))
    same_run(serial, run(ReversedExecutor()))
    with ThreadPoolExecutor(4) as pool:
        same_run(serial, run(ThreadPoolMap(pool)))
    assert not np.array_equal(run(SerialExecutor(), seed=8).x, serial.x)


def test_ask_tell_by_hand_equals_minimise():
    state = DDSState(rosenbrock_problem(), seed=3, max_runs=400, n_candidates=3)
    while not state.done:
        members = state.ask()
        np.testing.assert_array_equal(members, state.ask())
        state.tell([state.evaluate(m) for m in members])
    same_run(state.result(), pdaframe.minimise(rosenbrock_problem(), method=dds, seed=3,
                                               max_runs=400, n_candidates=3))


def test_checkpointed_state_continues_bit_for_bit(tmp_path):
    problem = rosenbrock_problem()
    options = dict(seed=3, max_runs=500, n_candidates=2)
    reference = run_rounds(DDSState(problem, **options)).result()
    state = run_rounds(DDSState(problem, **options), 40)
    cp = ckpt.Checkpoint(tmp_path / "checkpoint.npz")
    ckpt.save(state, cp)
    resumed = DDSState(problem, **options)
    assert ckpt.load_into(resumed, cp) and resumed.nfev == state.nfev == 5 + 39 * 2
    for result in (run_rounds(resumed).result(), run_rounds(state).result()):
        for key in ("x", "fun", "nfev", "nit", "population", "population_cost", "status"):
            np.testing.assert_array_equal(result[key], reference[key], err_msg=key)
        for key in reference.history:
            np.testing.assert_array_equal(result.history[key], reference.history[key])


def test_failed_runs_are_never_kept():
    problem = rosenbrock_problem(2, fails=lambda th: th[0] > 1.5)
    res = pdaframe.minimise(problem, method=dds, seed=1, max_runs=1000)
    assert res.n_failed == problem.model.n_raised > 0 and np.isfinite(res.fun)
    assert res.x[0] <= 1.5 and res.fun < 0.5


# --- bad input ----------------------------------------------------------------------------------

def test_bad_input(lg2):
    with pytest.raises(pdaframe.ConfigError,
                       match=r"'dds' searches the parameter box.*\['a', 'b'\] have none"):
        pdaframe.minimise(lg2, method=dds)
    problem = rosenbrock_problem()
    for r in (0.0, -0.1, 1.5):
        with pytest.raises(pdaframe.ConfigError, match=r"r \(the perturbation size.*must be "
                                                       r"in \(0, 1\]"):
            pdaframe.minimise(problem, method=dds, r=r)
    with pytest.raises(pdaframe.ConfigError, match="max_runs = 5 leaves no run after the 5"):
        pdaframe.minimise(problem, method=dds, max_runs=5)
    with pytest.raises(pdaframe.ConfigError, match="max_runs is required"):
        DDSState(problem, max_runs=None)
    with pytest.raises(pdaframe.ConfigError, match="'n_candidates'"):
        pdaframe.minimise(problem, method=dds, n_candidates=0)
    with pytest.raises(pdaframe.ConfigError, match="p_absorb must be in"):
        DDSState(problem, p_absorb=2.0)
    with pytest.raises(pdaframe.ConfigError, match="unknown option"):
        pdaframe.minimise(problem, method=dds, trials=3)
    assert problem.nrun == 0
    assert DDSState(problem, r=1).options["r"] == 1               # r = 1 is allowed


def test_registered_under_its_name():
    from pdaframe.plugins import get_method
    assert get_method("dds") is dds
    assert rosenbrock(np.ones(4)) == 0.0
