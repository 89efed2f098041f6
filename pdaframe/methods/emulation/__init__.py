"""Emulator-based methods.

* `gp`: the Gaussian-process toolkit (designs, `GPEmulator`, validation), also used by
  sensitivity analysis.
* `ces`: calibrate–emulate–sample (``ces``).
* `history_matching`: history matching with GP emulators (``history-matching``).
"""
