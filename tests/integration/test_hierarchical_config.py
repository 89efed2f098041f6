"""``[parameters.hierarchical]`` (pdaframe/config/hierarchical.py): the three linear sites of
test_mapping_config with ``c`` drawn per site from one group, run end to end to the
closed-form posterior (fixed spread: linear-Gaussian) and result.nc with readable names;
bad tables are named errors before any model run."""
import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.errors import ConfigError
from pdaframe.run import run_problem
from tests.integration.test_mapping_config import H, Y, config, folder, write  # noqa: F401

HIER = ('groups = { b = "pft" }\n[parameters.hierarchical]\nparameters = ["c"]\n'
        'sigma0 = 0.7\nmu_std = 2.0\nestimate_spread = false\n')


def closed_form():
    """x = (a, b@pft=tree, b@pft=grass, mu(c), eta(c)@s1..s3); c_k = mu + 0.7 eta_k."""
    rows, y = [], []
    for k, (s, h) in enumerate(H.items()):
        m = np.zeros((3, 7))
        m[0, 0] = 1.0
        m[1, 1 if s != "s2" else 2] = 1.0
        m[2, 3], m[2, 4 + k] = 1.0, 0.7
        rows.append(np.array(h) @ m)
        y += Y[s]
    G = np.vstack(rows)
    xb = np.array([1.0, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0])
    B = np.diag([1.0, 4.0, 4.0, 4.0, 1.0, 1.0, 1.0])
    A = np.linalg.inv(G.T @ G / 0.25 + np.linalg.inv(B))
    return xb + A @ G.T @ (np.array(y) - G @ xb) / 0.25, A


def test_hierarchical_config_end_to_end(folder):  # noqa: F811
    problem, settings = pdaframe.load_config(write(folder, config(parameters=HIER)))
    assert problem.parameter_names == ["a", "b@pft=tree", "b@pft=grass", "mu(c)", "eta(c)@s1",
                                       "eta(c)@s2", "eta(c)@s3"]
    assert problem.parameter_sites == ["", "", "", "", "s1", "s2", "s3"]
    result, paths = run_problem(problem, settings, folder / "res", progress=False)
    mean, cov = closed_form()
    np.testing.assert_allclose(result.x, mean, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(result.posterior_covariance, cov, rtol=1e-8, atol=1e-12)
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert list(ds.param.values) == problem.parameter_names
        np.testing.assert_allclose(ds.analysis.values, mean, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(problem.site_theta(result.x, "s3")[2],
                               result.x[3] + 0.7 * result.x[6], rtol=1e-14)


def test_estimated_spread_groups_and_several_sets(folder):  # noqa: F811
    text = config(parameters='[parameters.hierarchical]\nparameters = ["a", "c"]\n'
                             'sigma0 = { a = 0.2, c = 0.4 }\nlog_sigma_std = 0.3\n')
    problem, _ = pdaframe.load_config(write(folder, text))
    names = problem.parameter_names
    assert names[:5] == ["b", "mu(a)", "mu(c)", "log_sigma(a)", "log_sigma(c)"]
    i = names.index("log_sigma(c)")
    assert problem.prior.mean[i] == pytest.approx(np.log(0.4))
    assert problem.prior.std[i] == 0.3
    # by PFT (grass has one site: only with a fixed spread), two sets of options
    text = config(parameters='[[parameters.hierarchical]]\nparameters = ["c"]\ngroup = "pft"\n'
                             'estimate_spread = false\n[[parameters.hierarchical]]\n'
                             'parameters = ["a"]\nmu_std = 3.0\n')
    problem, _ = pdaframe.load_config(write(folder, text))
    names = problem.parameter_names
    assert names[:3] == ["b", "mu(c)@pft=tree", "mu(c)@pft=grass"]
    assert names[6:9] == ["mu(a)", "log_sigma(a)", "eta(a)@s1"]
    x = problem.prior.mean + 0.1 * np.arange(problem.n_param)
    s2 = problem.site_theta(x, "s2")
    assert s2[2] == pytest.approx(x[2] + 0.5 * x[names.index("eta(c)@s2")], rel=1e-14)
    assert problem.prior.std[6] == 3.0


BAD = [
    ('[parameters.hierarchical]\nparameters = ["c"]\ngroup = "pft"',
     r"group\(s\) pft=\['grass'\] has one site; a spread cannot be estimated"),
    ('[parameters.hierarchical]\nparameters = ["z"]', r"\['z'\] are not estimated parameters"),
    ('[parameters.hierarchical]\nparameters = ["c"]\nsigma = 1.0', r"unknown key\(s\) \['sigma'\]"),
    ('[parameters.hierarchical]\nparameters = ["c"]\nsigma0 = -1.0', r"sigma0: must be positive"),
    ('[parameters.hierarchical]\nparameters = ["c"]\nsigma0 = "big"', r"'sigma0' must be a number"),
    ('[parameters.hierarchical]\nparameters = ["c"]\ngroup = "soil"', r"no column 'soil'"),
    ('groups = { c = "pft" }\n[parameters.hierarchical]\nparameters = ["c"]',
     r"'c' is already groups"),
    ('[parameters.hierarchical]\nparameters = []', r"'parameters' must list parameter names"),
]


@pytest.mark.parametrize("parameters, message", BAD)
def test_bad_hierarchical_table_is_a_named_error(folder, parameters, message):  # noqa: F811
    with pytest.raises(ConfigError, match=message) as err:
        pdaframe.load_config(write(folder, config(parameters=parameters)), run_model=False)
    assert "map.toml" in str(err.value) and "hierarchical" in str(err.value)
