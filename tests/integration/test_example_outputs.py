"""The behaviour-unchanged tool (benchmarks/example_outputs.py) on something cheap: two runs
of the toy twin with the same seed hash the same, a changed seed is reported per variable,
and added/removed files and items are named."""
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("example_outputs",
                                                  ROOT / "benchmarks" / "example_outputs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _toy(tmp_path, tool, seed, name):
    text = (ROOT / "examples" / "toy_twin" / "config.toml").read_text()
    config = tmp_path / f"{name}.toml"
    config.write_text(re.sub(r"(?m)^seed = \d+", f"seed = {seed}", text))
    out = tmp_path / name
    tool.run_config(config, out)
    return tool.folder_items(out)


def test_same_seed_identical_changed_seed_differs(tmp_path, tool):
    a = _toy(tmp_path, tool, 20261126, "a")
    b = _toy(tmp_path, tool, 20261126, "b")
    c = _toy(tmp_path, tool, 7, "c")
    assert list(a) == ["result.nc"]                           # the PNG plots are not compared
    items = a["result.nc"]
    assert "variable analysis" in items and "attribute :seed" in items
    assert not set(items) & {f"attribute :{p}" for p in tool.PROVENANCE}
    assert tool.diff_outputs({"toy": a}, {"toy": b}) == {"toy": []}   # run_id, dates aside
    lines = tool.diff_outputs({"toy": a}, {"toy": c})["toy"]
    assert "result.nc: variable nee_observed differs" in lines
    assert "result.nc: attribute :seed differs" in lines
    assert "result.nc: variable param differs" not in lines    # same parameters, same names


def test_added_removed_and_exit_status(tmp_path, tool, capsys):
    before = {"x/config": {"result.nc": {"variable a": "1", "variable b": "2"},
                           "shortlist.toml": {"key parameters.estimate": "3"}}}
    after = {"x/config": {"result.nc": {"variable a": "1", "variable c": "2"}},
             "y/config": {}}
    lines = tool.diff_outputs(before, after)
    assert lines == {"x/config": ["result.nc: variable b removed", "result.nc: variable c added",
                                  "shortlist.toml: file removed"],
                     "y/config": ["config added (not in the recorded manifest)"]}
    assert tool.print_report(lines) == 1
    assert tool.print_report(tool.diff_outputs(before, before)) == 0
    assert "x/config: identical" in capsys.readouterr().out
    # diff of two manifest files through the command line
    for name, outputs in (("a", before), ("b", after)):
        (tmp_path / f"{name}.json").write_text(json.dumps({"format": tool.FORMAT,
                                                           "outputs": outputs}))
    assert tool.main(["diff", str(tmp_path / "a.json"), str(tmp_path / "a.json")]) == 0
    assert tool.main(["diff", str(tmp_path / "a.json"), str(tmp_path / "b.json")]) == 1


def test_toml_comments_ignored(tmp_path, tool):
    one, two = tmp_path / "one.toml", tmp_path / "two.toml"
    one.write_text("# run id 1\n[parameters]\nestimate = [\"a\", \"b\"]\n")
    two.write_text("# run id 2\n[parameters]\nestimate = [\"a\", \"b\"]\n")
    assert tool.data_file_items(one) == tool.data_file_items(two)
    two.write_text("[parameters]\nestimate = [\"b\", \"a\"]\n")
    assert tool.data_file_items(one) != tool.data_file_items(two)


def test_every_example_config_is_listed(tool):
    listed = {(e, s) for e, s, _ in tool.RUNS}
    assert set(tool.configs_found()) == listed


def test_tree_at_runs_the_revisions_python_with_this_checkouts_builds(tmp_path, tool):
    """``record --at REV``: pdaframe, the plugins' Python files and the examples come from the
    exported revision; a meson-built plugin's compiled part from this checkout's build."""
    import subprocess
    import sys
    tree, env = tool.tree_at("HEAD", tmp_path)
    assert (tree / "examples" / "toy_twin" / "config.toml").is_file()
    code = ("import pdaframe, pdaframe_toy, pdaframe_dalec2, pdaframe_hymod\n"
            "from pdaframe_dalec2 import model\n"
            "print(pdaframe.__file__, pdaframe_toy.__file__, pdaframe_dalec2.__file__, "
            "pdaframe_hymod.__file__)\n")
    out = subprocess.run([sys.executable, "-c", code], env=tool.run_env(env), cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == str(tree / "pdaframe" / "__init__.py")
    assert out[1] == str(tree / "plugins" / "toy" / "pdaframe_toy" / "__init__.py")
    for path, name in zip(out[2:], ("dalec2", "hymod")):     # linked to the exported files
        assert Path(path).resolve() == (tree / "plugins" / name / f"pdaframe_{name}" /
                                        "__init__.py").resolve()
    with pytest.raises(SystemExit, match="not a revision"):
        tool.tree_at("no-such-revision", tmp_path / "bad")


def test_machine_is_recorded_and_a_different_one_is_said(tool, capsys):
    here = tool.machine()
    assert here["numpy"] and here["blas"] and all("openblas" in b for b in here["blas"])
    tool.machine_note({"machine": here}, {"machine": here})
    assert capsys.readouterr().out == ""
    tool.machine_note({"machine": {**here, "cpu": "other"}, "recorded_at_revision": "abc"},
                      {"machine": here})
    out = capsys.readouterr().out
    assert "different machines" in out and "record --at abc" in out


def test_record_at_an_earlier_revision_leaves_out_later_examples(tmp_path, tool, capsys):
    """An example added after the "before" revision (``fluxnet_site``) is left out, with a
    note, when the tree at that revision is run; its manifest entry says where it was
    recorded instead."""
    for e, s, _ in tool.RUNS:
        if e != "fluxnet_site":
            (tmp_path / "examples" / e).mkdir(parents=True, exist_ok=True)
            (tmp_path / "examples" / e / f"{s}.toml").write_text("")
    runs = tool.selected_runs(None, tmp_path, at="abc")
    assert [(e, s) for e, s, _ in runs] == [(e, s) for e, s, _ in tool.RUNS
                                            if e != "fluxnet_site"]
    assert "not at abc (added later" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="RUNS lists configs that do not exist: "
                                         "fluxnet_site/config.toml"):
        tool.selected_runs(None, tmp_path)                # without --at: an error as before
    manifest = json.loads((ROOT / "benchmarks" / "example_outputs.json").read_text())
    assert set(manifest.get("recorded_later_at", {})) <= set(manifest["outputs"])
    assert set(manifest["outputs"]) == {f"{e}/{s}" for e, s, _ in tool.RUNS}
