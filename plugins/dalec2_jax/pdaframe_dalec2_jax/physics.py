"""DALEC2 in JAX: the equations of one step and the whole run, written from the spec.

Reference: ``shared/reference/dalec2.md`` sections 2-3 (equations), 6 (variants). Pools
``c = (C_lab, C_fol, C_roo, C_woo, C_lit, C_som)`` at the start of the step; ``theta`` in the
order of section 4 (0-based: ``theta[0]`` theta_min ... ``theta[16]`` c_lma, then the six
initial pools). A loss with daily fraction ``k`` removes ``1 - (1 - k)**dt`` of a pool over a
step of ``dt`` days (``k`` itself when ``dt == 1``: P16 exactly); gains are daily rates times
``dt``; fluxes are daily-mean rates over the step.

No derivative is written here: `pdaframe.plugin.JaxModel` differentiates `run` with
``jax.jvp`` / ``jax.vjp``. Everything is float64 (the model enables x64 before tracing).
Driver-only terms (day length, canopy conductance g_c, kappa = exp(a8 T_max) / g_c) are
computed once per model with numpy in `driver_terms`.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

# ACM coefficients (REFLEX set), spec 3.1: a2 .. a10; hydraulic resistance R_tot
A2, A3, A4, A5, A6 = 0.0156935, 4.22273, 208.868, 0.0453194, 0.37836
A7, A8, A9, A10 = 7.19298, 0.011136, 2.1001, 0.789798
R_TOT = 1.0
# phenology, spec 3.3
S_F = 365.25 / math.pi
POLY = (2.359978471e-05, 3.32730053021e-04, 9.01865258885e-04, -5.437736864888e-03,
        -2.0836027517787e-02, 1.26972018064287e-01, -1.88459767342504e-01)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
SQRT_HALF = math.sqrt(0.5)
PSI_ON = 0.5 * (math.log(1.001) - math.log(0.001))


def driver_terms(doy, t_min, t_max, latitude_deg, psi_d):
    """Day length (hours), g_c and kappa per step (spec 3.1), numpy, once per model."""
    decl = -23.4 * np.cos((360.0 * (doy + 10.0) / 365.0) * np.pi / 180.0) * np.pi / 180.0
    m = math.tan(math.radians(latitude_deg)) * np.tan(decl)
    hours = np.where(m >= 1.0, 24.0, np.where(m <= -1.0, 0.0,
                                               24.0 * np.arccos(np.clip(-m, -1, 1)) / np.pi))
    g_c = abs(psi_d) ** A10 / (A6 * R_TOT + 0.5 * (t_max - t_min))
    kappa = np.exp(A8 * t_max) / g_c
    return hours, g_c, kappa


def _poly(z):
    """Offset polynomial P(z) of spec 3.3 (Horner)."""
    p = POLY[0]
    for c in POLY[1:]:
        p = p * z + c
    return p


def phenology_constants(theta, cardamom_offset):
    """Width w, offset polynomial P and amplitude of labile release (on) and leaf fall
    (off), from ``theta``; ``cardamom_offset`` evaluates P at ln(0.001), ln(c_lspan - 1)
    instead of P16's 1.001, c_lspan."""
    c_lspan = theta[4]
    if cardamom_offset:
        p_on, p_off = _poly(math.log(0.001)), _poly(jnp.log(c_lspan - 1.0))
    else:
        p_on, p_off = _poly(1.001), _poly(c_lspan)
    w_on = theta[13] * SQRT_HALF
    w_off = theta[15] * SQRT_HALF
    psi_off = 0.5 * (jnp.log(c_lspan) - jnp.log(c_lspan - 1.0))
    return {"w_on": w_on, "p_on": p_on, "amp_on": TWO_OVER_SQRT_PI * PSI_ON / w_on,
            "w_off": w_off, "p_off": p_off, "amp_off": TWO_OVER_SQRT_PI * psi_off / w_off}


def release(d, d0, w, p, amp):
    """Phenology release fraction Phi(d) = amp exp(-S^2), S = sin((d - d0 + P w)/s_f) s_f/w."""
    s = jnp.sin((d - d0 + p * w) / S_F) * S_F / w
    return amp * jnp.exp(-s * s)


def acm(lai, c_eff, f):
    """Aggregated Canopy Model GPP (spec 3.1); ``f`` holds the step's drivers and terms."""
    pp = c_eff * lai * f["kappa"]
    q = A3 - A4
    b = f["co2"] + q - pp
    c_i = 0.5 * (b + jnp.sqrt(b * b - 4.0 * (f["co2"] * q - pp * A3)))
    l2 = lai * lai
    e0 = A7 * l2 / (l2 + A9)
    v = e0 * f["sw"]                                  # light-limited rate
    u = f["g_c"] * (f["co2"] - c_i)                   # CO2-diffusion-limited rate
    vu = v + u
    w = A2 * f["hours"] + A5
    return jnp.where(vu != 0.0, w * v * u / jnp.where(vu != 0.0, vu, 1.0), 0.0)


def loss(k, dt, daily):
    """Fraction of a pool lost over ``dt`` days at daily fraction ``k`` (``k`` when daily)."""
    if daily:
        return k
    return jnp.where(dt == 1.0, k, -jnp.expm1(dt * jnp.log1p(-k)))


