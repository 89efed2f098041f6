"""Pieces of `pdaframe.batch`: per-site seeds, placeholder filling, task shares and which
lock shares may run together."""
import numpy as np
import pytest

from pdaframe.batch.lock import conflicts, lock_name
from pdaframe.batch.spec import _fill, site_seed, task_sites


def test_site_seeds_are_fixed_distinct_and_in_range():
    assert site_seed(7, "s00") == site_seed(7, "s00")
    seeds = {site_seed(7, f"s{k:04d}") for k in range(2000)}
    assert len(seeds) == 2000 and all(0 <= s < 2 ** 63 for s in seeds)
    assert site_seed(7, "s00") != site_seed(8, "s00")
    # the documented derivation: SeedSequence([seed, crc32(name)]), top bit dropped
    import zlib
    state = np.random.SeedSequence([7, zlib.crc32(b"s00")]).generate_state(1, np.uint64)[0]
    assert site_seed(7, "s00") == int(state) >> 1


def test_placeholders_fill_numbers_text_and_literal_braces():
    row = {"site": "US-Me2", "pft": "evergreen", "lat": 44.4523, "elevation": 1253.0}
    data = {"a": "{lat}", "b": "drivers/{site}_{pft}.csv", "c": "z{elevation}",
            "d": ["{elevation}", "{{site}}", 3], "e": {"f": " {lat}"}, "g": "{pft}"}
    out = _fill(data, row, "")
    assert out == {"a": 44.4523, "b": "drivers/US-Me2_evergreen.csv", "c": "z1253",
                   "d": [1253.0, "{site}", 3], "e": {"f": " 44.4523"}, "g": "evergreen"}
    assert isinstance(out["a"], float)


def test_task_shares_interleave_and_cover_every_site_once():
    sites = [f"s{k}" for k in range(10)]
    shares = [task_sites(sites, (i, 3)) for i in (1, 2, 3)]
    assert shares[0] == ["s0", "s3", "s6", "s9"] and shares[1] == ["s1", "s4", "s7"]
    assert sorted(sum(shares, [])) == sorted(sites)
    assert task_sites(sites, None) == sites


@pytest.mark.parametrize("a, b, clash", [
    ("all", "all", True), ("all", (1, 2), True), ((1, 2), (2, 2), False),
    ((1, 2), (1, 2), True), ((1, 2), (1, 3), True), ("merge", (1, 2), True),
    ("merge", "all", True),
])
def test_which_shares_may_run_together(a, b, clash):
    assert conflicts(a, b) is clash and conflicts(b, a) is clash


def test_lock_names():
    assert lock_name("all") == "all.lock" and lock_name((3, 8)) == "task-3-of-8.lock"
