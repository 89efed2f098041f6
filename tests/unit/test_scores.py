"""Scores of held-out streams ask the model only for the outputs they read (issue 13, item 3:
"only the outputs the streams and diagnostics use"), with the numbers of a full run."""
import numpy as np
import pytest

import pdaframe
from pdaframe.analysis.scores import evaluate, run_outputs
from pdaframe.plugin import Identity, ObservationOperator
from tests.models import Decay


class Recording(Decay):
    """`Decay` with a third output ``w`` (``y`` squared) and ``run(theta, outputs=None)``
    that records what it is asked for (``asked``) and returns only that."""

    def __init__(self, n=20):
        super().__init__(n)
        self.asked = []

    def run(self, theta, outputs=None):
        self.asked.append(None if outputs is None else tuple(outputs))
        out = super().run(theta)
        out["w"] = out["y"] ** 2
        return out if outputs is None else {k: out[k] for k in outputs if k in out}


class Plain(Recording):
    """The same outputs from a run that cannot select them (always all)."""

    def run(self, theta):
        return super().run(theta)


class FirstColumn(ObservationOperator):
    """Observes ``z[:, 0]``; lists its input."""

    inputs = ("z",)

    def apply(self, outputs):
        return outputs["z"][:, 0]


class Unlisted(ObservationOperator):
    """Observes ``w`` without listing it (``inputs`` empty: it may read any output)."""

    def apply(self, outputs):
        return outputs["w"]


THETA = {"prior": np.array([0.1, 3.0, 0.5]), "posterior": np.array([0.15, 4.0, 0.8])}
FIRST = np.array([0.12, 3.5, 0.6])      # the problem's first run (a full one), elsewhere


def _problem(model):
    """Calibrated on ``y``; held out: ``z`` (its first column, every step)."""
    prior = pdaframe.GaussianPrior([0.1, 3.0, 0.5], covariance=np.diag([0.01, 1.0, 0.25]),
                                   names=["k", "c0", "a"])
    calib = pdaframe.DataStream("y", "y", np.linspace(4.0, 0.5, 20), std=0.1)
    held = pdaframe.DataStream("z_held", "z", np.arange(20.0) * 0.55 + 0.01, std=0.2,
                               operator=FirstColumn())
    return pdaframe.Problem(model, prior, [calib]), [held]


def test_evaluate_asks_only_for_the_outputs_read_and_gives_the_full_run_numbers():
    model = Recording()
    problem, held = _problem(model)
    problem.cost(FIRST)                               # the first run: all outputs
    assert model.asked == [None] and problem.needed_outputs == ("y",)
    got = evaluate(problem, held, THETA)
    # one run per estimate, asking for the held-out stream's z and the problem's own y
    assert model.asked[1:] == [("y", "z"), ("y", "z")]

    plain, held_plain = _problem(Plain())
    want = evaluate(plain, held_plain, THETA)
    for label, theta in THETA.items():
        a, b = got["z_held"][label], want["z_held"][label]
        assert np.array_equal(a["equivalent"], b["equivalent"])
        assert {k: a[k] for k in ("n", "rmse", "bias", "correlation")} == \
            {k: b[k] for k in ("n", "rmse", "bias", "correlation")}
        assert np.array_equal(a["equivalent"], theta[1] * theta[0] * np.arange(20.0))
        assert a["n"] == 20
    # by hand, t = 0..19 (mean 9.5, mean of t^2 123.5): prior z = 0.3 t, residual
    # -(0.25 t + 0.01); posterior z = 0.6 t, residual 0.05 t - 0.01
    prior, post = got["z_held"]["prior"], got["z_held"]["posterior"]
    assert prior["rmse"] == pytest.approx(np.sqrt(0.0625 * 123.5 + 0.005 * 9.5 + 1e-4),
                                          rel=1e-14)
    assert prior["bias"] == pytest.approx(-2.385, rel=1e-14)
    assert post["bias"] == pytest.approx(0.465, rel=1e-14)
    assert prior["correlation"] == pytest.approx(1.0, rel=1e-14)


def test_run_outputs_selection():
    model = Recording()
    problem, _ = _problem(model)
    problem.run(FIRST)                                # first run: all (streams checked)
    theta = THETA["posterior"]
    assert sorted(run_outputs(problem, theta, ["w"])) == ["w", "y"]
    assert model.asked[-1] == ("w", "y")
    assert sorted(run_outputs(problem, theta, ["y"])) == ["w", "y"]   # the last run's
    assert len(model.asked) == 2                      # y held by the last run: no new run
    run_outputs(problem, THETA["prior"], ["y"])
    assert model.asked[-1] == ("y",)                  # the problem's own tuple
    run_outputs(problem, theta, None)
    assert model.asked[-1] is None                    # None: every output

    class Duck:                                       # run(theta) only, no needed_outputs
        def run(self, theta):
            return model.run(theta)
    assert sorted(run_outputs(Duck(), theta, ["z"])) == ["w", "y", "z"]
    assert model.asked[-1] is None


def test_an_operator_without_inputs_gets_every_output():
    model = Recording()
    problem, _ = _problem(model)
    held = [pdaframe.DataStream("w_held", "w", np.ones(20), std=1.0,
                                operator=Unlisted())]
    problem.run(FIRST)
    evaluate(problem, held, THETA)
    assert model.asked[1:] == [None, None]


def test_identity_stream_reads_its_variable():
    """The default operator (`Identity`) lists its variable as input: only ``w`` and ``y``."""
    assert Identity("w").inputs == ("w",)
    model = Recording()
    problem, _ = _problem(model)
    problem.run(FIRST)
    got = evaluate(problem, [pdaframe.DataStream("w_held", "w", np.ones(20), std=1.0)], THETA)
    assert model.asked[1:] == [("w", "y"), ("w", "y")]
    y = Decay().run(THETA["posterior"])["y"]
    assert np.array_equal(got["w_held"]["posterior"]["equivalent"], y ** 2)
