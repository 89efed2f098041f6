"""The model conformance suite: a test class to subclass, and the pytest plugin that runs it.

A plugin's tests check their model against everything pdaframe relies on with one short file
(``tests/test_conformance.py``)::

    from pdaframe.plugin import ModelConformance

    class TestMyModel(ModelConformance):
        model = "my-model"                # the registered name (or a class/factory, or a model)
        options = {"n_days": 60}          # its options, as under [model] options in a config
        theta = None                      # the point of the checks (None: the defaults)

``pytest`` then runs nine checks, each a test named after what it checks:

=================================  ======================================================
``test_parameter_table``           names unique, defaults finite and inside the bounds,
                                   std positive, units given
``test_outputs``                   a dict of numeric arrays (time first), all finite,
                                   only declared outputs
``test_time_axis``                 ``model.time`` increasing, one entry per output row
``test_output_units``              every output in ``output_units``
``test_determinism``               same theta, same outputs; theta not modified; no
                                   reused output buffers
``test_failing_runs_raise_model_error``  each parameter below/above its bounds and NaN,
                                   and a short theta: outputs or `ModelError`, never
                                   another exception
``test_tangent_taylor``            Taylor test of each output (second order over
                                   ``min_decades``)
``test_adjoint_dot_product``       ``<T dθ, dy> = <dθ, A dy>`` to ``tol``, per output
``test_cost_gradient_taylor``      Taylor test of the gradient of a twin 4D-Var cost
=================================  ======================================================

A model without tangent and adjoint has the last three skipped ("no tangent/adjoint").
Every check is deterministic: the directions are drawn with `pdaframe.testing.DEFAULT_SEED`
(``seed`` to change it; ``pytest --pdaframe-seed N`` for one run) and scaled by each
parameter's prior ``std`` from the table (``scale`` to change it). A failure names the
output or parameter, the numbers (decades reached) and what to change. Class attributes
tune the checks: ``scale``, ``steps``, ``min_decades``, ``tol``, ``seed`` and ``skip``
(``{"test_time_axis": "why"}``: skipped with that reason); override `make_problem` to test
the gradient of your own problem.

Why a class to subclass: it is one import and three lines, the checks appear in pytest's
report under their own names (one can fail, be skipped or be selected alone with ``-k``),
and tuning is plain Python (an attribute, or overriding a method), with nothing to learn
about fixtures or hooks.

The pytest plugin (this module, registered through the ``pytest11`` entry point
``pdaframe.conformance``, so ``pytest`` loads it wherever pdaframe is installed; else
``-p pdaframe.conformance``) adds ``--pdaframe-seed``, the ``conformance`` marker on these
tests (``pytest -m conformance`` runs only them) and a report-header line with the seed.
The suite itself needs no plugin: subclassing works under any pytest.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..interfaces import has_adjoint, has_tangent
from ..testing import DEFAULT_SEED, check_gradient, check_tangent, dot_product_test
from .checks import (bounds, check_determinism, check_failing_runs, check_output_units,
                     check_outputs, check_parameter_table, check_time_axis, default_theta,
                     direction_scale, twin_problem)

__all__ = ["ModelConformance"]

NO_DERIVATIVES = ("no tangent/adjoint: derivative check skipped (the model is calibrated with "
                  "derivative-free methods or finite differences)")


def _skip(reason):
    import pytest                    # only when tests run: importing the suite needs no pytest
    pytest.skip(reason)


class ModelConformance:
    """Base class of a model's conformance tests; see `pdaframe.conformance`.

    Attributes
    ----------
    model : str, callable or model
        A registered model name (built with `pdaframe.plugins.get_model`), a class or
        factory called with ``options``, or a model object.
    options : dict
        Options of the model (keyword arguments of its factory).
    theta : array_like, optional
        Point of the checks; default the model's defaults.
    scale : array_like, optional
        Size of each parameter for the test directions; default the table's prior std
        (``max(|theta|, 1)`` where it gives none).
    steps : array_like, optional
        Taylor steps; default ``2**-k`` from 1 or half the distance to the nearest bound.
    min_decades : float
        Decades over which a Taylor remainder must fall as the step squared.
    tol : float
        Relative tolerance of the adjoint dot product.
    seed : int, optional
        Seed of the directions and the twin's noise; default `DEFAULT_SEED`
        (``pytest --pdaframe-seed N`` overrides both).
    skip : dict
        ``{test name: reason}`` of checks to skip, e.g. ``{"test_time_axis": "no dates"}``.
    """

    model = None
    options: dict = {}
    theta = None
    scale = None
    steps = None
    min_decades = 4.0
    tol = 1e-12
    seed = None
    skip: dict = {}

    # --- what the checks run on (built once per class) ------------------------------------
    def make_model(self):
        """The model under test, from ``model`` and ``options``."""
        spec = type(self).model
        if spec is None:
            raise ConfigError(f"{type(self).__name__}: set the class attribute model = "
                            f"'<registered name>' (or a class, factory or model object)")
        if isinstance(spec, str):
            from ..plugins import get_model
            return get_model(spec, **dict(self.options))
        if callable(spec) and (isinstance(spec, type) or not callable(getattr(spec, "run", None))):
            return spec(**dict(self.options))
        return spec

    def make_problem(self, model, theta, seed):
        """The problem whose cost gradient is Taylor-tested: a twin over every output
        (`pdaframe.conformance.checks.twin_problem`). Override to test your own."""
        return twin_problem(model, theta, self._scale(model, theta), seed)

    def _state(self):
        cls = type(self)
        state = cls.__dict__.get("_conformance_state")
        if state is None:
            unknown = sorted(set(cls.skip) - set(CHECKS))
            if unknown:
                raise ConfigError(f"{cls.__name__}.skip: unknown check(s) {unknown}; the "
                                  f"checks are {list(CHECKS)}")
            model = self.make_model()
            theta = default_theta(model) if self.theta is None else \
                np.array(self.theta, dtype=float)
            state = {"model": model, "theta": theta}
            cls._conformance_state = state
        return state

    def _begin(self, name, derivatives=False):
        if name in type(self).skip:
            _skip(type(self).skip[name])
        state = self._state()
        model = state["model"]
        if derivatives and not (has_tangent(model) or has_adjoint(model)):
            _skip(NO_DERIVATIVES)
        return model, state["theta"]

    def _seed(self, request):
        seed = request.config.getoption("pdaframe_seed", None)
        if seed is None:
            seed = self.seed
        return DEFAULT_SEED if seed is None else int(seed)

    def _scale(self, model, theta):
        return direction_scale(model, theta) if self.scale is None else \
            np.asarray(self.scale, dtype=float)

    def _outputs(self):
        state = self._state()
        if "outputs" not in state:
            try:
                state["outputs"] = check_outputs(state["model"], state["theta"])
            except AssertionError as err:
                state["outputs"] = err
        if isinstance(state["outputs"], AssertionError):
            _skip("needs outputs: test_outputs failed")
        return state["outputs"]

    # --- the checks -------------------------------------------------------------------------
    def test_parameter_table(self):
        model, _ = self._begin("test_parameter_table")
        check_parameter_table(model)

    def test_outputs(self):
        model, theta = self._begin("test_outputs")
        check_outputs(model, theta)

    def test_time_axis(self):
        model, _ = self._begin("test_time_axis")
        check_time_axis(model, self._outputs())

    def test_output_units(self):
        model, _ = self._begin("test_output_units")
        check_output_units(model, self._outputs())

    def test_determinism(self, request):
        model, theta = self._begin("test_determinism")
        rng = np.random.default_rng(self._seed(request))
        lower, upper = bounds(model, theta.size)
        other = theta + 0.1 * self._scale(model, theta) * rng.standard_normal(theta.size)
        check_determinism(model, theta, np.clip(other, lower, upper))

    def test_failing_runs_raise_model_error(self):
        model, theta = self._begin("test_failing_runs_raise_model_error")
        check_failing_runs(model, theta)

    def test_tangent_taylor(self, request):
        model, theta = self._begin("test_tangent_taylor", derivatives=True)
        lower, upper = bounds(model, theta.size)
        check_tangent(model, theta, self._scale(model, theta), self._seed(request),
                      self.steps, self.min_decades, lower=lower, upper=upper)

    def test_adjoint_dot_product(self, request):
        model, theta = self._begin("test_adjoint_dot_product", derivatives=True)
        if not (has_tangent(model) and has_adjoint(model)):
            _skip(f"needs both tangent and adjoint; the model has only its "
                  f"{'tangent' if has_tangent(model) else 'adjoint'}")
        dot_product_test(model, theta, self._seed(request), self.tol)

    def test_cost_gradient_taylor(self, request):
        model, theta = self._begin("test_cost_gradient_taylor", derivatives=True)
        seed = self._seed(request)
        check_gradient(self.make_problem(model, theta, seed), theta, seed, self.min_decades)


#: the names of the checks (the test methods of `ModelConformance`)
CHECKS = tuple(sorted(n for n in vars(ModelConformance) if n.startswith("test_")))


# --- the pytest plugin (entry point pytest11: pdaframe.conformance) ---------------------------
def pytest_addoption(parser):
    parser.getgroup("pdaframe", "pdaframe model conformance suite").addoption(
        "--pdaframe-seed", type=int, default=None, dest="pdaframe_seed", metavar="N",
        help=f"seed of the conformance suite's directions and twin noise (default "
             f"{DEFAULT_SEED}, or a test class's seed)")


def pytest_configure(config):
    config.addinivalue_line("markers", "conformance: a check of the pdaframe model "
                                       "conformance suite (pdaframe.plugin.ModelConformance)")


def pytest_collection_modifyitems(config, items):
    for item in items:
        cls = getattr(item, "cls", None)
        if cls is not None and issubclass(cls, ModelConformance):
            item.add_marker("conformance")


def pytest_report_header(config):
    seed = config.getoption("pdaframe_seed", None)
    return (f"pdaframe conformance suite: seed {DEFAULT_SEED if seed is None else seed}"
            + ("" if seed is not None else " (test classes may set their own; "
                                               "--pdaframe-seed N for all)"))
