"""Behaviour-unchanged check: every example config's outputs, hashed and compared.

Runs every runnable example config (``examples/*/*.toml``) with ``pdaframe run -q -o
<tmpdir>/<example>/<config stem>``, serially and with one BLAS/OpenMP thread, and records a
manifest: for every NetCDF file written (``result.nc``, ``samples.nc``, ``ensemble.nc``,
``sensitivity.nc``, ...) a sha256 per dimension, per variable (dtype, dimensions, shape and
the raw bytes of the values, fill values included) and per attribute (global, per group and
per variable); for every other data file (``shortlist.toml``) a sha256 per TOML/JSON key, or
per file. ``benchmarks/example_outputs.json`` (committed) is the manifest recorded before the
package refactor of issue 12: the "before" set, recorded from the revision it names
(``recorded_at_revision``) with ``record --at``.

Usage
-----
From the repository root; the ``pdaframe`` that ``python -m pdaframe.cli`` imports is the one
checked, so put a work tree first with ``PYTHONPATH=.`` when it is not the installed one::

    python benchmarks/example_outputs.py record [--out MANIFEST] [--only EXAMPLE ...] [--at REV]
    python benchmarks/example_outputs.py compare [--manifest MANIFEST] [--only EXAMPLE ...]
    python benchmarks/example_outputs.py diff MANIFEST_A MANIFEST_B

record
    Runs the configs and writes the manifest (default ``benchmarks/example_outputs.json``).
    ``--at REV`` runs them with pdaframe, its plugins' Python files and the examples as they
    were at git revision ``REV`` (exported to a temporary tree; the plugins' compiled parts are
    this checkout's builds, so ``native/`` and the plugins' build files must be unchanged since
    ``REV``): how the "before" set is recorded on a new machine.
compare
    Re-runs the configs and prints per config "identical" or each differing, added or
    removed file, variable, dimension or attribute; exit status 1 on any difference, 0 when
    all are identical.
diff
    Compares two recorded manifests without running anything (e.g. two ``record`` runs of
    the same code, to check determinism); exit status as ``compare``.

``--only`` restricts ``record``/``compare`` to some examples (folder names; a config that
needs an earlier step brings that step along); ``--keep DIR`` keeps the outputs. Each
config's runtime is printed (and kept in the manifest, never compared). All eleven configs take
about 45-70 s on two cores.

Notes
-----
- Left out: the provenance attributes of ``PROVENANCE`` (run id, dates, versions, data file
  hashes, git revision, config text), comments of TOML files (run id, source path, data
  file hashes), PNG plots, report.html and the output folder's lock file.
- Configs run in the order of ``RUNS``; a config found under ``examples/`` but missing from
  ``RUNS`` is an error, so a new example cannot be skipped silently (``NOT_RUN`` lists the
  ones left out on purpose, with the reason). An example added after
  the "before" revision (``examples/fluxnet_site``) has its entry recorded at the revision
  that added it (``recorded_later_at`` in the manifest: config -> revision) with ``record
  --only``, and merged; ``record --at REV`` leaves out, with a note, the configs that do
  not exist at ``REV``. A step that reads an
  earlier step's output (``dalec2_sensitivity/calibrate.toml`` reads the shortlist that
  ``morris.toml`` writes to ``../../results/dalec2_sensitivity``) runs from a copy of its
  config in a temporary tree where that ``results/`` folder is the earlier step's output.
- Machines: bit-identity holds on one machine only. OpenBLAS picks its kernels by CPU (the
  manifest's ``machine``: CPU, numpy, the BLAS and the kernel architecture it chose), and
  the same code gives last-bit differences on another CPU. ``compare`` says so when the
  manifest was recorded on another machine: record the "before" set again there with
  ``record --at <its recorded_at_revision>`` and compare with that.
- Determinism: two ``record`` runs of the same code, and a run from another checkout path,
  give identical manifests. The BLAS thread count matters: with OpenBLAS on two threads
  ``dalec2_multisite``'s ``posterior_covariance`` differs from the one-thread result in the
  last bits (off-diagonal entries, relative 2e-14; the same for every run at a given thread
  count), hence ``OPENBLAS_NUM_THREADS=1`` (and OMP/MKL) for every run.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import netCDF4
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = ROOT / "benchmarks" / "example_outputs.json"
FORMAT = 1

# (example folder, config stem, {folder relative to the repository root: (example, stem) of
# the earlier step whose output folder it must be}), in the order they run (an example's
# README gives the order of its steps).
RUNS = [
    ("toy_twin", "config", {}),
    ("hymod_de", "config", {}),
    ("hymod_dream", "config", {}),
    ("dalec2_de-hai", "config", {}),
    ("dalec2_twin", "config", {}),
    ("dalec2_4denvar", "config", {}),
    ("dalec2_us-me2", "config", {}),
    ("dalec2_multisite", "config", {}),
    ("dalec2_sensitivity", "morris", {}),
    ("dalec2_sensitivity", "calibrate",
     {"results/dalec2_sensitivity": ("dalec2_sensitivity", "morris")}),
    ("fluxnet_site", "config", {}),
]

#: Example configs deliberately not run here, each with the reason (listed, so that no new
#: example is skipped silently).
NOT_RUN = {
    ("dalec2_batch", "config"): "a batch over the site network that make_network.py writes "
                                "(generated, not committed); plugins/dalec2/tests/"
                                "test_batch.py runs it on 3 sites",
    ("dalec2_pareto", "config"): "NSGA-II, 9 746 DALEC2 runs (about 25 s), added after the "
                                 "recorded set: tests/integration/"
                                 "test_pareto_dalec2.py runs it with a smaller budget",
    ("dalec2_compare", "p16"): "run by examples/dalec2_compare/compare.py (MAP start, then "
                               "the chains, then leave-year-out); tests/integration/"
                               "test_dalec2_compare.py runs it",
    ("dalec2_compare", "cardamom"): "as dalec2_compare/p16",
}

# Attributes that legitimately differ between two runs of the same code (or of the same
# results from code at another commit or in another environment): not compared. An
# attribute is left out under this name at any level (global, group or variable).
PROVENANCE = {
    "history": "the date and time the file was written",
    "run_id": "a fresh UUID per run",
    "source_run_id": "a prediction's record of its calibration's run_id",
    "git_revision": "the commit of the code that wrote the file (differs before/after a "
                    "refactor by definition)",
    "package_versions": "pdaframe's and the plugins' versions",
    "dependency_versions": "python and every dependency's version",
    "data_files": "sha256 of the config and the data files it names, keyed by the config's "
                  "file name and paths (a step reading an earlier step's shortlist.toml "
                  "hashes that step's run id with it)",
    "config": "the config text (its comments and paths; the run's inputs are compared "
              "through the outputs they produce)",
    # not written today (samples.nc is written with netCDF4); ArviZ's to_netcdf adds them
    # to every group, should the writer go through ArviZ:
    "created_at": "ArviZ: the time the InferenceData group was made",
    "arviz_version": "ArviZ: its version",
    "inference_library_version": "ArviZ: the version of the library that made the draws",
}

# Files of an output folder that are not data: plots, the report (report.html: its plots,
# run id, date and versions; its numbers are result.nc's), the folder's lock file.
SKIPPED_SUFFIXES = {".png", ".pdf", ".svg", ".html"}
SKIPPED_NAMES = {".pdaframe.lock"}


# --- hashing -------------------------------------------------------------------------------

def _sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        b = p if isinstance(p, bytes) else str(p).encode()
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _array_bytes(a) -> tuple[str, tuple, bytes]:
    """dtype, shape and raw bytes of an array; strings (object arrays) as length-prefixed
    UTF-8, so ["ab", "c"] and ["a", "bc"] differ."""
    a = np.asarray(a)
    if a.dtype == object or a.dtype.kind in "US":
        flat = [x.decode() if isinstance(x, bytes) else str(x) for x in a.ravel()]
        return "str", a.shape, b"".join(len(s.encode()).to_bytes(8, "little") + s.encode()
                                        for s in flat)
    return a.dtype.str, a.shape, np.ascontiguousarray(a).tobytes()


def _attr_hash(value) -> str:
    if isinstance(value, str):
        return _sha("str", value)
    dtype, shape, raw = _array_bytes(value)
    return _sha(dtype, shape, raw)


def netcdf_items(path) -> dict[str, str]:
    """``{item: sha256}`` of a NetCDF file: ``dimension G/NAME``, ``variable G/NAME`` and
    ``attribute G/NAME:ATTR`` (``G`` the group path, empty for the root, ``NAME`` empty for a
    group's own attributes), provenance attributes left out."""
    items = {}
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)        # the raw stored values, fill values included
        stack = [("", ds)]
        while stack:
            gpath, g = stack.pop()
            pre = gpath + "/" if gpath else ""
            for name, dim in g.dimensions.items():
                items[f"dimension {pre}{name}"] = _sha(len(dim), dim.isunlimited())
            for attr in g.ncattrs():
                if attr not in PROVENANCE:
                    items[f"attribute {pre}:{attr}"] = _attr_hash(g.getncattr(attr))
            for name, var in g.variables.items():
                dtype, shape, raw = _array_bytes(var[...])
                items[f"variable {pre}{name}"] = _sha(dtype, var.dimensions, shape, raw)
                for attr in var.ncattrs():
                    if attr not in PROVENANCE:
                        items[f"attribute {pre}{name}:{attr}"] = _attr_hash(
                            var.getncattr(attr))
            stack += [(pre + n, sub) for n, sub in g.groups.items()]
    return dict(sorted(items.items()))


