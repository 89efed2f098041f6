"""Only the outputs that are needed: `run(theta, outputs=...)` (`pdaframe.interfaces`).

A model whose ``run`` (``tangent``) takes ``outputs`` is asked by `Problem` for what its
streams' operators read; models without the keyword are called as before; the numbers do
not depend on the selection.
"""
import numpy as np
import pytest

import pdaframe
import pdaframe.plugin
from pdaframe.errors import ConfigError
from pdaframe.interfaces import selects_outputs
from pdaframe.problem.fixed import FixedParameters
from pdaframe.problem.single import needed_outputs

from tests.models import TRUTH, Decay, decay_problem


class Selecting(Decay):
    """`Decay` plus an output ``w`` no stream reads; records what each call was asked for."""

    def __init__(self, n=20):
        super().__init__(n)
        self.asked, self.asked_tangent = [], []

    def run(self, theta, outputs=None):
        self.asked.append(None if outputs is None else tuple(outputs))
        out = super().run(theta)
        out["w"] = out["y"] * 2.0
        keep = out if outputs is None else {k: out[k] for k in outputs if k in out}
        return keep

    def tangent(self, theta, dtheta, outputs=None):
        self.asked_tangent.append(None if outputs is None else tuple(outputs))
        out = super().tangent(theta, dtheta)
        out["w"] = out["y"] * 2.0
        return out if outputs is None else {k: out[k] for k in outputs if k in out}


class Plain(Decay):
    """`Decay` with an output ``w``, without the keyword: must never be given ``outputs``."""

    def run(self, theta):
        out = super().run(theta)
        out["w"] = out["y"] * 2.0
        return out


THETA = np.array([0.12, 3.5, 0.6])


def test_selects_outputs_reads_the_signature():
    def positional_only(theta, outputs=None, /):
        return {}

    def keyword_only(theta, *, outputs=None):
        return {}

    assert selects_outputs(Selecting().run) and selects_outputs(Selecting().tangent)
    assert selects_outputs(keyword_only)
    assert not selects_outputs(Plain().run)
    assert not selects_outputs(positional_only)
    assert not selects_outputs(None)
    assert not selects_outputs(len)                    # a builtin
    assert not selects_outputs(lambda theta, **kw: {})


def test_problem_asks_for_what_the_streams_read():
    model = Selecting()
    problem = decay_problem(model)
    assert problem.needed_outputs == ("y", "z")
    model.asked.clear()
    problem.cost(TRUTH)                                # the first run: every output
    problem.cost(THETA)
    problem.gradient(THETA)                            # adjoint: the cached run
    assert model.asked == [None, ("y", "z")] and problem.nrun == 2
    model.asked.clear()
    problem.jacobian(THETA, mode="tangent")
    assert set(model.asked_tangent) == {("y", "z")} and len(model.asked_tangent) == 3
    problem.jacobian(THETA, mode="fd")                 # finite differences: selected runs too
    assert model.asked == [("y", "z")] * 3             # one per parameter (base run cached)


def test_problem_run_without_outputs_is_a_full_run_and_covers_later_selections():
    model = Selecting()
    problem = decay_problem(model)
    problem.cost(TRUTH)
    model.asked.clear()
    problem.cost(THETA)
    runs = problem.nrun
    assert problem.run(THETA, ["y"])["y"] is not None and problem.nrun == runs     # cached
    full = problem.run(THETA)                          # "w" was not computed: a full run
    assert model.asked == [("y", "z"), None] and problem.nrun == runs + 1
    assert sorted(full) == ["w", "y", "z"]
    problem.cost(THETA)                                # the full run holds what cost needs
    assert problem.nrun == runs + 1


def test_values_do_not_depend_on_the_selection():
    selecting, plain = decay_problem(Selecting()), decay_problem(Plain())
    assert selecting.cost(THETA) == plain.cost(THETA)
    np.testing.assert_array_equal(selecting.gradient(THETA), plain.gradient(THETA))
    np.testing.assert_array_equal(selecting.jacobian(THETA, mode="tangent"),
                                  plain.jacobian(THETA, mode="tangent"))
    np.testing.assert_array_equal(selecting.run(THETA)["w"], plain.run(THETA)["w"])


