"""No-U-Turn sampler (``nuts``) and static Hamiltonian Monte Carlo (``hmc``) for any problem
with a gradient: an adjoint, a tangent linear, a JAX model or a differentiable emulator.

Both sample the control space ``u`` like the other samplers (`pdaframe.methods.mcmc`): the
target is ``log p(u) = -J(theta(u)) + log|d theta/d u|`` and its gradient
``-S^T (d theta/d phi * dJ/dtheta) + S^T d/dphi log|d theta/d phi|``
(`pdaframe.methods.mcmc.gradient_target.GradientTarget`);
one gradient costs one model run and one adjoint sweep (or ``n_param`` tangent-linear
calls). The kernels (multinomial NUTS with the generalised U-turn criterion, dual
averaging, Stan's windowed diagonal or dense metric) are `pdaframe.methods.mcmc.hamiltonian`.

Why our own numpy code rather than blackjax or numpyro: pdaframe's gradients are numpy or
Fortran callbacks (the DALEC2 adjoint, tangent-linear models, emulators); a JAX sampler would
make JAX a mandatory dependency of every MCMC run and call back into Python through
``jax.pure_callback`` at each leapfrog step, losing what JAX offers (jit, vmap) while adding
its tracing cost and a second random-number stream that pdaframe's per-chain seeding would
have to mirror. The kernels are ~300 lines and follow Stan's ``base_nuts`` step by step.

Chains and ranks: chain ``c`` draws every random number (its start, momenta, directions,
selections, step-size searches) from ``member_rng(seed, c)``; one executor round advances
every chain by ``steps_per_round`` iterations as member ``c`` (chains spread over MPI
ranks) and gives back the chain's whole state, so the draws are the same bits on any
number of ranks, with any round length, and after a resume from a checkpoint.

A problem without a gradient is refused (`ConfigError`) unless ``gradient = "fd"``: finite
differences cost ``n_param + 1`` runs per gradient (more than a DREAM(ZS) step per
leapfrog), so they are allowed only when asked for, with a warning.

References: Hoffman & Gelman (2014) JMLR 15:1593; Betancourt (2017) arXiv:1701.02434;
Stan Reference Manual, "MCMC sampling" (windowed adaptation); Method notes §12.
"""
from __future__ import annotations

import copy
import logging
import math

import numpy as np
from ...errors import ConfigError, ModelError, check_int
from ...parallel import Failed, member_rng
from ...result import Result
from ..ensemble import EnsembleState, drive, failure_error
from ..scipy_minimisers import _gradient_used
from ..search.shared import _check_x0, _seed
from . import hamiltonian as hm
from .chains import MIN_DRAWS, sample_result
from .gradient_target import GradientTarget, gradient_mode

log = logging.getLogger(__name__)

class HMCChain:
    """One chain's whole state: position, step size, metric, adaptation, draws, counters
    (what an executor round hands a rank and gets back; stored in checkpoints)."""

    def __init__(self, index, rng, u0, draw_start, n_warmup, n_samples, inv, windows):
        self.index, self.rng = index, rng
        self.q, self.logp, self.grad, self.J = u0, None, None, math.inf
        self.draw_start = draw_start          # redraw bad starts from the prior
        self.iteration, self.n_warmup, self.n_samples = 0, n_warmup, n_samples
        self.eps, self.inv, self.windows = 1.0, inv, list(windows)
        self.da_mu = self.da_s_bar = self.da_x_bar = 0.0
        self.da_count = 0
        d = u0.size
        self.warm = np.zeros((n_warmup, d))          # zeros, not empty: MPI hashes items
        self.u = np.zeros((n_samples, d))
        self.draw_J = np.zeros(n_samples)
        stats = ("accept_stat", "energy")
        self.stats = {k: np.zeros(n_samples) for k in stats}
        for k in ("tree_depth", "n_leapfrog"):
            self.stats[k] = np.zeros(n_samples, dtype=np.int64)
        for k in ("divergent", "moved"):
            self.stats[k] = np.zeros(n_samples, dtype=bool)
        self.warmup_divergent = 0
        self.n_grad = self.nrun = self.nadjoint = self.ntangent = 0

    # dual averaging kept as plain fields (checkpoint-friendly)
    def _da(self, delta):
        da = hm.DualAveraging(self.eps, delta)
        da.mu, da.count, da.s_bar, da.x_bar = self.da_mu, self.da_count, self.da_s_bar, \
            self.da_x_bar
        return da

    def _keep_da(self, da):
        self.da_mu, self.da_count, self.da_s_bar, self.da_x_bar = da.mu, da.count, da.s_bar, \
            da.x_bar


