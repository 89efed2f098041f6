"""The steps of a stepwise chain (`pdaframe.methods.stepwise`), read and checked.

``steps`` takes one of two forms (not mixed):

* lists of stream names, ``[["lai"], ["nee"]]``: each step estimates every parameter it can
  (all model parameters and its streams' operator parameters);
* tables, ``[{streams = ["lai"], parameters = ["f_fol", "c_lma"]}, {streams = ["nee"]}]``:
  a step's ``parameters`` (optional) are the ones it estimates, its active set; without
  it, as in the list form.

A parameter of the problem that no step estimates is refused: it would be left at the prior
(or moved only through its prior correlations), which is what leaving it out of
``[parameters] estimate`` says plainly. Each error is a `ConfigError` raised before any model
run; ``pdaframe check`` finds them (`check_problem`, called by `pdaframe.load_config`).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..prior.priors import GaussianPrior
from ..problem.single import Problem, operator_parameter_layout

#: the keys of a step table
STEP_KEYS = ("streams", "parameters")
FORMS = ("steps is a list of lists of stream names, [['lai'], ['nee']], or a list of tables, "
         "[{streams = ['lai'], parameters = ['f_fol', 'c_lma']}, {streams = ['nee']}]")


@dataclass(frozen=True)
class Step:
    """One checked step.

    Attributes
    ----------
    streams : list of str
        The streams it assimilates, in the order given.
    parameters : list of str
        Its active parameters, in the problem's order.
    available : list of str
        What it could estimate: the model's parameters and its streams' operator
        parameters, in the problem's order.
    """

    streams: list
    parameters: list
    available: list

    @property
    def held(self) -> list:
        """The parameters its streams may depend on that it does not estimate (held at the
        chain's current mean)."""
        return [n for n in self.available if n not in self.parameters]


def _names(k, value, what):
    """``value`` as a non-empty list of distinct strings, else a ConfigError."""
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, (list, tuple)) or not value or \
            not all(isinstance(n, str) for n in value):
        raise ConfigError(f"stepwise: steps[{k}]{what} must be a non-empty list of names; "
                          f"got {value!r}")
    twice = sorted({n for n in value if list(value).count(n) > 1})
    if twice:
        raise ConfigError(f"stepwise: steps[{k}]{what} names {twice} more than once")
    return list(value)


def _read(steps) -> list[tuple[object, object]]:
    """``[(streams, parameters or None)]`` of ``steps`` in either form, types checked."""
    if isinstance(steps, str) or not isinstance(steps, (list, tuple)) or not steps:
        raise ConfigError(f"stepwise: steps must be a non-empty list of lists of stream "
                          f"names or of step tables; {FORMS}; got {steps!r}")
    tables = [isinstance(s, dict) for s in steps]
    if any(tables) and not all(tables):
        at = [k for k, t in enumerate(tables) if t]
        raise ConfigError(f"stepwise: steps mixes tables (steps{at}) and lists of stream "
                          f"names; use one form: {FORMS}")
    out = []
    for k, step in enumerate(steps):
        if not tables[k]:
            out.append((_names(k, step, ""), None))
            continue
        unknown = sorted(set(step) - set(STEP_KEYS))
        if unknown or "streams" not in step:
            raise ConfigError(f"stepwise: steps[{k}] " + (f"has unknown key(s) {unknown}"
                              if unknown else "has no 'streams'") +
                              "; a step table has 'streams' and optionally 'parameters'")
        params = step.get("parameters")
        if params is not None:
            params = _names(k, params, " 'parameters'")
        out.append((_names(k, step["streams"], " 'streams'"), params))
    return out


def plan_steps(problem, steps) -> list[Step]:
    """The checked steps of ``problem``: each stream once, each parameter in some step.

    Parameters
    ----------
    problem : Problem
        A single-site problem.
    steps : list or None
        See the module docstring; None: one step per stream, in the problem's order.

    Returns
    -------
    list of Step

    Raises
    ------
    ConfigError
        A wrong form; an unknown or repeated stream; a step naming a parameter the problem
        lacks, an operator parameter of a stream it does not assimilate, no model parameter,
        or an empty list; a parameter estimated in no step; steps with parameter subsets on
        a prior that is not Gaussian.
    """
    known = [s.name for s in problem.streams]
    raw = [([n], None) for n in known] if steps is None else _read(steps)
    names = list(problem.parameter_names)
    model_names = names[:problem.n_model]
    _, slices = operator_parameter_layout(problem.streams, model_names)
    owner = {names[i]: s.name for s, sl in zip(problem.streams, slices) if sl is not None
             for i in range(sl.start, sl.stop)}            # operator parameter -> stream
    seen, out = {}, []
    for k, (streams, params) in enumerate(raw):
        for name in streams:
            if name not in known:
                raise ConfigError(f"stepwise: steps[{k}] names stream {name!r}, which the "
                                  f"problem does not have; its streams are {known}")
            if name in seen:
                raise ConfigError(f"stepwise: stream {name!r} is in steps[{seen[name]}] and "
                                  f"steps[{k}]; each stream may be assimilated once")
            seen[name] = k
        available = [n for n in names if n not in owner or owner[n] in streams]
        for name in params or ():
            if name not in available:
                why = (f"an operator parameter of stream {owner[name]!r}, which this step "
                       f"does not assimilate") if name in owner else "not a parameter of " \
                    "the problem"
                raise ConfigError(f"stepwise: steps[{k}] parameters: {name!r} is {why}; the "
                                  f"step can estimate {available}")
        if params is not None and not set(params) & set(model_names):
            raise ConfigError(f"stepwise: steps[{k}] parameters {params} name no model "
                              f"parameter; a step estimates at least one of {model_names}")
        active = available if params is None else [n for n in names if n in params]
        out.append(Step(list(streams), active, available))
    unused = [n for n in known if n not in seen]
    estimated = {n for s in out for n in s.parameters}
    missing = [n for n in names if n not in estimated]
    if missing:
        raise ConfigError(f"stepwise: parameters {missing} are estimated in no step; add them "
                          f"to a step's 'parameters' (or drop 'parameters' there: all), or "
                          f"leave them out of [parameters] estimate to fix them"
                          + (f" (streams {unused} are in no step)" if unused else ""))
    partial = [k for k, s in enumerate(out) if s.parameters != names]
    if partial and not isinstance(problem.prior, GaussianPrior):
        raise ConfigError(f"stepwise: steps{partial} estimate a subset of the parameters, "
                          f"which needs a Gaussian prior (its covariance carries the others); "
                          f"the prior is {type(problem.prior).__name__}")
    return out


def check_problem(problem, options) -> list[Step]:
    """The load-time check of a stepwise config (`pdaframe.load_config`, ``pdaframe
    check``): a single-site problem and valid ``options["steps"]`` (`plan_steps`).

    Raises
    ------
    ConfigError
        See `plan_steps`; or ``problem`` is not a single-site `Problem`.
    """
    if not isinstance(problem, Problem):
        raise ConfigError(f"stepwise: needs a single-site pdaframe.Problem, got "
                          f"{type(problem).__name__}")
    return plan_steps(problem, options.get("steps"))
