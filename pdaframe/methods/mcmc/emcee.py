"""emcee's affine-invariant ensemble sampler driven through its ``pool`` hook with our
executor, and what its checkpoint holds (`EmceeCheckpoint`)."""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError, check_int
from ...parallel import with_members
from ...result import Result
from ..ensemble import Tally, filled
from ..search.shared import _seed
from .chains import MIN_DRAWS, LogTargetU, _start_u, sample_result


class _Pool(Tally):
    """emcee's ``pool``: our executor's ``map`` (walker ``i`` runs as member ``i``,
    `pdaframe.parallel.with_members`), a failed member as ``(-inf, inf)``; counts as
    `Tally`."""

    def __init__(self, executor, seed=None):
        super().__init__()
        self.executor = with_members(executor, seed)

    def map(self, func, items):
        results = self.executor.map(func, [np.array(x) for x in items])
        self._count(results)
        return filled(results, (-np.inf, np.inf))


class EmceeCheckpoint:
    """What a checkpoint of `emcee_sampler` holds (`pdaframe.io.checkpoint`; no problem).

    Attributes
    ----------
    name : str
        "emcee" (the checkpoint header's method).
    iteration : int
        Steps done, burn-in included.
    chain, log_prob, blobs, accepted, random_state
        emcee's in-memory backend after ``iteration`` steps (arrays cut to them); its last
        row and ``random_state`` (after the last step) are the sampler's last `emcee.State`.
    nfev, n_failed : int
        The pool's counters.
    seed : int
        The run's seed (it may have been drawn).
    stopped, done : bool
        A callback stopped the run; the run ended (written at the end).
    """

    name = "emcee"
    _BACKEND = ("chain", "log_prob", "blobs", "accepted", "random_state")

    def __init__(self, seed=0):
        self.iteration, self.seed = 0, seed
        self.chain = self.log_prob = self.blobs = self.accepted = self.random_state = None
        self.nfev = self.n_failed = 0
        self.stopped = self.done = False

    def keep(self, backend, pool, stopped=False, done=False):
        """Copy ``backend`` (its filled rows) and ``pool``'s counters."""
        it = backend.iteration
        self.iteration, self.stopped, self.done = it, stopped, done
        self.nfev, self.n_failed = pool.nfev, pool.n_failed
        for key in self._BACKEND:
            value = getattr(backend, key)
            if key in ("chain", "log_prob", "blobs") and value is not None:
                value = value[:it]
            setattr(self, key, value.copy() if isinstance(value, np.ndarray) else value)

    def restore(self, backend, n_chains, d):
        """Fill an emcee `~emcee.backends.Backend` (and nothing else) with the kept rows."""
        backend.reset(n_chains, d)
        for key in self._BACKEND:
            value = getattr(self, key)
            setattr(backend, key, value.copy() if isinstance(value, np.ndarray) else value)
        backend.iteration = self.iteration


