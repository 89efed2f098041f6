"""Files out, and checkpoints (the CSV reader of inputs is `pdaframe.tables`, used by the
core, the config and the plugins).

* `netcdf`, `ensembles`, `samples`, `analysis`: writing results (NetCDF, provenance).
* `output`: output folders (claiming, run ids, rescue of a result that cannot be written).
* `atomic`: files written atomically (temporary file + rename).
* `checkpoint`: checkpoints of ask/tell states and resuming from them.
* `state_format`: how a checkpoint encodes a state (JSON tree, arrays, allowed classes).
"""
