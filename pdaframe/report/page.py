"""``report.html``: one self-contained page per run, for a scientist to read.

Self-contained: images are embedded as base64 ``data:`` URIs, the style sheet is inline, there
is no JavaScript, and a Content-Security-Policy forbids any network access, so the file can be
mailed or archived alone. Every text taken from the config, the data or the result is
HTML-escaped. The page is written atomically (`pdaframe.io.atomic.atomic_path`).

Sections: summary (key numbers and the text summary of ``pdaframe run``), parameters (prior,
posterior, 90 % interval, bound hits), diagnostics (χ², residuals per stream, held-out
scores, identifiability), figures (streams with dates and posterior band, parameter changes,
sampler traces and corner plot, ensemble members, sensitivity, correlation heatmap, extra
figures), further sections, provenance
(versions, data files' sha256, seed, config text). `add_section` appends a section to a
written report (e.g. ``predict``'s figures).
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import mimetypes
import string
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..analysis.diagnostics import VERDICTS
from ..errors import OutputError
from ..io.atomic import atomic_path
from . import content, figures as report_figures

MARKER = "<!-- pdaframe report: added sections go above this line -->"
"""Where `add_section` inserts (before the provenance section)."""

FIGURES = {     # the run's figure files (keys of run_problem's paths) and their captions
    "streams_plot": "Observations (with their errors) and the model equivalents per stream: "
                    "prior, posterior and truth (twins), with the posterior band when the "
                    "result holds posterior draws",
    "parameters_plot": "Change of each parameter from the background, in prior standard "
                       "deviations, with the posterior standard deviation",
    "sensitivity_plot": "Sensitivity indices per parameter",
}
LATE_FIGURES = {    # shown after the sampler's or ensemble's own figures
    "correlation_plot": "Posterior correlation of the parameters (identifiability; the "
                        "strongly correlated pairs are listed under Diagnostics)",
}

CSS = """
body{font-family:system-ui,sans-serif;max-width:70em;margin:1em auto;padding:0 1em;
color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:1px solid #ccc;
margin-top:1.6em}.meta{color:#555;margin-top:0}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:.2em .5em;text-align:left}
td.num,th,table.params td{white-space:nowrap}.wide{overflow-x:auto}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}
tr.hit td{background:#fde8e8}pre{background:#f7f7f7;padding:.6em;overflow-x:auto;
font-size:.85em}figure{margin:1em 0}img{max-width:100%;height:auto}
figcaption{color:#555;font-size:.9em}.note{color:#555;font-size:.9em}
.bad{color:#a00;font-weight:bold}.good{color:#070}
"""

PAGE = string.Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; \
style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title><style>$css</style></head>
<body>
<h1>$title</h1>
<p class="meta">$meta</p>
$body
$marker
$provenance
</body></html>
""")


class Section(NamedTuple):
    """A further section of the report: a title, text (shown preformatted) and figures
    (paths, or ``(caption, path)`` pairs)."""

    title: str
    text: str = ""
    figures: tuple = ()


def write_report(folder, result, problem=None, *, summary="", provenance=None, figures=None,
                 extra_figures=(), extra_sections=(), truth=None, draw=True,
                 name="report.html") -> dict:
    """Write ``folder/name`` for ``result`` (any kind); return the paths written.

    Parameters
    ----------
    folder : Path
        The run's output folder.
    result : Result
    problem : Problem, optional
        Gives the prior (parameter table) and the number of observations.
    summary : str
        The text summary (``pdaframe.run.summary_table``), shown preformatted.
    provenance : dict, optional
        The run's provenance keywords (``title seed run_id config_text plugin_versions
        data_files``, as for the NetCDF writers).
    figures : dict, optional
        The run's files by label (``streams_plot``, ``parameters_plot``,
        ``sensitivity_plot``: embedded with captions; ``samples``: ``samples.nc``, whose
        draws give the trace and corner plots).
    extra_figures : sequence
        More figures: paths, or ``(caption, path)`` pairs (PNG, JPEG, SVG or GIF).
    extra_sections : sequence of Section
    truth : array_like, optional
        A twin's truth (a column of the parameter table).
    draw : bool
        Draw the sampler's ``trace.png`` and ``corner.png`` and an ensemble's
        ``members.png`` (``[output] plots``); without, the report has only the given
        figures, and says that plots are off when there are none.

    Returns
    -------
    dict
        ``{"report": Path}``, plus ``trace_plot``, ``corner_plot`` or ``members_plot``.

    Raises
    ------
    OutputError
        Writing failed, or a figure file is missing.
    """
    folder = Path(folder)
    figures = dict(figures or {})
    paths = {}
    shown = [(caption, figures[key]) for key, caption in FIGURES.items() if key in figures]
    if draw:
        paths.update(_draw(folder, result, figures.get("samples"), truth, shown))
    shown += [(caption, figures[key]) for key, caption in LATE_FIGURES.items()
              if key in figures]
    shown += [_captioned(item) for item in extra_figures]
    prov = provenance or {}
    title = prov.get("title") or "pdaframe run"
    kind = getattr(result, "kind", None) or "result"
    meta = [f"run id {prov.get('run_id', '')}",
            _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            f"method {result.get('method', '?')} ({kind})"]
    body = [_summary(result, problem, summary)]
    if "x" in result:
        body += [_parameters(result, problem, truth), _diagnostics(result)]
    body.append(_section("Figures", "".join(_figure(c, p) for c, p in shown) if shown else
                         _note("No figures: plots are off ([output] plots = false)." if not
                               draw else "This run has no figures.")))
    body += [_extra(*s) for s in extra_sections]
    page = PAGE.substitute(title=_esc(title), css=CSS, meta=" · ".join(map(_esc, meta)),
                           body="\n".join(body), marker=MARKER,
                           provenance=_provenance(content.provenance_rows(prov)))
    paths["report"] = _write(folder / name, page)
    return paths


def add_section(report, title, text="", figures=()) -> Path:
    """Add a section (title, preformatted text, figures as in `Section`) to a written
    report, before its provenance; atomically. Returns the report's path.

    Raises
    ------
    OutputError
        ``report`` is missing or not a pdaframe report, or writing failed.
    """
    report = Path(report)
    try:
        page = report.read_text(encoding="utf-8")
    except OSError as err:
        raise OutputError(f"cannot read the report {report}: {err.strerror or err}") from None
    if MARKER not in page:
        raise OutputError(f"{report} is not a pdaframe report (no section marker)")
    return _write(report, page.replace(MARKER, _extra(title, text, figures) + "\n" + MARKER,
                                       1))


def _extra(title, text="", figures=()) -> str:
    """A further section (`Section`): preformatted text, then figures."""
    return _section(title, (f"<pre>{_esc(text)}</pre>" if text else "") +
                    "".join(_figure(*_captioned(f)) for f in figures))


def _write(path, page) -> Path:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return Path(path)


def _draw(folder, result, samples, truth, shown) -> dict:
    """The sampler's or ensemble's own figures, appended to ``shown``; their paths."""
    made = {}
    if samples is not None and Path(samples).is_file():
        made["trace_plot"] = report_figures.plot_trace(samples, folder / "trace.png")
        made["corner_plot"] = report_figures.plot_corner(samples, folder / "corner.png")
    elif getattr(result, "kind", None) == "ensemble":
        made["members_plot"] = report_figures.plot_members(result, folder / "members.png",
                                                           truth)
    made = {k: v for k, v in made.items() if v is not None}
    shown += [(caption, path) for path, caption in made.values()]
    return {k: path for k, (path, _) in made.items()}


def _captioned(item):
    """``(caption, path)`` of an extra figure given as a path or a pair."""
    if isinstance(item, (tuple, list)):
        return str(item[0]), Path(item[1])
    return Path(item).stem.replace("_", " "), Path(item)


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _note(text) -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _section(title, inner) -> str:
    return f"<section><h2>{_esc(title)}</h2>\n{inner}\n</section>"


def _figure(caption, path) -> str:
    """An ``<img>`` with the file's bytes as a base64 data URI, and its caption."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise OutputError(f"report: cannot read the figure {path}: "
                          f"{err.strerror or err}") from None
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    return (f'<figure><img src="{uri}" alt="{_esc(caption)}">'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _cell(value, digits=5) -> str:
    """A table cell: text escaped; a number right-aligned with ``digits`` significant
    digits and its full value in ``data-value`` (NaN: "–", infinite bounds: "±∞")."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f'<td class="num" data-value="{int(value)}">{int(value)}</td>'
    if isinstance(value, (float, np.floating)):
        v = float(value)
        text = "–" if np.isnan(v) else ("−∞" if v < 0 else "∞") if np.isinf(v) else \
            f"{v:.{digits}g}"
        return f'<td class="num" data-value="{v!r}">{text}</td>'
    return f"<td>{_esc(value)}</td>"


def _table(header, rows, row_class=None, table_class="") -> str:
    """A table; a header of empty strings gives none; ``row_class``: a class per row; a
    wide table scrolls sideways rather than widening the page."""
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    head = f"<thead><tr>{head}</tr></thead>" if any(header) else ""
    lines = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class[i]}"' if row_class and row_class[i] else ""
        lines.append(f"<tr{cls}>" + "".join(_cell(v) for v in row) + "</tr>")
    cls = f' class="{table_class}"' if table_class else ""
    return f'<div class="wide"><table{cls}>{head}<tbody>{"".join(lines)}</tbody></table></div>'


