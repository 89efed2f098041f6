"""Hook implementations of pdaframe-dalec2, found through the ``pdaframe`` entry point."""
from pdaframe.plugin import ConfigError, hookimpl

from .edc import ALL_EDCS
from .model import Dalec2
from .readers import read_de_hai, read_us_me2
from .spinup import EdcReject, PoolScalars, SpinUp


READERS = {"US-Me2": read_us_me2, "DE-Hai": read_de_hai}


def make_dalec2(drivers=None, site=None, drivers_file=None, start=None, end=None,
                variant="P16", spinup=None, spinup_tol=1e-4, spinup_max_cycles=2000,
                spinup_derivatives="fd", pool_scalars=False, edc=None, edc_checks=None,
                edc_eqf=2.0, **switches):
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
    spinup : {None, "cycle"}
        ``"cycle"``: start every run from pools spun up over the drivers
        (`pdaframe_dalec2.spinup.SpinUp`) until each changes by less than ``spinup_tol``
        (relative) per cycle, at most ``spinup_max_cycles``; ``spinup_derivatives`` is
        ``"fd"`` (no tangent/adjoint: finite differences through the spin-up) or ``"fixed"``
        (spun-up pools treated as constants when differentiating).
    pool_scalars : bool
        Estimate ``scale_c_lab0 ... scale_c_som0`` (times the default pools) instead of the
        six initial pools (`pdaframe_dalec2.spinup.PoolScalars`). Not with ``spinup``.
    edc : {None, "reject"}
        ``"reject"``: a run whose parameters and trajectory fail an EDC raises `ModelError`
        naming it (`pdaframe_dalec2.edc`); ``edc_checks`` lists the EDCs (default 1-13),
        ``edc_eqf`` is the steady-state factor of EDCs 7-12.
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
    model = Dalec2(drivers, variant=variant, **switches)
    if spinup not in (None, "cycle"):
        raise ConfigError(f"dalec2: spinup={spinup!r}: expected 'cycle' (or leave it out)")
    if not isinstance(pool_scalars, bool):
        raise ConfigError(f"dalec2: pool_scalars={pool_scalars!r}: expected true or false")
    if spinup and pool_scalars:
        raise ConfigError("dalec2: spinup and pool_scalars both set the initial pools; "
                          "choose one")
    if spinup:
        model = SpinUp(model, spinup_tol, spinup_max_cycles, spinup_derivatives)
    elif pool_scalars:
        model = PoolScalars(model)
    if edc not in (None, "reject"):
        raise ConfigError(f"dalec2: edc={edc!r}: expected 'reject' (or leave it out)")
    if edc:
        model = EdcReject(model, tuple(edc_checks or ALL_EDCS), edc_eqf)
    elif edc_checks is not None:
        raise ConfigError("dalec2: edc_checks goes with edc = 'reject'")
    return model


@hookimpl
def pdaframe_register_models(registry):
    registry.add("dalec2", make_dalec2)
