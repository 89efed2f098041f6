"""Command line: ``pdaframe run CONFIG``, ``pdaframe check CONFIG``, ``pdaframe plugins``.

MPI
---
``mpiexec -n N pdaframe run CONFIG`` is the supported parallel launch (SPMD): every rank
reads the config and runs the method; ensemble members are shared out over all ranks
(`pdaframe.parallel.MPIExecutor`), so every rank holds the same result. Only rank 0 writes
files, prints the summary and warnings and shows the progress bar; other ranks print errors
only, as one line starting with their rank. ``--executor`` chooses ``serial`` or ``mpi``
explicitly (``auto``: MPI when launched by ``mpiexec`` with more than one rank).
``python -m mpi4py.futures`` launches are not supported.

A `PdaframeError` (bad input, a model failing at the start point) is the same on every rank:
each rank reports it and exits with status 2. An `ExecutorError` (a member raised an exception
that is not a `PdaframeError`: a bug) is raised on every rank alike: status 1. Any other
unexpected exception under MPI may be confined to one rank while the others wait for it in a
collective call, so that rank prints its traceback and aborts the whole MPI job.
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings

from .errors import PdaframeError


def _cmd_run(args):
    from .config import load_config
    from .parallel import get_executor, is_root
    from .run import run_problem, summary_table

    executor = get_executor(None if args.executor == "auto" else args.executor)
    root = is_root()
    problem = load_config(args.config)
    result, paths = run_problem(problem, args.output, progress=root and not args.quiet,
                                executor=executor, write=root, resume=args.resume)
    if not root:
        return 0
    print(summary_table(result, problem, problem.config.truth))
    if getattr(executor, "size", 1) > 1:
        print(f"{executor.size} MPI ranks ({executor.schedule} schedule)")
    for label, path in paths.items():
        print(f"wrote {label}: {_shown(path)}")
    if not result["success"]:
        print(f"warning: {result['method']} did not converge: {result['message']}",
              file=sys.stderr)
    return 0


def _shown(path):
    """``path`` relative to the working directory when it lies below it."""
    from pathlib import Path
    try:
        return Path(path).resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def _cmd_check(args):
    from .config import load_config

    problem = load_config(args.config)
    cfg = problem.config
    print(f"{args.config}: OK")
    print(f"  model {cfg.model_name!r}: {problem.n_param} parameters estimated "
          f"({', '.join(problem.parameter_names)})")
    for s in problem.streams:
        outside = getattr(s, "n_outside", 0)
        print(f"  stream {s.name!r}: {s.values.size} values, {s.n_missing} missing, "
              f"weight {s.weight:g}" + (f"; {outside} rows outside the run period or window "
                                        f"left out" if outside else ""))
    print(f"  method {cfg.method!r}; output {cfg.output_dir}")
    return 0


def _cmd_plugins(args):
    from .plugins import get_plugins

    for row in get_plugins().describe():
        print(f"{row['name']}  ({row['distribution']} {row['version']})")
        for kind, names in row["provides"].items():
            print(f"    {kind}s: {', '.join(names)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pdaframe", description="Parameter data assimilation "
                                     "for land surface models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a TOML config and write results")
    run.add_argument("config")
    run.add_argument("-o", "--output", help="output folder (overrides [output] directory)")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.add_argument("--executor", choices=("auto", "serial", "mpi"), default="auto",
                     help="how ensemble members are evaluated (auto: MPI when launched by "
                          "mpiexec with more than one rank, else serial)")
    run.add_argument("--resume", action="store_true",
                     help="continue an iterative method (GA, DE, 4DEnVar, MCMC, history "
                          "matching, minimisers, ...) from the checkpoint "
                          "<output dir>/checkpoint.npz if there is one (numbers and JSON: "
                          "loading it runs no code); checkpoints every round unless the "
                          "method option checkpoint_every says otherwise")
    run.set_defaults(func=_cmd_run)
    check = sub.add_parser("check", help="validate a config without running the model")
    check.add_argument("config")
    check.set_defaults(func=_cmd_check)
    plugins = sub.add_parser("plugins", help="list plugins and what they register")
    plugins.set_defaults(func=_cmd_plugins)
    return parser


def _mpi_rank():
    """``(rank, size)`` of this process in an ``mpiexec`` launch; ``(0, 1)`` otherwise."""
    from .parallel.base import _mpi_size
    size = _mpi_size()
    if size <= 1:
        return 0, 1
    from mpi4py import MPI
    return MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size()


def _report(rank, size, message):
    """``pdaframe: message`` in full on rank 0 (or a serial run), one line on other ranks.

    Written with a single ``write`` so that mpiexec does not interleave ranks mid-line.
    """
    if rank == 0:
        text = f"pdaframe: {message}\n"
    else:
        text = f"pdaframe: rank {rank}/{size}: " + " ".join(message.split())[:300] + "\n"
    sys.stderr.write(text)
    sys.stderr.flush()


def main(argv=None) -> int:
    """Entry point of the ``pdaframe`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    rank, size = _mpi_rank() if args.command == "run" else (0, 1)
    fmt = "%(levelname)s %(name)s: %(message)s"
    if size > 1:
        fmt = f"rank {rank}: {fmt}"
    level = logging.INFO if args.verbose else logging.WARNING
    if rank > 0:                   # only rank 0 reports warnings; errors come from every rank
        level = logging.INFO if args.verbose else logging.ERROR
        warnings.simplefilter("ignore")
    logging.basicConfig(level=level, format=fmt)
    try:
        return args.func(args)
    except PdaframeError as err:
        _report(rank, size, f"error ({type(err).__name__}): {err}")
        return 2
    except KeyboardInterrupt:
        print("pdaframe: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        from .parallel import ExecutorError
        if isinstance(err, ExecutorError):         # raised alike on every rank
            _report(rank, size, f"error (ExecutorError): {err}")
            return 1
        if size <= 1:
            raise
        import traceback
        sys.stderr.write(f"pdaframe: rank {rank}/{size}: unexpected {type(err).__name__}; "
                         f"aborting all MPI ranks\n{traceback.format_exc()}")
        sys.stderr.flush()
        from mpi4py import MPI
        MPI.COMM_WORLD.Abort(1)
        raise


if __name__ == "__main__":
    sys.exit(main())
