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
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
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


def run_twin(plugin, site, tmp_path, gradient="adjoint", config="examples/twin.toml"):
    """``pdaframe run examples/twin.toml`` (or ``config``): the analysis within 3 posterior σ
    and 3 % of the truth, from a background 14-23 % off; the gradient used is ``gradient``."""
    import netCDF4
    out_dir = tmp_path / "twin"
    out = _run([sys.executable, "-m", "pdaframe.cli", "run", config, "-q", "-o", out_dir],
               plugin, _env(site))
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


# --- the compiled routes: the stubs filled by this test's own derivatives ------------------
FORTRAN_DERIVATIVES = """
! tangent linear and adjoint of model_run (written by hand for the scaffold's model)
module NAME_derivatives
  implicit none
  private
  integer, parameter :: dp = kind(1.0d0)
  public :: model_has_derivatives, model_tangent, model_adjoint
contains
  subroutine model_has_derivatives(available)
    integer, intent(out) :: available
    available = 1
  end subroutine model_has_derivatives

  subroutine model_tangent(n, theta, dtheta, forcing, pools0, dout, ierr, fail_index)
    integer, intent(in) :: n
    real(dp), intent(in) :: theta(4), dtheta(4), forcing(n, 2), pools0(2)
    real(dp), intent(inout) :: dout(n, 3)
    integer, intent(out) :: ierr, fail_index
    real(dp) :: f, s, df, ds, e, tf, dtf, a, b, da, db, h, dh, fn, dfn
    integer :: t
    ierr = 0
    fail_index = -1
    f = pools0(1)
    s = pools0(2)
    df = 0.0_dp
    ds = 0.0_dp
    h = theta(3)
    dh = dtheta(3)
    do t = 1, n
       e = (forcing(t, 2) - 10.0_dp) / 10.0_dp
       tf = theta(4)**e
       dtf = tf * e * dtheta(4) / theta(4)
       a = theta(1) * tf
       b = theta(2) * tf
       da = dtheta(1) * tf + theta(1) * dtf
       db = dtheta(2) * tf + theta(2) * dtf
       dout(t, 1) = -dh * a * f + (1.0_dp - h) * (da * f + a * df) + db * s + b * ds
       ds = (1.0_dp - b) * ds - db * s + dh * a * f + h * (da * f + a * df)
       dfn = (1.0_dp - a) * df - da * f
       s = s + h * a * f - b * s
       fn = f - a * f + forcing(t, 1)
       f = fn
       df = dfn
       dout(t, 2) = df
       dout(t, 3) = ds
    end do
  end subroutine model_tangent

  subroutine model_adjoint(n, theta, forcing, pools0, out, out_bar, theta_bar, ierr, fail_index)
    integer, intent(in) :: n
    real(dp), intent(in) :: theta(4), forcing(n, 2), pools0(2), out(n, 3), out_bar(n, 3)
    real(dp), intent(inout) :: theta_bar(4)
    integer, intent(out) :: ierr, fail_index
    real(dp) :: f, s, e, tf, a, b, h, lf, ls, rb, da_bar, db_bar, lfn
    integer :: t
    ierr = 0
    fail_index = -1
    h = theta(3)
    lf = 0.0_dp
    ls = 0.0_dp
    do t = n, 1, -1
       if (t == 1) then
          f = pools0(1)
          s = pools0(2)
       else
          f = out(t - 1, 2)
          s = out(t - 1, 3)
       end if
       e = (forcing(t, 2) - 10.0_dp) / 10.0_dp
       tf = theta(4)**e
       a = theta(1) * tf
       b = theta(2) * tf
       lf = lf + out_bar(t, 2)
       ls = ls + out_bar(t, 3)
       rb = out_bar(t, 1)
       da_bar = (-lf + h * ls + (1.0_dp - h) * rb) * f
       db_bar = (-ls + rb) * s
       theta_bar(1) = theta_bar(1) + da_bar * tf
       theta_bar(2) = theta_bar(2) + db_bar * tf
       theta_bar(3) = theta_bar(3) + (ls - rb) * a * f
       theta_bar(4) = theta_bar(4) + (da_bar * theta(1) + db_bar * theta(2)) * tf * e / theta(4)
       lfn = (1.0_dp - a) * lf + h * a * ls + (1.0_dp - h) * a * rb
       ls = (1.0_dp - b) * ls + b * rb
       lf = lfn
    end do
  end subroutine model_adjoint
end module NAME_derivatives
"""


