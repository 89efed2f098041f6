"""The method contract: ``pdaframe methods`` lists every registered method and its options,
and the one declaration drives validation (`pdaframe.methods.contract`)."""
import inspect
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import pdaframe
from pdaframe import cli
from pdaframe.methods.contract import COMMON, check_method_options, method_options
from pdaframe.plugins import registry
from tests.unit.test_plugins import make_dist, site  # noqa: F401  (fixture)

DATA = Path(__file__).parents[1] / "data"

# options each method accepted before the contract (the allowed tuples it replaces)
KNOWN = {
    "4denvar": ("n_members", "outer_loops", "epsilon", "exact_moments", "solver", "tol",
                "backtrack", "max_backtracks", "min_members", "seed"),
    "es-mda": ("n_members", "alphas", "seed"),
    "enkf": ("n_members", "n_cycles", "inflation", "seed"),
    "particle-filter": ("n_members", "n_cycles", "resample_threshold", "delta", "seed"),
    "importance": ("n_members", "proposal", "seed"),
    "glue": ("n_members", "likelihood", "shape", "threshold", "top_fraction", "quantiles"),
    "history-matching": ("var_disc", "box_width", "max_outputs", "cutoff", "which",
                         "n_design", "n_candidates", "max_waves", "tol", "nugget", "seed"),
    "sobol": ("shortlist", "n", "calc_second_order", "qoi", "seed"),
    "adaptive-metropolis": ("n_samples", "n_chains", "burn_in", "t0", "eps", "init_scale",
                            "cov0", "sd", "rhat_max"),
    "emcee": ("moves", "rhat_max"),
    "lbfgsb": ("maxiter", "ftol", "gtol", "maxfun", "posterior", "max_restarts"),
    "nelder-mead": ("maxiter", "maxfev", "xatol", "fatol", "adaptive", "posterior"),
    "de": ("popsize", "strategy", "mutation", "max_runs", "posterior", "polish"),
    "ga": ("pop_size", "p_crossover", "max_runs", "posterior", "polish"),
}


def listed(capsys, *argv):
    capsys.readouterr()
    assert cli.main(["methods", *argv]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", registry("method").names())
def test_methods_name_lists_every_option_the_method_accepts(name, capsys):
    func = registry("method").get(name)
    out = listed(capsys, name)
    lines = out.splitlines()
    shown = {line.split(" : ")[0].strip() for line in lines if " : " in line}
    own = {p.name for p in inspect.signature(func).parameters.values()
           if p.default is not p.empty and p.name not in COMMON}
    assert own <= shown, f"{name}: keywords {sorted(own - shown)} not listed"
    assert set(KNOWN.get(name, ())) <= shown, f"{name}: {sorted(set(KNOWN[name]) - shown)}"
    assert shown == set(method_options(func))
    # each listed option, given its default, passes the same check `minimise` runs
    defaults = {k: o.default for k, o in method_options(func).items() if o.default is not None}
    check_method_options(name, func, defaults)


def test_methods_lists_every_registered_method_with_its_family(capsys):
    rows = dict(line.split() for line in listed(capsys).splitlines())
    assert set(rows) == set(registry("method").names())
    assert rows["es-mda"] == "sequential" and rows["de"] == "search"
    assert rows["sobol"] == "sensitivity" and rows["ces"] == "emulation"


def test_option_lines_come_from_the_numpy_docstring(capsys):
    out = listed(capsys, "4denvar")
    assert "outer_loops : int = 1\n      Maximum number of linearisations" in out
    assert "es-mda (sequential)" in listed(capsys, "es-mda")


def test_unknown_method_is_named(capsys):
    assert cli.main(["methods", "bfgs"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'bfgs'" in err and "lbfgsb" in err


PLUGIN = '''
    import pdaframe

    def toy(problem, x0=None, callback=None, executor=None, *, seed=None, steps=10,
            rate=0.5):
        """A toy method.

        Parameters
        ----------
        seed : int, optional
            Seed of the toy.
        steps : int
            How many steps to take.
        rate : float
            Step size. Further words.
        """
        return pdaframe.Result(x=problem.prior.mean, fun=0.0)

    toy.family = "toys"

    @pdaframe.hookimpl
    def pdaframe_register_methods(registry):
        registry.add("toy", toy)
'''


def test_plugin_method_is_listed_and_validated(site, capsys):  # noqa: F811
    make_dist(site, "pdaframe-fake-m", "fake_m", PLUGIN)
    try:
        assert ["toy", "toys"] in [line.split() for line in listed(capsys).splitlines()]
        out = listed(capsys, "toy")
        assert "toy (toys)" in out
        assert "steps : int = 10\n      How many steps to take." in out
        assert "rate : float = 0.5\n      Step size." in out
        problem = pdaframe.Problem(pdaframe.LinearModel([[1.0]]),
                                   pdaframe.GaussianPrior([0.0], std=[1.0]),
                                   [pdaframe.DataStream("y", "y", [1.0], std=1.0)])
        with pytest.raises(pdaframe.ConfigError, match=r"method 'toy': unknown option\(s\) "
                                                       r"\['step'\]; valid options: seed, "
                                                       r"steps, rate"):
            pdaframe.minimise(problem, "toy", step=3)
        with pytest.raises(pdaframe.ConfigError, match="'steps' must be a whole number"):
            pdaframe.minimise(problem, "toy", steps="many")
    finally:
        sys.modules.pop("fake_m", None)


def test_check_rejects_a_misspelt_option_with_the_valid_list(tmp_path, capsys):
    shutil.copy(DATA / "lg2_obs.csv", tmp_path)
    path = tmp_path / "c.toml"
    path.write_text((DATA / "lg2.toml").read_text().replace(
        'name = "lbfgsb"', 'name = "4denvar"\noptions = { outer_loop = 2 }'))
    assert cli.main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "method '4denvar': unknown option(s) ['outer_loop']" in err
    assert "valid options: seed, n_members, outer_loops, epsilon" in err


@pytest.mark.parametrize("name, options", [
    ("es-mda", {"n_members": 8}), ("enkf", {"n_members": 8}),
    ("importance", {"n_members": 20}), ("glue", {"n_members": 20, "top_fraction": 0.5}),
    ("particle-filter", {"n_members": 20}), ("de", {"maxiter": 2, "popsize": 2}),
    ("sobol", {"n": 8, "box_width": 2.0}),
])
def test_seed_none_draws_one_seed_used_for_every_member_and_recorded(name, options):
    problem, _ = pdaframe.load_config(DATA / "lg2.toml")
    if name == "de":                       # DE searches a box
        problem = pdaframe.Problem(problem.model, pdaframe.UniformPrior(
            [-5.0, -5.0], [5.0, 5.0], names=["a", "b"]), problem.streams)
    first = pdaframe.minimise(problem, name, seed=None, **options)
    seed = first["seed"]
    assert isinstance(seed, int) and seed >= 0
    again = pdaframe.minimise(problem, name, seed=seed, **options)
    assert again["seed"] == seed
    key = "indices" if name == "sobol" else "x"
    a, b = (first[key], again[key]) if key == "x" else (first[key]["S1"], again[key]["S1"])
    np.testing.assert_array_equal(a, b)
