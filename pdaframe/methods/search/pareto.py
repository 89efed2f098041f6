"""Pareto fronts of minimised objectives: non-dominated sorting, crowding distance,
survival, hypervolume, the knee (used by `pdaframe.methods.search.nsga2`).

Conventions: ``objectives`` is an array ``(n_member, n_objective)`` of values to minimise;
``+inf`` (a failed member) is worse than any finite value, NaN is treated as ``+inf``.
Member ``a`` dominates ``b`` when ``a <= b`` in every objective and ``a < b`` in one.

Hypervolume limits
    The hypervolume (the volume dominated by the front and bounded by the reference point)
    is exact: a sweep for 2 objectives (``O(n log n)``), slicing along the last objective
    down to 2-D sweeps for 3 or more (``n^(m-2)`` sweeps). The number of sweeps is capped at
    `MAX_SWEEPS` = 10 000: any front for 2 objectives, up to 10 000 points for 3, 100 for 4,
    21 for 5, 10 for 6; beyond it `hypervolume` raises a `ConfigError` saying so.
"""
from __future__ import annotations

import numpy as np

from ...errors import ConfigError

#: most 2-D sweeps one hypervolume may take (``n^(m-2)`` for ``n`` points, ``m`` objectives)
MAX_SWEEPS = 10_000
#: margin of the default reference point: nadir + 10 % of the front's range
REFERENCE_MARGIN = 0.1


def _as_objectives(objectives) -> np.ndarray:
    f = np.array(objectives, dtype=float, ndmin=2)
    if f.ndim != 2:
        raise ValueError(f"objectives must be (n_member, n_objective), got shape {f.shape}")
    return np.where(np.isnan(f), np.inf, f)


def dominance(objectives) -> np.ndarray:
    """``d[i, j]``: member ``i`` dominates member ``j`` (boolean ``(n, n)``)."""
    f = _as_objectives(objectives)
    a, b = f[:, None, :], f[None, :, :]
    return np.all(a <= b, axis=2) & np.any(a < b, axis=2)


def non_dominated_sort(objectives) -> np.ndarray:
    """Front index (rank) of each member, 0 = non-dominated (Deb et al. 2002's fast
    non-dominated sorting: each front removed, the counts of what dominates the rest
    updated)."""
    dom = dominance(objectives)
    n = dom.shape[0]
    count = dom.sum(axis=0)                   # members dominating each member
    rank = np.full(n, -1, dtype=np.int64)
    front, k = np.flatnonzero(count == 0), 0
    while front.size:
        rank[front] = k
        count = count - dom[front].sum(axis=0)
        count[rank >= 0] = -1
        front, k = np.flatnonzero(count == 0), k + 1
    return rank


def crowding_distance(objectives) -> np.ndarray:
    """Crowding distance of the members of one front (Deb et al. 2002).

    Per objective, members are sorted (stable); the two ends get ``inf`` and each other
    member the gap between its neighbours divided by the objective's range (0 when the
    range is 0); the distance is the sum over objectives. Members with a non-finite
    objective get 0 and are left out of the others' neighbours.
    """
    f = _as_objectives(objectives)
    n, m = f.shape
    dist = np.zeros(n)
    ok = np.flatnonzero(np.all(np.isfinite(f), axis=1))
    if ok.size <= 2:
        dist[ok] = np.inf
        return dist
    g = f[ok]
    d = np.zeros(ok.size)
    for j in range(m):
        order = np.argsort(g[:, j], kind="stable")
        v = g[order, j]
        span = v[-1] - v[0]
        if span > 0:
            d[order[1:-1]] += (v[2:] - v[:-2]) / span
        d[order[[0, -1]]] = np.inf
    dist[ok] = d
    return dist


def rank_and_crowding(objectives):
    """``(rank, crowding)`` of every member: its front, and its crowding distance within
    that front."""
    f = _as_objectives(objectives)
    rank = non_dominated_sort(f)
    crowd = np.zeros(rank.size)
    for k in np.unique(rank):
        members = np.flatnonzero(rank == k)
        crowd[members] = crowding_distance(f[members])
    return rank, crowd


def survive(objectives, n):
    """NSGA-II's elitist survival: the ``n`` best members by (rank ascending, crowding
    descending), ties kept in input order (parents first, when they come first).

    Returns
    -------
    keep : ndarray of int
        Indices of the survivors, best first.
    rank, crowding : ndarray
        Their rank and crowding distance (computed over the whole fronts, as in Deb et al.).
    """
    rank, crowd = rank_and_crowding(objectives)
    keep = np.lexsort((-crowd, rank))[:n]
    return keep, rank[keep], crowd[keep]


def crowded_key(rank, crowding) -> np.ndarray:
    """Tournament key of members sorted best first by (rank, -crowding): lower is better,
    equal (rank, crowding) pairs get equal keys (so the first contestant wins the tie)."""
    rank, crowding = np.asarray(rank), np.asarray(crowding)
    change = (rank[1:] != rank[:-1]) | (crowding[1:] != crowding[:-1])
    return np.concatenate([[0], np.cumsum(change)]).astype(float)


