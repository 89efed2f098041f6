"""HYMOD in plain numpy/Python, written from the equations (Boyle 2000; SPOTPY's variant),
independently of the C kernel: the test oracle.

The soil is described by the critical capacity ``c`` (mm) of a Pareto distribution
``F(c) = 1 - (1 - c/cmax)^bexp``; the mean storage is ``S(c) = Smax (1 - (1 - c/cmax)^(b+1))``
with ``Smax = cmax/(b+1)``, inverted as ``c(S) = cmax (1 - (1 - S/Smax)^(1/(b+1)))``.
Reservoirs are written in SPOTPY's form: ``x <- (1-k)(x + u)``, outflow ``k/(1-k) x``.
"""
import numpy as np


def hymod_reference(precip, pet, cmax, bexp, alpha, ks, kq):
    """Return ``(discharge, soil, quick, slow, aet, routing_storage)`` arrays (mm, mm/day)."""
    b1 = bexp + 1.0
    smax = cmax / b1
    n = len(precip)
    out = np.zeros((6, n))
    storage = 0.0
    slow_store = 0.0
    quick_stores = np.zeros(3)
    for t in range(n):
        crit = cmax * (1.0 - abs(1.0 - storage / smax) ** (1.0 / b1))
        overflow = max(precip[t] + crit - cmax, 0.0)        # rain above cmax
        rain_in = precip[t] - overflow
        crit_new = min(crit + rain_in, cmax)
        storage_new = smax * (1.0 - abs(1.0 - crit_new / cmax) ** b1)
        runoff = max(rain_in - (storage_new - storage), 0.0)
        evap = pet[t] * storage_new / smax
        storage = max(storage_new - evap, 0.0)
        aet = storage_new - storage
        effective = overflow + runoff

        inflow = alpha * effective
        for i in range(3):
            quick_stores[i] = (1.0 - kq) * (quick_stores[i] + inflow)
            inflow = kq / (1.0 - kq) * quick_stores[i]
        slow_store = (1.0 - ks) * (slow_store + (1.0 - alpha) * effective)
        q_slow = ks / (1.0 - ks) * slow_store
        out[:, t] = (inflow + q_slow, storage, inflow, q_slow, aet,
                     slow_store + quick_stores.sum())
    return out
