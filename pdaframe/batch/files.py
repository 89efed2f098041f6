"""Names of a batch output folder's files (layout in `pdaframe.batch.runner`)."""
from __future__ import annotations

import json
from pathlib import Path

SITES = "sites"                 # <output>/sites/<site>/
SUMMARY = "summary.json"        # a finished site's numbers, written last
MANIFEST = "batch.json"         # the sites, their attributes and the config
CONFIG = "config.toml"          # a site's config, runnable alone


def site_folder(output_dir, site) -> Path:
    """``<output>/sites/<site>``."""
    return Path(output_dir) / SITES / site


def failed_file(output_dir, site) -> Path:
    """``<output>/sites/<site>.failed.json``."""
    return Path(output_dir) / SITES / f"{site}.failed.json"


def read_json(path) -> dict | None:
    """The JSON object in ``path``, None when missing, unreadable or not an object."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
