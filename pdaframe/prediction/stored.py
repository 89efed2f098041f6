"""Read a finished run back from its output folder: ``result.nc`` and, beside it,
``samples.nc`` (a sampler's chains) or ``ensemble.nc`` (members or a weighted sample).

Plain NetCDF reads (netCDF4), no pickle: what `pdaframe.io.netcdf`, `pdaframe.io.samples`
and `pdaframe.io.ensembles` wrote. `StoredRun.result` rebuilds the `pdaframe.result` kind
that `pdaframe.prediction.draws.posterior_draws` draws from.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..result import EnsembleResult, OptimisationResult, SampleResult

RESULT = "result.nc"
SAMPLES = "samples.nc"
ENSEMBLE = "ensemble.nc"


@dataclass
class StoredRun:
    """What a run's output folder holds for a prediction.

    Attributes
    ----------
    folder : Path
        The run's output folder.
    names : list of str
        Parameter names (``param``).
    x : ndarray
        The estimate (``analysis``).
    covariance : ndarray or None
        ``posterior_covariance`` (physical space; sampled through the bounds transform).
    run_id, method, config_text : str
    seed : int
    data_files : dict
        ``{path relative to the config's folder: sha256}`` (the config is the first).
    package_versions : dict
        ``{plugin: version}`` of pdaframe and its plugins at the run.
    samples : ndarray or None
        ``(chain, draw, param)`` from ``samples.nc``.
    members, weights : ndarray or None
        ``(member, param)`` and ``(member,)`` from ``ensemble.nc``.
    """

    folder: Path
    names: list
    x: np.ndarray
    covariance: np.ndarray | None = None
    run_id: str = ""
    method: str = ""
    config_text: str = ""
    seed: int = -1
    data_files: dict = field(default_factory=dict)
    package_versions: dict = field(default_factory=dict)
    samples: np.ndarray | None = None
    members: np.ndarray | None = None
    weights: np.ndarray | None = None

    @property
    def config_key(self) -> str:
        """The config's entry in ``data_files`` (its path as given to ``pdaframe run``'s
        loader: relative to its own folder, i.e. its file name)."""
        return next(iter(self.data_files), "")

    def result(self, transform=None):
        """The stored result as its kind: a `SampleResult` with ``samples``, an
        `EnsembleResult` with ``samples``/``weights``, else an `OptimisationResult` (with
        ``posterior_covariance`` when stored, ``transform`` attached for its draws)."""
        base = {"x": self.x, "parameter_names": list(self.names), "method": self.method}
        if self.covariance is not None:
            base["posterior_covariance"] = self.covariance
            base["posterior_std"] = np.sqrt(np.diag(self.covariance))
        if self.samples is not None:
            out = SampleResult(base, samples=self.samples)
        elif self.members is not None:
            out = EnsembleResult(base, samples=self.members, weights=self.weights)
        else:
            out = OptimisationResult(base)
        return out.attach_transform(transform) if transform is not None else out


def result_path(source) -> Path:
    """``result.nc`` of ``source`` (a run's output folder or the file itself).

    Raises
    ------
    DataError
        Neither the file nor a folder holding ``result.nc``.
    """
    source = Path(source)
    path = source / RESULT if source.is_dir() else source
    if not path.is_file():
        raise DataError(f"{source}: no {RESULT} there (predict needs the output folder of a "
                        f"finished run, or its result.nc)" if source.is_dir() else
                        f"result file not found: {source}")
    return path


def read_stored(source) -> StoredRun:
    """Read ``result.nc`` (and ``samples.nc`` / ``ensemble.nc`` beside it) of ``source``.

    Raises
    ------
    DataError
        No ``result.nc``, or a file that is not a pdaframe result (naming the file and the
        missing variable).
    """
    import netCDF4
    path = result_path(source)
    try:
        with netCDF4.Dataset(path) as ds:
            for name in ("param", "analysis"):
                if name not in ds.variables:
                    raise DataError(f"{path}: not a pdaframe result (no variable {name!r})")
            names = [str(n) for n in ds.variables["param"][:]]
            x = _floats(ds.variables["analysis"])
            cov = _floats(ds.variables["posterior_covariance"]) \
                if "posterior_covariance" in ds.variables else None
            attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
    except OSError as err:
        raise DataError(f"{path}: cannot read it as NetCDF ({err})") from None
    files, versions = (_json(path, attrs, key) for key in ("data_files", "package_versions"))
    run = StoredRun(path.parent, names, x, cov, str(attrs.get("run_id", "")),
                    str(attrs.get("method", "")), str(attrs.get("config", "")),
                    int(attrs.get("seed", -1)), files, versions)
    if (path.parent / SAMPLES).is_file():
        run.samples = _samples(path.parent / SAMPLES, names)
    elif (path.parent / ENSEMBLE).is_file():
        run.members, run.weights = _ensemble(path.parent / ENSEMBLE, names)
    return run


def _json(path, attrs, key) -> dict:
    try:
        return dict(json.loads(attrs.get(key, "{}") or "{}"))
    except (json.JSONDecodeError, TypeError, ValueError):
        raise DataError(f"{path}: its {key} attribute is not a JSON object") from None


def _floats(var) -> np.ndarray:
    return np.ma.filled(var[:].astype(float), np.nan)


def _samples(path, names) -> np.ndarray:
    """``theta`` ``(chain, draw, param)`` of the ``posterior`` group of ``samples.nc``."""
    import netCDF4
    with netCDF4.Dataset(path) as ds:
        group = ds.groups.get("posterior")
        if group is None or "theta" not in group.variables:
            raise DataError(f"{path}: no posterior/theta (not a pdaframe samples.nc)")
        theta = _floats(group.variables["theta"])
        stored = [str(n) for n in group.variables["param"][:]] \
            if "param" in group.variables else names
    _same_names(path, stored, names)
    return theta


def _ensemble(path, names):
    """``theta`` ``(member, param)`` and ``weight`` of ``ensemble.nc``."""
    import netCDF4
    with netCDF4.Dataset(path) as ds:
        if "theta" not in ds.variables:
            raise DataError(f"{path}: no theta (not a pdaframe ensemble.nc)")
        theta = _floats(ds.variables["theta"])
        w = _floats(ds.variables["weight"]) if "weight" in ds.variables else \
            np.full(len(theta), 1.0 / len(theta))
        stored = [str(n) for n in ds.variables["param"][:]] if "param" in ds.variables \
            else names
    _same_names(path, stored, names)
    return theta, w


def _same_names(path, stored, names):
    if list(stored) != list(names):
        raise DataError(f"{path}: parameters {list(stored)} differ from result.nc's "
                        f"{list(names)} (files of different runs in one folder?)")


def find_config(run, config=None, search=()) -> Path:
    """The config of ``run``: ``config`` when given, else its stored name (``data_files``'s
    first key) looked up in the working directory, the run's folder and its parents and
    the folders of ``search``; its sha256 must equal the stored one.

    Raises
    ------
    ConfigError
        No config found (saying to give it), or the config changed since the run.
    """
    from ..io.provenance import file_sha256
    key = run.config_key
    if not key:
        raise ConfigError(f"{run.folder / RESULT}: records no config (data_files is empty); "
                          f"give the config with --config")
    if config is not None:
        candidates = [Path(config)]
    else:
        places = [Path.cwd(), run.folder, *run.folder.resolve().parents, *map(Path, search)]
        candidates = [p / key for p in places if (p / key).is_file()]
        if not candidates:
            raise ConfigError(f"{run.folder / RESULT}: its config {key!r} is not in the "
                              f"working directory nor in the run's folder or above; give it "
                              f"with --config PATH (config=...)")
    stored = run.data_files[key]
    for path in candidates:
        if path.is_file() and file_sha256(path) == stored:
            return path
    path = candidates[0]
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    raise ConfigError(f"{path}: the config changed since the run {run.run_id or ''} of "
                      f"{run.folder / RESULT} (sha256 {file_sha256(path)[:12]}..., the run "
                      f"recorded {stored[:12]}...): predict needs the config the run used; "
                      f"run it again, or restore the config")
