"""The problem: what is minimised or sampled.

* `single`: `Problem` (one model, its streams and prior; the cost ``J``, its gradient,
  the unbounded control space ``u`` (`ControlSpace`) and the Laplace posterior covariance).
* `multisite`: `MultiSiteProblem`, one model at several sites with shared and
  site-specific parameters (``name@site``).
* `fixed`: parameters held fixed (`FixedParameters`) and fixed operator parameters.
* `twin`: synthetic (twin-experiment) streams from a known truth.
"""
