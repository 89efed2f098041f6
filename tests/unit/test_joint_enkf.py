"""Joint state–parameter EnKF (``joint-enkf``) and the stateful-model protocol, on Lorenz-96."""
import numpy as np
import pytest
import xarray as xr

import pdaframe
from pdaframe.errors import ConfigError
from pdaframe.interfaces import has_state
from pdaframe.io.checkpoint import Checkpoint, read_header
from pdaframe.io.ensembles import write_outputs
from pdaframe.methods.joint_enkf import JointEnKFState
from pdaframe.methods.kalman_analysis import enkf_analysis, gaspari_cohn, sqrt_analysis
from pdaframe.methods.sequential import kalman_increment
from pdaframe.models.linear import LinearModel
from pdaframe.models.lorenz96 import Lorenz96
from pdaframe.observations.operators import SpatialMean
from pdaframe.observations.streams import DataStream
from pdaframe.parallel import SerialExecutor


def lorenz96_twin(n_steps=200, seed=1, every=2):
    """A DAPPER-style twin: 40 variables, truth F = 8 from a spun-up state, every
    ``every``-th variable observed at every step (0.05 time units) with noise 1; the filter
    starts from the true state plus N(0, 1) errors, prior F ~ N(6, 2^2).

    Returns the Problem and the true states ``(n_steps, 40)``.
    """
    spin = Lorenz96(n_steps=1000)
    x_true0 = spin.advance([8.0], spin.initial_state([8.0]), 0, 1000)[0]
    out = Lorenz96(n_steps=n_steps, x0=x_true0).run([8.0])
    states = np.column_stack([out[f"x{i}"] for i in range(40)])
    rng = np.random.default_rng(seed)
    t = np.arange(n_steps)
    streams = [DataStream(f"x{j}", f"x{j}", out[f"x{j}"] + rng.standard_normal(n_steps),
                          times=t, std=1.0) for j in range(0, 40, every)]
    model = Lorenz96(n_steps=n_steps, x0=x_true0 + rng.standard_normal(40))
    prior = pdaframe.GaussianPrior([6.0], std=[2.0], names=["F"])
    return pdaframe.Problem(model, prior, streams), states


def test_lorenz96_run_equals_advance_chained_over_any_windows():
    model = Lorenz96(n_steps=37)
    theta = np.array([8.3])
    full = model.run(theta)
    assert has_state(model) and not has_state(LinearModel(np.eye(2)))
    for edges in ([0, 37], [0, 1, 2, 36, 37], [0, 5, 11, 12, 30, 37]):
        x = model.initial_state(theta)
        parts = []
        for start, stop in zip(edges[:-1], edges[1:]):
            x, out = model.advance(theta, x, start, stop)
            parts.append(out)
        for name in model.state_names:
            assert np.array_equal(np.concatenate([p[name] for p in parts]), full[name])
        assert np.array_equal(x, [full[n][-1] for n in model.state_names])
    # a broken chaining (restart from the initial state) would not match
    x1, _ = model.advance(theta, model.initial_state(theta), 0, 5)
    _, late = model.advance(theta, model.initial_state(theta), 5, 37)
    assert not np.array_equal(late["x0"], full["x0"][5:])
    # the ring distance and its taper
    assert model.state_distance("x1")[[0, 1, 2, 21, 39]].tolist() == [1, 0, 1, 20, 2]


def test_gaspari_cohn_taper_values():
    d = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
    rho = gaspari_cohn(d, 1.0)
    assert rho[0] == 1.0 and rho[4] == 0.0 and rho[5] == 0.0
    assert rho[2] == pytest.approx(5.0 / 24.0, abs=1e-15)            # GC(r = 1) = 5/24
    assert rho[1] == pytest.approx(0.68489583333, abs=1e-10)
    assert rho[3] == pytest.approx(0.01649305556, abs=1e-10)
    eps = 1e-9                                                         # continuous at 1, 2
    assert gaspari_cohn([1 - eps, 2 - eps], 1)[0] == pytest.approx(gaspari_cohn([1 + eps], 1)[0])
    assert gaspari_cohn([2 - eps], 1)[0] < 1e-12
    assert np.all(np.diff(gaspari_cohn(np.linspace(0, 2, 50), 1.0)) <= 0)