def _summary(result, problem, summary) -> str:
    rows = [("method", str(result.get("method", "?"))),
            ("success", str(bool(result.get("success", False)))),
            ("message", str(result.get("message", "")))]
    if "x" in result:
        cost = result.get("history", {}).get("cost")
        m = getattr(problem, "n_obs", None)
        rows += [("J start", float(cost[0]) if cost is not None and len(cost) else np.nan),
                 ("J end", float(result["fun"]))]
        if m:
            rows += [("observations m", int(m)), ("2J/m", 2 * float(result["fun"]) / m)]
        rows.append(("iterations", int(result.get("nit", 0) or 0)))
    rows.append(("model runs", int(result.get("nfev", 0) or 0)))
    if result.get("seed") is not None:
        rows.append(("seed", str(result["seed"])))
    opened = "" if "x" in result else " open"       # an analysis: the text is its table
    text = (f"<details{opened}><summary>Text summary (as <code>pdaframe run</code> prints it)"
            f"</summary><pre>{_esc(summary)}</pre></details>") if summary else ""
    return _section("Summary", _table(("", ""), rows) + text)


def _parameters(result, problem, truth) -> str:
    rows, source = content.parameter_rows(result, problem, truth)
    family = content.prior_family(problem)
    twin = truth is not None
    header = ["parameter", "units", "prior mean", "prior σ", "lower bound", "upper bound",
              "background"] + (["truth"] if twin else []) + \
             ["estimate", "posterior σ", "90 % low", "90 % high", "at bound"]
    table = [[r["name"], r["units"], r["prior_mean"], r["prior_std"], r["lower"], r["upper"],
              r["background"]] + ([r["truth"]] if twin else []) +
             [r["estimate"], r["posterior_std"], r["low"], r["high"], r["bound"]]
             for r in rows]
    edge = result.get("diagnostics", {}).get("edge_fraction", 0.01)
    notes = [f"Prior: {family or 'none given'}" + (" (σ of a uniform prior: its standard "
             "deviation)" if family == "uniform" else "") + ".",
             f"90 % interval: {source}." if source else
             "No posterior interval: this method gives no posterior (ask for one with "
             "option posterior = true, or use a sampler).",
             f"At bound: the estimate lies within {100 * edge:g} % of the bounds' range "
             f"from a bound (highlighted)."]
    return _section("Parameters", _table(header, table, ["hit" if r["bound"] else ""
                                                         for r in rows], "params") +
                    "".join(_note(n) for n in notes))


