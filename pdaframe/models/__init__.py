"""Built-in models and the bases of plugin models.

* `linear`: `LinearModel`, ``y = H theta + c`` (tests, tutorials, twin checks).
* `external`: `ExternalModel`, a model executable run through files, one working directory
  per run (model ``"external"`` in configs).
* `kernel`: `KernelModel`, the base of a model run by a compiled kernel (validation,
  allocation, status -> `ModelError`, caching, the time axis, output selection).
* `jax_model`: `JaxModel`, the base of a model written in JAX (derivatives by JAX).
* `time_axis`: `time_axis`, the dates of a model's steps from a start and a step.
* `parameter_table`: `load_parameter_table`, a parameter table from a TOML or CSV file.
* `driver_file`: `read_driver_file`, any site's daily meteorology (CSV or CF-NetCDF) as a
  `DriverTable`.
* `fluxnet_drivers`: `drivers_from_fluxnet`, a `DriverTable` from a FLUXNET file's
  meteorology (half-hourly or hourly to daily).
"""
