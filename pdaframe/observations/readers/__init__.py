"""Observation readers: files in the formats flux and satellite data come in -> a stream's
dates, values and errors, with a record of what was read and rejected.

A reader is a registered piece (hook ``pdaframe_register_readers``, like models and
operators) chosen in a ``[[streams]]`` table by ``reader = "fluxnet"`` with
``reader_options = {...}``. It is called as ``reader(path, **options)`` and returns a
`ReadResult`. Built in:

* ``fluxnet`` (`fluxnet.read_fluxnet`): FLUXNET2015 / ONEFlux FULLSET and AmeriFlux-FLUXNET
  CSVs (DD/WW/MM/YY as they are, HH/HR averaged to days), ``_QC`` rule, ``_JOINTUNC`` /
  ``_RANDUNC`` as σ, unit conversion.
* ``modis`` (`modis.read_modis`): MODIS LAI/FPAR subsets (ORNL DAAC subset CSV and the
  older ORNL ASCII subset), ``FparLai_QC`` bits decoded, scale factor applied.
"""
from .common import ReadResult, UMOL_TO_GC_DAY, convert_units, reader_options
from .fluxnet import read_fluxnet
from .modis import read_modis

#: The built-in readers, as registered by `pdaframe.builtin`: name -> ``reader(path, **options)``.
READERS = {"fluxnet": read_fluxnet, "modis": read_modis}

__all__ = ["READERS", "ReadResult", "UMOL_TO_GC_DAY", "convert_units", "read_fluxnet",
           "read_modis", "reader_options"]
