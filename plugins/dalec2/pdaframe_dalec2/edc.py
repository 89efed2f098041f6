"""Ecological and dynamic constraints (EDCs) of DALEC2 (dalec2.md section 5).

EDCs 1-6 are ratios of parameters and mean pools; 7-12 test the steady-state proximity of the
six pools over the run (Bloom & Williams 2015; CARDAMOM ``EDC1_400.c``, ``EDC2_400.c``)::

    1  theta_som <= theta_lit
    2  theta_min >= theta_som
    3  theta_woo <= 1 / (365.25 c_lspan)
    4  theta_roo >= theta_som exp(Theta T),   T = run mean of (T_min + T_max) / 2
    5  F_r / 5 <= F_f + F_lab <= 5 F_r        (true fractions of GPP)
    6  mean C_fol <= 5 mean C_roo and mean C_roo <= 5 mean C_fol
    7-12 (C_lab, C_fol, C_roo, C_woo, C_lit, C_som): R_m = F_in / F_out (run totals),
       R_s = R_m mean_yearly(C) / C_0; fail if |ln R_s| > ln EQF or |R_s - R_m| > 0.1
    13 every mean pool <= the upper prior bound of its initial value (c_lab0 ... c_som0;
       dalec2.md section 5 "each mean pool <= its upper prior bound"; numbered here, CARDAMOM
       checks it with the others; the bounds of the plugin's parameter table)

The inflows and outflows of each pool are recovered from the model's outputs by mass balance
(``out_t = C_t - C_{t+1} + in_t``, so over steps ``0 .. n-2``): allocations from
``NPP = gpp - ra`` and the fractions, labile release feeds foliage, leaf fall and root
turnover feed litter, wood turnover and the ``theta_min / (theta_lit + theta_min)`` share of
the litter loss feed SOM. The yearly samples are the steps nearest to ``k * 365.25`` days
after the start (``k = 0, 1, ...``, inside the run).
"""
from __future__ import annotations

import numpy as np

from pdaframe.plugin import ModelError

from .parameters import PARAMETER_NAMES, PARAMETERS

EDC_NAMES = {
    1: "EDC 1 (theta_som <= theta_lit)",
    2: "EDC 2 (theta_min >= theta_som)",
    3: "EDC 3 (theta_woo <= 1/(365.25 c_lspan))",
    4: "EDC 4 (theta_roo >= theta_som exp(theta T_mean))",
    5: "EDC 5 (F_r/5 <= F_f + F_lab <= 5 F_r)",
    6: "EDC 6 (mean C_fol and mean C_roo within a factor 5)",
    7: "EDC 7 (steady state of C_lab)",
    8: "EDC 8 (steady state of C_fol)",
    9: "EDC 9 (steady state of C_roo)",
    10: "EDC 10 (steady state of C_woo)",
    11: "EDC 11 (steady state of C_lit)",
    12: "EDC 12 (steady state of C_som)",
    13: "EDC 13 (every mean pool <= the upper bound of its initial value)",
}
"""Name of each EDC, used in error messages."""

POOL_OUTPUTS = ("c_lab", "c_fol", "c_roo", "c_woo", "c_lit", "c_som")
EDC_OUTPUTS = frozenset(POOL_OUTPUTS + ("gpp", "ra"))
"""The model outputs the EDC checks read."""
ALL_EDCS = tuple(range(1, 14))
POOL_UPPER = np.array([next(p.upper for p in PARAMETERS if p.name == f"{name}0")
                       for name in POOL_OUTPUTS])
"""Upper bound of each pool's initial value (EDC 13)."""


def gpp_fractions(theta) -> dict[str, float]:
    """The "true" GPP fractions ``F_a, F_f, F_lab, F_r, F_w`` of dalec2.md section 5."""
    p = dict(zip(PARAMETER_NAMES, np.asarray(theta, dtype=float)))
    fa = p["f_auto"]
    ff = (1 - fa) * p["f_fol"]
    flab = (1 - fa - ff) * p["f_lab"]
    fr = (1 - fa - ff - flab) * p["f_roo"]
    return {"F_a": fa, "F_f": ff, "F_lab": flab, "F_r": fr, "F_w": 1 - fa - ff - flab - fr}


