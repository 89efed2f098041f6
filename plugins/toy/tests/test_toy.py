"""Tests of the toy-carbon plugin: values, derivatives, driver files and discovery.

Run after ``pip install -e plugins/toy`` (discovery needs the installed entry point).
"""
import numpy as np
import pytest

import pdaframe
from pdaframe.plugin import check_model
from pdaframe_toy import ToyCarbon
from pdaframe_toy.model import seasonal_drivers

NAMES = ("eps", "k_fast", "k_slow", "h", "q10", "c_fast0", "c_slow0")
DEFAULTS = np.array([1.2, 0.02, 0.0005, 0.005, 2.0, 300.0, 8000.0])
STD = np.array([0.3, 0.005, 0.0002, 0.002, 0.4, 100.0, 2000.0])


def write_csv(path, text):
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def model():
    return ToyCarbon()


# --- parameter table and forward model --------------------------------------------------------
def test_parameter_table(model):
    assert model.parameter_names == NAMES
    np.testing.assert_array_equal([p.default for p in model.parameters], DEFAULTS)
    np.testing.assert_array_equal([p.std for p in model.parameters], STD)
    for p in model.parameters:          # defaults inside bounds, units: test_conformance.py
        assert p.long_name, p.name
    assert [p.lower for p in model.parameters] == [0, 0, 0, 0, 1, 0, 0]
    assert [p.upper for p in model.parameters] == [5, 0.5, 0.05, 0.1, 5, 5000, 50000]


def test_outputs_shapes_units_and_carbon_balance(model):
    out = model.run(DEFAULTS)
    assert set(out) == set(model.output_units) == {"gpp", "respiration", "nee", "c_fast",
                                                   "c_slow"}
    for name, value in out.items():
        assert value.shape == (730,), name
        assert np.all(np.isfinite(value)), name
    np.testing.assert_allclose(out["nee"], out["respiration"] - out["gpp"], atol=1e-12)
    # the pools change by uptake minus release: d(F + S) = gpp - respiration = -nee
    total = np.concatenate([[DEFAULTS[5] + DEFAULTS[6]], out["c_fast"] + out["c_slow"]])
    np.testing.assert_allclose(np.diff(total), -out["nee"], rtol=0, atol=1e-8)


def test_two_days_by_hand(tmp_path):
    # day 0: T = 15 so tf = 1; day 1: T = 25 so tf = q10 = 2
    path = write_csv(tmp_path / "drivers.csv", "par,temperature\n10,15\n5,25\n")
    out = ToyCarbon(drivers_file=path).run(DEFAULTS)
    # day 0: g = 1.2*10 = 12; rf = 0.02*300 = 6; rs = 0.0005*8000 = 4; h F = 1.5
    #   F' = 300 + 12 - 6 - 1.5 = 304.5; S' = 8000 + 1.5 - 4 = 7997.5
    # day 1: g = 6; rf = 0.02*2*304.5 = 12.18; rs = 0.0005*2*7997.5 = 7.9975; h F = 1.5225
    #   F' = 304.5 + 6 - 12.18 - 1.5225 = 296.7975; S' = 7997.5 + 1.5225 - 7.9975 = 7991.025
    expected = {"gpp": [12.0, 6.0], "respiration": [10.0, 20.1775], "nee": [-2.0, 14.1775],
                "c_fast": [304.5, 296.7975], "c_slow": [7997.5, 7991.025]}
    for name, values in expected.items():
        np.testing.assert_allclose(out[name], values, rtol=1e-13, err_msg=name)


def test_seasonal_drivers():
    par, temperature = seasonal_drivers(730)
    assert par.shape == temperature.shape == (730,)
    np.testing.assert_allclose(par[[80, 445]], 10.0, atol=1e-12)          # rising zero crossing
    np.testing.assert_allclose(temperature[[110, 475]], 10.0, atol=1e-12)
    np.testing.assert_allclose(par[0], 10 + 8 * np.sin(2 * np.pi * -80 / 365), rtol=1e-14)
    assert 2.0 - 1e-9 <= par.min() and par.max() <= 18.0 + 1e-9
    assert 0.0 - 1e-9 <= temperature.min() and temperature.max() <= 20.0 + 1e-9
    assert ToyCarbon(n_days=12).run(DEFAULTS)["gpp"].shape == (12,)


# --- derivatives (at the defaults: test_conformance.py) --------------------------------------
POINTS = {
    "productive": np.array([2.0, 0.05, 0.002, 0.01, 3.0, 800.0, 15000.0]),
    # q10 near its lower bound, the rates and pools near their upper bounds
    "near-bounds": np.array([4.8, 0.45, 0.045, 0.09, 1.05, 4500.0, 45000.0]),
}


@pytest.mark.parametrize("point", POINTS)
def test_check_model(model, point):
    report = check_model(model, POINTS[point], scale=STD, rng=0)
    assert set(report["taylor"]) == {"gpp", "respiration", "nee", "c_fast", "c_slow"}
    for name, rep in report["taylor"].items():
        assert rep.passed and rep.decades >= 4.0, f"{name}: {rep}"
    assert report["dot_product"] <= 1e-12


class _WrongTangent(ToyCarbon):
    def tangent(self, theta, dtheta):
        return super().tangent(theta, np.asarray(dtheta) * [1, 1, 1, 1, 0, 1, 1])  # drops q10


class _WrongAdjoint(ToyCarbon):
    def adjoint(self, theta, d_outputs):
        return super().adjoint(theta, d_outputs) * [1, 1, 1, 1, 1, 1, 0.999]


@pytest.mark.parametrize("cls, message", [(_WrongTangent, "Taylor test: FAILED"),
                                          (_WrongAdjoint, "dot-product")])
