"""Built-in models and the bases of plugin models.

* `linear`: `LinearModel`, ``y = H theta + c`` (tests, tutorials, twin checks).
* `external`: `ExternalModel`, a model executable run through files, one working directory
  per run (model ``"external"`` in configs).
* `kernel`: `KernelModel`, the base of a model run by a compiled kernel (validation,
  allocation, status -> `ModelError`, caching, the time axis), and `time_axis`.
* `parameter_table`: `load_parameter_table`, a parameter table from a TOML or CSV file.
"""
