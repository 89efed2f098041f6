"""Read and write .ci/constraints.txt, the exact versions the test suite passed on.

    python .ci/pins.py write FILE      pin every installed distribution (pdaframe's own aside)
    python .ci/pins.py diff FILE       print what differs between FILE and this environment
    python .ci/pins.py unpinned FILE   fail if something installed here is not pinned in FILE

Run with the environment's own Python (``.venv/bin/python`` or ``.venv-latest/bin/python``).
"""
import os
import re
import sys
import tempfile
from importlib.metadata import distributions

HEADER = """\
# The exact versions the whole test suite passed on: every distribution in .venv (pdaframe's
# and the plugins' dependencies, build and test tools, pip itself). `bash .ci/setup` installs
# these. Refresh deliberately with `bash .ci/lock` (newest versions -> whole suite -> this
# file is rewritten only if the suite passes); do not edit by hand.
"""


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def installed():
    """``{normalised name: version}`` of this environment, pdaframe's own packages left out."""
    found = {_norm(d.metadata["Name"]): d.version for d in distributions()}
    return {n: v for n, v in found.items() if not n.startswith("pdaframe")}


def read(path):
    pins = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                name, _, version = line.partition("==")
                pins[_norm(name)] = version
    return pins


def write(path):
    text = HEADER + "".join(f"{n}=={v}\n" for n, v in sorted(installed().items()))
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def diff(path):
    pins, now = read(path), installed()
    rows = [f"  {n}: {pins.get(n, '(not pinned)')} -> {now.get(n, '(not installed)')}"
            for n in sorted(set(pins) | set(now)) if pins.get(n) != now.get(n)]
    print(f"{len(rows)} version(s) differ from {path}" + (":" if rows else ""))
    print("\n".join(rows)) if rows else None


def unpinned(path):
    missing = sorted(set(installed()) - set(read(path)))
    if missing:
        sys.exit(f"installed but not pinned in {path}: {', '.join(missing)} "
                 f"(refresh the pins with: bash .ci/lock)")


if __name__ == "__main__":
    command, path = sys.argv[1:3]
    {"write": write, "diff": diff, "unpinned": unpinned}[command](path)
