"""The 23 DALEC2 control variables: 17 parameters and 6 initial carbon pools.

Order, meaning, bounds and prior are those of DALEC2 as coded for Pinnington et al. (2016)
(reference spec ``shared/reference/dalec2.md`` section 4): ``default`` is the background xb
(P16 ``edinburgh_median``), ``lower``/``upper`` are the P16 ``bnds`` and ``std`` is the square
root of the diagonal of the P16 background-error covariance B (``b_edc.p``).
"""
from __future__ import annotations

from pdaframe.plugin import Parameter

PARAMETERS = (
    Parameter("theta_min", 2.29180076e-4, 1e-5, 1e-2, 1.38117e-3, "day-1",
              "rate of litter mineralisation to soil organic matter (theta_min)"),
    Parameter("f_auto", 5.31804031e-1, 0.3, 0.7, 9.00639e-2, "1",
              "fraction of GPP respired autotrophically (f_auto)"),
    Parameter("f_fol", 6.69448981e-2, 0.01, 0.5, 7.35845e-2, "1",
              "fraction of NPP allocated to foliage (f_fol)"),
    Parameter("f_roo", 4.46049258e-1, 0.01, 0.5, 9.73022e-2, "1",
              "fraction of the remaining NPP allocated to fine roots (f_roo)"),
    Parameter("c_lspan", 1.18143120, 1.0001, 10.0, 8.80799e-2, "1",
              "leaf lifespan factor, > 1 (c_lspan)"),
    Parameter("theta_woo", 5.31584216e-5, 2.5e-5, 1e-3, 9.2163e-5, "day-1",
              "turnover rate of wood (theta_woo)"),
    Parameter("theta_roo", 2.25487423e-3, 1e-4, 1e-2, 1.9441e-3, "day-1",
              "turnover rate of fine roots (theta_roo)"),
    Parameter("theta_lit", 2.44782152e-3, 1e-4, 1e-2, 2.25806e-3, "day-1",
              "litter respiration (mineralisation) rate (theta_lit)"),
    Parameter("theta_som", 7.71092378e-5, 1e-7, 1e-3, 8.69286e-5, "day-1",
              "soil organic matter respiration (mineralisation) rate (theta_som)"),
    Parameter("theta", 3.82591095e-2, 0.018, 0.08, 1.37943e-2, "degC-1",
              "temperature sensitivity of decomposition, E_T = exp(theta T) (Theta)"),
    Parameter("c_eff", 7.47751776e1, 10.0, 100.0, 17.2753, "g m-2 day-1",
              "canopy efficiency, ACM parameter a1 (C_eff; unit as in the Edinburgh code, "
              "unverified)"),
    Parameter("d_onset", 1.16238252e2, 1.0, 365.0, 6.18613, "day",
              "day of labile carbon release, on the phenology clock (d_onset)"),
    Parameter("f_lab", 3.26252225e-1, 0.01, 0.5, 8.16378e-2, "1",
              "fraction of the remaining NPP allocated to the labile pool (f_lab)"),
    Parameter("c_ronset", 4.18554035e1, 10.0, 100.0, 12.9592, "day",
              "duration of labile carbon release (c_ronset)"),
    Parameter("d_fall", 2.27257813e2, 1.0, 365.0, 17.0988, "day",
              "day of leaf fall, on the phenology clock (d_fall)"),
    # P16's bnds cap c_rfall at 100 although its own xb is 120.9; its bnds_tst (150) is used
    Parameter("c_rfall", 1.20915004e2, 10.0, 150.0, 20.4849, "day",
              "duration of leaf fall (c_rfall)"),
    Parameter("c_lma", 1.15533213e2, 10.0, 400.0, 44.535, "g m-2",
              "leaf carbon mass per leaf area (c_lma)"),
    Parameter("c_lab0", 1.27804720e2, 10.0, 1000.0, 48.5336, "g m-2",
              "initial labile carbon (C_lab,0)"),
    Parameter("c_fol0", 6.02259491e1, 10.0, 1000.0, 30.7346, "g m-2",
              "initial foliar carbon (C_fol,0)"),
    Parameter("c_roo0", 2.09997016e2, 10.0, 1000.0, 168.846, "g m-2",
              "initial fine-root carbon (C_roo,0)"),
    Parameter("c_woo0", 4.22672530e3, 100.0, 1e5, 5333.08, "g m-2",
              "initial wood carbon (C_woo,0)"),
    Parameter("c_lit0", 3.67801053e2, 10.0, 1000.0, 264.252, "g m-2",
              "initial litter carbon (C_lit,0)"),
    Parameter("c_som0", 1.62565304e3, 100.0, 2e5, 1083.42, "g m-2",
              "initial soil organic matter carbon (C_som,0)"),
)
"""The parameter table, in the order of ``theta``."""

PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)

__all__ = ["PARAMETERS", "PARAMETER_NAMES"]