class HamiltonianState(EnsembleState):
    """Ask/tell state of `nuts` and `hmc`: ``n_chains`` chains advanced ``steps_per_round``
    iterations per round, one chain per member.

    Parameters
    ----------
    problem : Problem
        With a gradient (see ``gradient``).
    x0 : array_like, optional
        Start of every chain (physical space); default a prior draw per chain.
    seed : int or None
        Chain ``c`` draws from ``member_rng(seed, c)`` (None: a seed is drawn).
    n_samples : int
        Draws kept per chain, after the warm-up.
    n_chains : int
        Independent chains (at least 2: R-hat compares chains).
    burn_in : int
        Warm-up iterations per chain (step size and metric adapted, then discarded).
    rhat_max : float
        The run succeeds (status 0) when every rank-normalised R-hat is below this.
    target_accept : float
        Mean acceptance statistic the step size is adapted to (Stan's ``delta``, 0.8).
    dense_mass : bool
        Adapt a dense metric (the warm-up's covariance) instead of a diagonal one.
    gradient : str
        ``auto`` (the model's adjoint, else its tangent linear; none is a `ConfigError`),
        ``adjoint``, ``tangent``, or ``fd`` (finite differences, with a warning).
    max_delta_h : float
        Energy error that counts as a divergence and ends the trajectory.
    steps_per_round : int
        Iterations of every chain per executor round (the unit of checkpoints and progress
        reports; the draws do not depend on it).
    """

    name = "hamiltonian"

    def __init__(self, problem, x0=None, seed=0, n_samples=1000, n_chains=4, burn_in=1000,
                 rhat_max=1.01, target_accept=0.8, dense_mass=False, gradient="auto",
                 max_delta_h=1000.0, steps_per_round=100):
        from ...io.state_format import register
        register(HMCChain)
        register(GradientTarget)
        super().__init__(problem)
        name = self.name
        self.seed = _seed(seed)
        self.n_chains = check_int(n_chains, f"{name}: n_chains", 2,
                                  "R-hat compares at least 2 chains")
        self.n_samples = check_int(n_samples, f"{name}: n_samples", MIN_DRAWS,
                                   "ArviZ's R-hat and ESS need 4 draws per chain")
        self.burn_in = check_int(burn_in, f"{name}: burn_in", 0, "warm-up iterations")
        self.steps_per_round = check_int(steps_per_round, f"{name}: steps_per_round", 1,
                                         "iterations per round")
        self.rhat_max = float(rhat_max)
        self.target_accept = float(target_accept)
        if not 0.0 < self.target_accept < 1.0:
            raise ConfigError(f"{name}: target_accept = {target_accept}; expected a number "
                              f"between 0 and 1 (exclusive)")
        self.max_delta_h = float(max_delta_h)
        self.dense_mass = bool(dense_mass)
        self.mode = gradient_mode(problem, gradient, name)
        self.gradient = gradient
        self.target = GradientTarget(problem, self.mode)
        d = problem.n_param
        u0 = None if x0 is None else problem.space.to_u(_check_x0(problem, x0, name))
        windows = hm.windows(self.burn_in)
        inv = np.eye(d) if self.dense_mass else np.ones(d)
        self.chains = []
        for c in range(self.n_chains):
            rng = member_rng(self.seed, c)
            start = u0 if u0 is not None else \
                problem.space.to_u(problem.prior.sample(1, rng)[0])
            self.chains.append(HMCChain(c, rng, start.copy(), x0 is None, self.burn_in,
                                        self.n_samples, inv.copy(), windows))
        self.total = self.burn_in + self.n_samples
        self.stopped = False

    # --- ask/tell --------------------------------------------------------------------------
    def ask(self) -> list:
        return list(self.chains)

    def evaluate(self, chain):
        """Advance a copy of ``chain`` by ``steps_per_round`` iterations (runs in the
        executor; touches nothing else)."""
        chain = copy.deepcopy(chain)
        p = self.problem
        counts = [getattr(p, k, 0) for k in ("nrun", "nadjoint", "ntangent")]
        try:
            self._advance(chain)
        finally:
            after = [getattr(p, k, 0) for k in ("nrun", "nadjoint", "ntangent")]
            chain.nrun += after[0] - counts[0]
            chain.nadjoint += after[1] - counts[1]
            chain.ntangent += after[2] - counts[2]
        return chain

    def tell(self, results) -> None:
        results = self._receive(results, self.n_chains, self.name)
        if any(isinstance(r, Failed) for r in results):
            raise failure_error(f"{self.name}: a chain failed", results)
        self.chains = list(results)
        if all(c.iteration >= self.total for c in self.chains):
            self.done = True

    def stop(self) -> None:
        self.stopped = self.done = True

    # --- one chain -------------------------------------------------------------------------
    def _start(self, chain, integ):
        for _ in range(100):
            chain.logp, chain.grad, chain.J = integ.evaluate(chain.q)
            if math.isfinite(chain.logp):
                break
            if not chain.draw_start:
                raise ModelError(f"{self.name}: chain {chain.index}: the log posterior or its "
                                 f"gradient is not finite at the start x0")
            chain.q = self.problem.space.to_u(self.problem.prior.sample(1, chain.rng)[0])
        else:
            raise ModelError(f"{self.name}: chain {chain.index}: no finite log posterior at "
                             f"100 prior draws")
        z = hm.Point(chain.q, None, chain.logp, chain.grad, chain.J)
        chain.eps = hm.initial_step_size(integ, z, 1.0, chain.rng)
        da = hm.DualAveraging(chain.eps, self.target_accept)
        chain._keep_da(da)

    def _advance(self, chain):
        integ = hm.Integrator(self.target, chain.inv)
        if chain.logp is None:
            self._start(chain, integ)
        da = chain._da(self.target_accept)
        end = min(chain.iteration + self.steps_per_round, self.total)
        while chain.iteration < end:
            it = chain.iteration
            z0 = hm.Point(chain.q, None, chain.logp, chain.grad, chain.J)
            z, st = self._transition(integ, z0, chain.eps, chain.rng)
            moved = z is not z0 and not np.array_equal(z.q, z0.q)
            chain.q, chain.logp, chain.grad, chain.J = z.q, z.logp, z.grad, z.J
            if it < chain.n_warmup:
                chain.warmup_divergent += st["divergent"]
                chain.warm[it] = z.q
                chain.eps = da.update(st["accept_stat"])
                ends = [w for w in chain.windows if w[1] == it + 1]
                if ends:
                    start = ends[0][0]
                    try:
                        chain.inv = hm.window_metric(chain.warm[start:it + 1],
                                                     self.dense_mass)
                    except np.linalg.LinAlgError:
                        log.warning("%s: chain %d: window metric not positive definite; "
                                    "kept the previous one", self.name, chain.index)
                    integ = self._integrator(integ, chain.inv)
                    chain.eps = hm.initial_step_size(integ, z, chain.eps, chain.rng)
                    da.restart(chain.eps)
                if it + 1 == chain.n_warmup:
                    chain.eps = da.final()
            else:
                k = it - chain.n_warmup
                chain.u[k], chain.draw_J[k] = z.q, z.J
                for key in ("accept_stat", "energy", "tree_depth", "n_leapfrog",
                            "divergent"):
                    chain.stats[key][k] = st[key]
                chain.stats["moved"][k] = moved
            chain.iteration += 1
        chain._keep_da(da)
        chain.n_grad += integ.n_grad

    @staticmethod
    def _integrator(old, inv):
        new = hm.Integrator(old.target, inv)
        new.n_grad = old.n_grad
        return new

    def _transition(self, integ, z0, eps, rng):
        raise NotImplementedError

    # --- results ---------------------------------------------------------------------------
    def progress(self) -> Result:
        it = min(c.iteration for c in self.chains)
        return Result(nit=it, nfev=sum(c.nrun for c in self.chains),
                      njev=sum(c.n_grad for c in self.chains), burn_in=it < self.burn_in,
                      total=self.total,
                      x=self.problem.space.to_theta(np.mean([c.q for c in self.chains], 0)),
                      fun=float(min(c.J for c in self.chains)))

    def result(self) -> Result:
        chains = self.chains
        nit = min(c.iteration for c in chains)
        k = max(nit - self.burn_in, 0)
        u = np.array([c.u[:k] for c in chains])
        space = self.problem.space
        theta = np.array([[space.to_theta(x) for x in c] for c in u]).reshape(u.shape)
        J = np.array([c.draw_J[:k] for c in chains])
        stats = {key: np.array([c.stats[key][:k] for c in chains])
                 for key in chains[0].stats}
        n_div = stats["divergent"].sum(axis=1)
        nrun = sum(c.nrun for c in chains)
        n_grad = sum(c.n_grad for c in chains)
        res = sample_result(
            self.problem, self.name, theta, u, J, stats["moved"], nfev=nrun, n_failed=0,
            nit=nit, seed=self.seed, stopped=self.stopped, rhat_max=self.rhat_max,
            burn_in=self.burn_in, step_size=np.array([c.eps for c in chains]),
            inverse_metric=np.array([c.inv for c in chains]),
            n_divergent=n_div, n_divergent_warmup=np.array(
                [c.warmup_divergent for c in chains]),
            diverging=stats["divergent"], tree_depth=stats["tree_depth"],
            n_leapfrog=stats["n_leapfrog"], accept_stat=stats["accept_stat"],
            energy=stats["energy"], n_gradient=n_grad,
            n_adjoint=sum(c.nadjoint for c in chains),
            n_tangent=sum(c.ntangent for c in chains),
            gradient=_gradient_used(self.problem, self.mode),
            mean_accept_stat=stats["accept_stat"].mean(axis=1) if k else np.zeros(
                len(chains)), **self._extra(stats))
        res.njev = n_grad
        if n_div.sum():
            res.message += (f"; {int(n_div.sum())} divergent transitions after warm-up "
                            f"(the posterior has regions the step size cannot follow)")
        return res

    def _extra(self, stats) -> dict:
        return {}


