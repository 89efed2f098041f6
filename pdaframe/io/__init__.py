"""Files in and out.

* `tables`: reading CSV/whitespace tables (observations, drivers; plugins use it too).
* `netcdf`, `ensembles`, `samples`, `analysis`: writing results (NetCDF, provenance).
* `output`: output folders (claiming, run ids, rescue of a result that cannot be written).
* `atomic`: files written atomically (temporary file + rename).
* `checkpoint`: checkpoints of ask/tell states and resuming from them.
* `state_format`: how a checkpoint encodes a state (JSON tree, arrays, allowed classes).
"""