def test_check_model_catches_wrong_derivatives(cls, message):
    with pytest.raises(AssertionError, match=message):
        check_model(cls(n_days=60), DEFAULTS, scale=STD, rng=0)


def test_adjoint_missing_outputs_are_zero(model):
    rng = np.random.default_rng(1)
    d_nee = rng.standard_normal(730)
    zeros = {k: np.zeros(730) for k in ("gpp", "respiration", "c_fast", "c_slow")}
    np.testing.assert_array_equal(model.adjoint(DEFAULTS, {"nee": d_nee}),
                                  model.adjoint(DEFAULTS, {"nee": d_nee, **zeros}))
    np.testing.assert_array_equal(model.adjoint(DEFAULTS, {}), np.zeros(7))
    assert model.adjoint(DEFAULTS, {}).shape == (7,)


def test_adjoint_matches_tangent_columns(model):
    # the full Jacobian of c_slow at the last day, both ways
    e = np.zeros(730)
    e[-1] = 1.0
    grad = model.adjoint(DEFAULTS, {"c_slow": e})
    columns = [model.tangent(DEFAULTS, np.eye(7)[i])["c_slow"][-1] for i in range(7)]
    np.testing.assert_allclose(grad, columns, rtol=1e-12)


def test_adjoint_rejects_unknown_output(model):
    with pytest.raises(pdaframe.ModelError, match="unknown output.*'NEE'"):
        model.adjoint(DEFAULTS, {"NEE": np.ones(730)})


# --- model errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("theta", [DEFAULTS[:6], np.append(DEFAULTS, 1.0), DEFAULTS[None, :]])
def test_wrong_theta_length(model, theta):
    with pytest.raises(pdaframe.ModelError, match="theta needs 7 values"):
        model.run(theta)


def test_non_finite_theta(model):
    theta = DEFAULTS.copy()
    theta[3] = np.nan
    with pytest.raises(pdaframe.ModelError, match="'h' is nan"):
        model.run(theta)


@pytest.mark.parametrize("change, pool", [
    ({0: -5.0, 5: 5.0}, "fast pool is -"),       # negative GPP empties a small fast pool
    ({3: -0.01, 6: 0.0}, "slow pool is -"),      # negative transfer from an empty slow pool
    ({1: 1e308, 4: 5.0}, "fast pool is -inf"),   # absurd turnover: non-finite
])
def test_pool_going_negative_names_pool_and_day(model, change, pool):
    theta = DEFAULTS.copy()
    theta[list(change)] = list(change.values())
    with pytest.raises(pdaframe.ModelError, match=f"{pool}.* day 0 ") as info:
        model.run(theta)
    np.testing.assert_array_equal(info.value.theta, theta)


# --- driver files ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("par,temp\n10,15\n", r"missing column\(s\) \['temperature'\]"),
    ("temperature\n10\n", r"missing column\(s\) \['par'\]"),
    ("par,temperature\n10,15\n,20\n", "column 'par' is missing or not a finite number in "
                                      "data row 2"),
    ("par,temperature\n10,15\n8,nan\n", "column 'temperature' .* data row 2"),
    ("par,temperature\n10,15\n8,warm\n", "line 3, column 'temperature': expected a number"),
    ("par,temperature\n10,15\n8,20,3\n", "line 3: 3 fields, the header has 2"),
    ("par,temperature\n-1,15\n", "column 'par' is negative .* data row 1"),
    ("par,temperature\n", "no data rows"),
    ("", "empty"),
])
def test_bad_driver_files(tmp_path, text, expected):
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(pdaframe.DataError, match=expected) as info:
        ToyCarbon(drivers_file=path)
    assert str(path) in str(info.value)


def test_missing_driver_file(tmp_path):
    with pytest.raises(pdaframe.DataError, match="not found: .*nowhere.csv"):
        ToyCarbon(drivers_file=tmp_path / "nowhere.csv")


def test_driver_file_of_wrong_length(tmp_path):
    path = write_csv(tmp_path / "drivers.csv", "par,temperature\n10,15\n5,25\n")
    assert ToyCarbon(drivers_file=path, n_days=2).n_days == 2
    with pytest.raises(pdaframe.DataError, match=r"drivers.csv.*2 data rows, but n_days=3"):
        ToyCarbon(drivers_file=path, n_days=3)


@pytest.mark.parametrize("n_days", [0, -3, 2.5, "10", True])
def test_bad_n_days(n_days):
    with pytest.raises(pdaframe.ConfigError, match="n_days must be a positive integer"):
        ToyCarbon(n_days=n_days)


# --- plugin discovery (needs ``pip install -e plugins/toy``) -----------------------------------
def test_get_model_finds_the_plugin(monkeypatch):
    monkeypatch.delenv("PDAFRAME_DISABLE_PLUGINS", raising=False)
    model = pdaframe.get_model("toy-carbon", n_days=30)
    assert isinstance(model, ToyCarbon) and model.n_days == 30


def test_describe_lists_the_distribution(monkeypatch):
    monkeypatch.delenv("PDAFRAME_DISABLE_PLUGINS", raising=False)
    rows = {row["name"]: row for row in pdaframe.get_plugins().describe()}
    assert rows["toy"]["distribution"] == "pdaframe-toy"
    assert rows["toy"]["version"] == "0.1.0"
    assert rows["toy"]["provides"] == {"model": ["toy-carbon"]}
    assert "toy-carbon" not in rows["pdaframe"]["provides"]["model"]


def test_plugin_can_be_disabled(monkeypatch):
    monkeypatch.setenv("PDAFRAME_DISABLE_PLUGINS", "toy")
    with pytest.raises(pdaframe.PluginError, match="unknown model 'toy-carbon'"):
        pdaframe.get_model("toy-carbon")
