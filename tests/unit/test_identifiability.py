"""Identifiability diagnostics (`pdaframe.analysis.identifiability`): closed forms on a
linear-Gaussian problem, a product-only pair, sensitivities against finite differences, edge
cases, the config option, result.nc, the summary and report.html."""
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

import pdaframe
from pdaframe.analysis.diagnostics import diagnose, format_diagnostics
from pdaframe.analysis.identifiability import (Options, format_identifiability,
                                               identifiability, parse_outputs, read_options,
                                               sensitivities)
from tests.models import Decay, NoDerivatives

LG2 = Path(__file__).parents[1] / "data" / "lg2.toml"


def linear_gaussian(seed=0, m=8, n=4):
    rng = np.random.default_rng(seed)
    G = rng.normal(size=(m, n))
    G[:, -1] *= 0.05                               # a weakly observed parameter
    L = np.tril(rng.normal(size=(n, n)) * 0.3) + np.diag(rng.uniform(0.5, 2.0, n))
    B = L @ L.T
    std = rng.uniform(0.5, 1.5, m)
    y = G @ rng.normal(size=n) + std * rng.normal(size=m)
    prior = pdaframe.GaussianPrior(np.zeros(n), covariance=B)
    problem = pdaframe.Problem(pdaframe.LinearModel(G), prior,
                               [pdaframe.DataStream("y", "y", y, std=std)])
    return problem, G, B, np.diag(1 / std ** 2)


def closed_form(G, B, Rinv):
    S = np.linalg.cholesky(B)
    H = S.T @ G.T @ Rinv @ G @ S
    lam, V = np.linalg.eigh(H)
    lam, V = lam[::-1], V[:, ::-1]
    C = np.linalg.inv(G.T @ Rinv @ G + np.linalg.inv(B))
    corr = C / np.sqrt(np.outer(np.diag(C), np.diag(C)))
    d = (S @ V / np.sqrt(np.diag(B))[:, None]).T
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return lam, d, corr, 1 - np.sqrt(np.diag(C) / np.diag(B))


def test_linear_gaussian_closed_form():
    problem, G, B, Rinv = linear_gaussian()
    res = pdaframe.minimise(problem, "lbfgsb")
    ident = identifiability(problem, res)
    lam, d, corr, reduction = closed_form(G, B, Rinv)
    assert ident["source"] == "laplace"
    np.testing.assert_allclose(ident["eigenvalues"], lam, rtol=1e-10)
    np.testing.assert_allclose(ident["correlation"], corr, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ident["uncertainty_reduction"], reduction, rtol=1e-10)
    # directions agree up to sign (distinct eigenvalues)
    np.testing.assert_allclose(np.abs(np.sum(ident["eigenvectors"] * d, axis=1)), 1.0,
                               rtol=1e-10)
    assert ident["n_constrained"] == int(np.sum(lam > 1)) and 0 < ident["n_constrained"] < 4
    np.testing.assert_allclose(ident["dfs"], np.sum(lam / (1 + lam)), rtol=1e-12)
    # the same covariance as a sampler's gives the same numbers ("samples")
    samples = pdaframe.SampleResult(x=res.x, parameter_names=res.parameter_names,
                                    posterior_covariance=res.posterior_covariance)
    other = identifiability(problem, samples, Options(outputs=()))
    assert other["source"] == "samples"
    np.testing.assert_allclose(other["eigenvalues"], lam, rtol=1e-10)


def test_a_wrong_hessian_is_detected():
    """The closed-form check fails on a broken covariance (10 % off in one entry)."""
    problem, G, B, Rinv = linear_gaussian()
    res = pdaframe.minimise(problem, "lbfgsb")
    res.posterior_covariance = res.posterior_covariance.copy()
    res.posterior_covariance[0, 0] *= 1.1
    lam = closed_form(G, B, Rinv)[0]
    assert not np.allclose(identifiability(problem, res)["eigenvalues"], lam, rtol=1e-3)


class Product:
    """``y_t = a b (1 + t)``: only the product ``a b`` is seen."""

    parameter_names = ("a", "b", "c")
    output_names = ("y", "w")

    def __init__(self, n=10):
        self.t = 1.0 + np.arange(float(n))

    def run(self, theta):
        a, b, c = theta
        return {"y": a * b * self.t + c, "w": c * self.t}

    def tangent(self, theta, dtheta):
        a, b, c = theta
        return {"y": (b * dtheta[0] + a * dtheta[1]) * self.t + dtheta[2],
                "w": dtheta[2] * self.t}

    def adjoint(self, theta, d_outputs):
        a, b, c = theta
        dy, dw = d_outputs.get("y", 0 * self.t), d_outputs.get("w", 0 * self.t)
        return np.array([b * dy @ self.t, a * dy @ self.t, dy.sum() + dw @ self.t])


