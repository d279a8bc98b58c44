"""Why the loss is what it is: the CORP decomposition of a proper score (Dimitriadis, Gneiting &
Jordan, PNAS 2021), mean S = MCB − DSC + UNC.

For forecasts x of a binary outcome y (a probability and whether it happened), the recalibrated
forecast r is the isotonic (pool-adjacent-violators) regression of y on x — the best
non-decreasing map of x, fitted without a choice of bins. Then

- UNC = S(ȳ, y): the score of always forecasting the base rate (the data's own uncertainty);
- MCB = S(x, y) − S(r, y) ≥ 0: what recalibrating the forecasts would remove (in-sample: optimistic);
- DSC = S(ȳ, y) − S(r, y) ≥ 0: how much the forecasts, once recalibrated, separate the outcomes.

Applied to the binary forecast (P of the positive class), the top label (confidence vs whether
the top class is right) and each class one-vs-rest, for the log loss and the Brier (squared)
score. Pure functions of rows: the caller gives the row sample (every row up to its size), and,
for intervals, each row's weight in each bootstrap replicate.

The isotonic fit is SciPy's compiled pool-adjacent-violators (see :mod:`.pava`; about 30 µs for
2,000 forecasts): the forecasts are sorted once and every replicate refits only
the weights. A pooled block's fitted value is its mean outcome m, so its rows score W·h(m) (log
loss, h the binary entropy) or W·m(1 − m) (Brier): the recalibrated score needs no per-row pass.
"""

from __future__ import annotations

import math

import numpy as np

from ..result import Decomposition, Parts
from .calibration_error import top_label_forecast

#: Classes decomposed one-vs-rest (the most frequent ones), bounding the work at K = 10,000.
MAX_CLASSES = 50
#: Resamples of the row sample behind the standard error of a sampled decomposition when the run
#: has no bootstrap (with one, its replicates serve).
SE_RESAMPLES = 20


def _binary_entropy(m: np.ndarray) -> np.ndarray:
    from scipy.special import xlogy

    return -xlogy(m, m) - xlogy(1.0 - m, 1.0 - m)


