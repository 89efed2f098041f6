"""MPIExecutor under ``mpiexec -n 2`` and ``-n 4``: serial-identical results, failures as
records on every rank, bugs raised on every rank without deadlock, SPMD ask/tell driving.

Every test is collective (see conftest.py): it calls the executor before asserting.
"""
import sys
import time

import numpy as np
import pytest

import pdaframe
from pdaframe.methods.ensemble import EnsembleState, drive
from pdaframe.models.external import ExternalModel
from pdaframe.parallel import (ExecutorError, Failed, MPIExecutor,
                               SerialExecutor, current_member, get_executor, is_root,
                               member_rng, member_seed, with_members)
from pdaframe.result import Result
from tests.conftest import lg2_problem

pytestmark = pytest.mark.mpi
SCHEDULES = ["static", "dynamic"]


def uneven(item):
    """Member ``item``: a few ms to 60 ms of sleep, then floating-point work."""
    index, seed = item
    time.sleep(0.06 if index % 5 == 0 else 0.003 * (index % 3))
    rng = member_rng(seed, index)
    a = rng.standard_normal((6, 6))
    return {"x": np.linalg.solve(a @ a.T + np.eye(6), rng.standard_normal(6)),
            "s": np.cumsum(np.exp(rng.standard_normal(20)))}


def same(a, b):
    if isinstance(a, Failed) or isinstance(b, Failed):
        return a == b
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    return np.array_equal(a, b)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_results_bit_identical_to_serial(schedule, comm):
    items = [(i, 11) for i in range(23)]
    ex = MPIExecutor(schedule=schedule)
    got = ex.map(uneven, items)
    assignment = ex.assignment
    serial = SerialExecutor().map(uneven, items)
    assert ex.size == comm.Get_size() > 1 and ex.rank == comm.Get_rank()
    assert len(got) == len(items)
    assert all(same(g, s) for g, s in zip(got, serial))
    assert sorted(set(assignment)) == list(range(ex.size))      # every rank, rank 0 too
    if schedule == "static":
        assert assignment == [i % ex.size for i in range(len(items))]


def test_dynamic_schedule_balances_uneven_costs(comm):
    def cost(i):
        time.sleep(1.0 if i == 0 else 0.02)
        return float(i)

    ex = MPIExecutor(schedule="dynamic")
    got = ex.map(cost, range(25))
    slow_rank = ex.assignment[0]
    assert got == [float(i) for i in range(25)]
    # the rank busy with the 1 s member takes (almost) nothing else; others share the rest
    assert ex.assignment.count(slow_rank) <= 3, ex.assignment


def test_auto_schedule_turns_dynamic_after_slow_members(comm):
    ex = MPIExecutor()                              # schedule "auto"
    fast = ex.map(float, range(8))
    assert fast == [float(i) for i in range(8)] and not ex._slow
    assert ex.assignment == [i % ex.size for i in range(8)]         # static while cheap

    def slow(i):
        time.sleep(0.08)
        return float(i)

    assert ex.map(slow, range(4)) == [0.0, 1.0, 2.0, 3.0] and ex._slow
    assert ex.map(float, range(8)) == [float(i) for i in range(8)]   # now dynamic: same bits


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_model_error_on_one_member_is_a_failed_record_everywhere(schedule, comm):
    def fragile(i):
        if i == 1:                          # on rank 1 under the static schedule
            raise pdaframe.ModelError(f"pool negative in member {i}")
        if i == 4:
            return {"y": np.array([1.0, np.nan])}
        return {"y": np.array([float(i), 2.0 * i])}

    ex = MPIExecutor(schedule=schedule)
    got = ex.map(fragile, range(7))
    assert got[1] == Failed(1, "ModelError: pool negative in member 1")
    assert got[4] == Failed(4, "non-finite result")
    assert [i for i, r in enumerate(got) if r] == [0, 2, 3, 5, 6]
    np.testing.assert_array_equal(got[6]["y"], [6.0, 12.0])
    if schedule == "static":
        assert ex.assignment[1] == 1


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_bug_in_a_member_raises_on_every_rank_without_deadlock(schedule, comm):
    def buggy(i):
        if i == 3:
            raise ZeroDivisionError("division by zero in member 3")
        return i

    ex = MPIExecutor(schedule=schedule)
    with pytest.raises(ExecutorError, match="member 3 raised ZeroDivisionError") as info:
        ex.map(buggy, range(9))
    err = info.value
    assert err.index == 3 and err.error_type == "ZeroDivisionError"
    assert "division by zero in member 3" in err.remote_traceback
    if err.rank == ex.rank:                 # the original is chained where it happened
        assert isinstance(err.__cause__, ZeroDivisionError)
    assert comm.allgather(err.rank) == [err.rank] * ex.size      # same report everywhere
    assert ex.map(abs, [-1, -2, -3]) == [1, 2, 3]                 # still in step


