"""Result kinds (`pdaframe.result`): every registered method returns the kind its family
declares, a plain result is read by the one rule (`as_kind`), the writers and the run dispatch
on the kind, and ``pdaframe run`` records the seed the method used."""
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.io.ensembles import write_outputs
from pdaframe.io.netcdf import write_result
from pdaframe.io.samples import samples_to_inference_data
from pdaframe.methods.contract import method_kind
from pdaframe.plugins import registry
from pdaframe.result import (KINDS, AnalysisResult, EnsembleResult, OptimisationResult, Result,
                             SampleResult, as_kind)
from pdaframe.run import run_problem, summary_table

DATA = Path(__file__).parents[1] / "data"

#: the kind of every built-in method, with options small enough for LG2 (box: a uniform prior)
METHODS = {
    "lbfgsb": ("optimisation", {}, False), "lbfgsb-fd": ("optimisation", {}, False),
    "nelder-mead": ("optimisation", {}, False), "stepwise": ("optimisation", {}, False),
    "de": ("optimisation", {"maxiter": 2, "popsize": 2}, True),
    "ga": ("optimisation", {"pop_size": 8, "max_runs": 40}, True),
    "nsga2": ("optimisation", {"pop_size": 8, "maxiter": 2, "prior_term": "objective"}, True),
    "sceua": ("optimisation", {"n_complexes": 1, "max_runs": 40}, True),
    "dds": ("optimisation", {"max_runs": 40}, True),
    "adaptive-metropolis": ("sample", {"n_samples": 40, "burn_in": 40, "n_chains": 2}, False),
    "dream-zs": ("sample", {"n_samples": 40, "burn_in": 40}, False),
    "emcee": ("sample", {"n_samples": 20, "burn_in": 20}, False),
    "nuts": ("sample", {"n_samples": 20, "burn_in": 20, "n_chains": 2}, False),
    "hmc": ("sample", {"n_samples": 20, "burn_in": 20, "n_chains": 2}, False),
    "ces": ("sample", {"n_steps": 60, "n_check": 2, "n_chains": 4, "seed": 1}, False),
    "vi": ("sample", {"n_samples": 40, "seed": 1}, False),
    "smc": ("sample", {"n_particles": 40, "n_moves": 2, "seed": 1}, False),
    "4denvar": ("ensemble", {"n_members": 8}, False),
    "es-mda": ("ensemble", {"n_members": 8}, False),
    "enkf": ("ensemble", {"n_members": 8}, False),
    "joint-enkf": ("ensemble", {"n_members": 5, "n_cycles": 2}, "state"),
    "particle-filter": ("ensemble", {"n_members": 20}, False),
    "importance": ("ensemble", {"n_members": 20}, False),
    "glue": ("ensemble", {"n_members": 20, "top_fraction": 0.5}, False),
    "oat": ("analysis", {"box_width": 2.0}, False),
    "morris": ("analysis", {"n": 4, "box_width": 2.0, "seed": 1}, False),
    "sobol": ("analysis", {"n": 8, "box_width": 2.0, "seed": 1}, False),
    "efast": ("analysis", {"n": 65, "box_width": 2.0, "seed": 1}, False),
    "history-matching": ("analysis", {"n_design": 10, "n_candidates": 200, "max_waves": 1,
                                      "seed": 1}, False),
}


def lg2(box=False):
    if box == "state":                     # the joint EnKF needs a model with a state
        from tests.unit.test_joint_enkf import lorenz96_twin
        return lorenz96_twin(n_steps=6)[0]
    problem = pdaframe.load_config(DATA / "lg2.toml").problem
    if box:                                # DE and GA search a box
        problem = pdaframe.Problem(problem.model, pdaframe.UniformPrior(
            [-5.0, -5.0], [5.0, 5.0], names=["a", "b"]), problem.streams)
    return problem


def test_every_registered_method_is_listed_here():
    assert set(METHODS) == set(registry("method").names())


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_method_returns_the_kind_its_family_declares(name):
    kind, options, box = METHODS[name]
    func = registry("method").get(name)
    assert method_kind(func) == kind
    res = pdaframe.minimise(lg2(box), name, **options)
    assert type(res) is not Result and res.kind == kind
    assert [k for k, cls in KINDS.items() if isinstance(res, cls)] == [kind]
    assert ("x" in res) == (kind != "analysis")


def test_methods_listing_says_the_kind(capsys):
    from pdaframe import cli
    assert cli.main(["methods", "history-matching"]) == 0
    assert capsys.readouterr().out.startswith(
        "history-matching (emulation), returns: analysis result\n")
    assert cli.main(["methods", "ces"]) == 0
    assert capsys.readouterr().out.startswith("ces (emulation), returns: sample result\n")


def test_a_plain_result_or_dict_with_x_is_an_optimisation_result():
    problem = lg2()

    def plain(problem, x0=None, callback=None, **_):
        return Result(x=np.array([1.5, 2.5]), fun=0.25).attach_transform(
            problem.prior.transform)

    res = pdaframe.minimise(problem, plain)
    assert isinstance(res, OptimisationResult) and res.method == "plain"
    np.testing.assert_array_equal(res.x, [1.5, 2.5])
    assert res.__dict__["transform"] is problem.prior.transform
    as_dict = pdaframe.minimise(problem, lambda problem, **_: {"x": np.zeros(2), "fun": 1.0})
    assert isinstance(as_dict, OptimisationResult) and as_dict.fun == 1.0
    kind = SampleResult(x=np.zeros(1))
    assert as_kind(kind) is kind
    with pytest.raises(TypeError, match=r"or a dict with 'x'.*got Result with keys "
                                        r"\['fun'\]"):
        pdaframe.minimise(problem, lambda problem, **_: Result(fun=1.0))
    with pytest.raises(TypeError, match="got list"):
        as_kind([1.0])


