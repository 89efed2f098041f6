"""PNG plots of a result: observations vs model equivalents, and parameter changes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .io.atomic import atomic_path


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


def plot_streams(problem, equivalents, path):
    """Observations (with error bars) and prior/posterior/truth equivalents, one panel each.

    A multi-site problem (`pdaframe.problem.multisite.MultiSiteProblem`) of up to
    ``MAX_SITE_COLUMNS`` sites gets one column per site.

    Parameters
    ----------
    problem : Problem or MultiSiteProblem
    equivalents : dict
        ``{label: {stream: values}}`` with labels such as ``prior``, ``posterior``.
    path : str or Path
        The PNG to write.
    """
    sites = getattr(problem, "site_problems", None)
    if sites and len(sites) <= MAX_SITE_COLUMNS:
        return _plot_site_streams(problem, equivalents, path)
    n = len(problem.streams)
    plt, (fig, axes) = _figure(n, 1, figsize=(9, 2.6 * n), squeeze=False)
    for ax, s in zip(axes[:, 0], problem.streams):
        t = np.arange(s.values.size) if s.times is None else s.times
        _stream_panel(ax, s, t, equivalents, s.name)
    axes[-1, 0].set_xlabel("model time index")
    fig.tight_layout()
    return _save(plt, fig, path)


MAX_SITE_COLUMNS = 6
"""Multi-site problems with up to this many sites are plotted one column per site."""

STYLES = {"prior": ("tab:gray", "--"), "posterior": ("tab:red", "-"), "truth": ("black", ":")}


def _stream_panel(ax, s, t, equivalents, label):
    std = np.full(s.values.size, np.nan)
    std[s.mask] = s.error.std
    ax.errorbar(t[s.mask], s.values[s.mask], yerr=std[s.mask], fmt=".", ms=3,
                color="tab:blue", alpha=0.5, lw=0.5, label="observed")
    for name, eq in equivalents.items():
        if s.name in eq:
            colour, ls = STYLES.get(name, (None, "-"))
            ax.plot(t, eq[s.name], ls, color=colour, lw=1, label=name)
    ax.set_ylabel(label + (f" ({s.units})" if s.units else ""))
    ax.legend(loc="best", fontsize="small")


def _plot_site_streams(problem, equivalents, path):
    """Multi-site layout: one column per site, its streams below each other; dates on the
    time axis when the site's model has them (``model.time``)."""
    columns = problem.site_problems
    n_rows = max(len(p.streams) for p in columns)
    plt, (fig, axes) = _figure(n_rows, len(columns), figsize=(4.8 * len(columns), 2.6 * n_rows),
                               squeeze=False)
    for j, (site, p) in enumerate(zip(problem.site_names, columns)):
        axis = getattr(p.model, "time", None)
        for i, s in enumerate(p.streams):
            t = np.arange(s.values.size) if s.times is None else s.times
            if axis is not None:
                t = np.asarray(axis)[t]
            _stream_panel(axes[i, j], s, t, equivalents, getattr(s, "local_name", s.name))
            axes[i, j].tick_params(axis="x", labelrotation=30)
        axes[0, j].set_title(site)
        axes[len(p.streams) - 1, j].set_xlabel("date" if axis is not None else
                                               "model time index")
        for i in range(len(p.streams), n_rows):
            axes[i, j].set_visible(False)
    fig.tight_layout()
    return _save(plt, fig, path)


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
