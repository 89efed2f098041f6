"""Sobol sensitivity of DALEC2 (twin cost, US-Me2 2004-2007) on 1, 2 and 4 MPI ranks.

Runs itself under ``mpiexec -n N`` for each N, times the whole analysis inside the job
(after imports), checks that the indices are the same bits on every rank count, and prints
wall times and speed-ups (medians of repeats). On a 2-core machine 4 ranks oversubscribe.

Run: ``.venv/bin/python benchmarks/sobol_mpi.py [--n 128] [--repeats 3]``
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "dalec2_twin" / "config.toml"


def job(n):
    """One analysis under the current launch; rank 0 prints a JSON line."""
    import pdaframe
    from pdaframe.parallel import get_executor, is_root
    from pdaframe.analysis.sensitivity import sobol

    text = CONFIG.read_text().replace("../../", f"{ROOT}/")
    path = Path("/tmp") / "pdaframe_bench_sobol.toml"
    if is_root():
        path.write_text(text)
    executor = get_executor()
    if getattr(executor, "size", 1) > 1:
        executor.comm.Barrier()
    problem, _ = pdaframe.load_config(path)
    start = time.perf_counter()
    res = sobol(problem, n=n, seed=1, executor=executor)
    seconds = time.perf_counter() - start
    if is_root():
        print(json.dumps({"seconds": seconds, "runs": int(len(res.Y)),
                          "ST": res.indices["ST"].tolist()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="Sobol base samples (power of 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        return job(args.n)
    mpiexec = Path(sys.executable).parent / "mpiexec"
    rows = {}
    for ranks in (1, 2, 4):
        times, st = [], None
        for _ in range(args.repeats):
            out = subprocess.run([str(mpiexec), "-n", str(ranks), sys.executable, __file__,
                                  "--job", "--n", str(args.n)], capture_output=True, text=True,
                                 check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            times.append(row["seconds"])
            st = row["ST"] if st is None else st
            assert row["ST"] == st, "indices differ between repeats"
        rows[ranks] = (float(np.median(times)), st, row["runs"])
    base = rows[1][0]
    print(f"Sobol (n = {args.n}) of the DALEC2 twin cost: {rows[1][2]} model runs")
    for ranks, (secs, st, _) in rows.items():
        same = "same bits as 1 rank" if st == rows[1][1] else "DIFFERENT from 1 rank"
        print(f"    {ranks} rank(s): {secs:7.2f} s   speed-up {base / secs:4.2f}   ({same})")


if __name__ == "__main__":
    main()
