"""The pdaframe conformance suite on toy-carbon, built by its registered name as a config
would (needs ``pip install -e plugins/toy``): parameter table, outputs, determinism, failing
runs, tangent (Taylor, per output), adjoint (dot product), twin cost gradient."""
from pdaframe.plugin import ModelConformance


class TestToyCarbon(ModelConformance):
    model = "toy-carbon"


class TestToyCarbonShortRun(ModelConformance):
    model = "toy-carbon"
    options = {"n_days": 30}
