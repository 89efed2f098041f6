"""Errors of multi-site evaluations: a site's error with the site named, and a failed
site's record (from an executor) back into a named pdaframe error."""
from __future__ import annotations

import numpy as np

from .. import errors
from ..errors import ConfigError, DataError, ModelError, PdaframeError
from ..parallel.base import Failed


def with_site(err: PdaframeError, site: str) -> PdaframeError:
    """``err`` (same type, same ``theta``) with the site named in front of its message."""
    message = f"site {site!r}: {err}"
    try:
        if isinstance(err, ModelError):
            return type(err)(message, theta=err.theta)
        return type(err)(message)
    except TypeError:                 # a subclass with another signature
        return (ModelError(message, theta=err.theta) if isinstance(err, ModelError)
                else PdaframeError(message))


_ERRORS = {cls.__name__: cls for cls in (ConfigError, DataError, ModelError,
                                         errors.PluginError, PdaframeError)}


def site_error(name, record, theta) -> PdaframeError:
    """The error of site ``name`` whose evaluation gave ``record`` (a `Failed` or anything
    not a result), of the type its text names (else `ModelError` at ``theta``)."""
    text = record.error if isinstance(record, Failed) else repr(record)
    kind, sep, message = text.partition(": ")
    cls = _ERRORS.get(kind) if sep else None
    if cls is None:
        cls, message = ModelError, text
    if not message.startswith(f"site {name!r}"):
        message = f"site {name!r}: {message}"
    if cls is ModelError or cls is PdaframeError:
        return ModelError(message, theta=np.array(theta, dtype=float))
    return cls(message)
