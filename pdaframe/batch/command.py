"""The batch side of the command line (`pdaframe.cli`): ``pdaframe run`` of a config with
``[batch]`` (``--task I/N``), ``pdaframe merge OUTDIR`` and ``pdaframe check`` of a batch
config. ``shown(path)`` formats a path for printing (the CLI's)."""
from __future__ import annotations

import sys
import time


def run_command(args, shown):
    """``pdaframe run`` of a config with ``[batch]``: one calibration per site
    (`pdaframe.batch`)."""
    from . import parse_task, run_batch
    from ..errors import ConfigError
    from ..parallel import get_executor, is_root

    if args.resume:
        raise ConfigError("--resume does not go with a batch: a batch run always continues "
                          "(finished sites are skipped, failed and unfinished ones run)")
    task = None if args.task is None else parse_task(args.task)
    executor = get_executor(None if args.executor == "auto" else args.executor)
    run = run_batch(args.config, args.output, task, executor, progress=not args.quiet)
    if not is_root():
        return 0
    print(run.summary())
    if getattr(executor, "size", 1) > 1:
        print(f"{executor.size} MPI ranks (dynamic schedule); sites per rank: {run.ranks}")
    print(f"peak memory per rank: {', '.join(f'{m:.0f}' for m in run.peak_rss_mb)} MiB")
    for label, path in run.merged.items():
        if label != "counts":
            print(f"wrote {label}: {shown(path)}")
    if task is not None:
        print(f"task {task[0]}/{task[1]} finished; after the whole array: pdaframe merge "
              f"{shown(run.batch.output_dir)}")
    if run.failed:
        print(f"warning: {len(run.failed)} of {len(run.share)} sites failed (run again to "
              f"retry them)", file=sys.stderr)
    return 0


def merge_command(args, shown):
    from . import merge_batch

    paths = merge_batch(args.output_dir, lock=True)
    counts = paths.pop("counts")
    print(f"merged {args.output_dir}: {counts['done']} sites done, {counts['failed']} "
          f"failed, {counts['not run']} not run")
    for label, path in paths.items():
        print(f"wrote {label}: {shown(path)}")
    return 0


def check_command(args):
    """``pdaframe check`` of a batch config: every site's files and config."""
    from . import load_batch
    from .runner import prepare

    start = time.perf_counter()
    batch = load_batch(args.config, args.output)
    share, to_run = prepare(batch, None)
    print(f"{args.config}: OK (batch)")
    print(f"  {len(batch.sites)} sites from {batch.table.source}; {len(share) - len(to_run)} "
          f"already done in {batch.output_dir}, {len(to_run)} checked (configs load, files "
          f"present) in {time.perf_counter() - start:.1f} s")
    return 0
