"""NSGA-II (``nsga2``) and the Pareto tools (`pdaframe.methods.search.pareto`): sorting,
crowding and hypervolume against hand-computed cases and Monte Carlo; ZDT1 and a
linear-Gaussian pair with known fronts; determinism, checkpoint/resume; bad input."""
import logging

import numpy as np
import pytest

import pdaframe
from pdaframe.errors import ConfigError
from pdaframe.io.checkpoint import Checkpoint
from pdaframe.methods.search import pareto
from pdaframe.methods.search.nsga2 import NSGA2State, objective_layout

# --- test problems ----------------------------------------------------------------------


class ZDT:
    """ZDT1 (``kind=1``, front ``f2 = 1 - sqrt(f1)``) or ZDT2 (``f2 = 1 - f1^2``) on
    ``[0, 1]^n``; outputs ``sqrt(2 f)`` observed as 0 with std 1, so ``J_o = f``."""

    def __init__(self, n=30, kind=1):
        self.parameter_names = tuple(f"x{i}" for i in range(n))
        self.kind = kind

    def run(self, x):
        f1 = x[0]
        g = 1.0 + 9.0 * np.sum(x[1:]) / (len(x) - 1)
        f2 = g * (1.0 - (np.sqrt(f1 / g) if self.kind == 1 else (f1 / g) ** 2))
        return {"f1": np.array([np.sqrt(2 * f1)]), "f2": np.array([np.sqrt(2 * max(f2, 0.0))])}


def zdt_problem(n=30, kind=1):
    streams = [pdaframe.DataStream(k, k, [0.0], std=1.0) for k in ("f1", "f2")]
    return pdaframe.Problem(ZDT(n, kind), pdaframe.UniformPrior(np.zeros(n), np.ones(n)),
                            streams)


def pair_problem(prior=None):
    """y = theta (2 parameters); stream a observes (0, 0), stream b (1, 1), std 1:
    ``J_a = |x|^2 / 2``, ``J_b = |x - 1|^2 / 2``; the Pareto set is the segment from a to b
    and the front ``sqrt(J_a) + sqrt(J_b) = 1``."""
    model = pdaframe.LinearModel(np.eye(2))
    prior = prior or pdaframe.UniformPrior([-1.0, -1.0], [2.0, 2.0])
    return pdaframe.Problem(model, prior, [pdaframe.DataStream("a", "y", [0.0, 0.0], std=1.0),
                                           pdaframe.DataStream("b", "y", [1.0, 1.0], std=1.0)])


ZDT1_TRUE_HV = 1.1 * 1.1 - 1.0 / 3.0        # ref (1.1, 1.1) minus the area above the front


# --- sorting and crowding ---------------------------------------------------------------

def test_non_dominated_sort_against_a_hand_computed_case():
    f = [[1, 5], [2, 3], [4, 1], [3, 4], [5, 5], [2, 3], [np.inf, np.inf], [6, 6]]
    # front 0: (1,5) (2,3) (4,1) (2,3 again: equal points do not dominate each other)
    # front 1: (3,4) (5,5 is dominated by 3,4 -> front 2); (6,6) after (5,5); inf last
    assert pareto.non_dominated_sort(f).tolist() == [0, 0, 0, 1, 2, 0, 4, 3]
    assert pareto.dominance([[1, 1], [1, 2], [1, 1]]).tolist() == [
        [False, True, False], [False, False, False], [False, True, False]]


def test_crowding_distance_against_a_hand_computed_case():
    # f1 = 0, 1, 3, 4 (range 4), f2 = 4, 2, 1, 0 (range 4)
    d = pareto.crowding_distance([[0, 4], [1, 2], [3, 1], [4, 0]])
    assert d[0] == d[3] == np.inf
    assert d[1] == pytest.approx((3 - 0) / 4 + (4 - 1) / 4)
    assert d[2] == pytest.approx((4 - 1) / 4 + (2 - 0) / 4)
    # a zero range adds nothing; a failed member gets 0 and is nobody's neighbour
    d = pareto.crowding_distance([[0, 1], [1, 1], [2, 1], [5, 1], [np.inf, np.inf]])
    assert d.tolist() == [np.inf, pytest.approx(2 / 5), pytest.approx(4 / 5), np.inf, 0.0]
    assert pareto.crowding_distance([[0, 1], [1, 0]]).tolist() == [np.inf, np.inf]