def test_unpicklable_result_raises_on_every_rank(comm):
    ex = MPIExecutor(schedule="static")
    with pytest.raises(ExecutorError, match="member 1 raised"):
        ex.map(lambda i: (lambda: i) if i == 1 else i, range(4))
    assert ex.map(str, [1, 2]) == ["1", "2"]


def test_different_items_on_different_ranks_are_refused(comm):
    ex = MPIExecutor()
    rank_dependent = np.random.default_rng(comm.Get_rank()).standard_normal(3)
    with pytest.raises(ExecutorError, match="different items on different ranks"):
        ex.map(float, rank_dependent)
    assert ex.map(float, [1, 2]) == [1.0, 2.0]


def test_empty_batch_and_get_executor(comm):
    ex = get_executor()
    assert isinstance(ex, MPIExecutor) and ex.schedule == "auto"
    assert ex.map(abs, []) == []
    roots = comm.allgather(is_root())
    assert roots == [True] + [False] * (comm.Get_size() - 1)
    assert "mpi4py" in sys.modules


class RandomSearch(EnsembleState):
    """A test-only ask/tell method: best of a few rounds of member_rng draws."""

    def __init__(self, problem, seed, n_member=9, n_round=3):
        super().__init__(problem)
        self.seed, self.n_member, self.n_round = seed, n_member, n_round
        self.best = (np.inf, problem.prior.mean)
        self.history = []

    def evaluate(self, theta):
        time.sleep(0.02 if theta[0] > 1.5 else 0.0)                 # uneven costs
        if theta[1] < 0:
            raise pdaframe.ModelError("b must be positive")
        return self.problem.cost(theta)

    def ask(self):
        centre = self.best[1]
        return np.array([centre + 0.5 * member_rng(self.seed + self.iteration, i)
                         .standard_normal(centre.size) for i in range(self.n_member)])

    def tell(self, results):
        members = self.ask()
        self._count(results)
        for theta, cost in zip(members, results):
            if not isinstance(cost, Failed) and cost < self.best[0]:
                self.best = (cost, theta)
        self.history.append(self.best[0])
        self.done = self.iteration >= self.n_round

    def result(self):
        return Result(x=self.best[1], fun=self.best[0], nit=self.iteration, nfev=self.nfev,
                      success=True, message="done", n_failed=self.n_failed,
                      history={"cost": np.array(self.history)})


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_ask_tell_driver_gives_the_serial_answer(schedule, comm):
    parallel = drive(RandomSearch(lg2_problem(), seed=5), MPIExecutor(schedule=schedule))
    serial = drive(RandomSearch(lg2_problem(), seed=5), SerialExecutor())
    assert np.array_equal(parallel.x, serial.x) and parallel.fun == serial.fun
    assert np.array_equal(parallel.history["cost"], serial.history["cost"])
    assert parallel.nfev == serial.nfev == 27 and parallel.n_failed == serial.n_failed


