"""A two-pool carbon model with a daily step, with its tangent linear and adjoint.

Each day ``t``, with fast and slow pools ``F`` and ``S`` (g m-2) at the start of the day::

    g  = eps * par_t                     gross primary production
    tf = q10 ** ((T_t - 15) / 10)        temperature factor
    rf = k_fast * tf * F                 fast-pool respiration
    rs = k_slow * tf * S                 slow-pool respiration
    F' = F + g - rf - h * F
    S' = S + h * F - rs

Outputs, each of shape ``(n_days,)``: ``gpp = g``, ``respiration = rf + rs``,
``nee = rf + rs - g``, ``c_fast = F'`` and ``c_slow = S'`` (pools at the end of day ``t``).

The tangent linear and the adjoint are derived by hand: one forward sweep stores the pool
trajectory, then one sweep (forward for the tangent, backward for the adjoint) propagates
the perturbation. Terms that do not depend on the pool perturbations are vectorised.
"""
from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from pdaframe.plugin import ConfigError, DataError, Model, ModelError, Parameter, read_columns

DEFAULT_N_DAYS = 730
DRIVER_COLUMNS = ("par", "temperature")
OUTPUTS = ("gpp", "respiration", "nee", "c_fast", "c_slow")


def seasonal_drivers(n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic seasonal drivers for ``n_days`` days from day 0.

    Parameters
    ----------
    n_days : int
        Number of days.

    Returns
    -------
    par : ndarray, shape (n_days,)
        ``max(0, 10 + 8 sin(2 pi (t - 80) / 365))``, MJ m-2 day-1.
    temperature : ndarray, shape (n_days,)
        ``10 + 10 sin(2 pi (t - 110) / 365)``, degC.
    """
    t = np.arange(n_days, dtype=float)
    par = np.maximum(0.0, 10.0 + 8.0 * np.sin(2.0 * np.pi * (t - 80.0) / 365.0))
    temperature = 10.0 + 10.0 * np.sin(2.0 * np.pi * (t - 110.0) / 365.0)
    return par, temperature


def read_drivers(path, n_days=None) -> tuple[np.ndarray, np.ndarray]:
    """Read daily drivers from a CSV file with a header and columns ``par,temperature``.

    Parameters
    ----------
    path : str or path-like
        The CSV file; one row per day; other columns are ignored.
    n_days : int, optional
        Expected number of rows.

    Returns
    -------
    par : ndarray, shape (n_days,)
        Photosynthetically active radiation, MJ m-2 day-1.
    temperature : ndarray, shape (n_days,)
        Air temperature, degC.

    Raises
    ------
    DataError
        The file is missing or empty, a column is missing, a row is ragged, a value is
        missing or not a finite number (naming the column and row), ``par`` is negative, or
        the row count differs from ``n_days``.
    """
    columns = read_columns(path, DRIVER_COLUMNS)        # names file, line and column
    for col, values in columns.items():
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise DataError(f"drivers file {path}: column {col!r} is missing or not a "
                            f"finite number in data row {bad[0] + 1} (counting from 1 after the "
                            f"header; {bad.size} bad row(s) in all)")
    negative = np.flatnonzero(columns["par"] < 0)
    if negative.size:
        raise DataError(f"drivers file {path}: column 'par' is negative "
                        f"({columns['par'][negative[0]]:g}) in data row {negative[0] + 1}")
    n_rows = columns["par"].size
    if n_days is not None and n_rows != n_days:
        raise DataError(f"drivers file {path}: {n_rows} data rows, but n_days={n_days}")
    return columns["par"], columns["temperature"]


def _check_n_days(n_days) -> int:
    if isinstance(n_days, bool) or not isinstance(n_days, Integral) or n_days < 1:
        raise ConfigError(f"toy-carbon: n_days must be a positive integer, got {n_days!r}")
    return int(n_days)


class ToyCarbon(Model):
    """Two-pool (fast, slow) carbon model with a daily step, light-use-efficiency GPP and
    Q10 respiration.

    Parameters
    ----------
    n_days : int, optional
        Number of days. Without ``drivers_file`` the default is 730 days of seasonal
        drivers (`seasonal_drivers`); with it, the file must have this many rows.
    drivers_file : str or path-like, optional
        CSV with a header line and columns ``par`` (MJ m-2 day-1) and ``temperature``
        (degC), one row per day (`read_drivers`).

    Attributes
    ----------
    par, temperature : ndarray, shape (n_days,)
        The daily drivers.
    n_steps : int
        The time axis of every output (``n_days`` days from day 0; no calendar dates), as
        the conformance suite (`pdaframe.plugin.ModelConformance`) reads it.

    Raises
    ------
    DataError
        Bad ``drivers_file``.
    ConfigError
        ``n_days`` is not a positive integer.

    Examples
    --------
    >>> model = ToyCarbon(n_days=365)
    >>> theta = np.array([p.default for p in model.parameters])
    >>> model.run(theta)["nee"].shape
    (365,)
    """

    parameters = (
        Parameter("eps", 1.2, lower=0.0, upper=5.0, std=0.3, units="g MJ-1",
                  long_name="light-use efficiency (carbon fixed per unit PAR)"),
        Parameter("k_fast", 0.02, lower=0.0, upper=0.5, std=0.005, units="day-1",
                  long_name="fast-pool turnover rate at 15 degC"),
        Parameter("k_slow", 0.0005, lower=0.0, upper=0.05, std=0.0002, units="day-1",
                  long_name="slow-pool turnover rate at 15 degC"),
        Parameter("h", 0.005, lower=0.0, upper=0.1, std=0.002, units="day-1",
                  long_name="fraction of the fast pool transferred to the slow pool per day"),
        Parameter("q10", 2.0, lower=1.0, upper=5.0, std=0.4, units="1",
                  long_name="respiration increase per 10 degC warming"),
        Parameter("c_fast0", 300.0, lower=0.0, upper=5000.0, std=100.0, units="g m-2",
                  long_name="initial fast carbon pool"),
        Parameter("c_slow0", 8000.0, lower=0.0, upper=50000.0, std=2000.0, units="g m-2",
                  long_name="initial slow carbon pool"),
    )
    output_units = {
        "gpp": "g m-2 day-1",           # gross primary production, carbon
        "respiration": "g m-2 day-1",   # heterotrophic respiration of both pools, carbon
        "nee": "g m-2 day-1",           # net ecosystem exchange, positive upward
        "c_fast": "g m-2",              # fast pool at the end of the day
        "c_slow": "g m-2",              # slow pool at the end of the day
    }

    def __init__(self, n_days=None, drivers_file=None):
        if drivers_file is None:
            self.par, self.temperature = seasonal_drivers(
                DEFAULT_N_DAYS if n_days is None else _check_n_days(n_days))
        else:
            self.par, self.temperature = read_drivers(
                drivers_file, None if n_days is None else _check_n_days(n_days))
        self.drivers_file = drivers_file
        self.n_days = self.par.size
        self._exponent = (self.temperature - 15.0) / 10.0    # tf = q10 ** exponent

    @property
    def n_steps(self) -> int:
        return self.n_days

    def __repr__(self):
        source = f"drivers_file={self.drivers_file!r}" if self.drivers_file is not None \
            else f"n_days={self.n_days}"
        return f"ToyCarbon({source})"

    # --- forward -----------------------------------------------------------------------------
    def _check_theta(self, theta) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        names = self.parameter_names
        if theta.shape != (len(names),):
            raise ModelError(f"toy-carbon: theta needs {len(names)} values {list(names)}, "
                             f"got shape {theta.shape}", theta=theta)
        for name, value in zip(names, theta):
            if not math.isfinite(value):
                raise ModelError(f"toy-carbon: parameter {name!r} is {value}", theta=theta)
        if theta[4] <= 0:
            raise ModelError(f"toy-carbon: q10 must be positive, got {theta[4]:g}", theta=theta)
        return theta

    def _sweep(self, theta):
        """Forward sweep: pools ``F``, ``S`` of shape ``(n_days + 1,)`` and the factors used."""
        theta = self._check_theta(theta)
        eps, k_fast, k_slow, h, q10, c_fast0, c_slow0 = theta
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
            tf = q10 ** self._exponent
            g = eps * self.par
            keep_f = 1.0 - h - k_fast * tf                  # F' = keep_f * F + g
            keep_s = 1.0 - k_slow * tf                      # S' = keep_s * S + h * F
        for pool, value in (("fast", c_fast0), ("slow", c_slow0)):
            if value < 0:
                raise ModelError(f"toy-carbon: initial {pool} pool is negative ({value:g} "
                                 f"g m-2)", theta=theta)
        f, s = float(c_fast0), float(c_slow0)
        pools_f, pools_s = [f], [s]
        for t, (kf, ks, gt) in enumerate(zip(keep_f.tolist(), keep_s.tolist(), g.tolist())):
            f, s = kf * f + gt, ks * s + h * f
            if not (0.0 <= f < math.inf and 0.0 <= s < math.inf):   # also catches NaN
                pool, value = ("fast", f) if not 0.0 <= f < math.inf else ("slow", s)
                raise ModelError(
                    f"toy-carbon: {pool} pool is {value:g} g m-2 at the end of day {t} "
                    f"(0-based, of {self.n_days}); pools empty when eps or a rate is "
                    f"negative or the daily loss k * q10**((T - 15)/10) + h exceeds 1",
                    theta=theta)
            pools_f.append(f)
            pools_s.append(s)
        return theta, np.array(pools_f), np.array(pools_s), tf, keep_f, keep_s

    def run(self, theta):
        """Run the model.

        Parameters
        ----------
        theta : array_like, shape (7,)
            ``eps, k_fast, k_slow, h, q10, c_fast0, c_slow0`` (see ``parameters``).

        Returns
        -------
        dict of ndarray, each shape (n_days,)
            ``gpp``, ``respiration``, ``nee``, ``c_fast``, ``c_slow`` (see ``output_units``).

        Raises
        ------
        ModelError
            ``theta`` has the wrong length, is not finite, or a pool becomes negative or
            non-finite (the message names the pool and the day).
        """
        theta, pools_f, pools_s, tf, _, _ = self._sweep(theta)
        eps, k_fast, k_slow = theta[:3]
        gpp = eps * self.par
        respiration = tf * (k_fast * pools_f[:-1] + k_slow * pools_s[:-1])
        return {"gpp": gpp, "respiration": respiration, "nee": respiration - gpp,
                "c_fast": pools_f[1:], "c_slow": pools_s[1:]}

    # --- derivatives ------------------------------------------------------------------------
    def tangent(self, theta, dtheta):
        """Tangent linear: the outputs' derivative along ``dtheta``.

        Parameters
        ----------
        theta : array_like, shape (7,)
            Point of linearisation.
        dtheta : array_like, shape (7,)
            Parameter perturbation.

        Returns
        -------
        dict of ndarray, each shape (n_days,)
            ``J_name @ dtheta`` for each output of `run`.
        """
        theta, pools_f, pools_s, tf, keep_f, keep_s = self._sweep(theta)
        dtheta = self._check_dtheta(dtheta)
        eps, k_fast, k_slow, h, q10 = theta[:5]
        d_eps, d_kf, d_ks, d_h, d_q10, d_f0, d_s0 = dtheta
        f, s = pools_f[:-1], pools_s[:-1]
        d_tf = tf * self._exponent * (d_q10 / q10)
        d_gpp = d_eps * self.par
        # parts of drf, drs that do not depend on the pool perturbations dF, dS
        drf_0 = (d_kf * tf + k_fast * d_tf) * f
        drs_0 = (d_ks * tf + k_slow * d_tf) * s
        # dF' = keep_f dF + (dg - drf_0 - dh F),  dS' = keep_s dS + h dF + (dh F - drs_0)
        force_f = (d_gpp - drf_0 - d_h * f).tolist()
        force_s = (d_h * f - drs_0).tolist()
        df, ds = [float(d_f0)], [float(d_s0)]
        a, b = df[0], ds[0]
        for kf, ks, ff, fs in zip(keep_f.tolist(), keep_s.tolist(), force_f, force_s):
            a, b = kf * a + ff, ks * b + h * a + fs
            df.append(a)
            ds.append(b)
        df, ds = np.array(df), np.array(ds)
        d_resp = drf_0 + drs_0 + tf * (k_fast * df[:-1] + k_slow * ds[:-1])
        return {"gpp": d_gpp, "respiration": d_resp, "nee": d_resp - d_gpp,
                "c_fast": df[1:], "c_slow": ds[1:]}

    def adjoint(self, theta, d_outputs):
        """Adjoint: the vector-Jacobian product ``sum_name J_name.T @ d_outputs[name]``.

        Parameters
        ----------
        theta : array_like, shape (7,)
            Point of linearisation.
        d_outputs : mapping of str to array_like, each shape (n_days,)
            Sensitivities of the outputs; missing outputs have zero sensitivity.

        Returns
        -------
        ndarray, shape (7,)
            Gradient with respect to ``theta``.

        Raises
        ------
        ModelError
            ``d_outputs`` names an unknown output or has a wrongly shaped array.
        """
        theta, pools_f, pools_s, tf, keep_f, keep_s = self._sweep(theta)
        eps, k_fast, k_slow, h, q10 = theta[:5]
        bar = self._check_d_outputs(d_outputs)
        f, s = pools_f[:-1], pools_s[:-1]
        bar_g_out = bar["gpp"] - bar["nee"]              # output part of the adjoint of g
        bar_r_out = bar["respiration"] + bar["nee"]      # ... of rf and of rs
        # backward sweep: lf, ls = adjoints of F_{t+1}, S_{t+1} (outputs plus later days)
        from_rf = (k_fast * tf * bar_r_out).tolist()
        from_rs = (k_slow * tf * bar_r_out).tolist()
        steps = zip(bar["c_fast"].tolist(), bar["c_slow"].tolist(), keep_f.tolist(),
                    keep_s.tolist(), from_rf, from_rs)
        lam_f, lam_s = [], []
        lf = ls = 0.0
        for bar_cf, bar_cs, kf, ks, rf, rs in reversed(list(steps)):
            lf += bar_cf
            ls += bar_cs
            lam_f.append(lf)
            lam_s.append(ls)
            lf, ls = kf * lf + h * ls + rf, ks * ls + rs
        lam_f, lam_s = np.array(lam_f[::-1]), np.array(lam_s[::-1])
        bar_g = bar_g_out + lam_f
        bar_rf = bar_r_out - lam_f
        bar_rs = bar_r_out - lam_s
        bar_tf = k_fast * bar_rf * f + k_slow * bar_rs * s
        return np.array([
            bar_g @ self.par,                                   # eps
            (bar_rf * tf) @ f,                                  # k_fast
            (bar_rs * tf) @ s,                                  # k_slow
            (lam_s - lam_f) @ f,                                # h
            (bar_tf * tf) @ self._exponent / q10,               # q10
            lf,                                                 # c_fast0
            ls,                                                 # c_slow0
        ])

    def _check_dtheta(self, dtheta) -> np.ndarray:
        dtheta = np.asarray(dtheta, dtype=float)
        if dtheta.shape != (len(self.parameters),):
            raise ModelError(f"toy-carbon: dtheta needs {len(self.parameters)} values, got "
                             f"shape {dtheta.shape}")
        return dtheta

    def _check_d_outputs(self, d_outputs) -> dict[str, np.ndarray]:
        unknown = sorted(set(d_outputs) - set(OUTPUTS))
        if unknown:
            raise ModelError(f"toy-carbon adjoint: unknown output(s) {unknown}; the outputs "
                             f"are {list(OUTPUTS)}")
        bar = {}
        for name in OUTPUTS:
            value = d_outputs.get(name)
            bar[name] = np.zeros(self.n_days) if value is None else \
                np.asarray(value, dtype=float)
            if bar[name].shape != (self.n_days,):
                raise ModelError(f"toy-carbon adjoint: d_outputs[{name!r}] has shape "
                                 f"{bar[name].shape}, expected ({self.n_days},)")
        return bar
