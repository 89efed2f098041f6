"""4DEnVar: four-dimensional ensemble-variational parameter estimation (ask/tell).

The Jacobian of the observations is replaced by the responses of an ensemble of model runs
(Liu, Xiao & Wang 2008; Pinnington et al. 2020, LAVENDAR). Everything happens in the
Problem's control space ``u`` (`pdaframe.problem.single.ControlSpace`: unbounded, prior-scaled), so
every member is ``problem.space.to_theta(u)`` and lies inside the bounds.

One outer loop, centred on ``u_k`` (``u_0 = 0``, the background, or ``x0``):

- ``N`` fixed perturbations ``z_i`` (columns of ``Z``, ``(n_param, N)``) drawn once from
  ``member_rng(seed, i)``; members ``u_k + eps z_i``, plus one run at ``u_k``: ``N + 1`` runs,
  all in parallel through the executor.
- Anomalies ``X' = Z / c`` and whitened responses
  ``Y' = R^-1/2 [G(u_k + eps z_i) - G(u_k)] / (eps c)``, ``c`` such that
  ``E[X' X'^T] = I`` (the prior in ``u``); ``d = R^-1/2 (y - G(u_k))``. ``R`` is never
  inverted: each stream whitens its block with its Cholesky factor (and its weight).
- Ensemble-space cost (quadratic, exact gradient and Hessian), ``w_k`` the minimum-norm
  coefficients of ``u_k`` in ``X'`` (zero in the first loop from the background)::

      J(w) = 1/2 w^T w + 1/2 |Y'(w - w_k) - d|^2
      w    = w_k + (I + Y'^T Y')^-1 (Y'^T d - w_k)          (one N x N Cholesky solve)

  and the new centre ``u_{k+1} = u_k + X'(w - w_k)``. With ``outer_loops > 1`` this is the
  Gauss–Newton iteration of Bocquet & Sakov (2014): the ensemble is re-centred on
  ``u_{k+1}`` and rerun, until ``|w - w_k|^2 < tol N`` or ``outer_loops`` is reached.
  ``eps = 1`` is a secant at prior spread; ``eps = 1e-4`` DAPPER's finite-difference
  "bundle", which converges to the minimiser of the u-space cost below.
- Posterior (of the last linearisation): ``X'_a = X' (I + Y'^T Y')^-1/2`` (symmetric root,
  from the SVD of ``Y'``),
  ``P_u = X'_a X'_a^T``, members ``u_a + c X'_a e_i``; in ``theta`` through the transforms,
  the covariance through the Jacobian ``diag(dtheta/dphi) S`` of ``u -> theta`` at ``u_a``.

Exact moments: with ``exact_moments=True`` (default) the ``N`` draws are centred and whitened
so that their sample covariance is exactly ``I`` (needs ``N - 1 >= n_param``). Then
``X' X'^T = I`` and for a linear ``G`` with a Gaussian prior without bounds the analysis and
posterior covariance equal the closed-form (Kalman) ones to round-off, for any ``N > n``.
Plain random draws (``exact_moments=False``, ``c = sqrt(N)``) converge as ``N^-1/2``.

The prior of 4DEnVar is ``N(0, I)`` in ``u``: exactly the Problem's Gaussian prior for
parameters without bounds; for bounded ones its image through the log/logit transforms
(same centre, same spread at the background); for a uniform prior a logit-normal with the
box's standard deviation. ``Result.fun`` is nevertheless the Problem's own ``J(x)`` (from a
model run of the analysis), comparable with the minimisers; ``fun_u`` is the u-space cost
the method minimises (equal to ``fun`` for a Gaussian prior without bounds).

Each new centre (the next loop's or the final analysis) is a model run. If it fails, or
(``backtrack=True``) raises the u-space cost above the previous centre's, the step is halved
and the centre rerun, up to ``max_backtracks`` times. Failed members (`Failed` records) are
dropped from ``X'`` and ``Y'``; ``c`` is rescaled to the survivors.

References
----------
Liu, C., Xiao, Q. & Wang, B. (2008) MWR 136:3363. Pinnington, E. et al. (2020) GMD 13:55,
and ``pyearthsci/lavendar`` (fourdenvar.py). Bocquet, M. & Sakov, P. (2014) QJRMS 140:1521;
``nansencenter/DAPPER`` (da_methods/variational.py).
"""
from __future__ import annotations

