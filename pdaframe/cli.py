"""Command line: ``pdaframe run CONFIG``, ``pdaframe check CONFIG``, ``pdaframe sweep SWEEP``,
``pdaframe predict RESULT``, ``pdaframe merge OUTDIR``, ``pdaframe plugins``, ``pdaframe methods``, ``pdaframe new-plugin NAME --lang LANG``,
``pdaframe compare RUN RUN...`` (PSIS-LOO/WAIC table of sampler runs,
`pdaframe.analysis.model_selection`), ``pdaframe cross-validate CONFIG`` (leave-year-out,
`pdaframe.analysis.cross_validation`), ``pdaframe --version``.

``pdaframe sweep SWEEP.toml`` runs a base config over a grid of overrides
(`pdaframe.sweep`); ``pdaframe check --prior-predictive`` runs a prior ensemble against the
data (`pdaframe.analysis.prior_predictive`); ``pdaframe predict RESULT`` runs a finished
run's prior and posterior draws on other drivers or scenarios (`pdaframe.prediction`). All
three spread their runs over MPI ranks like ``run``.

A config with a ``[batch]`` table runs one calibration per site of its site table
(`pdaframe.batch`): ``run --task I/N`` runs task I of N (1-based) of a job array, ``merge
OUTDIR`` gathers the per-site results, ``check`` checks every site's files and config.

``pdaframe check`` validates a config without running the model: a twin's synthetic
observations are not drawn and stream variables are checked against the outputs the model
declares (`pdaframe.interfaces.declared_outputs`). Output piped into a program that stops
reading (``pdaframe plugins | head``) ends quietly.

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

Interrupting ``pdaframe run`` with SIGINT (Ctrl-C) or SIGTERM (a batch system's kill) ends
the running external model's process group, removes its run folder (unless ``keep =
"all"``), writes the checkpoint of the last completed round when checkpoints are on, prints
one line and exits with status 130 (SIGINT) or 143 (SIGTERM).
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import warnings

from .errors import PdaframeError


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like SIGINT's ``KeyboardInterrupt``."""


def _on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)     # let the clean-up finish
    raise Terminated()


def _cmd_run(args):
    import threading
    if threading.current_thread() is not threading.main_thread():
        return _run(args)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _run(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args):
    from .batch import is_batch_config
    from .config.loader import load_config
    from .parallel import get_executor, is_root
    from .run import run_problem, summary_table

    if is_batch_config(args.config):
        return _run_batch(args)
    if args.task is not None:
        from .errors import ConfigError
        raise ConfigError(f"--task goes with a batch config (a [batch] table); "
                          f"{args.config} has none")
    executor = get_executor(None if args.executor == "auto" else args.executor)
    root = is_root()
    problem, settings = load_config(args.config, output_dir=args.output)
    result, paths = run_problem(problem, settings, args.output,
                                progress=root and not args.quiet, executor=executor,
                                write=root, resume=args.resume)
    if not root:
        return 0
    print(summary_table(result, problem, settings.truth))
    if getattr(executor, "size", 1) > 1:
        print(f"{executor.size} MPI ranks ({executor.schedule} schedule)")
    for label, path in paths.items():
        print(f"wrote {label}: {_shown(path)}")
    if not result["success"]:
        print(f"warning: {result['method']} did not converge: {result['message']}",
              file=sys.stderr)
    return 0


def _run_batch(args):
    from .batch.command import run_command
    return run_command(args, _shown)


def _cmd_merge(args):
    from .batch.command import merge_command
    return merge_command(args, _shown)


