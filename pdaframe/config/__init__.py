"""TOML configs -> a ready problem.

* `loader`: `load_config` (reads and checks a config, builds the model, prior, streams,
  sites and the run settings).
* `streams`: observation streams from tables named in a config.
"""
