"""The method contract: ``pdaframe methods`` lists every registered method and its options,
and the one declaration drives validation (`pdaframe.methods.contract`)."""
import inspect
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import pdaframe
import pdaframe.plugin
from pdaframe import cli
from pdaframe.methods.contract import (COMMON, FAMILIES, SEED_DOC, SEED_IGNORED,
                                       check_method_options, documented_options,
                                       method_options)
from pdaframe.plugins import registry
from tests.unit.test_plugins import make_dist, site  # noqa: F401  (fixture)

DATA = Path(__file__).parents[1] / "data"
README = Path(__file__).parents[2] / "README.md"
BUILTIN = [n for n in registry("method").names() if registry("method").sources[n][0] ==
           "pdaframe"]

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
    "nsga2": ("pop_size", "maxiter", "objectives", "prior_term", "reference_point",
              "max_runs"),
}


def listed(capsys, *argv):
    capsys.readouterr()
    assert cli.main(["methods", *argv]) == 0
    return capsys.readouterr().out


def option_rows(out):
    """``{name: (kind, default, description)}`` of a ``pdaframe methods NAME`` listing."""
    lines = out.splitlines()
    rows = {}
    for line, doc in zip(lines, lines[1:] + [""]):
        if line.startswith("  ") and not line.startswith("   ") and " : " in line:
            name, _, rest = line.strip().partition(" : ")
            kind, _, default = rest.rpartition(" = ")
            rows[name] = (kind, default, doc.strip())
    return rows


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
    assert shown == set(documented_options(func)) >= set(method_options(func))
    # each listed option, given its default, passes the same check `minimise` runs
    defaults = {k: o.default for k, o in method_options(func).items() if o.default is not None}
    check_method_options(name, func, defaults)


@pytest.mark.parametrize("name", BUILTIN)
def test_every_builtin_option_has_a_type_and_a_description(name, capsys):
    rows = option_rows(listed(capsys, name))
    assert rows, f"{name}: no options listed"
    for option, (kind, default, doc) in rows.items():
        assert kind and kind != "any", f"{name}: option {option!r} has no type"
        assert doc and not doc.startswith("(not described"), \
            f"{name}: option {option!r} has no description"
    # every method says what it does with the seed the config passes to every method
    assert name == "stepwise" or rows["seed"][2] in (SEED_DOC, SEED_IGNORED)


FAMILY = {"lbfgsb": "minimiser", "lbfgsb-fd": "minimiser", "nelder-mead": "minimiser",
          "4denvar": "variational", "de": "search", "ga": "search",
          "nsga2": "search",
          "adaptive-metropolis": "mcmc", "dream-zs": "mcmc", "emcee": "mcmc",
          "nuts": "mcmc", "hmc": "mcmc", "smc": "mcmc",
          "es-mda": "kalman", "enkf": "kalman", "joint-enkf": "kalman",
          "particle-filter": "weighting",
          "importance": "weighting", "glue": "weighting", "ces": "emulation",
          "history-matching": "emulation", "oat": "sensitivity", "morris": "sensitivity",
          "sobol": "sensitivity", "efast": "sensitivity", "stepwise": "stepwise",
          "vi": "variational",
          "sceua": "search", "dds": "search"}


def test_methods_lists_every_registered_method_with_its_family(capsys):
    rows = dict(line.split() for line in listed(capsys).splitlines())
    assert set(rows) == set(registry("method").names()) == set(FAMILY)
    assert rows == FAMILY
    assert set(FAMILY.values()) == set(FAMILIES)
    assert "es-mda (kalman)" in listed(capsys, "es-mda")


def test_readme_lists_every_family_and_its_methods():
    text = README.read_text()
    section = text[text.index("pdaframe methods NAME"):text.index("### Config files")]
    for family in FAMILIES:
        row = next((line for line in section.splitlines()
                    if line.startswith(f"| {family} ")), None)
        assert row is not None, f"README: no row for the family {family!r}"
        for name in (n for n, f in FAMILY.items() if f == family):
            assert f"`{name}`" in row, f"README: {name!r} not in the row of {family!r}"


def test_option_lines_come_from_the_numpy_docstring(capsys):
    out = listed(capsys, "4denvar")
    assert "outer_loops : int = 1\n      Maximum number of linearisations" in out
    # the type of an option left to the method is the docstring's
    assert 'solver : {"cholesky", "trust-exact", "newton-cg"} = \'cholesky\'' in out
    assert "alphas : sequence of float or int = (4.0, 4.0, 4.0, 4.0)" in listed(capsys, "es-mda")
    # seed: one wording for every method that takes one; deterministic methods ignore it
    assert f"seed : int = 0\n      {SEED_DOC}\n" in out
    assert f"seed : int = None\n      {SEED_IGNORED}\n" in listed(capsys, "lbfgsb")


def test_lines_follow_sources_bases_and_option_docs_and_typed_entries_win():
    class Base:
        """Parameters
        ----------
        depth : int
            How deep. More words.
        mode : {"a", "b"}, optional
            Which mode.
        """

    class State(Base):
        """Parameters
        ----------
        depth, mode
            As `Base`.
        """

        def __init__(self, problem, depth=3, mode=None):
            pass

    def helper():
        """Parameters
        ----------
        rate : float
            Step size.
        """

    def method(problem, x0=None, callback=None, executor=None, **options):
        """Parameters
        ----------
        depth
            As `State`.
        """

    method.option_sources = (State,)
    method.option_defaults = {"rate": 0.5}
    method.option_docs = (helper,)
    opts = documented_options(method)
    assert [(o.name, o.kind, o.default, o.doc) for o in opts.values()] == [
        ("depth", "int", 3, "How deep."), ("mode", '{"a", "b"}', None, "Which mode."),
        ("rate", "float", 0.5, "Step size."), ("seed", "int", None, SEED_IGNORED)]
    del method.option_docs
    assert method_options(method)["rate"].doc == ""


def test_unknown_method_is_named(capsys):
    assert cli.main(["methods", "bfgs"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'bfgs'" in err and "lbfgsb" in err


PLUGIN = '''
    import pdaframe.plugin

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

    def plain(problem, x0=None, callback=None, executor=None, mode=None, **options):
        """A method without a family.

        Parameters
        ----------
        mode : {"fast", "slow"}, optional
            How to go.
        """
        return pdaframe.Result(x=problem.prior.mean, fun=0.0)

    plain.__module__ = "elsewhere.methods"      # its family is the plugin's name, not this

    @pdaframe.plugin.hookimpl
    def pdaframe_register_methods(registry):
        registry.add("toy", toy)
        registry.add("plain", plain)
'''


def test_plugin_method_is_listed_and_validated(site, capsys):  # noqa: F811
    make_dist(site, "pdaframe-fake-m", "fake_m", PLUGIN)
    try:
        rows = [line.split() for line in listed(capsys).splitlines()]
        assert ["toy", "toys"] in rows
        assert ["plain", "fake_m"] in rows     # no family declared: the plugin's name
        out = listed(capsys, "toy")
        assert "toy (toys)" in out
        assert "steps : int = 10\n      How many steps to take." in out
        assert "rate : float = 0.5\n      Step size." in out
        assert f"seed : int = None\n      {SEED_DOC}" in out
        out = listed(capsys, "plain")
        assert out.startswith("plain (fake_m)\n")
        assert 'mode : {"fast", "slow"} = None\n      How to go.' in out
        assert out.endswith("(further options are not declared: they are left to the "
                            "method)\n")
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
