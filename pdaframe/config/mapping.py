"""The parameter mapping of a multi-site config: site table, groups, scalings, per-site
defaults (and the rules other modules register in `READERS`).

Keys of ``[parameters]`` (all need ``[[sites]]``)::

    [parameters]
    site_table = "sites.csv"               # site, pft, soil, lat, lon, covariates
    site_table_extra = "ignore"            # rows without [[sites]] (held-out sites) are
                                           # allowed; default "error"
    site_specific = ["c_woo0"]             # one copy per site: c_woo0@<site>
    groups = { f_auto = "pft", c_lma = "pft", theta_som = "soil" }
                                           # one copy per value of the column:
                                           # f_auto@pft=evergreen, ...
    scaled = ["theta_lit"]                 # one factor on every site's own default:
                                           # scale(theta_lit); or { theta_lit = "pft" }:
                                           # one factor per group, scale(theta_lit)@pft=...
    scale_std = 0.25                       # prior of the factors: N(1, scale_std^2) within
    scale_lower = 0.0                      # (scale_lower, scale_upper)
    scale_upper = inf
    site_defaults = { c_lma = "lma" }      # each site's default of c_lma from the table's
                                           # column lma (fixed, scaled or prior mean)

The other estimated parameters are shared. The global vector is: shared, grouped (parameter
by parameter, groups in order of first appearance), scaling factors, the registered rules,
then the site-specific copies site by site (`pdaframe.problem.mapping`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import PdaframeError
from ..problem.mapping import Grouped, MapContext, PerSite, Scaled, Shared, SiteMap
from ..sites import read_site_table
from .hierarchical import read_hierarchical
from .transfer import read_transfer

MAPPING_KEYS = {"site_table", "site_table_extra", "groups", "scaled", "scale_std", "scale_lower", "scale_upper",
                "site_defaults"}
#: Further rules: ``[parameters]`` key -> ``reader(w, value, ctx) -> list of Rule`` (each
#: rule's ``outputs`` are estimated local parameters, taken out of the shared ones).
READERS: dict = {}
READERS["hierarchical"] = read_hierarchical     # [parameters.hierarchical]: partial pooling
READERS["transfer"] = read_transfer             # [[parameters.transfer]]: transfer functions


def mapping_keys() -> set:
    """Every ``[parameters]`` key of a mapping (own and registered)."""
    return MAPPING_KEYS | set(READERS)


def uses_mapping(ptab) -> bool:
    """Whether ``[parameters]`` asks for more than shared and site-specific parameters."""
    return bool(mapping_keys() & set(ptab))


def site_table(w, ptab, base, site_names):
    """The ``site_table`` (or None), checked against the ``[[sites]]`` names both ways."""
    if "site_table" not in ptab:
        return None
    name = w.get(ptab, "site_table", (str,), "parameters")
    table = w.wrap("parameters", lambda: read_site_table(Path(base) / name))
    extra = [s for s in table.sites if s not in site_names]
    policy = w.get(ptab, "site_table_extra", (str,), "parameters", "error")
    if policy not in ("error", "ignore"):
        raise w.error("parameters", f"site_table_extra must be \"error\" or \"ignore\", got "
                                    f"{policy!r}")
    if extra and policy == "error":
        raise w.error("parameters", f"site_table {name!r}: site(s) {extra} have no [[sites]] "
                                    f"table (no drivers or observations); add them, remove "
                                    f"their rows, or set site_table_extra = \"ignore\" (e.g. "
                                    f"held-out sites)")
    missing = [s for s in site_names if s not in table.sites]
    if missing:
        raise w.error("parameters", f"site_table {name!r}: [[sites]] {missing} are not in the "
                                    f"table; every site needs its row of attributes")
    return table


def apply_site_defaults(w, ptab, table, entries):
    """Set each site's default of the ``site_defaults`` parameters from the table."""
    spec = w.get(ptab, "site_defaults", (dict,), "parameters", {})
    if spec and table is None:
        raise w.error("parameters", "'site_defaults' reads the site_table: give one")
    for param, column in spec.items():
        where = f"parameters] [site_defaults.{param}"
        if param not in entries[0]["table"]:
            raise w.error(where, f"unknown parameter {param!r}; the model has "
                                 f"{list(entries[0]['table'])}")
        if not isinstance(column, str):
            raise w.error(where, f"expected a column name of the site table, got {column!r}")
        if column not in table.columns:
            raise w.error(where, f"no column {column!r} in the site table {table.source}; it "
                                 f"has {list(table.columns)}")
        values = table.column(column)
        if values.dtype.kind not in "fi":
            raise w.error(where, f"column {column!r} is text; defaults must be numbers")
        row = {s: i for i, s in enumerate(table.sites)}
        for e in entries:
            e["table"][param] = {**e["table"][param], "mean": float(values[row[e["name"]]])}