import logging

import numpy as np
from scipy import linalg, optimize

from ..errors import ConfigError, ModelError
from ..parallel import Failed, member_rng
from ..result import EnsembleResult, Result
from .ensemble import EnsembleState, drive, too_few_error

log = logging.getLogger(__name__)

SOLVERS = ("cholesky", "trust-exact", "newton-cg")


def default_members(n_param: int) -> int:
    """Default ensemble size ``max(2 n_param + 1, 20)``.

    ``N - 1 = 2 n`` anomalies: exact moments need ``N - 1 >= n``; the other ``n`` members
    average the scatter that nonlinearity adds to the secant responses. The floor of 20
    keeps small problems from resting on a handful of runs (LAVENDAR used 50 for 7
    parameters; DALEC2's 23 give 47).
    """
    return max(2 * int(n_param) + 1, 20)


def draw_perturbations(n_param, n_members, seed=0, exact_moments=True) -> np.ndarray:
    """Standard-normal perturbations in ``u``, shape ``(n_param, n_members)`` (one column each).

    Column ``i`` comes from ``member_rng(seed, i)``, whatever the number of processes. With
    ``exact_moments`` the columns are centred and whitened (symmetric inverse root of their
    sample covariance): mean exactly 0 and sample covariance (``N - 1`` normalised) exactly
    ``I``; this needs ``n_members - 1 >= n_param``.
    """
    n, N = int(n_param), int(n_members)
    Z = np.column_stack([member_rng(seed, i).standard_normal(n) for i in range(N)])
    if not exact_moments:
        return Z
    if N - 1 < n:
        raise ConfigError(f"4DEnVar: exact_moments needs n_members - 1 >= n_param, got "
                          f"n_members={N} for {n} parameters; use at least {n + 1} members "
                          f"or exact_moments=False")
    Zc = Z - Z.mean(axis=1, keepdims=True)
    lam, V = np.linalg.eigh(Zc @ Zc.T / (N - 1))
    if lam[0] <= 1e-10 * lam[-1]:
        raise ConfigError(f"4DEnVar: the {N} draws are degenerate (sample covariance "
                          f"eigenvalues {lam[0]:.3g}..{lam[-1]:.3g}); use another seed or "
                          f"more members")
    return V @ ((V.T @ Zc) / np.sqrt(lam)[:, None])


# --- the ensemble-space problem -------------------------------------------------------------
def ensemble_cost(w, Y, d, w_k=None) -> float:
    """``J(w) = 1/2 w^T w + 1/2 |Y (w - w_k) - d|^2`` (``Y``, ``d`` whitened; ``w_k``: 0)."""
    r = Y @ (w if w_k is None else w - w_k) - d
    return 0.5 * float(w @ w + r @ r)


def ensemble_gradient(w, Y, d, w_k=None) -> np.ndarray:
    """``dJ/dw = w + Y^T (Y (w - w_k) - d)``."""
    return w + Y.T @ (Y @ (w if w_k is None else w - w_k) - d)


def ensemble_hessian(w, Y, d, w_k=None) -> np.ndarray:
    """``d2J/dw2 = I + Y^T Y`` (constant: ``J`` is quadratic in ``w``)."""
    return np.eye(Y.shape[1]) + Y.T @ Y