def product_problem(prior=None):
    model = Product()
    y = model.run([1.2, 0.9, 0.5])["y"] + 0.01 * np.sin(np.arange(10))
    prior = prior or pdaframe.GaussianPrior([1.0, 1.0, 0.0], std=[0.5, 0.5, 1.0])
    return pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", y, std=0.01)])


def test_product_pair_is_one_unconstrained_direction():
    problem = product_problem()
    res = pdaframe.minimise(problem, "lbfgsb")
    ident = identifiability(problem, res)
    corr = ident["correlation"]
    print(np.array2string(corr, precision=4))
    assert corr[0, 1] < -0.99
    assert ident["strong_pairs"][0][:2] == ("a", "b") and ident["strong_pairs"][0][2] < -0.99
    lam = ident["eigenvalues"]
    assert ident["n_constrained"] == 2 and lam[1] > 1e3 and abs(lam[2]) < 1e-6
    # the unconstrained direction moves a and b (in prior σ) in opposite... the null space
    # of d(ab) = b da + a db: in prior-σ units (a, -b) up to scale, c untouched
    null = ident["eigenvectors"][2]
    assert abs(null[2]) < 1e-6 and null[0] * null[1] < 0
    # a and b each keep most of their prior uncertainty along the valley; c is determined
    red = ident["uncertainty_reduction"]
    assert red[0] < 0.35 and red[1] < 0.35 and red[2] > 0.9
    text = format_identifiability(ident)
    assert "2 of 3 directions constrained" in text and "a~b (-1.00)" in text


def test_singular_hessian_with_a_uniform_prior_and_an_unseen_parameter():
    """No Gaussian term: H from the Jacobian (rank 2 of 3 here), eigenvalue exactly 0 for
    the unseen direction, no crash, finite output."""
    prior = pdaframe.UniformPrior([0.1, 0.1, -2.0], [3.0, 3.0, 2.0])
    problem = product_problem(prior)
    res = pdaframe.minimise(problem, "lbfgsb")
    ident = identifiability(problem, res)
    assert ident["source"] == "laplace"
    assert np.all(np.isfinite(ident["eigenvalues"])) and np.all(np.isfinite(
        ident["correlation"])) and np.all(np.isfinite(ident["uncertainty_reduction"]))
    assert ident["n_constrained"] == 2 and abs(ident["eigenvalues"][2]) < 1e-8
    assert ident["correlation"][0, 1] < -0.99


def test_one_parameter():
    problem = pdaframe.Problem(pdaframe.LinearModel([[1.0], [2.0]]),
                               pdaframe.GaussianPrior([0.0], std=[1.0]),
                               [pdaframe.DataStream("y", "y", [1.0, 2.0], std=1.0)])
    ident = identifiability(problem, pdaframe.minimise(problem, "lbfgsb"))
    np.testing.assert_allclose(ident["eigenvalues"], [5.0], rtol=1e-12)
    np.testing.assert_allclose(ident["uncertainty_reduction"], [1 - np.sqrt(1 / 6)],
                               rtol=1e-12)
    assert ident["correlation"].tolist() == [[1.0]] and ident["strong_pairs"] == []
    assert "pairs (|r| >= 0.7): none" in format_identifiability(ident)


def test_result_without_covariance_says_why():
    problem = product_problem(pdaframe.UniformPrior([0.1, 0.1, -2.0], [3.0, 3.0, 2.0]))
    res = pdaframe.minimise(problem, "de", seed=1, maxiter=5, popsize=5)
    assert "posterior_covariance" not in res
    ident = identifiability(problem, res)
    assert "posterior = true" in ident["missing"] and "correlation" not in ident
    assert "sensitivity" in ident                     # needs only the estimate
    assert "identifiability: not available: de gives no posterior covariance" in \
        format_identifiability(ident)


