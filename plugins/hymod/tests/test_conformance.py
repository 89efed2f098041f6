"""The pdaframe conformance suite on HYMOD (built by its registered name): HYMOD has no
tangent or adjoint, so the three derivative checks are skipped ("no tangent/adjoint")."""
from pdaframe.plugin import ModelConformance


class TestHymod(ModelConformance):
    model = "hymod"


class TestHymodWarmup(ModelConformance):
    model = "hymod"
    options = {"warmup": 366}