def _flatten(obj, prefix=""):
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, obj


def data_file_items(path) -> dict[str, str]:
    """``{item: sha256}`` of a non-NetCDF data file: per key of a TOML or JSON file (their
    comments, which carry the run id and source path, are left out), else the whole file."""
    path = Path(path)
    if path.suffix in (".toml", ".json"):
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        return {f"key {k}": _sha(json.dumps(v, sort_keys=True, default=str))
                for k, v in sorted(_flatten(data)) if k not in PROVENANCE}
    return {"file": hashlib.sha256(path.read_bytes()).hexdigest()}


def folder_items(folder) -> dict[str, dict[str, str]]:
    """``{file name: {item: sha256}}`` of every data file below ``folder``."""
    folder = Path(folder)
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.name in SKIPPED_NAMES or path.suffix.lower() in SKIPPED_SUFFIXES:
            continue
        rel = path.relative_to(folder).as_posix()
        out[rel] = netcdf_items(path) if path.suffix == ".nc" else data_file_items(path)
    return out


# --- running the examples ------------------------------------------------------------------

def configs_found(examples=ROOT / "examples") -> list[tuple[str, str]]:
    """Example configs to run: every ``examples/*/*.toml`` but those of `NOT_RUN`."""
    return sorted((p.parent.name, p.stem) for p in Path(examples).glob("*/*.toml")
                  if (p.parent.name, p.stem) not in NOT_RUN)


