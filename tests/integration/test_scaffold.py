"""`pdaframe new-plugin`: each route's scaffold builds, installs and passes its own tests, and
its twin calibration through `pdaframe run` recovers the truth (issue 13, item 1).

Each test scaffolds into a temporary folder outside the repository, installs the package with
``pip install --no-build-isolation --no-deps --target SITE`` (never into the shared venv),
then runs, in subprocesses with ``PYTHONPATH=SITE:<repo>`` (`importlib.metadata` finds the
entry point in SITE), the plugin's generated tests (the conformance suite included) and
``python -m pdaframe.cli run examples/twin.toml``. The Fortran and C scaffolds are built
twice: as generated (derivative stubs: the conformance suite skips the derivative checks,
the twin uses finite differences) and with the stubs filled by this test's own tangent
linear and adjoint of the scaffold's model (`FILLED`), then all derivative checks run and the
twin uses the adjoint. Bad input (names, language, folder) is tested at the end.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pdaframe.errors import ConfigError
from pdaframe.scaffold import create_plugin

REPO = Path(__file__).resolve().parents[2]
TRUTH = {"k_fast": 0.025, "k_slow": 0.0013, "h": 0.35, "q10": 2.4}     # examples/twin.toml
CONFORMANCE = 9                                      # checks of ModelConformance


def _env(site):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    env.pop("PDAFRAME_DISABLE_PLUGINS", None)
    return env


def _run(args, cwd, env, timeout=900):
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, (f"{' '.join(map(str, args))} failed ({proc.returncode}):\n"
                                  f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


def scaffold(lang, tmp_path, name, fill=None):
    """Scaffold plugin ``name`` for ``lang`` under ``tmp_path`` (outside the repository),
    optionally overwrite files (``fill``: {relative path: text}), install it into a site
    folder; return ``(plugin folder, site folder)``."""
    plugin = tmp_path / name
    assert not plugin.resolve().is_relative_to(REPO)
    assert create_plugin(name, lang, plugin) == plugin
    for path in plugin.rglob("*"):                    # self-contained: no outside path
        if path.is_file():
            text = path.read_text()
            assert str(REPO) not in text and "../.." not in text, path
    for rel, text in (fill or {}).items():
        (plugin / rel).write_text(text)
    site = tmp_path / "site"
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps",
          "--no-cache-dir", "--target", site, "."], plugin, _env(site))
    return plugin, site


def run_generated_tests(plugin, site) -> dict:
    """Run the plugin's tests; ``{"passed": n, "skipped": n}`` (none may fail)."""
    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs",
                "tests"], plugin, _env(site))
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|skipped|failed|error)", out)}
    assert counts.get("failed", 0) == 0 and counts.get("error", 0) == 0, out
    return {"passed": counts.get("passed", 0), "skipped": counts.get("skipped", 0), "out": out}


def run_twin(plugin, site, tmp_path, gradient="adjoint"):
    """``pdaframe run examples/twin.toml``: the analysis within 3 posterior σ and 3 % of the
    truth, from a background 14-23 % off; the gradient used is ``gradient``."""
    import netCDF4
    out_dir = tmp_path / "twin"
    out = _run([sys.executable, "-m", "pdaframe.cli", "run", "examples/twin.toml", "-q", "-o",
                out_dir], plugin, _env(site))
    assert f"gradient: {gradient}" in out, out
    with netCDF4.Dataset(out_dir / "result.nc") as nc:
        names = list(nc["param"][:])
        analysis, std = np.array(nc["analysis"][:]), np.array(nc["posterior_std"][:])
        background = np.array(nc["background"][:])
    truth = np.array([TRUTH[n] for n in names])
    assert names == list(TRUTH)
    assert np.all(np.abs(background - truth) > 0.1 * truth)
    assert np.all(np.abs(analysis - truth) < 3 * std), (analysis, truth, std)
    assert np.all(np.abs(analysis - truth) < 0.03 * truth), (analysis, truth)
    return analysis


def test_python_scaffold(tmp_path):
    plugin, site = scaffold("python", tmp_path, "soilpy")
    result = run_generated_tests(plugin, site)
    assert result["passed"] == CONFORMANCE + 4 and result["skipped"] == 0, result["out"]
    run_twin(plugin, site, tmp_path)


def test_jax_scaffold(tmp_path):
    pytest.importorskip("jax")
    plugin, site = scaffold("jax", tmp_path, "soiljax")
    assert '"jax[cpu]>=0.10"' in (plugin / "pyproject.toml").read_text()
    result = run_generated_tests(plugin, site)
    assert result["passed"] == CONFORMANCE + 4 and result["skipped"] == 0, result["out"]
    run_twin(plugin, site, tmp_path)
