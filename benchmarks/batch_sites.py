"""Batch inversions at scale: N synthetic DALEC2 sites x 4D-Var (L-BFGS-B, adjoint) in batch
mode on 1, 2 and 4 MPI ranks.

The sites come from ``examples/dalec2_batch/make_network.py`` (US-Me2's 2005 drivers,
shifted and perturbed, 365 days each) and the config is the example's (4 parameters, NEE
daily + LAI 8-daily, a twin per site). For each number of ranks R the batch runs from
scratch into its own folder (``mpiexec -n R pdaframe run``); the script prints the wall
time, sites per second, time per site (median of the per-site times in ``summary.json``),
the parallel efficiency ``T_1 / (R T_R)``, the peak RSS of each rank (from the run's own
report) and the output per site. With ``--memory`` it also runs a quarter of the sites on
the largest R: a rank's peak memory must not grow with N (sites are independent; the only
per-site state kept is a status line).

    python benchmarks/batch_sites.py                 # 1000 sites, ranks 1 2 4
    python benchmarks/batch_sites.py --sites 40      # a quick run
    python benchmarks/batch_sites.py --sites 200 --ranks 1 2 --repeats 3

Measured (this machine: 2 cores shared with four other jobs, load average 4-12 during the
runs, so 4 ranks oversubscribe and the wall times are noisy; pdaframe at the commit adding
this file). ``--sites 1000 --ranks 1 2 4 --memory`` (load 6-12)::

    ranks   wall s  sites/s median s/site efficiency  peak RSS per rank (MiB)
        1    369.2     2.71         0.307       1.00                      129
        2    263.4     3.80         0.505       0.70                 147, 146
        4    224.0     4.46         0.808       0.41       148, 147, 147, 147
    output: 68 KiB per site folder, batch.nc 559 KiB for 1000 sites
    peak RSS on 4 ranks: 250 sites 146 MiB, 1000 sites 148 MiB (ratio 1.01)

``--sites 200 --ranks 1 2 4 --memory`` (load about 6)::

    ranks   wall s  sites/s median s/site efficiency  peak RSS per rank (MiB)
        1    141.3     1.42         0.627       1.00                      129
        2     71.1     2.81         0.600       0.99                 145, 145
        4     57.2     3.50         0.828       0.62       146, 146, 146, 146
    peak RSS on 4 ranks: 50 sites 146 MiB, 200 sites 146 MiB (ratio 1.00)

Reading: with two free cores two ranks are 0.99 efficient (the 200-site run); the lower
1000-site figure comes with the median time per site rising from 0.31 to 0.51 s, i.e. the
other jobs' load, not the schedule (each rank took 500 +- 10 sites, and the schedule costs
1-2 ms per site). Four ranks on two cores can at best reach 0.5. A rank's peak memory
(about 147 MiB: Python, numpy, netCDF4, DALEC2 and one site) does not grow with the number
of sites: the only per-site state kept is a status line. The checks before the runs (every
site's config loaded) took 10.7 s for 1000 sites on one core.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "dalec2_batch"
PDAFRAME = [sys.executable, "-m", "pdaframe.cli"]
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def make_network(folder, n_sites):
    spec = importlib.util.spec_from_file_location("make_network", EXAMPLE / "make_network.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_network(folder, n_sites)


def run(config, out, ranks) -> dict:
    """One batch run from scratch; its wall time, per-site times, memory and output size."""
    shutil.rmtree(out, ignore_errors=True)
    command = [*PDAFRAME, "run", str(config), "-o", str(out), "-q"]
    if ranks > 1:
        command = [str(MPIEXEC), "-n", str(ranks), *command]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"batch on {ranks} rank(s) failed:\n{proc.stderr[-3000:]}")
    rss = [float(x) for x in re.search(r"peak memory per rank: ([\d., ]+) MiB",
                                       proc.stdout).group(1).split(",")]
    summaries = [json.loads(p.read_text()) for p in (out / "sites").glob("*/summary.json")]
    size = sum(f.stat().st_size for f in (out / "sites").rglob("*") if f.is_file())
    return {"wall": wall, "site_seconds": [s["seconds"] for s in summaries],
            "n": len(summaries), "rss": rss, "bytes_per_site": size / max(len(summaries), 1),
            "merged_bytes": (out / "batch.nc").stat().st_size}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeats", type=int, default=1, help="median of this many runs")
    parser.add_argument("--memory", action="store_true",
                        help="also run N/4 sites on the largest rank count (RSS vs N)")
    parser.add_argument("--keep", help="work folder to keep (default: a temporary one)")
    args = parser.parse_args(argv)
    work = Path(args.keep or tempfile.mkdtemp(prefix="pdaframe-batch-bench-"))
    make_network(work / "network", args.sites)
    config = work / "config.toml"
    shutil.copy(EXAMPLE / "config.toml", config)
    print(f"{args.sites} synthetic DALEC2 sites (365 days, 4 parameters, lbfgsb) in {work}")
    rows = {}
    for ranks in args.ranks:
        runs = [run(config, work / f"out{ranks}", ranks) for _ in range(args.repeats)]
        wall = statistics.median(r["wall"] for r in runs)
        rows[ranks] = {"wall": wall, "rss": runs[0]["rss"], **{k: runs[0][k] for k in (
            "site_seconds", "bytes_per_site", "merged_bytes", "n")}}
    t1 = rows[min(rows)]["wall"] * min(rows)
    print(f"{'ranks':>5} {'wall s':>8} {'sites/s':>8} {'median s/site':>13} "
          f"{'efficiency':>10} {'peak RSS per rank (MiB)':>24}")
    for ranks, r in rows.items():
        print(f"{ranks:>5} {r['wall']:>8.1f} {r['n'] / r['wall']:>8.2f} "
              f"{statistics.median(r['site_seconds']):>13.3f} {t1 / (ranks * r['wall']):>10.2f} "
              f"{', '.join(f'{m:.0f}' for m in r['rss']):>24}")
    first = rows[min(rows)]
    print(f"output: {first['bytes_per_site'] / 1024:.0f} KiB per site folder, batch.nc "
          f"{first['merged_bytes'] / 1024:.0f} KiB for {first['n']} sites")
    if args.memory:
        ranks = max(rows)
        small = work / "quarter"
        make_network(small / "network", max(args.sites // 4, ranks))
        shutil.copy(EXAMPLE / "config.toml", small / "config.toml")
        quarter = run(small / "config.toml", small / "out", ranks)
        ratio = max(rows[ranks]["rss"]) / max(quarter["rss"])
        print(f"peak RSS on {ranks} ranks: {quarter['n']} sites {max(quarter['rss']):.0f} MiB, "
              f"{rows[ranks]['n']} sites {max(rows[ranks]['rss']):.0f} MiB (ratio {ratio:.2f})")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
