"""Hook specifications: how a plugin adds models, operators, priors, methods and readers.

A plugin is a module (or object) with functions named like these hooks and marked with
``pdaframe.plugin.hookimpl``. It is found through the entry-point group ``pdaframe``::

    [project.entry-points.pdaframe]
    mymodel = "pdaframe_mymodel.plugin"

Each hook receives a registry and calls ``registry.add(name, obj)``. A name taken by two
distributions raises `PluginError` naming both. Implementations may accept a subset of the
arguments; arguments are only ever added, never renamed.
"""
import pluggy

hookspec = pluggy.HookspecMarker("pdaframe")


@hookspec
def pdaframe_register_models(registry):
    """Add model factories with ``registry.add(name, factory)``.

    ``factory(**options)`` returns a model: an object with ``parameter_names`` and
    ``run(theta)``, optionally ``tangent``/``adjoint`` (see `pdaframe.interfaces`).
    `pdaframe.get_model(name, **options)` and the ``[model]`` table of a config call it.

    Parameters
    ----------
    registry : Registry
        Collects ``name -> factory`` for models.
    """


@hookspec
def pdaframe_register_operators(registry):
    """Add observation-operator factories with ``registry.add(name, factory)``.

    ``factory(variable, times=None, **options)`` returns an `ObservationOperator` for one
    stream observing model output ``variable`` at time indices ``times`` (``None``: every
    step). `pdaframe.get_operator(name, **options)` and a stream's ``operator`` key call it.

    Parameters
    ----------
    registry : Registry
        Collects ``name -> factory`` for observation operators.
    """


@hookspec
def pdaframe_register_priors(registry):
    """Add prior families with ``registry.add(name, family)``.

    A family is a callable ``family(parameters, **options) -> Prior`` where ``parameters``
    is a list of dicts (one per parameter: ``name``, ``mean``, ``std``, ``lower``,
    ``upper``, ``transform``) and ``options`` come from the config's ``[prior]`` table.

    Parameters
    ----------
    registry : Registry
        Collects ``name -> family`` for priors.
    """


@hookspec
def pdaframe_register_methods(registry):
    """Add minimisers and samplers with ``registry.add(name, method)``.

    ``method(problem, x0=None, callback=None, **options)`` returns a `Result`;
    `pdaframe.minimise(problem, method=name)` and the config's ``[method]`` table call it.

    Parameters
    ----------
    registry : Registry
        Collects ``name -> method``.
    """


@hookspec
def pdaframe_register_readers(registry):
    """Add observation-file readers with ``registry.add(name, reader)``.

    ``reader(path, **options)`` returns a `pdaframe.observations.readers.ReadResult`, or any
    object with its attributes: ``times`` (datetime64 dates), ``values``, ``std`` (σ or None),
    ``units`` and ``record`` (a JSON-serialisable dict of what was read and rejected). A stream's
    ``reader = name`` with ``reader_options = {...}`` calls it; options it does not take as
    keyword-only arguments are a `ConfigError` before anything is read.

    Parameters
    ----------
    registry : Registry
        Collects ``name -> reader``.
    """