class NUTSState(HamiltonianState):
    """Multinomial NUTS (Stan's ``base_nuts``; `pdaframe.methods.mcmc.hamiltonian`).

    Parameters
    ----------
    max_tree_depth : int
        Most trajectory doublings per iteration (at most ``2**max_tree_depth`` leapfrogs).
    problem, x0, seed, **options
        As `HamiltonianState`.
    """

    name = "nuts"

    def __init__(self, problem, max_tree_depth=10, **options):
        self.max_tree_depth = check_int(max_tree_depth, "nuts: max_tree_depth", 1,
                                        "a trajectory of at least 2 leapfrog steps")
        super().__init__(problem, **options)

    def _transition(self, integ, z0, eps, rng):
        return hm.nuts_transition(integ, z0, eps, rng, self.max_tree_depth,
                                  self.max_delta_h)

    def _extra(self, stats):
        return {"n_max_tree_depth": (stats["tree_depth"] >= self.max_tree_depth).sum(axis=1)}


class HMCState(HamiltonianState):
    """Static HMC: ``n_steps`` leapfrogs and a Metropolis accept per iteration.

    Parameters
    ----------
    n_steps : int
        Leapfrog steps per iteration (the trajectory length is ``n_steps`` times the
        adapted step size).
    problem, **options
        As `HamiltonianState`.
    """

    name = "hmc"

    def __init__(self, problem, n_steps=16, **options):
        self.n_steps = check_int(n_steps, "hmc: n_steps", 1, "leapfrog steps")
        super().__init__(problem, **options)

    def _transition(self, integ, z0, eps, rng):
        return hm.hmc_transition(integ, z0, eps, rng, self.n_steps, self.max_delta_h)