def check_hypervolume_size(n_points, n_objectives, what="hypervolume"):
    """`ConfigError` if an exact hypervolume of ``n_points`` in ``n_objectives`` would take
    more than `MAX_SWEEPS` 2-D sweeps (see the module docstring)."""
    if n_objectives < 2:
        raise ConfigError(f"{what}: needs at least 2 objectives, got {n_objectives}")
    if n_objectives > 2 and float(n_points) ** (n_objectives - 2) > MAX_SWEEPS:
        raise ConfigError(
            f"{what}: the exact hypervolume of {n_points} points in {n_objectives} "
            f"objectives would take {n_points}^{n_objectives - 2} 2-D sweeps, more than the "
            f"limit of {MAX_SWEEPS} (up to 10 000 points for 3 objectives, 100 for 4, 21 for "
            f"5, 10 for 6); use fewer objectives (group streams with '+') or a smaller "
            f"pop_size")


def hypervolume(objectives, reference, check=True) -> float:
    """Exact hypervolume dominated by ``objectives`` and bounded by ``reference``.

    Parameters
    ----------
    objectives : array_like, shape (n, m)
        Points (minimised); dominated points may be included (they add nothing).
    reference : array_like, shape (m,)
        Reference point: worse than every point in every objective.
    check : bool
        True: a point not strictly better than ``reference`` in every objective is a
        `ConfigError` (the reference point lies inside the front). False: such points
        are left out (they bound no volume).

    Raises
    ------
    ConfigError
        A bad reference point (see ``check``; wrong length, non-finite), or a front
        beyond the size limit (`check_hypervolume_size`).
    """
    f = _as_objectives(objectives)
    ref = np.asarray(reference, dtype=float).reshape(-1)
    m = f.shape[1]
    if ref.size != m or not np.all(np.isfinite(ref)):
        raise ConfigError(f"hypervolume: the reference point must hold {m} finite values, "
                          f"got {ref.tolist()}")
    inside = np.all(f < ref, axis=1)
    if check and not inside.all():
        i = int(np.flatnonzero(~inside)[0])
        raise ConfigError(
            f"hypervolume: the reference point {ref.tolist()} is not beyond the front: "
            f"member {i} has objectives {f[i].tolist()}, not all below it ({int((~inside).sum())} "
            f"of {len(f)} members are not); every front member must be better than the "
            f"reference point in every objective: give a larger reference_point, or leave it "
            f"out (nadir + 10 % of the front's range)")
    f = f[inside]
    if f.shape[0] == 0:
        return 0.0
    f = f[non_dominated_sort(f) == 0]
    check_hypervolume_size(f.shape[0], m)
    return float(_slice(f, ref))


def _sweep2(f, ref) -> float:
    """Area dominated by 2-D points ``f`` (all below ``ref``)."""
    order = np.lexsort((f[:, 1], f[:, 0]))
    x, y = f[order, 0], f[order, 1]
    lowest = np.concatenate([[ref[1]], np.minimum.accumulate(y)[:-1]])
    return float(np.sum((ref[0] - x) * np.clip(lowest - y, 0.0, None)))


def _slice(f, ref) -> float:
    """Hypervolume by slicing along the last objective down to 2-D sweeps."""
    m = f.shape[1]
    if m == 2:
        return _sweep2(f, ref)
    order = np.argsort(f[:, -1], kind="stable")
    f = f[order]
    z = np.concatenate([f[:, -1], [ref[-1]]])
    total = 0.0
    for k in range(f.shape[0]):
        depth = z[k + 1] - z[k]
        if depth > 0:
            total += depth * _slice(f[:k + 1, :-1], ref[:-1])
    return total


def default_reference(front) -> np.ndarray:
    """Reference point of a front: its nadir (worst value of each objective) plus 10 % of
    its range (of ``max(|nadir|, 1)`` where the range is 0)."""
    f = _as_objectives(front)
    f = f[np.all(np.isfinite(f), axis=1)]
    nadir, ideal = f.max(axis=0), f.min(axis=0)
    span = nadir - ideal
    span = np.where(span > 0, span, np.maximum(np.abs(nadir), 1.0))
    return nadir + REFERENCE_MARGIN * span


def knee(front) -> int:
    """Index of the compromise member: the one closest (Euclidean) to the ideal point in
    objectives normalised to ``[0, 1]`` by the front's ideal and nadir (an objective with
    zero range counts 0); the first on a tie."""
    f = _as_objectives(front)
    ideal, nadir = f.min(axis=0), f.max(axis=0)
    span = nadir - ideal
    z = np.where(span > 0, (f - ideal) / np.where(span > 0, span, 1.0), 0.0)
    return int(np.argmin(np.sqrt(np.sum(z * z, axis=1))))
