"""pdaframe: plugin-based parameter data assimilation for land surface models.

Minimise or sample ``J(theta) = 1/2 |G(theta) - y|^2_{R^-1} + 1/2 |theta - theta_b|^2_{B^-1}``
with ``G`` = observation operator o model. See the README for a tour.
"""
from .errors import ConfigError, DataError, ModelError, OutputError, PdaframeError, PluginError
from .interfaces import Model, ObservationOperator, Parameter
from .models.linear import LinearModel
from .minimise import minimise
from .observations.streams import DataStream, ErrorCovariance
from .observations.operators import Identity, Select
from .plugins import get_method, get_model, get_operator, get_plugins, hookimpl, reset_plugins
from .prior.priors import GaussianPrior, UniformPrior
from .problem.single import Problem
from .result import Result
from .problem.twin import synthetic_streams

from ._version import __version__

__all__ = [
    "ConfigError", "DataError", "DataStream", "ErrorCovariance", "GaussianPrior", "Identity",
    "LinearModel", "Model", "ModelError", "ObservationOperator", "OutputError", "Parameter",
    "PdaframeError",
    "PluginError", "Problem", "Result", "Select", "UniformPrior", "get_method", "get_model",
    "get_operator", "get_plugins", "hookimpl", "load_config", "minimise", "reset_plugins",
    "synthetic_streams",
]


def load_config(path, run_model=True, output_dir=None):
    """Read a TOML config: ``problem, settings = pdaframe.load_config(path)``, its ready
    `Problem` and its run settings (`pdaframe.config.loader.load_config`)."""
    from .config.loader import load_config as _load
    return _load(path, run_model=run_model, output_dir=output_dir)
