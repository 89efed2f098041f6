"""Exceptions raised by pdaframe.

Every error a user can cause derives from `PdaframeError`, so a command-line run can report
it as one readable paragraph. Each error says where the problem is (file, field, plugin,
parameter) and what was expected.
"""


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