def test_survival_fills_fronts_then_cuts_the_last_by_crowding():
    f = np.array([[0, 4], [1, 2], [3, 1], [4, 0], [2, 3.5], [5, 5]])
    keep, rank, crowd = pareto.survive(f, 5)
    assert keep.tolist() == [0, 3, 1, 2, 4]       # ends (inf) first, then 1 (1.5), 2 (1.25)
    assert rank.tolist() == [0, 0, 0, 0, 1]
    assert pareto.crowded_key(rank, crowd).tolist() == [0, 0, 1, 2, 3]


# --- hypervolume ------------------------------------------------------------------------

def test_hypervolume_against_hand_cases():
    assert pareto.hypervolume([[1, 2], [2, 1]], [3, 3]) == pytest.approx(3.0)
    # a dominated point and a duplicate add nothing
    assert pareto.hypervolume([[1, 2], [2, 1], [2, 2], [1, 2]], [3, 3]) == pytest.approx(3.0)
    assert pareto.hypervolume([[0, 0, 0]], [1, 2, 3]) == pytest.approx(6.0)
    # two boxes [1,3]x[0,3]x[0,3] and [0,3]x[1,3]x[1,3] overlap in [1,3]x[1,3]x[1,3]
    assert pareto.hypervolume([[1, 0, 0], [0, 1, 1]], [3, 3, 3]) == \
        pytest.approx(18 + 12 - 8)
    assert pareto.hypervolume([[0, 0, 0, 0]], [1, 2, 3, 4]) == pytest.approx(24.0)
    assert pareto.hypervolume([[0, 0.5, 0, 0], [0.5, 0, 0, 0]], [1, 1, 1, 1]) == \
        pytest.approx(0.5 + 0.5 - 0.25)
    # (check=False: a point not below the reference adds nothing)
    assert pareto.hypervolume([[0.5, 0.5], [2, 0]], [1, 1], check=False) == \
        pytest.approx(0.25)


@pytest.mark.parametrize("m, n", [(2, 30), (3, 25), (4, 12)])
def test_hypervolume_equals_monte_carlo(m, n):
    rng = np.random.default_rng(m)
    # points on a sphere octant (all non-dominated) and some dominated ones
    x = np.abs(rng.normal(size=(n, m)))
    f = np.vstack([x / np.linalg.norm(x, axis=1, keepdims=True), rng.uniform(0.8, 1.0, (5, m))])
    ref = np.full(m, 1.1)
    exact = pareto.hypervolume(f, ref)
    u = rng.uniform(0.0, 1.1, (400_000, m))
    hit = np.zeros(len(u), dtype=bool)
    for p in f:
        hit |= np.all(u >= p, axis=1)
    mc = hit.mean() * 1.1 ** m
    se = np.sqrt(hit.mean() * (1 - hit.mean()) / len(u)) * 1.1 ** m
    assert abs(exact - mc) < 4 * se, (exact, mc, se)


def test_hypervolume_refuses_a_reference_point_inside_the_front_and_too_large_fronts():
    with pytest.raises(ConfigError, match=r"not beyond the front: member 1 has objectives "
                                          r"\[2.0, 0.5\].*larger reference_point"):
        pareto.hypervolume([[0.5, 0.5], [2.0, 0.5]], [1.0, 1.0])
    with pytest.raises(ConfigError, match="must hold 2 finite values"):
        pareto.hypervolume([[0.5, 0.5]], [1.0, np.nan])
    f = np.random.default_rng(0).uniform(size=(30, 5))
    f /= f.sum(axis=1, keepdims=True)                        # on a simplex: non-dominated
    with pytest.raises(ConfigError, match=r"30\^3 2-D sweeps, more than the limit of 10000"):
        pareto.hypervolume(f, np.full(5, 2.0))


def test_knee_and_default_reference():
    front = np.array([[0.0, 1.0], [0.3, 0.3], [1.0, 0.0], [0.2, 0.7]])
    assert pareto.knee(front) == 1
    assert pareto.default_reference(front).tolist() == pytest.approx([1.1, 1.1])
    assert pareto.default_reference([[2.0, 0.0]]).tolist() == pytest.approx([2.2, 0.1])


# --- the method -------------------------------------------------------------------------

