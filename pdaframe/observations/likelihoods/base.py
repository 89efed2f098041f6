"""The `Likelihood` interface, its estimated hyperparameters, and the Gaussian log density.

A likelihood is the density of one stream's residuals ``r`` (model equivalent minus
observation, valid observations only) given the stream's error hyperparameters ``h`` (the
values of its estimated ones, in theta's units: ``log_sigma_scale``, ``rho``, ``nu``, ...).
The stream's error standard deviations ``sigma_i`` (its ``std``) are the errors' standard
deviations under every likelihood (a Student-t or Laplace error keeps the variance
``sigma_i^2``); a stream weight ``w`` divides them by ``sqrt(w)`` (``R / w``), and a
``sigma_scale`` ``s`` multiplies them: ``sigma'_i = s sigma_i / sqrt(w)``.

Normalised log densities: the cost drops every term that does not depend on the parameters;
model comparison (WAIC, PSIS-LOO, evidence) needs the full log density. `gaussian_log_density`
gives it per observation for any error covariance with ``whiten`` and ``log_scales``
(`pdaframe.ErrorCovariance`, `pdaframe.ExponentialCovariance`): with ``R = L L^T`` and
``z = L^-1 r``, observation ``i`` contributes ``-z_i^2/2 - log|L_ii| - log(2 pi)/2``, the log
density of ``y_i`` given the observations before it (chain rule; independent errors: its own
density). The terms sum to ``log N(r; 0, R)``.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np

from ...errors import ConfigError, DataError
from ...interfaces import Parameter

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
PRIOR_KEYS = ("mean", "std", "lower", "upper")


def gaussian_log_density(error, r, weight=1.0) -> np.ndarray:
    """Pointwise ``log N(r; 0, R / weight)`` (see the module docstring).

    Parameters
    ----------
    error : ErrorCovariance or ExponentialCovariance
        The stream's error covariance R.
    r : array_like, shape (n,)
        Residuals (model equivalent minus observation) of the valid observations.
    weight : float
        The stream's cost weight ``w``: the likelihood is that of ``R / w``.

    Returns
    -------
    ndarray, shape (n,)
    """
    z = error.whiten(np.asarray(r, dtype=float))
    return -0.5 * weight * z * z - error.log_scales() + 0.5 * math.log(weight) - HALF_LOG_2PI


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter a likelihood takes.

    Parameters
    ----------
    name : str
        Option name (``likelihood_options``, ``estimate``, ``priors``).
    default : float or None
        Fixed value when neither given nor estimated (None: the stream's own, e.g. its std).
    theta_name : str
        Its name in theta (``"<stream>:<theta_name>"``): ``log_<name>`` when estimated in
        log space.
    log : bool
        Estimated as ``log`` of the value (scales).
    prior : tuple or None
        Default prior ``(mean, std, lower, upper)`` in theta's units; None: none (the user
        must give one to estimate it).
    lower, upper : float
        Allowed open interval of the value.
    why : str
        Why the interval (for the error message).
    """

    name: str
    default: float | None
    theta_name: str
    log: bool
    prior: tuple | None
    lower: float = 0.0
    upper: float = math.inf
    why: str = "it is a scale"


SIGMA_SCALE = Hyper("sigma_scale", 1.0, "log_sigma_scale", True, (0.0, 1.0, -math.inf, math.inf))


