"""Bound transforms, their Jacobians, priors, control space and fixed parameters."""
import numpy as np
import pytest
from scipy import stats

import pdaframe
import pdaframe.plugin
import pdaframe.testing
from pdaframe.problem.fixed import FixedParameters
from pdaframe.problem.single import ControlSpace
from pdaframe.prior.transforms import ParameterTransform
from tests.models import Decay

LOWER = np.array([-np.inf, 0.0, -np.inf, 1.0])
UPPER = np.array([np.inf, np.inf, 5.0, 3.0])


def test_kinds_follow_bounds_and_round_trip():
    t = ParameterTransform(LOWER, UPPER)
    assert t.kinds == ["identity", "log", "neglog", "logit"]
    theta = np.array([-3.0, 0.2, 4.9, 2.999])
    np.testing.assert_allclose(t.to_theta(t.to_phi(theta)), theta, rtol=1e-13)
    phi = np.array([50.0, -30.0, 30.0, -40.0])       # far out: still inside the bounds
    th = t.to_theta(phi)
    assert th[1] > 0 and th[2] < 5 and 1 <= th[3] < 3


def test_jacobian_matches_finite_differences_and_log_det():
    t = ParameterTransform(LOWER, UPPER)
    phi = np.array([0.3, -0.7, 1.1, 0.4])
    h = 1e-6
    fd = np.array([(t.to_theta(phi + h * e) - t.to_theta(phi - h * e))[i] / (2 * h)
                   for i, e in enumerate(np.eye(4))])
    np.testing.assert_allclose(t.dtheta_dphi(phi), fd, rtol=1e-8)
    assert t.log_det_jacobian(phi) == pytest.approx(np.log(np.abs(fd)).sum(), rel=1e-8)


def test_log_det_makes_densities_consistent():
    # a uniform on (1, 3) pushed through logit: density in phi integrates to one
    t = ParameterTransform([1.0], [3.0])
    phi = np.linspace(-30, 30, 200001)
    dens = np.exp([np.log(0.5) + t.log_det_jacobian([p]) for p in phi])
    assert np.trapezoid(dens, phi) == pytest.approx(1.0, rel=1e-6)


def test_unknown_transform_and_missing_bound():
    with pytest.raises(pdaframe.ConfigError, match="transform 'sqrt' unknown"):
        ParameterTransform([0.0], [1.0], ["sqrt"])
    with pytest.raises(pdaframe.ConfigError, match="'logit' needs the bound"):
        ParameterTransform([0.0], [np.inf], ["logit"])


def test_gaussian_prior_sample_and_truncation():
    p = pdaframe.GaussianPrior([1.0, 0.5], std=[0.5, 0.4], lower=[-np.inf, 0.0], upper=[np.inf, 1.0])
    draws = p.sample(40000, np.random.default_rng(0))
    assert np.all((draws[:, 1] > 0) & (draws[:, 1] < 1))
    ref = stats.truncnorm((0 - 0.5) / 0.4, (1 - 0.5) / 0.4, loc=0.5, scale=0.4)
    assert draws[:, 1].std() == pytest.approx(ref.std(), rel=0.02)
    assert draws[:, 0].mean() == pytest.approx(1.0, abs=0.02)


def test_uniform_prior():
    p = pdaframe.UniformPrior([0.0, 1.0], [1.0, 3.0])
    np.testing.assert_allclose(p.mean, [0.5, 2.0])
    assert p.cost([0.5, 2.0]) == 0.0 and p.cost([2.0, 2.0]) == np.inf
    with pytest.raises(pdaframe.ConfigError, match="finite lower and upper"):
        pdaframe.UniformPrior([0.0], [np.inf])


