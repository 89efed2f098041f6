"""PNG plots of a result: observations vs model equivalents (with dates and a posterior
band), and parameter changes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io.atomic import atomic_path
from .io.cf_time import stream_dates


def _figure(*args, **kwargs):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt, plt.subplots(*args, **kwargs)


def _save(plt, fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return Path(path)


def plot_streams(problem, equivalents, path, band=None):
    """Observations (with error bars) and prior/posterior/truth equivalents, one panel each.

    The time axis shows dates when the model has them (``model.time``; each site's own in a
    multi-site problem), else the model time index. ``band`` (`posterior_band`) shades the
    posterior band of the model equivalents (within the range of the observations and
    lines: a wider band fills the panel). A multi-site problem
    (`pdaframe.problem.multisite.MultiSiteProblem`) of up to ``MAX_SITE_COLUMNS`` sites
    gets one column per site.

    Parameters
    ----------
    problem : Problem or MultiSiteProblem
    equivalents : dict
        ``{label: {stream: values}}`` with labels such as ``prior``, ``posterior``.
    path : str or Path
        The PNG to write.
    band : dict, optional
        ``{"level": 0.9, "lower": {stream: values}, "upper": {...}, "n": draws}``.
    """
    plt, fig = stream_figure(problem, equivalents, band)
    return _save(plt, fig, path)


MAX_SITE_COLUMNS = 6
"""Multi-site problems with up to this many sites are plotted one column per site."""

STYLES = {"prior": ("tab:gray", "--"), "posterior": ("tab:red", "-"), "truth": ("black", ":")}


def stream_figure(problem, equivalents, band=None):
    """The figure of `plot_streams` (``(pyplot, figure)``), not yet saved."""
    sites = getattr(problem, "site_problems", None)
    if sites and len(sites) <= MAX_SITE_COLUMNS:
        columns = [(site, p.streams) for site, p in zip(problem.site_names, sites)]
    else:
        columns = [(None, problem.streams)]
    n_rows = max(len(streams) for _, streams in columns)
    plt, (fig, axes) = _figure(n_rows, len(columns), squeeze=False, figsize=(
        9 if len(columns) == 1 else 4.8 * len(columns), 2.6 * n_rows))
    for j, (site, streams) in enumerate(columns):
        dated = False
        for i, s in enumerate(streams):
            steps = np.arange(s.values.size) if s.times is None else s.times
            t, is_date = _times(stream_dates(problem, s), steps)
            dated |= is_date
            _stream_panel(axes[i, j], s, t, equivalents,
                          getattr(s, "local_name", s.name) if site else s.name, band)
            if is_date:
                _date_axis(axes[i, j])
        if site is not None:
            axes[0, j].set_title(site)
        axes[len(streams) - 1, j].set_xlabel("date" if dated else "model time index")
        for i in range(len(streams), n_rows):
            axes[i, j].set_visible(False)
    fig.tight_layout()
    return plt, fig


def _times(dates, steps):
    """The x values of model steps ``steps``: their dates if ``dates`` covers them, else the
    steps; and whether they are dates."""
    steps = np.asarray(steps)
    if dates is not None and steps.size and steps.min() >= 0 and steps.max() < dates.size:
        return dates[steps.astype(int)], True
    return steps, False


def _date_axis(ax):
    """Dates on ``ax``'s x axis: matplotlib's automatic locator with concise labels."""
    import matplotlib.dates as mdates
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _stream_panel(ax, s, t, equivalents, label, band=None):
    std = np.full(s.values.size, np.nan)
    std[s.mask] = s.error.std
    ax.errorbar(t[s.mask], s.values[s.mask], yerr=std[s.mask], fmt=".", ms=3,
                color="tab:blue", alpha=0.5, lw=0.5, label="observed")
    for name, eq in equivalents.items():
        if s.name in eq:
            colour, ls = STYLES.get(name, (None, "-"))
            ax.plot(t, eq[s.name], ls, color=colour, lw=1, label=name)
    if band and s.name in band["lower"]:   # the axes keep the data's and lines' range
        xlim, ylim = ax.get_xlim(), ax.get_ylim()
        ax.fill_between(t, band["lower"][s.name], band["upper"][s.name], color="tab:red",
                        alpha=0.2, lw=0, zorder=0, label=f"posterior {100 * band['level']:g} %")
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)
    ax.set_ylabel(label + (f" ({s.units})" if s.units else ""))
    ax.legend(loc="best", fontsize="small")


def posterior_band(problem, result, level=0.9, n_draws=100, seed=0, budget_s=60.0,
                   min_draws=10):
    """Central ``level`` band of the model equivalents over posterior draws, or None.

    The draws: a sampler's chains (``samples``, up to ``n_draws`` evenly spaced over all
    chains), an ensemble's members (``posterior_ensemble`` or a weighted sample's
    ``samples`` with their ``weights``; more than ``n_draws`` members are resampled to
    ``n_draws`` by systematic resampling), or the Laplace posterior (``posterior_sample``
    of a result with a ``posterior_covariance``). A result without any gives None.

    Each draw is one run of the model (a multi-site problem runs its sites one after the
    other here, never through its executor: only the writing MPI rank plots). Draws
    whose run fails are left out; drawing stops once ``budget_s`` seconds have passed, and
    fewer than ``min_draws`` runs give no band (an expensive model gets none).

    Returns
    -------
    dict or None
        ``{"level", "n" (draws run), "lower": {stream: values}, "upper": {...}}``.
    """
    import time
    from .errors import PdaframeError
    from .methods.importance import weighted_quantile
    from .prediction.draws import posterior_draws
    thetas, weights = posterior_draws(result, n_draws, np.random.default_rng(seed))
    if thetas is None:
        return None
    runs, kept, start = [], [], time.perf_counter()
    for i, theta in enumerate(thetas):
        if time.perf_counter() - start > budget_s:
            break
        try:
            runs.append(_equivalents(problem, theta))
            kept.append(i)
        except PdaframeError:
            continue
    if len(runs) < min_draws:
        return None
    w = np.ones(len(kept)) if weights is None else np.asarray(weights, dtype=float)[kept]
    q = [(1 - level) / 2, (1 + level) / 2]
    ends = {name: weighted_quantile(np.array([r[name] for r in runs]), w, q)
            for name in runs[0]}
    return {"level": level, "n": len(runs), "lower": {k: v[0] for k, v in ends.items()},
            "upper": {k: v[1] for k, v in ends.items()}}


def _equivalents(problem, theta) -> dict:
    """``problem.equivalents(theta)``; site by site, in this process, for a multi-site one."""
    sites = getattr(problem, "site_problems", None)
    if not sites:
        return problem.equivalents(theta)
    out = {}
    for k, p in enumerate(sites):
        out.update(p.equivalents(problem.site_theta(theta, k)))
    return out


def plot_parameters(result, prior, path, truth=None):
    """Change of each parameter in prior standard deviations, with posterior error bars.

    Site-specific copies of a multi-site problem (``name@site``) are grouped by site.
    """
    names = list(result["parameter_names"])
    sd = np.sqrt(np.diag(prior.scale @ prior.scale.T))
    xb = np.asarray(result.get("x0", prior.mean))
    y = np.arange(len(names))
    plt, (fig, ax) = _figure(figsize=(7, 0.4 * len(names) + 1.5))
    err = np.asarray(result["posterior_std"]) / sd if "posterior_std" in result else None
    ax.errorbar((np.asarray(result["x"]) - xb) / sd, y, xerr=err, fmt="o", color="tab:red",
                label="analysis ± posterior σ")
    if truth is not None:
        ax.plot((np.asarray(truth) - xb) / sd, y, "kx", label="truth")
    ax.axvline(0, color="tab:gray", lw=0.8)
    groups = [n.rpartition("@")[2] if "@" in n else "" for n in names]
    for i in range(1, len(names)):          # multi-site: a line between the sites' copies
        if groups[i] != groups[i - 1]:
            ax.axhline(i - 0.5, color="tab:gray", lw=0.5, ls=":")
    ax.set_yticks(y, names)
    ax.set_xlabel("(θ − θ_background) / prior σ")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_front(result, path):
    """Pareto front of a multi-objective result (``nsga2``): the final population's
    objectives coloured by front rank, the front (rank 0) joined, the knee and the
    hypervolume reference point; one panel per pair of objectives."""
    f, rank = np.asarray(result["front_objectives"]), np.asarray(result["front_rank"])
    names, knee = list(result["objective_names"]), int(result["knee"])
    terms = list(result["objective_terms"])
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    plt, (fig, axes) = _figure(1, len(pairs), figsize=(5 * len(pairs), 4.5), squeeze=False)
    for ax, (i, j) in zip(axes[0], pairs):
        later = rank > 0
        ax.scatter(f[later, i], f[later, j], s=12, c="tab:gray", alpha=0.6,
                   label="dominated (rank ≥ 1)")
        front = np.flatnonzero(rank == 0)
        front = front[np.argsort(f[front, i], kind="stable")]
        ax.plot(f[front, i], f[front, j], "o-" if len(pairs) == 1 else "o", ms=4,
                color="tab:blue", label=f"Pareto front ({front.size})")
        ax.plot(f[knee, i], f[knee, j], "*", ms=14, color="tab:red", label="knee (analysis)")
        ref = result["reference_point"]
        ax.plot(ref[i], ref[j], "k+", ms=10, label="reference point")
        ax.set_xlabel(f"{names[i]}: J of {terms[i]}")
        ax.set_ylabel(f"{names[j]}: J of {terms[j]}")
        ax.set_title(f"hypervolume {result['hypervolume']:.4g}", fontsize="small")
        ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return _save(plt, fig, path)
