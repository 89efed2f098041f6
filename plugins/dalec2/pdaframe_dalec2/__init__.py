"""pdaframe-dalec2: the DALEC2 carbon model (Fortran kernel, tangent linear and adjoint).

The model is registered as ``"dalec2"``::

    import pdaframe
    from pdaframe_dalec2 import Drivers
    model = pdaframe.get_model("dalec2", drivers=drivers)              # P16 variant
    model = pdaframe.get_model("dalec2", drivers=drivers, variant="CARDAMOM")

See `Dalec2` for the switches and `PARAMETERS` for the 23 parameters and initial pools.
"""
from .drivers import Drivers
from .model import OUTPUTS, VARIANTS, Dalec2
from .parameters import PARAMETER_NAMES, PARAMETERS

__version__ = "0.1.0"

__all__ = ["Dalec2", "Drivers", "OUTPUTS", "PARAMETERS", "PARAMETER_NAMES", "VARIANTS"]
