"""A plain numpy DALEC2, written from ``shared/reference/dalec2.md`` alone (tests only).

Clarity over speed: one Python loop over the steps, one line per equation of the spec. The
compiled kernel is checked against this module; this module is checked against the spec's
point values (section 9) in ``test_reference_spec.py``.

Conventions (spec sections 2-3, in brief):

- ``theta`` holds 23 values in the spec's order: 17 parameters (section 4, indices 0-16) and
  the 6 initial pools ``C_lab, C_f, C_r, C_w, C_l, C_s`` (g C m-2).
- Step ``t`` computes its fluxes from the pools at the start of the step, ``C_t``, and the
  step's drivers; the outputs at ``t`` are diagnostics of ``C_t`` (so ``c_fol[0]`` is the
  initial foliar pool and ``lai[t] = C_f,t / c_lma``).
- General step length ``dt`` (days): a first-order loss with daily fraction ``k`` removes
  ``f = 1 - (1 - k)**dt`` of the pool over the step (CARDAMOM form); gains (allocated NPP)
  are daily rates times ``dt``; reported fluxes are daily means over the step. For
  ``dt == 1`` exactly, ``f = k`` and the update is the plain P16 one of section 3.5.
"""
from __future__ import annotations

import math

import numpy as np

# ACM constants a2 ... a10 (REFLEX set, spec section 3.1).
A2, A3, A4, A5, A6, A7, A8, A9, A10 = (0.0156935, 4.22273, 208.868, 0.0453194, 0.37836,
                                       7.19298, 0.011136, 2.1001, 0.789798)
R_TOT = 1.0          # hydraulic resistance
FOLIAR_N = 1.0       # foliar nitrogen factor

# Phenology offset polynomial, highest power first (spec section 3.3).
OFFSET_COEFFS = (2.359978471e-05, 3.32730053021e-04, 9.01865258885e-04, -5.437736864888e-03,
                 -2.0836027517787e-02, 1.26972018064287e-01, -1.88459767342504e-01)
S_F = 365.25 / math.pi

PARAMETER_NAMES = ("theta_min", "f_auto", "f_fol", "f_roo", "c_lspan", "theta_woo",
                   "theta_roo", "theta_lit", "theta_som", "Theta", "c_eff", "d_onset",
                   "f_lab", "c_ronset", "d_fall", "c_rfall", "c_lma")
POOL_NAMES = ("c_lab", "c_fol", "c_roo", "c_woo", "c_lit", "c_som")
OUTPUTS = ("gpp", "ra", "rh", "rtot", "nee", "lai") + POOL_NAMES + ("day_length", "phi_onset",
                                                                   "phi_fall")

# Prior mean xb (spec section 4, P16 ``edinburgh_median``), 17 parameters then 6 pools.
XB = np.array([2.29180076e-4, 5.31804031e-1, 6.69448981e-2, 4.46049258e-1, 1.18143120,
               5.31584216e-5, 2.25487423e-3, 2.44782152e-3, 7.71092378e-5, 3.82591095e-2,
               7.47751776e+1, 1.16238252e+2, 3.26252225e-1, 4.18554035e+1, 2.27257813e+2,
               1.20915004e+2, 1.15533213e+2,
               1.27804720e+2, 6.02259491e+1, 2.09997016e+2, 4.22672530e+3, 3.67801053e+2,
               1.62565304e+3])


def day_length(doy, lat_rad):
    """Day length in hours (spec section 3.1), 0 or 24 beyond the polar circles.

    Parameters
    ----------
    doy : float or ndarray
        Day of year.
    lat_rad : float
        Latitude, radians.
    """
    declination = -23.4 * np.cos((360.0 * (np.asarray(doy, dtype=float) + 10.0) / 365.0)
                                 * np.pi / 180.0) * np.pi / 180.0
    m = np.tan(lat_rad) * np.tan(declination)
    inside = np.clip(m, -1.0, 1.0)          # arccos only where |m| < 1; ends fixed below
    hours = 24.0 * np.arccos(-inside) / np.pi
    return np.where(m >= 1.0, 24.0, np.where(m <= -1.0, 0.0, hours))


