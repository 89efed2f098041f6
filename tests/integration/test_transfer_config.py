"""``[[parameters.transfer]]`` (pdaframe.config.transfer): four linear sites whose parameters a
and b are a linear transfer function of two site attributes, run end to end to the
closed-form posterior and result.nc; an MLP's weights by name; each bad input a named error
before any model run."""
import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.cli import main
from pdaframe.errors import ConfigError, DataError
from pdaframe.run import run_problem
from tests.integration.test_mapping_config import linear_sites, write_sites

H = {"s1": [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]],
     "s2": [[2.0, 0.0, 1.0], [0.0, 1.0, -1.0], [1.0, -1.0, 0.5]],
     "s3": [[0.5, 1.0, 1.0], [1.0, 0.0, -1.0], [1.0, 2.0, 0.5]],
     "s4": [[1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [0.0, 2.0, 1.0]]}
Y = {"s1": [2.1, 1.4, 1.6], "s2": [1.9, -0.3, 0.2], "s3": [0.7, 1.1, 2.5],
     "s4": [2.9, 0.3, 2.2]}
TABLE = ("site,pft,lat,elev,flat\ns1,tree,45,100,1\ns2,grass,46,700,1\ns3,tree,49,300,1\n"
         "s4,grass,44,400,1\n")
TRANSFER = ('[[parameters.transfer]]\nname = "tf"\ninputs = ["lat", "elev"]\n'
            'outputs = ["a", "b"]\nweight_std = 0.5\n')


def config(transfer=TRANSFER, parameters=""):
    return linear_sites(H, f"{parameters}\n{transfer}",
                        title="Linear sites, a transfer function")


@pytest.fixture
def folder(tmp_path):
    return write_sites(tmp_path, Y, TABLE)


def write(folder, text, name="tf.toml"):
    (folder / name).write_text(text)
    return folder / name


NAMES = ["c", "tf.W1[a,lat]", "tf.W1[a,elev]", "tf.W1[b,lat]", "tf.W1[b,elev]", "tf.b1[a]",
         "tf.b1[b]"]


def closed_form():
    """x = (c, W, bias): theta_k = (1 + W[a] z_k + b_a, 0.5 + W[b] z_k + b_b, c), linear in x
    (identity transforms), z_k the standardised attributes."""
    lat, elev = np.array([45.0, 46.0, 49.0, 44.0]), np.array([100.0, 700.0, 300.0, 400.0])
    z = np.column_stack([(lat - lat.mean()) / lat.std(), (elev - elev.mean()) / elev.std()])
    rows, y, offset = [], [], []
    for k, (s, h) in enumerate(H.items()):
        m = np.zeros((3, 7))
        m[0, 1:3], m[0, 5] = z[k], 1.0
        m[1, 3:5], m[1, 6] = z[k], 1.0
        m[2, 0] = 1.0
        rows.append(np.array(h) @ m)
        offset.append(np.array(h) @ [1.0, 0.5, 0.0])
        y += Y[s]
    G, d = np.vstack(rows), np.array(y) - np.concatenate(offset)
    xb, B = np.array([1.0, 0, 0, 0, 0, 0, 0]), np.diag([1.0] + [0.25] * 6)
    A = np.linalg.inv(G.T @ G / 0.25 + np.linalg.inv(B))
    return xb + A @ G.T @ (d - G @ xb) / 0.25, A