def test_sample_result_to_inference_data():
    problem = lg2()
    res = pdaframe.minimise(problem, "adaptive-metropolis", n_samples=30, burn_in=30,
                            n_chains=3, seed=4)
    idata = res.to_inference_data(problem, n_prior=7, seed=2)
    theta = idata.posterior["theta"]
    assert theta.dims == ("chain", "draw", "param") and theta.shape == (3, 30, 2)
    assert list(theta["param"].values) == ["a", "b"]
    np.testing.assert_array_equal(theta.values, res.samples)
    np.testing.assert_array_equal(idata.sample_stats["lp"].values, res.log_prob)
    assert idata.prior["theta"].shape == (1, 7, 2)
    np.testing.assert_array_equal(idata.prior["theta"].values[0], problem.prior.sample(
        7, np.random.default_rng(2)))


def test_writers_dispatch_on_the_kind_not_on_keys(tmp_path):
    keys = dict(method="m", parameter_names=["a"], x=np.zeros(1), fun=0.0,
                samples=np.zeros((4, 1)), weights=np.full(4, 0.25),
                history={"cost": np.zeros(1)})
    # the same keys: nothing for an optimisation result, ensemble.nc for an ensemble result
    assert write_outputs(tmp_path / "o", OptimisationResult(keys)) == {}
    written = write_outputs(tmp_path / "e", EnsembleResult(keys))
    assert list(written) == ["ensemble"]
    with xr.open_dataset(written["ensemble"]) as ds:
        np.testing.assert_array_equal(ds.weight.values, 0.25)
    chain = SampleResult(keys, samples=np.arange(6.0).reshape(2, 3, 1))
    written = write_outputs(tmp_path / "s", chain)
    assert list(written) == ["samples"]
    with pytest.raises(ValueError, match="not an MCMC chain"):
        samples_to_inference_data(EnsembleResult(keys))
    with pytest.raises(ValueError, match="not an MCMC chain"):
        samples_to_inference_data(OptimisationResult(keys))
    analysis = AnalysisResult(method="m", parameter_names=["a"], x=np.zeros(1))
    with pytest.raises(ValueError, match="no estimate for result.nc"):
        write_result(tmp_path / "r.nc", analysis)


def test_summary_table_dispatches_on_the_kind():
    problem = lg2()
    keys = dict(method="m", parameter_names=["a", "b"], x=np.zeros(2), fun=1.0, nit=1,
                nfev=2, message="ok", history={"cost": np.ones(2)},
                rhat=np.array([1.5, 1.25]), ess_bulk=np.ones(2), ess_tail=np.ones(2))
    assert "R-hat" in summary_table(SampleResult(keys), problem).splitlines()[0]
    assert "R-hat" not in summary_table(OptimisationResult(keys), problem)

    class Analysis(AnalysisResult):
        def summary(self):
            return f"{self.method}: an analysis"

    assert summary_table(Analysis(keys), problem) == "m: an analysis"


def _config(tmp_path, method, options, seed_line=True):
    shutil.copy(DATA / "lg2_obs.csv", tmp_path)
    text = (DATA / "lg2.toml").read_text().replace('name = "lbfgsb"',
                                                   f'name = "{method}"\noptions = {options}')
    if not seed_line:
        text = text.replace("seed = 3\n", "")
    if method == "de":                   # DE searches the box of the bounds
        text = text.replace("std = 1.0 }", "std = 1.0, lower = -5.0, upper = 10.0 }").replace(
            "std = 2.0 }", "std = 2.0, lower = -5.0, upper = 10.0 }")
    path = tmp_path / "c.toml"
    path.write_text(text.replace('directory = "out"', 'directory = "out"\nplots = false'))
    return path


@pytest.mark.parametrize("method, options, files", [
    ("importance", "{ n_members = 20 }", ("result.nc", "ensemble.nc")),
    ("de", "{ maxiter = 2, popsize = 2 }", ("result.nc",)),
])
def test_run_writes_the_seed_drawn_for_a_config_without_one(tmp_path, method, options,
                                                            files):
    problem, settings = pdaframe.load_config(_config(tmp_path, method, options, seed_line=False))
    settings.seed = None                # no seed: the method draws one (`draw_seed`)
    result, paths = run_problem(problem, settings, tmp_path / "drawn", progress=False)
    seed = result["seed"]
    assert isinstance(seed, int) and seed >= 0
    for name in files:
        with netCDF4.Dataset(tmp_path / "drawn" / name) as ds:
            assert ds.seed == seed
    settings.seed = seed                 # the recorded seed repeats the run bit for bit
    again, _ = run_problem(problem, settings, tmp_path / "again", progress=False)
    assert again["seed"] == seed
    np.testing.assert_array_equal(again["x"], result["x"])


def test_run_writes_the_method_options_seed_not_the_configs(tmp_path):
    path = _config(tmp_path, "importance", "{ n_members = 20, seed = 11 }")
    result, paths = run_problem(*pdaframe.load_config(path), progress=False)
    assert result["seed"] == 11
    for name in ("netcdf", "ensemble"):
        with netCDF4.Dataset(paths[name]) as ds:
            assert ds.seed == 11                 # the config's top-level seed is 3


def test_readme_table_of_kinds_matches_the_contract():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    rows = [line.split("|")[1:4] for line in readme.splitlines()
            if line.startswith("| `") and "Result`" in line]
    listed = {}
    for kind, cls, methods in rows:
        kind = kind.strip(" `")
        assert cls.split("`")[1] == KINDS[kind].__name__
        listed.update({m.strip(" `"): kind for m in methods.split(",")})
    assert listed == {name: method_kind(registry("method").get(name)) for name in METHODS}
