"""``[[parameters.transfer]]`` tables of a multi-site config: transfer functions
(`pdaframe.problem.transfer.Transfer`), registered as ``READERS["transfer"]`` of
`pdaframe.config.mapping`::

    [parameters]
    site_table = "sites.csv"              # the attributes (numeric columns as inputs)

    [[parameters.transfer]]
    name = "tf1"                          # prefix of the weights' names (default tf<i>)
    kind = "mlp"                          # "linear" (default) or "mlp"
    inputs = ["t_offset", "lat"]          # numeric site-table columns
    outputs = ["c_eff", "d_onset"]        # estimated model parameters (not grouped, scaled
                                          # or site-specific)
    hidden = [8]                          # mlp only: hidden layer sizes (default [8])
    weight_std = 0.5                      # prior std of every weight (default 1)
    seed = 1                              # seed of the hidden layers' initial weights

Every mistake is a `ConfigError` naming ``[parameters.transfer.<i>]``, found before any
model run.
"""
from __future__ import annotations

from ..problem.transfer import Transfer

TRANSFER_KEYS = {"name", "kind", "inputs", "outputs", "hidden", "weight_std", "seed"}
#: Hidden layers of an ``"mlp"`` without ``hidden``.
DEFAULT_HIDDEN = [8]


def _names(w, tab, key, where):
    value = w.get(tab, key, (list,), where)
    if not value or not all(isinstance(v, str) and v for v in value):
        raise w.error(where, f"'{key}' must be a non-empty list of names, got {value!r}")
    return value


def read_transfer(w, value, ctx) -> list:
    """The `Transfer` rules of ``[[parameters.transfer]]`` (``value``: its list of tables).

    Parameters
    ----------
    w : _Where
        The loader's error builder.
    value : list of dict
        The tables.
    ctx : MapContext
        Sites, the estimated parameters' per-site entries and the site table.
    """
    if not isinstance(value, list) or not value or not all(isinstance(t, dict) for t in value):
        raise w.error("parameters", "'transfer' must be an array of tables "
                                    "[[parameters.transfer]]")
    estimated = list(ctx.parameters[0]) if ctx.parameters else []
    rules, owner = [], {}
    for i, tab in enumerate(value):
        where = f"parameters.transfer.{i}"
        w.keys(tab, TRANSFER_KEYS, where)
        name = w.get(tab, "name", (str,), where, f"tf{i + 1}")
        kind = w.get(tab, "kind", (str,), where, "linear")
        inputs, outputs = _names(w, tab, "inputs", where), _names(w, tab, "outputs", where)
        for n in outputs:
            if n not in estimated:
                raise w.error(where, f"output {n!r} is not an estimated model parameter; the "
                                     f"estimated ones are {estimated}")
            if n in owner:
                raise w.error(where, f"output {n!r} is also an output of "
                                     f"[parameters.transfer.{owner[n]}]")
            owner[n] = i
        if any(r.name == name for r in rules):
            raise w.error(where, f"name {name!r} is also that of another transfer function; "
                                 f"the weights' names must differ")
        hidden = w.get(tab, "hidden", (list,), where, DEFAULT_HIDDEN if kind == "mlp" else [])
        weight_std = w.get(tab, "weight_std", (float,), where, 1.0)
        seed = w.get(tab, "seed", (int,), where, 0)
        rules.append(w.wrap(where, lambda: Transfer(ctx, outputs, inputs, kind, hidden,
                                                     weight_std, seed, name)))
    return rules
