"""Hook implementation of pdaframe-hymod, found through the ``pdaframe`` entry point."""
from pdaframe.plugin import hookimpl

from .model import Hymod


@hookimpl
def pdaframe_register_models(registry):
    registry.add("hymod", Hymod)
