"""Calibrate–emulate–sample (``ces``, Method notes §9) on the GP toolkit of
`pdaframe.methods.emulation.gp`.

* `ces`: calibrate–emulate–sample on a `Problem` (Cleary et al. 2021): ES-MDA moves an
  ensemble from the prior to the posterior (every run kept), the whitened residuals
  ``z(θ) = R^-1/2 (G(θ) − y)`` are emulated from the runs where the posterior is,
  random-walk Metropolis (many chains at once) samples
  ``log N(0; m(θ), I + Σ_GP(θ)) − J_b(θ)`` (the emulator variance, with the discarded PCA
  variance, and its log-determinant in the likelihood, CES ``add_obs_noise_cov``; exact in
  ``O(k)`` per point, `GPEmulator.gaussian_loglik`), real runs at emulator-posterior draws
  refine the emulator until they agree with it, then a few real runs check it.

Shared pieces: the calibration is the project's ES-MDA (`_Calibration`, an
`pdaframe.methods.sequential.ESMDAState` that starts from prior draws and takes its random
numbers from CES's one generator), the whitening is `ObservationWhitener`'s, the emulator
chains accept with `pdaframe.methods.mcmc.metropolis_accept` and their R-hat/ESS are
ArviZ's (`pdaframe.methods.mcmc.sample_diagnostics`). The chains themselves are vectorised
(one emulator call for all chains per step, on a target that costs microseconds): the
ask/tell samplers go through an executor and per-chain loops, which would dominate here.
"""
from __future__ import annotations

import logging
import time
import warnings

import numpy as np

from ...blas import blas_threads
from ...errors import ConfigError
from ...io.checkpoint import ReplayExecutor, replaying
from ...parallel import Failed, with_members
from ...result import Result, SampleResult
from ..ensemble import too_few_error
from ..importance import ObservationWhitener
from ..mcmc.chains import metropolis_accept, sample_diagnostics
from ..sequential import ESMDAState
from .gp import (EXTRAPOLATION_WARN, GPEmulator, design, prior_box,
                 run_design, validate)

log = logging.getLogger(__name__)


class _Whitened:
    """``z(θ) = sqrt(w) R^-1/2 (G(θ) − y)`` of the stacked valid observations
    (`ObservationWhitener`; picklable)."""

    def __init__(self, problem):
        self.problem = problem
        self.obs = ObservationWhitener(problem)

    def __call__(self, theta):
        return self.of(self.problem.observation_vector(theta))

    def of(self, G):
        """``z`` of stacked equivalents ``G`` (`Problem.observation_vector`), ``(n_obs,)``."""
        return self.obs.whiten(np.asarray(G, dtype=float) - self.obs.y)


def _run_rows(func, X, executor):
    """``func`` at the rows of ``X``; returns the success mask and the successful outputs."""
    out = executor.map(func, list(np.asarray(X, dtype=float)))
    ok = np.array([not isinstance(r, Failed) for r in out], dtype=bool)
    Y = np.array([r for r, k in zip(out, ok) if k], dtype=float)
    return ok, Y


def _prior_costs(prior, T):
    """``J_b`` at each row of ``T`` (vectorised for a Gaussian prior)."""
    from ...prior.priors import GaussianPrior
    if isinstance(prior, GaussianPrior):
        from scipy.linalg import solve_triangular
        w = solve_triangular(prior.scale, (T - prior.mean).T, lower=True, check_finite=False)
        return 0.5 * np.sum(w * w, axis=0)
    return np.array([prior.cost(t) for t in T])


class _Calibration(ESMDAState):
    """The ES-MDA of CES's calibration (Cleary et al. 2021).

    The members start at prior draws (``prior.sample``, mapped to the control space) and
    every draw (the observation perturbations, used as drawn, and the redraws of failed
    members) comes from CES's generator ``rng``, in order; a small ensemble is the point
    of CES (no warning below 50 members).
    """

    label = "ces calibration (ES-MDA)"
    recommended_members = 0
    centred_perturbations = False

    def __init__(self, problem, n_members, alphas, rng):
        self.rng = rng
        super().__init__(problem, n_members, seed=None, alphas=alphas)

    def _initial_u(self):
        return np.array([self.space.to_u(t)
                         for t in self.problem.prior.sample(self.n_members, self.rng)])

    def _standard_normal(self, members, size):
        return self.rng.standard_normal((len(members), size))