def _shown(path):
    """``path`` relative to the working directory when it lies below it."""
    from pathlib import Path
    try:
        return Path(path).resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def _cmd_check(args):
    from .config.loader import load_config
    from .interfaces import declared_outputs

    from .batch import is_batch_config
    if args.prior_predictive:
        return _prior_predictive(args)
    if is_batch_config(args.config):
        from .batch.command import check_command
        return check_command(args)
    if args.members is not None:
        from .errors import ConfigError
        raise ConfigError("--members goes with --prior-predictive")
    problem, cfg = load_config(args.config, run_model=False,    # check never runs the model
                               output_dir=args.output)
    print(f"{args.config}: OK")
    print(f"  model {cfg.model_name!r}: {problem.n_param} parameters estimated "
          f"({', '.join(problem.parameter_names)})")
    for s in problem.streams:
        outside = getattr(s, "n_outside", 0)
        print(f"  stream {s.name!r}: {s.values.size} values, {s.n_missing} missing, "
              f"weight {s.weight:g}" + (f"; {outside} rows outside the run period or window "
                                        f"left out" if outside else ""))
    if cfg.truth is not None:
        print("  twin: synthetic observations are drawn at the truth by 'pdaframe run' "
              "(check does not run the model)")
    models = [p.model for p in getattr(problem, "site_problems", [problem])]
    if any(declared_outputs(m) is None for m in models):
        print("  stream variables not checked: the model declares no outputs "
              "(output_names); 'pdaframe run' checks them at the first run")
    print(f"  method {cfg.method!r}; output {cfg.output_dir}")
    return 0


def _cmd_sweep(args):
    from .parallel import MPIExecutor, get_executor, is_root
    from .sweep import run_sweep

    kind = None if args.executor == "auto" else args.executor
    executor = get_executor(kind)
    if isinstance(executor, MPIExecutor):     # cases differ in cost: balance them
        executor.schedule = "dynamic"
    root = is_root()
    sweep, rows, lines, paths = run_sweep(args.sweep, args.output, executor, write=root)
    if not root:
        return 0
    print("\n".join(lines))
    if getattr(executor, "size", 1) > 1:
        print(f"{executor.size} MPI ranks")
    for label, path in paths.items():
        print(f"wrote {label}: {_shown(path)}")
    failed = sum(not row for row in rows)
    if failed:
        print(f"warning: {failed} of {len(rows)} cases failed (run the sweep again to retry "
              f"them)", file=sys.stderr)
    return 0


def _prior_predictive(args):
    """``check --prior-predictive``: the prior ensemble against the data, written next to
    the config's output (`pdaframe.analysis.prior_predictive`)."""
    from .analysis.prior_predictive import (check_members, prior_predictive,
                                            write_prior_predictive)
    from .config.loader import load_config
    from .io.output import claim_for_run, new_run_id
    from .parallel import get_executor, is_root

    n = check_members(200 if args.members is None else args.members)
    executor = get_executor(None if args.executor == "auto" else args.executor)
    root = is_root()
    problem, cfg = load_config(args.config, output_dir=args.output)   # a twin draws its data
    with claim_for_run(cfg.output_dir, new_run_id(), root, executor):
        check = prior_predictive(problem, n, cfg.seed, executor)
        paths = write_prior_predictive(check, cfg.output_dir) if root else {}
    if root:
        print(check.summary())
        for label, path in paths.items():
            print(f"wrote {label}: {_shown(path)}")
    return 0


def _cmd_predict(args):
    from .parallel import get_executor, is_root
    from .prediction import predict

    executor = get_executor(None if args.executor == "auto" else args.executor)
    root = is_root()
    prediction = predict(args.result, drivers=args.drivers, scenarios=args.scenario,
                         members=args.members, output=args.output, seed=args.seed,
                         config=args.config, executor=executor,
                         progress=root and not args.quiet, write=root)
    if root:
        print(prediction.summary())
        for label, path in prediction.paths.items():
            print(f"wrote {label}: {_shown(path)}")
    return 0


def _cmd_compare(args):
    from .analysis.model_selection import compare_runs

    print(compare_runs(args.runs, ic=args.ic))
    return 0


def _cmd_cross_validate(args):
    from .analysis.cross_validation import cross_validate_config

    cross_validate_config(args.config, years=args.years, n_draws=args.draws,
                          output_dir=args.output, show=print)
    return 0


def _cmd_new_plugin(args):
    from .scaffold import create_plugin

    path = create_plugin(args.name, args.lang, args.dir)
    print(f"wrote the {args.lang} plugin {args.name!r} to {_shown(path)}; next: "
          f"pip install {_shown(path)} && python -m pytest {_shown(path)}/tests")
    return 0


def _cmd_plugins(args):
    from .plugins import get_plugins

    for row in get_plugins().describe():
        print(f"{row['name']}  ({row['distribution']} {row['version']})")
        for kind, names in row["provides"].items():
            print(f"    {kind}s: {', '.join(names)}")
    return 0