def test_zdt1_front_hypervolume_within_one_percent_of_the_true_front():
    # 30 variables, population 100, 250 generations (about 24 000 runs)
    res = pdaframe.minimise(zdt_problem(), "nsga2", seed=0, pop_size=100, maxiter=250,
                            reference_point=[1.1, 1.1])
    f = res.front_objectives[res.front_rank == 0]
    assert res.front_size == len(f) == 100
    assert res.hypervolume == pytest.approx(ZDT1_TRUE_HV, rel=0.01)
    assert res.hypervolume < ZDT1_TRUE_HV                      # 100 points under the curve
    assert np.max(np.abs(f[:, 1] - (1 - np.sqrt(f[:, 0])))) < 0.02    # on the true front
    assert f[:, 0].min() < 0.01 and f[:, 0].max() > 0.99        # and spread along it
    hv = res.history["hypervolume"]
    assert len(hv) == 251 and hv[0] == 0.0 and hv[25] < 0.8 < hv[100] < hv[-1] + 0.003
    assert res.hypervolume == hv[-1] and res.nfev <= 100 * 251
    # the knee: the front member closest to the ideal (0, 0) in normalised objectives
    k = res.knee
    assert res.front_rank[k] == 0 and np.array_equal(res.x, res.population[k])
    assert np.hypot(*f[pareto.knee(f)]) == pytest.approx(np.hypot(*res.front_objectives[k]))
    # continuous knee: min f1 + (1 - √f1)^2, i.e. 2 s^3 + s = 1 with s = √f1: f1 = 0.348
    assert res.front_objectives[k] == pytest.approx([0.348, 0.410], abs=0.02)


def test_linear_gaussian_pair_front_matches_the_closed_form():
    res = pdaframe.minimise(pair_problem(), "nsga2", seed=3, pop_size=100, maxiter=100)
    f = res.front_objectives[res.front_rank == 0]
    x = res.population[res.front_rank == 0]
    assert res.front_size == 100
    assert np.max(np.abs(np.sqrt(f[:, 0]) + np.sqrt(f[:, 1]) - 1.0)) < 0.015
    gap = np.abs(x[:, 0] - x[:, 1])                 # off the segment (J is flat across it)
    assert np.mean(gap) < 0.05 and np.max(gap) < 0.15
    # hypervolume with reference (1.1, 1.1): 1.21 - c^4/6 with c = 1
    hv = pareto.hypervolume(f, [1.1, 1.1])
    assert hv == pytest.approx(1.21 - 1 / 6, rel=0.01)
    assert res.x == pytest.approx([0.5, 0.5], abs=0.03)               # the knee, t = 1/2
    assert res.fun == pytest.approx(res.front_objectives[res.knee].sum())   # J_b = 0
    assert res.reference_source.startswith("nadir")
    assert res.reference_point == pytest.approx(pareto.default_reference(f))


def test_prior_term_each_or_as_its_own_objective():
    prior = pdaframe.GaussianPrior([0.5, 0.5], np.full(2, 0.5 ** 2), lower=[-1, -1],
                                   upper=[2, 2])
    problem = pair_problem(prior)
    names, select = objective_layout(problem, None, "objective")
    assert names == ["a", "b", "prior"] and select.tolist() == [
        [False, True, False], [False, False, True], [True, False, False]]
    for how in ("each", "objective"):
        res = pdaframe.minimise(problem, "nsga2", seed=1, pop_size=8, maxiter=2,
                                prior_term=how)
        for theta, f in zip(res.population[:3], res.front_objectives[:3]):
            t = problem.cost_terms(theta)
            want = [t["a"] + t["prior"], t["b"] + t["prior"]] if how == "each" else \
                [t["a"], t["b"], t["prior"]]
            assert f == pytest.approx(want, rel=1e-12)


class Reversed:
    """An executor that evaluates the members last to first (results in order)."""

    def map(self, func, items):
        items = list(items)
        return [func(x) for x in items[::-1]][::-1]


def test_same_front_whatever_the_executor_and_after_a_resume(tmp_path):
    opts = dict(seed=5, pop_size=12, maxiter=8)
    ref = pdaframe.minimise(pair_problem(), "nsga2", **opts)
    rev = pdaframe.minimise(pair_problem(), "nsga2", executor=Reversed(), **opts)
    path = tmp_path / "checkpoint.npz"

    def stop_after_3(result):
        if result.nit == 3:
            raise StopIteration

    part = pdaframe.minimise(pair_problem(), "nsga2", callback=stop_after_3,
                             checkpoint=Checkpoint(path), **opts)
    assert part.status == 3 and part.nit == 3
    resumed = pdaframe.minimise(pair_problem(), "nsga2", checkpoint=Checkpoint(
        path, resume=True), **opts)
    for other in (rev, resumed):
        for key in ("x", "population", "front_objectives", "front_rank", "front_crowding"):
            assert np.array_equal(ref[key], other[key]), key
        assert np.array_equal(ref.history["hypervolume"], other.history["hypervolume"])
        assert other.nfev == ref.nfev and other.nit == 8
    other = pdaframe.minimise(pair_problem(), "nsga2", **{**opts, "seed": 6})
    assert not np.array_equal(ref.population, other.population)


