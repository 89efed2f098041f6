"""Observations and how the model is compared with them.

* `streams`: `DataStream` (one observed variable, its times and values) and
  `ErrorCovariance` (its observation-error covariance ``R``).
* `error_models`: correlated error models (e.g. exponential in time) behind ``R``.
* `operators/`: observation operators, model output -> observation space, with every
  factory the built-in plugin registers (``identity``, ``select``, ``aggregate``,
  ``spatial_mean``, ``sif``, ``normalised_seasonality``, ``cdf_matching``, ``bias``).
"""
