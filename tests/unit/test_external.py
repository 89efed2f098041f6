"""ExternalModel: a model executable run through files (here a Python script run with
sys.executable): outputs, errors, timeouts, directories per run, keep policies, env."""
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import pdaframe
from pdaframe.models.external import ExternalModel, make_external
from pdaframe.parallel import Failed, SerialExecutor

SCRIPT = r'''
import json, os, subprocess, sys, time
path = os.environ["PDAFRAME_PARAMETERS"]
if path.endswith(".json"):
    p = json.load(open(path))
else:
    p = {k.strip(): float(v) for k, v in (line.split("=") for line in open(path) if line.strip())}
a, b = p["a"], p["b"]
info = {k: os.environ.get(k) for k in ("PDAFRAME_MEMBER", "PDAFRAME_SEED", "PDAFRAME_WORKDIR",
                                       "PMI_SIZE", "EXTRA")}
info.update(cwd=os.getcwd(), template=open("data.txt").read(), params=open(path).read())
json.dump(info, open("info.json", "w"))
print("model starting")
if a < 0:
    print("step 3: pool 'c_lab' negative", file=sys.stderr)
    sys.exit(3)
if a > 100:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    open("child.pid", "w").write(str(child.pid))
    time.sleep(60)
if a != 50:
    with open("outputs.csv", "w") as f:
        f.write("t,y\n" + "".join(f"{t},{a + b * t if a != 60 else 'nan'}\n" for t in range(5)))
with open("w.csv", "w") as f:
    f.write("value\n" + repr(a * b) + "\n")
'''


@pytest.fixture
def case(tmp_path):
    template = tmp_path / "case"
    template.mkdir()
    (template / "model.py").write_text(SCRIPT)
    (template / "data.txt").write_text("forcing")
    return tmp_path


def external(case, **kw):
    kw.setdefault("template_dir", case / "case")
    kw.setdefault("workdir", case / "runs")
    return ExternalModel([sys.executable, "model.py"], ["a", "b"], kw.pop("outputs", ["y"]),
                         **kw)


def run_dirs(case):
    return sorted((case / "runs").iterdir()) if (case / "runs").exists() else []


def test_run_reads_outputs_exactly_and_cleans_up(case):
    model = external(case)
    a, b = 0.1 + 0.2, 1 / 3                    # values that need all 17 digits
    out = model.run([a, b])
    np.testing.assert_array_equal(out["y"], [a + b * t for t in range(5)])
    assert out["y"].dtype == np.float64 and model.nrun == 1
    assert run_dirs(case) == []                # keep="failed": a success leaves nothing
    assert model.last_dir.parent == case / "runs" and model.last_dir.name.startswith("run_")


def test_text_parameters_outputs_per_file_and_environment(case, monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "4")        # as if pdaframe itself ran under mpiexec
    model = external(case, input_format="text", keep="all", env={"EXTRA": 1},
                     outputs={"y": "outputs.csv", "w": ["w.csv", "value"]})
    out = model.run_member([2.0, 0.5], 7, seed=1234)
    assert out["w"].tolist() == [1.0] and out["y"].tolist() == [2.0, 2.5, 3.0, 3.5, 4.0]
    (run_dir,) = run_dirs(case)
    assert run_dir.name.startswith("member_0007_")
    info = json.loads((run_dir / "info.json").read_text())
    assert info["params"] == "a = 2.0\nb = 0.5\n"
    assert info["PDAFRAME_MEMBER"] == "7" and info["PDAFRAME_SEED"] == "1234"
    assert info["PDAFRAME_WORKDIR"] == info["cwd"] == str(run_dir)
    assert info["PMI_SIZE"] is None and info["EXTRA"] == "1"
    assert info["template"] == "forcing" and not (run_dir / "data.txt").is_symlink()
    assert (run_dir / "pdaframe.stdout").read_text() == "model starting\n"


def test_non_zero_exit_is_a_model_error_with_the_stderr_tail(case):
    model = external(case)
    with pytest.raises(pdaframe.ModelError) as info:
        model.run_member([-1.0, 0.0], 3)
    msg = str(info.value)
    assert "member 3" in msg and "model.py exited with status 3" in msg
    assert "step 3: pool 'c_lab' negative" in msg
    (kept,) = run_dirs(case)                   # keep="failed": kept for inspection
    assert f"run directory: {kept}" in msg
    np.testing.assert_array_equal(info.value.theta, [-1.0, 0.0])


def _wait_for_exit(pid, timeout):
    """Whether process ``pid`` ends (or is a zombie) within ``timeout`` s: waits on a pidfd,
    an event, rather than polling with sleeps."""
    import select
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def test_timeout_kills_the_whole_process_group(case):
    # the model starts a grandchild, writes its pid, then sleeps 60 s; the timeout leaves
    # ample time for that start even on a loaded machine, and the kill is checked by events
    # (the error, the grandchild's exit), not by elapsed time
    model = external(case, timeout=5.0)
    with pytest.raises(pdaframe.ModelError, match=r"timed out after 5 s and was killed"):
        model.run([200.0, 1.0])
    (kept,) = run_dirs(case)
    pid = int((kept / "child.pid").read_text())
    assert _wait_for_exit(pid, 30), f"process {pid} started by the model survived the timeout"