def solve_ensemble(Y, d, w_k=None, solver="cholesky") -> np.ndarray:
    """Minimiser ``w`` of `ensemble_cost`.

    Parameters
    ----------
    Y : ndarray, shape (n_obs, N)
        Whitened ensemble responses ``R^-1/2 HX'``.
    d : ndarray, shape (n_obs,)
        Whitened innovation ``R^-1/2 (y - G(u_k))``.
    w_k : ndarray, shape (N,), optional
        Linearisation point (default 0).
    solver : {"cholesky", "trust-exact", "newton-cg"}
        ``cholesky``: the closed form ``w_k + (I + Y^T Y)^-1 (Y^T d - w_k)`` (a Cholesky
        solve, of the ``n_obs x n_obs`` matrix ``I + Y Y^T`` when ``N > n_obs``); the others
        minimise `ensemble_cost` with `scipy.optimize.minimize` and the analytic gradient
        and Hessian (same answer, for checking).
    """
    N = Y.shape[1]
    w_k = np.zeros(N) if w_k is None else np.asarray(w_k, dtype=float)
    if solver == "cholesky":
        b = Y.T @ d - w_k
        m = Y.shape[0]
        if N <= m:
            hess = ensemble_hessian(w_k, Y, d)
            return w_k + linalg.cho_solve(linalg.cho_factor(hess, lower=True), b)
        # more members than observations: (I + Y^T Y)^-1 = I - Y^T (I + Y Y^T)^-1 Y
        small = np.eye(m) + Y @ Y.T
        return w_k + b - Y.T @ linalg.cho_solve(linalg.cho_factor(small, lower=True), Y @ b)
    if solver not in SOLVERS:
        raise ConfigError(f"4DEnVar: solver {solver!r} unknown; expected one of "
                          f"{', '.join(SOLVERS)}")
    scale = max(1.0, float(np.abs(Y.T @ d).max(initial=0.0)))
    options = {"gtol": 1e-12 * scale} if solver == "trust-exact" else {"xtol": 1e-14}
    res = optimize.minimize(ensemble_cost, w_k.copy(), args=(Y, d, w_k),
                            jac=ensemble_gradient, hess=ensemble_hessian,
                            method="trust-exact" if solver == "trust-exact" else "Newton-CG",
                            options=options)
    return res.x


def analysis_anomalies(X, Y) -> np.ndarray:
    """Posterior anomalies ``X'_a = X' (I + Y^T Y)^-1/2`` (symmetric root).

    From the thin SVD ``Y = U s V^T``: ``(I + Y^T Y)^-1/2 = I + V ((1 + s^2)^-1/2 - 1) V^T``,
    the same as an ``eigh`` of ``Y^T Y`` without forming it (cheap when ``N > n_obs``).
    """
    _, s, Vt = np.linalg.svd(Y, full_matrices=False)
    return X + ((X @ Vt.T) * (1.0 / np.sqrt(1.0 + s ** 2) - 1.0)) @ Vt


