"""Hook implementations of pdaframe-dalec2, found through the ``pdaframe`` entry point."""
from pdaframe.plugin import ConfigError, hookimpl

from .edc import ALL_EDCS
from .model import VARIANTS, Dalec2
from .readers import check_site_latitude, read_de_hai, read_drivers_file, read_us_me2
from .spinup import EdcReject, PoolScalars, SpinUp


READERS = {"US-Me2": read_us_me2, "DE-Hai": read_de_hai}


def make_dalec2(drivers=None, site=None, drivers_file=None, start=None, end=None,
                latitude=None, format=None, variant="P16", spinup=None, spinup_tol=1e-4,
                spinup_max_cycles=2000, spinup_derivatives="fd", spinup_start_file=None,
                pool_scalars=False, edc=None, edc_checks=None, edc_eqf=2.0, state=False,
                **switches):
    """Factory registered as ``"dalec2"``: `Dalec2` over given, bundled or any site's drivers.

    Give exactly one of ``drivers``, ``site`` or ``drivers_file`` (without ``site``).

    Parameters
    ----------
    drivers : Drivers, optional
        The site's meteorology (from Python).
    site : {"US-Me2", "DE-Hai"}, optional
        Read the drivers of a bundled site (daily US-Me2, monthly DE-Hai); with
        ``drivers_file``, read that file in the site's format instead of the bundled copy.
        The latitude is the site's; a ``latitude`` that disagrees is a `ConfigError`.
    drivers_file : str or path-like, optional
        Without ``site``: any site's daily drivers, a driver file (CSV or CF-NetCDF,
        `pdaframe.models.driver_file`) or a FLUXNET HH/HR file (`read_drivers_file`).
    start, end : str, optional
        First and last date of the run, ``YYYY-MM-DD`` (site or file defaults otherwise).
    latitude : float, optional
        Degrees north, for ``drivers_file`` without ``site``: required when the file has
        none (FLUXNET files), must agree with it when it has one.
    format : {None, "table", "fluxnet"}
        The kind of ``drivers_file``; None: detected from its header. Its CO2 column is
        read only for the switch ``co2 = "driver"`` (the CARDAMOM variant).
    variant : str
        ``"P16"`` or ``"CARDAMOM"``.
    spinup : {None, "cycle"}
        ``"cycle"``: start every run from pools spun up over the drivers
        (`pdaframe_dalec2.spinup.SpinUp`) until each changes by less than ``spinup_tol``
        (relative) per cycle, at most ``spinup_max_cycles``; ``spinup_derivatives`` is
        ``"fd"`` (no tangent/adjoint: finite differences through the spin-up) or ``"fixed"``
        (spun-up pools treated as constants when differentiating). ``spinup_start_file``: a
        spin-up emulator file (`pdaframe_dalec2.spinup_emulator`) whose predicted pools
        start the cycling (fewer cycles, the same test).
    pool_scalars : bool
        Estimate ``scale_c_lab0 ... scale_c_som0`` (times the default pools) instead of the
        six initial pools (`pdaframe_dalec2.spinup.PoolScalars`). Not with ``spinup``.
    edc : {None, "reject"}
        ``"reject"``: a run whose parameters and trajectory fail an EDC raises `ModelError`
        naming it (`pdaframe_dalec2.edc`); ``edc_checks`` lists the EDCs (default 1-13),
        ``edc_eqf`` is the steady-state factor of EDCs 7-12.
    state : bool
        True: the six pools are the model state (`pdaframe_dalec2.state.Dalec2Pools`), for
        the joint state–parameter EnKF and per-period parameters; not with ``spinup``,
        ``pool_scalars`` or ``edc``.
    **switches
        Switch overrides (see `Dalec2`).

    Examples
    --------
    In a config::

        [model]
        name = "dalec2"
        options = { site = "US-Me2", start = "2004-01-01", end = "2007-12-31" }

    or another site's drivers (``latitude`` only if the file has none)::

        options = { drivers_file = "alice_holt.csv", start = "1999-01-01" }
    """
    own_file = site is None and drivers_file is not None
    if (drivers is not None) + (site is not None) + own_file != 1:
        raise ConfigError("dalec2: give one of drivers (a Drivers object), site (one of "
                          f"{sorted(READERS)}) or drivers_file (any site's driver or "
                          f"FLUXNET file, with latitude when the file has none)")
    if format is not None and not own_file:
        raise ConfigError("dalec2: format goes with drivers_file (without site)")
    if drivers is not None:
        if drivers_file is not None or start is not None or end is not None or \
                latitude is not None:
            raise ConfigError("dalec2: drivers_file, start, end and latitude go with site "
                              "or drivers_file, not drivers")
    elif site is not None:
        if site not in READERS:
            raise ConfigError(f"dalec2: unknown site {site!r}; bundled sites are "
                              f"{sorted(READERS)}")
        check_site_latitude(site, latitude)
        window = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
        drivers = READERS[site](drivers_file, **window)
    else:
        co2 = switches.get("co2", VARIANTS.get(variant, {}).get("co2")) == "driver"
        drivers = read_drivers_file(drivers_file, latitude=latitude, format=format,
                                    start=start, end=end, co2=co2)
    model = Dalec2(drivers, variant=variant, **switches)
    if not isinstance(state, bool):
        raise ConfigError(f"dalec2: state={state!r}: expected true or false")
    if state:
        if spinup or pool_scalars or edc:
            raise ConfigError("dalec2: state = true (the pools as the model state) goes with "
                              "none of spinup, pool_scalars or edc")
        from .state import Dalec2Pools
        return Dalec2Pools(model)
    if spinup not in (None, "cycle"):
        raise ConfigError(f"dalec2: spinup={spinup!r}: expected 'cycle' (or leave it out)")
    if not isinstance(pool_scalars, bool):
        raise ConfigError(f"dalec2: pool_scalars={pool_scalars!r}: expected true or false")
    if spinup and pool_scalars:
        raise ConfigError("dalec2: spinup and pool_scalars both set the initial pools; "
                          "choose one")
    if spinup_start_file is not None and not spinup:
        raise ConfigError("dalec2: spinup_start_file (an emulator file) goes with spinup = 'cycle'")
    if spinup_start_file is not None:
        from .spinup_emulator import EmulatedSpinUp
        model = EmulatedSpinUp(model, spinup_start_file, spinup_tol, spinup_max_cycles,
                               spinup_derivatives)
    elif spinup:
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
