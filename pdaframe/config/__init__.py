"""TOML configs -> a ready problem.

* `loader`: `load_config` (reads and checks a config, builds the model, prior, streams,
  sites and the run settings).
* `parameters`: the [parameters] tables and the parameter vectors of ``truth`` and ``x0``.
* `settings`: `RunSettings` and the [method] and [output] tables.
* `streams`: observation streams from tables named in a config.
* `hierarchical`: the [parameters.hierarchical] table (partial pooling).
"""
