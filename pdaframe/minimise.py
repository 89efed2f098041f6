"""`minimise`: the one door to every registered minimiser."""
from __future__ import annotations

from .plugins import get_method
from .result import Result


def minimise(problem, method="lbfgsb", x0=None, callback=None, executor=None,
             **options) -> Result:
    """Minimise ``problem.cost`` with a registered method (or a callable).

    Parameters
    ----------
    problem : Problem
        The cost function and its gradient.
    method : str or callable
        ``"lbfgsb"`` (exact gradient), ``"lbfgsb-fd"`` (finite differences),
        ``"nelder-mead"``, any name a plugin registers, or a callable
        ``method(problem, x0=None, callback=None, **options) -> Result``.
    x0 : array_like, optional
        Start in physical space; default the prior mean.
    callback : callable, optional
        Called as ``callback(Result(x, fun, nit))`` after each iteration; raising
        `StopIteration` stops cleanly.
    executor : object, optional
        Evaluates ensemble members: anything with an ordered ``map(func, items)``
        (`pdaframe.parallel`); default serial, or MPI when launched under ``mpiexec``.
        Methods without members ignore it.
    **options
        Passed to the method.

    Returns
    -------
    Result
        ``x``, ``fun``, ``success``, ``message``, ``nit``, ``nfev`` (model runs), ``njev``,
        ``history`` and, for minimisers, ``posterior_covariance``; see `Result`.

    Examples
    --------
    >>> import numpy as np, pdaframe
    >>> model = pdaframe.LinearModel([[1.0, 1.0], [1.0, -1.0], [2.0, 0.0]])
    >>> prior = pdaframe.GaussianPrior([1.0, 2.0], covariance=[[1.0, 0.5], [0.5, 4.0]])
    >>> obs = pdaframe.DataStream("y", "y", [3.5, -0.5, 2.2], std=np.sqrt(0.5))
    >>> res = pdaframe.minimise(pdaframe.Problem(model, prior, [obs]))
    >>> np.round(res.x, 6)
    array([1.214354, 2.006699])
    """
    func = get_method(method) if isinstance(method, str) else method
    if not callable(func):
        raise TypeError(f"method must be a name or a callable, got {method!r}")
    if executor is not None:
        options["executor"] = executor
    result = func(problem, x0=x0, callback=callback, **options)
    result.setdefault("method", method if isinstance(method, str) else
                      getattr(method, "__name__", repr(method)))
    return result
