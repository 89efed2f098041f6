"""Multi-site configs ([[sites]]): named errors, a twin, and a run end to end to NetCDF."""
import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.cli import main
from pdaframe.problem.multisite import MultiSiteProblem
from pdaframe.run import run_problem, summary_table

H_A = [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]]
H_B = [[2.0, 0.0, 1.0], [0.0, 1.0, -1.0], [1.0, -1.0, 0.5], [0.5, 0.5, 1.0]]
Y_A = [2.1, 1.4, 1.6]
Y_B = [1.9, -0.3, 0.2, 2.6]
SIGMA_B = [0.4, 0.5, 0.4, 0.6]

CONFIG = f"""
title = "Linear multi-site"
seed = 4

[model]
name = "linear"
options = {{ names = ["a", "b", "c"] }}

[parameters]
site_specific = ["c"]
a = {{ mean = 1.0, std = 1.0 }}
b = {{ mean = 0.5, std = 2.0 }}
c = {{ mean = 0.0, std = 1.0 }}

[[sites]]
name = "site-a"
options = {{ matrix = {H_A} }}

[[sites.streams]]
name = "y"
variable = "y"
file = "a_obs.csv"
std = 0.5

[[sites]]
name = "site-b"
options = {{ matrix = {H_B} }}
parameters = {{ c = {{ mean = 2.0, std = 0.5 }} }}

[[sites.streams]]
name = "y"
variable = "y"
file = "b_obs.csv"
std_column = "sigma"

[method]
name = "lbfgsb"

[output]
directory = "out"
"""

