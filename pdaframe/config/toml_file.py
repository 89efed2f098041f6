"""Reading a TOML file (a config, a sweep, a batch template) with named errors."""
from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import ConfigError


def read_toml(path, what="config file") -> tuple[str, dict]:
    """``(text, data)`` of the TOML file ``path``.

    Raises
    ------
    ConfigError
        Naming ``what`` and the file: not found, unreadable (or not UTF-8), malformed TOML.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {what} {path}: {err}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: malformed TOML: {err}") from None
