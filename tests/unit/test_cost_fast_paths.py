"""The fast paths of `Problem.cost` give the numbers of the general paths, bit for bit.

Each fast path (a diagonal Gaussian prior whitened by division, the bounds check, equal
observation std as a scalar factor, `Identity` returning a float vector as is, the
finite-output check) is compared with the computation it replaces, written out here as the
code did before: equality is exact (``==``, `numpy.testing.assert_array_equal`), never a
tolerance.
"""
import copy

import numpy as np
import pytest

import pdaframe
import pdaframe.plugin
from pdaframe.observations.streams import ErrorCovariance
from pdaframe.prior.priors import solve_lower

from tests.models import TRUTH, Decay, decay_problem

RNG = np.random.default_rng(13)


def wide(n, size=None):
    """Values over many decades, both signs."""
    shape = (n,) if size is None else (size, n)
    return RNG.normal(size=shape) * np.exp(RNG.normal(0.0, 8.0, shape))


def general(prior):
    """The same prior on the general (triangular-solve) path."""
    g = copy.deepcopy(prior)
    g._sd = None
    return g


def old_inside(prior, theta):
    theta = np.asarray(theta)
    return bool(((theta >= prior.lower) & (theta <= prior.upper)).all())


# --- the prior ------------------------------------------------------------------------------
def test_diagonal_prior_takes_the_fast_path_a_full_one_does_not():
    sd = np.exp(RNG.normal(0.0, 3.0, 23))
    assert pdaframe.GaussianPrior(np.zeros(23), std=sd)._sd is not None
    assert pdaframe.GaussianPrior(np.zeros(23), covariance=np.diag(sd ** 2))._sd is not None
    cov = np.diag(sd ** 2)
    cov[3, 5] = cov[5, 3] = 0.1 * sd[3] * sd[5]
    assert pdaframe.GaussianPrior(np.zeros(23), covariance=cov)._sd is None


@pytest.mark.parametrize("n", [1, 2, 23, 64, 300])
def test_diagonal_prior_matches_the_triangular_solve_bit_for_bit(n):
    sd = np.exp(RNG.normal(0.0, 8.0, n))
    mean = wide(n)
    by_std = pdaframe.GaussianPrior(mean, std=sd)
    by_matrix = pdaframe.GaussianPrior(mean, covariance=np.diag(sd ** 2))
    for prior in (by_std, by_matrix):
        slow = general(prior)
        for theta in wide(n, 200):
            z = solve_lower(prior._chol, theta - mean)          # the code before
            np.testing.assert_array_equal(prior.whiten(theta), z)
            np.testing.assert_array_equal(prior.whiten(theta), slow.whiten(theta))
            assert prior.cost(theta) == 0.5 * float(z @ z) == slow.cost(theta)
            np.testing.assert_array_equal(prior.gradient(theta),
                                          solve_lower(prior._chol, z, transpose=True))
    # the std form and the matrix form agree too
    for theta in wide(n, 50):
        assert by_std.cost(theta) == by_matrix.cost(theta)


def test_division_is_not_the_multiplication_by_the_inverse():
    """What the check above guards: multiplying by 1/sd changes last bits (this test shows
    the bitwise comparison can fail), division does not."""
    sd = np.exp(RNG.normal(0.0, 8.0, 500))
    d = wide(500)
    z = solve_lower(np.diag(sd), d)
    assert np.array_equal(z, d / sd)
    assert not np.array_equal(z, d * (1.0 / sd))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("theta", [[np.inf, 1.0, 2.0], [1.0, -np.inf, 2.0],
                                   [1e300, 1.0, -1e300]])