def _calibrate_esmda(problem, white, executor, rng, n_ens, alphas):
    """ES-MDA (`_Calibration`) in the Problem's control space, keeping every run: each
    round's members, then the final ensemble's (run instead of the state's final mean).

    Returns ``X, Z`` (successful runs of all rounds, ``Z = white.of(G)``) and the number of
    runs attempted."""
    state = _Calibration(problem, n_ens, alphas, rng)
    Xs, Zs, n_runs = [], [], 0
    while True:
        T = state.thetas()
        out = executor.map(problem.observation_vector, list(T))
        n_runs += len(T)
        ok = np.array([not isinstance(r, Failed) for r in out], dtype=bool)
        if ok.sum() < state.min_members:        # the final ensemble's too
            raise too_few_error(f"ces calibration round {len(Xs) + 1}", int(ok.sum()),
                                len(T), state.min_members, out)
        Xs.append(T[ok])
        Zs.append(np.array([white.of(r) for r, k in zip(out, ok) if k]))
        if state.x is not None:             # the final ensemble: kept, not updated
            return np.vstack(Xs), np.vstack(Zs), n_runs
        state.tell(out)


def _local(J, n_param, n_min, prob):
    """Runs kept for the emulator: ``J ≤ min J + χ²_{n,prob}/2`` (the region a Gaussian
    posterior fills up to probability ``prob``), at least the ``n_min`` lowest."""
    from scipy.stats import chi2
    keep = J <= J.min() + 0.5 * chi2.ppf(prob, n_param)
    if keep.sum() < n_min:
        keep[np.argsort(J)[:n_min]] = True
    return keep