TWIN = """
[twin]
seed = 1
truth = { a = 1.2, c = 0.3, "c@site-b" = 1.5 }
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "a_obs.csv").write_text("time,y\n" + "".join(
        f"{i},{v}\n" for i, v in enumerate(Y_A)))
    (tmp_path / "b_obs.csv").write_text("time,y,sigma\n" + "".join(
        f"{i},{v},{s}\n" for i, (v, s) in enumerate(zip(Y_B, SIGMA_B))))
    return tmp_path


def write(folder, text):
    path = folder / "multi.toml"
    path.write_text(text)
    return path


def closed_form():
    """Posterior of the stacked linear problem over (a, b, c@site-a, c@site-b)."""
    H = np.zeros((7, 4))
    H[:3, [0, 1, 2]] = H_A
    H[3:, [0, 1, 3]] = H_B
    R = np.diag([0.25] * 3 + [s ** 2 for s in SIGMA_B])
    xb = np.array([1.0, 0.5, 0.0, 2.0])
    B = np.diag([1.0, 4.0, 1.0, 0.25])
    y = np.array(Y_A + Y_B)
    A = np.linalg.inv(H.T @ np.linalg.solve(R, H) + np.linalg.inv(B))
    return xb + A @ H.T @ np.linalg.solve(R, y - H @ xb), A


def test_loads_a_multisite_problem(folder):
    problem, settings = pdaframe.load_config(write(folder, CONFIG))
    assert isinstance(problem, MultiSiteProblem)
    assert problem.parameter_names == ["a", "b", "c@site-a", "c@site-b"]
    np.testing.assert_array_equal(problem.prior.mean, [1.0, 0.5, 0.0, 2.0])
    np.testing.assert_array_equal(problem.prior.std, [1.0, 2.0, 1.0, 0.5])
    assert [s.name for s in problem.streams] == ["site-a_y", "site-b_y"]
    assert settings.sites == ["site-a", "site-b"]
    assert problem.n_obs == 7


def test_run_end_to_end_writes_netcdf(folder, capsys):
    problem, settings = pdaframe.load_config(write(folder, CONFIG))
    result, paths = run_problem(problem, settings, folder / "res", progress=False)
    mean, cov = closed_form()
    np.testing.assert_allclose(result.x, mean, rtol=1e-6)
    np.testing.assert_allclose(result.posterior_covariance, cov, rtol=1e-8)
    table = summary_table(result, problem)
    for name in problem.parameter_names:
        assert name in table
    assert "site site-b: 4 observations" in table
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert list(ds.param.values) == ["a", "b", "c@site-a", "c@site-b"]
        assert list(ds.site.values) == ["site-a", "site-b"]
        assert list(ds.param_site.values) == ["", "", "site-a", "site-b"]
        np.testing.assert_allclose(ds.analysis.values, mean, rtol=1e-6)
        np.testing.assert_allclose(ds.prior_std.values, [1.0, 2.0, 1.0, 0.5])
        np.testing.assert_allclose(ds["site-b_y_observed"].values, Y_B)
        np.testing.assert_allclose(ds["site-b_y_obs_std"].values, SIGMA_B)
        assert ds["site-a_y_observed"].attrs["site"] == "site-a"
        np.testing.assert_allclose(ds["site-a_y_posterior"].values, np.array(H_A) @ mean[:3],
                                   rtol=1e-6)
        assert list(ds.site_n_obs.values) == [3, 4]
        assert ds.site_cost.values.sum() + problem.prior.cost(result.x) == \
            pytest.approx(result.fun, rel=1e-12)
    assert paths["streams_plot"].stat().st_size > 1000
    assert paths["parameters_plot"].stat().st_size > 1000

    assert main(["check", str(folder / "multi.toml")]) == 0
    out = capsys.readouterr().out
    assert "4 parameters estimated (a, b, c@site-a, c@site-b)" in out
    assert "stream 'site-b_y': 4 values" in out


def test_twin_truth_names_shared_and_site_parameters(folder):
    text = CONFIG.replace('file = "a_obs.csv"', "times = [0, 1, 2]").replace(
        'file = "b_obs.csv"\nstd_column = "sigma"', "times = [0, 1, 2, 3]\nstd = 0.5")
    problem, settings = pdaframe.load_config(write(folder, text + TWIN))
    # the bare "c" sets every copy, "c@site-b" overrides one; b stays at its prior mean
    np.testing.assert_array_equal(settings.truth, [1.2, 0.5, 0.3, 1.5])
    truth_b = np.array(H_B) @ [1.2, 0.5, 1.5]
    np.testing.assert_allclose(problem.streams[1].truth_values, truth_b)
    assert not np.allclose(problem.streams[1].values, truth_b)       # noise added
    one = pdaframe.load_config(write(folder, text + TWIN.replace('c = 0.3, ', '')))
    np.testing.assert_array_equal(one.settings.truth, [1.2, 0.5, 0.0, 1.5])
    result, paths = run_problem(problem, settings, folder / "twin", progress=False)
    with xr.open_dataset(paths["netcdf"]) as ds:
        np.testing.assert_array_equal(ds.truth.values, [1.2, 0.5, 0.3, 1.5])
        np.testing.assert_allclose(ds["site-b_y_truth"].values, truth_b)


SITES_B = CONFIG[CONFIG.index('[[sites]]\nname = "site-b"'):CONFIG.index("[method]")]


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('[[sites.streams]]\nname = "y"\nvariable = "y"\nfile = "b_obs.csv"\n'
                         'std_column = "sigma"\n', ""),
     r"\[sites.1\] \[site-b\] at least one \[\[sites.streams\]\] table is required"),
    (lambda t: t.replace('site_specific = ["c"]', 'site_specific = ["c", "z"]'),
     r"\[parameters\] 'site_specific' names unknown parameter 'z'"),
    (lambda t: t.replace('name = "site-b"', 'name = "site-a"'),
     r"\[sites.1\] duplicate site name 'site-a' \(also \[sites.0\]\)"),
    (lambda t: t.replace('name = "site-b"', 'name = "site b"'),
     r"\[sites.1\] site name 'site b'"),
    (lambda t: t + TWIN.replace('"c@site-b"', '"c@site-x"'),
     r"\[twin\] 'c@site-x': there is no site 'site-x'; the sites are \['site-a', 'site-b'\]"),
    (lambda t: t + TWIN.replace('a = 1.2', '"a@site-a" = 1.2'),
     r"\[twin\] 'a@site-a': 'a' is shared by all sites"),
    (lambda t: t.replace('parameters = { c =', 'parameters = { a = { std = 3.0 }, c ='),
     r"\[sites.1\] \[site-b\] \[parameters.a\] 'a' is shared by all sites"),
    (lambda t: t.replace('parameters = { c =', 'parameters = { q = { std = 3.0 }, c ='),
     r"\[sites.1\] \[site-b\] \[parameters.q\] unknown parameter 'q'"),
    (lambda t: t.replace('std_column = "sigma"', 'std_column = "sigma"\ncolour = "red"'),
     r"\[sites.1\] \[site-b\] \[streams.0\] unknown key\(s\) \['colour'\]"),
    (lambda t: t.replace('file = "b_obs.csv"', 'file = "missing.csv"'),
     r"\[sites.1\] \[site-b\] \[streams.0\] \[y\] data file not found"),
    (lambda t: t + '\n[[streams]]\nname = "y"\nvariable = "y"\nstd = 1.0\n',
     r"\[streams\] a config with \[\[sites\]\] gives each site its own \[\[sites.streams\]\]"),
    (lambda t: t.replace('options = { matrix = [[2.0', 'options = { names = ["a", "b", "d"], '
                                                      'matrix = [[2.0'),
     r"\[sites.1\] \[site-b\] the model has parameters \['a', 'b', 'd'\]"),
    (lambda t: t + '\n[method.x0]\n"c@site-c" = 1.0\n',
     r"\[method\] 'c@site-c': there is no site 'site-c'"),
    (lambda t: t.replace("[[sites]]", "[[sites]]\ncolour = 1", 1),
     r"\[sites.0\] unknown key\(s\) \['colour'\]"),
    (lambda t: t.replace('file = "a_obs.csv"', 'file = "a_obs.csv"\noperator = "bias"'),
     r"\[sites\] site 'site-a': stream\(s\) \['y'\] have an operator with parameters"),
])
def test_config_errors_are_named(folder, edit, message):
    text = edit(CONFIG)
    assert text != CONFIG
    with pytest.raises(pdaframe.PdaframeError, match=message) as info:
        pdaframe.load_config(write(folder, text))
    assert str(info.value).startswith(str(folder / "multi.toml"))


def test_site_specific_needs_sites(folder):
    text = CONFIG[:CONFIG.index("[[sites]]")].replace("[parameters]", "[parameters]") + \
        '[[streams]]\nname = "y"\nvariable = "y"\nfile = "a_obs.csv"\nstd = 0.5\n'
    text = text.replace('options = { names = ["a", "b", "c"] }',
                        f'options = {{ names = ["a", "b", "c"], matrix = {H_A} }}')
    with pytest.raises(pdaframe.ConfigError, match=r"'site_specific' needs \[\[sites\]\]"):
        pdaframe.load_config(write(folder, text))


def test_fixed_site_specific_parameter_takes_the_site_value(folder):
    text = CONFIG.replace('site_specific = ["c"]', 'site_specific = ["c"]\nestimate = ["a", "b"]')
    problem, _ = pdaframe.load_config(write(folder, text))
    assert problem.parameter_names == ["a", "b"]
    assert problem.sites[0].model.fixed == {"c": 0.0}
    assert problem.sites[1].model.fixed == {"c": 2.0}


def test_held_out_data_per_site(folder):
    text = CONFIG.replace('[[sites]]\nname = "site-b"', '[[sites.evaluate]]\nname = "held"\n'
                          'variable = "y"\nfile = "a_obs.csv"\n\n[[sites]]\nname = "site-b"')
    problem, settings = pdaframe.load_config(write(folder, text))
    (held,) = settings.evaluate
    assert held.name == "site-a_held" and held.site == "site-a"
    result, paths = run_problem(problem, settings, folder / "res", progress=False)
    mean, _ = closed_form()
    rows = result.evaluation["site-a_held"]
    np.testing.assert_allclose(rows["posterior"]["equivalent"], np.array(H_A) @ mean[:3],
                               rtol=1e-6)
    assert rows["posterior"]["rmse"] < rows["prior"]["rmse"]
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert ds["site-a_held_posterior"].attrs["rmse"] == pytest.approx(
            rows["posterior"]["rmse"])
        assert ds["site-a_held_posterior"].attrs["site"] == "site-a"


class CountingExecutor:
    size, rank = 1, 0

    def __init__(self):
        self.calls = 0

    def map(self, func, items):
        self.calls += 1
        return [func(item) for item in items]


def test_run_problem_spreads_sites_or_members_never_both(folder):
    problem, settings = pdaframe.load_config(write(folder, CONFIG))
    counting = CountingExecutor()
    run_problem(problem, settings, folder / "res", progress=False, executor=counting, write=False)
    assert problem.executor is counting and counting.calls > 10      # the sites

    seen = {}

    def ensemble(problem, x0=None, callback=None, executor=None, **options):
        seen["executor"] = executor                 # an ensemble method spreads members
        return pdaframe.minimise(problem, "lbfgsb", x0=x0, **options)

    problem, settings = pdaframe.load_config(write(folder, CONFIG))
    settings.method = ensemble
    counting = CountingExecutor()
    run_problem(problem, settings, folder / "res", progress=False, executor=counting, write=False)
    assert seen["executor"] is counting and counting.calls == 0
    assert problem.executor is not counting                      # sites serial in a member
