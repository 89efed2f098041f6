"""Sweeps and OSSEs: one base config run over a grid of overrides (``pdaframe sweep``).

- `spec`: the sweep file (base config, ``[[axes]]``, ``[[cases]]``), expanded into cases,
  every override key checked against the base config;
- `runner`: every case's config loaded (no model run) before any case runs, then the cases
  spread over the executor (MPI ranks), resumable through each case's ``row.json``;
- `table`: the tidy table (``sweep.csv``, ``sweep.nc``) and the uncertainty-reduction plot.
"""
from __future__ import annotations

from ..io.output import claim_for_run, new_run_id
from .runner import check_cases, describe, run_cases
from .spec import load_sweep
from .table import write_table

__all__ = ["run_sweep", "load_sweep"]


def run_sweep(path, output_dir=None, executor=None, write=True):
    """Run a sweep file: check every case, run those not done yet, write the table.

    Parameters
    ----------
    path : str or Path
        The sweep file (`pdaframe.sweep.spec`).
    output_dir : path, optional
        Overrides the sweep file's ``[output] directory``.
    executor : object with ``map``, optional
        Spreads the cases (`pdaframe.parallel.MPIExecutor` under ``mpiexec``); serial
        by default.
    write : bool
        Write the table and plot (under MPI only rank 0 does; every rank writes the rows of
        the cases it runs).

    Returns
    -------
    sweep : Sweep
    rows : list
        Per case its `pdaframe.sweep.runner.CaseRow` or a `pdaframe.parallel.Failed`.
    lines : list of str
        One line per case (ran / reused / failed).
    paths : dict
        ``table`` (CSV), ``netcdf``, ``plot`` when ``write``.
    """
    sweep = load_sweep(path, output_dir)
    check_cases(sweep)                        # every case's config, before any run
    with claim_for_run(sweep.output_dir, new_run_id(), write, executor):
        rows = run_cases(sweep, executor)
        paths = write_table(sweep, rows) if write else {}
    return sweep, rows, describe(sweep, rows), paths
