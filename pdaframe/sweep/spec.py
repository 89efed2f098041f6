"""The sweep file: a base config and a grid of overrides, expanded into cases.

A sweep file (TOML)::

    title = "Which data constrain which parameters"   # optional
    base = "twin.toml"                 # the base config, relative to the sweep file

    [[axes]]                           # one axis: a config key and its values
    key = "streams"                    # an array of named tables and a list of names:
    values = [["nee"], ["lai"], ["nee", "lai"]]     # keep those tables (in that order)

    [[axes]]
    key = "streams.nee.std"            # dotted key; in an array of tables a part is an
    values = [0.5, 1.0]                # index (streams.0.std) or a table's name

    [[cases]]                          # optional named cases, each a table of overrides;
    name = "short"                     # the grid is cases x axes (default: one empty case)
    set = { "model.options.end" = "2004-12-31" }

    [output]
    directory = "results/sweep"        # default results/<sweep file stem>, relative to it

Every override key must name a key that exists in the base config (a named error otherwise,
naming the sweep file, the axis or case, and the key). Keys are applied value overrides
first, selections of named tables last, so ``streams.nee.std`` means the stream named
``nee`` whichever streams a case keeps.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..config.toml_file import PATH_SUFFIXES
from ..config.toml_file import read_toml
from ..errors import ConfigError

TOP = {"title", "base", "axes", "cases", "output"}
RELATIVE_KEYS = ("estimate_from",)        # path values the loader reads beside PATH_SUFFIXES


@dataclass
class Case:
    """One case of a sweep: its position, label and overrides (``{key: value}``)."""

    index: int
    label: str
    overrides: dict
    data: dict = field(repr=False, default_factory=dict)      # the case's config (parsed)

    @property
    def digest(self) -> str:
        """sha256 of the case's config (canonical JSON): what a resumed sweep compares."""
        text = json.dumps(self.data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Sweep:
    """A parsed sweep file: the base config, the override keys (table columns) and cases."""

    path: Path
    base: Path
    title: str
    keys: list
    cases: list
    output_dir: Path
    base_values: dict


def display(value) -> str | float | int | bool:
    """A table cell for an override value: lists joined by ``+`` (``nee+lai``)."""
    if isinstance(value, list):
        return "+".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def load_sweep(path, output_dir=None) -> Sweep:
    """Read a sweep file and expand its cases, each checked against the base config.

    Raises
    ------
    ConfigError
        Malformed sweep file, a missing base config, or an override key that names no key
        of the base config (naming the sweep file, the axis or case and the key).
    """
    path = Path(path)
    data = read_toml(path, "sweep file")[1]
    unknown = sorted(set(data) - TOP)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(TOP)}")
    if not isinstance(data.get("base"), str):
        raise ConfigError(f"{path}: 'base' must name the base config file (a string)")
    base = (path.parent / data["base"]).resolve()
    base_data = read_toml(base, f"base config of {path}")[1]
    axes = _axes(path, data.get("axes", []))
    named = _named_cases(path, data.get("cases", []))
    if not axes and len(named) == 1 and not named[0][1]:
        raise ConfigError(f"{path}: no [[axes]] and no [[cases]]: nothing to sweep")
    keys = list(dict.fromkeys([k for _, over in named for k in over] +
                              [key for key, _ in axes]))
    for where, key in [(f"[[cases]] {n!r}", k) for n, over in named for k in over] + \
            [(f"[[axes]] {i} (key {key!r})", key) for i, (key, _) in enumerate(axes)]:
        _check_key(path, base, base_data, where, key)
    cases = []
    for name, over in named:
        for combo in itertools.product(*[values for _, values in axes]):
            overrides = {**over, **{key: v for (key, _), v in zip(axes, combo)}}
            parts = ([name] if name else []) + [f"{k}={display(v)}" for k, v in
                                                  zip((k for k, _ in axes), combo)]
            case = Case(len(cases), ", ".join(parts), overrides)
            case.data = case_config(path, base, base_data, case)
            cases.append(case)
    out = data.get("output", {})
    if not isinstance(out, dict) or set(out) - {"directory"}:
        raise ConfigError(f"{path}: [output] takes only 'directory'")
    directory = Path(output_dir) if output_dir is not None else \
        path.parent / out.get("directory", f"results/{path.stem}")
    return Sweep(path, base, str(data.get("title", "")), keys, cases, directory,
                 {k: _base_value(base_data, k) for k in keys})


def case_config(sweep_path, base, base_data, case) -> dict:
    """The base config with the case's overrides: value overrides first, then selections
    of named tables; relative paths made absolute (the case's config lives elsewhere)."""
    data = copy.deepcopy(base_data)
    selections = []
    for key, value in case.overrides.items():
        parts = key.split(".")
        target = _get(data, parts)
        if _is_named_tables(target) and isinstance(value, list) and \
                all(isinstance(v, str) for v in value):
            selections.append((key, parts, value))
        else:
            _set(data, parts, copy.deepcopy(value))
    for key, parts, names in selections:
        tables = {t.get("name"): t for t in _get(data, parts)}
        missing = [n for n in names if n not in tables]
        if missing or not names:
            raise ConfigError(f"{sweep_path}: case {case.label!r}: {key!r} selects "
                              f"{missing or 'no'} tables; the base config {base} has "
                              f"{sorted(tables)}")
        _set(data, parts, [tables[n] for n in names])
    return _absolute_paths(data, base.parent)


