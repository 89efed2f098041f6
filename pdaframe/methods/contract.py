"""The method contract: one declaration of a method's options, and what is derived from it.

A method is a callable ``method(problem, x0=None, callback=None, executor=None, **options)``.
Its options are declared once:

* by its keyword arguments with defaults (``seed=0, n_samples=2000``), and, for a method
  that hands ``**options`` on to a state class (or to scipy),
* by the attribute ``option_sources`` (the callables whose keyword signatures declare the
  forwarded options, e.g. ``(ESMDAState,)``) and/or ``option_defaults`` (``{option:
  default}`` of options declared nowhere else, e.g. scipy's), with ``option_counts``
  (``{option: (minimum, why)}``) for whole-number options and their minimum, and
  ``option_docs`` (objects whose docstrings document options the method's and its
  sources' leave out, e.g. ``lbfgsb-fd``'s: ``(lbfgsb,)``).

Its family (`FAMILIES`: ``minimiser``, ``mcmc``, ...) is its attribute ``family``.

A method that can checkpoint says so by a ``checkpoint`` keyword in its signature
(`takes_checkpoint`): `pdaframe.minimise` hands it the `pdaframe.io.checkpoint.Checkpoint`
it was given (None: none) and refuses a checkpoint for any other method. Like ``executor``,
``checkpoint`` is an argument, not an option: `pdaframe methods NAME` does not list it.

From that one declaration come the validation of names and types (`check_method_options`,
run by `pdaframe.minimise` and by `pdaframe.load_config`, so ``pdaframe check`` finds a
misspelt option), the refusal of a start ``x0`` by a method that declares ``uses_x0 =
False`` (`check_x0`), and the documentation printed by ``pdaframe methods NAME``
(`method_options`, `documented_options`). Each option's line and, where the default does not
fix it, its type come from the first entry naming it in the numpy "Parameters" sections of
the method's docstring, its sources' (a class's bases too), then its ``option_docs``; an
entry with a type (``n_samples : int``) wins over one without, so an untyped pointer such as
``seed, n_samples`` / "As `ChainState`." leaves the line to the entry it points to. The
family also gives the kind of result the method returns (`method_kind`). A method with
``**options`` and no declaration (a plugin's) is open: its option names are left to the
method.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, check_options

#: arguments passed by the driver rather than as options (every method takes the first
#: four; ``checkpoint`` those that can checkpoint, `takes_checkpoint`)
COMMON = ("problem", "x0", "callback", "executor", "checkpoint")
#: options of ``pdaframe run`` accepted for every method: the config's seed (passed to every
#: method; deterministic ones ignore it) and ``checkpoint_every`` (taken by the run driver)
RUN_OPTIONS = ("seed", "checkpoint_every")

#: the method families (a method's ``family`` attribute) and what their methods give
FAMILIES = {
    "minimiser": "a local minimum of J from a start (scipy), with the Laplace posterior",
    "variational": "the ensemble-variational minimum and its posterior ensemble (4DEnVar)",
    "search": "a global search of the parameter box (differential evolution, GA)",
    "mcmc": "Markov chains sampling the posterior",
    "kalman": "Kalman updates of an ensemble drawn from the prior (ES-MDA, EnKF)",
    "weighting": "weighted samples of the prior or a proposal (importance sampling, GLUE, "
                 "particle filter)",
    "emulation": "Gaussian-process emulators of the model (calibrate-emulate-sample, "
                 "history matching)",
    "sensitivity": "sensitivity indices of the parameters and a shortlist, no estimate",
    "stepwise": "one stream (or group) after another, each step's posterior the next prior",
}

#: what ``pdaframe methods NAME`` says of ``seed``, the same for every method that takes one
SEED_DOC = ("Seed of every random draw (a whole number below 2^63); None draws one, recorded "
            "in the result (``seed``) and the NetCDF, so the run can be repeated.")
#: ... and of the seed a deterministic method accepts (as every method does) and ignores
SEED_IGNORED = "Ignored: this method draws no random numbers (it accepts the config's seed)."


@dataclass(frozen=True)
class Option:
    """One declared option of a method.

    Parameters
    ----------
    name : str
    default : object
        The default (``None``: chosen by the method).
    kind : str
        The type: ``bool``, ``int`` (whole number) or ``float`` where it is checked (from the
        default or ``option_counts``; ``int`` for ``seed``); else the type the docstring's
        entry names (``str``, ``sequence of float``, ...: left to the method), or ``any``.
    doc : str
        One line from the method's (or its source's) numpy docstring (`SEED_DOC` for
        ``seed``); empty if none.
    """

    name: str
    default: object
    kind: str
    doc: str


def _keywords(func) -> dict:
    """``{argument: default}`` of the keyword arguments of ``func`` but `COMMON` (and ``_``)."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in params if p.default is not p.empty
            and p.name not in COMMON and p.name != "_"}


