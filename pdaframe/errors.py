"""Exceptions raised by pdaframe.

Every error a user can cause derives from `PdaframeError`, so a command-line run can report
it as one readable paragraph. Each error says where the problem is (file, field, plugin,
parameter) and what was expected.
"""
import numpy as np


class PdaframeError(Exception):
    """Base class of all pdaframe errors."""


class ConfigError(PdaframeError):
    """A configuration file or argument is malformed, incomplete or inconsistent."""


class DataError(PdaframeError):
    """Observation or driver data are missing, malformed or inconsistent."""


class PluginError(PdaframeError):
    """A plugin is unknown, registered twice, or broken."""


class OutputError(PdaframeError):
    """The output folder cannot be made, written or locked, or writing a result failed
    (disk full, read-only filesystem, ...)."""


class ModelError(PdaframeError):
    """A model run failed or produced non-finite output.

    Parameters
    ----------
    message : str
        What went wrong.
    theta : array_like, optional
        The parameter vector of the failed run.
    """

    def __init__(self, message, theta=None):
        super().__init__(message)
        self.theta = theta


def check_int(value, name, minimum, why):
    """``value`` as an int, or a `ConfigError` naming ``name``, the ``minimum`` and ``why``
    (for chain counts, budgets, design sizes, ...)."""
    from numbers import Real
    if isinstance(value, bool) or not isinstance(value, Real) or not float(value).is_integer():
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{name} = {value}: at least {minimum} needed ({why})")
    return int(value)


SEED_LIMIT = 2 ** 63      # seeds are stored as 64-bit integers in the result files


def check_seed(value, name):
    """``value`` as a seed (a whole number ``0 <= seed < 2**63``), or a `ConfigError`."""
    seed = check_int(value, name, 0, "seeds are non-negative")
    if seed >= SEED_LIMIT:
        raise ConfigError(f"{name} = {seed}: must be below 2**63 (it is stored as a 64-bit "
                          f"integer in the result files)")
    return seed


def check_options(method, options, defaults, counts=None):
    """Method ``options`` checked against the types of their ``defaults``; the checked copy.

    A generic check that a method runs before its first model run (and that
    `pdaframe.load_config` runs, so ``pdaframe check`` finds the mistake): an option whose
    default is a bool must be a bool, an int a whole number >= 0 (returned as int), a
    float a finite number; ``counts`` maps whole-number options (default may be None) to
    their ``(minimum, why)``; ``seed`` is checked by `check_seed`. Other options (strings,
    tuples, arrays) are left to the method; unknown names to the caller
    (`pdaframe.methods.contract.check_method_options`).

    Parameters
    ----------
    method : str
        The method's name, for messages.
    options : dict
    defaults : dict
        ``{option: default}``.
    counts : dict, optional
        ``{option: (minimum, why)}``.
    """
    from numbers import Real
    counts = counts or {}
    out = dict(options)
    for key, value in options.items():
        name = f"method {method!r}: option {key!r}"
        default = defaults.get(key)
        if key == "seed":
            out[key] = None if value is None else check_seed(value, name)
        elif key in counts:
            if value is None and default is None:
                continue
            out[key] = check_int(value, name, *counts[key])
        elif isinstance(default, bool):
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{name} must be true or false, got {value!r}")
        elif isinstance(default, int):
            out[key] = check_int(value, name, 0, "a count")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, Real) or \
                    not np.isfinite(value):
                raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return out


def check_memory(needed, limit_gb, what, option="[output] max_memory_gb"):
    """A `ConfigError` when ``needed`` bytes exceed ``limit_gb`` (GB), naming ``what`` needs
    them and the ``option`` that raises the limit."""
    if needed > limit_gb * 1e9:
        raise ConfigError(f"{what} needs about {needed / 1e9:.3g} GB of memory, above the "
                          f"limit of {limit_gb:g} GB; make it smaller, or raise the limit "
                          f"with {option}")