def _diagnostics(result) -> str:
    diag = result.get("diagnostics")
    parts = []
    if diag:
        c = diag["chi2"]
        verdict = VERDICTS.get(c["verdict"], c["verdict"])
        cls = "good" if c["verdict"] == "consistent" else "bad"
        parts.append(f"<p>χ² check: 2J<sub>min</sub> = {c['two_j']:.6g} with {c['dof']} "
                     f"degrees of freedom (95 % range [{c['low']:.4g}, {c['high']:.4g}]): "
                     f'<span class="{cls}">{_esc(verdict)}</span></p>')
        hits = ", ".join(f"{n} ({side})" for n, side in diag["edge"].items())
        parts.append(_note(f"At a bound: {hits}." if hits else "No estimate at a bound."))
        parts.append(_table(("stream", "n", "mean residual", "RMS", "normalised RMS", "J_o",
                             "J_o/m"),
                            [(name, st["n"], st["mean"], st["rms"], st["nrms"], st["jo"],
                              st["jo_per_obs"]) for name, st in diag["streams"].items()]))
        parts.append(_note("Residuals are model minus observation; the normalised RMS is ≈ 1 "
                           "when the observation errors are right."))
    scores = result.get("evaluation")
    if scores:
        parts.append("<h3>Held-out data</h3>" + _table(
            ("stream", "estimate", "n", "RMSE", "bias", "correlation"),
            [(name, label, r["n"], r["rmse"], r["bias"], r["correlation"])
             for name, rows in scores.items() for label, r in rows.items()]))
    parts.append(_identifiability(result))
    return _section("Diagnostics", "".join(parts) or _note("No diagnostics."))