def test_linear_transfer_function_end_to_end(folder, capsys):
    problem, settings = pdaframe.load_config(write(folder, config()))
    assert problem.parameter_names == NAMES
    np.testing.assert_array_equal(problem.prior.std, [1.0] + [0.5] * 6)
    np.testing.assert_array_equal(problem.prior.mean, [1.0] + [0.0] * 6)
    result, paths = run_problem(problem, settings, folder / "res", progress=False)
    mean, cov = closed_form()
    np.testing.assert_allclose(result.x, mean, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(result.posterior_covariance, cov, rtol=1e-7, atol=1e-12)
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert list(ds.param.values) == NAMES
        assert "weight of elev in b" in str(ds.param_long_name.values[4])
        np.testing.assert_allclose(ds.analysis.values, mean, rtol=1e-7, atol=1e-9)
    assert main(["check", str(folder / "tf.toml")]) == 0
    assert "7 parameters estimated (c, tf.W1[a,lat]" in capsys.readouterr().out


def test_mlp_weights_and_their_prior(folder):
    transfer = ('[[parameters.transfer]]\nkind = "mlp"\ninputs = ["lat", "elev"]\n'
                'outputs = ["b"]\nseed = 3\n')
    problem, _ = pdaframe.load_config(write(folder, config(transfer)))
    names = problem.parameter_names
    assert len(names) == 2 + (2 * 8 + 8) + (8 + 1)          # a, c shared; hidden = [8]
    assert names[:4] == ["a", "c", "tf1.W1[h0,lat]", "tf1.W1[h0,elev]"]
    assert names[-2:] == ["tf1.W2[b,h7]", "tf1.b2[b]"]
    hidden = problem.prior.mean[2:2 + 16]
    assert np.all(hidden != 0) and np.all(np.abs(hidden) <= np.sqrt(6 / 10))
    assert np.all(problem.prior.mean[-9:] == 0) and np.all(problem.prior.std[2:] == 1.0)
    x = problem.prior.mean
    np.testing.assert_allclose(problem.site_theta(x, "s3"), [1.0, 0.5, 1.0], rtol=1e-15)
    pdaframe.testing.check_gradient(problem, x + 0.3)


BAD = [
    (TRANSFER.replace('"elev"]', '"nope"]'), ConfigError,
     r"\[parameters.transfer.0\] transfer function 'tf': .*no column 'nope'"),
    (TRANSFER.replace('"elev"]', '"flat"]'), ConfigError, r"'flat' of .*sites.csv is constant"),
    (TRANSFER.replace('"elev"]', '"pft"]'), ConfigError, r"'pft' of .*sites.csv is text"),
    (TRANSFER.replace('["a", "b"]', '["a", "d"]'), ConfigError,
     r"\[parameters.transfer.0\] output 'd' is not an estimated model parameter"),
    (TRANSFER.replace('["lat", "elev"]', "[]"), ConfigError,
     r"\[parameters.transfer.0\] 'inputs' must be a non-empty list"),
    (TRANSFER.replace('["a", "b"]', "[]"), ConfigError,
     r"\[parameters.transfer.0\] 'outputs' must be a non-empty list"),
    (TRANSFER + 'kind = "mlp"\nhidden = [4, 0]\n', ConfigError,
     r"\[parameters.transfer.0\] transfer function 'tf': hidden must be a list of layer "
     r"sizes >= 1"),
    (TRANSFER + 'hidden = [4]\n', ConfigError, r"has no hidden layers"),
    (TRANSFER + 'kind = "cnn"\n', ConfigError, r"kind 'cnn' unknown"),
    (TRANSFER.replace("weight_std = 0.5", "weight_std = -1.0"), ConfigError,
     r"weight_std must be a number > 0"),
    (TRANSFER + "layers = 3\n", ConfigError, r"\[parameters.transfer.0\] unknown key\(s\) "
                                             r"\['layers'\]"),
    (TRANSFER + TRANSFER.replace('["a", "b"]', '["c"]'), ConfigError,
     r"\[parameters.transfer.1\] name 'tf' is also that of another transfer function"),
    (TRANSFER + TRANSFER.replace('"tf"', '"tg"').replace('["a", "b"]', '["b"]'),
     ConfigError, r"\[parameters.transfer.1\] output 'b' is also an output of "
                  r"\[parameters.transfer.0\]"),
    ('[parameters.transfer]\ninputs = ["lat"]\n', ConfigError,
     r"'transfer' must be an array of tables"),
]


@pytest.mark.parametrize("transfer, cls, message", BAD)
def test_bad_transfer_is_a_named_error(folder, transfer, cls, message):
    with pytest.raises(cls, match=message) as err:
        pdaframe.load_config(write(folder, config(transfer)), run_model=False)
    assert "tf.toml" in str(err.value)


@pytest.mark.parametrize("parameters, message", [
    ('groups = { b = "pft" }', r"\[parameters\] \[transfer\] 'b' is already groups"),
    ('site_specific = ["a"]', r"'a' is already site-specific"),
    ('scaled = ["a"]', r"'a' is already scaled"),
    ('estimate = ["a", "c"]', r"output 'b' is not an estimated model parameter; the "
                              r"estimated ones are \['a', 'c'\]"),
])
def test_outputs_owned_by_another_rule(folder, parameters, message):
    with pytest.raises(ConfigError, match=message):
        pdaframe.load_config(write(folder, config(parameters=parameters)), run_model=False)


def test_no_table_and_nan_attributes(folder):
    with pytest.raises(ConfigError, match="needs a site attribute table"):
        pdaframe.load_config(write(folder, config().replace('site_table = "sites.csv"', "")),
                             run_model=False)
    (folder / "sites.csv").write_text(TABLE.replace("49,300", "49,nan"))
    with pytest.raises(DataError, match="line 4, column 'elev': missing value"):
        pdaframe.load_config(write(folder, config()), run_model=False)