def pool_flows(theta, outputs, dt) -> tuple[np.ndarray, np.ndarray]:
    """Run totals of each pool's inflow and outflow, shape ``(6,)`` each (g m-2).

    Parameters
    ----------
    theta : array_like, shape (23,)
    outputs : mapping
        Outputs of `Dalec2.run` at ``theta``.
    dt : array_like, shape (n,)
        Step lengths (days).
    """
    p = dict(zip(PARAMETER_NAMES, np.asarray(theta, dtype=float)))
    c = np.column_stack([np.asarray(outputs[k], dtype=float) for k in POOL_OUTPUTS])
    loss = c[:-1] - c[1:]                                # C_t - C_{t+1}, steps 0 .. n-2
    npp = (np.asarray(outputs["gpp"]) - np.asarray(outputs["ra"]))[:-1] * np.asarray(dt)[:-1]
    a_f = npp * p["f_fol"]
    a_lab = npp * (1 - p["f_fol"]) * p["f_lab"]
    a_r = npp * (1 - p["f_fol"]) * (1 - p["f_lab"]) * p["f_roo"]
    a_w = npp * (1 - p["f_fol"]) * (1 - p["f_lab"]) * (1 - p["f_roo"])
    out_lab = loss[:, 0] + a_lab
    in_fol = a_f + out_lab
    out_fol = loss[:, 1] + in_fol
    out_roo = loss[:, 2] + a_r
    out_woo = loss[:, 3] + a_w
    in_lit = out_fol + out_roo
    out_lit = loss[:, 4] + in_lit
    in_som = out_woo + out_lit * p["theta_min"] / (p["theta_lit"] + p["theta_min"])
    out_som = loss[:, 5] + in_som
    f_in = np.array([a_lab.sum(), in_fol.sum(), a_r.sum(), a_w.sum(), in_lit.sum(),
                     in_som.sum()])
    f_out = np.array([out_lab.sum(), out_fol.sum(), out_roo.sum(), out_woo.sum(),
                      out_lit.sum(), out_som.sum()])
    return f_in, f_out


def check_edcs(theta, outputs, drivers, eqf=2.0) -> dict[int, bool]:
    """Which EDCs 1-13 hold for ``theta`` and its run.

    Parameters
    ----------
    theta : array_like, shape (23,)
        DALEC2 parameters and initial pools.
    outputs : mapping
        Outputs of `Dalec2.run` at ``theta`` (pools, ``gpp``, ``ra``).
    drivers : Drivers
        The run's drivers (temperatures, step lengths).
    eqf : float
        Steady-state factor of EDCs 7-12 (CARDAMOM default 2).

    Returns
    -------
    dict
        ``{1: bool, ..., 13: bool}``; see `EDC_NAMES`.
    """
    theta = np.asarray(theta, dtype=float)
    p = dict(zip(PARAMETER_NAMES, theta))
    t_bar = float(np.mean(0.5 * (drivers.t_min + drivers.t_max)))
    f = gpp_fractions(theta)
    c_fol = float(np.mean(outputs["c_fol"]))
    c_roo = float(np.mean(outputs["c_roo"]))
    ok = {
        1: p["theta_som"] <= p["theta_lit"],
        2: p["theta_min"] >= p["theta_som"],
        3: p["theta_woo"] <= 1.0 / (365.25 * p["c_lspan"]),
        4: p["theta_roo"] >= p["theta_som"] * np.exp(p["theta"] * t_bar),
        5: f["F_r"] / 5 <= f["F_f"] + f["F_lab"] <= 5 * f["F_r"],
        6: c_fol <= 5 * c_roo and c_roo <= 5 * c_fol,
    }
    f_in, f_out = pool_flows(theta, outputs, drivers.dt)
    elapsed = np.concatenate([[0.0], np.cumsum(drivers.dt)[:-1]])
    years = np.arange(0.0, elapsed[-1] + 0.5, 365.25)
    rows = np.unique(np.abs(elapsed[None, :] - years[:, None]).argmin(axis=1))
    for i, name in enumerate(POOL_OUTPUTS):
        c = np.asarray(outputs[name], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            r_m = f_in[i] / f_out[i]
            r_s = r_m * c[rows].mean() / c[0]
            ok[7 + i] = bool(np.isfinite(r_s) and r_s > 0 and abs(np.log(r_s)) <= np.log(eqf)
                             and abs(r_s - r_m) <= 0.1)
    means = np.array([np.mean(outputs[name]) for name in POOL_OUTPUTS])
    ok[13] = bool(np.all(means <= POOL_UPPER))
    return {k: bool(v) for k, v in ok.items()}


def reject(theta, outputs, drivers, edcs=ALL_EDCS, eqf=2.0) -> None:
    """Raise `ModelError` naming the first failing EDC among ``edcs``.

    Raises
    ------
    ModelError
        With ``theta`` attached: ``"dalec2: EDC 1 (theta_som <= theta_lit) fails ..."``.
    """
    ok = check_edcs(theta, outputs, drivers, eqf)
    failing = [k for k in edcs if not ok[k]]
    if failing:
        raise ModelError(f"dalec2: {EDC_NAMES[failing[0]]} fails; failing EDCs: {failing}",
                         theta=np.asarray(theta))
