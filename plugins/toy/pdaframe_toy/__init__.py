"""pdaframe-toy: a two-pool carbon model, the template for pdaframe model plugins.

The model is registered as ``"toy-carbon"``::

    import pdaframe
    model = pdaframe.get_model("toy-carbon", n_days=365)
"""
from .model import ToyCarbon

__version__ = "0.1.0"

__all__ = ["ToyCarbon"]
