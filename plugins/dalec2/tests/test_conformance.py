"""The pdaframe conformance suite on DALEC2 (built by its registered name) over the bundled
real drivers: US-Me2 daily (P16, 2004-2007) and DE-Hai monthly (CARDAMOM)."""
from pdaframe.plugin import ModelConformance


class TestDalec2UsMe2(ModelConformance):
    model = "dalec2"
    options = {"site": "US-Me2", "start": "2004-01-01", "end": "2007-12-31"}


class TestDalec2DeHaiCardamom(ModelConformance):
    model = "dalec2"
    options = {"site": "DE-Hai", "variant": "CARDAMOM"}
