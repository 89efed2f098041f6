"""DALEC2 written in JAX (dalec2-jax) against the Fortran kernel (dalec2): time ratios.

On the real US-Me2 drivers 2004-2007 (1461 daily steps), side by side in one process, each
pair timed interleaved (JAX, Fortran, JAX, ...) and summarised by medians:

1. forward run ``model.run(theta)``;
2. tangent linear ``model.tangent(theta, dtheta)`` (one direction);
3. gradient as a minimiser needs it: ``run(theta)`` then ``adjoint(theta, d_outputs)`` at the
   same new theta (the Fortran adjoint reuses the stored run; JAX's ``vjp`` runs forward and
   backward in one compiled call);
4. once: the JAX compilation times (first call of each), and with ``--twin`` the 4D-Var twin
   (examples/dalec2_twin, L-BFGS-B with adjoint gradients) with each model: J_min,
   iterations and seconds.

Measured 2026-12-05 (2 shared cores, JAX 0.10.2, scan unroll 4): forward 1.27 vs 0.147 ms
(ratio 8.6), tangent 3.96 vs 0.181 ms (21.7), gradient 7.64 vs 0.329 ms (23.3); compilation
1.2 s (run), 3.8 s (tangent), 4.3 s (adjoint); twin J_min 634.444250729 vs 634.444250728,
25.1 s vs 8.6 s.

Each call uses a theta not seen before (a relative shift of 1e-9 per call), so no cache
answers. Run: ``.venv/bin/python benchmarks/dalec2_jax.py [--repeats 9] [--number 20] [--twin]``
"""
import argparse
import time
from pathlib import Path

import numpy as np

import pdaframe
from pdaframe_dalec2 import PARAMETERS, Dalec2
from pdaframe_dalec2.readers import read_us_me2
from pdaframe_dalec2_jax import Dalec2Jax

ROOT = Path(__file__).resolve().parents[1]
XB = np.array([p.default for p in PARAMETERS])
STD = np.array([p.std for p in PARAMETERS])


class Thetas:
    """A new theta on every call: xb times (1 + 1e-9 k)."""

    def __init__(self):
        self.k = 0

    def __call__(self):
        self.k += 1
        return XB * (1.0 + 1e-9 * self.k)


def timer(call, number):
    """Seconds per call of ``call()`` over ``number`` calls."""
    start = time.perf_counter()
    for _ in range(number):
        call()
    return (time.perf_counter() - start) / number


def paired(jax_call, fortran_call, number, repeats):
    """Median seconds per call of each, interleaved, and the median per-repeat ratio."""
    tj, tf = [], []
    for _ in range(repeats):
        tj.append(timer(jax_call, number))
        tf.append(timer(fortran_call, number))
    tj, tf = np.array(tj), np.array(tf)
    r = tj / tf
    return np.median(tj), np.median(tf), np.median(r), r.min(), r.max()


def report(label, res):
    tj, tf, r, lo, hi = res
    print(f"{label}\n    {'dalec2-jax (JAX, jit)':<26}{tj * 1e3:10.3f} ms\n    "
          f"{'dalec2 (Fortran)':<26}{tf * 1e3:10.3f} ms\n    ratio JAX / Fortran {r:.3g} "
          f"(min {lo:.3g}, max {hi:.3g})")


def twin(model_name):
    text = (ROOT / "examples" / "dalec2_twin" / "config.toml").read_text()
    path = Path("/tmp") / f"pdaframe_bench_twin_{model_name}.toml"
    path.write_text(text.replace("../../", f"{ROOT}/").replace('name = "dalec2"',
                                                               f'name = "{model_name}"'))
    problem, _ = pdaframe.load_config(path)
    start = time.perf_counter()
    res = pdaframe.minimise(problem, method="lbfgsb", maxiter=2000, posterior=False)
    return res.fun, res.nit, res.nfev, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--number", type=int, default=20, help="calls per timing")
    parser.add_argument("--twin", action="store_true", help="also time the 4D-Var twin")
    args = parser.parse_args()

    drivers = read_us_me2(start="2004-01-01", end="2007-12-31")
    fortran, jax = Dalec2(drivers), Dalec2Jax(drivers)
    rng = np.random.default_rng(0)
    dtheta = STD * rng.standard_normal(XB.size)
    d_outputs = {"nee": rng.standard_normal(drivers.n), "lai": rng.standard_normal(drivers.n)}
    compile_s = {}
    for name, call in [("run", lambda: jax.run(XB)),
                       ("tangent", lambda: jax.tangent(XB, dtheta)),
                       ("adjoint", lambda: jax.adjoint(XB, d_outputs))]:
        compile_s[name] = timer(call, 1)
    print(f"DALEC2, US-Me2 2004-2007 ({drivers.n} daily steps), 23 parameters; JAX "
          f"{__import__('jax').__version__} on the CPU, float64, scan unroll "
          f"{jax.scan_unroll}")
    print("first calls (tracing + XLA compilation): " +
          ", ".join(f"{k} {v:.2f} s" for k, v in compile_s.items()))

    new_j, new_f = Thetas(), Thetas()
    report("1. forward run", paired(lambda: jax.run(new_j()), lambda: fortran.run(new_f()),
                                    args.number, args.repeats))
    report("2. tangent linear (one direction)",
           paired(lambda: jax.tangent(new_j(), dtheta), lambda: fortran.tangent(new_f(), dtheta),
                  args.number, args.repeats))

    def gradient(model, new):
        def call():
            theta = new()
            model.run(theta)
            return model.adjoint(theta, d_outputs)
        return call
    report("3. gradient: run + adjoint at a new theta",
           paired(gradient(jax, new_j), gradient(fortran, new_f), args.number, args.repeats))
    if args.twin:
        print("4. 4D-Var twin (examples/dalec2_twin, L-BFGS-B, adjoint gradients)")
        print(f"    {'model':<12}{'J_min':>16}{'iterations':>12}{'runs':>7}{'seconds':>9}")
        for name in ("dalec2-jax", "dalec2"):
            fun, nit, nfev, secs = twin(name)
            print(f"    {name:<12}{fun:>16.9f}{nit:>12}{nfev:>7}{secs:>9.2f}")


if __name__ == "__main__":
    main()
