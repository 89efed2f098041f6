"""Hook implementations of pdaframe-dalec2, found through the ``pdaframe`` entry point."""
from pdaframe import ConfigError, hookimpl

from .model import Dalec2
from .readers import read_de_hai, read_us_me2


READERS = {"US-Me2": read_us_me2, "DE-Hai": read_de_hai}


def make_dalec2(drivers=None, site=None, drivers_file=None, start=None, end=None,
                variant="P16", **switches):
    """Factory registered as ``"dalec2"``: `Dalec2` over given or bundled drivers.

    Parameters
    ----------
    drivers : Drivers, optional
        The site's meteorology (from Python).
    site : {"US-Me2", "DE-Hai"}, optional
        Read the drivers of a bundled site (daily US-Me2, monthly DE-Hai); with
        ``drivers_file``, read that file in the site's format instead of the bundled copy.
    start, end : str, optional
        First and last date of the run, ``YYYY-MM-DD`` (site defaults otherwise).
    variant : str
        ``"P16"`` or ``"CARDAMOM"``.
    **switches
        Switch overrides (see `Dalec2`).

    Examples
    --------
    In a config::

        [model]
        name = "dalec2"
        options = { site = "US-Me2", start = "2004-01-01", end = "2007-12-31" }
    """
    if (drivers is None) == (site is None):
        raise ConfigError("dalec2: give either drivers (a Drivers object) or site "
                          f"(one of {sorted(READERS)}), not both or neither")
    if drivers is None:
        if site not in READERS:
            raise ConfigError(f"dalec2: unknown site {site!r}; bundled sites are "
                              f"{sorted(READERS)}")
        window = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
        drivers = READERS[site](drivers_file, **window)
    elif drivers_file is not None or start is not None or end is not None:
        raise ConfigError("dalec2: drivers_file, start and end go with site, not drivers")
    return Dalec2(drivers, variant=variant, **switches)


@hookimpl
def pdaframe_register_models(registry):
    registry.add("dalec2", make_dalec2)
