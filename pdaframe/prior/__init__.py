"""The prior on the parameters.

* `priors`: `GaussianPrior`, `UniformPrior` and their base `Prior` (bounds, sampling, the
  prior cost ``J_b``, the control-space scaling).
* `transforms`: per-parameter transforms (``identity``, ``log``, ``neglog``, ``logit``) that
  keep bounded parameters in bounds.
"""