def test_failed_members_lose_and_are_counted():
    problem = pair_problem()
    state = NSGA2State(problem, seed=0, pop_size=8, maxiter=3)
    members = state.ask()
    results = [state.evaluate(x) for x in members]
    from pdaframe.parallel import Failed
    results[2] = Failed(2, "ModelError: boom")
    state.tell(results)
    assert state.n_failed == 1
    assert np.isinf(state.objectives[-1]).all() and state.rank[-1] == state.rank.max() > 0


# --- bad input --------------------------------------------------------------------------

@pytest.mark.parametrize("options, words", [
    (dict(objectives=["a"]), r"at least 2 objectives, got 1 \(a\).*'ga' or 'de'"),
    (dict(objectives=["a", "nee"]), r"no stream named 'nee'; the problem's streams are a, b"),
    (dict(objectives=["a", "a+b"]), r"stream 'a' is in two objectives"),
    (dict(prior_term="both"), r"prior_term must be one of none, each, objective"),
    (dict(reference_point=[1.0]), r"reference_point must hold 2 finite values"),
    (dict(pop_size=2), r"option 'pop_size' = 2: at least 4 needed"),
    (dict(p_crossover=1.5), r"p_crossover must be in \[0, 1\]"),
    (dict(objectives="a"), r"objectives must be a list of stream names"),
])
def test_bad_options_are_named_errors_before_any_run(options, words):
    problem = pair_problem()
    with pytest.raises(ConfigError, match=words):
        pdaframe.minimise(problem, "nsga2", **options)
    assert problem.nrun == 0


def test_one_stream_points_to_ga_and_de():
    problem = pdaframe.Problem(pdaframe.LinearModel(np.eye(2)), pdaframe.UniformPrior(
        [0, 0], [1, 1]), [pdaframe.DataStream("a", "y", [0.0, 0.0], std=1.0)])
    with pytest.raises(ConfigError, match="use method 'ga' or 'de'"):
        pdaframe.minimise(problem, "nsga2")


def test_pop_size_not_a_multiple_of_4_is_rounded_up_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        state = NSGA2State(pair_problem(), pop_size=10)
    assert len(state.ask()) == state.options["pop_size"] == 12
    assert "pop_size 10 is not a multiple of 4" in caplog.text


def test_a_reference_point_inside_the_final_front_is_reported(caplog):
    with caplog.at_level(logging.WARNING):
        res = pdaframe.minimise(pair_problem(), "nsga2", seed=1, pop_size=8, maxiter=3,
                                reference_point=[0.2, 0.2])
    assert res.front_outside_reference == res.front_size > 0
    assert res.hypervolume == 0.0 and "not below the reference point" in caplog.text


@pytest.mark.parametrize("options, words", [
    ("{}", ["needs at least 2 objectives, got 1 (y)", "use method 'ga' or 'de'"]),
    ('{ objectives = ["y", "lai"] }', ["no stream named 'lai'", "streams are y"]),
    ('{ prior_term = "objective", reference_point = [1.0] }',
     ["reference_point must hold 2 finite values", "y, prior"]),
])
def test_config_errors_found_by_check_and_run_before_the_model_runs(
        options, words, tmp_path, capsys, monkeypatch):
    import shutil
    from pathlib import Path

    from pdaframe import cli
    data = Path(__file__).parents[1] / "data"
    shutil.copy(data / "lg2_obs.csv", tmp_path)
    config = tmp_path / "lg2.toml"
    config.write_text((data / "lg2.toml").read_text().replace(
        'name = "lbfgsb"', f'name = "nsga2"\noptions = {options}'))

    def no_model_run(self, theta):
        raise AssertionError("the model ran before the bad input was found")

    monkeypatch.setattr(pdaframe.LinearModel, "run", no_model_run)
    for argv in (["check", str(config)], ["run", str(config), "-q"]):
        capsys.readouterr()
        assert cli.main(argv) == 2
        err = capsys.readouterr().err
        assert "error (ConfigError)" in err and "Traceback" not in err
        assert all(w in err for w in words), err
    assert not list(tmp_path.rglob("result.nc"))
