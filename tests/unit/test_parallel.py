"""Executor interface without MPI: serial semantics, failure records, per-member seeds,
executor choice, the CLI's --executor flag, and mpi4py imported only when MPI is used."""
import os
import subprocess
import sys

import numpy as np
import pytest

import pdaframe
from pdaframe.parallel import Failed, SerialExecutor, evaluate, get_executor, is_root, member_rng


def test_serial_map_keeps_order_and_values():
    out = SerialExecutor().map(lambda x: {"y": np.array([x, x ** 2])}, [3.0, -1.0, 0.5])
    assert [r["y"][1] for r in out] == [9.0, 1.0, 0.25]
    assert SerialExecutor().map(abs, iter([-2, 3])) == [2, 3]        # any iterable
    assert SerialExecutor().map(abs, []) == []
    assert (SerialExecutor.rank, SerialExecutor.size) == (0, 1)


def test_model_errors_and_non_finite_results_are_failed_records():
    def member(i):
        if i == 1:
            raise pdaframe.ModelError("pool 'c_lab' negative at step 12", theta=[i])
        if i == 2:
            return {"nee": np.array([0.1, np.nan]), "lai": np.ones(2)}
        if i == 3:
            return float("inf")
        if i == 4:
            return np.array([1.0, 2.0 + 1j * np.inf])
        return {"nee": np.array([float(i)]), "flag": np.array([1, 2])}

    out = SerialExecutor().map(member, range(6))
    assert out[1] == Failed(1, "ModelError: pool 'c_lab' negative at step 12")
    assert out[2] == Failed(2, "non-finite result")
    # successful members come back unchanged, in order
    for i in (0, 5):
        assert out[i]["nee"].tolist() == [float(i)] and out[i]["flag"].tolist() == [1, 2]
    assert out[3] == Failed(3, "non-finite result") and out[4] == Failed(4, "non-finite result")
    assert not out[1] and bool(out[0]) and bool(out[5])              # `if result:` = succeeded
    assert [i for i, r in enumerate(out) if not isinstance(r, Failed)] == [0, 5]


def test_other_pdaframe_errors_fail_but_bugs_raise():
    def data_problem(_):
        raise pdaframe.DataError("driver 'tair' missing on 2005-03-01")

    assert evaluate(data_problem, None, 7) == Failed(7, "DataError: driver 'tair' missing "
                                                        "on 2005-03-01")
    with pytest.raises(ZeroDivisionError):
        SerialExecutor().map(lambda x: 1 / x, [1.0, 0])


def test_member_rng_depends_on_seed_and_index_only():
    a = [member_rng(42, i).standard_normal(4) for i in range(5)]
    b = [member_rng(42, i).standard_normal(4) for i in reversed(range(5))][::-1]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))             # order of creation
    assert not np.array_equal(a[0], a[1])                               # members differ
    assert not np.array_equal(a[0], member_rng(43, 0).standard_normal(4))
    assert np.array_equal(member_rng(42, np.int64(3)).standard_normal(4), a[3])
    code = ("from pdaframe.parallel import member_rng; "
            "print(repr(member_rng(42, 3).standard_normal(4).tolist()))")
    other_process = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                   text=True, check=True,
                                   env={**os.environ, "PYTHONHASHSEED": "123"})
    assert eval(other_process.stdout) == a[3].tolist()


def test_get_executor_and_is_root_without_mpi(monkeypatch):
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_SIZE"):
        monkeypatch.delenv(var, raising=False)
    assert isinstance(get_executor(), SerialExecutor)
    assert isinstance(get_executor("serial"), SerialExecutor)
    assert is_root()
    with pytest.raises(pdaframe.PdaframeError, match="unknown executor 'threads'"):
        get_executor("threads")


def test_mpi4py_is_imported_only_when_mpi_is_used():
    code = ("import sys, pdaframe, pdaframe.parallel, pdaframe.cli; "
            "from pdaframe.parallel import MPIExecutor, get_executor, is_root; "
            "get_executor(); is_root(); print('mpi4py' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip() == "False"


def test_cli_executor_flag(tmp_path):
    import shutil
    from pathlib import Path
    data = Path(__file__).parents[1] / "data"
    for f in ("lg2.toml", "lg2_obs.csv"):
        shutil.copy(data / f, tmp_path)
    run = [sys.executable, "-m", "pdaframe.cli", "run", tmp_path / "lg2.toml", "-q", "-o",
           tmp_path / "out"]
    proc = subprocess.run([*map(str, run), "--executor", "serial"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "1.2144" in proc.stdout and "MPI ranks" not in proc.stdout
    proc = subprocess.run([*map(str, run), "--executor", "threads"], capture_output=True,
                          text=True)
    assert proc.returncode == 2 and "invalid choice: 'threads'" in proc.stderr