def _compiled_route(lang, tmp_path, name, derivatives_file, derivatives):
    """A compiled scaffold as generated (stubs: derivative checks skipped, the twin with
    finite differences), then with the stubs replaced by ``derivatives`` (all checks, the
    twin with the adjoint)."""
    plugin, site = scaffold(lang, tmp_path / "stubs", name)
    result = run_generated_tests(plugin, site)
    assert result["passed"] == CONFORMANCE + 4 - 3 and result["skipped"] == 3, result["out"]
    assert "no tangent/adjoint" in result["out"]
    run_twin(plugin, site, tmp_path / "stubs", gradient="finite differences")
    plugin, site = scaffold(lang, tmp_path / "filled", name,
                            {derivatives_file: derivatives.replace("NAME", name)})
    result = run_generated_tests(plugin, site)
    assert result["passed"] == CONFORMANCE + 4 and result["skipped"] == 0, result["out"]
    run_twin(plugin, site, tmp_path / "filled")


@pytest.mark.slow        # two builds, test runs and twins: 15-40 s by load
def test_fortran_scaffold(tmp_path):
    if shutil.which("gfortran") is None:
        pytest.skip("needs gfortran")
    _compiled_route("fortran", tmp_path, "soilf", "native/soilf_derivatives.f90",
                    FORTRAN_DERIVATIVES)


C_DERIVATIVES = """
/* tangent linear and adjoint of NAME_run (written by hand for the scaffold's model) */
#include <math.h>

#include "NAME.h"

int NAME_has_derivatives(void) { return 1; }

int NAME_tangent(int n, const double *theta, const double *dtheta, const double *forcing,
                 const double *pools0, double *dout, int *fail_index)
{
    double f = pools0[0], s = pools0[1], df = 0.0, ds = 0.0, h = theta[2], dh = dtheta[2];
    *fail_index = -1;
    for (int t = 0; t < n; t++) {
        double e = (forcing[2 * t + 1] - 10.0) / 10.0, tf = pow(theta[3], e);
        double dtf = tf * e * dtheta[3] / theta[3];
        double a = theta[0] * tf, b = theta[1] * tf;
        double da = dtheta[0] * tf + theta[0] * dtf, db = dtheta[1] * tf + theta[1] * dtf;
        dout[3 * t] = -dh * a * f + (1.0 - h) * (da * f + a * df) + db * s + b * ds;
        ds = (1.0 - b) * ds - db * s + dh * a * f + h * (da * f + a * df);
        df = (1.0 - a) * df - da * f;
        s = s + h * a * f - b * s;
        f = f - a * f + forcing[2 * t];
        dout[3 * t + 1] = df;
        dout[3 * t + 2] = ds;
    }
    return NAME_OK;
}

int NAME_adjoint(int n, const double *theta, const double *forcing, const double *pools0,
                 const double *out, const double *out_bar, double *theta_bar, int *fail_index)
{
    double h = theta[2], lf = 0.0, ls = 0.0;
    *fail_index = -1;
    for (int t = n - 1; t >= 0; t--) {
        double f = t ? out[3 * (t - 1) + 1] : pools0[0], s = t ? out[3 * (t - 1) + 2] : pools0[1];
        double e = (forcing[2 * t + 1] - 10.0) / 10.0, tf = pow(theta[3], e);
        double a = theta[0] * tf, b = theta[1] * tf, rb = out_bar[3 * t];
        lf += out_bar[3 * t + 1];
        ls += out_bar[3 * t + 2];
        double da_bar = (-lf + h * ls + (1.0 - h) * rb) * f, db_bar = (-ls + rb) * s;
        theta_bar[0] += da_bar * tf;
        theta_bar[1] += db_bar * tf;
        theta_bar[2] += (ls - rb) * a * f;
        theta_bar[3] += (da_bar * theta[0] + db_bar * theta[1]) * tf * e / theta[3];
        double lfn = (1.0 - a) * lf + h * a * ls + (1.0 - h) * a * rb;
        ls = (1.0 - b) * ls + b * rb;
        lf = lfn;
    }
    return NAME_OK;
}
"""