def _cmd_methods(args):
    from .methods.contract import documented_options, is_open, method_family, method_kind
    from .plugins import get_method, registry

    methods = registry("method")

    def family(name):                 # a plugin's method without one: the plugin's name
        return method_family(methods.get(name), methods.sources[name][0])

    if args.name is None:
        names = methods.names()
        width = max(map(len, names), default=0)
        for name in names:
            print(f"{name:<{width}}  {family(name)}")
        return 0
    func = get_method(args.name)
    kind = method_kind(func)
    print(f"{args.name} ({family(args.name)})" + (f", returns: {kind} result" if kind else ""))
    for opt in documented_options(func).values():
        print(f"  {opt.name} : {opt.kind} = {opt.default!r}")
        print(f"      {opt.doc or '(not described in the docstring)'}")
    if is_open(func):
        print("  (further options are not declared: they are left to the method)")
    return 0


class _Version(argparse.Action):
    """``--version``: pdaframe's version and each plugin's distribution and version."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from .plugins import _version, get_plugins
        lines = [f"pdaframe {_version('pdaframe')}"]
        try:
            lines += [f"  plugin {name}: {dist} {version}" for name, (dist, version)
                      in get_plugins().dists.items() if name != "pdaframe"]
        except PdaframeError as err:                  # a plugin that fails to load
            lines.append(f"  plugins: {err}")
        try:
            print("\n".join(lines), flush=True)
        except BrokenPipeError:
            _silence_stdout()
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pdaframe", description="Parameter data assimilation "
                                     "for land surface models.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--version", action=_Version,
                        help="print the versions of pdaframe and its plugins and exit")
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
    run.add_argument("--task", metavar="I/N",
                     help="a batch config only: run task I of N (1-based, I = 1..N), every "
                          "N-th site from the I-th, for a job array (Slurm: --array=1-N and "
                          "--task $SLURM_ARRAY_TASK_ID/N); merge with 'pdaframe merge' after")
    run.set_defaults(func=_cmd_run)
    check = sub.add_parser("check", help="validate a config without running the model")
    check.add_argument("config")
    check.add_argument("-o", "--output", help="output folder to check (overrides [output] "
                                              "directory, as for run)")
    check.add_argument("--prior-predictive", action="store_true",
                       help="run N prior draws (seeded by the config's seed) and report per "
                            "stream the coverage of the data by the prior 90 %% and 50 %% "
                            "bands and the observations outside; writes "
                            "prior_predictive.csv/.nc to the output folder")
    check.add_argument("--members", type=int, help="prior draws of --prior-predictive "
                                                   "(default 200)")
    check.add_argument("--executor", choices=("auto", "serial", "mpi"), default="auto",
                       help="how --prior-predictive members are run (as for run)")
    check.set_defaults(func=_cmd_check)
    sweep = sub.add_parser("sweep", help="run a base config over a grid of overrides "
                                         "(OSSEs) and write one table")
    sweep.add_argument("sweep", help="the sweep file (TOML: base, [[axes]], [[cases]])")
    sweep.add_argument("-o", "--output", help="output folder (overrides the sweep file's "
                                              "[output] directory)")
    sweep.add_argument("--executor", choices=("auto", "serial", "mpi"), default="auto",
                       help="how cases are spread (auto: MPI when launched by mpiexec with "
                            "more than one rank)")
    sweep.set_defaults(func=_cmd_sweep)
    merge = sub.add_parser("merge", help="gather a batch's per-site results into batch.nc "
                                         "(and a lat/lon map for grid cells)")
    merge.add_argument("output_dir", help="the batch's output folder")
    merge.set_defaults(func=_cmd_merge)
    pred = sub.add_parser("predict", help="run a finished run's prior and posterior draws "
                                          "on other drivers or scenarios")
    pred.add_argument("result", help="the run's output folder (or its result.nc)")
    pred.add_argument("--drivers", help="a driver file (CSV or CF-NetCDF) for the model's "
                                        "drivers_file option")
    pred.add_argument("--scenario", action="append", metavar="NAME[:COL=EXPR,...]",
                      help="a scenario of the config's [predict.scenarios], or one defined "
                           "here (warm:t_min=+2,t_max=+2); repeatable; default: the config's")
    pred.add_argument("--members", type=int, help="draws of the posterior and of the prior "
                                                  "(default [predict] members or 200)")
    pred.add_argument("-o", "--output", help="folder of the files (default: the run's)")
    pred.add_argument("--seed", type=int, help="seed of the draws (default [predict] seed or "
                                               "the config's)")
    pred.add_argument("--config", help="the run's config, when not found from the name "
                                       "result.nc records (it must be unchanged)")
    pred.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    pred.add_argument("--executor", choices=("auto", "serial", "mpi"), default="auto",
                      help="how members are run (as for run)")
    pred.set_defaults(func=_cmd_predict)
    comp = sub.add_parser("compare", help="compare sampler runs on the same data by PSIS-LOO "
                          "or WAIC (their samples.nc)")
    comp.add_argument("runs", nargs="+", help="run folders (or their samples.nc files)")
    comp.add_argument("--ic", choices=("loo", "waic"), default="loo",
                      help="information criterion (default loo)")
    comp.set_defaults(func=_cmd_compare)
    cross = sub.add_parser("cross-validate", help="leave-year-out cross-validation of a "
                           "config: one fit per held-out year, scored on that year")
    cross.add_argument("config")
    cross.add_argument("--by", choices=("year",), default="year",
                       help="what a fold holds out (a calendar year)")
    cross.add_argument("--years", type=int, nargs="+", help="the years to hold out (default "
                       "every year with observations)")
    cross.add_argument("--draws", type=int, default=200, help="predictive draws per fold")
    cross.add_argument("-o", "--output", help="output folder (overrides [output] directory)")
    cross.set_defaults(func=_cmd_cross_validate)
    plugins = sub.add_parser("plugins", help="list plugins and what they register")
    plugins.set_defaults(func=_cmd_plugins)
    methods = sub.add_parser("methods", help="list the registered methods and their family, "
                                             "or one method's options")
    methods.add_argument("name", nargs="?", help="a method: print its options (type, "
                                                 "default, one line each)")
    methods.set_defaults(func=_cmd_methods)
    new = sub.add_parser("new-plugin", help="write a new pip-installable model plugin "
                                            "package (model, parameter table, tests, twin)")
    new.add_argument("name", help="plugin and model name, a lower-case Python identifier "
                                  "(package pdaframe_NAME, distribution pdaframe-NAME)")
    new.add_argument("--lang", required=True, metavar="{python,jax,fortran,c}",
                     help="the route: pure Python with hand-written derivatives, JAX "
                          "(derivatives by JAX), a Fortran kernel (f90wrap) or a C kernel "
                          "(cffi)")
    new.add_argument("--dir", help="the new folder (default ./pdaframe-NAME); must not exist "
                                   "or be empty")
    new.set_defaults(func=_cmd_new_plugin)
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


def _silence_stdout():
    """Point stdout at /dev/null so the interpreter's final flush cannot fail again."""
    import os
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):       # stdout without a file descriptor (captured)
        pass


def main(argv=None) -> int:
    """Entry point of the ``pdaframe`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    rank, size = _mpi_rank() if args.command in ("run", "sweep", "check", "predict") else (0, 1)
    fmt = "%(levelname)s %(name)s: %(message)s"
    if size > 1:
        fmt = f"rank {rank}: {fmt}"
    level = logging.INFO if args.verbose else logging.WARNING
    if rank > 0:                   # only rank 0 reports warnings; errors come from every rank
        level = logging.INFO if args.verbose else logging.ERROR
        warnings.simplefilter("ignore")
    logging.basicConfig(level=level, format=fmt)
    try:
        status = args.func(args)
        sys.stdout.flush()          # a closed pipe fails here, not at interpreter exit
        return status
    except PdaframeError as err:
        _report(rank, size, f"error ({type(err).__name__}): {err}")
        return 2
    except KeyboardInterrupt as err:
        term = isinstance(err, Terminated)
        print(f"pdaframe: {'terminated (SIGTERM)' if term else 'interrupted'}; member "
              f"processes ended", file=sys.stderr)
        return 143 if term else 130
    except BrokenPipeError:        # output piped into a reader that left (| head): quietly
        _silence_stdout()
        return 0
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
