"""The ``[predict]`` table of a config, read and checked when the config is loaded (before
any model run), as a `PredictSpec`.

Keys (all optional)::

    [predict]
    drivers_file = "other_years.csv"   # a driver file (pdaframe.models.driver_file), given
                                       # to the model as its drivers_file option
    members = 200                      # posterior (and prior) draws, >= 10
    seed = 7                           # default: the config's seed
    outputs = ["nee", "gpp"]           # default: the outputs the streams observe
    quantiles = [0.05, 0.5, 0.95]      # of the credible and predictive bands
    prior = true                       # also predict from prior draws
    baseline = true                    # also predict without scenario changes
    scenarios_run = ["warm"]           # default: every scenario below

    [predict.model]                    # model option overrides (e.g. start, end)
    start = "2007-01-01"

    [predict.scenarios.warm]           # driver column changes (pdaframe.prediction.scenario)
    t_min = "+2"
    t_max = "+2"
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .scenario import parse_scenario

KEYS = {"drivers_file", "members", "seed", "outputs", "quantiles", "prior", "baseline",
        "scenarios_run", "model", "scenarios"}
QUANTILES = (0.05, 0.5, 0.95)
MEMBERS = 200


@dataclass
class PredictSpec:
    """What to predict (see the module docstring); ``enabled``: the config has a
    ``[predict]`` table, so ``pdaframe run`` predicts after the calibration.

    ``model_name`` and ``model_options`` (paths resolved against the config's folder) are
    the config's ``[model]``, for the rebuilt model.
    """

    enabled: bool = False
    model_name: str = ""
    model_options: dict = field(default_factory=dict)
    drivers_file: Path | None = None
    members: int = MEMBERS
    seed: int | None = None
    outputs: list | None = None
    quantiles: tuple = QUANTILES
    prior: bool = True
    baseline: bool = True
    scenarios_run: list | None = None
    model: dict = field(default_factory=dict)
    scenarios: dict = field(default_factory=dict)

    def selected(self, names=None) -> list:
        """The scenarios to run: ``names`` (`Scenario` objects), else ``scenarios_run``,
        else all defined ones."""
        if names is not None:
            return list(names)
        if self.scenarios_run is not None:
            return [self.scenarios[n] for n in self.scenarios_run]
        return list(self.scenarios.values())


def check_members(value, where="members") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 10:
        raise ConfigError(f"{where} = {value!r}: expected an integer >= 10 (the 5 % and 95 % "
                          f"quantiles need draws)")
    return int(value)


def check_quantiles(values, where="quantiles") -> tuple:
    ok = isinstance(values, (list, tuple)) and values and all(
        isinstance(q, (int, float)) and not isinstance(q, bool) and 0 < q < 1 for q in values)
    if not ok or len(set(values)) != len(values):
        raise ConfigError(f"{where} = {values!r}: expected distinct numbers in (0, 1), e.g. "
                          f"[0.05, 0.5, 0.95]")
    return tuple(sorted(float(q) for q in values))


def read_predict_table(data, path, base, model_name, model_options, multisite=False):
    """The `PredictSpec` of a parsed config ``data`` (file ``path``, folder ``base``).

    ``model_options`` and the overrides ``[predict.model]`` come with their paths resolved
    by the loader (``spec.model`` is resolved there too, after this call).

    Raises
    ------
    ConfigError
        Naming the file and the ``[predict]`` key: an unknown key, a value of the wrong
        type, a bad scenario (unknown column, bad expression), ``scenarios_run`` naming
        no scenario, a missing ``drivers_file``, or ``[predict]`` in a multi-site config.
    """
    spec = PredictSpec(model_name=model_name, model_options=dict(model_options))
    tab = data.get("predict")
    if tab is None:
        return spec
    where = f"{path}: [predict]"
    if not isinstance(tab, dict):
        raise ConfigError(f"{where} must be a table")
    if multisite:
        raise ConfigError(f"{where}: predictions of multi-site ([[sites]]) configs are not "
                          f"supported; predict each site from a single-site config")
    unknown = sorted(set(tab) - KEYS)
    if unknown:
        raise ConfigError(f"{where} unknown key(s) {unknown}; allowed: {sorted(KEYS)}")
    spec.enabled = True

    def typed(key, types, what):
        value = tab[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            raise ConfigError(f"{where} '{key}' must be {what}, got {value!r}")
        return value

    if "drivers_file" in tab:
        spec.drivers_file = Path(base) / typed("drivers_file", (str,), "a file name")
        if not spec.drivers_file.is_file():
            raise ConfigError(f"{where} 'drivers_file': file not found: {spec.drivers_file}")
    if "members" in tab:
        spec.members = check_members(tab["members"], f"{where} 'members'")
    if "seed" in tab:
        seed = typed("seed", (int,), "an integer")
        if not 0 <= seed < 2 ** 63:
            raise ConfigError(f"{where} 'seed' must lie in [0, 2**63), got {seed}")
        spec.seed = seed
    if "outputs" in tab:
        spec.outputs = typed("outputs", (list,), "a list of model output names")
        if not spec.outputs or not all(isinstance(o, str) for o in spec.outputs):
            raise ConfigError(f"{where} 'outputs' must list model output names")
    if "quantiles" in tab:
        spec.quantiles = check_quantiles(tab["quantiles"], f"{where} 'quantiles'")
    for key in ("prior", "baseline"):
        if key in tab:
            setattr(spec, key, typed(key, (bool,), "true or false"))
    if "model" in tab:
        spec.model = dict(typed("model", (dict,), "a table of model option overrides"))
    scenarios = tab.get("scenarios", {})
    if not isinstance(scenarios, dict):
        raise ConfigError(f"{where} 'scenarios' must hold tables [predict.scenarios.NAME]")
    spec.scenarios = {name: parse_scenario(name, changes, f"{path}: [predict.scenarios]")
                      for name, changes in scenarios.items()}
    if "scenarios_run" in tab:
        run = typed("scenarios_run", (list,), "a list of scenario names")
        missing = [n for n in run if n not in spec.scenarios]
        if missing:
            raise ConfigError(f"{where} 'scenarios_run' names {missing}, not defined in "
                              f"[predict.scenarios] ({sorted(spec.scenarios) or 'none'})")
        spec.scenarios_run = list(run)
    if not spec.baseline and not spec.selected():
        raise ConfigError(f"{where}: baseline = false and no scenario: nothing to predict")
    return spec
