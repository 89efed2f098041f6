"""Batch inversions: one independent calibration per site of a site table (CARDAMOM
style), serially, over MPI ranks or as the tasks of a job array; restartable per site and
merged into one dataset (and a map for grid cells).

* `spec`: the ``[batch]`` config, placeholders, per-site configs and seeds, task shares;
* `checks`: every site's files and config, before any model run;
* `lock`: who runs in an output folder;
* `runner`: `run_batch` and the per-site folders;
* `merge`: `merge_batch` (``batch.nc``, ``batch_map.nc``, map plots).
"""
from .merge import merge_batch
from .runner import BatchRun, run_batch
from .spec import Batch, is_batch_config, load_batch, parse_task, site_config, site_seed

__all__ = ["Batch", "BatchRun", "is_batch_config", "load_batch", "merge_batch",
           "parse_task", "run_batch", "site_config", "site_seed"]
