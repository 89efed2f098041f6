"""The 23 DALEC2 control variables: 17 parameters and 6 initial carbon pools.

The table is ``parameters.toml`` next to this module (name, default, bounds, prior std,
units and description of each, in the order of ``theta``; see
`pdaframe.plugin.load_parameter_table`). Order, meaning, bounds and prior are those of DALEC2
as coded for Pinnington et al. (2016) (reference spec ``shared/reference/dalec2.md`` section
4): ``default`` is the background xb (P16 ``edinburgh_median``), ``lower``/``upper`` are the
P16 ``bnds`` and ``std`` is the square root of the diagonal of the P16 background-error
covariance B (``b_edc.p``).
"""
from __future__ import annotations

from pathlib import Path

from pdaframe.plugin import load_parameter_table

PARAMETERS = load_parameter_table(Path(__file__).with_name("parameters.toml"))
"""The parameter table, in the order of ``theta``."""

PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)

__all__ = ["PARAMETERS", "PARAMETER_NAMES"]
