"""Joint state–parameter EnKF (``method="joint-enkf"``): an augmented state ``[x; u]`` filtered
through a model that exposes its state (`pdaframe.interfaces`, "A model state").

Unlike ``enkf`` (`pdaframe.methods.sequential`: static parameters, every member rerun from the
start), each member here carries a model state ``x`` and parameters ``u`` (the Problem's
control space, as in `pdaframe.methods.sequential`; ``theta = to_theta(u)`` respects the
bounds). Evensen (2009) ch. 9; DAPPER's ``EnKF`` ('PertObs'); Houtekamer & Mitchell (2001)
for the localisation.

Cycles
    The sorted distinct times of the valid observations (time indices on the model's axis)
    are split into ``n_cycles`` contiguous batches (default: one per time). Cycle ``k``
    covers the window ``[start, stop)`` from the end of the previous window to one past
    the batch's last time. Forecast: every member runs ``advance(theta_i, x_i, start,
    stop)`` through the executor (one member per task), which gives ``x_i`` at ``stop``
    and the member's equivalents of the window's observations (the stream's ``identity``
    or ``select`` operator applied to the window's outputs). With ``state_noise = s``
    (additive inflation) ``x_i += s z_i``. Analysis (perturbed observations, in whitened
    space ``R = I``): with ``E = [X; U]`` ``(n_x + n_u, N)``, ``Y`` the whitened
    predictions, anomalies ``A``, ``Y'``, ``P_zy = A Y'^T/(N-1)``, ``P_yy = Y'Y'^T/(N-1)``::

        K = (rho_zy o P_zy) (rho_yy o P_yy + I)^-1,    E_i <- E_i + K (y + e_i - Y_i)

    ``e_i`` centred over the members and rescaled to unit variance (DAPPER ``mean0``).
    ``analysis = "sqrt"``: the deterministic square root instead (`sqrt_analysis`, DAPPER's
    'Sqrt'; global, so no localisation).
    Then multiplicative inflation of the anomalies (DAPPER's post-analysis ``infl``):
    ``X <- mean + inflation (X - mean)`` and ``U <- mean + parameter_inflation (U -
    mean)`` (parameters have no model noise; 1.01–1.1 keeps their spread alive).
Localisation (``localisation_radius = c``)
    ``rho`` is the Gaspari–Cohn (1999, eq. 4.10) taper with half-width ``c`` (zero beyond
    ``2 c``; DART's convention) of the model's ``state_distance(output)``: state variable
    ``i`` to the observed output; between two observations, the distance from one to the
    state variable nearest the other. Parameter rows are *not* localised
    (``rho = 1``): a parameter such as Lorenz-96's forcing acts on every variable and has
    no position; tapering its covariances would discard the very information that
    identifies it.
Observations
    Streams with the ``identity`` or ``select`` operator (time index ``t``: the output row
    ``t - start`` of the window's outputs) and independent errors (``std``): a
    time-aggregating or nonlinear operator needs outputs beyond the window, and a
    correlated error would tie a window to earlier ones. Anything else, operator
    parameters, observation times off the model's time axis, a model without a state:
    `ConfigError` before any run.
Determinism
    Member ``i`` draws its initial ``u`` and state perturbation, its additive noise, its
    observation perturbations and any redraw from ``member_rng(seed, i)`` in that order;
    the model runs are deterministic, so a seed gives the same bits serially and on any
    number of MPI ranks.
Failed members
    Those that ran are updated; the failed ones are redrawn from the Gaussian fit of the
    updated good members (as ``enkf``; ``n_redrawn``); fewer than 3 good members is a
    `ModelError`.

The last round runs the final mean parameters once (``fun = J(x)``, a whole run). With
``update_parameters = False`` every member keeps the prior's centre (``u = 0``): the
state-only EnKF with fixed parameters, for comparison.

References
----------
Evensen, G. (2009) Data Assimilation, 2nd ed., Springer, ch. 9. Houtekamer, P. L. &
Mitchell, H. L. (2001) MWR 129:123. Gaspari, G. & Cohn, S. E. (1999) QJRMS 125:723.
``nansencenter/DAPPER`` (da_methods/ensemble.py ``EnKF_analysis``, mods/Lorenz96).
"""
from __future__ import annotations

