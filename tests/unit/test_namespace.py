"""The two public namespaces (issue 12 item 7): `pdaframe` for users, `pdaframe.plugin` for
plugin authors; the plugin-author names left in `pdaframe` only as deprecated aliases."""
import ast
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import pdaframe
import pdaframe.plugin
from pdaframe.plugins import Registry, registry

ROOT = Path(__file__).resolve().parents[2]

USER_NAMES = {
    "Problem", "MultiSiteProblem", "minimise", "load_config", "Checkpoint", "GaussianPrior",
    "UniformPrior",
    "DataStream", "ErrorCovariance", "LinearModel", "Result", "synthetic_streams",
    "ConfigError", "DataError", "ModelError", "OutputError", "PdaframeError", "PluginError",
    "get_method", "get_model", "get_operator", "get_plugins", "predict",
}
PLUGIN_NAMES = {
    "hookimpl", "Registry", "get_plugins", "reset_plugins",
    "Model", "ObservationOperator", "Parameter", "JaxModel",
    "KernelModel", "load_parameter_table", "time_axis",
    "ConfigError", "DataError", "ModelError", "PluginError",
    "Identity", "Select", "TemporalAggregation", "SpatialMean", "SIF",
    "NormalisedSeasonality", "CDFMatching", "Bias", "MLPOperator", "OPERATOR_FACTORIES",
    "check_model", "check_gradient", "taylor_test", "dot_product_test",
    "operator_dot_product_test", "TaylorReport", "ModelConformance",
    "read_columns", "MISSING", "open_text", "read_header",
    "DriverTable", "read_driver_file", "drivers_from_fluxnet", "read_site_drivers", "ReadResult",
    "read_npz", "write_npz",
}
#: in both: the errors a plugin raises are the ones users catch; get_plugins lists both sides
SHARED = {"ConfigError", "DataError", "ModelError", "PluginError", "get_plugins"}
#: minimal options of each built-in operator factory (a new built-in operator needs a row)
OPERATOR_OPTIONS = {
    "identity": {},
    "select": {"times": [0, 2]},
    "aggregate": {"windows": [0, 2, 4]},
    "spatial_mean": {"weights": [1.0]},
    "sif": {},
    "normalised_seasonality": {"times": [0, 1, 2], "years": [2000, 2000, 2000]},
    "cdf_matching": {},
    "bias": {"std": 1.0},
    "mlp": {},                        # + a file written by the test
}


def _no_warning_getattr(module, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return getattr(module, name)


def test_user_namespace_is_as_documented():
    assert set(pdaframe.__all__) == USER_NAMES | {
        n for n in pdaframe.__all__ if n.endswith("Result")}      # result kinds may join
    for name in pdaframe.__all__:
        assert _no_warning_getattr(pdaframe, name) is not None, name
    assert not (set(pdaframe.__all__) & (PLUGIN_NAMES - SHARED))
    assert not (set(pdaframe.__all__) & pdaframe.MOVED_TO_PLUGIN)


def test_plugin_namespace_is_as_documented():
    assert set(pdaframe.plugin.__all__) == PLUGIN_NAMES
    assert len(pdaframe.plugin.__all__) == len(PLUGIN_NAMES)          # no name twice
    doc = pdaframe.plugin.__doc__
    readme = (ROOT / "README.md").read_text().split("## Writing a plugin")[1].split("\n## ")[0]
    for name in pdaframe.plugin.__all__:
        assert _no_warning_getattr(pdaframe.plugin, name) is not None, name
        assert f"`{name}`" in doc, f"{name} is not in the pdaframe.plugin docstring"
        assert f"`{name}`" in readme, f"{name} is not in the README's 'Writing a plugin'"
    # the same objects as where they are defined
    from pdaframe.interfaces import Model
    from pdaframe.tables import read_columns
    from pdaframe.plugins import hookimpl
    from pdaframe.testing import check_model
    assert (pdaframe.plugin.Model, pdaframe.plugin.hookimpl, pdaframe.plugin.check_model,
            pdaframe.plugin.read_columns) == (Model, hookimpl, check_model, read_columns)


@pytest.mark.parametrize("name", sorted(pdaframe.MOVED_TO_PLUGIN))
def test_moved_names_still_work_from_pdaframe_with_a_warning(name):
    assert name not in vars(pdaframe)                     # only through __getattr__
    with pytest.warns(DeprecationWarning, match=rf"pdaframe\.{name} is deprecated: import "
                                                rf"it from pdaframe\.plugin") as caught:
        obj = getattr(pdaframe, name)
    assert obj is getattr(pdaframe.plugin, name)
    assert caught[0].filename == __file__                 # points at the caller


def test_from_pdaframe_import_moved_name_warns_at_the_import():
    with pytest.warns(DeprecationWarning, match="from pdaframe.plugin import hookimpl") as w:
        from pdaframe import hookimpl
    assert hookimpl is pdaframe.plugin.hookimpl and w[0].filename == __file__
    assert pdaframe.MOVED_TO_PLUGIN == {"hookimpl", "Model", "ObservationOperator",
                                        "Parameter", "Identity", "Select", "reset_plugins"}


def test_unknown_attribute_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="module 'pdaframe' has no attribute 'Modle'"):
        pdaframe.Modle
    assert not hasattr(pdaframe, "check_model")


