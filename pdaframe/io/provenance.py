"""Provenance of a run's outputs: the code (git revision, dependency versions) and the data
(sha256 of every data file the run read).

- `dependency_versions`: Python, pdaframe, its plugins' distributions, every distribution
  they require, and the distribution of every third-party module their source imports
  (``threadpoolctl``, imported but required by no one, included);
- `data_files`: the files a parsed config names (itself, the streams' files, model options,
  ``estimate_from``, ...) with their sha256, keyed by the path as the config writes it,
  so that a rerun can tell that its data changed (the global attribute
  ``data_files`` of every NetCDF file, JSON);
- `git_revision`: the commit of a checkout.
"""
from __future__ import annotations

import functools
import hashlib
import json
import platform
import re
import subprocess
from pathlib import Path

SKIPPED_TABLES = ("output",)
"""Top-level config tables whose strings name no input (the output folder, hidden keys)."""

_IMPORT = re.compile(r"^\s*(?:from\s+([A-Za-z_]\w*)[\w.]*\s+import|import\s+([A-Za-z_]\w*))",
                     re.MULTILINE)


def git_revision(path=".") -> str:
    """The git commit of ``path``'s checkout (with ``-dirty``), or ``"unknown"``."""
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=40"],
                             cwd=path, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev.stdout.strip() if rev.returncode == 0 and rev.stdout.strip() else "unknown"


def dependency_versions() -> dict[str, str]:
    """Installed versions of Python, pdaframe, its plugins' distributions, every distribution
    any of them requires (optional extras included when installed) and every distribution
    whose modules their source files import.

    Returns
    -------
    dict
        ``{"python": "3.12.3", "pdaframe": "0.1.0", "numpy": "2.4.6", ...}``, sorted by name
        after python and pdaframe.
    """
    from importlib import metadata
    dists, packages = _own_distributions()
    names = set(dists) | _imported_distributions(packages)
    for dist in dists:
        for req in metadata.requires(dist) or ():
            names.add(re.match(r"[A-Za-z0-9._-]+", req).group(0))
    found = {}
    for name in sorted(names, key=str.lower):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:       # an extra that is not installed
            continue
    return {"python": platform.python_version(), "pdaframe": found.pop("pdaframe", "?"),
            **found}


def _own_distributions():
    """pdaframe's and the plugins' distribution names, and their top-level packages."""
    from importlib import metadata
    eps = [ep for ep in metadata.entry_points(group="pdaframe") if ep.dist is not None]
    dists = {"pdaframe"} | {ep.dist.name for ep in eps}
    packages = {"pdaframe"} | {ep.value.split(":")[0].split(".")[0] for ep in eps}
    return dists, frozenset(packages)


@functools.lru_cache(maxsize=None)
def _imported_distributions(packages) -> set[str]:
    """Distributions of the top-level modules that the source files of ``packages`` import
    (read as text, nothing imported); the packages' own and the standard library's left out."""
    import importlib.util
    import sys
    from importlib import metadata
    modules = set()
    for package in packages:
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or ()) if spec else ():
            for path in Path(folder).rglob("*.py"):
                if "templates" in path.parts:          # scaffold templates: not pdaframe's
                    continue
                try:
                    text = path.read_text(errors="replace")
                except OSError:
                    continue
                modules |= {a or b for a, b in _IMPORT.findall(text)}
    by_module = metadata.packages_distributions()
    return {dist for m in modules - set(packages) - set(sys.stdlib_module_names)
            for dist in by_module.get(m, ())}


def file_sha256(path) -> str:
    """The sha256 (hex) of the file at ``path``, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_files(config_path, data=None) -> dict[str, str]:
    """The data files a config names, with their sha256.

    Parameters
    ----------
    config_path : str or Path
        The config file; it is the first entry.
    data : dict, optional
        The parsed config: every string value in it (at any depth, in tables and arrays;
        the ``[output]`` table left out) that names an existing file relative to the
        config's folder (or an absolute path) is a data file: the streams' ``file``,
        ``estimate_from``, model options such as ``drivers_file``, ...

    Returns
    -------
    dict
        ``{path: sha256 hex}``, the config first (its file name), then each file by the
        string that first names it in the config (relative to the config's folder, or
        absolute; a file named twice is listed once);
        a file that cannot be read has ``"unreadable: <reason>"`` instead of a hash. A file
        named by a value the results hide (``[output] hide``, ``env`` tables:
        `pdaframe.io.output.hide_secrets`) is listed as ``"<hidden k>"`` (k = 1, 2, ...),
        so its hash is kept but not its name.
    """
    from .output import hide_secrets
    config_path = Path(config_path)
    base = config_path.parent.resolve()
    found = {config_path.resolve(): [config_path.name, True]}      # path: [key, shown]
    inputs = {k: v for k, v in (data or {}).items() if k not in SKIPPED_TABLES}
    try:
        public, _ = hide_secrets(data or {}, (data or {}).get("output", {}).get("hide", ()))
    except (KeyError, AttributeError, TypeError, IndexError):
        public = inputs           # a bad 'hide' is refused by the loader before any output
    for value, shown in _strings(inputs, public):
        path = base / value
        try:
            if value and path.is_file():
                entry = found.setdefault(path.resolve(), [value, True])
                entry[1] = entry[1] and shown
        except (OSError, ValueError):       # too long, a NUL byte: names no file
            continue
    out, hidden = {}, 0
    for path, (key, shown) in found.items():
        if not shown:
            hidden += 1
            key = f"<hidden {hidden}>"
        try:
            out[key] = file_sha256(path)
        except OSError as err:
            out[key] = f"unreadable: {err.strerror or err}"
    return out


def _strings(node, public):
    """``(string, shown)`` for every string in a parsed TOML tree ``node``; ``shown`` is
    False where the tree ``public`` (its copy with secrets hidden) differs."""
    if isinstance(node, str):
        yield node, public == node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, public.get(key) if isinstance(public, dict) else None)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, public[i] if isinstance(public, list) and
                                i < len(public) else None)


def data_files_json(files) -> str:
    """The ``data_files`` attribute: ``files`` (`data_files`) as JSON ("{}" for none)."""
    return json.dumps(dict(files or {}))
