"""MCMC samplers: adaptive Metropolis, DREAM(ZS) and emcee's affine-invariant ensemble.

All three move in the unbounded control space ``u`` of `pdaframe.problem.single.ControlSpace`
(``theta = T(phi_b + S u)``), so every draw respects the bounds, with the log target

    log p(u) = -J(theta(u)) + log|d theta / d phi|(phi_b + S u) + log|det S|

(the transform's log-det plus a constant): the density of ``theta`` is ``exp(-J)``, exactly.
Samples are returned in ``theta`` (physical) and ``u``.

Adaptive Metropolis and DREAM(ZS) are ask/tell states (`pdaframe.methods.ensemble`): one
generation asks one proposal per chain, the executor evaluates ``J`` of all chains at once
(so chains spread over MPI ranks), and only this process touches the chains and the random
numbers. emcee is driven through its ``pool`` hook with our executor.

References: Haario, Saksman & Tamminen (2001) Bernoulli 7:223; ter Braak & Vrugt (2008)
Stat. Comput. 18:435; Vrugt (2016) Env. Model. Softw. 75:273; Method notes §4–§5.

Modules: `.chains` (the log target, start states, diagnostics, the result and `ChainState`,
the ask/tell base), `.am` (adaptive Metropolis), `.dream` (DREAM(ZS)), `.emcee` (emcee).
"""
from .am import AMState, adaptive_metropolis
from .chains import (MIN_DRAWS, STATUS, ChainState, LogTargetU, drive_chains, log_jacobian,
                     metropolis_accept, sample_diagnostics, sample_result)
from .dream import DreamZSState, dream_zs
from .emcee import EmceeCheckpoint, emcee_sampler

__all__ = ["AMState", "ChainState", "DreamZSState", "EmceeCheckpoint", "LogTargetU",
           "METHODS", "MIN_DRAWS", "STATUS", "adaptive_metropolis", "drive_chains", "dream_zs",
           "emcee_sampler", "log_jacobian", "metropolis_accept", "sample_diagnostics",
           "sample_result"]

# the further options each state declares, and emcee's (`pdaframe.methods.contract`)
adaptive_metropolis.option_sources = (AMState,)
dream_zs.option_sources = (DreamZSState,)
emcee_sampler.option_defaults = {"moves": None, "rhat_max": 1.01}
for _method in (adaptive_metropolis, dream_zs, emcee_sampler):
    _method.option_counts = {"n_samples": (MIN_DRAWS, "ArviZ's R-hat and ESS need 4 draws "
                                                      "per chain"),
                             "n_chains": (2, "chains"), "burn_in": (0, "draws discarded")}
    _method.family = "mcmc"
emcee_sampler.option_docs = (ChainState,)       # the options it shares with the others

METHODS = {"adaptive-metropolis": adaptive_metropolis, "dream-zs": dream_zs,
           "emcee": emcee_sampler}
from .nuts import hmc, nuts  # noqa: E402  (NUTS and HMC: gradient-based, own options)
METHODS.update(nuts=nuts, hmc=hmc)