def test_non_finite_whitening_falls_back_to_the_solve(theta):
    """An infinite theta (or an overflow) spreads NaNs through the solve: the same values."""
    prior = pdaframe.GaussianPrior([0.0, 0.0, 0.0], std=[1e-10, 1.0, 1e-10])
    z = solve_lower(prior._chol, np.asarray(theta) - prior.mean)
    assert not np.isfinite(z).all()
    np.testing.assert_array_equal(prior.whiten(theta), z)
    np.testing.assert_array_equal(prior.gradient(theta),
                                  solve_lower(prior._chol, z, transpose=True))
    c = prior.cost(theta)
    assert c == 0.5 * float(z @ z) or (np.isnan(c) and np.isnan(z @ z))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_gradient_overflow_falls_back_to_the_solve():
    prior = pdaframe.GaussianPrior([0.0, 0.0], std=[1e-160, 1.0])
    theta = [1e-10, 1.0]                  # z and z @ z finite (1e150, 1e300), z / sd not
    z = solve_lower(prior._chol, np.asarray(theta))
    g = solve_lower(prior._chol, z, transpose=True)
    assert np.isfinite(z).all() and not np.isfinite(g).all()
    np.testing.assert_array_equal(prior.gradient(theta), g)


def test_inside_as_before():
    prior = pdaframe.GaussianPrior(np.full(4, 0.5), std=np.ones(4), lower=[-1, -np.inf, 0, -2],
                                   upper=[1, 3, np.inf, 2])
    cases = [np.zeros(4), [1.0, 3.0, 0.0, -2.0], [1.0000001, 0, 0, 0], [0, 0, -1e-300, 0],
             [np.nan, 0, 0, 0], [0, -np.inf, 0, 0], [0, 0, np.inf, 0], [0, np.inf, 0, 0],
             [-0.0, 0.0, -0.0, 0.0], np.zeros((3, 4)), np.array([[0, 0, 0, 0], [0, 9, 0, 0]])]
    cases += list(RNG.uniform(-3, 4, (200, 4)))
    results = [prior.inside(c) for c in cases]
    assert results == [old_inside(prior, c) for c in cases]
    assert all(type(r) is bool for r in results)
    assert results[:11] == [True, True, False, False, False, True, True, False, True, True,
                            False]


# --- observation errors ---------------------------------------------------------------------
@pytest.mark.parametrize("std", [np.full(3653, 0.71), np.exp(RNG.normal(0, 2, 3653))])
def test_error_whiten_and_solve_as_before(std):
    err = ErrorCovariance(std=std)
    assert (err._scalars is not None) == bool((std == std[0]).all())
    inv = 1.0 / std
    for r in (wide(std.size), wide(std.size).astype(np.float32)):
        w, s = err.whiten(r), err.solve(r)
        np.testing.assert_array_equal(w, r * inv)
        np.testing.assert_array_equal(s, r * inv ** 2)
        assert w.dtype == (r * inv).dtype and s.dtype == (r * inv ** 2).dtype
    m = wide(4, std.size)                                      # 4 columns
    np.testing.assert_array_equal(err.whiten(m), m * inv[:, None])
    np.testing.assert_array_equal(err.solve(m), m * inv[:, None] ** 2)
    with pytest.raises(ValueError):                            # numpy's, as before
        err.whiten(np.ones(std.size - 1))
    with pytest.raises(ValueError):
        err.solve(np.ones(std.size + 1))


def test_stream_residual_and_on_all():
    values = wide(50)
    values[[3, 7]] = np.nan
    full = pdaframe.DataStream("a", "a", values[~np.isnan(values)], std=0.3)
    gappy = pdaframe.DataStream("b", "b", values, std=0.3)
    eq = wide(50)
    np.testing.assert_array_equal(full.residual(eq[:48]), eq[:48] - values[~np.isnan(values)])
    np.testing.assert_array_equal(gappy.residual(eq), eq[gappy.mask] - values[gappy.mask])
    v = wide(48)
    assert full.on_all(v) is v
    expected = np.zeros(50)
    expected[gappy.mask] = v
    np.testing.assert_array_equal(gappy.on_all(v), expected)


# --- operators ------------------------------------------------------------------------------
def test_identity_returns_flat_floats_as_before():
    op = pdaframe.plugin.Identity("x")
    x = wide(10)
    assert op.apply({"x": x}) is x
    for other in (np.arange(6).reshape(3, 2), [1, 2, 3], np.ones(4, dtype=np.float32),
                  np.ones((2, 3))[:, 1]):
        got = op.apply({"x": other})
        expected = np.asarray(other, dtype=float).reshape(-1)
        np.testing.assert_array_equal(got, expected)
        assert got.dtype == np.float64 and got.ndim == 1


