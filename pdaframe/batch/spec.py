"""The batch config: a single-site config (the template) with a ``[batch]`` table, expanded
into one config per site of a site attribute table.

::

    seed = 2026

    [batch]
    sites = "network/sites.csv"         # site table (pdaframe.sites.read_site_table),
                                        # relative to the config
    select = ["syn0001", "syn0004"]     # optional: site names, or a slice "0:100" / "::10"
                                        # of the table's order
    retries = 1                         # optional: attempts after a failure, per run
    merge = true                        # optional: merge when every site is done
    grid = true                         # optional: the sites are cells of a regular lat/lon
                                        # grid (default: detected; false: no map)
    reports = false                     # optional: per-site plots and report.html

    [model]
    name = "dalec2"
    options = { drivers_file = "network/drivers/{site}.csv" }

    [twin]
    truth = { f_auto = "{truth_f_auto}" }   # a whole-string placeholder of a numeric
                                            # column is that number

Every string of the template (the ``[batch]`` table aside) may hold ``{column}``
placeholders, filled per site from its row of the table (``{{`` and ``}}`` are literal
braces). A string that is one placeholder of a numeric column becomes the number; elsewhere
a number is written as its shortest ``repr`` (``1253`` for 1253.0). Each site's seeds --
the top-level ``seed``, an explicit ``[twin] seed`` and ``[method.options] seed`` -- are
`site_seed` of the template's value and the site name, so a site's result does not depend
on which rank or task ran it, nor on the order.
"""
from __future__ import annotations

import copy
import hashlib
import math
import re
import tomllib
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config.toml_file import read_toml
from ..errors import ConfigError
from ..io.output import dumps_toml
from ..problem.multisite import SITE_NAME
from ..sites import SiteTable, read_site_table
from ..sweep.spec import _absolute_paths

BATCH_KEYS = {"sites", "select", "retries", "merge", "grid", "reports"}
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
WHOLE = re.compile(r"\{([^{}]*)\}")


@dataclass
class Batch:
    """A loaded batch config.

    Attributes
    ----------
    path : Path
        The config file.
    text : str
        Its text.
    template : dict
        The parsed config without ``[batch]``, relative paths made absolute.
    table : SiteTable
        The site attribute table.
    sites : list of str
        The selected sites, in table order (or ``select`` order for a list).
    output_dir : Path
        The batch's output folder (``[output] directory`` or ``-o``).
    retries, merge, grid, reports
        The ``[batch]`` options (``grid``: True, False or None = detect).
    columns : set of str
        The columns the placeholders use.
    """

    path: Path
    text: str
    template: dict
    table: SiteTable
    sites: list
    output_dir: Path
    retries: int = 1
    merge: bool = True
    grid: bool | None = None
    reports: bool = False
    columns: frozenset = frozenset()
    _rows: dict | None = field(default=None, repr=False)

    def position(self, site) -> int:
        """Row of ``site`` in the table (a dict built once: O(1) for 10^5 sites)."""
        if self._rows is None:
            self._rows = {name: k for k, name in enumerate(self.table.sites)}
        return self._rows[site]

    def row(self, site) -> dict:
        """``{column: value}`` of ``site`` (numbers as float, text as str)."""
        k = self.position(site)
        return {c: (float(v[k]) if v.dtype.kind == "f" else str(v[k]))
                for c, v in self.table.columns.items()}


