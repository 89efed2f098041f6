"""The install is reproducible: every dependency is pinned to a tested version, the README's
commands are the ones CI runs, and the environment is the one the pins describe."""
import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
PROJECTS = [ROOT / "pyproject.toml", *sorted(ROOT.glob("plugins/*/pyproject.toml"))]


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins():
    pins = {}
    for line in (ROOT / ".ci" / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, ver = line.partition("==")
            assert sep and ver, f"constraints.txt: {line!r} is not an exact pin name==version"
            pins[_norm(name)] = ver
    return pins


def _requirements():
    """Every requirement name of the core and the plugins: runtime, extras and build."""
    names = set()
    for path in PROJECTS:
        meta = tomllib.loads(path.read_text())
        reqs = list(meta["project"].get("dependencies", []))
        for extra in meta["project"].get("optional-dependencies", {}).values():
            reqs += extra
        reqs += meta.get("build-system", {}).get("requires", [])
        names |= {_norm(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) for r in reqs}
    # pdaframe's own distributions (the core, and plugins a plugin builds on, such as
    # pdaframe-dalec2 under pdaframe-dalec2-jax) come from this tree, not from the pins
    return {n for n in names if not n.startswith("pdaframe")}


def test_every_dependency_is_pinned_exactly():
    missing = sorted(_requirements() - set(_pins()))
    assert not missing, f"dependencies without a tested version in .ci/constraints.txt: {missing}"


def test_installed_versions_are_the_pinned_ones():
    """The suite runs on what the pins say (in .venv-latest, .ci/lock checks the newest)."""
    if "venv-latest" in __import__("sys").prefix:
        pytest.skip("the newest-versions environment is unpinned on purpose")
    wrong = {}
    for name in sorted(_requirements()):
        try:
            have = version(name)
        except PackageNotFoundError:
            continue            # build-only tools of a plugin not installed here
        if have != _pins()[name]:
            wrong[name] = (_pins()[name], have)
    assert not wrong, f"installed versions differ from .ci/constraints.txt (pinned, installed): " \
                      f"{wrong}; run bash .ci/setup"


def test_ci_runs_the_readme_test_command_exactly():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    assert blocks[:2] == ["bash .ci/setup && .venv/bin/pdaframe run examples/dalec2_twin/config.toml",
                          "bash .ci/setup && .venv/bin/python -m pytest"]
    assert f"'{blocks[1]}'" in (ROOT / ".ci" / "run").read_text()


def test_one_version_in_package_and_pyproject():
    import pdaframe
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["version"] == pdaframe.__version__