@pytest.mark.parametrize("model", [Decay(), NoDerivatives()], ids=["adjoint", "fd"])
def test_sensitivities_equal_finite_differences(model):
    theta = np.array([0.15, 2.0, 0.7])
    out = model.run(theta)
    streams = [pdaframe.DataStream("y", "y", out["y"] + 0.1, std=0.2)]
    prior = pdaframe.GaussianPrior([0.1, 1.5, 0.5], std=[0.05, 0.5, 0.3])
    problem = pdaframe.Problem(model, prior, streams)
    sens = sensitivities(problem, theta, ["cost:y", "y_sum", "y_mean", "y_last", "z_sum"])
    assert sens["mode"] == ("adjoint" if isinstance(model, Decay) and model.adjoint else "fd")
    funcs = [lambda t: problem.cost_terms(t)["y"], lambda t: model.run(t)["y"].sum(),
             lambda t: model.run(t)["y"].mean(), lambda t: model.run(t)["y"][-1],
             lambda t: model.run(t)["z"].sum()]
    std = np.array([0.05, 0.5, 0.3])
    for label, f, row in zip(sens["outputs"], funcs, sens["values"]):
        fd = np.array([(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e, h in
                       zip(np.eye(3), 1e-5 * std)]) * std
        rtol = 1e-7 if sens["mode"] == "adjoint" else 1e-5
        np.testing.assert_allclose(row, fd, rtol=rtol, atol=1e-9 * np.abs(fd).max(),
                                   err_msg=label)


def test_tangent_mode_agrees_with_adjoint():
    class TangentOnly(Decay):
        adjoint = None
    theta = np.array([0.15, 2.0, 0.7])
    prior = pdaframe.GaussianPrior([0.1, 1.5, 0.5], std=[0.05, 0.5, 0.3])
    rows = []
    for model in (Decay(), TangentOnly()):
        y = Decay().run(theta)["y"] + 0.1
        problem = pdaframe.Problem(model, prior, [pdaframe.DataStream("y", "y", y, std=0.2)])
        rows.append(sensitivities(problem, theta, ["cost:y", "y_last", "z_mean"]))
    assert [r["mode"] for r in rows] == ["adjoint", "tangent"]
    np.testing.assert_allclose(rows[1]["values"], rows[0]["values"], rtol=1e-12)


def test_unknown_outputs_are_named_errors():
    problem = product_problem()
    with pytest.raises(pdaframe.ConfigError, match=r"no output 'nee'; its outputs are "
                                                   r"\['w', 'y'\]"):
        parse_outputs(problem, ["nee_sum"])
    with pytest.raises(pdaframe.ConfigError, match=r"no stream 'lai'; the streams are \['y'\]"):
        parse_outputs(problem, ["cost:lai"])
    with pytest.raises(pdaframe.ConfigError, match="reduction of"):
        parse_outputs(problem, ["y_total"])
    with pytest.raises(pdaframe.ConfigError, match="strong_correlation"):
        read_options({"strong_correlation": 1.5})
    with pytest.raises(pdaframe.ConfigError, match="unknown keys"):
        read_options({"treshold": 0.5})


def lg2(tmp_path, extra):
    shutil.copy(LG2.parent / "lg2_obs.csv", tmp_path)
    (tmp_path / "c.toml").write_text(LG2.read_text() + extra)
    return tmp_path / "c.toml"


def test_config_checks_outputs_before_any_run(tmp_path):
    path = lg2(tmp_path, '\n[output.identifiability]\nsensitivity_outputs = ["nee_sum"]\n')
    with pytest.raises(pdaframe.ConfigError, match=r"\[output\].*no output 'nee'; its "
                                                   r"outputs are \['y'\]"):
        pdaframe.load_config(path, run_model=False)


def test_run_writes_netcdf_summary_and_report(tmp_path):
    from pdaframe.run import run_problem
    path = lg2(tmp_path, '\n[output.identifiability]\nstrong_correlation = 0.3\n'
                         'sensitivity_outputs = ["cost:y", "y_sum"]\n')
    problem, settings = pdaframe.load_config(path)
    settings.plots = True
    result, paths = run_problem(problem, settings, tmp_path / "out", progress=False)
    ident = result["diagnostics"]["identifiability"]
    with netCDF4.Dataset(paths["netcdf"]) as ds:
        np.testing.assert_array_equal(ds["posterior_correlation"][:], ident["correlation"])
        np.testing.assert_array_equal(ds["hessian_eigenvalues"][:], ident["eigenvalues"])
        np.testing.assert_array_equal(ds["hessian_eigenvectors"][:], ident["eigenvectors"])
        np.testing.assert_array_equal(ds["uncertainty_reduction"][:],
                                      ident["uncertainty_reduction"])
        np.testing.assert_array_equal(ds["sensitivity"][:], ident["sensitivity"]["values"])
        assert list(ds["output"][:]) == ["cost:y", "y_sum"]
        assert ds["hessian_eigenvalues"].n_constrained == ident["n_constrained"]
        assert ds.strong_correlation == 0.3
    text = format_diagnostics(result["diagnostics"])
    assert "2 of 2 directions constrained by the data" in text
    assert "pairs (|r| >= 0.3)" in text
    page = paths["report"].read_text()
    assert "Identifiability" in page and "posterior correlation" in page.lower()
    assert paths["correlation_plot"].is_file() and "Identifiability" in page
    # off: no variables
    settings.identifiability = read_options({"enabled": False})
    _, paths = run_problem(problem, settings, tmp_path / "off", progress=False)
    with netCDF4.Dataset(paths["netcdf"]) as ds:
        assert "posterior_correlation" not in ds.variables


def test_diagnose_without_options_uses_defaults():
    problem = product_problem()
    res = pdaframe.minimise(problem, "lbfgsb")
    diag = diagnose(problem, res)
    assert diag["identifiability"]["sensitivity"]["outputs"] == ["cost:y"]
    assert "identifiability" not in diagnose(problem, res, options=Options(enabled=False))


def test_annual_sum_of_a_daily_rate():
    class Rated(Decay):
        output_units = {"y": "g m-2 day-1", "z": "g m-2"}
    theta = np.array([0.15, 2.0, 0.7])
    prior = pdaframe.GaussianPrior([0.1, 1.5, 0.5], std=[0.05, 0.5, 0.3])
    y = Decay().run(theta)["y"]
    problem = pdaframe.Problem(Rated(), prior, [pdaframe.DataStream("y", "y", y, std=0.2)])
    sens = sensitivities(problem, theta, ["y_annual_sum", "y_mean"])
    np.testing.assert_allclose(sens["values"][0], 365.25 * sens["values"][1], rtol=1e-14)
    assert np.all(sens["values"][1] != 0)
    with pytest.raises(pdaframe.ConfigError, match="annual_sum needs a per-day rate.*'z' has "
                                                   "units g m-2: use z_sum or z_mean"):
        parse_outputs(problem, ["z_annual_sum"])


def test_model_failure_at_the_estimate_keeps_the_rest(tmp_path):
    class Failing(Decay):
        def adjoint(self, theta, d_outputs):
            raise pdaframe.ModelError("adjoint diverged")
    theta = np.array([0.15, 2.0, 0.7])
    prior = pdaframe.GaussianPrior([0.1, 1.5, 0.5], std=[0.05, 0.5, 0.3])
    problem = pdaframe.Problem(Failing(), prior, [pdaframe.DataStream(
        "y", "y", Decay().run(theta)["y"], std=0.2)])
    res = pdaframe.OptimisationResult(x=theta, fun=1.0, method="lbfgsb",
                                      parameter_names=problem.parameter_names,
                                      posterior_covariance=np.diag([1e-4, 0.01, 0.02]),
                                      posterior_std=np.sqrt([1e-4, 0.01, 0.02]))
    res["diagnostics"] = diagnose(problem, res)
    ident = res["diagnostics"]["identifiability"]
    assert "adjoint diverged" in ident["sensitivity_missing"] and "correlation" in ident
    assert "sensitivities: not available: the model failed" in format_identifiability(ident)
    path = res.to_netcdf(tmp_path / "r.nc", problem=problem)
    with netCDF4.Dataset(path) as ds:
        assert "adjoint diverged" in ds.sensitivity_missing
        assert "sensitivity" not in ds.variables and "posterior_correlation" in ds.variables


def test_multisite_has_covariance_diagnostics_but_no_sensitivities():
    from pdaframe.problem.multisite import Site
    from tests.models import Dated
    sites = []
    for name, start in (("A", "2004-01-01"), ("B", "2010-06-15")):
        m = Dated(start=start)
        y = m.run(np.array([1.0, 0.5]))["y"]
        sites.append(Site(name, m, [pdaframe.DataStream("y", "y", y, std=0.3)]))
    prior = pdaframe.GaussianPrior([0.0, 0.0], std=[10.0, 10.0], names=["a", "b"])
    p = pdaframe.MultiSiteProblem(sites, prior, ["a", "b"], [])
    ident = identifiability(p, pdaframe.minimise(p, "lbfgsb"))
    assert ident["n_constrained"] == 2 and "single-site" in ident["sensitivity_missing"]
    with pytest.raises(pdaframe.ConfigError, match="single-site problems only"):
        parse_outputs(p, ["y_sum"])


def test_taylor_second_order_of_the_sensitivity_gradients():
    """The gradients behind the sensitivities (cost term and an output reduction, adjoint)
    pass the Taylor test: remainder O(h^2) over 4 decades; a 1 % wrong gradient does not."""
    from pdaframe.testing import taylor_test
    theta = np.array([0.15, 2.0, 0.7])
    prior = pdaframe.GaussianPrior([0.1, 1.5, 0.5], std=[0.05, 0.5, 0.3])
    y = Decay().run(theta)["y"] + 0.1
    problem = pdaframe.Problem(Decay(), prior, [pdaframe.DataStream("y", "y", y, std=0.2)])
    grad = sensitivities(problem, theta, ["cost:y", "z_sum"])["gradient"]
    h = prior.scale @ np.array([0.6, -0.5, 0.62])
    funcs = [lambda t: problem.cost_terms(t)["y"], lambda t: Decay().run(t)["z"].sum()]
    for f, g in zip(funcs, grad):
        assert taylor_test(f, lambda x, d, g=g: g @ d, theta, h).passed
        assert not taylor_test(f, lambda x, d, g=g: 1.01 * g @ d, theta, h).passed
