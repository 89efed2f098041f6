"""``pdaframe run`` with an external model: failed members reported, SIGTERM/SIGINT end the
member's process group, clean its folder, keep a checkpoint and exit 143/130."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pdaframe.io.checkpoint import read_header

MODEL = r'''
import json, os, sys, time
p = json.load(open(os.environ["PDAFRAME_PARAMETERS"]))
shared = os.environ["SHARED"]
if p["a"] > 1.8:
    print(f"pool 'c_lab' negative at a = {p['a']:.3f}", file=sys.stderr)
    sys.exit(3)
k = 0                                     # this is run number k of the whole run
while True:
    try:
        os.close(os.open(os.path.join(shared, f"run_{k}"), os.O_CREAT | os.O_EXCL))
        break
    except FileExistsError:
        k += 1
if str(k) == os.environ.get("HANG_AT"):
    with open(os.path.join(shared, "pid.tmp"), "w") as f:
        f.write(str(os.getpid()))
    os.replace(os.path.join(shared, "pid.tmp"), os.path.join(shared, "model.pid"))
    time.sleep(300)
with open("outputs.csv", "w") as f:
    f.write("y\n" + "".join(f"{p['a'] + p['b'] * t!r}\n" for t in range(3)))
'''

CONFIG = '''title = "external"
seed = 3

[model]
name = "external"

[model.options]
command = {command}
template_dir = "case"
workdir = "runs"
parameter_names = ["a", "b"]
outputs = ["y"]
env = {env}

[parameters]
a = {{ mean = 1.0, std = 1.0 }}
b = {{ mean = 2.0, std = 1.0 }}

[[streams]]
name = "y"
variable = "y"
file = "obs.csv"
value_column = "value"
std_column = "sigma"

[method]
name = "{method}"
options = {options}

[output]
directory = "out"
'''


def make_config(tmp_path, method, options, hang_at=None):
    (tmp_path / "case").mkdir()
    (tmp_path / "case" / "model.py").write_text(MODEL)
    (tmp_path / "obs.csv").write_text("time,value,sigma\n0,1.1,0.5\n1,3.0,0.5\n2,5.2,0.5\n")
    env = {"SHARED": str(tmp_path)} | ({"HANG_AT": str(hang_at)} if hang_at else {})
    text = CONFIG.format(command=json.dumps([sys.executable, "model.py"]), method=method,
                         options=options, env="{ " + ", ".join(
                             f"{k} = {json.dumps(v)}" for k, v in env.items()) + " }")
    (tmp_path / "c.toml").write_text(text)
    return tmp_path / "c.toml"


def cli(*args):
    return [sys.executable, "-m", "pdaframe.cli", *map(str, args)]


def test_failed_members_are_in_the_summary_and_a_warning(tmp_path):
    cfg = make_config(tmp_path, "4denvar", "{ n_members = 8 }")
    done = subprocess.run(cli("run", cfg, "-q"), cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    note = ("1 of 10 members failed; first failure (member 1): ModelError: external model "
            "(member 1): ")
    assert note in done.stdout
    assert f"WARNING pdaframe.run: {note}" in done.stderr
    assert "pool 'c_lab' negative at a = 2.714" in done.stdout
    (kept,) = (tmp_path / "runs").iterdir()                  # keep="failed"
    assert kept.name.startswith("member_0001_") and f"run directory: {kept}" in done.stdout


def gone(pid) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return True
    return state in "ZX"


def wait_for(predicate, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.parametrize("signum, status, words", [
    (signal.SIGTERM, 143, "pdaframe: terminated (SIGTERM); member processes ended"),
    (signal.SIGINT, 130, "pdaframe: interrupted; member processes ended"),
])
def test_signal_ends_member_processes_cleans_up_and_checkpoints(tmp_path, signum, status,
                                                                 words):
    cfg = make_config(tmp_path, "es-mda", "{ n_members = 6, alphas = [2.0, 2.0], "
                      "checkpoint_every = 2 }", hang_at=8)   # round 2's third run
    # SIGINT as at a terminal: a suite started in the background by a non-interactive shell
    # ignores SIGINT, and a child inherits that (Python then installs no KeyboardInterrupt)
    proc = subprocess.Popen(cli("run", cfg, "-q"), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        pid_file = tmp_path / "model.pid"
        wait_for(lambda: pid_file.exists() or proc.poll() is not None, "the model to hang")
        assert proc.poll() is None, proc.communicate()
        pid = int(pid_file.read_text())
        assert not gone(pid)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert words in err and "Traceback" not in err
    wait_for(lambda: gone(pid), f"model process {pid} to end", timeout=30)
    assert list((tmp_path / "runs").iterdir()) == []           # interrupted: not kept
    # round 1 was done but not yet on file (checkpoint_every = 2): written on the way out
    assert read_header(tmp_path / "out" / "checkpoint.npz")["round"] == 1
    assert not (tmp_path / "out" / "result.nc").exists()