def test_analysis_matches_the_parameter_enkf_and_the_kalman_filter():
    rng = np.random.default_rng(0)
    N, n, m = 30, 4, 3
    E, G, D = rng.standard_normal((N, n)), rng.standard_normal((N, m)), \
        rng.standard_normal((N, m))
    # without localisation: the same update as `enkf`'s (SVD form)
    np.testing.assert_allclose(enkf_analysis(E, G, D), E + kalman_increment(E, G, D),
                               atol=1e-12)
    # localisation with rho = 1 changes nothing; rho = 0 on a row freezes it
    same = enkf_analysis(E, G, D, np.ones((n, m)), np.ones((m, m)))
    np.testing.assert_allclose(same, enkf_analysis(E, G, D), atol=1e-13)
    rho = np.ones((n, m))
    rho[2] = 0.0
    assert np.array_equal(enkf_analysis(E, G, D, rho, np.ones((m, m)))[:, 2], E[:, 2])
    # linear-Gaussian: the large-ensemble analysis has the Kalman mean and covariance
    N = 20000
    P = np.array([[2.0, 0.6], [0.6, 1.0]])
    H = np.array([[1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.5, 2.0])
    E = rng.multivariate_normal([0.0, 1.0], P, size=N)
    Z = rng.standard_normal((N, 2))
    Ea = enkf_analysis(E, E @ H.T, y + (Z - Z.mean(0)))
    K = P @ H.T @ np.linalg.inv(H @ P @ H.T + np.eye(2))
    mean = np.array([0.0, 1.0]) + K @ (y - H @ [0.0, 1.0])
    np.testing.assert_allclose(Ea.mean(0), mean, atol=0.03)
    np.testing.assert_allclose(np.cov(Ea.T), (np.eye(2) - K @ H) @ P, atol=0.03)


def test_square_root_analysis_is_the_kalman_update_of_the_ensemble_exactly():
    rng = np.random.default_rng(1)
    N, n = 12, 5
    E = rng.standard_normal((N, n)) @ rng.standard_normal((n, n))
    H = rng.standard_normal((3, n))
    y = rng.standard_normal(3)
    Ea = sqrt_analysis(E, E @ H.T, y)
    P = np.cov(E.T)                                   # the ensemble's covariance
    K = P @ H.T @ np.linalg.inv(H @ P @ H.T + np.eye(3))
    np.testing.assert_allclose(Ea.mean(0), E.mean(0) + K @ (y - H @ E.mean(0)), atol=1e-12)
    np.testing.assert_allclose(np.cov(Ea.T), (np.eye(n) - K @ H) @ P, atol=1e-12)
    # and the perturbed-observation update is only right on average
    D = y + rng.standard_normal((N, 3))
    assert np.abs(np.cov(enkf_analysis(E, E @ H.T, D).T) - (np.eye(n) - K @ H) @ P).max() \
        > 1e-3


@pytest.fixture(scope="module")
def twin_runs():
    problem, states = lorenz96_twin()
    options = dict(n_members=40, seed=1, initial_state_std=1.0, inflation=1.02,
                   parameter_inflation=1.05, localisation_radius=4.0, true_parameters=[8.0],
                   true_states=states)
    joint = pdaframe.minimise(problem, "joint-enkf", **options)
    fixed = pdaframe.minimise(problem, "joint-enkf", update_parameters=False, **options)
    return problem, joint, fixed


def test_joint_enkf_beats_a_fixed_wrong_forcing_on_lorenz96(twin_runs):
    problem, joint, fixed = twin_runs
    F, sd = float(joint.x[0]), float(joint.posterior_std[0])
    print(f"\nLorenz-96 twin (40 variables, 20 observed every 0.05, noise 1, 200 cycles, "
          f"N = 40), RMSE over the last 100 cycles:\n"
          f"  joint EnKF   state {joint.state_rmse:.3f}  parameter {joint.parameter_rmse:.3f}"
          f"  F = {F:.3f} +- {sd:.3f}\n"
          f"  fixed F = 6  state {fixed.state_rmse:.3f}  parameter {fixed.parameter_rmse:.3f}")
    assert joint.success and joint.nit == 200 and joint.n_failed == 0
    assert joint.state_rmse < 0.4 < 1.5 < fixed.state_rmse       # observation noise is 1
    assert joint.state_rmse < 0.25 * fixed.state_rmse
    assert joint.parameter_rmse < 0.2 and fixed.parameter_rmse == 2.0
    assert abs(F - 8.0) < 2 * sd and 0 < sd < 0.5
    assert np.all(fixed.posterior_ensemble == 6.0)
    # the history: per cycle, the parameter trajectory and the state analysis
    h = joint.history
    assert h["state_mean"].shape == h["state_std"].shape == (200, 40)
    assert h["theta_mean"].shape == (200, 1) and h["time"][[0, -1]].tolist() == [0, 199]
    assert abs(h["theta_mean"][0, 0] - 6.0) < 2.5 and abs(h["theta_mean"][-1, 0] - F) < 1e-12
    np.testing.assert_allclose(h["state_mean"][-1], joint.state_mean)
    assert joint.fun == pytest.approx(problem.cost(joint.x))


def test_ensemble_file_holds_the_cycles_and_the_states(twin_runs, tmp_path):
    problem, joint, _ = twin_runs
    assert write_outputs(tmp_path, joint, problem, seed=1) == {
        "ensemble": tmp_path / "ensemble.nc"}
    with xr.open_dataset(tmp_path / "ensemble.nc") as ds:
        assert ds.attrs["method"] == "joint-enkf"
        assert ds["theta"].shape == (40, 1)
        assert ds["trajectory_mean"].shape == (200, 1)
        assert ds["cycle_state_mean"].shape == (200, 40)
        assert ds["cycle_theta"].shape == (200, 40, 1)
        np.testing.assert_array_equal(ds["cycle_theta"].values[-1], joint.posterior_ensemble)
        np.testing.assert_allclose(ds["cycle_theta"].values.mean(axis=1),
                                   ds["trajectory_mean"].values, rtol=1e-12)
        assert list(ds["state"].values[:2]) == ["x0", "x1"]
        np.testing.assert_array_equal(ds["cycle_state_rmse"].values,
                                      joint.history["state_rmse"])
        assert float(ds["cycle_parameter_rmse"][-1]) == pytest.approx(
            abs(joint.x[0] - 8.0))


def test_same_bits_with_any_executor_and_failed_members_redrawn():
    problem, states = lorenz96_twin(n_steps=12)
    options = dict(n_members=10, seed=4, initial_state_std=1.0, inflation=1.05,
                   localisation_radius=3.0, state_noise=0.1, n_cycles=4)
    a = pdaframe.minimise(problem, "joint-enkf", executor=SerialExecutor(), **options)

    class Threads:                      # another order-keeping executor
        def map(self, func, items):
            from concurrent.futures import ThreadPoolExecutor
            with ThreadPoolExecutor(3) as pool:
                return list(pool.map(func, items))

    b = pdaframe.minimise(problem, "joint-enkf", executor=Threads(), **options)
    assert a.nit == 4 and a.history["time"].tolist() == [2, 5, 8, 11]
    for key in ("posterior_ensemble", "state_ensemble"):
        assert np.array_equal(a[key], b[key])
    assert np.array_equal(a.history["state_mean"], b.history["state_mean"])
    # the square root: no observation perturbations, the same bits again; per-variable
    # noise and initial spread
    sq = dict(options, analysis="sqrt", localisation_radius=None,
              state_noise=np.linspace(0.0, 0.2, 40), initial_state_std=[1.0] * 40)
    c = pdaframe.minimise(problem, "joint-enkf", executor=SerialExecutor(), **sq)
    d = pdaframe.minimise(problem, "joint-enkf", executor=Threads(), **sq)
    assert np.array_equal(c.state_ensemble, d.state_ensemble) and c.success
    assert not np.array_equal(c.state_ensemble, a.state_ensemble)
    # a member whose forcing blows up fails; it is redrawn from the good members' fit
    state = JointEnKFState(problem, **options)
    state.U[3] = 1e6
    while not state.done:
        state.tell(SerialExecutor().map(state.evaluate, state.ask()))
    assert state.n_failed >= 1 and state.n_redrawn >= 1
    assert np.isfinite(state.X).all() and abs(state.U[3, 0]) < 100


def test_checkpoint_and_resume_give_the_same_bits(tmp_path):
    options = dict(n_members=8, seed=2, initial_state_std=1.0, inflation=1.05,
                   localisation_radius=3.0, n_cycles=6)
    reference = pdaframe.minimise(lorenz96_twin(n_steps=12)[0], "joint-enkf", **options)

    def stop_after_3(result):
        if result["nit"] >= 3:
            raise StopIteration

    path = tmp_path / "cp.npz"
    cut = pdaframe.minimise(lorenz96_twin(n_steps=12)[0], "joint-enkf",
                            callback=stop_after_3, checkpoint=Checkpoint(path), **options)
    assert cut.nit == 3 and not cut.success and read_header(path)["round"] == 3
    res = pdaframe.minimise(lorenz96_twin(n_steps=12)[0], "joint-enkf",
                            checkpoint=Checkpoint(path, resume=True), **options)
    for key in ("x", "fun", "posterior_ensemble", "state_ensemble", "nfev"):
        np.testing.assert_array_equal(res[key], reference[key], err_msg=key)
    np.testing.assert_array_equal(res.history["state_mean"], reference.history["state_mean"])


def lorenz96_config(folder, options="n_members = 10, initial_state_std = 0.5, "
                                    "inflation = 1.02, localisation_radius = 4.0"):
    """A config (``folder/l96.toml`` and ``x0.csv``, ``x4.csv``): Lorenz-96 (20 steps) from
    a spun-up state, x0 and x4 observed every other step, ``joint-enkf`` with ``options``."""
    spin = Lorenz96(n_steps=500)
    x0 = np.round(spin.advance([8.0], spin.initial_state([8.0]), 0, 500)[0], 4)
    out = Lorenz96(n_steps=20, x0=x0).run([8.0])
    rng = np.random.default_rng(0)
    streams = ""
    for name in ("x0", "x4"):
        rows = [f"{t},{out[name][t] + rng.standard_normal():.6f}" for t in range(0, 20, 2)]
        (folder / f"{name}.csv").write_text("time,value\n" + "\n".join(rows) + "\n")
        streams += (f'[[streams]]\nname = "{name}"\nvariable = "{name}"\nfile = '
                    f'"{name}.csv"\nvalue_column = "value"\nstd = 1.0\n')
    config = folder / "l96.toml"
    config.write_text(f"""title = "Lorenz-96 joint EnKF"
seed = 2
[model]
name = "lorenz96"
options = {{ n = 40, n_steps = 20, x0 = {x0.tolist()} }}
[parameters]
F = {{ mean = 6.0, std = 2.0 }}
[prior]
family = "gaussian"
{streams}[method]
name = "joint-enkf"
options = {{ {options} }}
[output]
directory = "out"
plots = false
""")
    return config


def test_a_config_run_writes_result_and_ensemble_files(tmp_path):
    from pdaframe.run import run_problem
    config = lorenz96_config(tmp_path)
    problem, settings = pdaframe.load_config(config)
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    assert result.nit == 10 and result.n_members == 10 and result.success
    assert {"netcdf", "ensemble"} <= set(paths)
    with xr.open_dataset(paths["ensemble"]) as ds:
        assert ds["cycle_state_mean"].shape == (10, 40)
        assert ds["trajectory_mean"].shape == (10, 1)
        assert ds["cycle_time"].values.tolist() == list(range(0, 20, 2))
    with xr.open_dataset(paths["netcdf"]) as ds:
        assert float(ds["analysis"].values[0]) == pytest.approx(result.x[0])
    # a misspelt option is found when the config is loaded
    bad = lorenz96_config(tmp_path, "n_members = 10, localization_radius = 4.0")
    with pytest.raises(ConfigError, match="localization_radius"):
        pdaframe.load_config(bad)


class NoDistance(Lorenz96):
    state_distance = None


@pytest.mark.parametrize("change, options, message", [
    ("linear", {}, "exposes no state (missing ['state_names', 'n_steps', 'initial_state', "
                   "'advance']); it must provide state_names, n_steps, initial_state(theta) "
                   "and advance(theta, x, start, stop) -> (x_stop, outputs): see the README "
                   "section \"Joint state–parameter estimation (EnKF)\""),
    (None, {"inflation": 0.9}, "inflation must be >= 1.0, got 0.9"),
    (None, {"parameter_inflation": 0.5}, "parameter_inflation must be >= 1.0, got 0.5"),
    (None, {"localisation_radius": 0.0}, "localisation_radius must be > 0.0, got 0.0"),
    (None, {"localisation_radius": -2}, "localisation_radius must be > 0.0, got -2"),
    (None, {"state_noise": -1}, "state_noise must be a number >= 0 or 40 of them"),
    ("no-distance", {"localisation_radius": 2}, "localisation_radius needs a model with "
                                                "state_distance(output)"),
    ("off-axis", {}, "stream 'late': observation time index 12 is not on the model's time "
                     "axis [0, 12)"),
    ("aggregate", {}, "stream 'mean' has a SpatialMean operator; the joint EnKF applies "
                      "'identity' or 'select'"),
    ("correlated", {}, "stream 'x0' has correlated errors"),
    ("no-output", {}, "stream 'y' observes 'y', not an output of the model"),
    (None, {"n_members": 2}, "option 'n_members' = 2: at least 3 needed"),
    (None, {"state_noise": [0.1, 0.2]}, "state_noise must be a number >= 0 or 40 of them"),
    (None, {"initial_state_std": [-1.0] * 40}, "initial_state_std must be a number >= 0"),
    (None, {"analysis": "etkf"}, "analysis 'etkf': expected 'perturbed' or 'sqrt'"),
    (None, {"analysis": "sqrt", "localisation_radius": 2.0},
     "the 'sqrt' analysis is global (ensemble space); localisation_radius needs"),
    (None, {"true_states": np.zeros((3, 40))}, "true_states must have shape (12, 40)"),
])
def test_bad_input_is_a_named_config_error_before_any_run(change, options, message):
    problem, _ = lorenz96_twin(n_steps=12)
    model, streams = problem.model, list(problem.streams)
    if change == "linear":
        model = LinearModel(np.eye(12)[:, :1], names=["F"], output="x0")
    elif change == "no-distance":
        model = NoDistance(n_steps=12)
    elif change == "off-axis":
        streams.append(DataStream("late", "x1", [1.0, 2.0], times=[3, 12], std=1.0))
    elif change == "aggregate":
        streams.append(DataStream("mean", "x1", np.ones(12), std=1.0,
                                  operator=SpatialMean(["x1", "x3"], [1.0, 1.0])))
    elif change == "no-output":
        streams.append(DataStream("y", "y", [1.0], times=[3], std=1.0))
    elif change == "correlated":
        streams[0] = DataStream("x0", "x0", streams[0].values, times=np.arange(12),
                                std=1.0, correlation={"kind": "exponential", "length": 2.0})
    problem = pdaframe.Problem(model, problem.prior, streams)
    runs = problem.nrun
    with pytest.raises(ConfigError) as err:
        pdaframe.minimise(problem, "joint-enkf", **{"n_members": 5, **options})
    assert message in str(err.value)
    assert problem.nrun == runs
