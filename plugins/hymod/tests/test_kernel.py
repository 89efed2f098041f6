"""The C kernel agrees with the numpy reference and conserves water."""
import numpy as np
import pytest
from hymod_reference import hymod_reference

from pdaframe import DataError, ModelError
from pdaframe_hymod import MM_DAY_TO_LS, OUTPUTS, Hymod, read_forcing, run_kernel

FORCING = read_forcing()

THETAS = [
    (250.5, 1.05, 0.545, 0.0505, 0.545),      # defaults (mid-range)
    (412.33, 0.1725, 0.8127, 0.0404, 0.5592),  # SPOTPY's optguess
    (1.0, 2.0, 0.99, 0.001, 0.99),             # corner: tiny store, PET clipped often
    (500.0, 0.1, 0.1, 0.1, 0.1),               # the opposite corner
    (37.0, 0.6, 0.3, 0.02, 0.8),
]


@pytest.mark.parametrize("theta", THETAS)
def test_kernel_matches_reference(theta):
    out = run_kernel(FORCING.precip, FORCING.pet, theta)
    ref = hymod_reference(FORCING.precip, FORCING.pet, *theta)
    assert out.shape == (1827, 6)
    for j, name in enumerate(OUTPUTS):
        scale = np.max(np.abs(ref[j]))
        assert scale > 0 or name == "aet", name
        assert np.max(np.abs(out[:, j] - ref[j])) <= 1e-12 * max(scale, 1e-300), name
    # discharge pointwise too, where it is not negligible
    big = ref[0] > 1e-6 * ref[0].max()
    np.testing.assert_allclose(out[big, 0], ref[0][big], rtol=1e-12, atol=0)


@pytest.mark.parametrize("theta", THETAS)
def test_water_balance(theta):
    out = run_kernel(FORCING.precip, FORCING.pet, theta)
    q, soil, quick, slow, aet, routing = out.T
    np.testing.assert_array_equal(q, quick + slow)
    stored = soil + routing
    balance = np.cumsum(FORCING.precip - aet - q) - stored     # all stores start empty
    assert np.max(np.abs(balance)) < 1e-12 * np.sum(FORCING.precip)
    assert np.all(aet <= FORCING.pet * (1 + 1e-15)) and np.all(aet >= 0)
    assert np.all(soil >= 0) and np.all(soil <= theta[0] / (theta[1] + 1) * (1 + 1e-12))


def test_known_numbers():
    """Regression values at the defaults: totals over 2012-2016 (mm)."""
    out = run_kernel(FORCING.precip, FORCING.pet, THETAS[0])
    assert FORCING.precip.sum() == pytest.approx(2666.863917284, rel=1e-12)
    assert FORCING.pet.sum() == pytest.approx(2917.51, rel=1e-12)
    assert out[:, 0].sum() == pytest.approx(1133.0712613840806, rel=1e-12)   # discharge
    assert out[:, 4].sum() == pytest.approx(1443.1082107731722, rel=1e-12)   # actual ET
    assert out[-1, 1] == pytest.approx(88.79656268251108, rel=1e-12)         # final soil
    assert out[:, 0].sum() + out[:, 4].sum() + out[-1, 1] + out[-1, 5] == pytest.approx(
        FORCING.precip.sum(), rel=1e-13)


def test_model_outputs_and_warmup():
    model = Hymod(warmup=366)
    out = model.run(model.defaults)
    assert model.time[0] == np.datetime64("2013-01-01") and model.n == 1461
    full = run_kernel(FORCING.precip, FORCING.pet, model.defaults)
    np.testing.assert_array_equal(out["discharge"], full[366:, 0])
    np.testing.assert_allclose(out["discharge_ls"], full[366:, 0] * 1.783e6 / 86400,
                               rtol=1e-15)
    assert MM_DAY_TO_LS == pytest.approx(20.636574074074, rel=1e-12)
    assert set(out) == set(model.output_units)


@pytest.mark.parametrize("index, value, name", [
    (0, -1.0, "cmax"), (1, np.nan, "bexp"), (2, 1.5, "alpha"), (3, 1.0, "ks"),
    (4, 0.0, "kq"),
])
def test_bad_parameter_is_model_error(index, value, name):
    theta = np.array(THETAS[0])
    theta[index] = value
    with pytest.raises(ModelError, match=f"parameter '?{name}'?( = |=)") as info:
        Hymod().run(theta)
    np.testing.assert_array_equal(info.value.theta, theta)
    # the process and the kernel are fine afterwards
    assert run_kernel(FORCING.precip, FORCING.pet, THETAS[0]).shape == (1827, 6)


@pytest.mark.parametrize("field, value", [("precip", -0.5), ("pet", np.nan),
                                          ("precip", np.inf)])
def test_bad_forcing_in_kernel_is_model_error(field, value):
    precip, pet = FORCING.precip.copy(), FORCING.pet.copy()
    {"precip": precip, "pet": pet}[field][17] = value
    with pytest.raises(ModelError, match="forcing day 17"):
        run_kernel(precip, pet, THETAS[0])
    assert np.isfinite(run_kernel(FORCING.precip, FORCING.pet, THETAS[1])).all()


def test_bad_shapes_are_model_errors():
    with pytest.raises(ModelError, match=r"theta needs 5 values \['cmax', 'bexp', 'alpha', "
                                         r"'ks', 'kq'\], got shape \(2,\)"):
        Hymod().run([1.0, 2.0])
    with pytest.raises(ModelError, match="same shape|one shape"):
        run_kernel(FORCING.precip, FORCING.pet[:-1], THETAS[0])
    with pytest.raises(ModelError, match="n >= 1"):
        run_kernel([], [], THETAS[0])


def test_forcing_validation_is_data_error():
    from pdaframe_hymod import Forcing
    time = FORCING.time[:3]
    with pytest.raises(DataError, match=r"'precip' must be finite and >= 0.*-1.0 on 2012-01-02"):
        Forcing(time, [0.0, -1.0, 0.0], [0.0, 0.0, 0.0], source="test")
    with pytest.raises(DataError, match="consecutive days"):
        Forcing(time[[0, 2]], [0.0, 0.0], [0.0, 0.0])
