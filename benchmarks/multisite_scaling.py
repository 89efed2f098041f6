"""One joint multi-site DALEC2 problem with 10 .. 100 sites: cost and gradient time and memory
per site (issue 15: "linear in sites").

Each size runs in its own process: a synthetic network of N sites (US-Me2 drivers 2004-2005,
shifted latitude, temperature offsets, noise; `pdaframe.sites.synthetic_network`), a mapping
with PFT groups (f_auto, c_lma), a scaling (theta_lit), shared process parameters and one
c_woo0 per site, synthetic daily NEE and 8-daily LAI. It times the cost (one DALEC2 run per
site) and the gradient (run + adjoint per site) at fresh points (medians of repeats) and
reports the process's peak RSS before and after building and evaluating the problem. The
last columns divide by N: constant columns mean linear scaling.

Run: ``.venv/bin/python benchmarks/multisite_scaling.py [--sites 10 25 50 100] [--repeats 5]``

Measured here (2 cores shared with a test run and four other jobs, 2026-12-05; medians of 5):

    sites  params  cost ms  grad ms  cost ms/site  grad ms/site  MB/site
       10      17     10.9     18.5          1.09          1.85     0.34
       25      32     20.0     42.9          0.80          1.72     0.31
       50      57     52.8    118.1          1.06          2.36     0.31
      100     107     80.6    208.5          0.81          2.09     0.31

(see the script's output for the current machine; the MB/site column is the growth of the
peak RSS over the process before the problem was built, divided by N.)
"""
import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def job(n_sites, repeats):
    """Build and time one size; print one JSON line."""
    import pdaframe
    from pdaframe.models.driver_file import DriverTable
    from pdaframe.problem.mapping import (Grouped, MapContext, PerSite, Scaled, Shared,
                                          SiteMap)
    from pdaframe.problem.multisite import MultiSiteProblem, Site
    from pdaframe.problem.fixed import FixedParameters
    from pdaframe.sites import synthetic_network
    from pdaframe_dalec2 import Dalec2, Drivers
    from pdaframe_dalec2.readers import read_us_me2

    d = read_us_me2(start="2004-01-01", end="2005-12-31")
    base = DriverTable(d.time, {c: getattr(d, c) for c in ("t_min", "t_max", "t_mean", "sw")},
                       d.latitude, -121.56, "US-Me2")
    net = synthetic_network(base, n_sites, 3, proportions=(0.5, 0.5))
    rss0 = _rss_mb()
    start = time.perf_counter()
    free = ["theta_min", "f_auto", "f_fol", "theta_lit", "c_lma", "c_woo0"]
    sites, params = [], []
    for s in net.table.sites:
        model = Dalec2(Drivers.from_table(net.drivers[s]))
        table = {p.name: {"name": p.name, "mean": p.default, "std": p.std, "lower": p.lower,
                          "upper": p.upper} for p in model.parameters}
        params.append({n: table[n] for n in free})
        fixed = FixedParameters(model, free, model.defaults)
        steps = len(net.drivers[s].time)
        lai = np.arange(0, steps, 8)
        streams = [pdaframe.DataStream("nee", "nee", np.zeros(steps), std=0.7),
                   pdaframe.DataStream("lai", "lai", np.zeros(lai.size), times=lai, std=0.3)]
        sites.append(Site(s, fixed, streams))
    ctx = MapContext(list(net.table.sites), params, net.table)
    mapping = SiteMap(ctx, free, [Shared(ctx, ["theta_min", "f_fol"]),
                                  Grouped(ctx, ["f_auto", "c_lma"], "pft"),
                                  Scaled(ctx, ["theta_lit"]), PerSite(ctx, ["c_woo0"])])
    e = mapping.entries
    prior = pdaframe.GaussianPrior([p["mean"] for p in e], std=[p["std"] for p in e],
                                   lower=[p["lower"] for p in e], upper=[p["upper"] for p in e],
                                   names=mapping.names)
    problem = MultiSiteProblem(sites, prior, mapping=mapping)
    problem = problem.synthetic(prior.mean, seed=1)
    build = time.perf_counter() - start
    rng = np.random.default_rng(0)
    costs, grads = [], []
    for _ in range(repeats):
        x = prior.mean * (1 + 0.01 * rng.standard_normal(prior.n))
        t = time.perf_counter()
        problem.cost(x)
        costs.append(time.perf_counter() - t)
        x = prior.mean * (1 + 0.01 * rng.standard_normal(prior.n))
        t = time.perf_counter()
        problem.gradient(x)
        grads.append(time.perf_counter() - t)
    print(json.dumps({"sites": n_sites, "params": problem.n_param, "obs": problem.n_obs,
                      "build_s": build, "cost_s": float(np.median(costs)),
                      "grad_s": float(np.median(grads)), "rss0_mb": rss0,
                      "rss_mb": _rss_mb()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[10, 25, 50, 100])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--job", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.job:
        return job(args.job, args.repeats)
    print(f"{'sites':>5} {'params':>7} {'cost ms':>8} {'grad ms':>8} {'cost ms/site':>13} "
          f"{'grad ms/site':>13} {'MB/site':>8}")
    for n in args.sites:
        out = subprocess.run([sys.executable, __file__, "--job", str(n), "--repeats",
                              str(args.repeats)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        mb = (r["rss_mb"] - r["rss0_mb"]) / n
        print(f"{n:5d} {r['params']:7d} {1e3 * r['cost_s']:8.1f} {1e3 * r['grad_s']:8.1f} "
              f"{1e3 * r['cost_s'] / n:13.2f} {1e3 * r['grad_s'] / n:13.2f} {mb:8.2f}")


if __name__ == "__main__":
    main()
