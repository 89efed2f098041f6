"""Estimation methods (built-in, registered through the same hooks as plugins), by family.

* `scipy_minimisers`: minimisers (``lbfgsb``, ``lbfgsb-fd``, ``nelder-mead``).
* `fourdenvar`: variational, ``4denvar``.
* `search/`: global search in the parameter box: ``de`` and ``ga``, and the
  map -> ask/tell adaptor DE runs through.
* `mcmc`: MCMC samplers (``adaptive-metropolis``, ``dream-zs``, ``emcee``).
* `sequential`: ensemble updates (``es-mda``, ``enkf``, ``particle-filter``).
* `importance`: weighting (``importance``, ``glue``) and the weighted statistics.
* `emulation/`: GP emulators (`gp`), calibrate–emulate–sample (``ces``), history matching.
* `stepwise`: ``stepwise``, one stream (or group) after another.
* `ensemble`: the ask/tell state base and the driver every ensemble method runs on.

Sensitivity analysis (``sobol``, ``morris``, ...) is registered as methods too but lives in
`pdaframe.analysis.sensitivity`.
"""
