"""The Pareto front of a multi-objective result (``nsga2``) in ``result.nc``.

`write_front` adds, when the result has a front (``front_objectives``)::

    objective(objective)                  objective names (string coordinate)
    objective_terms(objective)            the cost terms each objective sums ("a, b")
    reference_point(objective)            hypervolume reference point (attribute
                                          ``source``: "options" or the nadir rule)
    front_theta(front_member, param)      final population, sorted by rank then crowding
    front_objective(front_member, objective)   their objectives (J_o of the streams)
    front_rank(front_member)              0 = on the Pareto front, 1 = next front, ...
    front_crowding(front_member)          crowding distance within its front (missing:
                                          infinite, the front's ends)
    generation(generation), hypervolume(generation)   hypervolume of each generation's front

and the global attributes ``front_size`` (members of rank 0), ``knee_member`` (row of the
knee, which is also ``analysis``) and ``hypervolume`` (of the final front).
"""
from __future__ import annotations

import numpy as np


def write_front(ds, result, var, strings):
    """Write ``result``'s front into the open `netCDF4.Dataset` ``ds`` (nothing if it has
    none); ``var`` and ``strings`` are `pdaframe.io.netcdf`'s variable writers."""
    if "front_objectives" not in result:
        return
    names = list(result["objective_names"])
    ds.createDimension("objective", len(names))
    ds.createDimension("front_member", len(result["front_rank"]))
    strings(ds, "objective", "objective", names, "objective name")
    strings(ds, "objective_terms", "objective", list(result["objective_terms"]),
            "cost terms summed in each objective (prior: J_b; a stream: its J_o)")
    var(ds, "reference_point", ("objective",), result["reference_point"], units="1",
        long_name="hypervolume reference point", source=str(result["reference_source"]))
    var(ds, "front_theta", ("front_member", "param"), result["population"],
        long_name="final population, sorted by front rank then crowding distance")
    var(ds, "front_objective", ("front_member", "objective"), result["front_objectives"],
        units="1", long_name="objectives of the final population (cost terms J)")
    var(ds, "front_rank", ("front_member",), np.asarray(result["front_rank"], dtype=np.int64),
        units="1", long_name="non-domination rank (0: the Pareto front)")
    var(ds, "front_crowding", ("front_member",), result["front_crowding"], units="1",
        long_name="crowding distance within the member's front (missing: infinite, "
                  "at an end of the front)")
    hv = result["history"]["hypervolume"]
    ds.createDimension("generation", len(hv))
    var(ds, "generation", ("generation",), np.arange(len(hv)), units="1",
        long_name="generation (0: the initial population)")
    var(ds, "hypervolume", ("generation",), hv, units="1",
        long_name="hypervolume of each generation's front (reference_point)")
    ds.front_size = int(result["front_size"])
    ds.knee_member = int(result["knee"])
    ds.hypervolume = float(result["hypervolume"])


def front_summary(result) -> str | None:
    """Summary lines of a result with a front (None without): its size, hypervolume and
    the knee's objectives."""
    if "front_objectives" not in result:
        return None
    names = result["objective_names"]
    knee = result["front_objectives"][result["knee"]]
    ref = ", ".join(f"{v:.4g}" for v in result["reference_point"])
    return (f"Pareto front: {result['front_size']} of {len(result['front_rank'])} members "
            f"non-dominated over objectives {', '.join(names)}; hypervolume "
            f"{result['hypervolume']:.6g} (reference point ({ref}), "
            f"{result['reference_source']})\n"
            f"knee (analysis, closest to the ideal point in normalised objectives): "
            + ", ".join(f"{n} = {v:.6g}" for n, v in zip(names, knee)))