def selected_runs(only=None, root=ROOT, at=None):
    """RUNS (all, or those of the ``only`` examples with the steps they need), checked
    against the configs under ``root/examples/``; with ``at`` (``root`` is the tree at that
    revision), the configs added after it are left out, with a note."""
    runs = RUNS
    if at:
        later = [(e, s, n) for e, s, n in RUNS if not (root / "examples" / e /
                                                     f"{s}.toml").is_file()]
        if later:
            print(f"note: not at {at} (added later; their manifest entries are recorded at "
                  f"the revisions in 'recorded_later_at'): "
                  f"{', '.join(f'{e}/{s}' for e, s, _ in later)}", flush=True)
        runs = [r for r in RUNS if r not in later]
    listed = {(e, s) for e, s, _ in runs}
    missing = [f"{e}/{s}.toml" for e, s in configs_found(root / "examples")
               if (e, s) not in listed]
    if missing:
        raise SystemExit(f"example configs not in RUNS of {Path(__file__).name}: "
                         f"{', '.join(missing)} (add them, in the order their README runs "
                         f"them)")
    gone = [f"{e}/{s}.toml" for e, s in sorted(listed) if not
            (root / "examples" / e / f"{s}.toml").is_file()]
    if gone:
        raise SystemExit(f"RUNS lists configs that do not exist: {', '.join(gone)}")
    if not only:
        return list(runs)
    unknown = set(only) - {e for e, _, _ in runs}
    if unknown:
        raise SystemExit(f"--only: unknown examples {sorted(unknown)}; the examples are "
                         f"{sorted({e for e, _, _ in runs})}")
    wanted = {(e, s) for e, s, _ in runs if e in only}
    for e, s, needs in reversed(runs):
        if (e, s) in wanted:
            wanted |= set(needs.values())
    return [r for r in runs if (r[0], r[1]) in wanted]


