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

    Parameters
    ----------
    problem : Problem
    equivalents : dict
        ``{label: {stream: values}}`` with labels such as ``prior``, ``posterior``.
    path : str or Path
        The PNG to write.
    """
    n = len(problem.streams)
    plt, (fig, axes) = _figure(n, 1, figsize=(9, 2.6 * n), squeeze=False)
    styles = {"prior": ("tab:gray", "--"), "posterior": ("tab:red", "-"),
              "truth": ("black", ":")}
    for ax, s in zip(axes[:, 0], problem.streams):
        t = np.arange(s.values.size) if s.times is None else s.times
        std = np.full(s.values.size, np.nan)
        std[s.mask] = s.error.std
        ax.errorbar(t[s.mask], s.values[s.mask], yerr=std[s.mask], fmt=".", ms=3,
                    color="tab:blue", alpha=0.5, lw=0.5, label="observed")
        for label, eq in equivalents.items():
            if s.name in eq:
                colour, ls = styles.get(label, (None, "-"))
                ax.plot(t, eq[s.name], ls, color=colour, lw=1, label=label)
        ax.set_ylabel(f"{s.name}" + (f" ({s.units})" if s.units else ""))
        ax.legend(loc="best", fontsize="small")
    axes[-1, 0].set_xlabel("model time index")
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_parameters(result, prior, path, truth=None):
    """Change of each parameter in prior standard deviations, with posterior error bars."""
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
    ax.set_yticks(y, names)
    ax.set_xlabel("(θ − θ_background) / prior σ")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return _save(plt, fig, path)
