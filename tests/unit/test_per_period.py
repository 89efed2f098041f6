"""Time-varying parameters as per-period blocks (`PerPeriodModel`) for the batch methods."""
import numpy as np
import pytest

import pdaframe
from pdaframe.errors import ConfigError
from pdaframe.interfaces import has_state
from pdaframe.models.linear import LinearModel
from pdaframe.models.lorenz96 import Lorenz96
from pdaframe.models.periods import PerPeriodModel
from pdaframe.observations.streams import DataStream

TRUTH = np.array([7.5, 8.5, 8.0])          # F in 2005, 2006, 2007


@pytest.fixture(scope="module")
def spun_up():
    spin = Lorenz96(n_steps=500)
    return spin.advance([8.0], spin.initial_state([8.0]), 0, 500)[0]


def yearly(x0, n_steps=30):
    return PerPeriodModel(Lorenz96(n_steps=n_steps, x0=x0), ["F"], [0, 10, 20],
                          labels=[2005, 2006, 2007])


def test_names_table_and_runs_chain_over_the_periods(spun_up):
    model = yearly(spun_up)
    assert model.parameter_names == ("F@2005", "F@2006", "F@2007")
    assert [(p.name, p.default, p.std) for p in model.parameters] == [
        ("F@2005", 8.0, 2.0), ("F@2006", 8.0, 2.0), ("F@2007", 8.0, 2.0)]
    assert has_state(model) and model.n_steps == 30
    full = model.run(TRUTH)
    # equal values in every period: the plain model's run, bit for bit
    same = model.run(np.full(3, 8.2))
    base = Lorenz96(n_steps=30, x0=spun_up).run([8.2])
    assert all(np.array_equal(same[k], base[k]) for k in base)
    # advance over windows that cross the period boundaries gives run's outputs
    x, parts = model.initial_state(TRUTH), []
    for a, b in ((0, 7), (7, 23), (23, 30)):
        x, out = model.advance(TRUTH, x, a, b)
        parts.append(out)
    for k in full:
        assert np.array_equal(np.concatenate([p[k] for p in parts]), full[k])
    # each period really uses its own value: the first 10 steps are those of F = 7.5 alone
    first = Lorenz96(n_steps=30, x0=spun_up).run([7.5])
    assert np.array_equal(full["x3"][:10], first["x3"][:10])
    assert not np.array_equal(full["x3"][10:], first["x3"][10:])


def test_a_value_per_year_is_recovered_by_4dvar_and_es_mda(spun_up):
    model = yearly(spun_up)
    out = model.run(TRUTH)
    rng = np.random.default_rng(0)
    streams = [DataStream(f"x{j}", f"x{j}", out[f"x{j}"] + 0.5 * rng.standard_normal(30),
                          std=0.5) for j in range(0, 40, 2)]
    prior = pdaframe.GaussianPrior([8.0] * 3, std=[1.0] * 3, names=list(model.parameter_names))
    problem = pdaframe.Problem(model, prior, streams)
    constant = pdaframe.Problem(Lorenz96(n_steps=30, x0=spun_up),
                                pdaframe.GaussianPrior([8.0], std=[1.0], names=["F"]), streams)
    one = pdaframe.minimise(constant, "lbfgsb-fd")
    for method, options in (("lbfgsb-fd", {}), ("es-mda", {"n_members": 40, "seed": 1})):
        res = pdaframe.minimise(problem, method, **options)
        z = (res.x - TRUTH) / res.posterior_std
        print(f"\n{method}: F per year {np.round(res.x, 3)} +- "
              f"{np.round(res.posterior_std, 3)} (truth {TRUTH}); one F for all: "
              f"{one.x[0]:.3f}, J {one.fun:.1f} vs {problem.cost(res.x):.1f}")
        assert np.all(np.abs(z) < 2), (method, z)
        assert np.all(res.posterior_std < 0.2)
    assert problem.cost(res.x) < 0.5 * one.fun         # one F cannot fit three years


@pytest.mark.parametrize("make, message", [
    (lambda x0: PerPeriodModel(LinearModel(np.eye(3)), ["theta_0"], [0]),
     "exposes no state"),
    (lambda x0: PerPeriodModel(Lorenz96(n_steps=30), ["G"], [0, 10]),
     "['G'] given; expected names among the model's parameters ['F']"),
    (lambda x0: PerPeriodModel(Lorenz96(n_steps=30), ["F"], [1, 10]), "starts must be"),
    (lambda x0: PerPeriodModel(Lorenz96(n_steps=30), ["F"], [0, 10, 10]), "starts must be"),
    (lambda x0: PerPeriodModel(Lorenz96(n_steps=30), ["F"], [0, 30]), "starts must be"),
    (lambda x0: PerPeriodModel(Lorenz96(n_steps=30), ["F"], [0, 10], labels=[1]),
     "1 labels for 2 periods"),
])
def test_bad_periods_are_config_errors(make, message, spun_up):
    with pytest.raises(ConfigError) as err:
        make(spun_up)
    assert message in str(err.value)


def test_per_period_from_a_config(tmp_path, spun_up):
    """``[model] name = "per-period"`` wraps a registered model: its options plus
    ``model``, ``varying``, ``starts`` and ``labels``; priors per period by name."""
    from tests.unit.test_joint_enkf import lorenz96_config
    config = lorenz96_config(tmp_path)
    text = config.read_text().replace('name = "lorenz96"\noptions = { ', (
        'name = "per-period"\noptions = { model = "lorenz96", varying = ["F"], '
        'starts = [0, 10], labels = ["a", "b"], ')).replace(
        "F = { mean = 6.0, std = 2.0 }",
        '"F@a" = { mean = 7.0, std = 2.0 }\n"F@b" = { mean = 9.0, std = 2.0 }').replace(
        'name = "joint-enkf"', 'name = "lbfgsb-fd"').replace(
        "n_members = 10, initial_state_std = 0.5, inflation = 1.02, "
        "localisation_radius = 4.0", "maxiter = 50")
    config.write_text(text)
    problem, settings = pdaframe.load_config(config)
    assert isinstance(problem.model, PerPeriodModel)
    assert problem.parameter_names == ["F@a", "F@b"]
    np.testing.assert_array_equal(problem.prior.mean, [7.0, 9.0])
    out = problem.model.run(np.array([8.0, 8.0]))
    x0 = problem.model.model.x0
    assert np.array_equal(out["x0"], Lorenz96(n_steps=20, x0=x0).run([8.0])["x0"])
    bad = config.read_text().replace('varying = ["F"]', 'varying = ["G"]')
    config.write_text(bad)
    with pytest.raises(ConfigError, match="'G'"):
        pdaframe.load_config(config)