def run_env(extra=None) -> dict:
    env = {**os.environ, **(extra or {})}
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env


def machine() -> dict:
    """What bit-identity depends on besides the code: the CPU, numpy and the BLAS with the
    kernel architecture it chose at run time (threadpoolctl)."""
    cpu = ""
    try:
        cpu = next((line.split(":", 1)[1].strip() for line in
                    Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), "")
    except OSError:
        pass
    import platform
    from threadpoolctl import threadpool_info
    blas = sorted(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                  for i in threadpool_info() if i.get("user_api") == "blas")
    return {"cpu": cpu or platform.processor(), "machine": platform.machine(),
            "numpy": np.__version__, "blas": blas}


def tree_at(rev, tmp) -> tuple[Path, dict]:
    """The repository at ``rev`` exported to ``tmp/tree``, and the environment that runs it:
    its ``pdaframe/`` and plugins' Python files first on ``PYTHONPATH``, with each
    meson-built plugin's compiled parts taken from this checkout's build (linked beside the
    exported Python files; ``MESONPY_EDITABLE_SKIP`` turns the editable install's loader
    off for it)."""
    changed = subprocess.run(["git", "diff", "--name-only", rev, "HEAD", "--", "native"]
                             + [str(p.relative_to(ROOT)) for p in
                                (ROOT / "plugins").glob("*/meson.build")],
                             cwd=ROOT, capture_output=True, text=True)
    if changed.returncode != 0:
        raise SystemExit(f"--at {rev}: not a revision of this repository "
                         f"({changed.stderr.strip()})")
    if changed.stdout.strip():
        raise SystemExit(f"--at {rev}: compiled sources changed since then "
                         f"({', '.join(changed.stdout.split())}); this checkout's builds "
                         f"would not be the code of {rev}")
    tree = Path(tmp) / "tree"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    build = ROOT / "plugins" / "{}" / "build" / Path(sys.prefix).name.lstrip(".")
    paths, skip = [str(tree)], []
    for plugin in sorted((tree / "plugins").iterdir()):
        compiled = Path(str(build).format(plugin.name))
        if not compiled.is_dir():                    # a pure-Python plugin
            paths.append(str(plugin))
            continue
        for package in (d for d in plugin.iterdir() if (d / "__init__.py").is_file()):
            shadow = Path(tmp) / "shadow" / plugin.name / package.name
            shadow.mkdir(parents=True)
            for f in package.iterdir():
                (shadow / f.name).symlink_to(f)
            for f in [*compiled.glob("*.so"), *compiled.glob("*.py")]:
                if not (shadow / f.name).exists():
                    (shadow / f.name).symlink_to(f)
        paths.append(str(Path(tmp) / "shadow" / plugin.name))
        skip.append(str(compiled))
    return tree, {"PYTHONPATH": os.pathsep.join(paths),
                  "MESONPY_EDITABLE_SKIP": os.pathsep.join(skip)}