def test_every_builtin_operator_factory_and_class_is_in_pdaframe_plugin(tmp_path):
    from pdaframe.observations.operators import MLP
    mlp = MLP(["x"], [np.ones((1, 1))], [np.zeros(1)], [0.0], [1.0], [0.0], [1.0], 0.0, 1.0)
    options = {**OPERATOR_OPTIONS, "mlp": {"file": str(mlp.save(tmp_path / "m.npz"))}}
    reg = registry("operator")
    builtin = {n for n in reg.names() if reg.sources[n][0] == "pdaframe"}
    assert builtin == set(OPERATOR_OPTIONS) and len(builtin) == 9
    assert set(pdaframe.plugin.OPERATOR_FACTORIES) == builtin
    built = set()
    for name in sorted(builtin):
        factory = reg.get(name)
        assert pdaframe.plugin.OPERATOR_FACTORIES[name] is factory, name
        op = factory("y", **options[name])
        cls = type(op)
        assert getattr(pdaframe.plugin, cls.__name__, None) is cls, (name, cls)
        assert cls.__name__ in pdaframe.plugin.__all__
        built.add(cls)
    exported = [getattr(pdaframe.plugin, n) for n in pdaframe.plugin.__all__]
    operators = {c for c in exported if isinstance(c, type)
                 and issubclass(c, pdaframe.plugin.ObservationOperator)
                 and c is not pdaframe.plugin.ObservationOperator}
    assert built == operators and len(operators) == 9
    with pytest.raises(TypeError):
        pdaframe.plugin.OPERATOR_FACTORIES["mine"] = factory          # read-only


def _example_code():
    doc = pdaframe.plugin.__doc__.split("Examples\n--------\n")[1]
    block = doc.split("::\n\n", 1)[1].split("\n\nand in its tests")[0]
    return "\n".join(line[4:] for line in block.splitlines())


def test_the_docstring_example_plugin_works():
    ns = {}
    exec(compile(_example_code(), "pdaframe.plugin example", "exec"), ns)
    model = ns["Decay"]()
    report = pdaframe.plugin.check_model(model, [0.1, 100.0])
    assert report["taylor"]["carbon"].passed
    np.testing.assert_allclose(model.run(np.array([0.1, 100.0]))["carbon"][[0, 10]],
                               [100.0, 100.0 * np.exp(-1.0)], rtol=1e-14)
    with pytest.raises(pdaframe.ConfigError, match="n_days=0"):
        ns["Decay"](0)
    reg = Registry("model")
    ns["pdaframe_register_models"](reg)
    assert reg.names() == ["decay"] and reg.get("decay") is ns["Decay"]
    assert hasattr(ns["pdaframe_register_models"], "pdaframe_impl")      # marked by hookimpl


def _moved_uses(tree, name):
    """Moved names taken from `pdaframe`: ``from pdaframe import <moved>``, ``pdaframe.<moved>``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "pdaframe" and not node.level:
            out += [f"{name}:{node.lineno} from pdaframe import {a.name}" for a in node.names
                    if a.name in pdaframe.MOVED_TO_PLUGIN]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id == "pdaframe" and node.attr in pdaframe.MOVED_TO_PLUGIN:
            out.append(f"{name}:{node.lineno} pdaframe.{node.attr}")
    return out


def _plugin_violations(path):
    """In one plugin file: imports of pdaframe other than `pdaframe.plugin`, then the moved
    names it takes from `pdaframe`."""
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level and \
                re.match(r"pdaframe(\.|$)", node.module) and node.module != "pdaframe.plugin":
            out.append(f"{path.name}:{node.lineno} from {node.module} import ...")
        elif isinstance(node, ast.Import):
            out += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names
                    if a.name.startswith("pdaframe.") and a.name != "pdaframe.plugin"]
    return out + _moved_uses(tree, path.name)


def test_in_repo_plugins_import_only_pdaframe_plugin():
    files = sorted(ROOT.glob("plugins/*/pdaframe_*/*.py"))
    assert {f.parent.name for f in files} >= {"pdaframe_toy", "pdaframe_dalec2",
                                              "pdaframe_hymod"}
    assert [v for f in files for v in _plugin_violations(f)] == []


def test_no_in_repo_code_takes_a_moved_name_from_pdaframe():
    files = [f for pattern in ("plugins/*/tests/*.py", "tests/**/*.py", "examples/**/*.py",
                               "benchmarks/*.py", "pdaframe/**/*.py")
             for f in sorted(ROOT.glob(pattern)) if f.name != "test_namespace.py"]
    assert len(files) > 100
    assert [v for f in files for v in _moved_uses(ast.parse(f.read_text()), f.name)] == []


def test_the_plugin_import_check_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import pdaframe\nfrom pdaframe.tables import read_columns\n"
                   "from pdaframe import ConfigError, hookimpl\nimport pdaframe.testing\n"
                   "from pdaframe.plugin import Model\nx = pdaframe.Model\n")
    assert _plugin_violations(bad) == ["bad.py:2 from pdaframe.tables import ...",
                                       "bad.py:3 from pdaframe import ...",
                                       "bad.py:4 import pdaframe.testing",
                                       "bad.py:3 from pdaframe import hookimpl",
                                       "bad.py:6 pdaframe.Model"]
