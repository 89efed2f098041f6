"""pdaframe-hymod: the HYMOD rainfall-runoff model (C kernel wrapped with cffi).

Registered as ``"hymod"``::

    import pdaframe
    model = pdaframe.get_model("hymod")                  # bundled SPOTPY data, 2012-2016
    out = model.run(model.defaults)                      # discharge, discharge_ls, ...
"""
from .forcing import Forcing, bundled_file, read_forcing
from .kernel import run_kernel
from .model import MM_DAY_TO_LS, OUTPUTS, PARAMETERS, Hymod

__version__ = "0.1.0"

__all__ = ["Forcing", "Hymod", "MM_DAY_TO_LS", "OUTPUTS", "PARAMETERS", "bundled_file",
           "read_forcing", "run_kernel"]
