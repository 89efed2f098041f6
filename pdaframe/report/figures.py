"""Figures the report adds for samplers and ensembles (PNG files in the run's folder).

- `plot_trace`: ArviZ trace plot (marginal density and chain trace per parameter) of
  ``samples.nc`` (`arviz.from_netcdf`), at most `MAX_TRACE` parameters;
- `plot_corner`: ArviZ pair (corner) plot with marginals, at most `MAX_CORNER` parameters
  (the first ones) and `MAX_POINTS` draws (evenly thinned);
- `plot_members`: per parameter, histograms of an ensemble's prior members and its
  (weighted) posterior members, with the estimate and a twin's truth;
- `plot_correlation`: heatmap of the posterior correlation matrix (identifiability).
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np

from ..plots import _figure, _save

MAX_TRACE = 16
MAX_CORNER = 8
MAX_POINTS = 2000
MAX_MEMBERS = 24


def _first(names, limit):
    """The first ``limit`` names and a note when some were left out ("" else)."""
    names = list(names)
    if len(names) <= limit:
        return names, ""
    return names[:limit], f" (the first {limit} of {len(names)} parameters)"


def _pyplot():
    """`matplotlib.pyplot` on the Agg backend (no display needed), as `pdaframe.plots`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@contextlib.contextmanager
def _quiet():
    """ArviZ 0.23 on matplotlib 3.11 warns of its own deprecated call on every plot."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Passing a dict or None as alias_mapping")
        yield


def _tidy(axes, nbins=4):
    """At most ``nbins`` x ticks per panel (long tick labels of small numbers overlap); the
    figure."""
    from matplotlib.ticker import MaxNLocator
    for ax in np.ravel(axes):
        if ax is not None:
            ax.xaxis.set_major_locator(MaxNLocator(nbins))
    return np.ravel(axes)[0].figure


def plot_trace(samples_path, path):
    """Trace plot of the draws in ``samples_path``; returns ``(path, caption)``."""
    import arviz as az
    plt = _pyplot()
    idata = az.from_netcdf(samples_path)
    names, note = _first(idata.posterior["param"].values, MAX_TRACE)
    with _quiet():
        axes = az.plot_trace(idata, var_names=["theta"], coords={"param": names},
                             compact=False, figsize=(10, 1.6 * len(names) + 0.6),
                             labeller=az.labels.NoVarLabeller())
    fig = _tidy(axes, nbins=3)
    fig.tight_layout()
    return _save(plt, fig, path), f"Chains: marginal density per chain and trace{note}"


def plot_corner(samples_path, path):
    """Pair (corner) plot of the draws in ``samples_path``; returns ``(path, caption)``, or
    None for fewer than two parameters."""
    import arviz as az
    plt = _pyplot()
    idata = az.from_netcdf(samples_path)
    names, note = _first(idata.posterior["param"].values, MAX_CORNER)
    if len(names) < 2:
        return None
    post = idata.posterior
    n = post.sizes["chain"] * post.sizes["draw"]
    thinned = post.isel(draw=slice(None, None, max(1, int(np.ceil(n / MAX_POINTS)))))
    size = 1.6 * len(names) + 0.8
    with _quiet():
        axes = az.plot_pair(thinned, var_names=["theta"], coords={"param": names},
                            marginals=True, figsize=(size, size), textsize=8,
                            scatter_kwargs={"alpha": 0.3, "s": 4},
                            labeller=az.labels.NoVarLabeller())
    fig = _tidy(axes, nbins=3)
    return _save(plt, fig, path), \
        f"Pairs of draws and marginals{note}; {thinned.sizes['chain'] * thinned.sizes['draw']}" \
        f" of {n} draws shown"


def plot_members(result, path, truth=None):
    """Histograms of an ensemble result's prior and posterior members per parameter;
    returns ``(path, caption)``, or None without members."""
    posterior = result.get("posterior_ensemble", result.get("samples"))
    if posterior is None:
        return None
    posterior = np.asarray(posterior, dtype=float)
    weights = result.get("weights")
    # a weighted sample's members are its proposal's draws: unweighted, they show it
    prior = result.get("ensemble") if "posterior_ensemble" in result else posterior
    prior_label = "prior members" if "posterior_ensemble" in result else "draws, unweighted"
    names, note = _first(result["parameter_names"], MAX_MEMBERS)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    plt, (fig, axes) = _figure(rows, cols, squeeze=False, figsize=(2.6 * cols, 2.0 * rows))
    for i, ax in enumerate(axes.ravel()):
        if i >= len(names):
            ax.set_visible(False)
            continue
        values = [posterior[:, i]] + ([] if prior is None else [np.asarray(prior)[:, i]])
        both = np.concatenate(values).astype(float)
        bins = np.linspace(both.min(), both.max(), 31) if np.ptp(both) > 0 else 1
        if prior is not None:
            ax.hist(values[1], bins=bins, density=True, color="tab:gray", alpha=0.5,
                    label=prior_label)
        ax.hist(posterior[:, i], bins=bins, weights=weights, density=True, color="tab:red",
                alpha=0.5, label="posterior" + (" (weighted)" if weights is not None else ""))
        ax.axvline(result["x"][i], color="tab:red", lw=1)
        if truth is not None:
            ax.axvline(truth[i], color="black", ls=":", lw=1)
        ax.set_title(names[i], fontsize="small")
        ax.tick_params(labelsize="x-small")
    axes[0, 0].legend(fontsize="x-small")
    fig.tight_layout()
    return _save(plt, fig, path), \
        "Members per parameter: prior and posterior, estimate (line)" + \
        (", truth (dotted)" if truth is not None else "") + note


def plot_correlation(ident, path):
    """Heatmap of the posterior correlation in ``ident``
    (`pdaframe.analysis.identifiability`) at ``path``; returns ``path``."""
    names = ident["names"]
    corr = np.asarray(ident["correlation"], dtype=float)
    size = 2.0 + 0.32 * len(names)
    plt, (fig, ax) = _figure(figsize=(size + 1.0, size))
    image = ax.imshow(corr, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize="x-small")
    ax.set_yticks(range(len(names)), names, fontsize="x-small")
    fig.colorbar(image, ax=ax, shrink=0.8, label="r")
    ax.set_title(f"{len(ident['strong_pairs'])} pairs with |r| >= {ident['strong']:g}",
                 fontsize="small")
    fig.tight_layout()
    return _save(plt, fig, path)
