"""Plugin discovery through entry points, duplicates, unknown names, blocking."""
import sys
import textwrap

import pytest

import pdaframe
import pdaframe.plugin
from pdaframe import hookspecs


def make_dist(root, dist, module, body):
    """A minimal installed distribution on ``root`` with an entry point in group pdaframe."""
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[pdaframe]\n{module} = {module}\n")


MODEL = """
    import pdaframe.plugin

    @pdaframe.plugin.hookimpl
    def pdaframe_register_models(registry):
        registry.add("{name}", lambda **kw: pdaframe.LinearModel([[1.0]]))
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("PDAFRAME_DISABLE_PLUGINS", raising=False)
    pdaframe.plugin.reset_plugins()
    yield tmp_path
    pdaframe.plugin.reset_plugins()
    for mod in ("fake_a", "fake_b"):
        sys.modules.pop(mod, None)


def test_entry_point_plugin_is_discovered(site):
    make_dist(site, "pdaframe-fake-a", "fake_a", MODEL.format(name="fake-model"))
    model = pdaframe.get_model("fake-model")
    assert model.parameter_names == ("theta_0",)
    rows = {r["name"]: r for r in pdaframe.get_plugins().describe()}
    assert rows["fake_a"]["distribution"] == "pdaframe-fake-a"
    assert rows["fake_a"]["version"] == "1.2.3"
    assert rows["fake_a"]["provides"] == {"model": ["fake-model"]}
    assert "lbfgsb" in rows["pdaframe"]["provides"]["method"]


def test_duplicate_name_names_both_distributions(site):
    make_dist(site, "pdaframe-fake-a", "fake_a", MODEL.format(name="same"))
    make_dist(site, "pdaframe-fake-b", "fake_b", MODEL.format(name="same"))
    with pytest.raises(pdaframe.PluginError, match=r"model 'same' is registered twice: by "
                                                   r"pdaframe-fake-. 1.2.3.*and by "
                                                   r"pdaframe-fake-. 1.2.3"):
        pdaframe.get_plugins()


def test_builtin_name_clash_is_reported(site):
    make_dist(site, "pdaframe-fake-a", "fake_a", MODEL.format(name="linear"))
    with pytest.raises(pdaframe.PluginError, match="'linear' is registered twice: by pdaframe"):
        pdaframe.get_plugins()


def test_plugins_can_be_disabled(site, monkeypatch):
    make_dist(site, "pdaframe-fake-a", "fake_a", MODEL.format(name="same"))
    make_dist(site, "pdaframe-fake-b", "fake_b", MODEL.format(name="same"))
    monkeypatch.setenv("PDAFRAME_DISABLE_PLUGINS", "fake_b")
    assert pdaframe.get_model("same") is not None
    monkeypatch.setenv("PDAFRAME_DISABLE_PLUGINS", "all")
    with pytest.raises(pdaframe.PluginError, match="unknown model 'same'"):
        pdaframe.get_model("same")


def test_broken_plugin_import_is_named(site):
    make_dist(site, "pdaframe-fake-a", "fake_a", "raise ImportError('no compiler here')\n")
    with pytest.raises(pdaframe.PluginError, match="plugin 'fake_a'.*pdaframe-fake-a 1.2.3 "
                                                   "failed to load.*no compiler here"):
        pdaframe.get_plugins()


def test_misspelt_hook_fails_early(site):
    make_dist(site, "pdaframe-fake-a", "fake_a", """
        import pdaframe.plugin

        @pdaframe.plugin.hookimpl
        def pdaframe_register_model(registry):
            pass
    """)
    with pytest.raises(pdaframe.PluginError, match="pdaframe_register_model"):
        pdaframe.get_plugins()


def test_unknown_names_list_available():
    with pytest.raises(pdaframe.PluginError, match="unknown operator 'sel'; available: "
                                                   ".*identity.*select"):
        pdaframe.get_operator("sel", variable="y")
    op = pdaframe.get_operator("select", variable="y", times=[0, 2])
    assert list(op.apply({"y": [5.0, 6.0, 7.0]})) == [5.0, 7.0]


def test_every_hook_is_documented():
    for name in pdaframe.plugins.HOOKS.values():
        doc = getattr(hookspecs, name).__doc__
        assert "registry.add" in doc and "Parameters" in doc, name
