"""The parameter tables of a config for `pdaframe.config.loader.load_config`: [parameters]
(model defaults overridden, ``estimate``/``estimate_from``) and the parameter vectors of
[twin] ``truth`` and [method] ``x0`` (errors through its ``w``, naming the file and the
table)."""
from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from ..problem.multisite import SEP, split_parameter_name
from .mapping import mapping_keys

PARAM_KEYS = {"mean", "std", "lower", "upper", "transform"}


def _parameter_table(w, model, data, extra=()):
    """Per-parameter dicts (model defaults overridden by the config) and the free names.

    ``extra``: dicts of further parameters (operator parameters ``"<stream>:<name>"``).
    """
    names = list(model.parameter_names) + [e["name"] for e in extra]
    table = {p.name: {"name": p.name, "mean": p.default, "std": p.std, "lower": p.lower,
                      "upper": p.upper, "units": p.units, "long_name": p.long_name}
             for p in getattr(model, "parameters", ())}
    table.update({e["name"]: dict(e) for e in extra})
    tab = w.table(data, "parameters", "top level", required=False)
    free, what = _estimate(w, tab, names)
    if not isinstance(free, list) or not all(isinstance(n, str) for n in free) or not free:
        raise w.error("parameters", f"{what} must be a non-empty list of parameter names")
    for n in free:
        if n not in names:
            raise w.error("parameters", f"{what} names unknown parameter {n!r}; the model "
                                        f"has {names}")
    if len(set(free)) != len(free):
        raise w.error("parameters", f"{what} lists a parameter twice")
    for key, over in tab.items():
        if key in ("estimate", "estimate_from"):
            continue
        if key == "site_specific" or key in mapping_keys():
            if "sites" not in data:
                raise w.error("parameters", f"'{key}' needs [[sites]] tables (a "
                                            f"multi-site config)")
            continue
        where = f"parameters.{key}"
        if key not in names:
            raise w.error(where, f"unknown parameter {key!r}; the model has {names}")
        _override(w, table, key, over, where)
    for n in names:
        if not np.isfinite(table.get(n, {}).get("mean", np.nan)):
            raise w.error(f"parameters.{n}", "no 'mean' given and the model has no default")
    return table, free


def _estimate(w, tab, names):
    """``[parameters] estimate``, or the list in the file ``estimate_from`` names (a
    ``shortlist.toml`` of a sensitivity run); default all ``names``. Returns the list and
    how to name it in errors."""
    if "estimate_from" not in tab:
        return tab.get("estimate", names), "'estimate'"
    if "estimate" in tab:
        raise w.error("parameters", "give either 'estimate' or 'estimate_from', not both")
    src = tab["estimate_from"]
    if not isinstance(src, str):
        raise w.error("parameters", f"'estimate_from' must be a file name, got {src!r}")
    path = Path(w.path).parent / src
    try:
        other = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise w.error("parameters", f"'estimate_from' = {src!r}: cannot read {path} "
                                    f"({err})") from None
    free = other.get("parameters", {}).get("estimate") if isinstance(
        other.get("parameters"), dict) else None
    if free is None:
        raise w.error("parameters", f"'estimate_from' = {src!r}: {path} has no [parameters] "
                                    f"estimate list (write one with a sensitivity run: "
                                    f"shortlist.toml)")
    return free, f"'estimate' of {path}"


def _override(w, table, key, over, where):
    """Apply a config table of ``mean std lower upper transform`` to parameter ``key``."""
    if not isinstance(over, dict):
        raise w.error(where, f"must be a table of {sorted(PARAM_KEYS)}")
    w.keys(over, PARAM_KEYS, where)
    entry = table.setdefault(key, {"name": key})
    for k in PARAM_KEYS - {"transform"}:
        if k in over:
            entry[k] = value = w.get(over, k, (float,), where)
            if np.isnan(value) or (k in ("mean", "std") and not np.isfinite(value)):
                raise w.error(where, f"'{k}' must be a finite number, got {value}")
            if k == "std" and not value > 0:
                raise w.error(where, f"'std' must be positive, got {value}")
    if "transform" in over:
        entry["transform"] = w.get(over, "transform", (str,), where)


def _vector_from(w, spec, where, prior, free, sites=None):
    """A parameter vector from a table of values (others at the prior mean).

    With ``sites = (site names, site-specific parameters)`` (multi-site), ``name@site``
    sets one site's copy and a bare site-specific name sets the copies of all sites (a
    ``name@site`` entry wins over it).
    """
    if not isinstance(spec, dict):
        raise w.error(where, f"expected a table of parameter values, got {spec!r}")
    x = prior.mean.copy()
    for name in sorted(spec, key=lambda n: sites is not None and SEP in n):
        value = w.get(spec, name, (float,), where)
        if name in free:
            x[free.index(name)] = value
            continue
        if sites is not None:
            site_names, specific = sites
            base, site = split_parameter_name(name)
            if "=" in site:          # a group's copy: f_auto@pft=evergreen
                copies = [n for n in free if split_parameter_name(n)[0] == base]
                raise w.error(where, f"{name!r}: no such group copy; the estimated copies of "
                                     f"{base!r} are {copies}")
            if site and site not in site_names:
                raise w.error(where, f"{name!r}: there is no site {site!r}; the sites are "
                                     f"{site_names}")
            if site and base in free:
                raise w.error(where, f"{name!r}: {base!r} is shared by all sites; give it "
                                     f"without '@{site}'")
            if not site and name in specific:
                x[[i for i, n in enumerate(free) if split_parameter_name(n)[0] == name]] = value
                continue
        raise w.error(where, f"{name!r} is not an estimated parameter ({free})")
    return x


def _truth(w, tab, prior, free, seed, sites=None):
    spec = tab.get("truth")
    if spec is None:
        raise w.error("twin", "missing required key 'truth' (a table of values or \"sample\")")
    if spec == "sample":
        rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
        return prior.sample(1, rng)[0]
    truth = _vector_from(w, spec, "twin", prior, free, sites)
    if not prior.inside(truth):
        raise w.error("twin", f"truth {dict(zip(free, truth))} lies outside the bounds")
    return truth


def _x0(w, spec, prior, free, truth, sites=None):
    if spec == "background":
        return None
    if spec == "truth":
        if truth is None:
            raise w.error("method", "x0 = \"truth\" needs a [twin] table")
        return truth
    if isinstance(spec, str):
        raise w.error("method", f"x0 {spec!r}: expected \"background\", \"truth\" or a table")
    x0 = _vector_from(w, spec, "method", prior, free, sites)
    w.wrap("method", lambda: prior.transform.check_inside(x0, "x0"))
    return x0
