"""``pdaframe new-plugin``: a new out-of-tree, pip-installable model plugin from templates.

`create_plugin` renders the templates of ``templates/common`` and ``templates/<lang>``
(read with `importlib.resources`, so they ship with pdaframe) into a new folder: a
``pyproject.toml`` with the ``pdaframe`` entry point, the model module (on `Model`,
`JaxModel` or `KernelModel`), a parameter table (``parameters.toml``), tests running the
conformance suite (`pdaframe.plugin.ModelConformance`), an example twin config and, for
compiled routes, the kernel sources under ``native/`` with a ``meson.build`` (Fortran through
f90wrap with its kind map, C through cffi with the cdef generated from the header by
``_cdef.py``, a copy of `pdaframe.scaffold.cdef`). The package is self-contained: nothing
in it names a path outside its folder.

Every generated plugin wraps the same small model, a 2-pool soil-carbon model with 4
parameters (``k_fast``, ``k_slow``, ``h``, ``q10``; see the generated README), so each route
builds, installs and passes its own tests without an edit; its author then replaces the
physics. Its forcing (``forcing.py``) is synthetic seasons by default, or a site driver file
(the ``drivers_file`` option: `pdaframe.plugin.read_driver_file`, columns ``t_mean`` and
``sw``). In templates, ``__NAME__`` is the plugin (and registered model) name,
``__PACKAGE__`` the import package (``pdaframe_<name>``), ``__DIST__`` the distribution
(``pdaframe-<name>``), ``__CLASS__`` the model class and ``__UNAME__`` the upper-case name;
a file name ending in ``.tmpl`` loses the suffix.

Bad input is a `ConfigError` raised before anything is written: a name that is not a Python
identifier (or is a keyword), a name whose distribution ``pdaframe-<name>`` or entry point is
already installed, an unknown language, a target folder that exists and is not empty. The
files are written into a temporary folder next to the target and renamed into place, so a
failure leaves nothing half-written.
"""
from __future__ import annotations

import keyword
import os
import shutil
import tempfile
from importlib import metadata, resources
from pathlib import Path

from ..errors import ConfigError

LANGUAGES = ("python", "jax", "fortran", "c")
"""The routes `create_plugin` scaffolds."""


def check_name(name) -> str:
    """``name`` if it can name a plugin, else a `ConfigError` saying what to change.

    A name must be an ASCII Python identifier, not a keyword, lower case (it becomes the
    package ``pdaframe_<name>``, the distribution ``pdaframe-<name>``, the entry point and
    the registered model name), and not be taken by an installed distribution or entry point.
    """
    if not isinstance(name, str) or not name.isascii() or not name.isidentifier() \
            or keyword.iskeyword(name) or name.startswith("_"):
        raise ConfigError(f"new-plugin: name {name!r} is not a valid Python identifier "
                          f"(letters, digits and underscores, not starting with a digit or "
                          f"an underscore, not a keyword); e.g. 'soilcarbon'")
    if name != name.lower():
        raise ConfigError(f"new-plugin: name {name!r} must be lower case (it names the "
                          f"package pdaframe_{name.lower()}); e.g. {name.lower()!r}")
    dist = distribution_name(name)
    for candidate in (dist, name):
        try:
            found = metadata.distribution(candidate)
        except metadata.PackageNotFoundError:
            continue
        raise ConfigError(f"new-plugin: name {name!r} collides with the installed "
                          f"distribution {found.metadata['Name']!r} "
                          f"{found.version}; choose another name")
    taken = [ep for ep in metadata.entry_points(group="pdaframe") if ep.name == name]
    if taken:
        raise ConfigError(f"new-plugin: name {name!r} collides with the installed pdaframe "
                          f"entry point {taken[0].name} = {taken[0].value!r}; choose another "
                          f"name")
    return name


def distribution_name(name) -> str:
    """The distribution of plugin ``name``: ``pdaframe-<name>`` (``_`` -> ``-``)."""
    return "pdaframe-" + name.replace("_", "-")


EXTRA_DEPENDENCIES = {"jax": '\n    "jax[cpu]>=0.10",          # JaxModel (pdaframe[jax])'}
"""Dependencies a route adds to the common ``pyproject.toml``."""


def substitutions(name, lang="python") -> dict[str, str]:
    """What the template placeholders become for plugin ``name`` of route ``lang``."""
    return {"__EXTRA_DEPENDENCIES__": EXTRA_DEPENDENCIES.get(lang, ""),
            "__PACKAGE__": f"pdaframe_{name}", "__DIST__": distribution_name(name),
            "__CLASS__": "".join(p.capitalize() for p in name.split("_") if p) + "Model",
            "__UNAME__": name.upper(), "__NAME__": name}


def _render(text, subs):
    for key, value in subs.items():
        text = text.replace(key, value)
    return text


def _templates(lang):
    """``{relative path: template}`` of ``lang`` over the common files (a file of the
    language replaces a common one of the same path)."""
    root = resources.files(__name__) / "templates"
    found = {}
    for part in ("common", lang):
        stack = [(root / part, "")]
        while stack:
            folder, prefix = stack.pop()
            for entry in folder.iterdir():
                rel = f"{prefix}{entry.name}"
                if entry.is_dir():
                    if entry.name != "__pycache__":
                        stack.append((entry, rel + "/"))
                else:
                    found[rel] = entry
    if lang == "c":                                  # the cdef generator, at build time
        found["_cdef.py"] = resources.files(__name__) / "cdef.py"
    return found


def create_plugin(name, lang, directory=None) -> Path:
    """Write a new plugin package ``name`` for route ``lang`` into ``directory``.

    Parameters
    ----------
    name : str
        The plugin's name (see `check_name`).
    lang : {"python", "jax", "fortran", "c"}
        The route: a pure-Python model with hand-written derivatives, a JAX model (derivatives
        by JAX), a Fortran kernel (f90wrap) or a C kernel (cffi), each with derivative stubs.
    directory : str or Path, optional
        The new folder; default ``./<distribution name>``. It must not exist or be empty.

    Returns
    -------
    Path
        The folder written.

    Raises
    ------
    ConfigError
        A bad name, an unknown ``lang``, a target folder that exists and is not empty, or a
        folder that cannot be written (nothing is left behind).
    """
    if lang not in LANGUAGES:
        raise ConfigError(f"new-plugin: --lang {lang!r} is unknown; expected one of "
                          f"{', '.join(LANGUAGES)}")
    check_name(name)
    target = Path(distribution_name(name) if directory is None else directory).absolute()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"new-plugin: target folder {target} exists and is not empty; "
                          f"choose a new folder (--dir) or empty it")
    subs = substitutions(name, lang)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as err:
        raise ConfigError(f"new-plugin: cannot write into {target.parent}: {err}") from None
    try:
        for rel, template in sorted(_templates(lang).items()):
            out = tmp / _render(rel.removesuffix(".tmpl"), subs)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(_render(template.read_text(encoding="utf-8"), subs),
                           encoding="utf-8")
        os.chmod(tmp, 0o777 & ~_umask())
        if target.exists():
            target.rmdir()                           # empty (checked above)
        os.rename(tmp, target)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ConfigError(f"new-plugin: cannot write {target}: {err}") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