def _axes(path, tables) -> list[tuple[str, list]]:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{path}: 'axes' must be an array of tables [[axes]]")
    out = []
    for i, tab in enumerate(tables):
        where = f"{path}: [[axes]] {i}"
        if set(tab) != {"key", "values"}:
            raise ConfigError(f"{where}: give exactly 'key' and 'values', got {sorted(tab)}")
        if not isinstance(tab["key"], str) or not tab["key"]:
            raise ConfigError(f"{where}: 'key' must be a dotted config key (a string)")
        if not isinstance(tab["values"], list) or not tab["values"]:
            raise ConfigError(f"{where} (key {tab['key']!r}): 'values' must be a non-empty "
                              f"list")
        out.append((tab["key"], tab["values"]))
    if len({k for k, _ in out}) != len(out):
        raise ConfigError(f"{path}: two [[axes]] have the same key")
    return out


def _named_cases(path, tables) -> list[tuple[str, dict]]:
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{path}: 'cases' must be an array of tables [[cases]]")
    out, seen = [], set()
    for i, tab in enumerate(tables):
        where = f"{path}: [[cases]] {i}"
        if not set(tab) <= {"name", "set"} or not isinstance(tab.get("name"), str) or \
                not isinstance(tab.get("set", {}), dict):
            raise ConfigError(f"{where}: give 'name' (a string) and 'set' (a table of "
                              f"dotted keys and values), got {sorted(tab)}")
        if tab["name"] in seen:
            raise ConfigError(f"{where}: case name {tab['name']!r} given twice")
        seen.add(tab["name"])
        out.append((tab["name"], dict(tab.get("set", {}))))
    return out or [("", {})]


def _check_key(path, base, data, where, key):
    """``key`` names an existing key of the base config ``data``, or a `ConfigError`."""
    node, done = data, []
    for part in key.split("."):
        scope = ".".join(done) or "top level"
        if isinstance(node, dict):
            if part not in node:
                raise ConfigError(f"{path}: {where}: {key!r} names no key of the base config "
                                  f"{base}: no {part!r} in [{scope}], which has "
                                  f"{sorted(node)} (to sweep an option the base leaves at "
                                  f"its default, write it into the base config)")
            node = node[part]
        elif isinstance(node, list):
            names = [t.get("name") if isinstance(t, dict) else None for t in node]
            node = _item(node, part)
            if node is None:
                raise ConfigError(f"{path}: {where}: {key!r} names no key of the base config "
                                  f"{base}: [{scope}] has no element {part!r} (give an index "
                                  f"0..{len(names) - 1} or a name of {names})")
        else:
            raise ConfigError(f"{path}: {where}: {key!r} names no key of the base config "
                              f"{base}: [{scope}] is a value, not a table")
        done.append(part)


def _position(items, part) -> int | None:
    """Position of element ``part`` (an index or a table's ``name``) of a list, or None."""
    if part.isdigit():
        return int(part) if int(part) < len(items) else None
    return next((i for i, t in enumerate(items) if isinstance(t, dict) and
                 t.get("name") == part), None)


def _item(items, part):
    """Element ``part`` (an index or a table's ``name``) of a list, None if there is none."""
    i = _position(items, part)
    return None if i is None else items[i]


def _get(data, parts):
    node = data
    for part in parts:
        node = node[part] if isinstance(node, dict) else _item(node, part)
    return node


def _set(data, parts, value):
    parent = _get(data, parts[:-1])
    if isinstance(parent, dict):
        parent[parts[-1]] = value
    else:
        parent[_position(parent, parts[-1])] = value


def _base_value(data, key):
    """The base config's value of ``key``; the names of an array of named tables."""
    value = _get(data, key.split("."))
    return [t["name"] for t in value] if _is_named_tables(value) else value


def _is_named_tables(value) -> bool:
    return isinstance(value, list) and bool(value) and \
        all(isinstance(t, dict) and "name" in t for t in value)


def _absolute_paths(node, folder):
    """``node`` with every relative path value (keys ending in `PATH_SUFFIXES`,
    ``estimate_from``) made absolute against ``folder``."""
    if isinstance(node, dict):
        return {k: str(folder / v) if isinstance(v, str) and (
            k.endswith(PATH_SUFFIXES) or k in RELATIVE_KEYS) else _absolute_paths(v, folder)
            for k, v in node.items()}
    if isinstance(node, list):
        return [_absolute_paths(v, folder) for v in node]
    return node
