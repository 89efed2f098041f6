"""Ensemble members: the member context an ensemble method's runs get (``PDAFRAME_MEMBER``,
``PDAFRAME_SEED``), any executor with a ``map``, failed members reported in the summary."""
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import pdaframe
from pdaframe.models.external import ExternalModel
from pdaframe.parallel import Member, SerialExecutor, current_member, member_seed, with_members
from pdaframe.run import failed_members, summary_table
from tests.models import Decay, decay_problem


class Fragile(Decay):
    """Decay that fails (a `ModelError`, as a crashed run would) for ``a > 1``."""

    def run(self, theta):
        if theta[2] > 1.0:
            raise pdaframe.ModelError(f"a = {theta[2]:.4f} is beyond the model's range",
                                      theta=theta)
        return super().run(theta)


class MapOnly:
    """The smallest documented executor: an object whose ``map`` is the builtin one."""

    def map(self, func, items):
        return map(func, items)


ENSEMBLES = [("es-mda", {"n_members": 20, "alphas": (2.0, 2.0)}),
             ("4denvar", {"n_members": 12})]


@pytest.mark.parametrize("method, options", ENSEMBLES)
@pytest.mark.parametrize("kind", ["map", "threads"])
def test_any_executor_with_map_gives_the_serial_result_with_failing_members(method, options,
                                                                             kind):
    serial = pdaframe.minimise(decay_problem(Fragile()), method, executor=SerialExecutor(),
                               seed=5, **options)
    assert 0 < serial.n_failed < serial.nfev / 2
    if kind == "map":
        got = pdaframe.minimise(decay_problem(Fragile()), method, executor=MapOnly(), seed=5,
                                **options)
    else:
        with ThreadPoolExecutor(3) as pool:
            got = pdaframe.minimise(decay_problem(Fragile()), method, executor=pool, seed=5,
                                    **options)
    np.testing.assert_array_equal(got.x, serial.x)
    assert got.fun == serial.fun and got.nfev == serial.nfev
    assert got.n_failed == serial.n_failed
    assert got.first_failure == serial.first_failure
    assert got.first_failure.startswith("member ")
    assert "ModelError: a = " in got.first_failure and "beyond the model's range" in \
        got.first_failure


def test_failed_members_are_named_in_the_summary():
    res = pdaframe.minimise(decay_problem(Fragile()), "4denvar", seed=5, n_members=12)
    index = int(res.first_failure.split(":")[0].split()[1])
    note = (f"{res.n_failed} of {res.nfev} members failed; first failure (member {index}): "
            f"ModelError: a = ")
    assert failed_members(res).startswith(note)
    assert note in summary_table(res, decay_problem(Fragile()))
    # the member named is the first one whose a is beyond 1 in that round
    assert res.n_failed >= 1 and 0 <= index <= 12
    clean = pdaframe.minimise(decay_problem(), "4denvar", seed=5, n_members=12)
    assert clean.n_failed == 0 and failed_members(clean) is None
    assert "members failed" not in summary_table(clean, decay_problem())


def test_member_context_index_and_seed_whatever_the_executor():
    def who(x):
        member = current_member()
        return {"x": np.array([x]), "index": np.array([member.index]),
                "seed": np.array([member.seed])}

    serial = with_members(SerialExecutor(), seed=42).map(who, [10.0, 11.0, 12.0, 13.0])
    with ThreadPoolExecutor(2) as pool:
        threads = with_members(pool, seed=42).map(who, [10.0, 11.0, 12.0, 13.0])
    for got in (serial, threads):
        assert [int(r["index"][0]) for r in got] == [0, 1, 2, 3]
        assert [int(r["seed"][0]) for r in got] == [member_seed(42, i) for i in range(4)]
    assert len({member_seed(42, i) for i in range(4)}) == 4
    assert member_seed(42, 2) != member_seed(43, 2) and member_seed(None, 2) is None
    assert current_member() is None                         # outside an evaluation
    assert with_members(MapOnly(), 1).map(lambda x: current_member(), [5]) == \
        [Member(0, member_seed(1, 0))]


STOCHASTIC = r'''
import json, os, random
p = json.load(open(os.environ["PDAFRAME_PARAMETERS"]))
member, seed = os.environ["PDAFRAME_MEMBER"], os.environ["PDAFRAME_SEED"]
noise = random.Random(int(seed) if seed else 0)
with open("outputs.csv", "w") as f:
    f.write("y\n" + "".join(f"{p['a'] + p['b'] * t + 0.05 * noise.gauss(0, 1)!r}\n"
                            for t in range(5)))
with open(os.environ["RUN_LOG"], "a") as f:
    f.write(json.dumps({"member": member, "seed": seed, "a": p["a"], "b": p["b"]}) + "\n")
'''


def stochastic_problem(tmp_path, name):
    case = tmp_path / "case"
    case.mkdir(exist_ok=True)
    (case / "model.py").write_text(STOCHASTIC)
    model = ExternalModel([sys.executable, "model.py"], ["a", "b"], ["y"], template_dir=case,
                          workdir=tmp_path / "runs", env={"RUN_LOG": tmp_path / name})
    prior = pdaframe.GaussianPrior([1.0, 2.0], std=[1.0, 1.0], names=["a", "b"])
    stream = pdaframe.DataStream("y", "y", [1.1, 3.0, 5.2, 6.9, 9.1], std=0.5)
    return pdaframe.Problem(model, prior, [stream])


@pytest.mark.parametrize("method, options", [
    ("4denvar", {"n_members": 5}),
    ("importance", {"n_members": 6}),
])
def test_stochastic_external_model_gets_member_and_seed(tmp_path, method, options):
    runs = {}
    for name, seed in (("first", 7), ("again", 7), ("other", 8)):
        res = pdaframe.minimise(stochastic_problem(tmp_path, name), method, seed=seed,
                                **options)
        lines = [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]
        members = [r for r in lines if r["member"] != ""]        # ensemble runs
        runs[name] = (res, lines, members)
        assert len(members) >= options["n_members"]
        for r in members:                                      # recorded and checked
            assert r["seed"] == str(member_seed(seed, int(r["member"])))
        indices = sorted({int(r["member"]) for r in members})
        assert indices == list(range(len(indices))) and len(indices) >= options["n_members"]
        assert len({r["seed"] for r in members}) == len(indices)   # one seed per member
        assert all(r["seed"] == "" for r in lines if r["member"] == "")
    (first, lines1, _), (again, lines2, _) = runs["first"], runs["again"]
    assert lines1 == lines2                                    # the same ensemble, twice
    np.testing.assert_array_equal(first.x, again.x)
    assert {r["seed"] for r in runs["other"][2]}.isdisjoint(
        {r["seed"] for r in runs["first"][2]})



def test_executors_do_not_scan_a_member_task_twice():
    """`MemberTask` makes the Failed records itself; the executor's `evaluate` calls it
    directly: one finiteness scan of a member's outputs, not two."""
    scans = []

    class Output:                 # np.asarray(output) is the finiteness scan
        def __array__(self, dtype=None, copy=None):
            scans.append(1)
            return np.array([1.0])
    results = with_members(SerialExecutor(), seed=1).map(lambda theta: {"y": Output()},
                                                          [0.0, 1.0, 2.0])
    assert len(results) == 3 and len(scans) == 3
    # a plain function is still checked by the executor
    assert isinstance(SerialExecutor().map(lambda x: {"y": np.array([np.inf])}, [1.0])[0],
                      pdaframe.parallel.Failed)
