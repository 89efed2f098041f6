"""Built-in models.

* `linear`: `LinearModel`, ``y = H theta + c`` (tests, tutorials, twin checks).
* `external`: `ExternalModel`, a model executable run through files, one working directory
  per run (model ``"external"`` in configs).
"""
