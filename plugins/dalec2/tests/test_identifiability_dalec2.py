"""Identifiability on the DALEC2 twin (examples/dalec2_twin): the known trade-offs appear as
the strongly correlated pairs of the 4D-Var (Laplace) posterior.

- f_auto ~ c_eff (+): NEE sees GPP (1 - f_auto); a larger canopy efficiency c_eff (more
  GPP) is offset by a larger autotrophic respiration fraction f_auto.
- f_lab, c_lma, c_lab0, c_fol0 (+): LAI = C_fol / c_lma; foliage grows from the labile
  pool, so more allocation to labile (f_lab), a larger initial labile or foliar pool and a
  larger leaf mass per area give the same LAI.
"""
from pathlib import Path

import numpy as np
import pytest

import pdaframe
from pdaframe.analysis.identifiability import format_identifiability, identifiability

CONFIG = Path(__file__).parents[3] / "examples" / "dalec2_twin" / "config.toml"

PAIRS = {("f_auto", "c_eff"): 0.7, ("f_lab", "c_lma"): 0.9, ("f_lab", "c_lab0"): 0.8,
         ("c_lma", "c_lab0"): 0.8, ("c_lma", "c_fol0"): 0.8, ("f_lab", "c_fol0"): 0.75}
"""Pairs that must be strong (positive r at least this large)."""


@pytest.mark.slow
def test_twin_trade_offs_are_the_strong_correlations(tmp_path):
    text = CONFIG.read_text().replace("../../", str(CONFIG.parents[2]) + "/")
    (tmp_path / "c.toml").write_text(text)
    problem, _ = pdaframe.load_config(tmp_path / "c.toml")
    res = pdaframe.minimise(problem, method="lbfgsb", maxiter=3000)
    ident = identifiability(problem, res)
    names = ident["names"]
    with np.printoptions(linewidth=250, precision=2, suppress=True):
        print(names)
        print(ident["correlation"])
    print(format_identifiability(ident))
    strong = {frozenset(p[:2]): p[2] for p in ident["strong_pairs"]}
    for (a, b), least in PAIRS.items():
        assert strong.get(frozenset((a, b)), 0.0) > least, (a, b, strong)
    # 23 parameters: most directions constrained by three streams, a few not
    assert 15 <= ident["n_constrained"] <= 21
    red = dict(zip(names, ident["uncertainty_reduction"]))
    assert red["c_woo0"] > 0.95 and red["c_som0"] < 0.2   # wood observed, soil pool not
    # the cost-term sensitivities come from one adjoint per stream
    sens = ident["sensitivity"]
    assert sens["mode"] == "adjoint" and sens["outputs"] == ["cost:nee", "cost:lai",
                                                             "cost:c_woo"]
    assert np.all(np.isfinite(sens["values"]))
    # a chosen output: the mean annual NEE, by one adjoint, against central differences
    from pdaframe.analysis.identifiability import sensitivities
    annual = sensitivities(problem, res.x, ["nee_annual_sum"])["gradient"][0]
    for name in ("f_auto", "c_eff", "c_lma"):
        i = names.index(name)
        h = 1e-6 * abs(res.x[i])
        up, down = res.x.copy(), res.x.copy()
        up[i] += h
        down[i] -= h
        fd = 365.25 * (problem.run(up)["nee"].mean() - problem.run(down)["nee"].mean()) / (2 * h)
        assert annual[i] == pytest.approx(fd, rel=1e-5), name
