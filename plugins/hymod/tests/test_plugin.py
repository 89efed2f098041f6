"""Discovery through the entry point, and the DE example end to end."""
from pathlib import Path

import numpy as np
import pytest

import pdaframe
from pdaframe_hymod import Hymod

EXAMPLE = Path(__file__).parents[3] / "examples" / "hymod_de" / "config.toml"


def test_discovered_by_name():
    model = pdaframe.get_model("hymod", warmup=366)
    assert isinstance(model, Hymod)
    assert model.parameter_names == ("cmax", "bexp", "alpha", "ks", "kq")
    table = {p.name: p for p in model.parameters}
    assert (table["cmax"].lower, table["cmax"].upper, table["cmax"].default) == (1.0, 500.0, 250.5)
    assert table["ks"].std == pytest.approx(0.099 / 4)


def test_parameter_table_file_follows_the_documented_rule():
    """parameters.toml: SPOTPY ranges, default (lower + upper) / 2 and std (upper - lower) / 4,
    bit for bit (the values the Python table had)."""
    table = Hymod.parameters
    assert [p.name for p in table] == ["cmax", "bexp", "alpha", "ks", "kq"]
    assert [(p.lower, p.upper) for p in table] == [(1.0, 500.0), (0.1, 2.0), (0.1, 0.99),
                                                   (0.001, 0.10), (0.1, 0.99)]
    for p in table:
        assert p.default == (p.lower + p.upper) / 2 and p.std == (p.upper - p.lower) / 4, p
        assert p.units and p.long_name


def test_de_example_beats_spotpy_optguess(tmp_path):
    text = EXAMPLE.read_text().replace('file = "discharge.csv"',
                                       f'file = "{EXAMPLE.parent / "discharge.csv"}"')
    (tmp_path / "c.toml").write_text(text)
    problem, _ = pdaframe.load_config(tmp_path / "c.toml")
    (stream,) = problem.streams
    assert stream.n_valid == 1461
    assert problem.model.time[stream.times].min() == np.datetime64("2013-01-01")
    result = pdaframe.minimise(problem, method="de", seed=1, max_runs=1500)
    assert result.nfev <= 1500

    def rmse(theta):
        q = problem.model.run(theta)["discharge_ls"][stream.times]
        return np.sqrt(np.mean((q - stream.values) ** 2))

    optguess = [412.33, 0.1725, 0.8127, 0.0404, 0.5592]       # SPOTPY tutorial
    assert rmse(result.x) < min(rmse(optguess), 0.8 * rmse(problem.model.defaults))
    assert rmse(result.x) < 8.0                                 # l/s


def test_dream_example_samples_around_the_optimum(tmp_path):
    """examples/hymod_dream (shorter chains): converged chains whose spread covers the
    least-squares optimum, and an ArviZ-readable samples.nc."""
    import arviz as az
    from pdaframe.run import run_problem
    src = EXAMPLE.parent.parent / "hymod_dream" / "config.toml"
    text = src.read_text().replace('file = "../hymod_de/discharge.csv"',
                                   f'file = "{EXAMPLE.parent / "discharge.csv"}"')
    (tmp_path / "c.toml").write_text(text.replace("n_samples = 4000, burn_in = 4000",
                                                  "n_samples = 2000, burn_in = 2000"))
    problem, settings = pdaframe.load_config(tmp_path / "c.toml")
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    assert result.nfev == 3 * 4000 + 4 and result.rhat.max() < 1.05
    assert result.ess_bulk.min() > 100
    best = pdaframe.minimise(problem, method="lbfgsb-fd", x0=result.x, posterior=False)
    z = (best.x - result.x) / result.posterior_std
    assert np.all(np.abs(z) < 3), z                  # the optimum lies in the posterior
    idata = az.from_netcdf(paths["samples"])
    assert idata.posterior.theta.shape == (3, 2000, 5)