def test_control_space_is_cvt_without_bounds():
    B = np.array([[1.0, 0.5], [0.5, 4.0]])
    prior = pdaframe.GaussianPrior([1.0, 2.0], covariance=B)
    space = ControlSpace(prior)
    L = np.linalg.cholesky(B)
    theta = np.array([1.7, -0.3])
    np.testing.assert_allclose(space.to_u(theta), np.linalg.solve(L, theta - prior.mean))
    np.testing.assert_allclose(space.to_theta(space.to_u(theta)), theta)
    assert prior.cost(theta) == pytest.approx(0.5 * space.to_u(theta) @ space.to_u(theta))


def test_fixed_parameters_view():
    model = Decay()
    full = np.array([0.15, 4.0, 0.8])
    sub = FixedParameters(model, ["a", "k"], full)
    assert sub.parameter_names == ("a", "k") and sub.fixed == {"c0": 4.0}
    np.testing.assert_allclose(sub.run([0.8, 0.15])["y"], model.run(full)["y"])
    pdaframe.testing.check_model(sub, [0.7, 0.2], rng=0)
    with pytest.raises(pdaframe.ConfigError, match=r"unknown parameter\(s\) \['q'\]"):
        FixedParameters(model, ["q"], full)


def test_twin_streams_are_reproducible_and_keep_gaps():
    model = Decay()
    truth = np.array([0.15, 4.0, 0.8])
    template = [pdaframe.DataStream("y", "y", [0.0, np.nan, 0.0, 0.0], times=[0, 3, 5, 9],
                                    std=0.1),
                pdaframe.DataStream("z", "z", np.zeros(40), std=0.2,
                                    operator=pdaframe.plugin.Identity("z"))]
    a = pdaframe.synthetic_streams(model, truth, template, seed=11)
    b = pdaframe.synthetic_streams(model, truth, template, seed=11)
    c = pdaframe.synthetic_streams(model, truth, template, seed=12)
    np.testing.assert_array_equal(a[0].values, b[0].values)
    assert not np.allclose(a[0].observed, c[0].observed)
    assert np.isnan(a[0].values[1]) and a[0].n_missing == 1
    np.testing.assert_allclose(a[0].truth_values, model.run(truth)["y"][[0, 3, 5, 9]])
    noise = (a[1].observed - a[1].truth_values) / 0.2
    assert abs(noise.mean()) < 4 / np.sqrt(40) and 0.6 < noise.std() < 1.4


def test_log_det_jacobian_equals_the_direct_formula_and_stays_finite():
    t = ParameterTransform([0.0, -np.inf, 1.0, -np.inf], [2.0, np.inf, np.inf, 5.0])
    rng = np.random.default_rng(0)
    for phi in rng.standard_normal((20, 4)) * 3:
        direct = float(np.sum(np.log(np.abs(t.dtheta_dphi(phi)))))
        assert t.log_det_jacobian(phi) == pytest.approx(direct, rel=1e-12, abs=1e-12)
    # d theta / d phi underflows to 0 at phi = +-800 (logit) but its log is -800 + log 2
    far = t.log_det_jacobian(np.array([800.0, 0.0, 3.0, -2.0]))
    assert far == pytest.approx(np.log(2.0) - 800.0 + 3.0 - 2.0, rel=1e-12)


def test_posterior_interval_in_the_transform_space_stays_inside_the_bounds():
    from pdaframe.result import Result
    t = ParameterTransform([-np.inf, 0.0, -np.inf, 0.0], [np.inf, np.inf, 1.0, 1.0])
    x = np.array([1.0, 0.1, 0.95, 0.5])
    std = np.array([0.5, 0.2, 0.1, 0.05])
    res = Result(x=x, posterior_covariance=np.diag(std ** 2)).attach_transform(t)
    lo, hi = res.posterior_interval(0.95)
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose([lo[0], hi[0]], [1.0 - z * 0.5, 1.0 + z * 0.5])   # unbounded
    # log (lower bound 0): x exp(-+ z sd/x), positive and skewed up
    np.testing.assert_allclose([lo[1], hi[1]], 0.1 * np.exp([-z * 2.0, z * 2.0]))
    assert lo[1] > 0 and hi[1] - x[1] > x[1] - lo[1]
    assert lo[2] < x[2] < hi[2] < 1.0 and x[2] - lo[2] > hi[2] - x[2]    # upper bound 1
    assert 0 < lo[3] < x[3] < hi[3] < 1                                  # logit
    # a linearised sd that small gives the symmetric interval back
    tiny = Result(x=x, posterior_covariance=np.diag((std * 1e-6) ** 2)).attach_transform(t)
    np.testing.assert_allclose(tiny.posterior_interval(0.9), [x - stats.norm.ppf(0.95) * std
                               * 1e-6, x + stats.norm.ppf(0.95) * std * 1e-6], rtol=1e-9)


