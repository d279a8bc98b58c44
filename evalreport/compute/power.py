"""What a bootstrap interval can tell: the smallest difference it detects, the Monte Carlo error
of its ends, one-sided p-values and Holm's step-down correction. Pure functions of an interval
(its point, its ends, the replicates it was drawn from), with the normal approximation a
percentile interval of an asymptotically normal figure (a mean, a ratio of sums) rests on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

#: z for a two-sided 95% interval (an end is a one-sided 2.5% test) and for 80% power.
Z_END = NormalDist().inv_cdf(0.975)
Z_POWER = NormalDist().inv_cdf(0.80)
#: The minimum detectable difference is this many standard errors (1.96 + 0.84 = 2.80).
MDD_FACTOR = Z_END + Z_POWER
#: The Monte Carlo standard deviation of a 2.5% percentile of B normal replicates is
#: √(p(1−p)/B) / φ(z_p) standard deviations, that is MC_END_FACTOR / √B of the interval's width.
_P = 0.025
MC_END_FACTOR = math.sqrt(_P * (1 - _P)) / math.exp(-Z_END**2 / 2) * math.sqrt(2 * math.pi) / (2 * Z_END)
#: An end is settled when the threshold lies at least this many of its Monte Carlo errors away.
SETTLED_AT = 2.0
#: The Monte Carlo error an end may have, as a share of its interval's width (what the run's
#: overall intervals are drawn for: :data:`~evalreport.compute.bootstrap.HEADLINE_REPLICATES`).
MC_SHARE = 0.02
#: The family-wise level of Holm's correction: one-sided, as one interval end is (2.5%).
FAMILY_ALPHA = _P


def standard_error(ci: tuple[float, float]) -> float:
    """The standard error a 95% interval stands for: its width over 2 × 1.96."""
    return (ci[1] - ci[0]) / (2 * Z_END)


def minimum_detectable(ci: tuple[float, float] | None) -> float | None:
    """The smallest true difference (from zero, or from a threshold) that an interval of this
    width excludes 80% of the time at the 5% level (two-sided): 2.80 standard errors."""
    return None if ci is None else MDD_FACTOR * standard_error(ci)


def end_error(ci: tuple[float, float], replicates: int) -> float:
    """The Monte Carlo standard deviation of either end of a 95% percentile interval drawn from
    ``replicates`` replicates (normal theory: 0.68 / √B of the width; 4.8% at 200, 2% at 1,168)."""
    return MC_END_FACTOR * (ci[1] - ci[0]) / math.sqrt(replicates)


def replicates_for(share: float = MC_SHARE) -> int:
    """The fewest replicates (a multiple of 4) whose interval ends have a Monte Carlo error of at
    most ``share`` of the width."""
    return 4 * math.ceil((MC_END_FACTOR / share) ** 2 / 4)


def too_close(end: float, threshold: float, ci: tuple[float, float], replicates: int) -> bool:
    """Whether the interval's ``end`` lies within SETTLED_AT Monte Carlo errors of ``threshold``:
    another draw of as many replicates could put it on the other side."""
    return too_close_by(end, threshold, end_error(ci, replicates))


def replicates_to_settle(end: float, threshold: float, ci: tuple[float, float], most: int,
                         scale: float = 1.0) -> int | None:
    """The fewest replicates (a multiple of 4) that put ``end`` SETTLED_AT Monte Carlo errors from
    ``threshold``; None when even ``most`` would not (the end is at the threshold). ``scale``: the
    end's Monte Carlo error as a multiple of that of the 95% interval's ends (see adjusted_end)."""
    gap = abs(end - threshold)
    if gap == 0:
        return None
    need = 4 * math.ceil((SETTLED_AT * scale * MC_END_FACTOR * (ci[1] - ci[0]) / gap) ** 2 / 4)
    return need if need <= most else None


def p_above(value: float, ci: tuple[float, float], threshold: float) -> float:
    """The one-sided p-value of "the true value is at most ``threshold``" against "above it", from
    the interval's lower half: p < 2.5% exactly when the lower end is above the threshold."""
    se = (value - ci[0]) / Z_END
    if not se > 0:
        se = standard_error(ci)
    if not se > 0:
        return 0.0 if value > threshold else 1.0
    return 1.0 - NormalDist().cdf((value - threshold) / se)


def adjusted_end(value: float, ci: tuple[float, float], level: float) -> tuple[float, float]:
    """The lower end of the one-sided interval at ``level`` that :func:`p_above` implies —
    ``p_above(value, ci, t) ≤ level`` exactly when ``t`` lies at or under it — and how many times the
    Monte Carlo error of the 95% interval's lower end its own Monte Carlo error is."""
    se = (value - ci[0]) / Z_END
    if not se > 0:
        se = standard_error(ci)
    z = NormalDist().inv_cdf(1.0 - level)
    return (value - z * se, z / Z_END) if se > 0 else (value, 0.0)


@dataclass(frozen=True)
class HolmStep:
    """One test of a Holm walk: whether it is rejected (the value is above the threshold), and
    whether that is too close to call — its adjusted end (at the level of its step) lies within
    SETTLED_AT of its Monte Carlo errors (``error``) of the threshold."""

    rejected: bool
    too_close: bool = False
    end: float = math.nan
    error: float = 0.0


def holm_walk(tests: list[tuple[float, tuple[float, float]]], threshold: float, replicates: int | None,
              alpha: float = FAMILY_ALPHA) -> list[HolmStep]:
    """Holm's step-down over one-sided tests of "above ``threshold``", each a (value, 95% interval)
    drawn from ``replicates`` bootstrap replicates: the smallest p (:func:`p_above`) against alpha/m,
    the next against alpha/(m−1), … until one is not rejected, with the family-wise error rate at
    most ``alpha``. It fails closed: a test whose step another draw of as many replicates could
    decide the other way counts as rejected (too close to call), and the walk goes on past it, as
    it would had it been rejected. Without ``replicates``, Holm's walk as it is."""
    ps = [p_above(v, ci, threshold) for v, ci in tests]
    m = len(tests)
    out = [HolmStep(False) for _ in tests]
    for rank, i in enumerate(sorted(range(m), key=lambda j: ps[j])):
        level = alpha / (m - rank)
        value, ci = tests[i]
        end, factor = adjusted_end(value, ci, level)
        error = factor * end_error(ci, replicates) if replicates else 0.0
        close = bool(replicates) and too_close_by(end, threshold, error)
        if not (ps[i] <= level or close):
            break
        out[i] = HolmStep(True, close, end, error)
    return out


def too_close_by(end: float, threshold: float, error: float) -> bool:
    """Whether ``end``, of Monte Carlo error ``error``, lies within SETTLED_AT errors of ``threshold``."""
    return abs(end - threshold) < SETTLED_AT * error
