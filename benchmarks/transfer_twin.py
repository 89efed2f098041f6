"""Transfer-function twin: learn DALEC2 parameters as a function of site attributes and
predict them at held-out sites, against per-PFT groups.

A synthetic network (`pdaframe.sites.synthetic_network`) of US-Me2's daily drivers gives
``n_sites`` sites in two PFTs with attributes ``t_offset`` (degC), ``lat`` and a numeric
``evergreen`` column (1/0 from the PFT). The truth of three DALEC2 parameters is a smooth,
nonlinear function of them (`truth_function`); the other 20 parameters are fixed at their
P16 defaults at every site. Synthetic NEE (daily, sigma 0.5 g C m-2 d-1) and LAI (every 8
days, sigma 0.2) are made at each site from its true parameters. 4D-Var (L-BFGS-B, the
adjoint through the mapping) calibrates on the first ``n_train`` sites:

* ``transfer``: an MLP transfer function (`pdaframe.problem.transfer.Transfer`, inputs
  ``t_offset, lat, evergreen``, one hidden layer) for the three parameters;
* ``linear``: a linear transfer function of the same inputs;
* ``groups``: one value of each parameter per PFT (`pdaframe.problem.mapping.Grouped`);

then predicts the parameters of the held-out sites (transfer: the function at their
attributes; groups: their PFT's value). The score is the RMSE over the held-out sites of
each parameter against the truth, in units of the parameter's prior standard deviation.

Run: ``.venv/bin/python benchmarks/transfer_twin.py [--sites 24] [--train 16] [--years 1]
[--maxiter 150]``, or under ``mpiexec -n 2`` (the sites spread over the ranks; the same
numbers to the last digit). plugins/dalec2/tests/test_transfer_twin.py runs `run` with the
defaults (seed 7).
"""
from __future__ import annotations

import argparse
import time
import zlib
from types import MappingProxyType

import numpy as np

import pdaframe
from pdaframe.builtin import gaussian_family
from pdaframe.parallel import get_executor, is_root
from pdaframe.models.driver_file import DriverTable
from pdaframe.problem.mapping import Fixed, Grouped, MapContext, SiteMap
from pdaframe.problem.multisite import MultiSiteProblem, Site
from pdaframe.problem.transfer import Transfer
from pdaframe.sites import SiteTable, synthetic_network
from pdaframe_dalec2 import Dalec2, Drivers
from pdaframe_dalec2.readers import read_us_me2

OUTPUTS = ("c_eff", "d_onset", "theta_som")
INPUTS = ("t_offset", "lat", "evergreen")
LAT0 = 44.4523                       # US-Me2


def truth_function(row) -> dict:
    """True parameters of a site from its attributes (smooth, nonlinear, inside bounds)."""
    t, dlat = row["t_offset"], (row["lat"] - LAT0) / 8.0
    ever = 1.0 if row["pft"] == "evergreen" else 0.0
    return {"c_eff": 62.0 + 14.0 * np.tanh(t / 1.5) - 8.0 * dlat ** 2 + 6.0 * ever,
            "d_onset": 118.0 + 12.0 * np.tanh(1.5 * dlat) - 3.0 * t,
            "theta_som": 7.7e-5 * np.exp(0.35 * t / 2.0 - 0.2 * ever)}


def network(n_sites, seed, start="2005-01-01", end="2005-12-31"):
    """The synthetic network: ``(table, drivers)`` with the ``evergreen`` column added."""
    d = read_us_me2(start=start, end=end)
    base = DriverTable(d.time, {c: getattr(d, c) for c in ("t_min", "t_max", "t_mean", "sw")},
                       d.latitude, -121.56, "US-Me2")
    net = synthetic_network(base, n_sites, seed, lat_shift=(-8.0, 8.0),
                            t_offset=(-3.0, 3.0), truth=truth_function)
    cols = dict(net.table.columns)
    cols["evergreen"] = (cols["pft"] == "evergreen").astype(float)
    return SiteTable(net.table.sites, MappingProxyType(cols), "transfer twin"), net.drivers


def entries(model) -> dict:
    """A site's parameter entries (defaults, spreads, bounds) from the model's table."""
    return {p.name: {"mean": p.default, "std": p.std, "lower": p.lower, "upper": p.upper,
                     "units": p.units, "long_name": p.long_name} for p in model.parameters}