def nuts(problem, x0=None, callback=None, executor=None, seed=0, n_samples=1000,
         n_chains=4, burn_in=1000, checkpoint=None, pointwise_log_likelihood="auto",
         **options) -> Result:
    """No-U-Turn sampler in the control space; chains over the executor's ranks.

    Parameters
    ----------
    problem : Problem
        With a gradient: its model has an adjoint or a tangent linear (a JAX model, the
        DALEC2 kernel, an emulator with gradients); else ``gradient = "fd"``.
    x0 : array_like, optional
        Start of every chain (physical); default one prior draw per chain.
    callback : callable, optional
        ``callback(progress)`` after each round (``steps_per_round`` iterations of every
        chain); `StopIteration` stops cleanly.
    executor : object, optional
        Runs the chains of a round (one chain per member: chains spread over MPI ranks).
    seed : int
        Chain ``c`` uses ``member_rng(seed, c)``: the draws do not depend on the executor.
    n_samples, n_chains, burn_in
        As `HamiltonianState` (defaults 1000, 4, 1000; ``burn_in`` is the adaptive
        warm-up).
    checkpoint : Checkpoint, optional
        Written every ``checkpoint.every`` rounds (`pdaframe.methods.ensemble.drive`); a
        resumed run gives the same draws, bit for bit.
    pointwise_log_likelihood : bool or str
        As `pdaframe.methods.mcmc.adaptive_metropolis`: the pointwise log-likelihood of
        the kept draws (one model run per distinct draw after sampling, no gradient).
    **options
        `NUTSState`'s ``max_tree_depth`` and `HamiltonianState`'s ``target_accept``,
        ``dense_mass``, ``gradient``, ``max_delta_h``, ``steps_per_round``, ``rhat_max``.

    Returns
    -------
    Result
        As `adaptive_metropolis` (``samples``, ``samples_u``, ``log_prob``, ``rhat``,
        ``ess_bulk``, ...; ``accepted``: the draw differs from the previous one), plus
        ``njev`` / ``n_gradient`` (gradient evaluations), ``n_adjoint``, ``n_tangent``,
        ``step_size`` and ``inverse_metric`` per chain (after warm-up),
        ``n_divergent`` (after warm-up) and ``n_divergent_warmup`` per chain,
        ``n_max_tree_depth`` (iterations that hit it), and per draw ``tree_depth``,
        ``n_leapfrog``, ``diverging``, ``accept_stat``, ``energy``.
    """
    return _sample(NUTSState, problem, x0, callback, executor, seed, n_samples, n_chains,
                   burn_in, checkpoint, options, pointwise_log_likelihood)


