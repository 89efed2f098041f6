"""The layering of `pdaframe/`, read from its import graph (ast; every import counts,
including the ones inside functions).

Rules (issue 12):

* the core (`problem`, `prior`, `observations` with its `operators`, `models`) never imports
  `methods`, `analysis`, `io`, `config`, `cli`, `run`, `plugins` (nor `builtin`);
* `parallel` never imports `methods`;
* `methods` never imports `config` or `cli` (writers and checkpoint stores reach methods as
  arguments);
* no module imports the package root `pdaframe` (it imports everything), nor binds it
  (``import pdaframe.errors`` without ``as``) or loads it by name (``import_module``);
* no import cycles other than the plugin registry <-> built-ins pair.
* no module above 500 lines unless its docstring says why ("Longer than 500 lines because").

What the code still does against a rule is listed in `KNOWN_VIOLATIONS` (each with the
reason and the issue item that removes it). The test is a ratchet: it fails on a violation
not listed, and on a listed one that no longer occurs (then delete its line).
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "pdaframe"

CORE = {"problem", "prior", "observations", "models"}
RULES = [   # (importer components, forbidden components, rule)
    (CORE, {"methods", "analysis", "io", "config", "cli", "run", "plugins", "builtin"},
     "core never imports methods/analysis/io/config/cli/run/plugins"),
    ({"parallel"}, {"methods"}, "parallel never imports methods"),
    ({"methods"}, {"config", "cli"}, "methods never import config or cli"),
]
ALLOWED_CYCLE = frozenset({"pdaframe.plugins", "pdaframe.builtin"})

#: ``(importer, imported)`` edges that break a rule, and cycles (frozensets of the modules of
#: one strongly connected component), each with why it is still there.
KNOWN_VIOLATIONS: dict = {}
KNOWN_CYCLES = {
    frozenset({"pdaframe.parallel.base", "pdaframe.parallel.mpi"}):
        "get_executor builds the MPI executor lazily, mpi uses base.evaluate (inside parallel)",
}


def _modules(root=ROOT):
    out = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name, path, modules):
    """``(node, targets)`` of every import in module ``name`` (file ``path``): the modules
    of ``modules`` it imports, a name inside a module counting as the module."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        else:
            continue
        found = set()
        for t in targets:
            while t not in modules and "." in t:       # a name inside a module
                t = t.rsplit(".", 1)[0]
            if t in modules and t != name:
                found.add(t)
        yield node, found


def _graph(root=ROOT):
    modules = _modules(root)
    graph = {m: set() for m in modules}
    for name, path in modules.items():
        for _, targets in _imports(name, path, modules):
            graph[name] |= targets
    return graph


def _root_imports(root=ROOT) -> list[str]:
    """``"module:line"`` of every place inside the package that reaches its root (the
    namespace of ``__init__.py``): ``import pdaframe``, ``from pdaframe import minimise``
    or ``from .. import minimise`` (a name that is not a submodule), ``import pdaframe.x``
    without ``as`` (it binds ``pdaframe``), and ``import_module("pdaframe")`` or
    ``__import__("pdaframe")``."""
    modules = _modules(root)
    top = root.name
    out = []
    for name, path in sorted(modules.items()):
        if name == top:
            continue
        for node, targets in _imports(name, path, modules):
            binds_root = isinstance(node, ast.Import) and any(
                a.asname is None and a.name.split(".")[0] == top for a in node.names)
            if top in targets or binds_root:
                out.append((name, node.lineno))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and node.args and \
                    isinstance(node.args[0], ast.Constant) and node.args[0].value == top and \
                    getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                        "import_module", "__import__"):
                out.append((name, node.lineno))
    return [f"{name}:{line}" for name, line in sorted(out)]


