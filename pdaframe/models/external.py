"""Models that are executables exchanging files: one working directory per run.

Big land-surface models usually run as programs that read a parameter file and write output
files. `ExternalModel` wraps such a program as a pdaframe model (``parameter_names``,
``run(theta)``), so Problems, minimisers and ensemble methods use it like any other model.
Inside an ensemble evaluation ``run`` is ``run_member(theta, index, seed)`` of the running
member (`pdaframe.parallel.current_member`, set by every ensemble method's executor).

For every run it

1. makes a new directory below ``workdir`` (``member_0007_<random>`` for member 7, or
   ``run_<random>``): runs never share or overwrite a directory, whether they run one after
   another, on several MPI ranks or in several jobs sharing ``workdir``;
2. copies (or symlinks, ``link_template=True``) the entries of ``template_dir`` into it;
3. writes the parameters to ``input_name`` (JSON ``{"name": value}`` or ``name = value``
   lines; values written with 17 significant digits, so they round-trip exactly);
4. runs ``command`` there, with ``PDAFRAME_MEMBER``, ``PDAFRAME_SEED`` (empty outside an
   ensemble), ``PDAFRAME_WORKDIR`` and ``PDAFRAME_PARAMETERS`` (absolute paths) in its
   environment (a stochastic model seeds itself from ``PDAFRAME_SEED``), standard output
   and error going to ``pdaframe.stdout`` and ``pdaframe.stderr``; the MPI launcher's
   variables (``PMI_*``, ``OMPI_*``, ...) are removed, so a model that is itself an MPI
   program (``mpiexec -n 8 ./lsm``) or a Python script does not think it belongs to
   pdaframe's MPI job;
5. reads the outputs from CSV files with a header row (`pdaframe.tables.read_columns`):
   one file with a column per output, or a file per output;
6. removes the directory, unless ``keep`` says otherwise (``"failed"``: a run that raised,
   or whose outputs are not all finite, keeps it; an interrupted run removes it).

A non-zero exit status, a timeout (the whole process group is killed) or missing or
unreadable outputs raise `pdaframe.ModelError` naming the command, the member, the exit status
or timeout, the last lines of standard error and the directory. Inside an executor such a run
is a `pdaframe.parallel.Failed` record, not a crash.

The parameters are named by ``parameter_names``, or described by a parameter table file
``parameters_file`` (TOML or CSV: defaults, bounds, prior std, units, description; see
`pdaframe.models.parameter_table`), which then gives every config its prior means, std and
bounds: a config's ``[parameters]`` table only overrides them.

Config example (model ``"external"``; see `make_external`)::

    [model]
    name = "external"
    options = { command = "python lsm_driver.py", template_dir = "lsm_case",
                workdir = "runs", parameters_file = "lsm_parameters.toml",
                outputs = ["gpp", "le"], output_csv = "daily.csv", timeout = 600 }
"""
from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, ModelError
from ..tables import read_columns
from ..parallel.base import current_member
from .parameter_table import load_parameter_table

log = logging.getLogger(__name__)

KEEP = ("failed", "all", "none")
INPUT_FORMATS = {"json": "parameters.json", "text": "parameters.txt"}
MPI_ENV_PREFIXES = ("PMI_", "PMIX_", "OMPI_", "HYDRA_", "MPI_LOCAL", "I_MPI_")