def test_models_without_the_keyword_run_as_before():
    problem = decay_problem(Plain())                   # Plain.run(theta, outputs=...) fails
    assert np.isfinite(problem.cost(THETA))
    assert np.isfinite(problem.gradient(THETA)).all()
    assert sorted(problem.run(THETA)) == ["w", "y", "z"]


class _NoInputs:
    """An operator that does not say which outputs it reads."""

    def apply(self, outputs):
        return np.asarray(outputs["y"], dtype=float)


class _EmptyInputs(pdaframe.plugin.ObservationOperator):
    """The base class's empty ``inputs``, yet it reads ``y``."""

    def apply(self, outputs):
        return np.asarray(outputs["y"], dtype=float)


@pytest.mark.parametrize("operator", [_NoInputs(), _EmptyInputs()])
def test_an_operator_without_inputs_gets_every_output(operator):
    model = Selecting()
    y = Decay().run(TRUTH)["y"]
    problem = pdaframe.Problem(model, pdaframe.GaussianPrior(THETA, std=[0.1, 1.0, 0.5]),
                               [pdaframe.DataStream("y", "y", y, std=0.1, operator=operator)])
    assert problem.needed_outputs is None
    problem.cost(TRUTH)
    problem.cost(THETA)
    assert model.asked == [None, None]


def test_needed_outputs_is_the_union_sorted():
    streams = decay_problem().streams
    assert needed_outputs(streams[::-1]) == ("y", "z")
    assert needed_outputs(streams[:1]) == ("y",)


def test_a_missing_output_still_names_the_stream():
    y = Decay().run(TRUTH)["y"]
    problem = pdaframe.Problem(Selecting(), pdaframe.GaussianPrior(THETA, std=[0.1, 1.0, 0.5]),
                               [pdaframe.DataStream("sif", "sif", y, std=0.1)])
    with pytest.raises(ConfigError, match=r"stream 'sif'.*\['sif'\].*\['w', 'y', 'z'\]"):
        problem.cost(THETA)


def test_fixed_parameters_pass_the_selection_on():
    model = Selecting()
    fixed = FixedParameters(model, ["k", "a"], TRUTH)
    assert selects_outputs(fixed.run) and selects_outputs(fixed.tangent)
    assert sorted(fixed.run([0.1, 0.5], outputs=["y"])) == ["y"]
    assert sorted(fixed.tangent([0.1, 0.5], [1.0, 0.0], outputs=["z"])) == ["z"]
    assert model.asked == [("y",)] and model.asked_tangent == [("z",)]
    plain = FixedParameters(Plain(), ["k", "a"], TRUTH)          # not passed on: no keyword
    assert sorted(plain.run([0.1, 0.5], outputs=["y"])) == ["w", "y", "z"]


def test_multisite_sites_ask_for_their_streams_outputs():
    models = {"a": Selecting(), "b": Selecting()}
    truth = Decay().run(TRUTH)
    streams = {"a": [pdaframe.DataStream("y", "y", truth["y"], std=0.1)],
               "b": [pdaframe.DataStream("z", "z", truth["z"].reshape(-1), std=0.1,
                                         operator=pdaframe.plugin.Identity("z"))]}
    names = ["k", "c0", "a"]
    prior = pdaframe.GaussianPrior([0.1, 3.0, 0.5], std=[0.1, 1.0, 0.5], names=names)
    problem = pdaframe.MultiSiteProblem({s: (models[s], streams[s]) for s in models}, prior,
                                        shared=names, site_specific=[])
    problem.cost(TRUTH)
    problem.cost(THETA)
    assert models["a"].asked == [None, ("y",)] and models["b"].asked == [None, ("z",)]
