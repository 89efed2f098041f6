"""examples/dalec2_compare: two DALEC2 variants (P16, CARDAMOM) on real US-Me2 NEE and LAI,
compared by WAIC, PSIS-LOO and leave-year-out (about 2 minutes on 2 shared cores)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pdaframe_dalec2")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "dalec2_compare", ROOT / "examples" / "dalec2_compare" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dalec2_variants_compared_on_us_me2(tmp_path, capsys):
    from pdaframe.analysis import model_selection as ms
    from pdaframe.cli import main

    runs = _script().main(["-o", str(tmp_path)])
    out = capsys.readouterr().out
    assert "variant" in out and "LYO lppd" in out and "log Z" in out
    for r in runs.values():
        assert np.nanmax(r["chains"]["rhat"]) < 1.1                  # short chains, converged
        assert r["chains"]["log_likelihood"]["nee"].shape[:2] == (4, 2000)
        assert [f["year"] for f in r["cv"]["folds"]] == [2004, 2005, 2006, 2007]
    table = ms.compare({v: r["chains"] for v, r in runs.items()})
    # same data for both (the comparison is allowed), no unreliable Pareto k
    assert list(table["n_obs"]) == [runs["P16"]["problem"].n_obs] * 2
    assert list(table["n_bad_k"]) == [0, 0]
    # P16 fits these data better by PSIS-LOO (by more than 4 SE of the difference; 85 +- 11
    # seen) and predicts held-out years better (summed lppd; -1973 vs -2128 seen)
    assert table.index[0] == "P16"
    assert table.loc["CARDAMOM", "elpd_diff"] > 4 * table.loc["CARDAMOM", "dse"]
    assert runs["P16"]["cv"]["mean"]["lppd_total"] > runs["CARDAMOM"]["cv"]["mean"]["lppd_total"]
    # WAIC and LOO agree within their SE; p_loo near the 7 parameters' effective number
    waic = ms.compare({v: r["chains"] for v, r in runs.items()}, ic="waic")
    for v in runs:
        assert abs(waic.loc[v, "elpd_waic"] - table.loc[v, "elpd_loo"]) < table.loc[v, "se"]
        assert 1 < table.loc[v, "p_loo"] < 10
    # the files: samples.nc with the log_likelihood group, cross_validation.nc
    for v in ("p16", "cardamom"):
        assert (tmp_path / v / "samples.nc").is_file()
        assert (tmp_path / v / "cross_validation.nc").is_file()
    assert main(["compare", str(tmp_path / "p16"), str(tmp_path / "cardamom")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].startswith("p16") and printed[2].startswith("cardamom")
