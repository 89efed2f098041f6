"""Executors: evaluate a batch of members (or sites) and give the results back in order.

An executor is anything with ``map(func, items) -> list`` that keeps the order of
``items``. `SerialExecutor` runs in this process; `MPIExecutor` (mpi4py, imported lazily)
spreads the items over all MPI ranks in SPMD style: every rank runs the same program,
computes its share (rank 0 included) and receives every result. Algorithms therefore run
identically on every rank and give the same answer on any number of ranks, provided random
draws are keyed by the run seed and the member index (`member_rng`), never by the rank.

A member whose evaluation raises a `pdaframe.PdaframeError`, or returns non-finite
numbers, comes back as a `Failed` record instead of raising, so no rank hangs; the method
decides what a failure means (4DEnVar drops the member, GA/DE give it the worst fitness).
Any other exception is a bug: `MPIExecutor` raises `ExecutorError` on every rank.

The ensemble methods (4DEnVar, GA, DE, MCMC chains, emcee, IS/GLUE, ES-MDA/EnKF/PF,
sensitivity samples, history matching, CES) evaluate their members through `with_members`:
the `Failed` conversion happens there, on the driver's side, so any object with an
order-keeping ``map`` works the same as `SerialExecutor`; and item ``i`` of a batch runs as
member ``i`` (`current_member`: its index and `member_seed` of the run's seed), the same
serially, in threads and under MPI. `pdaframe.models.external.ExternalModel` passes them to
its program as ``PDAFRAME_MEMBER`` and ``PDAFRAME_SEED``.

This package holds executors only; models (the external-program one included) live in
`pdaframe.models`.
"""
from .base import (Failed, Member, MemberExecutor, SerialExecutor, current_member, evaluate,
                   first_failure, get_executor, is_root, keep_succeeded, member_rng,
                   member_seed, with_members)
from .mpi import ExecutorError, MPIExecutor          # mpi4py is imported only when used

__all__ = ["ExecutorError", "Failed", "MPIExecutor", "Member",
           "MemberExecutor", "SerialExecutor", "current_member", "evaluate", "first_failure",
           "get_executor", "is_root", "keep_succeeded", "member_rng",
           "member_seed", "with_members"]
