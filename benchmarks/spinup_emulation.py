"""Emulated spin-up on DALEC2: cycles and time saved, and the pool error left.

Model: DALEC2 (P16) on the bundled US-Me2 drivers 2004-2005 with ``spinup = "cycle"``
(``spinup_tol`` 1e-4 relative change per cycle). Box: the 17 rate parameters at the P16
prior mean ± 1.5 sd (clipped to the bounds); initial pools at their defaults. Training: a
scrambled Sobol design (`pdaframe.methods.emulation.gp.design`) of full cycling spin-ups,
`pdaframe_dalec2.spinup_emulator.train_spinup_emulator` (log-log trend + 100 extremely
randomised trees on its residuals; collapsed ecosystems, a spun-up pool < 1 g C m-2, left
out). Test: a held-out LHS of the same box, each point spun up from the default pools
(`SpinUp`) and from the emulated pools (`EmulatedSpinUp`). A reference spin-up with
``spinup_tol`` 1e-9 gives the pools' true equilibrium, against which both are scored.

Measured (2-core shared machine, 2026-12-05), defaults (``--design 256 --test 60``):

    design: 256 spin-ups, 180 used, 64 collapsed, 12 not converging; training 37 s
    (the spin-ups 36 s, the fit under 1 s)
    held-out viable points (43 of 57 converging):
      cycles  default start 162.7 (mean)  emulated start 94.9  saved 42 %
      time    default 1.12 s  emulated 0.77 s  saved 31 % (fastest of 3; predict 0.2-0.5 ms)
      emulator start vs equilibrium: median 17 %, max 84 % (max over the 6 pools)
      after cycling, distance to equilibrium (median / max): default 1.6e-03 / 2.0e-02
      emulated 1.6e-03 / 2.1e-02
    all converging points (57, with the collapsing ecosystems): 290 -> 243 cycles

The stopping test bounds the change per cycle, not the distance to the equilibrium: a slow
pool (soil organic matter) can stop 1e-3-1e-2 away from it from either start. The emulated
start leaves the spun-up pools as close to the equilibrium as the cycling from the defaults
does, in 42 % fewer cycles (31 % less time: a prediction costs about five cycles). The
design pays for itself after about 256 x 290 / 68 ≈ 1100 spin-ups (a long MCMC or a
sweep). As a replacement of the cycling the emulator alone would leave a median 17 % (max
84 %) pool error, too large here: it is a start only. Trees alone (no log-log trend) saved
23 % of the cycles in the same setting.

Run: ``PYTHONPATH=. python benchmarks/spinup_emulation.py [--design N] [--test M]``.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np


def spin(model, thetas, repeat=1):
    """Pools (NaN where the spin-up fails), cycles and seconds (the fastest of ``repeat``
    spin-ups: the machine is shared) at each theta."""
    from pdaframe.plugin import ModelError
    pools, cycles, secs = [], [], []
    for theta in thetas:
        best = np.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            try:
                end = model.spun_up(theta)[17:]
            except ModelError:
                end = None
            best = min(best, time.perf_counter() - t0)
        pools.append(np.full(6, np.nan) if end is None else end)
        cycles.append(-1 if end is None else model.cycles)
        secs.append(best)
    return np.array(pools), np.array(cycles), np.array(secs)


def main(argv=None):
    import pdaframe
    from pdaframe.methods.emulation.gp import design
    from pdaframe_dalec2 import PARAMETERS
    from pdaframe_dalec2.spinup import SpinUp
    from pdaframe_dalec2.spinup_emulator import EmulatedSpinUp, train_spinup_emulator
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--design", type=int, default=256)
    ap.add_argument("--test", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")                  # extrapolation warnings at box edges
    model = pdaframe.get_model("dalec2", site="US-Me2", start="2004-01-01",
                               end="2005-12-31", spinup="cycle")
    xb = np.array([p.default for p in PARAMETERS])
    sd = np.array([p.std for p in PARAMETERS])
    lo = np.maximum(xb - 1.5 * sd, [p.lower for p in PARAMETERS])[:17]
    hi = np.minimum(xb + 1.5 * sd, [p.upper for p in PARAMETERS])[:17]
    pools0 = np.tile(xb[17:], (args.design, 1))
    train = np.hstack([design(lo, hi, args.design, "sobol", seed=args.seed), pools0])
    t0 = time.perf_counter()
    emu = train_spinup_emulator(model, train, seed=args.seed)
    fit = emu.info["train_seconds"]
    print(f"design: {args.design} spin-ups, {emu.info['n_design']} used, "
          f"{emu.info['n_collapsed']} collapsed, {emu.info['n_failed']} not converging; "
          f"training {time.perf_counter() - t0:.1f} s (spin-ups {fit:.1f} s)")
    test = np.hstack([design(lo, hi, args.test, "lhs", seed=args.seed + 100),
                      np.tile(xb[17:], (args.test, 1))])
    p0, c0, s0 = spin(model, test, repeat=3)
    p1, c1, s1 = spin(EmulatedSpinUp(model.model, emu, tol=model.tol), test, repeat=3)
    ref, _, _ = spin(SpinUp(model.model, tol=1e-9, max_cycles=20000), test)
    t0 = time.perf_counter()
    start = emu.predict(test[:, :17])
    predict_ms = 1e3 * (time.perf_counter() - t0) / len(test)
    ok = (c0 > 0) & (c1 > 0) & np.all(np.isfinite(ref), axis=1)
    viable = ok & (np.nanmin(ref, axis=1) >= 1.0)
    n = int(viable.sum())

    def dist(p):
        return np.max(np.abs(p[viable] / ref[viable] - 1), axis=1)
    print(f"held-out viable points ({n} of {int(ok.sum())} converging):")
    print(f"  cycles  default start {c0[viable].mean():.1f} (mean)  emulated start "
          f"{c1[viable].mean():.1f}  saved {100 * (1 - c1[viable].sum() / c0[viable].sum()):.0f} %")
    print(f"  time    default {s0[viable].sum():.2f} s  emulated {s1[viable].sum():.2f} s  "
          f"saved {100 * (1 - s1[viable].sum() / s0[viable].sum()):.0f} % (fastest of 3; "
          f"predict {predict_ms:.2g} ms/pt)")
    e = dist(start)
    print(f"  emulator start vs equilibrium: median {100 * np.median(e):.0f} %, max "
          f"{100 * e.max():.0f} %")
    d0, d1 = dist(p0), dist(p1)
    print(f"  after cycling, distance to equilibrium (median / max): default "
          f"{np.median(d0):.1e} / {d0.max():.1e}  emulated {np.median(d1):.1e} / "
          f"{d1.max():.1e}")
    print(f"all converging points ({int(ok.sum())}): {c0[ok].mean():.0f} -> "
          f"{c1[ok].mean():.0f} cycles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
