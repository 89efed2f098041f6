"""NN (JAX MLP) vs GP emulator against real runs, DALEC2 twin: accuracy vs training runs.

Problem: ``examples/dalec2_twin/config.toml`` restricted to ``f_auto c_lma d_onset d_fall``
(as ``benchmarks/ces_dalec2.py``). Both emulators emulate the whitened observation vector
``z(θ) = R^-1/2 (G(θ) − y)`` (1336 values: daily NEE, LAI, wood carbon; units of the
observation error sd), as CES does: common output scale, PCA keeping 99.9 % of the variance
and every component with variance ≥ 0.01, up to 20 components. Training runs: Latin
hypercube designs of n runs in the prior mean ± ``--width`` prior sds; test: a separate
design of ``--n-test`` real runs in the same box. Reported per n: held-out RMSE of the
emulated ``z`` (obs-error sds), the median over test runs of ``|J_emulated − J_real|``
(``J = ½|z|²``), the training time, and the time to predict all test points (one call).
The NN: `pdaframe.methods.emulation.nn.NNEmulator` (2 x 32 tanh, 20 % of the runs held out
for early stopping); the GP: `GPEmulator` (Matérn-5/2, ARD, 2 restarts).

Measured (2-core machine shared by 5 sessions, load ~9, 2026-12-05; seed 1, box ± 2
prior sd, 200 test runs, one real run 0.77 ms under that load; times are inflated alike):

    n_train  NN rmse  GP rmse  NN med|dJ|  GP med|dJ|  NN fit s  GP fit s  NN pred s  GP pred s  NN iters (best)
         50    0.715    0.295     693.253     239.277     19.99     11.02     0.1881     0.7775  154 (54), 20 / 20 components
        100    0.242    0.146     133.059     161.074     45.15     10.25     0.1759     0.6274  1062 (962), 20 / 20 components
        200    0.204    0.073     111.638      68.786     30.82     57.62     0.1755     0.6828  648 (548), 20 / 20 components
        400    0.157    0.058      64.302      26.879     72.76    417.78     0.1079     1.1679  1679 (1579), 20 / 20 components

The GP is 2-3 times more accurate at every n on these 4 smooth inputs (the NN is ahead only
in median |ΔJ| at 100 runs); the NN predicts 4-10 times faster (its MLP scores alone ~35
times faster; the shared PCA reconstruction of 1336 values dominates) and fits in time
growing with iterations, not runs cubed (400 runs: 73 s against 418 s). Before the loss
weighed each PCA score by its variance (unit-variance scores weighed alike): NN rmse 1.98,
0.61 at 50, 100 runs.

Run: ``.venv/bin/python benchmarks/nn_vs_gp_emulator.py [--n 50 100 200 400] [--n-test 200]
[--width 2] [--seed 1]`` (about 3 minutes unloaded; 12 under the load above).
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

import pdaframe
from pdaframe.methods.emulation.gp import GPEmulator, design, prior_box
from pdaframe.methods.emulation.nn import NNEmulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ces_dalec2 import restricted_config  # noqa: E402

PCA = {"standardise": False, "pca_variance": 0.999, "pca_tol": 0.01, "max_components": 20}


def whitened(problem):
    """``θ -> R^-1/2 (G(θ) − y)`` of ``problem`` (the CES outputs)."""
    from pdaframe.methods.importance import ObservationWhitener
    obs = ObservationWhitener(problem)
    return lambda theta: obs.whiten(problem.observation_vector(theta) - obs.y)


def score(em, Xt, Zt):
    """Held-out RMSE of ``z``, median ``|ΔJ|`` and the prediction time of all points."""
    em.predict(Xt)                      # the NN compiles its function for this shape
    t = time.perf_counter()
    mean = em.predict(Xt)[0]
    t_pred = time.perf_counter() - t
    dj = 0.5 * np.sum(mean ** 2, axis=1) - 0.5 * np.sum(Zt ** 2, axis=1)
    return float(np.sqrt(np.mean((mean - Zt) ** 2))), float(np.median(np.abs(dj))), t_pred


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--n-test", type=int, default=200)
    parser.add_argument("--width", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    problem, _ = pdaframe.load_config(restricted_config(["f_auto", "c_lma", "d_onset",
                                                         "d_fall"]))
    f = whitened(problem)
    lo, up = prior_box(problem.prior, args.width, use_bounds=False)
    Xt = design(lo, up, args.n_test, seed=args.seed + 1000)
    t = time.perf_counter()
    Zt = np.array([f(x) for x in Xt])
    t_run = (time.perf_counter() - t) / len(Xt)
    print(f"DALEC2 twin, {Zt.shape[1]} whitened observations, box prior mean ± {args.width} "
          f"sd, {len(Xt)} held-out real runs ({1e3 * t_run:.2f} ms each); seed {args.seed}")
    print(f"{'n_train':>7s} {'NN rmse':>8s} {'GP rmse':>8s} {'NN med|dJ|':>11s} "
          f"{'GP med|dJ|':>11s} {'NN fit s':>9s} {'GP fit s':>9s} {'NN pred s':>10s} "
          f"{'GP pred s':>10s}  NN iters (best)")
    for n in args.n:
        X = design(lo, up, n, seed=args.seed + n)
        Z = np.array([f(x) for x in X])
        row = {}
        for name, make in (("nn", lambda: NNEmulator(lo, up, seed=args.seed, **PCA)),
                           ("gp", lambda: GPEmulator(lo, up, seed=args.seed, **PCA))):
            em = make()
            t = time.perf_counter()
            em.fit(X, Z)
            row[name] = (*score(em, Xt, Zt), time.perf_counter() - t, em)
        nn, gp = row["nn"], row["gp"]
        print(f"{n:7d} {nn[0]:8.3f} {gp[0]:8.3f} {nn[1]:11.3f} {gp[1]:11.3f} {nn[3]:9.2f} "
              f"{gp[3]:9.2f} {nn[2]:10.4f} {gp[2]:10.4f}  {nn[4].history['nit']} "
              f"({nn[4].history['best_iter']}), {nn[4].n_components} / "
              f"{gp[4].n_components} components")
    return 0


if __name__ == "__main__":
    sys.exit(main())