import logging

import numpy as np

from ..errors import ConfigError, ModelError
from ..interfaces import STATE_CAPABILITIES, declared_outputs, has_state
from ..observations.operators import Identity, Select
from ..observations.streams import ErrorCovariance
from ..parallel import Failed, member_rng
from ..result import EnsembleResult
from .ensemble import EnsembleState, drive, too_few_error
from .importance import weighted_moments, weighted_quantile
from .kalman_analysis import enkf_analysis, gaspari_cohn, sqrt_analysis
from .sequential import TRAJECTORY_QUANTILES, time_batches

log = logging.getLogger(__name__)

README_SECTION = 'README section "Joint state–parameter estimation (EnKF)"'
MIN_MEMBERS = 3


def _check_std(value, name, n) -> np.ndarray:
    """A standard deviation: a number or one per state variable, each >= 0, as ``(n,)``
    (None: zeros)."""
    arr = np.asarray(0.0 if value is None else value, dtype=float)
    if arr.ndim > 1 or arr.ndim == 1 and arr.size != n or \
            not np.all(np.isfinite(arr) & (arr >= 0)):
        raise ConfigError(f"joint-enkf: {name} must be a number >= 0 or {n} of them (one per "
                          f"state variable), got {value!r}")
    return np.broadcast_to(arr, (n,)).copy()


def _check_factor(value, name, minimum=1.0, strict=False) -> float:
    """``value`` as a float, or a `ConfigError` unless finite and ``>= minimum`` (``>``)."""
    ok = np.isfinite(value) and (value > minimum if strict else value >= minimum)
    if not ok:
        raise ConfigError(f"joint-enkf: {name} must be {'>' if strict else '>='} {minimum}, "
                          f"got {value}")
    return float(value)


def observation_table(problem, model):
    """Per valid observation (stream order): output name, time index, whitening scale.

    The scale is ``sqrt(weight) / std``. Raises `ConfigError` for a stream the joint EnKF
    cannot use (module docstring, "Observations").
    """
    names, times, scales = [], [], []
    declared = declared_outputs(model)
    for s in problem.streams:
        op = s.operator
        if type(op) not in (Identity, Select):
            raise ConfigError(f"joint-enkf: stream {s.name!r} has a {type(op).__name__} "
                              f"operator; the joint EnKF applies 'identity' or 'select' "
                              f"operators window by window (others need the whole run)")
        if not isinstance(s.error, ErrorCovariance) or s.error._chol is not None:
            raise ConfigError(f"joint-enkf: stream {s.name!r} has correlated errors; the "
                              f"joint EnKF needs independent errors (std per value)")
        if declared is not None and op.variable not in declared:
            raise ConfigError(f"joint-enkf: stream {s.name!r} observes {op.variable!r}, not "
                              f"an output of the model (outputs {declared})")
        t = np.arange(s.values.size) if type(op) is Identity else op.index
        if t.size != s.values.size:
            raise ConfigError(f"joint-enkf: stream {s.name!r}: {s.values.size} values for "
                              f"{t.size} time indices of its operator")
        t = t[s.mask]
        bad = np.flatnonzero((t < 0) | (t >= model.n_steps))
        if bad.size:
            raise ConfigError(f"joint-enkf: stream {s.name!r}: observation time index "
                              f"{int(t[bad[0]])} is not on the model's time axis [0, "
                              f"{model.n_steps}) (times are step indices)")
        names += [op.variable] * t.size
        times.append(t.astype(np.intp))
        scales.append(np.sqrt(s.weight) / s.error.std)
    return np.array(names, dtype=str), np.concatenate(times), np.concatenate(scales)


def check_state_model(problem):
    """The Problem's model, if it exposes a state and has no operator parameters."""
    model = problem.model
    if not has_state(model):
        missing = [n for n in STATE_CAPABILITIES if getattr(model, n, None) is None]
        raise ConfigError(f"joint-enkf: the model {type(model).__name__} exposes no state "
                          f"(missing {missing or list(STATE_CAPABILITIES)}); it must provide "
                          f"state_names, n_steps, initial_state(theta) and advance(theta, x, "
                          f"start, stop) -> (x_stop, outputs): see the {README_SECTION}")
    if problem.n_param != problem.n_model:
        raise ConfigError(f"joint-enkf: operator parameters "
                          f"{problem.parameter_names[problem.n_model:]} are not supported")
    return model