class Likelihood:
    """Base class of the likelihoods: options, estimated hyperparameters, binding.

    Subclasses set ``name`` and ``HYPERS`` (their `Hyper` s; every one has ``sigma_scale``)
    and implement ``_bind(stream)`` (checks and keeps what they need of the stream),
    ``_evaluate(r, v, gradient)`` and ``_log_density(r, v)`` with ``v`` the dict of the
    hyperparameter values (fixed and estimated), and ``_sample(v, rng)``.

    Parameters
    ----------
    estimate : sequence of str
        Hyperparameters estimated with the parameters (each a theta entry
        ``"<stream>:<theta name>"``, after the operator parameters).
    priors : dict, optional
        ``{name: {mean, std, lower, upper}}`` in theta's units (``log`` of a scale);
        defaults per likelihood (`Hyper.prior`).
    what : str
        Label for error messages (the stream and table).
    **options
        Fixed hyperparameter values.

    Attributes
    ----------
    parameters : tuple of Parameter
        The estimated hyperparameters, in the order of ``h`` (theta names without the
        stream prefix).
    gaussian : bool
        True only for a fixed Gaussian (the stream's own R and weight, nothing estimated):
        what ensemble and Gauss–Newton methods assume.
    """

    name = "?"
    HYPERS: tuple = (SIGMA_SCALE,)

    def __init__(self, estimate=(), priors=None, what="likelihood", **options):
        self.what = f"{what}: likelihood {self.name!r}"
        known = {h.name: h for h in self.HYPERS}
        for key, value in options.items():
            if key not in known:
                raise ConfigError(f"{self.what} takes no option {key!r}; its options are "
                                  f"{sorted(known) + ['estimate', 'priors']}")
            self._check_value(known[key], value)
        if isinstance(estimate, str) or not all(isinstance(e, str) for e in estimate):
            raise ConfigError(f"{self.what}: 'estimate' must be a list of names, got "
                              f"{estimate!r}")
        estimate = tuple(estimate)
        for e in estimate:
            if e not in known:
                raise ConfigError(f"{self.what}: cannot estimate {e!r}; it has "
                                  f"{sorted(known)}")
            if e in options:
                raise ConfigError(f"{self.what}: {e!r} is both fixed ({options[e]}) and "
                                  f"estimated; give one")
        if len(set(estimate)) != len(estimate):
            raise ConfigError(f"{self.what}: 'estimate' lists a name twice: {list(estimate)}")
        priors = {} if priors is None else priors
        if not isinstance(priors, dict):
            raise ConfigError(f"{self.what}: 'priors' must be a table {{name = {{mean, std, "
                              f"lower, upper}}}}, got {priors!r}")
        for key in priors:
            if key not in estimate:
                raise ConfigError(f"{self.what}: a prior for {key!r}, which is not estimated "
                                  f"(estimate = {list(estimate)})")
        self.options = {h.name: float(options[h.name]) if h.name in options else h.default
                        for h in self.HYPERS}
        self.estimated = tuple(h for h in self.HYPERS if h.name in estimate)
        self.parameters = tuple(self._parameter(h, priors.get(h.name)) for h in self.estimated)
        self.gaussian = False
        self.bound = False

    # --- construction ----------------------------------------------------------------------
    def _check_value(self, hyper, value):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
            hyper.lower < value < hyper.upper
        if not ok:
            raise ConfigError(f"{self.what}: {hyper.name} = {value!r} must be a number in "
                              f"({hyper.lower:g}, {hyper.upper:g}) ({hyper.why})")

    def _parameter(self, hyper, spec) -> Parameter:
        """The `Parameter` of an estimated hyperparameter (its prior: ``spec`` or default)."""
        where = f"{self.what}: prior of {hyper.name!r} (theta entry {hyper.theta_name!r})"
        if spec is None:
            if hyper.prior is None:
                raise ConfigError(f"{where}: no default prior (its value has the "
                                  f"observations' units); give priors = {{ {hyper.name} = "
                                  f"{{ mean = ..., std = ... }} }} (of {hyper.theta_name})")
            mean, std, lower, upper = hyper.prior
        else:
            if not isinstance(spec, dict) or set(spec) - set(PRIOR_KEYS) or \
                    not {"mean", "std"} <= set(spec):
                raise ConfigError(f"{where}: expected a table {{mean, std[, lower, upper]}}, "
                                  f"got {spec!r}")
            default = hyper.prior or (0.0, 1.0, -math.inf, math.inf)
            mean, std = spec["mean"], spec["std"]
            lower, upper = spec.get("lower", default[2]), spec.get("upper", default[3])
        try:
            mean, std, lower, upper = (float(x) for x in (mean, std, lower, upper))
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: mean, std, lower, upper must be numbers") from None
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise ConfigError(f"{where}: need a finite mean and std > 0, got {mean}, {std}")
        lo, up = (math.log(hyper.lower) if hyper.lower > 0 else -math.inf,
                  math.log(hyper.upper)) if hyper.log else (hyper.lower, hyper.upper)
        if lower < lo or upper > up or not lower < mean < upper:
            raise ConfigError(f"{where}: bounds [{lower}, {upper}] must lie within "
                              f"[{lo}, {up}] ({hyper.why}) and contain the mean {mean}")
        return Parameter(hyper.theta_name, mean, lower, upper, std,
                         long_name=f"{self.name} likelihood {hyper.name}"
                                   + (" (log)" if hyper.log else ""))

    # --- the interface ---------------------------------------------------------------------
    def bind(self, stream) -> "Likelihood":
        """A copy bound to one stream: its error (std, R), times, values, mask and weight.

        Raises
        ------
        DataError
            The stream does not suit the likelihood (e.g. correlated errors for an
            independent likelihood; ``ar1`` without a regular time step).
        """
        new = copy.copy(self)
        new.stream_name, new.weight, new.error = stream.name, float(stream.weight), stream.error
        new.n = int(stream.n_valid)
        new.what = self.what if stream.name in self.what else \
            f"stream {stream.name!r}: likelihood {self.name!r}"
        new._bind(stream)
        new.bound = True
        return new

    def _bind(self, stream):
        """Checks and keeps what the likelihood needs of ``stream`` (subclasses)."""

    def _diagonal_std(self, stream, why) -> np.ndarray:
        """The stream's independent error std of its valid values, or a `DataError`."""
        error = stream.error
        if getattr(error, "_chol", True) is not None:        # full R or exponential
            raise DataError(f"{self.what}: needs independent errors ('std' or 'std_column'), "
                            f"not a full covariance or a correlation length ({why})")
        return np.asarray(error.std, dtype=float).reshape(-1)

    def values(self, h) -> dict:
        """``{name: value}`` of every hyperparameter: fixed ones and ``h`` (theta units)."""
        v = dict(self.options)
        for hyper, x in zip(self.estimated, np.asarray(h, dtype=float).reshape(-1)):
            v[hyper.name] = math.exp(x) if hyper.log else float(x)
        return v

    def cost(self, r, h) -> float:
        """``-log p(r | h)`` minus terms constant in (theta, h)."""
        return self._evaluate(np.asarray(r, dtype=float), self.values(h), False)[0]

    def cost_gradient(self, r, h) -> tuple[np.ndarray, np.ndarray]:
        """``(d cost / d r, d cost / d h)``; shapes ``(n,)`` and ``(len(h),)``."""
        _, dr, dv = self._evaluate(np.asarray(r, dtype=float), self.values(h), True)
        return dr, np.array([dv[p.theta_name] for p in self.estimated], dtype=float)

    def log_density(self, r, h) -> np.ndarray:
        """Normalised ``log p(r_i | h)`` per valid observation (correlated errors: given
        the earlier ones, so the sum is the joint log density)."""
        return self._log_density(np.asarray(r, dtype=float), self.values(h))

    def sample(self, h, rng) -> np.ndarray:
        """One draw of the errors of the valid observations (twins), ``(n,)``."""
        return self._sample(self.values(h), rng)

    def _normalised(self) -> bool:
        """Whether the cost keeps the normalising terms (they vary: something estimated)."""
        return bool(self.estimated)

    def __repr__(self):
        fixed = {k: v for k, v in self.options.items() if v is not None}
        return (f"{type(self).__name__}({fixed}, estimate={[h.name for h in self.estimated]})")