def test_missing_output_is_a_model_error(case):
    with pytest.raises(pdaframe.ModelError,
                       match=r"outputs are unusable: data file not found: .*outputs.csv"):
        external(case).run([50.0, 1.0])
    with pytest.raises(pdaframe.ModelError, match=r"missing column\(s\) \['nee'\]"):
        external(case, outputs=["nee"]).run([1.0, 1.0])


@pytest.mark.parametrize("keep, n_left", [("all", 2), ("failed", 1), ("none", 0)])
def test_keep_policies(case, keep, n_left):
    model = external(case, keep=keep)
    model.run([1.0, 1.0])
    with pytest.raises(pdaframe.ModelError) as info:
        model.run([-1.0, 1.0])
    assert len(run_dirs(case)) == n_left
    assert ("(removed: keep='none')" in str(info.value)) == (keep == "none")


@pytest.mark.parametrize("keep, n_left", [("failed", 1), ("none", 0)])
def test_non_finite_outputs_count_as_failed_for_keep(case, keep, n_left):
    out = external(case, keep=keep).run_member([60.0, 1.0], 4)    # the script writes NaN
    assert np.isnan(out["y"]).all() and out["y"].size == 5
    kept = run_dirs(case)
    assert len(kept) == n_left
    if kept:
        assert kept[0].name.startswith("member_0004_") and (kept[0] / "outputs.csv").exists()


def test_lbfgsb_start_point_error_says_why_the_model_failed(case):
    prior = pdaframe.GaussianPrior([-1.0, 2.0], std=[1.0, 1.0], names=["a", "b"])
    stream = pdaframe.DataStream("y", "y", [1.1, 3.0, 5.2, 6.9, 9.1], std=0.5)
    problem = pdaframe.Problem(external(case), prior, [stream])
    with pytest.raises(pdaframe.ModelError) as info:
        pdaframe.minimise(problem, "lbfgsb")
    msg = str(info.value)
    assert msg.startswith("the model fails at the start point {'a': -1.0, 'b': 2.0}: "
                          "external model (a run): ")
    assert "model.py exited with status 3" in msg
    assert "step 3: pool 'c_lab' negative" in msg
    (kept,) = run_dirs(case)
    assert f"run directory: {kept}" in msg


def test_concurrent_members_never_share_a_directory(case):
    model = external(case, keep="all", link_template=True)
    members = [(float(i), 1.0, i % 3) for i in range(8)]      # indices 0, 1, 2 repeat
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda m: model.run_member(m[:2], m[2], seed=9), members))
    assert [o["y"][0] for o in outs] == [m[0] for m in members]
    dirs = run_dirs(case)
    assert len(dirs) == 8 and len({d.name for d in dirs}) == 8
    for d in dirs:
        params = json.loads(json.loads((d / "info.json").read_text())["params"])
        assert d.name.startswith(f"member_{int(params['a']) % 3:04d}_")
        assert (d / "data.txt").is_symlink()


def test_problem_and_executor_use_it_like_any_model(case):
    model = external(case)
    prior = pdaframe.GaussianPrior([1.0, 2.0], std=[1.0, 1.0], names=["a", "b"])
    stream = pdaframe.DataStream("y", "y", [1.1, 3.0, 5.2, 6.9, 9.1], std=0.5)
    problem = pdaframe.Problem(model, prior, [stream])
    reference = pdaframe.Problem(pdaframe.LinearModel(
        np.column_stack([np.ones(5), np.arange(5.0)]), names=["a", "b"]), prior, [stream])
    assert problem.cost([1.2, 1.9]) == pytest.approx(reference.cost([1.2, 1.9]), rel=1e-14)
    out = SerialExecutor().map(lambda th: model.run_member(th, 0), [[1.0, 2.0], [-1.0, 0.0]])
    assert isinstance(out[1], Failed) and "exited with status 3" in out[1].error
    assert out[0]["y"].tolist() == [1.0, 3.0, 5.0, 7.0, 9.0]


def test_bad_options_are_config_errors(case):
    with pytest.raises(pdaframe.ConfigError, match="keep must be one of"):
        external(case, keep="some")
    with pytest.raises(pdaframe.ConfigError, match="'no-such-lsm' not found on PATH"):
        make_external(command="no-such-lsm --case x", parameter_names=["a"], outputs=["y"])
    with pytest.raises(pdaframe.ConfigError, match="template_dir .* is not a directory"):
        external(case, template_dir=case / "missing")
    with pytest.raises(pdaframe.ConfigError, match="parameter_names must be a list"):
        make_external(command=[sys.executable], parameter_names="a", outputs=["y"])
    with pytest.raises(pdaframe.ConfigError, match="output 'y' must be a file name"):
        make_external(command=[sys.executable], parameter_names=["a"], outputs={"y": 3})
    with pytest.raises(pdaframe.ModelError, match="theta has 3 values"):
        external(case).run([1.0, 2.0, 3.0])


def test_make_external_from_config_style_options(case):
    model = make_external(command=f"{sys.executable} model.py", parameter_names=["a", "b"],
                          outputs=["y"], template_dir=str(case / "case"),
                          workdir=str(case / "runs"), timeout=60)
    assert model.run([0.0, 1.0])["y"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert os.path.isabs(model.workdir) and "2 parameters" in repr(model)