def _names(w, value, key, free, taken):
    """``{parameter: column or None}`` of a ``groups``/``scaled`` entry, checked."""
    if isinstance(value, list):
        value = {n: None for n in value}
    if not isinstance(value, dict):
        raise w.error("parameters", f"'{key}' must be a table {{parameter = column}}"
                                    f"{' or a list of parameters' if key == 'scaled' else ''}")
    for n, column in value.items():
        if n not in free:
            raise w.error(f"parameters] [{key}.{n}", f"{n!r} is not an estimated parameter "
                                                     f"({free})")
        if n in taken:
            raise w.error(f"parameters] [{key}.{n}", f"{n!r} is already {taken[n]}")
        if column is not None and (not isinstance(column, str) or not column):
            raise w.error(f"parameters] [{key}.{n}", f"expected a site-table column name, got "
                                                     f"{column!r}")
        taken[n] = key
    return value


def build_mapping(w, ptab, table, entries, free, site_specific) -> SiteMap:
    """The `SiteMap` of a multi-site config with mapping keys.

    Parameters
    ----------
    w : _Where
        Error builder of the loader.
    ptab : dict
        ``[parameters]``.
    table : SiteTable or None
        From `site_table`.
    entries : list of dict
        Per site ``name`` and ``table`` (local parameter -> entry, site overrides applied).
    free, site_specific : list of str
        Estimated local parameters; those with one copy per site.
    """
    ctx = MapContext([e["name"] for e in entries],
                     [{n: e["table"][n] for n in free} for e in entries], table)
    taken = {n: "site-specific" for n in site_specific}
    groups = _names(w, ptab.get("groups", {}), "groups", free, taken)
    scaled = _names(w, ptab.get("scaled", {}), "scaled", free, taken)
    opts = {k: w.get(ptab, f"scale_{k}", (float,), "parameters", d)
            for k, d in (("std", 0.25), ("lower", 0.0), ("upper", np.inf))}
    rules, registered = [], []
    try:
        by_column: dict = {}
        for n, column in groups.items():
            if column is None:
                raise w.error(f"parameters] [groups.{n}", "needs a site-table column")
            by_column.setdefault(column, []).append(n)
        rules += [Grouped(ctx, names, column) for column, names in by_column.items()]
        by_column = {}
        for n, column in scaled.items():
            by_column.setdefault(column, []).append(n)
        rules += [Scaled(ctx, names, column, **opts) for column, names in by_column.items()]
        for key, reader in READERS.items():
            if key in ptab:
                for rule in reader(w, ptab[key], ctx):
                    for n in rule.outputs:
                        if n in taken:
                            raise w.error(f"parameters] [{key}", f"{n!r} is already "
                                                                 f"{taken[n]}")
                        taken[n] = key
                    registered.append(rule)
    except PdaframeError as err:
        if str(err).startswith(str(w.path)):
            raise
        raise w.error("parameters", str(err), type(err)) from None
    shared = [n for n in free if n not in taken]
    specific = [n for n in free if n in site_specific]
    rules = ([Shared(ctx, shared)] if shared else []) + rules + registered + \
        ([PerSite(ctx, specific)] if specific else [])
    return w.wrap("parameters", lambda: SiteMap(ctx, free, rules))