class ExternalModel:
    """A model run as an external program in its own working directory.

    Parameters
    ----------
    command : str or sequence of str
        The program and its arguments, run in the run directory (a string is split like a
        shell would, without running a shell). Relative paths in it refer to files there,
        e.g. copied from ``template_dir``.
    parameter_names : sequence of str, optional
        Names of the parameters, in the order of ``theta``; also the keys written to the
        parameter file. Give this or ``parameters_file``.
    outputs : sequence of str or mapping
        Output names, all read as columns of ``output_csv``; or ``{output: file}`` (the
        column named like the output) or ``{output: [file, column]}``. Files are relative to
        the run directory.
    template_dir : path, optional
        Files and folders every run starts from (namelists, drivers, restart files).
    workdir : path
        Where run directories are made (created if needed).
    timeout : float, optional
        Seconds after which a run is killed and counts as failed.
    keep : {"failed", "all", "none"}
        Which run directories survive: failed ones (default, for inspection: the run
        raised, or its outputs are not all finite), all, none. An interrupted run's
        directory is removed unless ``keep="all"``.
    input_format : {"json", "text"}
        Parameter file as a JSON object, or ``name = value`` lines.
    input_name : str, optional
        Parameter file name (default ``parameters.json`` or ``parameters.txt``).
    output_csv : str
        The CSV file holding every output when ``outputs`` is a list.
    output_reader : callable, optional
        ``output_reader(run_dir: Path) -> {output: array}`` replacing the CSV reading (from
        Python only). Raise `pdaframe.DataError` or `pdaframe.ModelError` on bad output.
    link_template : bool
        Symlink the template entries instead of copying them: right for large read-only
        inputs (forcing files), wrong for files the model modifies in place.
    env : mapping, optional
        Extra environment variables for the command.
    stderr_lines : int
        Lines of standard error quoted in error messages.
    parameters_file : path, optional
        A parameter table (``.toml`` or ``.csv``, `load_parameter_table`) instead of
        ``parameter_names``: its rows name the parameters (in the order of ``theta``) and give
        their defaults, bounds, prior std, units and descriptions (``parameters``).

    Attributes
    ----------
    parameters : tuple of Parameter
        The table of ``parameters_file`` (empty without one).
    nrun : int
        Runs started by this object (in this process).
    last_dir : Path or None
        Directory of the latest run (it may have been removed).

    Examples
    --------
    >>> import sys
    >>> model = ExternalModel([sys.executable, "model.py"], ["k", "c0"], ["carbon"],
    ...                       template_dir="case", workdir="runs")   # doctest: +SKIP
    >>> model.run([0.1, 5.0])["carbon"]                               # doctest: +SKIP
    """

    def __init__(self, command, parameter_names=None, outputs=None, template_dir=None,
                 workdir="runs", timeout=None, keep="failed", input_format="json",
                 input_name=None, output_csv="outputs.csv", output_reader=None,
                 link_template=False, env=None, stderr_lines=20, parameters_file=None):
        self.command = _command(command)
        self.parameters = ()
        if parameters_file is not None:
            if parameter_names is not None:
                raise ConfigError(f"external model: give parameter_names or parameters_file "
                                  f"({parameters_file}), not both")
            try:
                self.parameters = load_parameter_table(parameters_file)
            except ConfigError as err:
                raise ConfigError(f"external model: parameters_file: {err}") from None
            parameter_names = [p.name for p in self.parameters]
        elif parameter_names is None:
            raise ConfigError("external model: give parameter_names (a list) or "
                              "parameters_file (a parameter table, .toml or .csv)")
        names = list(parameter_names) if not isinstance(parameter_names, str) else None
        if not names or not all(isinstance(n, str) and n for n in names) \
                or len(set(names)) != len(names):
            raise ConfigError(f"external model: parameter_names must be a list of distinct "
                              f"names, got {parameter_names!r}")
        self.parameter_names = tuple(names)
        self.outputs = _outputs(outputs, output_csv)
        self.output_reader = output_reader
        self.template_dir = Path(template_dir).resolve() if template_dir is not None else None
        if self.template_dir is not None and not self.template_dir.is_dir():
            raise ConfigError(f"external model: template_dir {self.template_dir} is not a "
                              f"directory")
        self.workdir = Path(workdir).resolve()
        if timeout is not None and not timeout > 0:
            raise ConfigError(f"external model: timeout must be a positive number of "
                              f"seconds, got {timeout!r}")
        self.timeout = timeout
        if keep not in KEEP:
            raise ConfigError(f"external model: keep must be one of {list(KEEP)}, got {keep!r}")
        self.keep = keep
        if input_format not in INPUT_FORMATS:
            raise ConfigError(f"external model: input_format must be one of "
                              f"{list(INPUT_FORMATS)}, got {input_format!r}")
        self.input_format = input_format
        self.input_name = input_name or INPUT_FORMATS[input_format]
        self.link_template = bool(link_template)
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.stderr_lines = int(stderr_lines)
        self.nrun = 0
        self.last_dir = None

    def __repr__(self):
        return (f"ExternalModel({shlex.join(self.command)!r}, {len(self.parameter_names)} "
                f"parameters, outputs {list(self.outputs)})")

    def run(self, theta) -> dict[str, np.ndarray]:
        """Run the program at ``theta`` (shape ``(n_param,)``); ``{output: array}``.

        Inside an ensemble evaluation it runs as the current member
        (`pdaframe.parallel.current_member`): `run_member` with its index and seed.
        """
        member = current_member()
        if member is None:
            return self.run_member(theta, None, None)
        return self.run_member(theta, member.index, member.seed)

    def run_member(self, theta, index, seed=None) -> dict[str, np.ndarray]:
        """Run member ``index`` of an ensemble at ``theta`` with random seed ``seed``.

        Parameters
        ----------
        theta : array_like, shape ``(n_param,)``
        index : int or None
            Member index: names the run directory and sets ``PDAFRAME_MEMBER``.
        seed : int, optional
            Sets ``PDAFRAME_SEED`` for models with stochastic parts; derive it from the run
            seed and the index (`pdaframe.parallel.member_rng`), never from the rank.

        Returns
        -------
        dict
            ``{output: float array}``.

        Raises
        ------
        ModelError
            Non-zero exit, timeout, missing or unreadable outputs.
        """
        theta = np.asarray(theta, dtype=float).reshape(-1)
        if theta.size != len(self.parameter_names):
            raise ModelError(f"external model: theta has {theta.size} values, the model "
                             f"{len(self.parameter_names)} parameters "
                             f"{list(self.parameter_names)}", theta=theta)
        self.workdir.mkdir(parents=True, exist_ok=True)
        prefix = "run_" if index is None else f"member_{int(index):04d}_"
        run_dir = Path(tempfile.mkdtemp(prefix=prefix, dir=self.workdir))
        self.last_dir = run_dir
        self.nrun += 1
        failed, interrupted = True, False
        try:
            self._prepare(run_dir, theta, index)
            self._execute(run_dir, theta, index, seed)
            outputs = self._read(run_dir, theta, index)
            failed = not all(np.all(np.isfinite(v)) for v in outputs.values())
            if failed and self.keep != "none":
                log.info("external model (%s): outputs not all finite; run directory "
                            "kept: %s", "a run" if index is None else f"member {index}",
                            run_dir)
            return outputs
        except BaseException as exc:       # KeyboardInterrupt, SIGTERM: not a failed run
            interrupted = not isinstance(exc, Exception)
            raise
        finally:
            if self.keep == "none" or (self.keep == "failed" and (interrupted or not failed)):
                shutil.rmtree(run_dir, ignore_errors=True)

    # -- steps of a run -----------------------------------------------------------------

    def _prepare(self, run_dir, theta, index):
        try:
            self._fill(run_dir, theta)
        except OSError as exc:                 # disk full, unreadable template, ...
            raise self._error(f"could not be prepared: {exc}", run_dir, theta, index) from None

    def _fill(self, run_dir, theta):
        if self.template_dir is not None:
            for entry in self.template_dir.iterdir():
                target = run_dir / entry.name
                if self.link_template:
                    target.symlink_to(entry.resolve())
                elif entry.is_dir():
                    shutil.copytree(entry, target, symlinks=True)
                else:
                    shutil.copy2(entry, target)
        values = {n: float(v) for n, v in zip(self.parameter_names, theta)}
        if self.input_format == "json":
            text = json.dumps(values, indent=1) + "\n"
        else:
            text = "".join(f"{n} = {v!r}\n" for n, v in values.items())
        (run_dir / self.input_name).write_text(text)

    def _environment(self, run_dir, index, seed):
        env = {k: v for k, v in os.environ.items() if not k.startswith(MPI_ENV_PREFIXES)}
        env.update(self.env)
        env.update(PDAFRAME_MEMBER="" if index is None else str(int(index)),
                   PDAFRAME_SEED="" if seed is None else str(int(seed)),
                   PDAFRAME_WORKDIR=str(run_dir),
                   PDAFRAME_PARAMETERS=str(run_dir / self.input_name))
        return env

    def _execute(self, run_dir, theta, index, seed):
        start = time.perf_counter()
        with open(run_dir / "pdaframe.stdout", "wb") as out, \
                open(run_dir / "pdaframe.stderr", "wb") as err:
            try:
                proc = subprocess.Popen(self.command, cwd=run_dir, stdout=out, stderr=err,
                                        stdin=subprocess.DEVNULL,
                                        env=self._environment(run_dir, index, seed),
                                        start_new_session=True)
            except OSError as exc:           # not found, not executable
                raise self._error(f"could not start: {exc}", run_dir, theta, index) from None
            try:
                status = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise self._error(f"timed out after {self.timeout:g} s and was killed",
                                  run_dir, theta, index) from None
            except BaseException:            # KeyboardInterrupt: do not leave it running
                _kill_group(proc)
                raise
        seconds = time.perf_counter() - start
        if status != 0:
            how = (f"was killed by signal {-status}" if status < 0 else
                   f"exited with status {status}")
            raise self._error(f"{how} after {seconds:.3g} s", run_dir, theta, index)
        log.debug("external run %s finished in %.3g s", run_dir.name, seconds)

    def _read(self, run_dir, theta, index):
        try:
            if self.output_reader is not None:
                outputs = dict(self.output_reader(run_dir))
            else:
                outputs = {}
                by_file = {}
                for name, (file, column) in self.outputs.items():
                    by_file.setdefault(file, []).append((name, column))
                for file, pairs in by_file.items():
                    cols = read_columns(run_dir / file, [c for _, c in pairs])
                    outputs.update({name: cols[c] for name, c in pairs})
        except (DataError, ModelError, OSError, ValueError) as exc:
            raise self._error(f"finished, but its outputs are unusable: {exc}", run_dir,
                              theta, index) from None
        return {k: np.asarray(v, dtype=float) for k, v in outputs.items()}

    def _error(self, what, run_dir, theta, index) -> ModelError:
        member = "a run" if index is None else f"member {index}"
        kept = self.keep != "none"
        tail = _tail(run_dir / "pdaframe.stderr", self.stderr_lines)
        lines = [f"external model ({member}): {shlex.join(self.command)} {what}"]
        lines.append("last lines of stderr:\n" + "\n".join("  " + t for t in tail)
                     if tail else "stderr was empty")
        lines.append(f"run directory: {run_dir}" + ("" if kept else " (removed: keep='none')"))
        return ModelError("\n".join(lines), theta=theta)