MODEL = """
import json, os
p = json.load(open(os.environ["PDAFRAME_PARAMETERS"]))
with open("outputs.csv", "w") as f:
    f.write("y\\n" + repr(p["a"] * 2) + "\\n")
with open(os.path.join(os.environ["PDAFRAME_SHARED"], "seen_" + os.environ["PDAFRAME_MEMBER"]
                       + "_" + os.path.basename(os.getcwd())), "w") as f:
    f.write(os.environ["PDAFRAME_WORKDIR"] + " " + str("PMI_RANK" in os.environ))
"""


def test_external_members_on_all_ranks_get_their_own_directories(shared_tmp, comm):
    template = shared_tmp / "case"
    if comm.Get_rank() == 0:
        template.mkdir()
        (template / "model.py").write_text(MODEL)
    comm.Barrier()
    model = ExternalModel([sys.executable, "model.py"], ["a"], ["y"], template_dir=template,
                          workdir=shared_tmp / "runs", keep="all",
                          env={"PDAFRAME_SHARED": str(shared_tmp)})
    got = MPIExecutor().map(lambda i: model.run_member([float(i)], i, seed=7), range(6))
    seen = sorted(p.name for p in shared_tmp.glob("seen_*"))
    runs = sorted(p.name for p in (shared_tmp / "runs").iterdir())
    assert [float(r["y"][0]) for r in got] == [2.0 * i for i in range(6)]
    assert len(runs) == 6 and [r.split("_")[1] for r in runs] == [f"{i:04d}" for i in range(6)]
    assert len(seen) == 6 and all("False" in (shared_tmp / s).read_text() for s in seen)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_member_context_is_the_batch_position_not_the_rank(schedule, comm):
    def who(x):
        member = current_member()
        return {"x": np.array([x]), "member": np.array([member.index, member.seed])}

    got = with_members(MPIExecutor(schedule=schedule), seed=9).map(who, [0.5 * i
                                                                     for i in range(7)])
    serial = with_members(SerialExecutor(), seed=9).map(who, [0.5 * i for i in range(7)])
    assert all(same(g, s) for g, s in zip(got, serial))
    assert [r["member"].tolist() for r in got] == [[i, member_seed(9, i)] for i in range(7)]


class Ishigami:
    parameter_names = ("x1", "x2", "x3")

    def run(self, theta):
        x1, x2, x3 = theta
        return {"f": np.array([np.sin(x1) + 7.0 * np.sin(x2) ** 2 + 0.1 * x3 ** 4 * np.sin(x1)])}


@pytest.mark.parametrize("method, options", [
    ("sobol", {"n": 64, "num_resamples": 50}),
    ("morris", {"n": 12, "num_resamples": 50}),
])
def test_sensitivity_indices_bit_identical_to_serial(method, options, comm):
    from pdaframe.analysis import sensitivity
    prior = pdaframe.UniformPrior([-np.pi] * 3, [np.pi] * 3, names=Ishigami.parameter_names)
    problem = pdaframe.Problem(Ishigami(), prior,
                               [pdaframe.DataStream("f", "f", np.zeros(1), std=1.0)])
    run = getattr(sensitivity, method)
    parallel = run(problem, qoi="f:mean", seed=3, executor=MPIExecutor(), **options)
    serial = run(problem, qoi="f:mean", seed=3, executor=SerialExecutor(), **options)
    gathered = comm.allgather(parallel.indices[serial.rank_by].tobytes())  # before asserts
    assert gathered == [gathered[0]] * comm.Get_size()          # the same on every rank
    assert parallel.indices.keys() == serial.indices.keys() and parallel.nfev == serial.nfev
    for key in serial.indices:
        assert np.array_equal(parallel.indices[key], serial.indices[key], equal_nan=True), key
        assert np.array_equal(parallel.conf[key], serial.conf[key], equal_nan=True), key