def acm_gpp(lai, c_eff, t_max, t_min, sw, doy, lat_rad, ca=390.0, psi_d=-2.5):
    """Aggregated Canopy Model GPP, g C m-2 d-1 (spec section 3.1).

    Parameters
    ----------
    lai : float
        Leaf area index, m2 m-2.
    c_eff : float
        Canopy efficiency (ACM ``a1``, parameter 10).
    t_max, t_min : float
        Daily maximum and minimum air temperature, degC.
    sw : float
        Incoming shortwave radiation, MJ m-2 d-1.
    doy : float
        Day of year.
    lat_rad : float
        Latitude, radians.
    ca : float
        Atmospheric CO2, ppm.
    psi_d : float
        Leaf-soil water-potential difference, MPa.
    """
    g_c = abs(psi_d) ** A10 / (A6 * R_TOT + 0.5 * (t_max - t_min))
    p = c_eff * FOLIAR_N * lai * math.exp(A8 * t_max) / g_c
    q = A3 - A4
    c_i = 0.5 * (ca + q - p + math.sqrt((ca + q - p) ** 2 - 4.0 * (ca * q - p * A3)))
    e0 = A7 * lai ** 2 / (lai ** 2 + A9)
    s = float(day_length(doy, lat_rad))
    return e0 * sw * g_c * (ca - c_i) / (e0 * sw + g_c * (ca - c_i)) * (A2 * s + A5)


def offset_polynomial(z):
    """The phenology offset polynomial ``P(z) = sum_k c_k z**(6 - k)`` (spec section 3.3)."""
    return sum(c * z ** (6 - k) for k, c in enumerate(OFFSET_COEFFS))


def offsets(c_ronset, c_rfall, c_lspan, phenology_offset="p16"):
    """Phenology offsets ``(o_on, o_off)`` in days.

    ``phenology_offset`` is ``"p16"`` (polynomial at 1.001 and ``c_lspan``) or ``"card"``
    (at ``ln(0.001)`` and ``ln(c_lspan - 1)``).
    """
    if phenology_offset == "p16":
        z_on, z_off = 1.001, c_lspan
    elif phenology_offset == "card":
        z_on, z_off = math.log(0.001), math.log(c_lspan - 1.0)
    else:
        raise ValueError(f"phenology_offset must be 'p16' or 'card', got {phenology_offset!r}")
    omega_on = math.sqrt(2.0) * c_ronset / 2.0
    omega_off = math.sqrt(2.0) * c_rfall / 2.0
    return offset_polynomial(z_on) * omega_on, offset_polynomial(z_off) * omega_off


def phenology(d, d_onset, c_ronset, d_fall, c_rfall, c_lspan, phenology_offset="p16"):
    """Daily labile-release and leaf-fall fractions ``(phi_on, phi_off)`` (spec section 3.3).

    Parameters
    ----------
    d : float
        Phenology clock: day of year (P16) or days since the start (CARDAMOM).
    d_onset, c_ronset, d_fall, c_rfall, c_lspan : float
        Parameters 11, 13, 14, 15 and 4.
    phenology_offset : {"p16", "card"}
        Argument of the offset polynomial (see `offsets`).
    """
    o_on, o_off = offsets(c_ronset, c_rfall, c_lspan, phenology_offset)
    omega_on = math.sqrt(2.0) * c_ronset / 2.0
    omega_off = math.sqrt(2.0) * c_rfall / 2.0
    psi_on = (math.log(1.001) - math.log(0.001)) / 2.0
    psi_off = (math.log(c_lspan) - math.log(c_lspan - 1.0)) / 2.0
    phi_on = (2.0 / math.sqrt(math.pi)) * (psi_on / omega_on) * math.exp(
        -(math.sin((d - d_onset + o_on) / S_F) * S_F / omega_on) ** 2)
    phi_off = (2.0 / math.sqrt(math.pi)) * (psi_off / omega_off) * math.exp(
        -(math.sin((d - d_fall + o_off) / S_F) * S_F / omega_off) ** 2)
    return phi_on, phi_off


def step_fraction(k, dt):
    """Fraction of a pool lost over a step of ``dt`` days at daily fraction ``k``."""
    return k if dt == 1.0 else 1.0 - (1.0 - k) ** dt