def is_batch_config(path) -> bool:
    """Whether the TOML file ``path`` has a ``[batch]`` table (False if unreadable: the
    single-site loader then reports what is wrong)."""
    try:
        return "batch" in tomllib.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def load_batch(path, output_dir=None) -> Batch:
    """Read a batch config (layout in the module docstring) and its site table.

    Raises
    ------
    ConfigError
        Naming the file and key: a bad ``[batch]`` option, a placeholder naming a column the
        table lacks, an empty text value a placeholder uses, a ``select`` naming an unknown
        or repeated site, a site name that cannot be a folder name, ``grid = true`` for
        sites that are not on a regular grid, a ``[[sites]]`` template.
    DataError
        From the site table (`read_site_table`: a missing file, a duplicate site, a missing
        or non-numeric value, ...).
    """
    path = Path(path)
    text, data = read_toml(path)
    tab = data.pop("batch", None)
    if not isinstance(tab, dict):
        raise ConfigError(f"{path}: [batch] must be a table")
    unknown = sorted(set(tab) - BATCH_KEYS)
    if unknown:
        raise ConfigError(f"{path}: [batch] unknown key(s) {unknown}; allowed: "
                          f"{sorted(BATCH_KEYS)}")
    if "sites" in data:
        raise ConfigError(f"{path}: a [batch] config is a single-site template: one "
                          f"calibration per row of [batch] sites; remove the [[sites]] tables")
    if not isinstance(tab.get("sites"), str):
        raise ConfigError(f"{path}: [batch] 'sites' must name the site table (a CSV file: "
                          f"site, pft, soil, lat, lon, covariates), got {tab.get('sites')!r}")
    table = read_site_table(path.parent / tab["sites"])
    for site in table.sites:
        if not SITE_NAME.fullmatch(site):
            raise ConfigError(f"{table.source}: site name {site!r} cannot name its output "
                              f"folder; use letters, digits and _ . + - (starting with a "
                              f"letter or digit)")
    retries = tab.get("retries", 1)
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"{path}: [batch] 'retries' must be a whole number >= 0, got "
                          f"{retries!r}")
    flags = {}
    for key, default in (("merge", True), ("reports", False), ("grid", None)):
        flags[key] = tab.get(key, default)
        if flags[key] is not default and not isinstance(flags[key], bool):
            raise ConfigError(f"{path}: [batch] {key!r} must be true or false, got "
                              f"{flags[key]!r}")
    out = data.get("output", {})
    directory = out.get("directory", f"results/{path.stem}") if isinstance(out, dict) else None
    if not isinstance(directory, str):
        raise ConfigError(f"{path}: [output] 'directory' must be a string")
    batch = Batch(path, text, _absolute_paths(data, path.parent.resolve()), table,
                  _select(path, table, tab.get("select")),
                  Path(output_dir) if output_dir is not None else path.parent / directory,
                  retries, flags["merge"], flags["grid"], flags["reports"])
    batch.columns = frozenset(_check_placeholders(batch))
    if batch.grid:
        from .merge import grid_axes
        grid_axes(batch.table, batch.sites, required=str(path))
    return batch


def site_seed(seed, site) -> int:
    """The seed of ``site``: from ``(seed, crc32(site name))`` through `numpy`'s
    ``SeedSequence``, a whole number in [0, 2**63)."""
    crc = zlib.crc32(str(site).encode("utf-8"))
    state = np.random.SeedSequence([int(seed), crc]).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def site_config(batch, site) -> dict:
    """The template filled for ``site``: placeholders substituted, seeds derived
    (`site_seed`), ``[output]`` pointing at the config's own folder (the site's), with
    plots and report only when ``[batch] reports`` is on."""
    row = batch.row(site)
    data = _fill(copy.deepcopy(batch.template), row, "")
    data["seed"] = site_seed(data.get("seed", 0), site)
    twin = data.get("twin")
    if isinstance(twin, dict) and isinstance(twin.get("seed"), int):
        twin["seed"] = site_seed(twin["seed"], site)
    options = data.get("method", {}).get("options", {}) if isinstance(
        data.get("method"), dict) else {}
    if isinstance(options, dict) and isinstance(options.get("seed"), int):
        options["seed"] = site_seed(options["seed"], site)
    out = dict(data.get("output", {}))
    out.update(directory=".", plots=batch.reports, report=batch.reports)
    out.pop("checkpoint_every", None)        # a site is the unit of resumption
    data["output"] = out
    return data


def site_config_text(batch, site) -> str:
    """`site_config` as TOML, headed by a comment naming the batch and the site."""
    return (f"# site {site} of the batch {batch.path.resolve()}\n"
            + dumps_toml(site_config(batch, site)))


def digest(text) -> str:
    """sha256 of a site's config text (its comment line aside)."""
    body = text.split("\n", 1)[1] if text.startswith("#") else text
    return hashlib.sha256(body.encode()).hexdigest()