def run_config(config, out, cwd=ROOT, env=None) -> float:
    """``pdaframe run -q -o out config`` in a subprocess (``env``: variables to add); its
    runtime in seconds."""
    cmd = [sys.executable, "-m", "pdaframe.cli", "run", str(config), "-q", "-o", str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=run_env(env), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (status {proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return seconds


def _staged_config(example, stem, needs, outputs, tmp, root=ROOT) -> Path:
    """A copy of the config in ``tmp/tree/examples/<example>/`` beside links to the other
    files of its folder, with ``tmp/tree/plugins`` the repository's and each folder of
    ``needs`` a link to an earlier step's output folder."""
    tree = tmp / "tree"
    src = root / "examples" / example
    dst = tree / "examples" / example
    dst.mkdir(parents=True, exist_ok=True)
    for top in ("plugins",):
        if not (tree / top).exists():
            (tree / top).symlink_to(root / top)
    for p in src.iterdir():
        if p.name != f"{stem}.toml" and not (dst / p.name).exists():
            (dst / p.name).symlink_to(p)
    for rel, step in needs.items():
        link = tree / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(outputs[step])
    shutil.copyfile(src / f"{stem}.toml", dst / f"{stem}.toml")
    return dst / f"{stem}.toml"


def record_runs(only=None, keep=None, at=None) -> dict:
    """Run the configs and return the manifest. ``keep``: a folder to write the outputs to
    (default: a temporary folder, removed afterwards); ``at``: a git revision whose code and
    examples to run (`tree_at`) instead of this checkout's."""
    rev = at or "HEAD"
    manifest = {"format": FORMAT, "tool": "benchmarks/example_outputs.py",
                "recorded_at_revision": _revision(rev),
                # git tree ids: the same for two commits whose pdaframe/ (plugins/) match
                "pdaframe_tree": _revision(f"{rev}:pdaframe"),
                "plugins_tree": _revision(f"{rev}:plugins"),
                "machine": machine(),
                "provenance_attributes_left_out": sorted(PROVENANCE),
                "runtimes_s": {}, "outputs": {}}
    with tempfile.TemporaryDirectory(prefix="example_outputs_") as tmpname:
        root, env = tree_at(at, Path(tmpname) / "at") if at else (ROOT, None)
        runs = selected_runs(only, root, at)
        tmp = Path(keep) if keep else Path(tmpname)
        outputs = {}
        total = 0.0
        for example, stem, needs in runs:
            out = tmp / example / stem
            if out.exists():
                shutil.rmtree(out)
            config = (_staged_config(example, stem, needs, outputs, tmp, root) if needs
                      else root / "examples" / example / f"{stem}.toml")
            seconds = run_config(config, out, root, env)
            total += seconds
            outputs[(example, stem)] = out
            key = f"{example}/{stem}"
            manifest["runtimes_s"][key] = round(seconds, 2)
            manifest["outputs"][key] = folder_items(out)
            n = sum(len(v) for v in manifest["outputs"][key].values())
            print(f"{key:32s} {seconds:8.1f} s  {len(manifest['outputs'][key])} files, "
                  f"{n} items", flush=True)
        print(f"{'total':32s} {total:8.1f} s", flush=True)
    return manifest


def _revision(what) -> str:
    """``git rev-parse what`` in the repository ("" outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", what], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


# --- comparing -----------------------------------------------------------------------------

def _keys(before: dict, after: dict):
    """The keys of either dict in order, each with "removed", "added" or None (in both)."""
    for key in list(before) + [k for k in after if k not in before]:
        yield key, ("removed" if key not in after else "added" if key not in before else None)


def diff_outputs(before: dict, after: dict) -> dict[str, list[str]]:
    """``{config: [difference, ...]}`` between two manifests' ``outputs`` (configs present
    in either; an empty list: identical)."""
    config_change = {"removed": "config not run (missing from the new outputs)",
                     "added": "config added (not in the recorded manifest)"}
    report = {}
    for key, change in _keys(before, after):
        if change:
            report[key] = [config_change[change]]
            continue
        fb, fa = before[key], after[key]
        lines = []
        for name, file_change in _keys(fb, fa):
            if file_change:
                lines.append(f"{name}: file {file_change}")
                continue
            lines += [f"{name}: {item} {item_change or 'differs'}"
                      for item, item_change in _keys(fb[name], fa[name])
                      if item_change or fb[name][item] != fa[name][item]]
        report[key] = lines
    return report


def print_report(report) -> int:
    """Print the report; the exit status (1 on any difference)."""
    bad = 0
    for key, lines in report.items():
        if not lines:
            print(f"{key}: identical")
            continue
        bad += 1
        print(f"{key}: {len(lines)} difference{'s' * (len(lines) != 1)}")
        for line in lines:
            print(f"    {line}")
    n = len(report)
    print(f"{n - bad} of {n} configs identical" + ("" if not bad else
                                                    f"; {bad} differ"))
    return 1 if bad else 0


def machine_note(before: dict, after: dict) -> None:
    """Say so when two manifests come from different machines (bit-identity is not expected
    across CPUs or BLAS kernels)."""
    a, b = before.get("machine"), after.get("machine")
    if a != b:
        print(f"note: the manifests come from different machines ({a or 'not recorded'} vs "
              f"{b}): the same code differs in the last bits across CPUs/BLAS kernels; "
              f"record the before set on this machine with `record --at "
              f"{before.get('recorded_at_revision') or 'REV'}`", flush=True)


def load_manifest(path) -> dict:
    data = json.loads(Path(path).read_text())
    if data.get("format") != FORMAT:
        raise SystemExit(f"{path}: manifest format {data.get('format')!r}, this tool reads "
                         f"{FORMAT}")
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="run every example config, write the manifest")
    rec.add_argument("--out", default=str(DEFAULT_MANIFEST))
    rec.add_argument("--at", metavar="REV",
                     help="run the code and examples of git revision REV (the before set)")
    cmp_ = sub.add_parser("compare", help="run every example config, compare with the "
                                          "manifest (exit 1 on a difference)")
    cmp_.add_argument("--manifest", default=str(DEFAULT_MANIFEST))
    for p in (rec, cmp_):
        p.add_argument("--only", nargs="+", metavar="EXAMPLE",
                       help="only these example folders (and the steps they need)")
        p.add_argument("--keep", metavar="DIR",
                       help="write the outputs to DIR/<example>/<stem> and keep them")
    dif = sub.add_parser("diff", help="compare two manifests (exit 1 on a difference)")
    dif.add_argument("manifest_a")
    dif.add_argument("manifest_b")
    args = parser.parse_args(argv)

    if args.command == "record":
        manifest = record_runs(args.only, args.keep, args.at)
        Path(args.out).write_text(json.dumps(manifest, indent=1) + "\n")
        print(f"wrote {args.out}")
        return 0
    if args.command == "compare":
        before = load_manifest(args.manifest)
        runs = {f"{e}/{s}" for e, s, _ in selected_runs(args.only)}
        after = record_runs(args.only, args.keep)
        machine_note(before, after)
        return print_report(diff_outputs(
            {k: v for k, v in before["outputs"].items() if k in runs}, after["outputs"]))
    a, b = load_manifest(args.manifest_a), load_manifest(args.manifest_b)
    machine_note(a, b)
    return print_report(diff_outputs(a["outputs"], b["outputs"]))


if __name__ == "__main__":
    sys.exit(main())
