"""Checks of a batch before any model run (`pdaframe run` and `pdaframe check`).

1. Files named through a placeholder (any key ending in ``file``, ``path``, ``dir``,
   ``directory``): one existence test per site and key; every missing file is listed in one
   `DataError` (sites and paths), e.g. a site in the table without its driver file.
2. The other direction, where the pattern allows listing (a model option whose folder has no
   placeholder and whose file name holds ``{site}`` once, ``drivers/{site}.csv``): a file
   in that folder for a site the table does not list is a `DataError` naming the files.
3. Every site's config loads (`pdaframe.config.loader.load_config` with
   ``run_model=False``: the model is built and the data read, nothing is run), each site
   once, spread over an executor's ranks (`check_sites`); an error names the site.

The placeholders themselves (unknown columns, empty or missing values) are checked when the
batch is read (`pdaframe.batch.spec.load_batch`).
"""
from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

from ..config.loader import load_config
from ..config.toml_file import PATH_SUFFIXES
from ..errors import DataError, PdaframeError
from .spec import PLACEHOLDER, _fill, _walk, site_config_text

SHOWN = 10          # sites listed in a message


def check_files(batch) -> None:
    """Steps 1 and 2 of the module docstring.

    Raises
    ------
    DataError
        Files missing for some sites, or files for sites the table lacks.
    """
    patterns = []
    _walk(batch.template, "", lambda key, s: patterns.append((key, s))
          if key.rsplit(".", 1)[-1].endswith(PATH_SUFFIXES) and PLACEHOLDER.search(s) else None)
    missing = []
    for key, pattern in patterns:
        for site in batch.sites:
            path = Path(_fill(pattern, batch.row(site), key))
            if not path.exists():
                missing.append((site, key, path))
    if missing:
        sites = list(dict.fromkeys(s for s, _, _ in missing))
        lines = [f"  site {s}: '{k}' = {p}" for s, k, p in missing[:SHOWN]]
        raise DataError(f"{batch.path}: {len(sites)} of {len(batch.sites)} sites lack a file "
                        f"named through a placeholder (no drivers or data for them):\n"
                        + "\n".join(lines) + (f"\n  ... and {len(missing) - SHOWN} more"
                                              if len(missing) > SHOWN else ""))
    for key, pattern in patterns:
        if key.startswith("model.options."):
            _check_listing(batch, key, pattern)


def _check_listing(batch, key, pattern) -> None:
    folder, name = Path(pattern).parent, Path(pattern).name
    if PLACEHOLDER.search(str(folder)) or name.count("{site}") != 1 or \
            len(PLACEHOLDER.findall(name)) != 1 or not folder.is_dir():
        return
    prefix, suffix = name.split("{site}")
    shape = re.compile(re.escape(prefix) + "(.+)" + re.escape(suffix))
    known = set(batch.table.sites)
    strays = sorted(m.group(1) for f in folder.iterdir()
                    if (m := shape.fullmatch(f.name)) and m.group(1) not in known)
    if strays:
        raise DataError(f"{batch.path}: '{key}' = {pattern!r}: {folder} holds files of "
                        f"{len(strays)} site(s) the site table {batch.table.source} does not "
                        f"list: {strays[:SHOWN]}; add them to the table or move the files")


class SiteCheck:
    """Step 3 for one site (an executor's ``func``): load its config without running the
    model; a failure raises the loader's error with ``site <name>:`` in front."""

    def __init__(self, batch):
        self.batch = batch

    def __call__(self, site) -> bool:
        with tempfile.TemporaryDirectory(prefix="pdaframe-batch-") as tmp:
            path = Path(tmp) / f"{site}.toml"
            path.write_text(site_config_text(self.batch, site))
            try:
                load_config(path, run_model=False,
                            output_dir=self.batch.output_dir / "sites" / site)
            except PdaframeError as err:
                raise type(err)(f"site {site}: " + str(err).replace(str(path),
                                                                     "its config")) from None
        return True


def check_sites(batch, sites=None, executor=None) -> float:
    """Step 3 for every site of ``sites`` (default: all), spread over ``executor`` (e.g. the
    MPI ranks); return the seconds.

    Raises
    ------
    PdaframeError
        For the first site (in table order) that does not load, of the loader's type, on
        every rank alike.
    """
    from .. import errors
    from ..parallel import Failed, SerialExecutor
    start = time.perf_counter()
    sites = batch.sites if sites is None else sites
    results = (executor or SerialExecutor()).map(SiteCheck(batch), sites)
    failed = next((r for r in results if isinstance(r, Failed)), None)
    if failed is not None:
        kind, _, message = failed.error.partition(": ")
        raise getattr(errors, kind, PdaframeError)(message)
    return time.perf_counter() - start