def make_external(**options) -> ExternalModel:
    """Build an `ExternalModel` from config options (the ``[model] options`` table).

    Keys: ``command`` (string or list), ``parameter_names`` (list) or ``parameters_file``
    (a parameter table, ``.toml`` or ``.csv``), ``outputs`` (list, or table
    ``{output = "file.csv"}`` / ``{output = ["file.csv", "column"]}``), and optional
    ``template_dir``, ``workdir``, ``parameters_file`` (relative to the config file),
    ``timeout`` (s),
    ``keep`` (``"failed"``, ``"all"``, ``"none"``), ``input_format`` (``"json"``,
    ``"text"``), ``input_name``, ``output_csv``, ``link_template``, ``env`` (table),
    ``stderr_lines``. ``command``, ``input_name``, ``output_csv`` and output files are
    relative to each run's directory. See `ExternalModel`.

    With ``parameter_names`` the parameters have no defaults or bounds from the model: give
    each one's ``mean`` and ``std`` (and bounds) in the config's ``[parameters]`` table. With
    ``parameters_file`` the table gives them, for every config naming it; a config's
    ``[parameters]`` only overrides what differs.
    """
    return ExternalModel(**options)


# -- helpers ----------------------------------------------------------------------------

def _command(command) -> list[str]:
    args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not args:
        raise ConfigError("external model: command is empty")
    if os.sep not in args[0] and shutil.which(args[0]) is None:
        raise ConfigError(f"external model: command {args[0]!r} not found on PATH (write "
                          f"./{args[0]} for a program in the run directory)")
    return args


def _outputs(outputs, output_csv) -> dict[str, tuple[str, str]]:
    """``{output: (file, column)}``."""
    if isinstance(outputs, dict):
        spec = {}
        for name, where in outputs.items():
            if isinstance(where, str):
                spec[name] = (where, name)
            elif isinstance(where, (list, tuple)) and len(where) == 2 \
                    and all(isinstance(w, str) for w in where):
                spec[name] = (where[0], where[1])
            else:
                raise ConfigError(f"external model: output {name!r} must be a file name or "
                                  f"[file, column], got {where!r}")
    elif isinstance(outputs, (list, tuple)) and outputs \
            and all(isinstance(o, str) for o in outputs):
        spec = {name: (output_csv, name) for name in outputs}
    else:
        raise ConfigError(f"external model: outputs must be a list of names or a table "
                          f"{{output = file}}, got {outputs!r}")
    if not spec:
        raise ConfigError("external model: no outputs given")
    return spec


def _kill_group(proc):
    """Kill the command and everything it started (it leads its own session)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _tail(path, n) -> list[str]:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError:
        return []
    return [line.rstrip() for line in text.splitlines() if line.strip()][-n:]
