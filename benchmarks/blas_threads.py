"""CPU time of the main job with the default BLAS setting vs ``OPENBLAS_NUM_THREADS=1``.

Runs ``pdaframe run examples/dalec2_twin/config.toml`` (the DALEC2 twin, the README's main
job) ``--repeats`` times for each setting, interleaved, in fresh processes, and prints the
median CPU time (user + system of the child) and wall time of each and their ratio. With
pdaframe limiting the BLAS to one thread inside every method (`pdaframe.blas`) the ratio
should be close to 1; before, multithreaded OpenBLAS spinning on busy cores made the default
run use ~2-3x the CPU. The load average before and after is printed: the machine is shared.

Run: ``.venv/bin/python benchmarks/blas_threads.py [--repeats 5]``
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "dalec2_twin" / "config.toml"
SETTINGS = {"default": {}, "OPENBLAS_NUM_THREADS=1": {"OPENBLAS_NUM_THREADS": "1"}}


def run_once(extra_env, out) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one main-job run in a fresh process."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_NUM_THREADS", "PDAFRAME_BLAS_THREADS")}
    env.update(extra_env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pdaframe.cli", "run", str(CONFIG), "-q", "-o",
                    str(out)], env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()}")
    times = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for name, extra in SETTINGS.items():
                times[name].append(run_once(extra, Path(tmp) / f"{name}-{i}".replace("=", "")))
    print(f"load average after:  {os.getloadavg()}")
    print(f"main job (DALEC2 twin), median of {args.repeats} interleaved runs")
    med = {}
    for name, runs in times.items():
        med[name] = (statistics.median(c for c, _ in runs), statistics.median(w for _, w in runs))
        print(f"  {name:24s} CPU {med[name][0]:6.2f} s   wall {med[name][1]:6.2f} s")
    ratio = med["default"][0] / med["OPENBLAS_NUM_THREADS=1"][0]
    print(f"CPU ratio default / one thread: {ratio:.2f} (goal <= 1.2)")


if __name__ == "__main__":
    main()
