"""Reading a TOML file (a config, a sweep, a batch template) with named errors, and the
config's rule for paths in options."""
from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import ConfigError

PATH_SUFFIXES = ("file", "path", "dir", "directory")
"""An option whose name ends in one of these holds a path, relative to the config's folder."""


def resolve_paths(options, base) -> dict:
    """``options`` with each path option (`PATH_SUFFIXES`) given relative to ``base``
    (the config's folder) made absolute (an absolute path stays as it is)."""
    return {k: str(base / v) if isinstance(v, str) and k.endswith(PATH_SUFFIXES) else v
            for k, v in options.items()}


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
