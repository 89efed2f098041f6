"""pdaframe's own plugin: registers the built-in pieces through the public hooks."""
from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .models.linear import LinearModel
from .models.lorenz96 import Lorenz96
from .models.periods import PerPeriodModel
from .methods.search.de import METHODS as DE
from .methods.search.ga import METHODS as GA
from .methods.search.nsga2 import METHODS as NSGA2
from .methods.search.sceua import METHODS as SCEUA
from .methods.search.dds import METHODS as DDS
from .methods.fourdenvar import METHODS as FOURDENVAR
from .methods.emulation.ces import METHODS as EMULATOR
from .methods.emulation.history_matching import METHODS as HISTORY_MATCHING
from .methods.emulation.nn_model import load_emulator
from .methods.importance import METHODS as IMPORTANCE
from .methods.joint_enkf import METHODS as JOINT_ENKF
from .methods.mcmc import METHODS as MCMC
from .methods.sequential import METHODS as SEQUENTIAL
from .methods.smc import METHODS as SMC
from .methods.scipy_minimisers import METHODS
from .methods.stepwise import METHODS as STEPWISE
from .methods.vi import METHODS as VI
from .models.external import make_external
from .observations.operators import BASIC_FACTORIES
from .observations.operators import FACTORIES as OPERATORS
from .observations.readers import READERS
from .plugins import hookimpl
from .prior.priors import GaussianPrior, UniformPrior, check_std
from .analysis.sensitivity import CONFIG_METHODS as SENSITIVITY


@hookimpl
def pdaframe_register_models(registry):
    registry.add("linear", LinearModel)
    registry.add("lorenz96", Lorenz96)
    registry.add("per-period", per_period_model)
    registry.add("external", make_external)
    registry.add("nn-emulator", load_emulator)


@hookimpl
def pdaframe_register_operators(registry):
    for name, factory in {**BASIC_FACTORIES, **OPERATORS}.items():
        registry.add(name, factory)


def per_period_model(model, varying, starts, labels=None, **options):
    """Config factory ``per-period``: `PerPeriodModel` of the registered model ``model``
    (built with ``options``) with ``varying`` parameters per period from ``starts``."""
    from .plugins import get_model
    return PerPeriodModel(get_model(model, **options), varying, starts, labels)


def _field(params, key, default=np.nan):
    return np.array([p.get(key, default) for p in params], dtype=float)


def gaussian_family(parameters, correlation=None):
    """Gaussian prior from per-parameter ``mean``/``std``, optionally with a correlation matrix."""
    std = _field(parameters, "std")
    for p, s in zip(parameters, std):
        if np.isnan(s):
            raise ConfigError(f"parameter {p['name']!r}: a gaussian prior needs 'std'")
    std = check_std(std, [p["name"] for p in parameters])
    if correlation is None:
        cov = std ** 2
    else:
        corr = np.asarray(correlation, dtype=float)
        if corr.shape != (std.size, std.size) or not np.allclose(np.diag(corr), 1.0):
            raise ConfigError(f"prior correlation: expected a {std.size}x{std.size} matrix "
                              f"with ones on the diagonal")
        cov = std[:, None] * corr * std[None, :]
    return GaussianPrior(_field(parameters, "mean"), covariance=cov,
                         lower=_field(parameters, "lower", -np.inf),
                         upper=_field(parameters, "upper", np.inf),
                         names=[p["name"] for p in parameters],
                         transforms=[p.get("transform") for p in parameters])


def uniform_family(parameters):
    """Uniform prior on each parameter's ``[lower, upper]``; ``mean`` is the start."""
    mean = _field(parameters, "mean")
    return UniformPrior(_field(parameters, "lower"), _field(parameters, "upper"),
                        mean=None if np.isnan(mean).any() else mean,
                        names=[p["name"] for p in parameters],
                        transforms=[p.get("transform") for p in parameters])


@hookimpl
def pdaframe_register_priors(registry):
    registry.add("gaussian", gaussian_family)
    registry.add("uniform", uniform_family)


@hookimpl
def pdaframe_register_methods(registry):
    for name, method in {**METHODS, **FOURDENVAR, **DE, **GA, **STEPWISE, **MCMC,
                         **IMPORTANCE, **SEQUENTIAL, **EMULATOR, **SENSITIVITY,
                         **HISTORY_MATCHING, **VI, **SMC, **NSGA2, **JOINT_ENKF, **SCEUA,
                         **DDS}.items():
        registry.add(name, method)


@hookimpl
def pdaframe_register_readers(registry):
    for name, reader in READERS.items():
        registry.add(name, reader)
