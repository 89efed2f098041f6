"""Parameter mapping from a config ([parameters] site_table, groups, scaled, site_defaults):
linear sites in two PFTs run end to end to the closed-form posterior and result.nc, and each
bad input is a named error before any model run."""
import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.cli import main
from pdaframe.errors import ConfigError, DataError
from pdaframe.run import run_problem

H = {"s1": [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]],
     "s2": [[2.0, 0.0, 1.0], [0.0, 1.0, -1.0], [1.0, -1.0, 0.5]],
     "s3": [[0.5, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, 2.0, 0.5]]}
Y = {"s1": [2.1, 1.4, 1.6], "s2": [1.9, -0.3, 0.2], "s3": [0.7, 1.1, 2.5]}
TABLE = "site,pft,lat,lon,cdef\ns1,tree,45,5,0.5\ns2,grass,46,6,1.5\ns3,tree,47,7,-0.5\n"


def linear_sites(h, parameters, extra="", title="Linear sites, groups and a scaling"):
    """A multi-site config of linear models ``y = H_k (a, b, c)``, one [[sites]] per ``h``
    entry (observations in ``<site>.csv``, the table ``sites.csv``: `write_sites`)."""
    sites = "".join(f"""
[[sites]]
name = "{s}"
options = {{ matrix = {m} }}

[[sites.streams]]
name = "y"
variable = "y"
file = "{s}.csv"
std = 0.5
""" for s, m in h.items())
    return f"""
title = "{title}"
seed = 4

[model]
name = "linear"
options = {{ names = ["a", "b", "c"] }}

[parameters]
site_table = "sites.csv"
a = {{ mean = 1.0, std = 1.0 }}
b = {{ mean = 0.5, std = 2.0 }}
c = {{ mean = 1.0, std = 1.0 }}
{parameters}
{sites}
{extra}
[method]
name = "lbfgsb"
options = {{ ftol = 1e-15, gtol = 1e-12 }}

[output]
directory = "out"
"""


def write_sites(folder, y, table):
    """The sites' observation files (from ``y``) and ``sites.csv`` in ``folder``."""
    for s, values in y.items():
        (folder / f"{s}.csv").write_text("time,y\n" + "".join(f"{i},{v}\n"
                                                               for i, v in enumerate(values)))
    (folder / "sites.csv").write_text(table)
    return folder


def config(extra="", parameters='groups = { b = "pft" }\nscaled = ["c"]\n'
           'scale_lower = -inf\nsite_defaults = { c = "cdef" }'):
    return linear_sites(H, parameters, extra)


@pytest.fixture
def folder(tmp_path):
    return write_sites(tmp_path, Y, TABLE)


def write(folder, text, name="map.toml"):
    (folder / name).write_text(text)
    return folder / name


def closed_form():
    """x = (a, b@pft=tree, b@pft=grass, scale(c)); theta_k = (a, b_g(k), scale * cdef_k)."""
    cdef = {"s1": 0.5, "s2": 1.5, "s3": -0.5}
    rows, y = [], []
    for s, h in H.items():
        m = np.zeros((3, 4))
        m[0, 0] = 1.0
        m[1, 1 if s != "s2" else 2] = 1.0
        m[2, 3] = cdef[s]
        rows.append(np.array(h) @ m)
        y += Y[s]
    G = np.vstack(rows)
    xb, B = np.array([1.0, 0.5, 0.5, 1.0]), np.diag([1.0, 4.0, 4.0, 0.0625])
    A = np.linalg.inv(G.T @ G / 0.25 + np.linalg.inv(B))
    return xb + A @ G.T @ (np.array(y) - G @ xb) / 0.25, A


def test_groups_scaling_and_site_defaults_end_to_end(folder, capsys):
    problem, settings = pdaframe.load_config(write(folder, config()))
    assert problem.parameter_names == ["a", "b@pft=tree", "b@pft=grass", "scale(c)"]
    assert problem.parameter_sites == ["", "", "", ""]
    np.testing.assert_array_equal(problem.prior.std, [1.0, 2.0, 2.0, 0.25])
    result, paths = run_problem(problem, settings, folder / "res", progress=False)
    mean, cov = closed_form()
    np.testing.assert_allclose(result.x, mean, rtol=1e-7)
    np.testing.assert_allclose(result.posterior_covariance, cov, rtol=1e-8)
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert list(ds.param.values) == problem.parameter_names
        np.testing.assert_allclose(ds.analysis.values, mean, rtol=1e-7)
    np.testing.assert_allclose(problem.site_theta(result.x, "s2"),
                               [result.x[0], result.x[2], 1.5 * result.x[3]], rtol=1e-15)
    assert main(["check", str(folder / "map.toml")]) == 0
    assert "4 parameters estimated (a, b@pft=tree, b@pft=grass, scale(c))" in \
        capsys.readouterr().out