def _metropolis(logp, starts, cov, n_burn, n_steps, rng, block=50):
    """Random-walk Metropolis, all chains at once (``logp`` maps ``(n_chain, n)`` to
    ``(n_chain,)``). Burn-in (discarded) adapts the proposal every ``block`` steps: the
    pooled covariance of the second half of the burn-in so far times ``2.38²/n``
    (Haario et al. 2001; Gelman et al. 1996) and a scale factor towards an acceptance rate
    of 0.15–0.45; chains stuck far below the others are moved to a good chain's state.
    Returns ``chain`` ``(n_steps, n_chain, n)``, its log densities and the acceptance."""
    from scipy.stats import chi2
    C, d = starts.shape
    x = starts.copy()
    lp = logp(x)
    base = 2.38 ** 2 / d
    factor = 1.0

    def factorise(c):
        c = 0.5 * (c + c.T)
        return np.linalg.cholesky(c * base * factor + 1e-12 * np.trace(c) / d * np.eye(d))

    def step():                     # one proposal per chain; x, lp updated in place
        y = x + rng.standard_normal((C, d)) @ chol.T
        ly = logp(y)
        a = metropolis_accept(lp, ly, np.log(rng.uniform(size=C)))
        x[a], lp[a] = y[a], ly[a]
        return a

    chol = factorise(cov)
    hist, acc = [], 0.0
    for i in range(n_burn):
        a = step()
        hist.append(x.copy())
        acc += a.mean()
        if (i + 1) % block == 0:
            rate, acc = acc / block, 0.0
            factor *= 0.6 if rate < 0.15 else 1.5 if rate > 0.45 else 1.0
            H = np.asarray(hist[len(hist) // 2:]).reshape(-1, d)
            c = np.cov(H.T).reshape(d, d)
            if np.all(np.isfinite(c)) and np.linalg.eigvalsh(c).min() > 0:
                cov = c
            bad = lp < lp.max() - 0.5 * chi2.ppf(1 - 1e-6, d)
            if bad.any() and i + 1 < n_burn:
                src = rng.choice(np.flatnonzero(~bad), size=int(bad.sum()))
                x[bad], lp[bad] = x[src], lp[src]
            chol = factorise(cov)
    chain, lps, n_acc = np.empty((n_steps, C, d)), np.empty((n_steps, C)), 0
    for i in range(n_steps):
        n_acc += int(step().sum())
        chain[i], lps[i] = x, lp
    return chain, lps, n_acc / max(n_steps * C, 1)


def ces(problem, x0=None, callback=None, executor=None, seed=None, n_design=None,
        calibrate="es-mda", alphas=(3.0, 3.0, 3.0), design_method="lhs",
        box_width=4.0, n_refine=None, max_refine=4, refine_tol=1.0, local_prob=1 - 1e-5,
        n_chains=16, n_steps=2000, n_burn=None, n_check=5, nugget=1e-6,
        pca_variance=0.99, pca_tol=0.01, max_components=None, kernel="matern52",
        box_pad=0.25, emulator="gp", nn=None, checkpoint=None, **_) -> Result:
    """Calibrate–emulate–sample on ``problem`` (Cleary et al. 2021).

    1. Calibrate: ES-MDA (``calibrate="es-mda"``; ensemble of ``n_design`` prior draws,
       inflation factors ``alphas``, in the control space) moves an ensemble from the prior
       to near the posterior; every run (all iterations) is kept. ``calibrate="design"``:
       a space-filling design of ``n_design`` points in mean ± ``box_width`` prior sds
       (clipped to the bounds) instead.
    2. Emulate the whitened residuals ``z(θ) = R^-1/2 (G(θ) − y)`` with a `GPEmulator`
       (common output scale, PCA keeping ≥ ``pca_variance`` of the variance and every
       component with variance ≥ ``pca_tol`` in observation-error units), trained on the
       runs with ``J ≤ min J + χ²_{n,local_prob}/2`` (at least ``10 n`` runs): the runs
       where the posterior is, not the prior's tails.
    3. Sample: random-walk Metropolis, ``n_chains`` chains at once, on
       ``log N(0; m(θ), I + Σ_GP(θ)) − J_b(θ)`` (emulator variance, including the discarded
       PCA variance, and its log-determinant in the likelihood) inside the training runs'
       bounding box widened by ``box_pad`` of its width each side; adaptive burn-in.
    4. Refine (up to ``max_refine`` rounds): run the model at ``n_refine`` distinct
       emulator-posterior draws, add them to the runs and refit; stop once the emulated and
       real data misfits ``½|z|²`` agree within ``refine_tol`` at every new run (then one
       last fit and sampling with those runs included).
    5. Check: ``n_check`` real runs at final posterior draws (`validate`).

    Parameters
    ----------
    problem : Problem
    x0 : array_like, optional
        Added as one chain start.
    executor : object, optional
        Runs the model (ordered ``map``).
    seed : int, optional
    n_design : int, optional
        Ensemble size (default ``max(5 n_param, 20)``) or, with ``calibrate="design"``,
        design size (default ``10 n_param``, Loeppky et al. 2009).
    calibrate : {"es-mda", "design"}
        Where the first runs come from: an ES-MDA ensemble moved from the prior towards the
        posterior (every iteration's runs kept), or a space-filling design of the box.
    alphas : sequence of float, or int
        ES-MDA inflation factors with ``sum 1/alpha = 1``; an integer ``N_a`` means ``N_a``
        factors ``N_a`` (as `ESMDAState`).
    design_method : {"lhs", "sobol"}
        The design of ``calibrate="design"``: Latin hypercube or scrambled Sobol points.
    box_width : float
        The box of ``calibrate="design"``: the prior mean ± ``box_width`` prior standard
        deviations, clipped to the bounds.
    n_refine : int, optional
        Real runs per refinement round (default ``max(2 n_param, 8)``).
    max_refine : int
        Maximum number of refinement rounds (real runs at emulator-posterior draws, refit).
    refine_tol : float
        Refinement stops once the emulated and real data misfits ``½|z|²`` agree within
        this (units of J) at every new run.
    local_prob : float
        The emulator is trained on the runs with ``J <= min J + χ²_{n_param,
        local_prob}/2`` (at least ``10 n_param`` runs).
    n_chains : int
        Metropolis chains run at once on the emulator.
    n_steps : int
        Kept Metropolis steps per chain in the final sampling (refinement rounds use
        ``max(n_steps // 4, 200)``).
    n_burn : int, optional
        Adaptive burn-in steps per chain (default ``max(n_steps // 2, 500)``).
    n_check : int
        Real runs at posterior draws to check the emulator (reported in ``check``).
    pca_variance : float
        Keep the principal components of the whitened residuals up to this fraction of
        their variance (and those ``pca_tol`` keeps).
    nugget, pca_tol, max_components, kernel
        Of the `GPEmulator` (with ``standardise=False``: a common output scale).
    emulator : {"gp", "nn"}
        The emulator of step 2: a `GPEmulator`, or an `pdaframe.methods.emulation.nn.
        NNEmulator` (a JAX MLP on the same PCA outputs, trained with early stopping on a
        held-out part of the runs; its variance is the held-out error, constant in ``θ``;
        needs JAX).
    nn : dict, optional
        Options of the `NNEmulator` (``hidden``, ``validation``, ``patience``,
        ``weight_decay``, ``max_iter``), e.g. ``nn = { hidden = [32, 32] }`` in a config.
    box_pad : float
        The sampler stays in the training runs' bounding box widened by ``box_pad`` of its
        width on each side (and inside the prior's bounds).

    Returns
    -------
    Result
        ``x`` (posterior mean), ``posterior_covariance``, ``posterior_std``, ``samples``
        ``(n_steps * n_chains, n_param)`` step by step (row ``k``: step ``k // n_chains``
        of chain ``k % n_chains``), ``n_chains``, ``log_posterior`` (same order), ``fun``
        (real ``J(x)``), ``nfev`` (real model runs attempted: calibration + refinement +
        checks + 1), ``n_design`` (calibration runs),
        ``n_refine_runs``, ``n_train`` (runs the final emulator was trained on),
        ``refine_rounds`` (per round: runs, components, max ``|ΔJ|``),
        ``refine_converged`` (False, with a warning, when the last round still missed by
        more than ``refine_tol``), ``acceptance``, ``rhat``, ``ess_bulk``, ``ess_tail``
        (ArviZ, of the kept chains), ``check`` (`validate` of the emulator on the check
        runs, plus
        ``real_cost``/``emulated_cost``), ``emulator``, ``timing`` (seconds: calibration
        runs, emulator fits, emulator MCMC over all rounds), ``max_extrapolation``
        (largest unit-cube distance of a posterior draw from the final training runs'
        bounding box) and ``extrapolated_fraction`` (draws farther than
        `EXTRAPOLATION_WARN`; above 10 % it warns), both written to ``samples.nc``.
    """
    rng = np.random.default_rng(seed)
    prior = problem.prior
    d = prior.n
    for name, val, low in (("n_chains", n_chains, 1), ("n_steps", n_steps, 1),
                           ("n_check", n_check, 0), ("max_refine", max_refine, 0)):
        if int(val) != val or val < low:
            raise ConfigError(f"ces: {name}={val!r} must be an integer ≥ {low}")
    if not 0 < local_prob < 1:
        raise ConfigError(f"ces: local_prob={local_prob!r} must be in (0, 1)")
    if emulator not in ("gp", "nn"):
        raise ConfigError(f"ces: emulator={emulator!r}: expected 'gp' or 'nn'")
    if nn is not None and (emulator != "nn" or not isinstance(nn, dict)):
        raise ConfigError(f"ces: nn={nn!r}: a table of NNEmulator options, with emulator = "
                          f"'nn'")
    if calibrate not in ("es-mda", "design"):
        raise ConfigError(f"ces: calibrate={calibrate!r}: expected 'es-mda' or 'design'")
    # with a checkpoint, every batch of real runs is logged; a resumed run replays them
    executor = replaying(with_members(executor, seed), "ces", checkpoint)
    white = _Whitened(problem)
    t_start = time.perf_counter()
    if calibrate == "es-mda":
        n_ens = int(n_design or max(5 * d, 20))
        if n_ens < d + 2:
            raise ConfigError(f"ces: an ensemble of {n_ens} needs at least n_param + 2 = "
                              f"{d + 2} members")
        X, Z, n_cal = _calibrate_esmda(problem, white, executor, rng, n_ens, alphas)
    else:
        lo, up = prior_box(prior, box_width, use_bounds=False)
        Xd = design(lo, up, int(n_design or 10 * d), design_method, seed=rng.integers(2 ** 32))
        n_cal = len(Xd)
        X, Z = run_design(white, Xd, executor)
    J = 0.5 * np.sum(Z ** 2, axis=1) + _prior_costs(prior, X)
    n_refine = int(n_refine or max(2 * d, 8))
    n_burn = int(n_burn if n_burn is not None else max(n_steps // 2, 500))
    n_ref_runs, rounds, final = 0, [], False
    timing = {"calibrate": time.perf_counter() - t_start, "fit": 0.0, "mcmc": 0.0}
    for r in range(int(max_refine) + 1):
        keep = _local(J, d, 10 * d, local_prob)
        Xk, Zk = X[keep], Z[keep]
        lo, up = Xk.min(axis=0), Xk.max(axis=0)
        width = np.where(up > lo, up - lo, np.maximum(np.abs(lo), 1.0) * 1e-6)
        blo = np.maximum(lo - box_pad * width, prior.lower)
        bup = np.minimum(up + box_pad * width, prior.upper)
        t0 = time.perf_counter()
        if emulator == "nn":
            from .nn import NNEmulator
            em = NNEmulator(lo, lo + width, pca_variance=pca_variance,
                            seed=int(rng.integers(2 ** 31)), extrapolation_tol=np.inf,
                            extrapolation_limit=np.inf, standardise=False, pca_tol=pca_tol,
                            max_components=max_components, **(nn or {})).fit(Xk, Zk)
        else:
            em = GPEmulator(lo, lo + width, nugget=nugget, pca_variance=pca_variance,
                            seed=int(rng.integers(2 ** 31)), extrapolation_tol=np.inf,
                            standardise=False, pca_tol=pca_tol,
                            max_components=max_components, kernel=kernel).fit(
                                Xk, Zk, warm=em if r else None)  # refits start from the last
        timing["fit"] += time.perf_counter() - t0

        def logp(T, em=em, blo=blo, bup=bup):
            out = np.full(len(T), -np.inf)
            inside = np.all((T >= blo) & (T <= bup), axis=1)
            if inside.any():
                Ti = T[inside]
                out[inside] = em.gaussian_loglik(Ti) - _prior_costs(prior, Ti)
            return out

        order = np.argsort(J[keep])
        starts = Xk[order[np.arange(n_chains) % len(order)]]
        if x0 is not None and np.all(np.isfinite(logp(np.atleast_2d(x0)))):
            starts[0] = np.asarray(x0, dtype=float)
        cov0 = np.cov(Xk.T).reshape(d, d)
        if not np.all(np.isfinite(cov0)) or np.linalg.eigvalsh(cov0).min() <= 0:
            cov0 = np.diag(width ** 2 / 12)
        last = final or r == int(max_refine)
        steps = int(n_steps) if last else max(int(n_steps) // 4, 200)
        t0 = time.perf_counter()
        with blas_threads():
            chain, lps, acc = _metropolis(logp, starts, cov0 / 4, n_burn, steps, rng)
        timing["mcmc"] += time.perf_counter() - t0
        if last:
            break
        flat = chain.reshape(-1, d)
        uniq = np.unique(flat, axis=0)
        Xr = uniq[rng.choice(len(uniq), size=min(n_refine, len(uniq)), replace=False)]
        ok, Zr = _run_rows(white, Xr, executor)
        n_ref_runs += len(Xr)
        Xr = Xr[ok]
        dj = 0.5 * np.sum(Zr ** 2, axis=1) - \
            0.5 * np.sum(em.predict(Xr)[0] ** 2, axis=1) if len(Xr) else np.array([np.inf])
        rounds.append({"n_train": em.n_train, "n_components": em.n_components,
                       "explained_variance": em.explained_variance, "n_runs": len(ok),
                       "max_abs_dJ": float(np.max(np.abs(dj))), "acceptance": acc})
        log.info("ces refinement %d: %d training runs, %d components, max |dJ| %.3g", r,
                 em.n_train, em.n_components, rounds[-1]["max_abs_dJ"])
        if len(Xr):
            X, Z = np.vstack([X, Xr]), np.vstack([Z, Zr])
            J = np.concatenate([J, 0.5 * np.sum(Zr ** 2, axis=1) + _prior_costs(prior, Xr)])
        final = rounds[-1]["max_abs_dJ"] <= refine_tol
    converged = final or not rounds
    if not converged:
        warnings.warn(f"ces: after {len(rounds)} refinement round(s) the emulator still "
                      f"misses real runs at its posterior draws by |ΔJ| up to "
                      f"{rounds[-1]['max_abs_dJ']:.3g} (> refine_tol {refine_tol}); raise "
                      f"max_refine or n_design", RuntimeWarning, stacklevel=2)
    samples = chain.reshape(-1, d)
    # the sampler may go box_pad beyond the training runs: say how far the emulator
    # extrapolated (unit-cube distance from the training runs' bounding box)
    dist = em.extrapolation(samples)
    far, far_fraction = float(dist.max()), float(np.mean(dist > EXTRAPOLATION_WARN))
    if far_fraction > 0.1:        # a posterior's tails beyond the runs are normal, its bulk not
        warnings.warn(f"ces: {100 * far_fraction:.0f} % of the posterior draws lie beyond the "
                      f"runs the emulator was trained on (up to {far:.3g}, unit-cube "
                      f"distance): it extrapolates there; raise max_refine or n_design",
                      RuntimeWarning, stacklevel=2)
    mean = samples.mean(axis=0)
    post_cov = np.cov(samples.T).reshape(d, d)
    check = {}
    if n_check:
        uniq = np.unique(samples, axis=0)
        Xc = uniq[rng.choice(len(uniq), size=min(int(n_check), len(uniq)), replace=False)]
        Xc, Zc = run_design(white, Xc, executor, minimum=1)
        check = validate(em, Xc, Zc)
        jb = _prior_costs(prior, Xc)
        check["real_cost"] = 0.5 * np.sum(Zc ** 2, axis=1) + jb
        check["emulated_cost"] = 0.5 * np.sum(em.predict(Xc)[0] ** 2, axis=1) + jb
        log.info("ces check: coverage %.2f over %d runs", check["coverage"], len(Xc))
    fun = problem.cost(mean)
    if isinstance(executor, ReplayExecutor):
        executor.finish()
    n_real = n_cal + n_ref_runs + int(n_check) + 1             # failed runs count too
    diagnostics = sample_diagnostics(np.swapaxes(chain, 0, 1))      # ArviZ, per chain
    rhat = diagnostics["rhat"]
    res = SampleResult(method="ces", x=mean, fun=float(fun), success=True, status=0,
                 message=f"{n_chains} chains x {n_steps} emulator MCMC steps, acceptance "
                         f"{acc:.2f}, {len(rounds)} refinement round(s)",
                 nit=int(n_steps), nfev=n_real, njev=0, x0=starts[0],
                 history={"cost": np.array([J.min(), fun])},
                 parameter_names=list(problem.parameter_names),
                 posterior_covariance=post_cov, posterior_std=np.sqrt(np.diag(post_cov)),
                 samples=samples, n_chains=int(n_chains), log_posterior=lps.reshape(-1),
                 acceptance=acc,
                 n_design=n_cal, n_refine_runs=n_ref_runs, n_train=em.n_train,
                 refine_rounds=rounds, refine_converged=bool(converged), rhat=rhat,
                 check=check, emulator=em, timing=timing, max_extrapolation=far,
                 extrapolated_fraction=far_fraction)
    res.update(ess_bulk=diagnostics["ess_bulk"], ess_tail=diagnostics["ess_tail"])
    if callback is not None:
        try:
            callback(res)
        except StopIteration:
            pass
    return res


ces.option_docs = (GPEmulator,)        # nugget, pca_variance, pca_tol, max_components, kernel
ces.family = "emulation"

METHODS = {"ces": ces}