def emcee_sampler(problem, x0=None, callback=None, executor=None, seed=0, n_samples=2000,
                  n_chains=None, burn_in=2000, checkpoint=None,
                  pointwise_log_likelihood="auto", **options) -> Result:
    """emcee's affine-invariant ensemble sampler in the control space, walkers via ``executor``.

    Parameters
    ----------
    problem, x0, callback, executor, seed, n_samples, burn_in
        As `adaptive_metropolis` (``x0``: walkers start in a ball of radius 1e-3 in u around
        it); emcee's random state is seeded with ``seed``.
    n_chains : int, optional
        Walkers, at least ``2 * n_param`` (emcee's stretch move); default ``max(4 d, 8)``.
    pointwise_log_likelihood : bool or str
        As `adaptive_metropolis` (the reruns go through ``executor``).
    **options
        ``moves`` (emcee moves), ``rhat_max`` (1.01, as `ChainState`).
    moves : emcee move or list, optional
        emcee's proposal: a move, a list of moves or of ``(move, weight)`` pairs (default
        the stretch move; from Python only, a config cannot hold one).

    Returns
    -------
    Result
        As `adaptive_metropolis`; chains are walkers (not independent: R-hat is indicative).

    Notes
    -----
    Given a ``checkpoint`` (`pdaframe.io.checkpoint.Checkpoint`; ``pdaframe run`` with
    ``checkpoint_every = N`` / ``--resume``) an `EmceeCheckpoint` (emcee's backend so far, its
    random state, the counters) is written every N steps and at the end, atomically and on
    MPI rank 0 only. A resumed run continues emcee from the last checkpointed step and gives
    the same chains, bit for bit, as an uninterrupted run.
    """
    import emcee

    from ...io import checkpoint as ckpt
    from ...parallel import is_root
    from .pointwise import attach_pointwise, pointwise_option
    pointwise = pointwise_option(pointwise_log_likelihood, "emcee")
    d = problem.n_param
    n_chains = max(4 * d, 8) if n_chains is None else n_chains
    n_chains = check_int(n_chains, "emcee: n_chains", 2 * d,
                          "emcee's stretch move needs 2 walkers per parameter")
    n_samples = check_int(n_samples, "emcee: n_samples", MIN_DRAWS,
                           "ArviZ's R-hat and ESS need 4 draws per chain")
    burn_in = check_int(burn_in, "emcee: burn_in", 0, "draws discarded")
    rhat_max = options.pop("rhat_max", 1.01)
    cp = checkpoint
    saved = EmceeCheckpoint(_seed(seed))
    if cp is not None and cp.resume:
        ckpt.load_into(saved, cp)
    seed = saved.seed                               # the interrupted run's, when resumed
    rng = np.random.default_rng(seed)
    space = problem.space
    if x0 is not None:
        u0 = _start_u(problem, x0, n_chains, None, "emcee")
        u0 = u0 + 1e-3 * rng.standard_normal(u0.shape)
    else:
        u0 = _start_u(problem, None, n_chains, [rng] * n_chains, "emcee")
    pool = _Pool(executor, seed)
    pool.nfev, pool.n_failed = saved.nfev, saved.n_failed
    backend = emcee.backends.Backend()
    if saved.iteration:
        saved.restore(backend, n_chains, d)
    sampler = emcee.EnsembleSampler(n_chains, d, LogTargetU(problem), pool=pool,
                                    moves=options.pop("moves", None), backend=backend)
    if options:
        raise ConfigError(f"emcee: unknown options {sorted(options)}")
    stopped, nit, total = saved.stopped, saved.iteration, burn_in + n_samples
    if nit:     # the last State: coords, log_prob, blobs and random state of the last step
        start = backend.get_last_sample()
    else:
        start = u0
        sampler.random_state = np.random.RandomState(seed).get_state()

    def save(done=False):
        if cp is not None and is_root():
            saved.keep(backend, pool, stopped, done)
            ckpt.save(saved, cp)

    steps = () if saved.done else sampler.sample(start, iterations=total - nit,
                                                 skip_initial_state_check=nit > 0)
    for _ in steps:
        nit += 1
        if cp is not None and nit % cp.every == 0 and nit < total:
            save()
        if callback is not None:
            try:
                callback(Result(nit=nit, nfev=pool.nfev, burn_in=nit <= burn_in,
                                total=total))
            except StopIteration:
                stopped = True
                break
    save(done=True)
    keep = max(nit - burn_in, 0)
    chain = sampler.get_chain()                     # (step, walker, d)
    u = np.swapaxes(chain[burn_in:nit], 0, 1)
    J = np.swapaxes(sampler.get_blobs()[burn_in:nit], 0, 1).astype(float).reshape(
        n_chains, keep)
    prev = np.concatenate([chain[burn_in - 1:burn_in] if burn_in > 0 else u0[None],
                           chain[burn_in:nit - 1]]) if keep else chain[:0]
    accepted = np.swapaxes(np.any(chain[burn_in:nit] != prev, axis=2), 0, 1)
    theta = np.array([[space.to_theta(x) for x in c] for c in u]).reshape(n_chains, keep, d)
    result = sample_result(problem, "emcee", theta, u, J, accepted, nfev=pool.nfev,
                           n_failed=pool.n_failed, nit=nit, seed=seed, stopped=stopped,
                           rhat_max=rhat_max,
                           burn_in=burn_in,
                           acceptance_fraction_all=np.array(sampler.acceptance_fraction))
    if pool.first_failure:
        result["first_failure"] = pool.first_failure
    return attach_pointwise(result, problem, executor, pointwise)
