"""pdaframe-dalec2-jax: DALEC2 written in JAX, derivatives by JAX (registered "dalec2-jax").

The same model, options and drivers as ``"dalec2"`` (pdaframe-dalec2, whose drivers, readers,
parameter table and option checks it uses), the run written once in JAX
(`pdaframe_dalec2_jax.physics`) and differentiated by `pdaframe.plugin.JaxModel`::

    import pdaframe
    model = pdaframe.get_model("dalec2-jax", site="US-Me2", start="2004-01-01",
                               end="2007-12-31")
    g = model.adjoint(model.defaults, {"nee": model.run(model.defaults)["nee"]})

``"dalec2-hybrid"`` (`Dalec2Hybrid`) is DALEC2 with a neural-network temperature response
of autotrophic respiration whose weights are parameters (`pdaframe_dalec2_jax.hybrid`).

Needs JAX: ``pip install "pdaframe[jax]"``.
"""
from .hybrid import Dalec2Hybrid
from .model import Dalec2Jax

__version__ = "0.1.0"

__all__ = ["Dalec2Hybrid", "Dalec2Jax"]
