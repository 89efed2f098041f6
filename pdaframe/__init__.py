"""pdaframe: plugin-based parameter data assimilation for land surface models.

Minimise or sample ``J(theta) = 1/2 |G(theta) - y|^2_{R^-1} + 1/2 |theta - theta_b|^2_{B^-1}``
with ``G`` = observation operator o model. See the README for a tour.
"""
from .errors import ConfigError, DataError, ModelError, OutputError, PdaframeError, PluginError
from .io.checkpoint import Checkpoint
from .models.linear import LinearModel
from .minimise import minimise
from .observations.streams import DataStream, ErrorCovariance
from .plugins import get_method, get_model, get_operator, get_plugins
from .prior.priors import GaussianPrior, UniformPrior
from .problem.multisite import MultiSiteProblem
from .problem.single import Problem
from .result import AnalysisResult, EnsembleResult, OptimisationResult, Result, SampleResult
from .problem.twin import synthetic_streams

from ._version import __version__

__all__ = [
    "AnalysisResult", "Checkpoint", "ConfigError", "DataError", "DataStream", "EnsembleResult",
    "ErrorCovariance", "GaussianPrior", "LinearModel", "ModelError", "MultiSiteProblem",
    "OptimisationResult", "OutputError", "PdaframeError", "PluginError", "Problem", "Result",
    "SampleResult", "UniformPrior", "get_method", "get_model", "get_operator", "get_plugins",
    "load_config", "minimise", "predict", "synthetic_streams",
]

#: Plugin-author names that moved to `pdaframe.plugin`; still importable from here, with a
#: `DeprecationWarning` (external plugins import them from `pdaframe`).
MOVED_TO_PLUGIN = frozenset({"Identity", "Model", "ObservationOperator", "Parameter", "Select",
                             "hookimpl", "reset_plugins"})


def __getattr__(name):
    """The `pdaframe.plugin` module (imported on first use), and the names of
    `MOVED_TO_PLUGIN` from it with a `DeprecationWarning`."""
    if name == "plugin" or name in MOVED_TO_PLUGIN:
        import importlib
        plugin = importlib.import_module(".plugin", __name__)
        if name == "plugin":
            return plugin
        import warnings
        warnings.warn(f"pdaframe.{name} is deprecated: import it from pdaframe.plugin "
                      f"(from pdaframe.plugin import {name})", DeprecationWarning, stacklevel=2)
        return getattr(plugin, name)
    raise AttributeError(f"module 'pdaframe' has no attribute {name!r}")


def load_config(path, run_model=True, output_dir=None):
    """Read a TOML config: ``problem, settings = pdaframe.load_config(path)``, its ready
    `Problem` and its run settings (`pdaframe.config.loader.load_config`)."""
    from .config.loader import load_config as _load
    return _load(path, run_model=run_model, output_dir=output_dir)


def predict(result, **options):
    """Predict from a finished run's folder: prior and posterior draws run forward on other
    drivers or scenarios (`pdaframe.prediction.predict`, where the options are listed);
    returns a `pdaframe.prediction.runner.Prediction` with its file ``paths``."""
    from .prediction import predict as _predict
    return _predict(result, **options)
