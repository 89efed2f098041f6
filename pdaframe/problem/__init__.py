"""The problem: what is minimised or sampled.

* `base`: `BaseProblem`, what every problem shares: the unbounded control space ``u``
  (`ControlSpace`), the cost and gradient in ``u`` and the Laplace posterior covariance.
* `single`: `Problem` (one model, its streams and prior; the cost ``J``, its gradient and
  Jacobian).
* `multisite`: `MultiSiteProblem`, one model at several sites with shared and
  site-specific parameters (``name@site``); `sites`: its layout (`Site`, `layout`, the
  global parameter and stream names).
* `fixed`: parameters held fixed (`FixedParameters`) and fixed operator parameters.
* `twin`: synthetic (twin-experiment) streams from a known truth.
* `hierarchical`: `Hierarchical`, a mapping rule drawing site parameters from their group's
  distribution (partial pooling; non-centred).
"""