def rates(theta, f, daily, cardamom_offset):
    """Everything of each step that does not depend on the pools, for all steps at once:
    ``(r, phi_on, phi_off)``, r holding E_T, the loss fractions and the litter factor rho
    (litter loss = rho k_lit C_lit), and the daily phenology fractions Phi_on, Phi_off."""
    ph = phenology_constants(theta, cardamom_offset)
    dt = f["dt"]
    e_t = jnp.exp(theta[9] * f["temp"])
    phi_on = release(f["day"], theta[11], ph["w_on"], ph["p_on"], ph["amp_on"])
    phi_off = release(f["day"], theta[14], ph["w_off"], ph["p_off"], ph["amp_off"])
    ones = jnp.ones_like(dt)
    r = {"e_t": e_t, "l_on": loss(phi_on, dt, daily), "l_off": loss(phi_off, dt, daily),
         "l_roo": loss(theta[6] * ones, dt, daily), "l_woo": loss(theta[5] * ones, dt, daily),
         "l_som": loss(theta[8] * e_t, dt, daily)}
    if daily:
        r["rho"] = ones
    else:
        k_lit = (theta[7] + theta[0]) * e_t
        safe = jnp.where(k_lit == 0.0, 1.0, k_lit)
        r["rho"] = jnp.where(dt == 1.0, 1.0, jnp.where(k_lit == 0.0, dt,
                                                       loss(safe, dt, False) / safe))
    return r, phi_on, phi_off


def step(c, f, r, theta):
    """One step: ``(pools at its end, (GPP, pools at its start))``; ``f`` and ``r`` hold
    the step's drivers and `rates`."""
    c_lab, c_fol, c_roo, c_woo, c_lit, c_som = c
    dt = f["dt"]
    gpp = acm(c_fol / theta[16], theta[10], f)
    # allocation of NPP (daily rates): each fraction of what is left; a hybrid model
    # (`pdaframe_dalec2_jax.hybrid`) puts a per-step f_auto in r
    npp = (1.0 - (r["f_auto"] if "f_auto" in r else theta[1])) * gpp
    a_fol = npp * theta[2]
    rest = npp * (1.0 - theta[2])
    a_lab = rest * theta[12]
    rest2 = rest * (1.0 - theta[12])
    a_roo = rest2 * theta[3]
    a_woo = rest2 * (1.0 - theta[3])
    # heterotrophic losses over the step; litter split theta_lit : theta_min
    q = r["e_t"] * c_lit * r["rho"]
    min_l = theta[0] * q
    new = (c_lab - r["l_on"] * c_lab + a_lab * dt,
           c_fol - r["l_off"] * c_fol + r["l_on"] * c_lab + a_fol * dt,
           c_roo - r["l_roo"] * c_roo + a_roo * dt,
           c_woo - r["l_woo"] * c_woo + a_woo * dt,
           c_lit - theta[7] * q - min_l + r["l_roo"] * c_roo + r["l_off"] * c_fol,
           c_som - r["l_som"] * c_som + r["l_woo"] * c_woo + min_l)
    return new, (gpp, c)


def scan(theta, forcing, r, unroll=1):
    """The pools' recursion: ``(pools after the last step, (GPP, pools at each step's
    start))`` from the initial pools ``theta[17:]``."""
    pools = tuple(theta[17 + i] for i in range(6))
    return jax.lax.scan(lambda c, x: step(c, x[0], x[1], theta), pools, (forcing, r),
                        unroll=unroll)


def run(theta, forcing, daily, cardamom_offset, unroll=1, f_auto=None):
    """The whole run: ``{output: array (n,)}`` from ``theta`` (23,) and the per-step
    ``forcing`` (day, temp, sw, dt, co2, hours, g_c, kappa). Only the pools' recursion and
    GPP (which needs the foliage) are scanned; the rest is computed for all steps at once.
    ``f_auto`` (n,), when given, replaces the constant ``theta[1]`` (a hybrid model's)."""
    r, phi_on, phi_off = rates(theta, forcing, daily, cardamom_offset)
    if f_auto is not None:
        r["f_auto"] = f_auto
    _, (gpp, c) = scan(theta, forcing, r, unroll)
    c_lab, c_fol, c_roo, c_woo, c_lit, c_som = c
    f_a = theta[1] if f_auto is None else f_auto
    ra = f_a * gpp
    rh = (theta[7] * (r["e_t"] * c_lit * r["rho"]) + r["l_som"] * c_som) / forcing["dt"]
    return {"gpp": gpp, "ra": ra, "rh": rh, "rtot": ra + rh,
            "nee": -((1.0 - f_a) * gpp) + rh, "lai": c_fol / theta[16],
            "c_lab": c_lab, "c_fol": c_fol, "c_roo": c_roo, "c_woo": c_woo, "c_lit": c_lit,
            "c_som": c_som, "day_length": jnp.asarray(forcing["hours"]), "phi_onset": phi_on,
            "phi_fall": phi_off}


def end_state(theta, forcing, daily, cardamom_offset, unroll=1, f_auto=None):
    """The pools after the last step, shape (6,) (as `run`'s arguments)."""
    r, _, _ = rates(theta, forcing, daily, cardamom_offset)
    if f_auto is not None:
        r["f_auto"] = f_auto
    return jnp.stack(scan(theta, forcing, r, unroll)[0])