@pytest.mark.slow        # two builds, test runs and twins: 15-40 s by load
def test_c_scaffold(tmp_path):
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("needs a C compiler")
    _compiled_route("c", tmp_path, "soilc", "native/soilc_derivatives.c",
                    C_DERIVATIVES.replace("NAME_OK", "SOILC_OK"))


# --- bad input: a named error and nothing written ----------------------------------------
@pytest.mark.parametrize("name, found", [
    ("2pool", "not a valid Python identifier"), ("soil-carbon", "not a valid Python identifier"),
    ("class", "not a valid Python identifier"), ("_soil", "not a valid Python identifier"),
    ("Soil", "must be lower case"),
    ("toy", "collides with the installed distribution 'pdaframe-toy'"),
    ("numpy", "collides with the installed distribution 'numpy'"),
])
def test_bad_name(tmp_path, name, found):
    with pytest.raises(ConfigError, match=re.escape(found)):
        create_plugin(name, "python", tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


def test_unknown_lang_and_busy_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"--lang 'rust' is unknown; expected one of "
                                          r"python, jax, fortran, c"):
        create_plugin("soil", "rust", tmp_path / "new")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="exists and is not empty"):
        create_plugin("soil", "python", busy)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (create_plugin("soil", "python", empty) / "pyproject.toml").is_file()


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    """A failure while writing removes the temporary folder; the target is never made."""
    import pdaframe.scaffold as scaffold_module
    render = scaffold_module._render

    def fail(text, subs):
        if "pdaframe_register_models" in text:
            raise OSError(28, "No space left on device")
        return render(text, subs)

    monkeypatch.setattr(scaffold_module, "_render", fail)
    with pytest.raises(ConfigError, match="cannot write .*No space left on device"):
        create_plugin("soil", "python", tmp_path / "new")
    assert list(tmp_path.iterdir()) == []


def test_cli(tmp_path):
    """``pdaframe new-plugin``: writes the folder, exit 0; bad input: exit 2 and the error."""
    env = _env(tmp_path)
    out = subprocess.run([sys.executable, "-m", "pdaframe.cli", "new-plugin", "soil", "--lang",
                          "jax", "--dir", tmp_path / "soil"], env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "soil" / "src" / "pdaframe_soil" / "model.py").is_file()
    bad = subprocess.run([sys.executable, "-m", "pdaframe.cli", "new-plugin", "soil", "--lang",
                          "jax", "--dir", tmp_path / "soil"], env=env, capture_output=True,
                         text=True)
    assert bad.returncode == 2
    assert "error (ConfigError): new-plugin: target folder" in bad.stderr


@pytest.mark.parametrize("header, line, found", [
    ("int f(int n;\n", 2, "cffi cannot parse"),
    ("#if defined(FAST)\nint g(void);\n#endif\n", 2, "#if is not supported"),
    ("#define SCALE 2.5\n", 2, "only integer constants"),
])
def test_bad_header(tmp_path, header, line, found):
    """The cdef generator names the header line it cannot use (build time of a C plugin)."""
    from pdaframe.scaffold.cdef import HeaderError, cdef_from_header
    path = tmp_path / "k.h"
    path.write_text("#define K_N 4\n" + header)
    with pytest.raises(HeaderError, match=rf"k\.h, line {line}: .*{found}"):
        cdef_from_header(path)


def test_bad_header_stops_the_build(tmp_path):
    """The C scaffold's build script stops on a bad header, naming file and line."""
    plugin = create_plugin("soilh", "c", tmp_path / "soilh")
    header = plugin / "native" / "soilh.h"
    good = header.read_text()
    from pdaframe.scaffold.cdef import cdef_from_header
    cdef_text = cdef_from_header(header)
    assert "int soilh_run(int n, const double *theta" in cdef_text
    assert "#define SOILH_NPARAM 4" in cdef_text and "#include" not in cdef_text
    lines = good.split("\n")
    at = next(i for i, text in enumerate(lines) if text.startswith("int soilh_run"))
    lines[at] = "int soilh_run(int n, const double *theta,,"
    header.write_text("\n".join(lines))
    out = subprocess.run([sys.executable, "_build_cffi.py", tmp_path / "x.c"], cwd=plugin,
                         env=_env(tmp_path), capture_output=True, text=True)
    assert out.returncode == 1
    assert f"error (HeaderError): {header}, line {at + 1}: cffi cannot parse" in out.stderr
    assert not (tmp_path / "x.c").exists()
