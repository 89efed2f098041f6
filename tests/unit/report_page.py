"""Reading ``report.html`` back in tests: its tables (cell text and ``data-value``), images
and headings, with the standard library's HTML parser; and runs of the toy twin that write
one."""
import shutil
from html.parser import HTMLParser
from pathlib import Path

from pdaframe import load_config
from pdaframe.run import run_problem

TOY = Path(__file__).parents[2] / "examples" / "toy_twin" / "config.toml"
DATA = Path(__file__).parents[1] / "data"


class Page(HTMLParser):
    """``tables``: ``[{"header": [...], "rows": [[(text, data_value or None), ...]]}]``;
    ``images``: ``[(src, alt)]``; ``headings``: the h2 texts in order; ``tags``: every
    start tag's name."""

    def __init__(self, text):
        super().__init__()
        self.tables, self.images, self.headings, self.tags = [], [], [], []
        self._cell = self._heading = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "table":
            self.tables.append({"header": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = [tag, "", attrs.get("data-value")]
        elif tag == "img":
            self.images.append((attrs.get("src", ""), attrs.get("alt", "")))
        elif tag == "h2":
            self._heading = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data
        if self._heading is not None:
            self._heading += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            kind, text, value = self._cell
            if kind == "th":
                self.tables[-1]["header"].append(text)
            else:
                self.tables[-1]["rows"][-1].append((text, value))
            self._cell = None
        elif tag == "tr" and self.tables and not self.tables[-1]["rows"][-1]:
            self.tables[-1]["rows"].pop()               # the header row
        elif tag == "h2":
            self.headings.append(self._heading)
            self._heading = None

    def table(self, first_header, nth=0):
        """The ``nth`` table whose first column is headed ``first_header``, as
        ``{column: [values]}`` (floats from ``data-value`` where given, else text)."""
        found = [t for t in self.tables if t["header"] and t["header"][0] == first_header]
        if len(found) <= nth:
            raise KeyError(first_header)
        t = found[nth]
        return {h: [float(r[j][1]) if r[j][1] is not None else r[j][0] for r in t["rows"]]
                for j, h in enumerate(t["header"])}

    def pairs(self, first_key):
        """The two-column table (no header) whose first row starts with ``first_key``, as a
        dict."""
        for t in self.tables:
            if not t["header"] and t["rows"] and t["rows"][0][0][0] == first_key:
                return {r[0][0]: (float(r[1][1]) if r[1][1] is not None else r[1][0])
                        for r in t["rows"]}
        raise KeyError(first_key)


def toy_run(tmp_path, method="lbfgsb", options="{ maxiter = 500 }", edit=None):
    """Run the toy twin (another method, options, or a text edit of its config) into
    ``tmp_path/out``; ``(problem, settings, result, paths)``."""
    text = (TOY.read_text().replace('name = "lbfgsb"', f'name = "{method}"')
            .replace("options = { maxiter = 500 }", f"options = {options}"))
    if edit:
        text = edit(text)
    (tmp_path / "c.toml").write_text(text)
    problem, settings = load_config(tmp_path / "c.toml")
    result, paths = run_problem(problem, settings, output_dir=tmp_path / "out", progress=False)
    return problem, settings, result, paths


def lg2_sampler_run(tmp_path):
    """LG2 (tests/data/lg2.toml, two parameters, a linear model) by adaptive Metropolis:
    2 chains of 1000 draws that mix (R-hat about 1.01); ``(problem, result, paths)``."""
    shutil.copy(DATA / "lg2_obs.csv", tmp_path)
    (tmp_path / "c.toml").write_text((DATA / "lg2.toml").read_text().replace(
        'name = "lbfgsb"', 'name = "adaptive-metropolis"\n'
        "options = { n_samples = 1000, burn_in = 1000, n_chains = 2 }"))
    problem, settings = load_config(tmp_path / "c.toml")
    result, paths = run_problem(problem, settings, output_dir=tmp_path / "out", progress=False)
    return problem, result, paths