def test_twin_truth_names_group_copies(folder):
    text = config('[twin]\nseed = 2\ntruth = { a = 1.2, "b@pft=grass" = 2.0, '
                  '"scale(c)" = 1.3 }\n')
    problem, settings = pdaframe.load_config(write(folder, text))
    np.testing.assert_array_equal(settings.truth, [1.2, 0.5, 2.0, 1.3])
    bare = config('[twin]\nseed = 2\ntruth = { b = 3.0 }\n')
    _, settings = pdaframe.load_config(write(folder, bare))
    np.testing.assert_array_equal(settings.truth, [1.0, 3.0, 3.0, 1.0])
    bad = config('[twin]\nseed = 2\ntruth = { "b@pft=crop" = 2.0 }\n')
    with pytest.raises(ConfigError, match=r"'b@pft=crop': no such group copy; the estimated "
                                          r"copies of 'b' are \['b@pft=tree', 'b@pft=grass'\]"):
        pdaframe.load_config(write(folder, bad))


BAD = [
    ('groups = { b = "soil" }', r"\[parameters\].*no column 'soil'"),
    ('groups = { d = "pft" }', r"\[parameters\] \[groups.d\] 'd' is not an estimated"),
    ('groups = { b = "pft" }\nscaled = ["b"]', r"\[scaled.b\] 'b' is already groups"),
    ('site_specific = ["b"]\ngroups = { b = "pft" }', r"'b' is already site-specific"),
    ('groups = { b = 3 }', r"expected a site-table column name"),
    ('scaled = ["c"]\nscale_std = -1.0', r"need std > 0"),
    ('site_defaults = { c = "pft" }', r"column 'pft' is text"),
    ('site_defaults = { c = "nope" }', r"no column 'nope'"),
    ('site_table_extra = "maybe"', r"site_table_extra must be"),
]


@pytest.mark.parametrize("parameters, message", BAD)
def test_bad_mapping_is_a_named_error(folder, parameters, message):
    with pytest.raises(ConfigError, match=message) as err:
        pdaframe.load_config(write(folder, config(parameters=parameters)), run_model=False)
    assert "map.toml" in str(err.value)


def test_site_table_and_sites_must_match(folder):
    (folder / "sites.csv").write_text(TABLE + "s4,grass,48,8,1.0\n")
    with pytest.raises(ConfigError, match=r"site\(s\) \['s4'\] have no \[\[sites\]\] table"):
        pdaframe.load_config(write(folder, config()))
    text = config().replace('site_table = "sites.csv"',
                            'site_table = "sites.csv"\nsite_table_extra = "ignore"')
    assert pdaframe.load_config(write(folder, text))[0].n_param == 4
    (folder / "sites.csv").write_text(TABLE.replace("s3,tree,47,7,-0.5\n", ""))
    with pytest.raises(ConfigError, match=r"\[\[sites\]\] \['s3'\] are not in the table"):
        pdaframe.load_config(write(folder, config()))
    (folder / "sites.csv").write_text(TABLE.replace("47,7,-0.5", "47,7,nan"))
    with pytest.raises(DataError, match="line 4, column 'cdef': missing value"):
        pdaframe.load_config(write(folder, config()))
    with pytest.raises(ConfigError, match="'groups' needs \\[\\[sites\\]\\]"):
        pdaframe.load_config(write(folder, '[model]\nname = "linear"\noptions = { names = '
                                           '["a"], matrix = [[1.0]] }\n[parameters]\n'
                                           'groups = { a = "pft" }\n[[streams]]\nname = "y"\n'
                                           'variable = "y"\nfile = "s1.csv"\nstd = 1.0\n'
                                           '[method]\nname = "lbfgsb"\n'))


def test_per_site_values_of_a_fixed_parameter(folder):
    text = config(parameters='groups = { b = "pft" }').replace(
        'options = { matrix = [[2.0', 'parameters = { c = { mean = 4.0 } }\n'
        'options = { matrix = [[2.0').replace('site_table = "sites.csv"',
                                             'site_table = "sites.csv"\nestimate = ["a", "b"]')
    problem, _ = pdaframe.load_config(write(folder, text))
    x = problem.prior.mean
    # c is fixed: 1.0 at s1 and s3, the site's own 4.0 at s2
    obs = problem.equivalents(x)
    np.testing.assert_allclose(obs["s2_y"], np.array(H["s2"]) @ [1.0, 0.5, 4.0])
    np.testing.assert_allclose(obs["s1_y"], np.array(H["s1"]) @ [1.0, 0.5, 1.0])
    shared = text.replace("parameters = { c = { mean = 4.0 } }", "parameters = { a = "
                                                                 "{ mean = 4.0 } }")
    with pytest.raises(ConfigError, match="'a' is shared by all sites"):
        pdaframe.load_config(write(folder, shared))
