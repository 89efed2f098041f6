"""Parameter mapping on DALEC2 (issue 15): a 20-site synthetic network in two PFTs, with
PFT groups, a scaling factor and shared parameters, from a config.

* the Taylor test of the multi-site cost gradient (DALEC2's adjoint through the mapping) and
  the adjoint dot product of one site's model composed with the mapping;
* a twin: the truth has different f_auto and c_lma per PFT; 4D-Var over all 20 sites
  recovers the group values (and the scaling factor and shared parameters) within their
  posterior uncertainty.
"""
import numpy as np
import pytest

import pdaframe
from pdaframe import load_config
from pdaframe.models.driver_file import DriverTable
from pdaframe.sites import synthetic_network
from pdaframe.testing import check_gradient
from pdaframe_dalec2.readers import read_us_me2

N_SITES = 20
TRUTH = {"f_auto@pft=evergreen": 0.50, "f_auto@pft=deciduous": 0.36,
         "c_lma@pft=evergreen": 120.0, "c_lma@pft=deciduous": 70.0,
         "scale(theta_lit)": 1.4, "f_fol": 0.12, "theta_min": 0.0009}


def _config(folder, sites):
    text = [f'''title = "DALEC2 PFT groups, {len(sites)} sites"
seed = 3

[model]
name = "dalec2"

[parameters]
estimate = ["theta_min", "f_auto", "f_fol", "theta_lit", "c_lma"]
site_table = "sites.csv"
site_table_extra = "ignore"
groups = {{ f_auto = "pft", c_lma = "pft" }}
scaled = ["theta_lit"]
scale_std = 0.3
''']
    for s in sites:
        text.append(f'''
[[sites]]
name = "{s}"
options = {{ drivers_file = "drivers/{s}.csv" }}

[[sites.streams]]
name = "nee"
variable = "nee"
times = {{ start = 0, stop = 730, step = 1 }}
std = 0.7

[[sites.streams]]
name = "lai"
variable = "lai"
times = {{ start = 0, stop = 730, step = 8 }}
std = 0.3
''')
    text.append("\n[twin]\nseed = 9\n\n[twin.truth]\n" +
                "".join(f'"{k}" = {v}\n' for k, v in TRUTH.items()))
    text.append('\n[method]\nname = "lbfgsb"\n\n[output]\ndirectory = "out"\n')
    path = folder / "config.toml"
    path.write_text("".join(text))
    return path


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    folder = tmp_path_factory.mktemp("groups")
    d = read_us_me2(start="2004-01-01", end="2005-12-31")
    base = DriverTable(d.time, {c: getattr(d, c) for c in ("t_min", "t_max", "t_mean", "sw")},
                       d.latitude, -121.56, "US-Me2")
    net = synthetic_network(base, N_SITES, 15, folder, lat_shift=(-6, 6), t_offset=(-2, 2),
                            proportions=(0.5, 0.5))
    return folder, net


def test_gradient_through_groups_and_scaling(network):
    folder, net = network
    problem, settings = load_config(_config(folder, list(net.table.sites[:4])))
    assert problem.parameter_names == ["theta_min", "f_fol", "f_auto@pft=" + net.table.column(
        "pft")[0], *problem.parameter_names[3:]]
    theta = settings.truth
    check_gradient(problem, theta)
    check_gradient(problem, problem.prior.mean, rng=5)
    # one site's model composed with the mapping: <M' dx, DALEC2' w> = <dx, M'^T (DALEC2'^T w)>
    rng = np.random.default_rng(2)
    model, mapping = problem.sites[1].model, problem.mapping
    dx = problem.prior.scale @ rng.standard_normal(problem.n_param)
    theta_k = mapping.values(theta)[1]
    tl = model.tangent(theta_k, mapping.tangent(theta, dx)[1], outputs=["nee", "lai"])
    w = {k: rng.standard_normal(v.shape) for k, v in tl.items()}
    grads = [np.zeros(theta_k.size) for _ in problem.sites]
    grads[1] = model.adjoint(theta_k, w)
    lhs = sum(float(np.sum(w[k] * tl[k])) for k in w)
    rhs = float(mapping.adjoint(theta, grads) @ dx)
    assert abs(lhs - rhs) <= 1e-12 * abs(lhs), (lhs, rhs)


def test_twin_recovers_the_pft_groups(network):
    folder, net = network
    problem, settings = load_config(_config(folder, list(net.table.sites)))
    pfts = net.table.groups("pft")
    assert {k: len(v) for k, v in pfts.items()} == {"evergreen": 10, "deciduous": 10} or \
        sorted(len(v) for v in pfts.values()) == [10, 10]
    res = pdaframe.minimise(problem, "lbfgsb", posterior=True)
    names = problem.parameter_names
    truth = dict(zip(names, settings.truth))
    prior = dict(zip(names, problem.prior.mean))
    std = dict(zip(names, res.posterior_std))
    print()
    for n in names:
        print(f"{n:24s} truth {truth[n]:10.5g}  prior {prior[n]:10.5g}  estimate "
              f"{res.x[names.index(n)]:10.5g} +- {std[n]:.3g}")
    for n in names:
        est = res.x[names.index(n)]
        assert abs(est - truth[n]) < 4 * std[n], n
        # the estimate moved most of the way from the prior to the truth
        assert abs(est - truth[n]) < 0.25 * abs(prior[n] - truth[n]) + 1e-12 + 2 * std[n], n
    for p in ("f_auto", "c_lma"):
        e, d = (res.x[names.index(f"{p}@pft={g}")] for g in ("evergreen", "deciduous"))
        te, td = truth[f"{p}@pft=evergreen"], truth[f"{p}@pft=deciduous"]
        assert (e - d) * (te - td) > 0 and abs((e - d) - (te - td)) < 0.2 * abs(te - td), p
