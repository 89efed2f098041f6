"""Hook implementations of pdaframe-toy, found through the ``pdaframe`` entry point."""
from pdaframe.plugin import hookimpl

from .model import ToyCarbon


@hookimpl
def pdaframe_register_models(registry):
    registry.add("toy-carbon", ToyCarbon)
