"""`minimise`: the one door to every registered method (minimisers, samplers, ensemble
methods, analyses), returning the method's kind of result (`pdaframe.result`)."""
from __future__ import annotations

from .blas import blas_threads
from .errors import ConfigError, check_memory
from .methods.contract import check_method_options as _check_declared
from .methods.contract import (check_likelihood, check_x0, draw_seed, method_options,
                               takes_checkpoint)
from .plugins import get_method, registry
from .result import Result, as_kind

MAX_MEMORY_GB = 8.0
ARRAYS_PER_MEMBER = 8      # float arrays of n_param + n_obs per member: 2000 members of the
                           # toy twin (738 observations) peaked at 0.6x (4DEnVar) and 1.1x
                           # (ES-MDA) of the estimate (tracemalloc)
MEMBER_OVERHEAD = 3072     # bytes of Python objects per member (results, dicts; 1.8-3.0 kB
                           # measured on LG2 with 20000 members: importance, 4DEnVar, ES-MDA)
#: arguments of `minimise` itself, never method options (a config's [method] options)
RESERVED = ("problem", "method", "x0", "callback", "executor", "checkpoint", "max_memory_gb")


def default_memory_gb() -> float:
    """The default memory limit: 8 GB, or half the machine's memory when that is less."""
    import os
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError, AttributeError):
        return MAX_MEMORY_GB
    return min(MAX_MEMORY_GB, total / 2)


def check_method_options(method, options, n_param=None, n_obs=None, max_memory_gb=None,
                         option="[output] max_memory_gb") -> dict:
    """``options`` of ``method`` (a name or callable) checked before any model run.

    The names of `minimise`'s own arguments (`RESERVED`) are refused; names and types
    against the method's declaration (`pdaframe.methods.contract`) and, given
    the problem's ``n_param`` and ``n_obs``, the memory of its members: ``n_members``
    (or ``pop_size``, or ``popsize * n_param``) members, each ``8 * 8 * (n_param + n_obs)``
    bytes of arrays plus ``MEMBER_OVERHEAD`` (a lower bound: the model's own outputs come
    on top), at most ``max_memory_gb`` (default `default_memory_gb`). Returns the checked
    options (whole numbers as int).
    """
    func = get_method(method) if isinstance(method, str) else method
    name = method if isinstance(method, str) else getattr(method, "__name__", repr(method))
    reserved = [k for k in options if k in RESERVED]
    if reserved:
        raise ConfigError(f"method {name!r}: {reserved} cannot be options: they are arguments "
                          f"of pdaframe.minimise (checkpoints: checkpoint_every and pdaframe "
                          f"run --resume; memory: [output] max_memory_gb)")
    options = _check_declared(name, func, options)
    if n_param is None:
        return options
    opts = {**{k: o.default for k, o in method_options(func).items()}, **options}
    for key, per in (("n_members", 1), ("pop_size", 1), ("popsize", n_param)):
        if isinstance(opts.get(key), int):
            n = opts[key] * per
            needed = n * (ARRAYS_PER_MEMBER * 8 * (n_param + (n_obs or 0)) + MEMBER_OVERHEAD)
            check_memory(needed, max_memory_gb or default_memory_gb(),
                         f"method {name!r}: {key} = {opts[key]} ({n} members)", option)
            break
    return options


def minimise(problem, method="lbfgsb", x0=None, callback=None, executor=None,
             checkpoint=None, max_memory_gb=None, **options) -> Result:
    """Minimise, sample or analyse ``problem.cost`` with a registered method (or a callable).

    One door for every method, rather than ``minimise``/``sample``/``analyse``: the kind of
    result follows from the method (`pdaframe.methods.contract.method_kind`), a config has
    one ``[method]`` table whatever the method does, and the writers and ``pdaframe run``
    dispatch on the kind returned.

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
    checkpoint : path or Checkpoint, optional
        Checkpoint the method's state to this file (`pdaframe.io.checkpoint`); a path
        writes after every round and never resumes, a
        `~pdaframe.io.checkpoint.Checkpoint` says how often and whether to resume
        (``Checkpoint(path, every=5, resume=True)``). Only methods that take a
        ``checkpoint`` argument can (`pdaframe.methods.contract.takes_checkpoint`: the
        iterative ones); ``stepwise`` checkpoints its first step.
    max_memory_gb : float, optional
        The most memory, in GB, the method's members may need (`check_method_options`;
        default `default_memory_gb`); ``pdaframe run`` passes ``[output] max_memory_gb``.
    **options
        Passed to the method.

    Raises
    ------
    ConfigError
        An unknown option, an option of the wrong type or size, or members that need more
        memory than the limit (`check_method_options`); an ``x0`` of the wrong length or
        given to a method that does not use it (`pdaframe.methods.contract.check_x0`); a
        ``checkpoint`` for a method that cannot checkpoint; before any model run.
    TypeError
        The method returned neither a result kind nor a dict with ``x``.

    Returns
    -------
    OptimisationResult, SampleResult, EnsembleResult or AnalysisResult
        The method's kind (`pdaframe.result`): ``x``, ``fun``, ``success``, ``message``,
        ``nit``, ``nfev`` (model runs), ``njev``, ``history`` and, for minimisers,
        ``posterior_covariance``; see `Result`. A method that returns a plain `Result` or
        dict (a user's callable) gets `pdaframe.result.as_kind`'s reading: with ``x``, an
        `OptimisationResult`. A method that takes a ``seed`` records it as ``seed``;
        ``seed=None`` (given, or the method's default) draws one
        (`pdaframe.methods.contract.draw_seed`) used for every member.

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
    name = method if isinstance(method, str) else getattr(method, "__name__", repr(method))
    options = check_method_options(func if not isinstance(method, str) else method, options,
                                   getattr(problem, "n_param", None),
                                   getattr(problem, "n_obs", None), max_memory_gb)
    check_x0(name, func, x0, getattr(problem, "n_param", None))
    check_likelihood(name, func, problem, registry("method").names())
    if checkpoint is not None:
        if not takes_checkpoint(func):
            raise ConfigError(f"method {name!r} cannot checkpoint (it takes no checkpoint "
                              f"argument); run it without one")
        from .io.checkpoint import as_checkpoint
        options["checkpoint"] = as_checkpoint(checkpoint)
    seed = method_options(func).get("seed")
    if seed is not None and options.get("seed", seed.default) is None:
        options["seed"] = draw_seed()          # one seed for every member, recorded below
    if executor is not None:
        options["executor"] = executor
    with blas_threads():                        # small dense algebra: one thread (blas.py)
        result = as_kind(func(problem, x0=x0, callback=callback, **options))
    result.setdefault("method", name)
    if seed is not None:
        result.setdefault("seed", options.get("seed", seed.default))
    return result