def is_open(func) -> bool:
    """Whether ``func`` takes ``**options`` it does not declare (``stepwise``, which passes
    them to its inner minimiser, or a plugin's method): then unknown names are not refused."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True
    var = any(p.kind is p.VAR_KEYWORD and p.name != "_" for p in params)
    declared = any(hasattr(func, a) for a in ("option_sources", "option_defaults",
                                              "option_counts"))
    return var and not declared


def takes_checkpoint(func) -> bool:
    """Whether the method ``func`` can checkpoint: it takes a ``checkpoint`` keyword (a
    `pdaframe.io.checkpoint.Checkpoint` or None; ``**options`` does not count)."""
    try:
        param = inspect.signature(func).parameters.get("checkpoint")
    except (TypeError, ValueError):
        return False
    return param is not None and param.kind in (param.POSITIONAL_OR_KEYWORD,
                                                param.KEYWORD_ONLY)


def _doc_entries(obj) -> dict:
    """``{name: (type or None, first sentence of its description)}`` of the numpy
    "Parameters" section of the docstring of ``obj``; ``a, b : int`` entries share their
    type and description, ``, optional`` is dropped and the first entry of a name wins."""
    doc = inspect.getdoc(obj) or ""
    match = re.search(r"^Parameters\n-+\n(.*?)(?:\n\n[A-Z][A-Za-z ]*\n-+\n|\Z)", doc,
                      re.S | re.M)
    entries = []                                   # [(names, type, description lines)]
    for line in (match.group(1).splitlines() if match else []):
        if line and not line.startswith(" "):
            names, _, kind = line.partition(" : ")
            kind = re.sub(r",?\s*optional$", "", kind.strip()) or None
            entries.append(([n.strip().lstrip("*") for n in names.split(",")], kind, []))
        elif entries and line.strip():
            entries[-1][2].append(line.strip())
    return {name: (kind, _first_sentence(" ".join(lines)))
            for names, kind, lines in reversed(entries) for name in names}


def _documented_by(func) -> list:
    """What documents ``func``'s options, in order: itself, its sources (a class with its
    bases), its ``option_docs``."""
    out = []
    for obj in (func, *getattr(func, "option_sources", ()), *getattr(func, "option_docs", ())):
        for item in (inspect.getmro(obj)[:-1] if inspect.isclass(obj) else (obj,)):
            if item not in out:
                out.append(item)
    return out


def _first_sentence(text) -> str:
    """``text`` up to its first full stop outside brackets (not an abbreviation's)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += (ch in "([{") - (ch in ")]}")
        if ch == "." and depth == 0 and text[i + 1:i + 2] in (" ", "") and \
                not text[:i].endswith(("e.g", "i.e", "etc")):
            return text[:i + 1]
    return text


def _kind(default, counted=False, documented=None) -> str:
    """What `Option.kind` says (see there)."""
    if counted:
        return "int"
    for kind in (bool, int, float):
        if isinstance(default, kind):
            return kind.__name__
    return documented or "any"


def method_options(func) -> dict[str, Option]:
    """``{name: Option}`` of every option ``func`` declares (see the module docstring), in
    declaration order: its own keywords, then its sources', then ``option_defaults``;
    ``option_counts`` only adds a minimum to options declared there."""
    sources = tuple(getattr(func, "option_sources", ()))
    defaults = _keywords(func)
    for source in sources:
        defaults.update({k: v for k, v in _keywords(source).items() if k not in defaults})
    defaults.update(getattr(func, "option_defaults", {}))
    counts = getattr(func, "option_counts", {})
    docs = {}                                      # name -> (type, line); typed ones win
    for obj in _documented_by(func):
        for key, (kind, line) in _doc_entries(obj).items():
            if key not in docs or (docs[key][0] is None and kind is not None):
                docs[key] = (kind, line)
    return {k: Option(k, v, _kind(v, k in counts or k == "seed", docs.get(k, (None,))[0]),
                      SEED_DOC if k == "seed" else docs.get(k, (None, ""))[1])
            for k, v in defaults.items()}


def documented_options(func) -> dict[str, Option]:
    """The options ``pdaframe methods NAME`` lists: `method_options`, and for a method that
    declares all its options but no ``seed`` (a deterministic one) the seed it accepts and
    ignores (`SEED_IGNORED`)."""
    options = method_options(func)
    if "seed" not in options and not is_open(func):
        options["seed"] = Option("seed", None, "int", SEED_IGNORED)
    return options


def method_family(func, plugin=None) -> str:
    """The family of a method: its ``family`` attribute (every built-in declares one of
    `FAMILIES`); else ``plugin``, the name of the plugin that registered it; else the
    top-level package of its module."""
    family = getattr(func, "family", None)
    if family:
        return family
    return plugin or getattr(func, "__module__", "").split(".")[0] or "?"


#: the result kind (`pdaframe.result.KINDS`) every method of a built-in family returns; a
#: method's ``result_kind`` attribute overrides it (history matching, of the emulation family)
FAMILY_KINDS = {"minimiser": "optimisation", "search": "optimisation",
                "stepwise": "optimisation", "mcmc": "sample", "emulation": "sample",
                "variational": "ensemble", "kalman": "ensemble", "weighting": "ensemble",
                "sensitivity": "analysis"}


def method_kind(func) -> str | None:
    """The result kind ``func`` returns (``"optimisation"``, ``"sample"``, ``"ensemble"`` or
    ``"analysis"``): its ``result_kind`` attribute, else its family's (`FAMILY_KINDS`); None
    when neither says (a plugin's method: `pdaframe.result.as_kind` reads what it returns)."""
    return getattr(func, "result_kind", None) or FAMILY_KINDS.get(method_family(func))


def check_method_options(name, func, options) -> dict:
    """``options`` of the method ``name`` (callable ``func``) checked against its declaration:
    an unknown option is a `ConfigError` naming the method and listing the valid ones; the
    types as `pdaframe.errors.check_options`. `RUN_OPTIONS` are accepted for every method
    but listed only by those that declare them. Returns the checked copy."""
    declared = method_options(func)
    if not is_open(func):
        unknown = sorted(set(options) - set(declared) - set(RUN_OPTIONS))
        if unknown:
            raise ConfigError(f"method {name!r}: unknown option(s) {unknown}; valid options: "
                              f"{', '.join(declared) or '(none)'}")
    return check_options(name, options, {k: o.default for k, o in declared.items()},
                         getattr(func, "option_counts", {}))


def check_x0(name, func, x0, n_param=None):
    """``x0`` for the method ``name`` (callable ``func``), or a `ConfigError`: a method whose
    ``uses_x0`` attribute is False (its members come from the prior or a design) refuses
    any start, and, given ``n_param``, a start must hold one value per parameter."""
    if x0 is None:
        return x0
    if not getattr(func, "uses_x0", True):
        raise ConfigError(f"method {name!r} does not use x0 (it draws its members from the "
                          f"prior or a design); leave x0 out")
    if n_param is not None and np.shape(x0) != (n_param,):
        raise ConfigError(f"method {name!r}: x0 must hold one value per parameter "
                          f"({n_param}), got shape {np.shape(x0)}")
    return x0


def draw_seed() -> int:
    """A seed drawn from fresh entropy (a 32-bit whole number), for a run given ``seed=None``:
    used for every member and recorded in the result, so the run can be repeated."""
    return int(np.random.SeedSequence().generate_state(1)[0])


#: built-in methods that assume each stream's fixed Gaussian likelihood (they whiten with
#: R, or update with a Kalman gain, instead of evaluating ``problem.cost``); a plugin's
#: method says the same with the attribute ``gaussian_likelihood_only = True``
GAUSSIAN_ONLY = frozenset({"es-mda", "enkf", "joint-enkf", "particle-filter", "4denvar",
                           "importance", "glue", "ces", "history-matching", "stepwise"})


def check_likelihood(name, func, problem, available=()):
    """A `ConfigError` when the method ``name`` (callable ``func``) assumes fixed Gaussian
    likelihoods (`GAUSSIAN_ONLY`) and a stream of ``problem`` has another likelihood or
    estimated error hyperparameters; the error lists the methods of ``available`` (names)
    that accept it."""
    if name not in GAUSSIAN_ONLY and not getattr(func, "gaussian_likelihood_only", False):
        return
    bad = [f"{s.name!r} ({lik.name})" for s, lik in
           zip(getattr(problem, "streams", ()), getattr(problem, "likelihoods", ()))
           if not lik.gaussian]
    if bad:
        ok = sorted(n for n in available if n not in GAUSSIAN_ONLY)
        raise ConfigError(f"method {name!r} assumes fixed Gaussian errors (the streams' own R), "
                          f"but stream(s) {', '.join(bad)} have another likelihood or "
                          f"estimated error hyperparameters; methods that evaluate the full "
                          f"likelihood: {', '.join(ok)}")
