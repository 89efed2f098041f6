"""Analysis of a problem or a result, not estimation.

* `sensitivity`: global sensitivity analysis (Sobol, Morris, ... through SALib).
* `diagnostics`: diagnostics of a result (chi-square check, parameters at their bounds,
  per-stream statistics).
* `scores`: scores of held-out streams (n, RMSE, bias, correlation).
* `leave_out`: leave-site-out evaluation (a left-out site's posterior predictive: RMSE,
  CRPS, log predictive density).
* `model_selection`: WAIC, PSIS-LOO and comparison tables of sampler runs (ArviZ).
* `cross_validation`: leave-year-out cross-validation (one fit per held-out year).
"""
