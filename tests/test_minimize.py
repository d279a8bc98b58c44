"""The bounded 1-D minimiser behind the temperature fit returns SciPy's bits (issue 12: it replaces
an import of scipy.optimize that cost every run 0.15–0.25 s)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from evalreport.compute.minimize import minimize_bounded


def _scipy(f, lo, hi, xatol):
    res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": xatol})
    return float(res.x), float(res.fun)


FUNCTIONS = [
    (lambda x: (x - 0.3) ** 2, -5.0, 5.0),
    (lambda x: math.cos(3 * x) + 0.1 * x, -4.0, 4.0),  # several minima: the same one is found
    (lambda x: abs(x - 1.234567), 0.0, 10.0),  # not smooth
    (lambda x: x, -1.0, 1.0),  # the minimum at a bound
    (lambda x: math.exp(x) - 2 * x, -9.21, 6.91),
    (lambda x: 1.0, 0.0, 1.0),  # flat
]


@pytest.mark.parametrize(("f", "lo", "hi"), FUNCTIONS)
@pytest.mark.parametrize("xatol", [1e-5, 1e-7])
def test_the_same_bits_as_scipy(f, lo, hi, xatol):
    assert minimize_bounded(f, lo, hi, xatol=xatol) == _scipy(f, lo, hi, xatol)


@pytest.mark.parametrize("seed", range(20))
def test_the_same_temperature_as_scipy_on_real_losses(seed):
    """The temperature loss as evalreport forms it, over random over- and under-confident models."""
    from scipy.special import log_softmax

    rng = np.random.default_rng(seed)
    n, k = 300, int(rng.integers(2, 12))
    z = rng.normal(0, 2, (n, k)) * rng.uniform(0.05, 20)
    y = rng.integers(k, size=n)
    logq = log_softmax(z, axis=1)

    def mean(beta):
        ls = log_softmax(beta * logq, axis=1)
        return float(np.add.reduce(-np.take_along_axis(ls, y[:, None], axis=1)[:, 0]) / n)

    lo, hi = math.log(1e-4), math.log(1e3)
    assert minimize_bounded(lambda t: mean(math.exp(t)), lo, hi, 1e-7) == _scipy(lambda t: mean(math.exp(t)), lo, hi, 1e-7)