def run_reference(theta, drivers, phenology_offset="p16", psi_d=-2.5, temperature="mean",
                  co2=390.0, phenology_clock="doy", final_state=False):
    """Run DALEC2 over ``drivers`` (a `pdaframe_dalec2.drivers.Drivers`).

    Parameters
    ----------
    theta : array_like, shape (23,)
        17 parameters and 6 initial pools, in the spec's order.
    drivers : Drivers
        Meteorology, one value per step.
    phenology_offset : {"p16", "card"}
        Offset polynomial argument (spec section 3.3).
    psi_d : float
        Leaf-soil water-potential difference in the ACM, MPa.
    temperature : {"mean", "minmax"}
        Temperature in ``E_T``: ``t_mean`` or ``(t_min + t_max) / 2``.
    co2 : float or "driver"
        Constant atmospheric CO2 (ppm) or the drivers' ``co2``.
    phenology_clock : {"doy", "elapsed"}
        ``drivers.doy`` (P16) or ``drivers.elapsed`` (CARDAMOM).
    final_state : bool
        Also return the pools at the end of the last step as ``"final"``, shape (6,).

    Returns
    -------
    dict of ndarray, each shape (n,)
        ``gpp, ra, rh, rtot, nee`` (g C m-2 d-1, daily means over the step), ``lai``
        (m2 m-2), the pools ``c_lab ... c_som`` at the start of each step (g C m-2), the
        day length (hours, `day_length`) and the daily phenology fractions ``phi_onset``,
        ``phi_fall`` (`phenology`) of each step.
    """
    theta = np.asarray(theta, dtype=float)
    if theta.shape != (23,):
        raise ValueError(f"theta needs 23 values, got shape {theta.shape}")
    (theta_min, f_auto, f_fol, f_roo, c_lspan, theta_woo, theta_roo, theta_lit, theta_som,
     temp_sens, c_eff, d_onset, f_lab, c_ronset, d_fall, c_rfall, c_lma) = theta[:17]
    c_lab, c_f, c_r, c_w, c_l, c_s = theta[17:]

    lat_rad = math.radians(drivers.latitude)
    if temperature == "mean":
        t_resp = drivers.t_mean
    elif temperature == "minmax":
        t_resp = 0.5 * (drivers.t_min + drivers.t_max)
    else:
        raise ValueError(f"temperature must be 'mean' or 'minmax', got {temperature!r}")
    if isinstance(co2, str):
        if co2 != "driver" or drivers.co2 is None:
            raise ValueError(f"co2 must be a number or 'driver' (with drivers.co2), got {co2!r}")
        ca = drivers.co2
    else:
        ca = np.full(drivers.n, float(co2))
    if phenology_clock not in ("doy", "elapsed"):
        raise ValueError(f"phenology_clock must be 'doy' or 'elapsed', got {phenology_clock!r}")
    clock = drivers.doy if phenology_clock == "doy" else drivers.elapsed

    out = {name: np.zeros(drivers.n) for name in OUTPUTS}
    for t in range(drivers.n):
        dt = float(drivers.dt[t])
        lai = c_f / c_lma
        gpp = acm_gpp(lai, c_eff, drivers.t_max[t], drivers.t_min[t], drivers.sw[t],
                      drivers.doy[t], lat_rad, ca=ca[t], psi_d=psi_d)
        e_t = math.exp(temp_sens * t_resp[t])
        phi_on, phi_off = phenology(clock[t], d_onset, c_ronset, d_fall, c_rfall, c_lspan,
                                    phenology_offset)

        # allocation: daily rates (section 3.4)
        ra = f_auto * gpp
        npp = (1.0 - f_auto) * gpp
        a_f = npp * f_fol
        a_lab = npp * (1.0 - f_fol) * f_lab
        a_r = npp * (1.0 - f_fol) * (1.0 - f_lab) * f_roo
        a_w = npp * (1.0 - f_fol) * (1.0 - f_lab) * (1.0 - f_roo)

        # losses over the step, g C m-2 (for dt == 1: k * C, section 3.5)
        labile_release = step_fraction(phi_on, dt) * c_lab
        leaf_fall = step_fraction(phi_off, dt) * c_f
        root_loss = step_fraction(theta_roo, dt) * c_r
        wood_loss = step_fraction(theta_woo, dt) * c_w
        if dt == 1.0:
            litter_resp = theta_lit * e_t * c_l
            litter_to_som = theta_min * e_t * c_l
        else:
            litter_loss = step_fraction((theta_lit + theta_min) * e_t, dt) * c_l
            litter_resp = theta_lit / (theta_lit + theta_min) * litter_loss
            litter_to_som = theta_min / (theta_lit + theta_min) * litter_loss
        som_resp = step_fraction(theta_som * e_t, dt) * c_s

        rh = (litter_resp + som_resp) / dt
        for name, value in (("gpp", gpp), ("ra", ra), ("rh", rh), ("rtot", ra + rh),
                            ("nee", -npp + rh), ("lai", lai), ("c_lab", c_lab),
                            ("c_fol", c_f), ("c_roo", c_r), ("c_woo", c_w), ("c_lit", c_l),
                            ("c_som", c_s), ("phi_onset", phi_on), ("phi_fall", phi_off)):
            out[name][t] = value

        c_lab, c_f, c_r, c_w, c_l, c_s = (
            c_lab - labile_release + a_lab * dt,
            c_f - leaf_fall + labile_release + a_f * dt,
            c_r - root_loss + a_r * dt,
            c_w - wood_loss + a_w * dt,
            c_l - litter_resp - litter_to_som + root_loss + leaf_fall,
            c_s - som_resp + wood_loss + litter_to_som,
        )
    out["day_length"] = day_length(drivers.doy, lat_rad)
    if final_state:
        out["final"] = np.array([c_lab, c_f, c_r, c_w, c_l, c_s])
    return out