# --- the ask/tell state ---------------------------------------------------------------------
class FourDEnVarState(EnsembleState):
    """4DEnVar as an ask/tell state (see the module docstring for the equations).

    Parameters
    ----------
    problem : Problem
    n_members : int, optional
        Ensemble size ``N`` (default `default_members`: ``max(2 n_param + 1, 20)``).
    seed : int
        Seed of the perturbations (member ``i`` uses ``member_rng(seed, i)``).
    outer_loops : int
        Maximum number of linearisations (1: classical 4DEnVar).
    epsilon : float
        Members at ``u_k + epsilon z_i``: 1 = secant at prior spread, small = finite
        differences.
    exact_moments : bool
        Centre and whiten the draws (sample covariance exactly ``I``; ``N > n_param``).
    x0 : array_like, optional
        Centre of the first ensemble, physical space (default the background).
    solver : {"cholesky", "trust-exact", "newton-cg"}
        How the ensemble-space problem is solved (`solve_ensemble`).
    tol : float
        Outer loops stop when ``|w - w_k|^2 < tol * N`` (DAPPER's advice, 1e-5).
    backtrack : bool
        Halve a step whose new centre raises the u-space cost (a failed run is always
        halved).
    max_backtracks : int
        Halvings per step before giving up (then the last good centre is returned).
    min_members : int
        Fewest surviving members accepted (at least 2) before a `ModelError`.
    """

    def __init__(self, problem, n_members=None, seed=0, outer_loops=1, epsilon=1.0,
                 exact_moments=True, x0=None, solver="cholesky", tol=1e-5, backtrack=True,
                 max_backtracks=5, min_members=2):
        super().__init__(problem)
        n = problem.n_param
        N = default_members(n) if n_members is None else int(n_members)
        if N < 2:
            raise ConfigError(f"4DEnVar: n_members must be at least 2, got {n_members}")
        if int(outer_loops) < 1:
            raise ConfigError(f"4DEnVar: outer_loops must be at least 1, got {outer_loops}")
        if not (np.isfinite(epsilon) and epsilon > 0):
            raise ConfigError(f"4DEnVar: epsilon must be positive, got {epsilon}")
        if solver not in SOLVERS:
            raise ConfigError(f"4DEnVar: solver {solver!r} unknown; expected one of "
                              f"{', '.join(SOLVERS)}")
        if N <= n:
            log.warning("4DEnVar: %d members for %d parameters: increments stay in the "
                        "ensemble span and the posterior covariance is rank-deficient", N, n)
        self.n_members, self.seed = N, seed
        self.outer_loops, self.epsilon = int(outer_loops), float(epsilon)
        self.exact_moments, self.solver, self.tol = bool(exact_moments), solver, float(tol)
        self.backtrack, self.max_backtracks = bool(backtrack), int(max_backtracks)
        self.min_members = max(2, int(min_members))
        self.space = problem.space
        self.Z = draw_perturbations(n, N, seed, exact_moments)            # (n_param, N)
        # c^2 per surviving member so that E[X' X'^T] = I: (N-1)/N each when centred
        self._c2 = (N - 1) / N if self.exact_moments else 1.0
        self._x0_given = x0 is not None
        self.x0 = problem.prior.mean.copy() if x0 is None else np.asarray(x0, dtype=float)
        u0 = self.space.to_u(self.x0)
        # stacked valid observations and their whitening (R never inverted)
        self._y = np.concatenate([s.observed for s in problem.streams]).astype(float)
        self._blocks, i = [], 0
        for s in problem.streams:
            self._blocks.append((s.error, slice(i, i + s.n_valid), np.sqrt(s.weight)))
            i += s.n_valid
        # progress
        self.k = 0                       # completed linearisations (outer loops)
        self.want_centre = self.want_members = True     # what the next ask() contains
        self.final = False               # the next accepted centre is the analysis
        self.u_try, self.step, self.n_back, self.alpha = u0, None, 0, 1.0
        self.accepted = None             # last accepted centre: u, theta, J, J_u, G
        self.lin = None                  # last linearisation
        self.converged, self.gave_up = False, False
        self.hist = {"cost": [], "cost_u": [], "x": [], "dw2": []}
        self.n_backtracks = 0

    # --- one member -------------------------------------------------------------------------
    def evaluate(self, theta):
        """The member's stacked valid observation equivalents ``G(theta)``, ``(n_obs,)``."""
        return self.problem.observation_vector(theta)

    def _whiten(self, v):
        out = np.empty_like(v, dtype=float)
        for error, sl, sw in self._blocks:
            out[sl] = sw * error.whiten(v[sl])
        return out

    def _costs(self, u, theta, G):
        """``(J(theta), J_u(u))``: the Problem's cost and the u-space cost 4DEnVar minimises."""
        r = self._whiten(G - self._y)
        jo = 0.5 * float(r @ r)
        return self.problem.prior.cost(theta) + jo, 0.5 * float(u @ u) + jo

    # --- ask/tell ---------------------------------------------------------------------------
    def ask(self) -> np.ndarray:
        """Members to run, ``(n, n_param)``: the trial centre (row 0) and/or the ``N`` members.

        An outer loop asks for its centre and the members around it together (``N + 1``
        runs). The final analysis is the centre alone, and so is a halved step: once such a
        centre is accepted, its members follow in a round of their own.
        """
        to_theta = self.space.to_theta
        self._asked = (self.want_centre, self.want_members)
        rows = [to_theta(self.u_try)] if self.want_centre else []
        if self.want_members:
            centre = self.u_try if self.want_centre else self.accepted["u"]
            U = centre[:, None] + self.epsilon * self.Z
            rows += [to_theta(U[:, i]) for i in range(self.n_members)]
        return np.array(rows)

    def tell(self, results) -> None:
        """Results of the last `ask` (``Failed`` records for failed runs), in order."""
        has_centre, has_members = self._asked
        expected = int(has_centre) + (self.n_members if has_members else 0)
        results = self._receive(results, expected, "4DEnVar")
        if has_centre:
            if not self._accept(results[0]):
                return self._reject()
            if self.final:
                self.done = True
                return
            if not has_members:                 # a halved step was accepted: now its members
                self.want_centre, self.want_members = False, True
                return
        self._linearise(results[1:] if has_centre else results)

    def _accept(self, centre) -> bool:
        """Record the trial centre if it ran (and, with ``backtrack``, did not raise J_u)."""
        u, theta = self.u_try, self.space.to_theta(self.u_try)
        if isinstance(centre, Failed):
            if self.accepted is None:
                where = "start point x0" if self._x0_given else "background"
                raise ModelError(f"4DEnVar: the model fails at the {where} "
                                 f"{dict(zip(self.problem.parameter_names, theta.tolist()))}: "
                                 f"{centre.error}", theta=theta)
            log.info("4DEnVar: the new centre fails (%s); halving the step", centre.error)
            return False
        G = np.asarray(centre, dtype=float)
        J, J_u = self._costs(u, theta, G)
        if self.accepted is not None and self.backtrack and \
                J_u > self.accepted["J_u"] + 1e-12 * max(1.0, abs(self.accepted["J_u"])):
            log.info("4DEnVar: the step raises J_u from %.6g to %.6g; halving it",
                     self.accepted["J_u"], J_u)
            return False
        self.accepted = {"u": u.copy(), "theta": theta, "J": J, "J_u": J_u, "G": G}
        self.hist["cost"].append(J)
        self.hist["cost_u"].append(J_u)
        self.hist["x"].append(theta)
        return True

    def _reject(self):
        """Halve the step to the last accepted centre (next round: that centre alone)."""
        if self.n_back >= self.max_backtracks:
            log.warning("4DEnVar: no acceptable step after %d halvings; keeping the last "
                        "centre", self.n_back)
            self.gave_up, self.done, self.alpha = True, True, 0.0
            return
        self.n_back += 1
        self.n_backtracks += 1
        self.step = 0.5 * self.step
        self.alpha *= 0.5
        self.u_try = self.accepted["u"] + self.step
        self.want_centre, self.want_members = True, False

    def _linearise(self, members):
        """Build ``X'``, ``Y'``, ``d`` at the accepted centre and propose the next centre."""
        ok = [i for i, r in enumerate(members) if not isinstance(r, Failed)]
        N = self.n_members
        if len(ok) < self.min_members:
            raise too_few_error(f"4DEnVar outer loop {self.k + 1}", len(ok), N,
                                self.min_members, members)
        if len(ok) <= self.problem.n_param:
            log.warning("4DEnVar outer loop %d: %d of %d members ran, not more than the %d "
                        "parameters: the posterior covariance is rank-deficient",
                        self.k + 1, len(ok), N, self.problem.n_param)
        c = np.sqrt(self._c2 * len(ok))
        X = self.Z[:, ok] / c
        G0 = self.accepted["G"]
        HX = np.column_stack([np.asarray(members[i], dtype=float) - G0 for i in ok])
        Y = self._whiten(HX) / (self.epsilon * c)
        d = self._whiten(self._y - G0)
        u = self.accepted["u"]
        w_k = np.linalg.lstsq(X, u, rcond=None)[0] if np.any(u) else np.zeros(len(ok))
        w = solve_ensemble(Y, d, w_k, self.solver)
        dw = w - w_k
        self.k += 1
        dw2 = float(dw @ dw)
        self.hist["dw2"].append(dw2)
        self.lin = {"X": X, "Y": Y, "d": d, "w_k": w_k, "w": w, "ok": ok, "c": c}
        log.info("4DEnVar outer loop %d: J = %.6g, %d of %d members, |dw|^2 = %.3g",
                 self.k, self.accepted["J"], len(ok), N, dw2)
        self.converged = dw2 < self.tol * len(ok)
        self.final = self.converged or self.k >= self.outer_loops
        self.step = X @ dw
        self.u_try = u + self.step
        self.n_back, self.alpha = 0, 1.0
        self.want_centre, self.want_members = True, not self.final

    # --- result -----------------------------------------------------------------------------
    def _status(self):
        if not self.done:
            return 2, False, f"stopped after {self.k} outer loop(s), before the end"
        if self.gave_up:
            if self.converged:
                return 0, True, (f"outer loops converged (|dw|^2 < {self.tol:g} N); the last "
                                 f"tiny step did not lower J and was not taken")
            return 3, False, (f"stalled in outer loop {self.k}: {self.max_backtracks} "
                              f"halvings of the step found no centre that runs and lowers "
                              f"J_u (the ensemble gradient's accuracy, set by epsilon, is "
                              f"exhausted); the last accepted centre is returned")
        if self.converged:
            return 0, True, f"outer loops converged (|dw|^2 < {self.tol:g} N) after {self.k}"
        if self.outer_loops == 1:
            return 0, True, "4DEnVar analysis (one outer loop)"
        return 1, False, (f"outer_loops={self.outer_loops} reached before |dw|^2 < "
                          f"{self.tol:g} N")

    def result(self) -> Result:
        """The analysis so far: the last accepted (evaluated) centre and its posterior."""
        if self.accepted is None:
            raise RuntimeError("4DEnVar: result() before the first tell()")
        space, acc = self.space, self.accepted
        status, success, message = self._status()
        names = list(self.problem.parameter_names)
        out = EnsembleResult(
            x=acc["theta"].copy(), fun=acc["J"], fun_u=acc["J_u"], success=success,
            status=status, message=message, nit=self.k, nfev=self.nfev, njev=0,
            n_failed=self.n_failed, n_backtracks=self.n_backtracks, n_rounds=self.iteration,
            history={key: np.array(v) for key, v in self.hist.items()},
            x0=self.x0.copy(), parameter_names=names, method="4denvar",
            n_members=self.n_members, seed=self.seed,
            ensemble=np.array([space.to_theta(z) for z in self.Z.T]),
        )
        if self.lin is not None:
            lin = self.lin
            w = lin["w_k"] + self.alpha * (lin["w"] - lin["w_k"])
            out.fun_ensemble = ensemble_cost(w, lin["Y"], lin["d"], lin["w_k"])
            out.n_members_used = len(lin["ok"])
            Xa = analysis_anomalies(lin["X"], lin["Y"])
            phi = space.phi_b + space.scale @ acc["u"]
            jac = space.transform.dtheta_dphi(phi)[:, None] * space.scale   # dtheta/du
            cov = jac @ (Xa @ Xa.T) @ jac.T
            out.posterior_covariance = 0.5 * (cov + cov.T)
            out.posterior_std = np.sqrt(np.diag(out.posterior_covariance))
            U = acc["u"][:, None] + lin["c"] * Xa
            out.posterior_ensemble = np.array([space.to_theta(U[:, i])
                                               for i in range(U.shape[1])])
        return out.attach_transform(self.problem.prior.transform)