def _log_loss(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row binary log loss (nats), 0·log 0 = 0, as the reference packages take it."""
    from scipy.special import xlogy

    return -xlogy(y, x) - xlogy(1.0 - y, 1.0 - x)


def _squared(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x - y) ** 2


#: Each score: per row, and of a pooled block's mean outcome m (per unit of weight).
SCORES = {"log_loss": (_log_loss, _binary_entropy), "brier": (_squared, lambda m: m * (1.0 - m))}


class Forecasts:
    """Forecasts x of 0/1 outcomes y, sorted once (equal forecasts pooled first, as
    scikit-learn's IsotonicRegression does), to be decomposed under any row weights."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.order = np.argsort(x, kind="stable")
        xs = x[self.order]
        self.y = y[self.order]
        self.starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
        self.distinct = len(self.starts) == len(xs)
        self.row_scores = {name: row(xs, self.y) for name, (row, _) in SCORES.items()}
        self.finite = {name: bool(np.isfinite(rows).all()) for name, rows in self.row_scores.items()}

    def _blocks(self, x: np.ndarray) -> np.ndarray:
        return x if self.distinct else np.add.reduceat(x, self.starts)

    def pooled(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The isotonic fit's pooled blocks under sorted row weights ``w``: weight and Σ w·y of each."""
        from .pava import isotonic_blocks

        W, S = self._blocks(w), self._blocks(w * self.y)
        keep = W > 0  # rows of weight 0 take no part (a recalibrated 0 or 1 may be infinitely wrong for them)
        if not keep.all():
            W, S = W[keep], S[keep]
        first = isotonic_blocks(S / W, W)[1][:-1]
        return np.add.reduceat(W, first), np.add.reduceat(S, first)

    def parts(self, w: np.ndarray) -> dict[str, tuple[float, float, float, float]]:
        """(score, MCB, DSC, UNC) of each score under sorted row weights ``w``."""
        Wp, Sp = self.pooled(w)
        total = float(np.add.reduce(Wp))
        mean = Sp / Wp
        base = np.array([float(np.add.reduce(Sp)) / total])
        out = {}
        for name, (_, block) in SCORES.items():
            rows = self.row_scores[name]
            if self.finite[name]:
                sx = float(np.add.reduce(w * rows)) / total
            else:
                keep = w > 0  # 0·inf is no score: a row of weight 0 is not there
                sx = float(np.add.reduce(w[keep] * rows[keep])) / total
            sr = float(np.add.reduce(Wp * block(mean))) / total
            sm = float(block(base)[0])
            out[name] = (sx, sx - sr, sm - sr, sm)
        return out


def decompose(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, Parts]:
    """Both scores' decompositions of forecasts ``x`` of 0/1 outcomes ``y`` with weights ``w``."""
    f = Forecasts(x, y)
    return {name: Parts(*p) for name, p in f.parts(w[f.order]).items()}


def replicate_parts(f: Forecasts, w: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
    """(replicates, 3) arrays of (MCB, DSC, UNC) of each score, a replicate's row weights being
    ``w`` × its column of ``counts`` (rows × replicates, in the rows' original order)."""
    ws, cs = w[f.order], counts[f.order]
    draws = {name: [] for name in SCORES}
    for r in range(cs.shape[1]):
        wr = ws * cs[:, r]
        if not np.add.reduce(wr) > 0:
            continue
        for name, p in f.parts(wr).items():
            draws[name].append(p[1:])
    return {name: np.array(d).reshape(-1, 3) for name, d in draws.items()}


def _with_spread(f: Forecasts, w: np.ndarray, counts: np.ndarray | None, sampled: bool,
                 seed: int = 0) -> dict[str, Parts]:
    """The parts, with — from the bootstrap's ``counts`` — a 95% interval of each part, and, on a
    sample, their standard error (from SE_RESAMPLES resamples when the run has no bootstrap)."""
    point = f.parts(w[f.order])
    if counts is None and sampled:
        counts = np.random.default_rng(seed).poisson(1.0, (len(w), SE_RESAMPLES))
        interval = False
    else:
        interval = counts is not None
    from .bootstrap import MIN_BLOCKS, spread

    draws = replicate_parts(f, w, counts) if counts is not None else {}
    rows = int(np.count_nonzero(w > 0))  # fewer than MIN_BLOCKS: every replicate the same, no spread
    out = {}
    for name, p in point.items():
        d = draws.get(name)
        enough = d is not None and len(d) > 1 and rows >= MIN_BLOCKS
        se = tuple(float(v) for v in d.std(axis=0, ddof=1)) if enough and sampled else None
        ci = tuple(spread(d[:, i], p[1 + i]) for i in range(3)) if enough and interval else None
        out[name] = Parts(*p, se=se, ci95=ci if ci and None not in ci else None)
    return out


#: Points of the CORP reliability curve and its band, and the resamples behind the band.
CURVE_POINTS, BAND_RESAMPLES = 101, 100


def reliability_curve(x: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int = 0) -> dict:
    """The CORP reliability diagram of forecasts x of outcomes y: the isotonic recalibration at
    CURVE_POINTS forecasts across their range, and a 90% consistency band — where the curve of a
    calibrated forecaster would lie, from BAND_RESAMPLES draws of y ~ Bernoulli(x) (as the paper)."""
    from .pava import isotonic_blocks

    order = np.argsort(x, kind="stable")
    xo = x[order]
    keep = w[order] > 0
    xs, ws = xo[keep], w[order][keep]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])  # blocks of equal forecasts
    W = np.add.reduceat(ws, starts)
    grid = np.linspace(xs[0], xs[-1], CURVE_POINTS)
    at = np.clip(np.searchsorted(xs[starts], grid, side="right") - 1, 0, len(starts) - 1)  # block of each point

    def curve(ys: np.ndarray) -> np.ndarray:
        return isotonic_blocks(np.add.reduceat(ws * ys[keep], starts) / W, W)[0][at]

    rng = np.random.default_rng(seed)
    draws = np.array([curve((rng.uniform(size=len(xo)) < xo).astype(float)) for _ in range(BAND_RESAMPLES)])
    lo, hi = np.percentile(draws, [5, 95], axis=0)
    return {"x": grid.tolist(), "recalibrated": curve(y[order]).tolist(), "band_low": lo.tolist(),
            "band_high": hi.tolist()}


def decomposition(logq: np.ndarray, target: np.ndarray, w: np.ndarray, classes: tuple[str, ...],
                  total_rows: int, counts: np.ndarray | None = None) -> Decomposition | None:
    """From the row sample (ln clip(Q), the true class index, weights); None without rows.
    ``counts``: each row's weight in each bootstrap replicate (rows × replicates), for the
    intervals of the main decompositions (binary, top label)."""
    n, k = logq.shape
    if n == 0 or w.sum() <= 0:
        return None
    q = np.exp(logq)
    sampled = n < total_rows
    top_label = _with_spread(Forecasts(*top_label_forecast(q, target)), w, counts, sampled)
    binary = _with_spread(Forecasts(*main_forecast(q, target)), w, counts, sampled) if k == 2 else None
    curve = reliability_curve(*main_forecast(q, target), w)
    frequency = np.bincount(target, weights=w, minlength=k)
    kept = np.sort(np.argsort(-frequency, kind="stable")[:MAX_CLASSES])
    per_class = {classes[j]: decompose(q[:, j], (target == j).astype(float), w) for j in kept}
    return Decomposition("binary" if k == 2 else "top_label", binary, top_label, per_class, n, total_rows,
                         k - len(kept), curve)


def main_forecast(q: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The forecast a report leads with, and its outcomes: P(classes[1]) of a binary model,
    else the top label's probability (whether the top class is right)."""
    return (q[:, 1], (target == 1).astype(float)) if q.shape[1] == 2 else top_label_forecast(q, target)


def miscalibration_shares(x: np.ndarray, y: np.ndarray, w: np.ndarray, group: np.ndarray,
                          fewest: int) -> dict[int, float]:
    """Per group (an integer code per row; -1 a group too): the share of its log loss that is
    miscalibration (MCB / score), for the groups of at least ``fewest`` rows of positive weight."""
    codes, rows = np.unique(group, return_counts=True)
    order = np.argsort(group, kind="stable")
    starts = np.r_[0, np.cumsum(rows)]
    out = {}
    for i in np.flatnonzero(rows >= fewest):  # at most len(x) / fewest groups
        at = order[starts[i]: starts[i + 1]]
        if w[at].sum() <= 0:
            continue
        p = decompose(x[at], y[at], w[at])["log_loss"]
        out[int(codes[i])] = p.miscalibration / p.score if p.score > 0 else 0.0
    return out


def finite(d: Decomposition) -> bool:
    """Every figure a number, intervals and standard errors included (a NaN here is a bug)."""
    groups = [d.top_label, *(d.per_class.values()), *([d.binary] if d.binary else [])]
    return all(math.isfinite(v) for g in groups for p in g.values()
               for v in (p.score, p.miscalibration, p.discrimination, p.uncertainty, *(p.se or ()),
                         *(x for ci in (p.ci95 or ()) for x in ci)))
