"""Write ``US-Me2_warm_synthetic.csv``: SYNTHETIC drivers for the multi-site example.

They are the real US-Me2 daily drivers 2004-01-01 .. 2007-12-31 (bundled with pdaframe-dalec2,
AmeriFlux US-Me2, PI B. E. Law; see its NOTICE.md) perturbed to stand in for a warmer, cloudier
site: every temperature (t_min, t_max, t_mean) + 1.5 degC and shortwave radiation x 0.9. They
are not observations of any site. The file keeps the bundled file's layout, so the dalec2
model reads it with ``options = { site = "US-Me2", drivers_file = "US-Me2_warm_synthetic.csv" }``.

Run from anywhere: ``python examples/dalec2_multisite/make_synthetic_drivers.py``.
"""
from pathlib import Path

from pdaframe.tables import read_columns
from pdaframe_dalec2.readers import data_path

HERE = Path(__file__).resolve().parent
OUT = HERE / "US-Me2_warm_synthetic.csv"
START, END = "2004-01-01", "2007-12-31"
WARMING = 1.5          # degC added to t_min, t_max, t_mean
RADIATION = 0.9        # factor on sw_in
COLUMNS = ["date", "doy", "in_tower_file", "t_min_degC", "t_max_degC", "t_mean_degC",
           "sw_in_MJ_m2_d"]


def _number(value) -> str:
    """``value`` to 6 decimals (the source's precision), without trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def main(out=OUT):
    """Write the synthetic drivers to ``out`` (default: beside this script)."""
    cells = read_columns(data_path("US-Me2"), COLUMNS, text=["date"])
    keep = (cells["date"] >= START) & (cells["date"] <= END)
    lines = [
        "# SYNTHETIC drivers, not observations: the real US-Me2 daily drivers "
        f"{START} .. {END}",
        f"# (AmeriFlux US-Me2, PI B. E. Law) with temperatures + {WARMING} degC and shortwave "
        f"radiation x {RADIATION};",
        "# written by make_synthetic_drivers.py for examples/dalec2_multisite.",
        ",".join(COLUMNS)]
    for i in range(keep.size):
        if keep[i]:
            c = {k: cells[k][i] for k in COLUMNS}
            lines.append(",".join([
                c["date"], f"{c['doy']:.0f}", f"{c['in_tower_file']:.0f}",
                *(_number(c[k] + WARMING) for k in ("t_min_degC", "t_max_degC", "t_mean_degC")),
                _number(c["sw_in_MJ_m2_d"] * RADIATION)]))
    Path(out).write_text("\n".join(lines) + "\n")
    return Path(out)


if __name__ == "__main__":
    print(f"wrote {main()}")
