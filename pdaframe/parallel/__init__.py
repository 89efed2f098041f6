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

`ExternalModel` runs a model executable through files, one working directory per run.
"""
from .base import (Failed, SerialExecutor, evaluate, get_executor, is_root, keep_succeeded,
                   member_rng)
from .external import ExternalModel, make_external
from .mpi import ExecutorError, MPIExecutor          # mpi4py is imported only when used

__all__ = ["ExecutorError", "ExternalModel", "Failed", "MPIExecutor", "SerialExecutor",
           "evaluate", "get_executor", "is_root", "keep_succeeded", "make_external",
           "member_rng"]