def make_sites(table, drivers, names, seed, nee_std=0.5, lai_std=0.2):
    """The sites ``names`` with synthetic NEE and LAI from their true parameters."""
    sites, params = [], []
    for name in names:
        model = Dalec2(Drivers.from_table(drivers[name]))
        e = entries(model)
        k = table.sites.index(name)
        theta = np.array([table.columns[f"truth_{n}"][k] if n in OUTPUTS else e[n]["mean"]
                          for n in model.parameter_names])
        n = model.n
        templates = [pdaframe.DataStream("nee", "nee", np.zeros(n), times=np.arange(n),
                                         std=nee_std),
                     pdaframe.DataStream("lai", "lai", np.zeros(n // 8 + 1),
                                         times=np.arange(0, n, 8), std=lai_std)]
        streams = pdaframe.synthetic_streams(model, theta, templates,
                                             [int(seed), zlib.crc32(name.encode())])
        sites.append(Site(name, model, streams))
        params.append(e)
    return sites, params


def calibrate(which, sites, params, table, seed, executor=None, hidden=(6,), weight_std=0.5,
              maxiter=150):
    """Calibrate ``which`` (``transfer``, ``linear``, ``groups``) on ``sites``; returns the
    problem, the result and the estimating rule."""
    names = [s.name for s in sites]
    ctx = MapContext(names, params, table)
    local = list(sites[0].model.parameter_names)
    if which == "groups":
        rule = Grouped(ctx, OUTPUTS, "pft")
    else:
        kind = {"transfer": {"kind": "mlp", "hidden": list(hidden)},
                "linear": {"kind": "linear"}}[which]
        rule = Transfer(ctx, OUTPUTS, INPUTS, weight_std=weight_std, seed=seed, **kind)
    mapping = SiteMap(ctx, local, [rule, Fixed(ctx, [n for n in local if n not in OUTPUTS])])
    problem = MultiSiteProblem(sites, gaussian_family(mapping.entries), mapping=mapping,
                               executor=executor)
    res = pdaframe.minimise(problem, "lbfgsb", maxiter=maxiter)
    return problem, res, rule


def predict(which, rule, x, table, names, params):
    """The three parameters at the sites ``names`` (rows) from the estimate ``x``."""
    if which == "groups":
        pft = table.columns["pft"]
        at = {e["name"]: v for e, v in zip(rule.entries, x)}
        return np.array([[at[f"{n}@pft={pft[table.sites.index(s)]}"] for n in OUTPUTS]
                         for s in names])
    held = rule.for_sites(MapContext(list(names), params, table))
    return held.values(x[:len(rule.entries)])


def run(n_sites=24, n_train=16, seed=7, start="2005-01-01", end="2005-12-31",
        kinds=("transfer", "linear", "groups"), executor=None, verbose=True, **options):
    """The twin: RMSE (in prior sigma) of each kind's held-out predictions.

    Returns
    -------
    dict
        ``{"rmse": {kind: array (per parameter)}, "score": {kind: mean RMSE}, "prior":
        mean RMSE of the defaults, "nit", "seconds", "train", "held_out", "truth",
        "predicted", "x" (each kind's estimate), "rule" (its estimating rule), "table"}``.
    """
    table, drivers = network(n_sites, seed, start, end)
    train, held = list(table.sites[:n_train]), list(table.sites[n_train:])
    sites, params = make_sites(table, drivers, train, seed)
    held_params = [entries(Dalec2(Drivers.from_table(drivers[s]))) for s in held]
    rows = [table.sites.index(s) for s in held]
    truth = np.column_stack([table.columns[f"truth_{n}"][rows] for n in OUTPUTS])
    sd = np.array([held_params[0][n]["std"] for n in OUTPUTS])
    default = np.array([[p[n]["mean"] for n in OUTPUTS] for p in held_params])
    out = {"rmse": {}, "score": {}, "nit": {}, "seconds": {}, "predicted": {}, "x": {},
           "rule": {}, "table": table, "train": train, "held_out": held, "truth": truth}

    def rmse(pred):
        return np.sqrt(np.mean(((pred - truth) / sd) ** 2, axis=0))

    out["prior_rmse"] = rmse(default)
    out["prior"] = float(out["prior_rmse"].mean())
    for which in kinds:
        t0 = time.perf_counter()
        problem, res, rule = calibrate(which, sites, params, table, seed, executor, **options)
        pred = predict(which, rule, res.x, table, held, held_params)
        out["seconds"][which] = time.perf_counter() - t0
        out["predicted"][which], out["nit"][which] = pred, res.nit
        out["x"][which], out["rule"][which] = res.x, rule
        out["rmse"][which] = rmse(pred)
        out["score"][which] = float(out["rmse"][which].mean())
    if verbose:
        report(out)
    return out


def report(out) -> None:
    """Print the held-out RMSE table."""
    print(f"transfer-function twin: {len(out['train'])} training sites, "
          f"{len(out['held_out'])} held out; held-out RMSE in prior sigma")
    print(f"  {'':10s}" + "".join(f"{n:>11s}" for n in OUTPUTS) + f"{'mean':>9s}"
          + f"{'iter':>7s}{'time s':>8s}")
    print(f"  {'defaults':10s}" + "".join(f"{v:11.3f}" for v in out["prior_rmse"])
          + f"{out['prior']:9.3f}")
    for which, r in out["rmse"].items():
        print(f"  {which:10s}" + "".join(f"{v:11.3f}" for v in r)
              + f"{out['score'][which]:9.3f}{out['nit'][which]:7d}"
              + f"{out['seconds'][which]:8.1f}")
    print("  mean RMSE to 17 digits (the same on any number of MPI ranks): "
          + ", ".join(f"{k} {v!r}" for k, v in out["score"].items()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=24)
    ap.add_argument("--train", type=int, default=16)
    ap.add_argument("--years", type=int, default=1, help="years from 2005")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--maxiter", type=int, default=150, help="L-BFGS-B iterations at most")
    args = ap.parse_args(argv)
    run(args.sites, args.train, args.seed, end=f"{2004 + args.years}-12-31",
        executor=get_executor(), verbose=is_root(), maxiter=args.maxiter)


if __name__ == "__main__":
    main()
