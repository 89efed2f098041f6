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
from .result import AnalysisResult, EnsembleResult, OptimisationResult, Result, SampleResult
from .problem.twin import synthetic_streams

from ._version import __version__

__all__ = [
    "AnalysisResult", "ConfigError", "DataError", "DataStream", "EnsembleResult",
    "ErrorCovariance", "GaussianPrior", "Identity", "LinearModel", "Model", "ModelError",
    "ObservationOperator", "OptimisationResult", "OutputError", "Parameter", "PdaframeError",
    "PluginError", "Problem", "Result", "SampleResult", "Select", "UniformPrior", "get_method",
    "get_model", "get_operator", "get_plugins", "hookimpl", "load_config", "minimise",
    "reset_plugins", "synthetic_streams",
]


def load_config(path):
    """Read a TOML config and build its ready `Problem` (see `pdaframe.config.loader`)."""
    from .config.loader import load_config as _load
    return _load(path)
