"""Command line: ``pdaframe run CONFIG``, ``pdaframe check CONFIG``, ``pdaframe plugins``."""
from __future__ import annotations

import argparse
import logging
import sys

from .errors import PdaframeError


def _cmd_run(args):
    from .config import load_config
    from .run import run_problem, summary_table

    problem = load_config(args.config)
    result, paths = run_problem(problem, args.output, progress=not args.quiet)
    print(summary_table(result, problem, problem.config.truth))
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
    run.set_defaults(func=_cmd_run)
    check = sub.add_parser("check", help="validate a config without running the model")
    check.add_argument("config")
    check.set_defaults(func=_cmd_check)
    plugins = sub.add_parser("plugins", help="list plugins and what they register")
    plugins.set_defaults(func=_cmd_plugins)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``pdaframe`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except PdaframeError as err:
        print(f"pdaframe: error ({type(err).__name__}): {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pdaframe: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
