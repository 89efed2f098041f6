"""Thin wrapper of the C kernel ``hymod_run`` (``native/hymod``, cffi API mode)."""
from __future__ import annotations

import numpy as np

from pdaframe.plugin import ModelError

from ._hymod_cffi import ffi, lib

N_OUT = lib.HYMOD_NOUT
"""Columns of the kernel output: discharge, soil moisture, quick flow, slow flow, actual ET,
routing storage."""

PARAMETER_ORDER = ("cmax", "bexp", "alpha", "ks", "kq")


def call_kernel(precip, pet, theta, out):
    """One call of ``hymod_run``, unchecked: the caller passes C-contiguous float64 arrays
    ``precip``, ``pet`` (shape ``(n,)``), ``theta`` (``(5,)``) and ``out`` (``(n, 6)``).

    Returns
    -------
    tuple
        ``(status, err)``: the kernel's status (``HYMOD_OK`` = 0) and its error struct,
        explained by `status_text`.
    """
    err = ffi.new("hymod_error *")
    dbl = "double *"
    status = lib.hymod_run(precip.size, ffi.from_buffer(dbl, precip), ffi.from_buffer(dbl, pet),
                           ffi.from_buffer(dbl, theta), ffi.from_buffer(dbl, out), err)
    return status, err


def status_text(status, err, n) -> str:
    """What a failing ``(status, err)`` of `call_kernel` means: the parameter (name and value)
    or the forcing day (index and value) out of range, or the length ``n``."""
    what = ffi.string(err.message).decode()
    if status == lib.HYMOD_ERR_PARAM:
        where = f"parameter {PARAMETER_ORDER[err.index]}={err.value!r}"
    elif status == lib.HYMOD_ERR_FORCING:
        where = f"forcing day {err.index} (value {err.value!r})"
    else:
        where = f"n={n}"
    return f"{where}: {what}"


def run_kernel(precip, pet, theta) -> np.ndarray:
    """Run HYMOD over the whole forcing in one C call.

    Parameters
    ----------
    precip, pet : array_like, shape (n,)
        Precipitation and potential ET, mm/day.
    theta : array_like, shape (5,)
        ``cmax bexp alpha ks kq``.

    Returns
    -------
    ndarray, shape (n, 6)
        Columns as in `N_OUT`.

    Raises
    ------
    ModelError
        The kernel rejected the input: a forcing value (day and value named) or a
        parameter (name and value) out of range, or mismatched shapes.
    """
    precip = np.ascontiguousarray(precip, dtype=np.float64)
    pet = np.ascontiguousarray(pet, dtype=np.float64)
    theta = np.ascontiguousarray(theta, dtype=np.float64)
    if precip.ndim != 1 or pet.shape != precip.shape or theta.shape != (lib.HYMOD_NPARAM,):
        raise ModelError(f"hymod: need precip and pet of one shape (n,) and theta of shape "
                         f"(5,); got {precip.shape}, {pet.shape}, {theta.shape}", theta)
    out = np.empty((precip.size, N_OUT))
    status, err = call_kernel(precip, pet, theta, out)
    if status != lib.HYMOD_OK:
        raise ModelError(f"hymod kernel: {status_text(status, err, precip.size)}", theta)
    return out