def fourdenvar(problem, x0=None, callback=None, executor=None, seed=0, checkpoint=None,
               **options) -> Result:
    """4DEnVar (ensemble-variational) estimate and posterior of ``problem``.

    Parameters
    ----------
    problem : Problem
    x0 : array_like, optional
        Centre of the first ensemble (physical space); default the background.
    callback : callable, optional
        ``callback(result)`` after each round of model runs; `StopIteration` stops.
    executor : object, optional
        Runs the members (``map``); default serial.
    seed : int
        Seed of the ensemble perturbations.
    **options
        `FourDEnVarState` options: ``n_members`` (default ``max(2 n + 1, 20)``),
        ``outer_loops`` (1), ``epsilon`` (1.0), ``exact_moments`` (True), ``solver``
        ("cholesky"), ``tol`` (1e-5), ``backtrack`` (True), ``max_backtracks`` (5),
        ``min_members`` (2).

    Returns
    -------
    Result
        ``x fun success status message nit nfev njev history x0 parameter_names``, and
        ``posterior_covariance``, ``posterior_std``, ``ensemble`` (the prior draws
        ``theta(u = z_i)`` around the background) and ``posterior_ensemble`` (around ``x``;
        the surviving members of the last loop), both ``(n_member, n_param)`` in physical
        space, ``n_failed``, ``fun_u``,
        ``fun_ensemble``, ``n_rounds`` (ask/tell rounds: sequential steps when members run
        in parallel), ``n_backtracks``, ``method="4denvar"``.

    Examples
    --------
    >>> import numpy as np, pdaframe
    >>> model = pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
    >>> prior = pdaframe.GaussianPrior([1.0, 2.0], covariance=[[1.0, 0.5], [0.5, 4.0]])
    >>> obs = pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2], std=np.sqrt(0.5))
    >>> res = pdaframe.minimise(pdaframe.Problem(model, prior, [obs]), method=fourdenvar,
    ...                         n_members=4)
    >>> np.round(res.x, 6)
    array([1.214354, 2.006699])
    """
    state = FourDEnVarState(problem, seed=seed, x0=x0, **options)
    return drive(state, executor, callback, checkpoint)


# the options `FourDEnVarState` declares (`pdaframe.methods.contract`)
fourdenvar.option_sources = (FourDEnVarState,)
fourdenvar.option_counts = {"n_members": (2, "an ensemble"), "outer_loops": (1, "loops"),
                            "min_members": (2, "an ensemble")}
fourdenvar.family = "variational"

METHODS = {"4denvar": fourdenvar}