def hmc(problem, x0=None, callback=None, executor=None, seed=0, n_samples=1000, n_chains=4,
        burn_in=1000, checkpoint=None, pointwise_log_likelihood="auto", **options) -> Result:
    """Static Hamiltonian Monte Carlo (``n_steps`` leapfrogs, Metropolis accept), with the
    warm-up of `nuts` (dual-averaged step size, windowed metric).

    Parameters
    ----------
    problem, x0, callback, executor, seed, n_samples, n_chains, burn_in, checkpoint
        As `nuts`.
    pointwise_log_likelihood : bool or str
        As `nuts`.
    **options
        `HMCState`'s ``n_steps`` and `HamiltonianState`'s options (as `nuts`).

    Returns
    -------
    Result
        As `nuts` (``tree_depth`` is 0; ``accepted`` is the Metropolis decision).
    """
    return _sample(HMCState, problem, x0, callback, executor, seed, n_samples, n_chains,
                   burn_in, checkpoint, options, pointwise_log_likelihood)


def _sample(state_class, problem, x0, callback, executor, seed, n_samples, n_chains, burn_in,
            checkpoint, options, pointwise="auto") -> Result:
    """Run a `HamiltonianState` subclass to the end (`nuts`, `hmc`), then add the pointwise
    log-likelihood of its kept draws (`pdaframe.methods.mcmc.pointwise`)."""
    from .pointwise import attach_pointwise, pointwise_option
    pointwise = pointwise_option(pointwise, state_class.name)       # before any run
    state = state_class(problem, x0=x0, seed=seed, n_samples=n_samples, n_chains=n_chains,
                        burn_in=burn_in, **options)
    result = drive(state, executor, callback, checkpoint, report=lambda s: s.progress())
    return attach_pointwise(result, problem, executor, pointwise)


nuts.option_sources = (NUTSState, HamiltonianState)
hmc.option_sources = (HMCState, HamiltonianState)
for _method in (nuts, hmc):
    _method.option_counts = {"n_samples": (MIN_DRAWS, "ArviZ's R-hat and ESS need 4 draws "
                                                      "per chain"),
                             "n_chains": (2, "chains"), "burn_in": (0, "warm-up iterations"),
                             "steps_per_round": (1, "iterations per round")}
    _method.family = "mcmc"
nuts.option_counts["max_tree_depth"] = (1, "trajectory doublings")
hmc.option_counts = dict(hmc.option_counts, n_steps=(1, "leapfrog steps"))