class JointEnKFState(EnsembleState):
    """Joint state–parameter EnKF as an ask/tell state (see the module docstring).

    Parameters
    ----------
    problem : Problem
        Its model must expose a state (`pdaframe.interfaces.has_state`).
    n_members : int
        Ensemble size ``N`` (at least 3; default 50).
    seed : int
    n_cycles : int
        Number of batches of observation times (default: one per distinct time).
    inflation : float
        Multiplicative inflation of the state anomalies after each analysis (>= 1;
        default 1).
    parameter_inflation : float
        The same for the parameters (>= 1; default: ``inflation``).
    state_noise : float or sequence of float
        Standard deviation of the additive noise put on every forecast state, one number or
        one per state variable; default None: none.
    initial_state_std : float or sequence of float
        Standard deviation of the perturbations of the initial states, one number or one
        per state variable; default None: none.
    localisation_radius : float
        Gaspari–Cohn half-width in the units of the model's ``state_distance`` (> 0);
        default None: no localisation.
    analysis : str
        ``"perturbed"`` (stochastic EnKF with perturbed observations; default) or
        ``"sqrt"`` (deterministic square root, `sqrt_analysis`; no localisation).
    update_parameters : bool
        False: members keep the prior's parameters (state-only EnKF; default True).
    true_parameters : sequence of float
        Known truth (a twin), for the parameter RMSE per cycle; default None.
    true_states : array of float
        Known true states ``(n_steps, n_state)`` (row ``k``: the state after step ``k``),
        for the state RMSE per cycle; default None.
    """

    label = "joint EnKF"
    method = "joint-enkf"

    def __init__(self, problem, n_members=50, seed=0, n_cycles=None, inflation=1.0,
                 parameter_inflation=None, state_noise=None, initial_state_std=None,
                 localisation_radius=None, update_parameters=True, true_parameters=None,
                 true_states=None, analysis="perturbed"):
        super().__init__(problem)
        self.model = check_state_model(problem)
        N = int(n_members)
        if N < MIN_MEMBERS:
            raise ConfigError(f"joint-enkf: n_members must be at least {MIN_MEMBERS}, got "
                              f"{n_members}")
        self.inflation = _check_factor(inflation, "inflation")
        self.parameter_inflation = self.inflation if parameter_inflation is None else \
            _check_factor(parameter_inflation, "parameter_inflation")
        self.n_state = len(self.model.state_names)
        self.state_noise = _check_std(state_noise, "state_noise", self.n_state)
        initial_state_std = _check_std(initial_state_std, "initial_state_std", self.n_state)
        if analysis not in ("perturbed", "sqrt"):
            raise ConfigError(f"joint-enkf: analysis {analysis!r}: expected 'perturbed' or "
                              f"'sqrt'")
        if analysis == "sqrt" and localisation_radius is not None:
            raise ConfigError("joint-enkf: the 'sqrt' analysis is global (ensemble space); "
                              "localisation_radius needs analysis = 'perturbed'")
        self.analysis = analysis
        self.update_parameters = bool(update_parameters)
        self.outputs, self.times, self.scales = observation_table(problem, self.model)
        self.y_white = np.concatenate([s.observed for s in problem.streams]) * self.scales
        self.batches = time_batches(self.times, len(np.unique(self.times))
                                    if n_cycles is None else n_cycles)
        self.distances = None
        if localisation_radius is not None:
            self.radius = _check_factor(localisation_radius, "localisation_radius", 0.0,
                                        strict=True)
            if not callable(getattr(self.model, "state_distance", None)):
                raise ConfigError(f"joint-enkf: localisation_radius needs a model with "
                                  f"state_distance(output) (the distance of every state "
                                  f"variable from an observed output); "
                                  f"{type(self.model).__name__} has none: see the "
                                  f"{README_SECTION}")
            self.distances = {o: np.asarray(self.model.state_distance(o), dtype=float)
                              for o in dict.fromkeys(self.outputs)}
        self.true_theta = None if true_parameters is None else \
            np.asarray(true_parameters, dtype=float).reshape(-1)
        if self.true_theta is not None and self.true_theta.size != problem.n_param:
            raise ConfigError(f"joint-enkf: true_parameters needs {problem.n_param} values, "
                              f"got {self.true_theta.size}")
        self.true_states = None if true_states is None else np.asarray(true_states, float)
        if self.true_states is not None and \
                self.true_states.shape != (self.model.n_steps, self.n_state):
            raise ConfigError(f"joint-enkf: true_states must have shape "
                              f"({self.model.n_steps}, {self.n_state}), got "
                              f"{self.true_states.shape}")
        self.n_members, self.seed = N, seed
        self.space = problem.space
        self.rngs = [member_rng(seed, i) for i in range(N)]
        self.U = np.array([r.standard_normal(problem.n_param) for r in self.rngs])
        if not self.update_parameters:
            self.U[:] = 0.0
        self.U0 = self.U.copy()
        self.X = np.array([np.asarray(self.model.initial_state(t), dtype=float).reshape(-1)
                           + initial_state_std * r.standard_normal(self.n_state)
                           for t, r in zip(self.thetas(), self.rngs)])
        if self.X.shape != (N, self.n_state):
            raise ConfigError(f"joint-enkf: initial_state gave {self.X.shape[1:]} values, the "
                              f"model has {self.n_state} state_names")
        self.cycle, self.start, self.n_redrawn = 0, 0, 0
        self.x = self.fun = None
        self.hist = {k: [] for k in ("cost", "spread", "time", "theta_mean", "theta_quantiles",
                                     "theta_ensemble", "state_mean", "state_std",
                                     "state_rmse", "parameter_rmse")}

    def thetas(self, U=None) -> np.ndarray:
        U = self.U if U is None else U
        return np.array([self.space.to_theta(u) for u in U])

    def _window(self):
        """``(start, stop, rows)`` of the current cycle."""
        rows = self.batches[self.cycle]
        return self.start, int(self.times[rows].max()) + 1, rows

    # --- ask / evaluate / tell ---------------------------------------------------------------
    def ask(self) -> list:
        """``(theta_i, x_i)`` per member for the cycle's forecast, then ``(mean theta,)``."""
        if self.x is not None:
            return [(self.x.copy(),)]
        return [(t, x.copy()) for t, x in zip(self.thetas(), self.X)]

    def evaluate(self, item):
        """A member's forecast ``{"state": x_stop, "obs": equivalents of the window}``, or
        (the last round) the observation vector of a whole run at ``item[0]``."""
        if len(item) == 1:
            return self.problem.observation_vector(item[0])
        theta, x = item
        start, stop, rows = self._window()
        x_stop, outputs = self.model.advance(theta.copy(), x.copy(), start, stop)
        eq = np.empty(rows.size)
        for k, (name, t) in enumerate(zip(self.outputs[rows], self.times[rows])):
            if name not in outputs:
                raise ModelError(f"joint-enkf: advance gave no output {name!r} (it gave "
                                 f"{sorted(outputs)})")
            values = np.asarray(outputs[name], dtype=float)
            if values.ndim != 1 or values.shape[0] != stop - start:
                raise ModelError(f"joint-enkf: advance gave output {name!r} the shape "
                                 f"{values.shape}; expected ({stop - start},) for the window "
                                 f"[{start}, {stop})")
            eq[k] = values[t - start]
        return {"state": np.asarray(x_stop, dtype=float).reshape(-1), "obs": eq}

    def tell(self, results) -> None:
        final = self.x is not None
        results = self._receive(results, 1 if final else self.n_members, self.label)
        if final:
            r = results[0]
            if isinstance(r, Failed):
                log.warning("joint EnKF: the model fails at the final mean (%s); fun = inf",
                            r.error)
                self.fun = np.inf
            else:
                z = (np.asarray(r, dtype=float) * self.scales) - self.y_white
                self.fun = self.problem.prior.cost(self.x) + 0.5 * float(z @ z)
            self.done = True
            return
        self._analyse(results)

    def _analyse(self, results):
        start, stop, rows = self._window()
        ok = [i for i, r in enumerate(results) if not isinstance(r, Failed)]
        if len(ok) < MIN_MEMBERS:
            raise too_few_error(f"joint EnKF cycle {self.cycle + 1}", len(ok),
                                self.n_members, MIN_MEMBERS, results)
        X = np.array([results[i]["state"] for i in ok])
        if self.state_noise.any():
            X = X + self.state_noise * np.array([self.rngs[i].standard_normal(self.n_state)
                                                 for i in ok])
        G = np.array([results[i]["obs"] for i in ok]) * self.scales[rows]
        y = self.y_white[rows]
        self.hist["cost"].append(float(np.mean(0.5 * np.sum((G - y) ** 2, axis=1))))
        E = np.hstack([X, self.U[ok]]) if self.update_parameters else X
        if self.analysis == "sqrt":
            E = sqrt_analysis(E, G, y)
        else:
            k = len(ok)
            Z = np.array([self.rngs[i].standard_normal(rows.size) for i in ok])
            Z = (Z - Z.mean(axis=0)) * np.sqrt(k / (k - 1))
            E = enkf_analysis(E, G, y + Z, *self._localisation(rows, E.shape[1]))
        self.X[ok] = E[:, :self.n_state]
        if self.update_parameters:
            self.U[ok] = E[:, self.n_state:]
        self._redraw(ok)
        self._inflate()
        self._record(stop)
        self.cycle += 1
        self.start = stop
        if self.cycle >= len(self.batches):
            self.x = self.thetas().mean(axis=0)             # next round: the final mean

    def _localisation(self, rows, n_aug):
        """``rho_zy`` ``(n_aug, m)`` (parameter rows 1) and ``rho_yy`` ``(m, m)``, or Nones."""
        if self.distances is None:
            return None, None
        names = self.outputs[rows]
        d_xy = np.column_stack([self.distances[o] for o in names])          # (n_state, m)
        nearest = np.argmin(d_xy, axis=0)
        rho_zy = np.ones((n_aug, rows.size))
        rho_zy[:self.n_state] = gaspari_cohn(d_xy, self.radius)
        return rho_zy, gaspari_cohn(d_xy[nearest], self.radius)

    def _redraw(self, ok):
        bad = sorted(set(range(self.n_members)) - set(ok))
        if not bad:
            return
        E = np.hstack([self.X[ok], self.U[ok]])
        mean, cov = weighted_moments(E, np.full(len(ok), 1.0 / len(ok)))
        lam, Q = np.linalg.eigh(cov)
        root = Q * np.sqrt(np.clip(lam, 0.0, None))
        for i in bad:
            e = mean + root @ self.rngs[i].standard_normal(mean.size)
            self.X[i] = e[:self.n_state]
            if self.update_parameters:
                self.U[i] = e[self.n_state:]
        self.n_redrawn += len(bad)
        log.info("joint EnKF cycle %d: %d failed members redrawn", self.cycle + 1, len(bad))

    def _inflate(self):
        for arr, factor in ((self.X, self.inflation), (self.U, self.parameter_inflation)):
            if factor != 1.0:
                mean = arr.mean(axis=0)
                arr[...] = mean + factor * (arr - mean)

    def _record(self, stop):
        thetas = self.thetas()
        w = np.full(self.n_members, 1.0 / self.n_members)
        theta_mean = thetas.mean(axis=0)
        state_mean = self.X.mean(axis=0)
        self.hist["spread"].append(float(np.trace(np.atleast_2d(np.cov(self.U.T)))))
        self.hist["time"].append(float(stop - 1))
        self.hist["theta_mean"].append(theta_mean)
        self.hist["theta_ensemble"].append(thetas)
        self.hist["theta_quantiles"].append(weighted_quantile(thetas, w, TRAJECTORY_QUANTILES))
        self.hist["state_mean"].append(state_mean)
        self.hist["state_std"].append(self.X.std(axis=0, ddof=1))
        if self.true_states is not None:
            err = state_mean - self.true_states[stop - 1]
            self.hist["state_rmse"].append(float(np.sqrt(np.mean(err ** 2))))
        if self.true_theta is not None:
            err = theta_mean - self.true_theta
            self.hist["parameter_rmse"].append(float(np.sqrt(np.mean(err ** 2))))

    def result(self) -> EnsembleResult:
        """Parameter ensemble and mean, the final state analysis, and the per-cycle history
        (``state_mean``, ``state_std``, ``theta_mean``, RMSEs when a truth is given)."""
        thetas = self.thetas()
        mean, cov = weighted_moments(thetas, np.full(self.n_members, 1.0 / self.n_members))
        done = self.done
        message = f"joint EnKF: {self.cycle} cycles of {self.n_members} members" if done \
            else f"stopped after {self.cycle} of {len(self.batches)} cycles"
        hist = {k: np.array(v) for k, v in self.hist.items() if len(v)}
        out = EnsembleResult(
            x=mean if self.x is None else self.x.copy(),
            fun=self.fun if self.fun is not None else np.nan, success=done,
            status=0 if done else 2, message=message, nit=self.cycle, nfev=self.nfev,
            njev=0, n_failed=self.n_failed, n_redrawn=self.n_redrawn,
            n_rounds=self.iteration, history=hist, x0=self.problem.prior.mean.copy(),
            parameter_names=list(self.problem.parameter_names), method=self.method,
            n_members=self.n_members, seed=self.seed, ensemble=self.thetas(self.U0),
            posterior_ensemble=thetas, weights=np.full(self.n_members, 1 / self.n_members),
            trajectory_quantiles=np.array(TRAJECTORY_QUANTILES),
            posterior_covariance=cov, posterior_std=np.sqrt(np.diag(cov)),
            state_names=list(self.model.state_names), state_ensemble=self.X.copy(),
            state_mean=self.X.mean(axis=0), state_std=self.X.std(axis=0, ddof=1),
            update_parameters=self.update_parameters)
        half = len(self.batches) // 2
        for key in ("state_rmse", "parameter_rmse"):
            if key in hist and hist[key].size > half:
                out[key] = float(np.mean(hist[key][half:]))       # the last half of the cycles
        return out.attach_transform(self.problem.prior.transform)