def _component(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _rule_violations(graph):
    found = {}
    for src, targets in graph.items():
        for dst in targets:
            for importers, forbidden, rule in RULES:
                if _component(src) in importers and _component(dst) in forbidden:
                    found[(src, dst)] = rule
    return found


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan), the allowed
    plugin registry <-> built-ins edge left out."""
    graph = {m: set(t) for m, t in graph.items()}
    graph["pdaframe.plugins"].discard("pdaframe.builtin")
    index, low, stack, on, out = {}, {}, [], set(), set()

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.add(frozenset(comp))

    import sys
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return out


def test_the_graph_sees_the_package():
    graph = _graph()
    assert "pdaframe.problem.single" in graph
    assert "pdaframe.observations.operators.sif" in graph
    assert "pdaframe.errors" in graph["pdaframe.problem.single"]
    assert "pdaframe.builtin" in graph["pdaframe.plugins"]          # a lazy import counts


def test_layering_rules_hold_apart_from_the_known_violations():
    found = _rule_violations(_graph())
    new = {edge: rule for edge, rule in found.items() if edge not in KNOWN_VIOLATIONS}
    gone = set(KNOWN_VIOLATIONS) - set(found)
    assert not new, f"layering violations (import -> rule): {new}"
    assert not gone, f"fixed, delete from KNOWN_VIOLATIONS: {sorted(gone)}"


def test_no_import_cycles_but_the_plugin_registry_and_builtins():
    cycles = _cycles(_graph())
    new = [sorted(c) for c in cycles if c not in KNOWN_CYCLES]
    gone = [sorted(c) for c in set(KNOWN_CYCLES) - cycles]
    assert not new, f"import cycles: {new}"
    assert not gone, f"cycles gone or changed, update KNOWN_CYCLES: {gone}"
    assert ALLOWED_CYCLE not in KNOWN_CYCLES


def test_nothing_inside_the_package_imports_its_root():
    found = _root_imports()
    assert not found, (f"imports of the package root from inside it (import the submodule "
                       f"instead): {found}")


def test_the_root_import_check_can_fail(tmp_path):
    pkg = tmp_path / "pdaframe"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sub.mod import minimise\n")
    (pkg / "errors.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "mod.py").write_text(
        "from .. import errors\nimport pdaframe.errors as e\n"      # submodules: fine
        "def minimise():\n    from .. import minimise\n"            # line 4: the root's name
        "import pdaframe\nfrom pdaframe import minimise\n"          # lines 5, 6
        "import pdaframe.errors\n"                                  # 7: binds pdaframe
        "import importlib\nimportlib.import_module('pdaframe')\n")  # 9
    assert _root_imports(pkg) == ["pdaframe.sub.mod:4", "pdaframe.sub.mod:5",
                                  "pdaframe.sub.mod:6", "pdaframe.sub.mod:7",
                                  "pdaframe.sub.mod:9"]


MAX_LINES = 500
LONG_REASON = "Longer than 500 lines because"


def _too_long(modules):
    """Modules of more than `MAX_LINES` lines whose docstring does not say why."""
    out = []
    for name, path in sorted(modules.items()):
        text = path.read_text()
        if len(text.splitlines()) > MAX_LINES and LONG_REASON not in (
                ast.get_docstring(ast.parse(text, str(path))) or ""):
            out.append(name)
    return out


def test_no_module_above_500_lines_without_a_reason():
    too_long = _too_long(_modules())
    assert not too_long, (f"modules above {MAX_LINES} lines: {too_long}; split them along a "
                          f"seam, or say why in the module docstring ('{LONG_REASON} ...')")


def test_the_length_check_can_fail(tmp_path):
    body = "x = 1\n" * MAX_LINES
    (tmp_path / "long.py").write_text('"""Short."""\n' + body)
    (tmp_path / "why.py").write_text(f'"""{LONG_REASON} it must."""\n' + body)
    (tmp_path / "short.py").write_text('"""Short."""\n' + "x = 1\n" * (MAX_LINES - 1))
    modules = {p.stem: p for p in tmp_path.glob("*.py")}
    assert _too_long(modules) == ["long"]
