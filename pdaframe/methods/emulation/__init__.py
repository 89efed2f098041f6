"""Emulator-based methods.

* `gp`: the Gaussian-process toolkit (designs, `GPEmulator`, validation), also used by
  sensitivity analysis.
* `ces`: calibrate–emulate–sample (``ces``).
* `history_matching`: history matching with GP emulators (``history-matching``).
* `nn`: the JAX MLP emulator `NNEmulator` (on the GP toolkit's outputs; CES ``emulator = "nn"``).
* `nn_model`: a trained NN emulator as a model (`EmulatorModel`, ``.npz`` files, ``nn-emulator``).
"""
