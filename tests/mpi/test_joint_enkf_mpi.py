"""The joint state–parameter EnKF under ``mpiexec``: the members' forecasts spread over the
ranks give the serial filter bit for bit (collective test, and a launch on 2 and 3 ranks)."""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pdaframe
from pdaframe.parallel import MPIExecutor, SerialExecutor
from tests.mpi.test_mpi_launch import PDAFRAME, assert_same_files, launch
from tests.unit.test_joint_enkf import lorenz96_config, lorenz96_twin

OPTIONS = dict(n_members=11, seed=5, initial_state_std=1.0, inflation=1.03,
               parameter_inflation=1.05, localisation_radius=4.0, state_noise=0.05,
               n_cycles=10)
KEYS = ("posterior_ensemble", "state_ensemble", "x", "fun")


def run(executor):
    problem, states = lorenz96_twin(n_steps=30)
    return pdaframe.minimise(problem, "joint-enkf", executor=executor, true_states=states,
                             **OPTIONS)


@pytest.mark.mpi
def test_joint_enkf_is_the_same_on_any_number_of_ranks(comm):
    ex = MPIExecutor()
    mpi = run(ex)
    serial = run(SerialExecutor())
    assert ex.size == comm.Get_size() > 1
    for key in KEYS:
        assert np.array_equal(mpi[key], serial[key]), key
    for key in ("state_mean", "theta_mean", "state_rmse"):
        assert np.array_equal(mpi.history[key], serial.history[key]), key


@pytest.mark.slow
@pytest.mark.launches_mpiexec
def test_joint_enkf_launched_on_2_and_3_ranks_matches_serial(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parents[2])!r})
        import numpy as np
        from pdaframe.parallel import get_executor, is_root
        from tests.mpi.test_joint_enkf_mpi import KEYS, run
        ex = get_executor()
        r = run(ex)
        if is_root():
            np.savez({str(tmp_path)!r} + f"/out{{ex.size}}.npz",
                     state_mean=r.history["state_mean"],
                     **{{k: np.asarray(r[k]) for k in KEYS}})
    """))
    serial = run(SerialExecutor())
    for n in (2, 3):
        proc = launch(n, sys.executable, script)
        assert proc.returncode == 0, proc.stderr
        with np.load(tmp_path / f"out{n}.npz") as got:
            for key in KEYS:
                assert np.array_equal(got[key], np.asarray(serial[key])), (n, key)
            assert np.array_equal(got["state_mean"], serial.history["state_mean"])
    assert serial.nit == 10 and np.isfinite(serial.fun)


@pytest.mark.slow
@pytest.mark.launches_mpiexec
def test_joint_enkf_config_run_writes_the_same_files_on_2_and_3_ranks(tmp_path):
    config = lorenz96_config(tmp_path, "n_members = 7, initial_state_std = 0.5, "
                                       "inflation = 1.02, state_noise = 0.1, "
                                       "localisation_radius = 4.0")
    serial = subprocess.run([*PDAFRAME, "run", config, "-o", tmp_path / "serial", "-q"],
                            capture_output=True, text=True, timeout=300)
    assert serial.returncode == 0, serial.stderr
    for n in (2, 3):
        mpi = launch(n, *PDAFRAME, "run", config, "-o", tmp_path / f"mpi{n}", "-q")
        assert mpi.returncode == 0, mpi.stderr
        assert f"{n} MPI ranks" in mpi.stdout
        assert assert_same_files(tmp_path / "serial", tmp_path / f"mpi{n}") == [
            "ensemble.nc", "result.nc"]