def test_select_beyond_the_steps_as_before():
    op = pdaframe.plugin.Select("x", [0, 4, 2])
    np.testing.assert_array_equal(op.apply({"x": np.arange(5.0)}), [0.0, 4.0, 2.0])
    with pytest.raises(pdaframe.ConfigError, match=r"time index 4 beyond the model's 4 steps"):
        op.apply({"x": np.arange(4.0)})
    assert pdaframe.plugin.Select("x", []).apply({"x": np.arange(4.0)}).size == 0


# --- the problem ----------------------------------------------------------------------------
def old_cost(problem, theta):
    """`Problem.cost` as computed before the fast paths."""
    theta = np.asarray(theta, dtype=float)
    if not old_inside(problem.prior, theta):
        return np.inf
    z = solve_lower(problem.prior._chol, theta - problem.prior.mean)
    terms = {"prior": 0.5 * float(z @ z)}
    outputs = problem.model.run(theta[:problem.n_model].copy())
    for s in problem.streams:
        eq = np.asarray(s.operator.apply(outputs), dtype=float).reshape(-1)
        r = eq[s.mask] - s.values[s.mask]
        z = r * (1.0 / s.error.std)
        terms[s.name] = 0.5 * s.weight * float(z @ z)
    return float(sum(terms.values()))


def diagonal_problem():
    """`Decay` with a diagonal bounded prior, gaps and unequal std in one stream."""
    model = Decay(40)
    out = model.run(TRUTH)
    y = out["y"] + 0.1 * RNG.standard_normal(40)
    y[[5, 17]] = np.nan
    prior = pdaframe.GaussianPrior([0.1, 3.0, 0.5], std=[0.1, 1.0, 0.5],
                                   lower=[0.0, 0.0, -5.0], upper=[1.0, 20.0, 5.0])
    return pdaframe.Problem(model, prior, [
        pdaframe.DataStream("y", "y", y, std=np.linspace(0.05, 0.2, 40)),
        pdaframe.DataStream("z", "z", out["z"].reshape(-1) + 0.05, std=0.2, weight=0.5,
                            operator=pdaframe.plugin.Identity("z"))])


@pytest.mark.parametrize("make", [decay_problem, diagonal_problem])
def test_cost_is_the_cost_before_bit_for_bit(make):
    problem = make()
    assert (problem.prior._sd is not None) == (make is diagonal_problem)
    for theta in TRUTH + RNG.normal(0.0, 0.05, (100, 3)):
        assert problem.cost(theta) == old_cost(problem, theta)
        assert problem.cost(theta) == float(sum(problem.cost_terms(theta).values()))
    slow = copy.copy(problem)
    slow.prior = general(problem.prior)
    for theta in TRUTH + RNG.normal(0.0, 0.05, (20, 3)):
        assert problem.cost(theta) == slow.cost(theta)
        np.testing.assert_array_equal(problem.gradient(theta), slow.gradient(theta))


def test_outside_the_bounds_is_inf_without_a_run():
    problem = diagonal_problem()
    problem.cost(TRUTH)
    runs = problem.nrun
    for theta in ([-0.1, 4.0, 0.8], [0.15, 4.0, 5.5], [np.nan, 4.0, 0.8], [0.15, np.inf, 0.8]):
        assert problem.cost(theta) == np.inf
    assert problem.nrun == runs
    assert problem.cost([0.0, 20.0, -5.0]) < np.inf        # on the bounds is inside


def test_non_finite_output_names_output_index_and_the_models_theta():
    class Mutating(Decay):
        """Gives NaN from step 7 on and scribbles on the theta it was given."""

        def run(self, theta):
            out = super().run(theta)
            out["y"][7:] = np.nan
            theta[:] = -1.0
            return out

    problem = decay_problem()             # (its data from a Decay run at TRUTH, left intact)
    problem.model = Mutating()
    theta = np.array([0.15, 4.0, 0.8])
    with pytest.raises(pdaframe.ModelError, match="'y' is not finite at time index 7") as info:
        problem.cost(theta)
    np.testing.assert_array_equal(info.value.theta, [0.15, 4.0, 0.8])
    np.testing.assert_array_equal(theta, [0.15, 4.0, 0.8])   # the caller's array untouched
    np.testing.assert_array_equal(TRUTH, [0.15, 4.0, 0.8])
