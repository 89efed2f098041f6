"""``[parameters.hierarchical]`` of a multi-site config: partial pooling of some parameters
(`pdaframe.problem.hierarchical.Hierarchical`), registered in
`pdaframe.config.mapping.READERS`::

    [parameters.hierarchical]
    parameters = ["c_eff", "f_auto"]   # drawn per site from their group's distribution
    group = "pft"                      # site-table column of the groups; omit: one group
    mu_std = 1.0                       # prior std of the group means (transform's space)
    sigma0 = 0.3                       # prior median of the spreads (or the fixed spread)
    log_sigma_std = 0.5                # prior std of log sigma
    estimate_spread = true             # false: sigma = sigma0

``mu_std``, ``sigma0`` and ``log_sigma_std`` take a number or a table ``{c_eff = 1.0, f_auto =
0.5}``. Several sets (other groupings or options) are an array of tables
``[[parameters.hierarchical]]``.
"""
from __future__ import annotations

from ..problem.hierarchical import Hierarchical

KEYS = {"parameters", "group", "mu_std", "sigma0", "log_sigma_std", "estimate_spread"}


def read_hierarchical(w, value, ctx) -> list:
    """The `Hierarchical` rules of ``[parameters.hierarchical]`` (a table or an array).

    Parameters
    ----------
    w : _Where
        Error builder of the loader.
    value : dict or list of dict
        The table(s).
    ctx : MapContext
        Sites, their parameter entries and the site table.
    """
    tables = value if isinstance(value, list) else [value]
    rules = []
    for i, tab in enumerate(tables):
        where = "parameters.hierarchical" + (f"] [{i}" if isinstance(value, list) else "")
        if not isinstance(tab, dict):
            raise w.error(where, f"expected a table, got {tab!r}")
        w.keys(tab, KEYS, where)
        names = w.get(tab, "parameters", (list,), where)
        if not names or not all(isinstance(n, str) for n in names):
            raise w.error(where, f"'parameters' must list parameter names, got {names!r}")
        unknown = [n for n in names if n not in ctx.parameters[0]]
        if unknown:
            raise w.error(where, f"{unknown} are not estimated parameters "
                                 f"({list(ctx.parameters[0])})")
        group = w.get(tab, "group", (str,), where, None)
        options = {k: tab[k] for k in ("mu_std", "sigma0", "log_sigma_std") if k in tab}
        for k, v in options.items():
            if isinstance(v, bool) or not isinstance(v, (int, float, dict)):
                raise w.error(where, f"'{k}' must be a number or a table {{parameter = "
                                     f"number}}, got {v!r}")
        spread = w.get(tab, "estimate_spread", (bool,), where, True)
        rules.append(w.wrap(where, lambda: Hierarchical(ctx, names, group, **options,
                                                        estimate_spread=spread)))
    return rules
