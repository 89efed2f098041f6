"""The one import for plugin authors: ``from pdaframe.plugin import ...``.

Users build and solve problems with the names of `pdaframe`; whoever *extends* pdaframe (a
model, an observation operator, a prior family or a method, registered through an entry
point or used directly from a script) finds everything here:

- the hook marker `hookimpl` (the hooks are in `pdaframe.hookspecs`), `Registry` (what a hook
  receives), `get_plugins` (what is loaded) and `reset_plugins` (forget it, e.g. in tests);
- the base classes `Model` (with its `Parameter` table) and `ObservationOperator`, and
  `JaxModel`, the base of a model written in JAX (``run_jax`` or a scanned ``step_jax``),
  whose tangent linear and adjoint JAX derives (`pdaframe.models.jax_model`; needs the extra
  ``pip install "pdaframe[jax]"``, imported only when such a model is made);
- for a model run by a compiled kernel (Fortran, C): the base class `KernelModel`
  (validation, output allocation, kernel status -> `ModelError`, caching, the time axis;
  `pdaframe.models.kernel`), `time_axis` (dates from a start and a step) and
  `load_parameter_table` (a parameter table from a TOML or CSV file);
- the errors a plugin raises: `ConfigError` (bad options), `DataError` (bad input files),
  `ModelError` (a run that failed: minimisers reject that trial point), `PluginError` (the
  plugin itself is broken or lacks a dependency: stops the run);
- the nine built-in observation operators (`Identity`, `Select`, `TemporalAggregation`,
  `SpatialMean`, `SIF`, `NormalisedSeasonality`, `CDFMatching`, `Bias`, `MLPOperator`) to
  wrap or subclass,
  and `OPERATOR_FACTORIES`, the config factories they are registered with (name ->
  ``factory(variable, times=None, **options)``);
- the derivative checks of `pdaframe.testing` for a plugin's own tests (`check_model`,
  `check_gradient`, `taylor_test`, `dot_product_test`, `operator_dot_product_test`,
  `TaylorReport`), and the whole conformance suite as a test class to subclass,
  `ModelConformance` (`pdaframe.conformance`: derivatives, determinism, outputs, time
  axis, units, parameter table, `ModelError` for failing runs);
- the CSV reader of pdaframe's own files, `read_columns` (errors naming file, line and
  column), `read_header` (a CSV's column names), `MISSING`, the cell texts it reads as
  missing values, and `open_text`, the one opener of text data files (gzip-compressed
  ones decompressed on the fly);
- any site's meteorology for a model's drivers: `read_driver_file` (the site-agnostic daily
  driver file, CSV or CF-NetCDF, `pdaframe.models.driver_file`) and `drivers_from_fluxnet`
  (a FLUXNET file's TA_F, SW_IN_F, CO2_F_MDS, half-hourly or hourly -> daily), both
  returning a `DriverTable` (dates, columns in documented units, latitude, site), and
  `read_site_drivers`, either of them by the file's header (a model's ``drivers_file``);
- for an observation reader (hook ``pdaframe_register_readers``, a stream's ``reader``):
  `ReadResult`, what it returns (dates, values, std, units and a record of what was kept);
- for a plugin that saves something it trained (an emulator, a network): `write_npz` (an
  ``.npz`` of plain arrays with a format tag, written whole or not at all) and `read_npz`
  (refuses a missing file, pickles or another format with a `DataError` naming the file).

Not to be confused with `pdaframe.plugins`, the plugin *registry* (discovery of entry points
and the registries); this module only re-exports names and defines nothing.

Examples
--------
A model plugin (``pdaframe_decay/plugin.py``, declared in its ``pyproject.toml`` as
``[project.entry-points.pdaframe] decay = "pdaframe_decay.plugin"``)::

    import numpy as np
    from pdaframe.plugin import ConfigError, Model, Parameter, hookimpl

    class Decay(Model):
        parameters = (Parameter("k", 0.1, lower=0.0, std=0.05, units="d-1"),
                      Parameter("c0", 100.0, lower=0.0, std=20.0, units="g C m-2"))
        output_units = {"carbon": "g C m-2"}

        def __init__(self, n_days=30):
            if n_days < 1:
                raise ConfigError(f"decay: n_days={n_days!r}, expected a positive integer")
            self.t = np.arange(float(n_days))

        def run(self, theta):
            k, c0 = theta
            return {"carbon": c0 * np.exp(-k * self.t)}

        def tangent(self, theta, dtheta):
            k, c0 = theta
            e = np.exp(-k * self.t)
            return {"carbon": -c0 * self.t * e * dtheta[0] + e * dtheta[1]}

    @hookimpl
    def pdaframe_register_models(registry):
        registry.add("decay", Decay)

and in its tests ``check_model(Decay(), [0.1, 100.0])`` (Taylor test of the tangent), or
the whole suite: ``class TestDecay(ModelConformance): model = "decay"``.
"""
from types import MappingProxyType

from .errors import ConfigError, DataError, ModelError, PluginError
from .interfaces import Model, ObservationOperator, Parameter
from .models.jax_model import JaxModel
from .models.kernel import KernelModel
from .models.time_axis import time_axis
from .models.parameter_table import load_parameter_table
from .models.driver_file import DriverTable, read_driver_file
from .models.fluxnet_drivers import drivers_from_fluxnet, read_site_drivers
from .npz_file import read_npz, write_npz
from .tables import MISSING, open_text, read_columns, read_header
from .observations.operators import (BASIC_FACTORIES, FACTORIES, SIF, Bias, CDFMatching,
                                     Identity, MLPOperator, NormalisedSeasonality, Select,
                                     SpatialMean, TemporalAggregation)
from .observations.readers import ReadResult
from .plugins import Registry, get_plugins, hookimpl, reset_plugins
from .conformance import ModelConformance
from .testing import (TaylorReport, check_gradient, check_model, dot_product_test,
                      operator_dot_product_test, taylor_test)

#: The config factories of the built-in operators, as registered (read-only):
#: ``name -> factory(variable, times=None, **options)``; options in
#: `pdaframe.observations.operators.FACTORIES`.
OPERATOR_FACTORIES = MappingProxyType({**BASIC_FACTORIES, **FACTORIES})

__all__ = [
    # hooks and the registry
    "Registry", "get_plugins", "hookimpl", "reset_plugins",
    # base classes
    "Model", "ObservationOperator", "Parameter", "JaxModel",
    # compiled-kernel models and parameter tables in files
    "KernelModel", "load_parameter_table", "time_axis",
    # errors a plugin raises
    "ConfigError", "DataError", "ModelError", "PluginError",
    # the built-in observation operators and their config factories
    "Bias", "CDFMatching", "Identity", "MLPOperator", "NormalisedSeasonality",
    "OPERATOR_FACTORIES", "SIF", "Select", "SpatialMean", "TemporalAggregation",
    # derivative checks (pdaframe.testing)
    "TaylorReport", "check_gradient", "check_model", "dot_product_test",
    "operator_dot_product_test", "taylor_test",
    # the conformance suite (pdaframe.conformance)
    "ModelConformance",
    # reading input files
    "MISSING", "open_text", "read_columns", "read_header",
    # any site's drivers
    "DriverTable", "drivers_from_fluxnet", "read_driver_file", "read_site_drivers",
    # what an observation reader returns (hook pdaframe_register_readers)
    "ReadResult",
    # files of trained pieces (pdaframe.npz_file)
    "read_npz", "write_npz",
]
