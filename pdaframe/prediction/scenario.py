"""Scenarios: changes of driver columns (``t_min = "+2"``, ``co2 = "*2"``), checked before
any run, applied to a `pdaframe.models.driver_file.DriverTable` and written as a driver file
(the documented CSV layout) that the model then reads.

An expression is a sign or operator and a number: ``"+2"`` / ``"-0.5"`` add (in the
column's units, `pdaframe.models.driver_file.COLUMNS`), ``"*2"`` / ``"/2"`` multiply or
divide. A plain number (TOML ``2.0``) is refused: say whether it adds or multiplies.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from ..errors import ConfigError, DataError
from ..io.atomic import atomic_path
from ..models.driver_file import COLUMNS, DriverTable, format_driver_file

_EXPR = re.compile(r"\s*([+\-*/])\s*([0-9]*\.?[0-9]+(?:[eE][+\-]?[0-9]+)?)\s*")
BASELINE = "baseline"
"""Name of the prediction without driver changes."""


@dataclass(frozen=True)
class Scenario:
    """A named set of driver changes ``{column: (operator, number)}`` (empty: baseline)."""

    name: str
    changes: tuple = ()

    def describe(self) -> str:
        """``"t_min +2, co2 *2"`` (``"none"`` for the baseline)."""
        return ", ".join(f"{c} {op}{v:g}" for c, op, v in self.changes) or "none"

    def apply(self, table: DriverTable) -> DriverTable:
        """``table`` with the changes applied.

        Raises
        ------
        DataError
            A changed column that the driver file does not have (naming the file).
        """
        columns = dict(table.columns)
        for column, op, value in self.changes:
            if column not in columns:
                raise DataError(f"scenario {self.name!r} changes {column!r}, but the driver "
                                f"file {table.source} has no such column (it has "
                                f"{sorted(columns)})")
            old = columns[column]
            columns[column] = old + value if op == "+" else old - value if op == "-" else \
                old * value if op == "*" else old / value
        return DriverTable(table.time, MappingProxyType(columns), table.latitude,
                           table.longitude, table.site, table.source, table.step,
                           table.metadata)


def parse_scenario(name, changes, where) -> Scenario:
    """A `Scenario` from ``{column: "+2", ...}``.

    Raises
    ------
    ConfigError
        Naming ``where`` and the key: a name that cannot name files, an unknown column, an
        expression that is not ``+x``, ``-x``, ``*x`` or ``/x`` (``/0`` included).
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name) or \
            name == BASELINE:
        raise ConfigError(f"{where}: scenario name {name!r}: expected letters, digits, '_', "
                          f"'-' or '.' (it names files), and not {BASELINE!r}")
    if not isinstance(changes, dict) or not changes:
        raise ConfigError(f"{where}.{name}: expected a table of driver changes such as "
                          f"{{ t_min = \"+2\", co2 = \"*2\" }}")
    out = []
    for column, expr in changes.items():
        if column not in COLUMNS:
            raise ConfigError(f"{where}.{name}: unknown driver column {column!r}; the driver "
                              f"file columns are {sorted(COLUMNS)}")
        match = _EXPR.fullmatch(expr) if isinstance(expr, str) else None
        if match is None or (match[1] == "/" and float(match[2]) == 0):
            raise ConfigError(f"{where}.{name}.{column} = {expr!r}: expected a string \"+x\" "
                              f"or \"-x\" (add, in {COLUMNS[column]}), \"*x\" or \"/x\" "
                              f"(multiply, divide; not /0), e.g. \"+2\"")
        out.append((column, match[1], float(match[2])))
    return Scenario(name, tuple(out))


def parse_cli_scenario(text, defined) -> Scenario:
    """``--scenario NAME`` (a scenario of ``defined``, the config's) or
    ``--scenario NAME:COLUMN=EXPR[,COLUMN=EXPR]`` (defined inline).

    Raises
    ------
    ConfigError
        An unknown name (listing the defined ones) or a bad inline definition.
    """
    name, sep, body = text.partition(":")
    if not sep:
        if name not in defined:
            raise ConfigError(f"--scenario {name!r}: not a scenario of the config's "
                              f"[predict.scenarios] (it has {sorted(defined) or 'none'}); or "
                              f"define it inline: --scenario NAME:t_min=+2,t_max=+2")
        return defined[name]
    changes = {}
    for item in filter(None, body.split(",")):
        column, eq, expr = item.partition("=")
        if not eq:
            raise ConfigError(f"--scenario {text!r}: expected NAME:COLUMN=EXPR[,COLUMN=EXPR]")
        changes[column.strip()] = expr.strip()
    return parse_scenario(name, changes, "--scenario")


def write_driver_file(path, table: DriverTable, note="") -> Path:
    """``table`` as a driver file (`pdaframe.models.driver_file.format_driver_file`: values
    written with ``repr``, read back as the same floats), atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(format_driver_file(table, note), encoding="utf-8")
    return Path(path)
