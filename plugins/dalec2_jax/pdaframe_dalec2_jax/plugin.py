"""Hook implementations of pdaframe-dalec2-jax, found through the ``pdaframe`` entry point."""
from pdaframe.plugin import ConfigError, PluginError, hookimpl
from pdaframe_dalec2 import Dalec2
from pdaframe_dalec2.plugin import make_dalec2
from pdaframe_dalec2.spinup import EdcReject, PoolScalars, SpinUp

from .hybrid import Dalec2Hybrid
from .model import Dalec2Jax


def make_dalec2_jax(**options):
    """Factory registered as ``"dalec2-jax"``: the options of ``"dalec2"``, the model in JAX.

    ``make_dalec2`` (of pdaframe-dalec2) reads and checks every option (drivers or site,
    dates, variant and switches, spin-up, pool scalars, EDCs) and builds the Fortran model
    with its wrappers; the same chain is then rebuilt around `Dalec2Jax`, so both names take
    the same options, with the same checks and messages.

    Examples
    --------
    In a config::

        [model]
        name = "dalec2-jax"
        options = { site = "US-Me2", start = "2004-01-01", end = "2007-12-31" }
    """
    return _in_jax(make_dalec2(**options))


def _in_jax(model):
    """The model chain of ``make_dalec2`` with `Dalec2Jax` in place of `Dalec2`."""
    if isinstance(model, Dalec2):
        return Dalec2Jax(model.drivers, variant=model.variant, **model.switches)
    if isinstance(model, SpinUp):
        return SpinUp(_in_jax(model.model), model.tol, model.max_cycles, model.derivatives)
    if isinstance(model, PoolScalars):
        return PoolScalars(_in_jax(model.model))
    if isinstance(model, EdcReject):
        return EdcReject(_in_jax(model.model), model.edcs, model.eqf)
    raise PluginError(f"dalec2-jax: no JAX version of {type(model).__name__} (a wrapper "
                      f"made by the dalec2 factory that this plugin does not know)")


def make_dalec2_hybrid(hidden=(4,), inputs=("t_mean",), weight_std=1.0, seed=0, **options):
    """Factory registered as ``"dalec2-hybrid"`` (`Dalec2Hybrid`): the options of
    ``"dalec2"`` (drivers or site, dates, variant, switches) and the network's ``hidden``,
    ``inputs``, ``weight_std`` and ``seed``. The spin-up, pool-scalar and EDC wrappers are
    not offered (their pool rules know DALEC2's 23 parameters only): a `ConfigError`.

    Examples
    --------
    In a config::

        [model]
        name = "dalec2-hybrid"
        options = { site = "US-Me2", start = "2004-01-01", end = "2005-12-31",
                    hidden = [4], inputs = ["t_mean"], weight_std = 1.0, seed = 0 }
    """
    model = make_dalec2(**options)
    if not isinstance(model, Dalec2):
        raise ConfigError(f"dalec2-hybrid: the options {sorted(options)} wrap the model in "
                          f"{type(model).__name__}, which the hybrid does not support; drop "
                          f"the spin-up, pool-scalar and EDC options")
    return Dalec2Hybrid(model.drivers, hidden=hidden, inputs=inputs, weight_std=weight_std,
                        seed=seed, variant=model.variant, **model.switches)


@hookimpl
def pdaframe_register_models(registry):
    registry.add("dalec2-jax", make_dalec2_jax)
    registry.add("dalec2-hybrid", make_dalec2_hybrid)