def _identifiability(result) -> str:
    """Uncertainty reduction and strongest partner per parameter, the strong pairs, the
    constrained directions and the sensitivities (`content.identifiability_rows`)."""
    rows = content.identifiability_rows(result)
    if rows is None:
        return ""
    parts = [_note(f"Not available: {rows['missing']}.")] if rows["missing"] else []
    if rows["parameters"]:
        parts.append(_table(("parameter", "uncertainty reduction", "most correlated with",
                             "r"), rows["parameters"]))
        parts.append("<h3>Strongly correlated pairs</h3>" + (
            _table(("parameter", "parameter", "r"), rows["pairs"]) if rows["pairs"] else
            _note("None.")))
        if rows["directions"]:
            parts.append("<h3>Constrained directions</h3>" + _table(
                ("direction", "eigenvalue", "top parameters (prior-σ units)"),
                rows["directions"]))
    if rows["sensitivity"]:
        parts.append("<h3>Local sensitivities</h3>" + _table(*rows["sensitivity"]))
    parts += [_note(n) for n in rows["notes"]]
    return "<h3>Identifiability</h3>" + "".join(parts)


def _provenance(prov) -> str:
    parts = [_table(("", ""), prov["run"])]
    parts.append("<h3>Data files (sha256)</h3>" + (
        _table(("file", "sha256"), sorted(prov["data_files"].items()))
        if prov["data_files"] else _note("No data files recorded.")))
    parts.append("<details><summary>Versions of Python and the dependencies</summary>" +
                 _table(("distribution", "version"), sorted(prov["versions"].items())) +
                 "</details>")
    parts.append(f"<details><summary>Config</summary><pre>{_esc(prov['config'])}</pre>"
                 f"</details>")
    return _section("Provenance", "".join(parts))