def joint_enkf(problem, x0=None, callback=None, executor=None, seed=0, checkpoint=None,
               **options):
    """Joint state–parameter EnKF of ``problem`` (`JointEnKFState`; its model exposes a state).

    Options: ``n_members`` (50), ``n_cycles`` (one per observation time), ``inflation``
    (1), ``parameter_inflation`` (``inflation``), ``state_noise`` (0),
    ``initial_state_std`` (0), ``localisation_radius`` (None), ``update_parameters``
    (True), ``analysis`` ("perturbed"), ``true_parameters``, ``true_states``. ``x0`` is ignored; ``checkpoint`` (a
    `pdaframe.io.checkpoint.Checkpoint`) saves and resumes the cycles as for ``enkf``.

    Returns
    -------
    EnsembleResult
        As ``enkf`` (``x``: the final mean parameters, ``posterior_ensemble``, ``ensemble``,
        ``history`` per cycle: ``cost``, ``spread``, ``time``, ``theta_mean``,
        ``theta_quantiles``, ``theta_ensemble`` ``(cycle, member, param)``, ``state_mean`` and ``state_std`` ``(cycle, n_state)``, and
        ``state_rmse``/``parameter_rmse`` with a truth), plus ``state_names``,
        ``state_ensemble`` ``(member, n_state)``, ``state_mean``, ``state_std`` (final
        analysis) and, with a truth, ``state_rmse``/``parameter_rmse``: their mean over the
        last half of the cycles.
    """
    return drive(JointEnKFState(problem, seed=seed, **options), executor, callback,
                 checkpoint)


joint_enkf.option_sources = (JointEnKFState,)
joint_enkf.uses_x0 = False
joint_enkf.option_counts = {"n_members": (MIN_MEMBERS, "an ensemble"), "n_cycles": (1, "cycles")}
joint_enkf.family = "kalman"

METHODS = {"joint-enkf": joint_enkf}
