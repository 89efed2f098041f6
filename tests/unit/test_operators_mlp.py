"""The MLP observation operator: training, file round trip, derivatives and bad input."""
import numpy as np
import pytest

from pdaframe.errors import ConfigError, DataError
from pdaframe.observations.operators import FACTORIES, MLP, MLPOperator
from pdaframe.observations.operators.mlp import file_sha256
from pdaframe.observations.operators.mlp_train import train_mlp
from pdaframe.testing import operator_dot_product_test
from tests.unit.test_operators_common import check_operator

NOISE = 0.05


def truth(gpp, lai):
    """The synthetic 'true' SIF relation (nonlinear in both inputs)."""
    return 0.15 * gpp * (1.0 - np.exp(-0.5 * lai))


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    rng = np.random.default_rng(16)
    g, lai = rng.uniform(0.0, 12.0, 600), rng.uniform(0.2, 5.0, 600)
    sif = truth(g, lai) + NOISE * rng.standard_normal(600)
    path = tmp_path_factory.mktemp("mlp") / "pairs.csv"
    np.savetxt(path, np.c_[g, lai, sif], delimiter=",", header="gpp,lai,sif", comments="")
    return path


@pytest.fixture(scope="module")
def net(pairs):
    return train_mlp(pairs, ["gpp", "lai"], "sif", hidden=[8], seed=3)


OUT = {"gpp": np.array([1.0, 5.0, 8.0, 3.0, 11.0]), "lai": np.array([1.0, 2.0, 4.0, 3.0, 0.5])}


def test_training_learns_the_relation(net, pairs):
    info = net.info
    assert (info["n_train"], info["n_validation"]) == (480, 120)
    # held-out error at the noise level, and far below the spread of SIF
    assert 0.8 * NOISE < info["validation_rmse"] < 1.3 * NOISE
    assert info["validation_r2"] > 0.98
    assert info["sha256"] == file_sha256(pairs) and len(info["sha256"]) == 64
    pred = net.predict(np.c_[OUT["gpp"], OUT["lai"]])
    np.testing.assert_allclose(pred, truth(OUT["gpp"], OUT["lai"]), atol=0.06)


def test_save_load_round_trip(net, tmp_path):
    path = net.save(tmp_path / "sif_mlp.npz")
    with np.load(path, allow_pickle=False) as z:          # no pickled objects in the file
        assert list(z["inputs"]) == ["gpp", "lai"] and str(z["target"]) == "sif"
    back = MLP.load(path)
    x = np.c_[OUT["gpp"], OUT["lai"]]
    np.testing.assert_array_equal(back.predict(x), net.predict(x))
    assert back.info == net.info and back.inputs == ("gpp", "lai")
    op = FACTORIES["mlp"]("sif", times=[0, 4, 4], file=str(path))
    np.testing.assert_array_equal(op.apply(OUT), net.predict(x[[0, 4, 4]]))


@pytest.mark.parametrize("times", [None, [0, 3, 3, 1]])
@pytest.mark.filterwarnings("ignore:.*outside the training range")
def test_taylor_and_dot_product(net, times):
    op = MLPOperator(net, times=times)
    mism = check_operator(op, OUT, first_step=0.5)
    assert max(mism) <= 1e-12
    adj = op.adjoint(OUT, np.ones(len(times) if times else 5))
    assert sorted(adj) == ["gpp", "lai"] and adj["gpp"].shape == (5,)


def test_one_input_operator(pairs):
    op = FACTORIES["mlp"]("sif", train_file=str(pairs), inputs=["gpp"], hidden=[4, 4], seed=0)
    assert op.inputs == ("gpp",) and len(op.net.weights) == 3
    check_operator(op, {"gpp": OUT["gpp"]}, first_step=0.5)


def test_a_wrong_adjoint_fails_the_dot_product(net):
    class Broken(MLPOperator):            # forgets tanh' in the adjoint
        def adjoint(self, outputs, d_obs):
            x = self._x(outputs)
            g = (self.net.y_std * np.asarray(d_obs).reshape(-1, 1))
            for w in reversed(self.net.weights):
                g = g @ w.T
            g = g / self.net.x_std
            return {n: g[:, j] for j, n in enumerate(self.inputs)}
    with pytest.raises(AssertionError, match="relative mismatch"):
        operator_dot_product_test(Broken(net), OUT, rng=0)


def test_nan_in_training_data(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("gpp,lai,sif\n1,2,0.1\n2,NaN,0.3\n3,1,0.2\n")
    with pytest.raises(DataError, match=r"pairs.csv: training data column 'lai' is missing "
                                        r"\(NaN\) at line 3"):
        train_mlp(path, ["gpp", "lai"], "sif")


def test_input_names_differ_from_the_file(net, tmp_path):
    path = net.save(tmp_path / "m.npz")
    with pytest.raises(ConfigError, match=r"inputs \['lai', 'gpp'\] differ from the input names "
                                          r"\['gpp', 'lai'\]"):
        FACTORIES["mlp"]("sif", file=str(path), inputs=["lai", "gpp"])
    FACTORIES["mlp"]("sif", file=str(path), inputs=["gpp", "lai"])      # same: accepted


def test_bad_factory_options(pairs, tmp_path):
    with pytest.raises(ConfigError, match="exactly one of 'file'"):
        FACTORIES["mlp"]("sif")
    with pytest.raises(ConfigError, match="'train_file' needs 'inputs'"):
        FACTORIES["mlp"]("sif", train_file=str(pairs))
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['hiden'\]; training takes"):
        FACTORIES["mlp"]("sif", train_file=str(pairs), inputs=["gpp"], hiden=[3])
    with pytest.raises(ConfigError, match=r"options \['hidden'\] only go with 'train_file'"):
        FACTORIES["mlp"]("sif", file="x.npz", hidden=[3])
    with pytest.raises(DataError, match=r"file not found \(expected an MLP operator file\)"):
        FACTORIES["mlp"]("sif", file=str(tmp_path / "none.npz"))
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(DataError, match="not an MLP operator file"):
        MLP.load(tmp_path / "other.npz")
    with pytest.raises(DataError, match=r"missing column\(s\) \['fapar'\]"):
        train_mlp(pairs, ["gpp", "fapar"], "sif")


def test_outside_the_training_range_warns_with_distance(net):
    op = MLPOperator(net, variable="sif")
    with pytest.warns(UserWarning) as rec:
        op.apply({"gpp": np.array([5.0]), "lai": np.array([2.0])})   # inside: no warning
        op.apply({"gpp": np.array([5.0]), "lai": np.array([2.0 + 5 * net.x_std[1]])})
    assert len(rec) == 1
    expected = (2.0 + 5 * net.x_std[1] - net.x_max[1]) / net.x_std[1]
    assert f"inputs {expected:.3g} training standard deviations outside" in str(rec[0].message)
    assert net.outside(np.array([[5.0, 2.0]])) == 0.0
