"""Files out, and checkpoints (the CSV reader of inputs is `pdaframe.tables`, used by the
core, the config and the plugins).

* `netcdf`, `ensembles`, `samples`, `analysis`: writing results (NetCDF, provenance).
* `cf_time`: observation times as CF time coordinates (dates when the model has them).
* `provenance`: dependency versions and the sha256 of every data file a config names.
* `output`: output folders (claiming, run ids, rescue of a result that cannot be written).
* `atomic`: files written atomically (temporary file + rename).
* `checkpoint`: checkpoints of ask/tell states and resuming from them.
* `state_format`: how a checkpoint encodes a state (JSON tree, arrays, allowed classes).
"""