def test_posterior_interval_of_a_parameter_on_its_bound_is_the_clipped_linear_one():
    import warnings
    from pdaframe.result import Result
    t = ParameterTransform([0.0, 0.0], [np.inf, 1.0])
    res = Result(x=np.array([0.0, 1.0]), posterior_covariance=np.diag([0.01, 0.04]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = res.attach_transform(t).posterior_interval()
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose([lo[0], hi[0]], [0.0, z * 0.1])
    np.testing.assert_allclose([lo[1], hi[1]], [1.0 - z * 0.2, 1.0])


def test_posterior_sample_with_a_parameter_on_its_bound():
    import warnings
    from pdaframe.result import Result
    t = ParameterTransform([0.0, 0.0], [np.inf, 1.0])
    res = Result(x=np.array([0.0, 0.5]), posterior_covariance=np.diag([0.01, 0.0004]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draws = res.attach_transform(t).posterior_sample(4000, seed=1)
    assert np.all(draws[:, 0] >= 0.0) and np.all((draws[:, 1] > 0) & (draws[:, 1] < 1))
    assert abs(np.mean(draws[:, 0] == 0.0) - 0.5) < 0.05      # half of N(0, 0.1) clipped
    assert abs(draws[:, 1].std() - 0.02) < 0.002


def test_laplace_draws_next_to_a_bound_are_clipped_linear_and_do_not_leak():
    """A parameter within round-off of its bound (where L-BFGS-B leaves a saturated one) is
    drawn like one on it; the others keep their own sd and correlation (no round-off from
    the ~1e13 times larger transformed scale of the first)."""
    from pdaframe.result import Result
    t = ParameterTransform([1e-5, 0.3, 10.0], [0.01, 0.7, 1000.0])
    x = np.array([1e-5 + 2.5e-14, 0.643, 237.0])
    std = np.array([1e-3, 0.041, 30.0])
    corr = np.array([[1.0, 0.5, -0.3], [0.5, 1.0, 0.2], [-0.3, 0.2, 1.0]])
    res = Result(x=x, posterior_covariance=corr * np.outer(std, std)).attach_transform(t)
    draws = res.posterior_sample(20000, seed=4)
    assert abs(np.mean(draws[:, 0] == 1e-5) - 0.5) < 0.02        # half of N(x, sd) clipped
    assert abs(np.std(draws[:, 0][draws[:, 0] > 1e-5]) - 0.6028e-3) < 0.03e-3  # half-normal
    # the others: Gaussian in the transform's space with the linearised sd, correlation kept
    phi = np.array([t.to_phi(d) for d in draws])[:, 1:]
    s_phi = std[1:] / np.abs(t.dtheta_dphi(t.to_phi(x)))[1:]
    np.testing.assert_allclose(phi.std(axis=0) / s_phi, 1.0, atol=0.02)
    assert np.all(np.abs(phi.mean(axis=0) - t.to_phi(x)[1:]) < 0.03 * s_phi)
    assert abs(np.corrcoef(phi.T)[0, 1] - 0.2) < 0.03
    lo, hi = res.posterior_interval(0.9)
    np.testing.assert_allclose([lo[0], hi[0]], [1e-5, x[0] + stats.norm.ppf(0.95) * 1e-3])