def parse_task(text, n_sites=None) -> tuple[int, int]:
    """``"I/N"`` (1-based: I = 1..N) as ``(I, N)``.

    Raises
    ------
    ConfigError
        Not of the form I/N with 1 <= I <= N.
    """
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ConfigError(f"--task {text!r}: expected I/N with 1 <= I <= N (1-based: a Slurm "
                          f"array --array=1-N passes $SLURM_ARRAY_TASK_ID/N)")
    return int(m.group(1)), int(m.group(2))


def task_sites(sites, task) -> list:
    """The sites of task ``(I, N)`` (None: all): every N-th site from the I-th, so tasks
    get interleaved shares of the table."""
    if task is None:
        return list(sites)
    i, n = task
    return list(sites)[i - 1::n]


def _select(path, table, select) -> list:
    sites = list(table.sites)
    if select is None:
        return sites
    if isinstance(select, str):
        m = re.fullmatch(r"\s*(-?\d*)\s*:\s*(-?\d*)\s*(?::\s*(-?\d*)\s*)?", select)
        if not m or m.group(3) == "0":
            raise ConfigError(f"{path}: [batch] select = {select!r}: expected site names or "
                              f"a slice 'start:stop[:step]' of the table's rows")
        chosen = sites[slice(*(int(g) if g else None for g in m.groups()))]
    elif isinstance(select, list) and all(isinstance(s, str) for s in select):
        unknown = [s for s in select if s not in table.sites]
        if unknown:
            raise ConfigError(f"{path}: [batch] select names site(s) {unknown[:10]} that "
                              f"{table.source} does not list")
        twice = sorted({s for s in select if select.count(s) > 1})
        if twice:
            raise ConfigError(f"{path}: [batch] select lists site(s) {twice} twice")
        chosen = list(select)
    else:
        raise ConfigError(f"{path}: [batch] 'select' must be a list of site names or a "
                          f"slice string, got {select!r}")
    if not chosen:
        raise ConfigError(f"{path}: [batch] select = {select!r} selects no site")
    return chosen


def _check_placeholders(batch) -> set:
    """The columns named by placeholders, each checked against the table."""
    used = {}
    _walk(batch.template, "", lambda key, s: [used.setdefault(m.group(1), key) for m in
                                              PLACEHOLDER.finditer(s) if m.group(1) is not None])
    columns = batch.table.columns
    for name, key in used.items():
        if name not in columns:
            raise ConfigError(f"{batch.path}: '{key}' has the placeholder {{{name}}}, but the "
                              f"site table {batch.table.source} has no column {name!r}; it "
                              f"has {list(columns)}")
        values = columns[name]
        if values.dtype.kind != "f":
            empty = [s for s, v in zip(batch.table.sites, values) if not str(v).strip()]
            if empty:
                raise ConfigError(f"{batch.path}: '{key}' uses {{{name}}}, empty for site(s) "
                                  f"{empty[:10]} in {batch.table.source}")
        elif not np.all(np.isfinite(values)):           # read_site_table refuses them too
            bad = [s for s, v in zip(batch.table.sites, values) if not math.isfinite(v)]
            raise ConfigError(f"{batch.path}: '{key}' uses {{{name}}}, not a finite number "
                              f"for site(s) {bad[:10]}")
    return set(used)


def _walk(node, key, visit):
    if isinstance(node, dict):
        for k, v in node.items():
            _walk(v, f"{key}.{k}" if key else str(k), visit)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk(v, f"{key}.{i}", visit)
    elif isinstance(node, str):
        visit(key, node)


def _fill(node, row, key):
    if isinstance(node, dict):
        return {k: _fill(v, row, f"{key}.{k}") for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, row, key) for v in node]
    if not isinstance(node, str) or "{" not in node and "}" not in node:
        return node
    whole = WHOLE.fullmatch(node)
    if whole and isinstance(row.get(whole.group(1)), float):
        return row[whole.group(1)]

    def one(m):
        if m.group(1) is None:
            return m.group(0)[0]
        value = row[m.group(1)]
        if isinstance(value, float):
            return str(int(value)) if value.is_integer() and abs(value) < 2 ** 53 \
                else repr(value)
        return value
    return PLACEHOLDER.sub(one, node)

