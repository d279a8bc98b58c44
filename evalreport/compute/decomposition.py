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
score. Pure functions of rows: the caller gives the row sample (every row up to its size).
"""

from __future__ import annotations

import math
import numpy as np

from ..result import Decomposition, Parts

#: Classes decomposed one-vs-rest (the most frequent ones), bounding the work at K = 10,000.
MAX_CLASSES = 50
#: Resamples of the row sample behind the standard error of a sampled decomposition.
SE_RESAMPLES = 20
#: Pooling passes before the sequential pool-adjacent-violators finishes what is left.
_VECTOR_PASSES = 200
#: Beyond this many distinct forecasts SciPy's compiled PAV does the fit: its import (0.12 s) costs
#: less than the passes then need; below, the vectorised passes take a few milliseconds.
VECTOR_LIMIT = 5_000


def isotonic(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The weighted least-squares non-decreasing fit of y on x (equal x pooled first, as
    scikit-learn's IsotonicRegression does), at each row.

    Adjacent blocks whose means decrease are always pooled in the solution, so every such pair
    is pooled at once, pass after pass (vectorised); the rare input that needs many passes is
    finished by the sequential algorithm on the blocks left. With more than VECTOR_LIMIT distinct
    forecasts, scipy.optimize.isotonic_regression pools them (the same solution).
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ws = w[order]
    W = np.add.reduceat(ws, starts)
    S = np.add.reduceat(ws * y[order], starts)
    count = np.diff(np.r_[starts, len(xs)])  # rows per block
    fitted_blocks, count = _pool(W, S, count)
    fitted = np.empty(len(x))
    fitted[order] = np.repeat(fitted_blocks, count)
    return fitted


def _pool(W: np.ndarray, S: np.ndarray, count: np.ndarray):
    """Pool-adjacent-violators on blocks (weights W, weighted sums S, rows per block): the fitted
    value of each block as it stands, and the count of rows each covers."""
    if len(W) > VECTOR_LIMIT and (W > 0).all():
        from scipy.optimize import isotonic_regression

        return isotonic_regression(S / W, weights=W).x, count
    for _ in range(_VECTOR_PASSES):
        m = _means(S, W)
        falls = m[:-1] > m[1:]
        if not falls.any():
            break
        first = np.flatnonzero(np.r_[True, ~falls])
        W, S, count = np.add.reduceat(W, first), np.add.reduceat(S, first), np.add.reduceat(count, first)
    else:
        W, S, count = _pool_sequentially(W, S, count)
    return _means(S, W), count


#: Points of the CORP reliability curve and its band, and the resamples behind the band.
CURVE_POINTS, BAND_RESAMPLES = 101, 100


def reliability_curve(x: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int = 0) -> dict:
    """The CORP reliability diagram of forecasts x of outcomes y: the isotonic recalibration at
    CURVE_POINTS forecasts across their range, and a 90% consistency band — where the curve of a
    calibrated forecaster would lie, from BAND_RESAMPLES draws of y ~ Bernoulli(x) (as the paper)."""
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    W = np.add.reduceat(ws, starts)
    count = np.diff(np.r_[starts, len(xs)])
    grid = np.linspace(xs[0], xs[-1], CURVE_POINTS)
    at = np.clip(np.searchsorted(xs[starts], grid, side="right") - 1, 0, len(starts) - 1)  # block of each point

    def curve(ys: np.ndarray) -> np.ndarray:
        fitted, c = _pool(W.copy(), np.add.reduceat(ws * ys, starts), count.copy())
        return np.repeat(fitted, c)[starts][at]  # the fitted value of each distinct forecast, at the grid

    rng = np.random.default_rng(seed)
    draws = np.array([curve((rng.uniform(size=len(xs)) < xs).astype(float)) for _ in range(BAND_RESAMPLES)])
    lo, hi = np.percentile(draws, [5, 95], axis=0)
    return {"x": grid.tolist(), "recalibrated": curve(y[order]).tolist(), "band_low": lo.tolist(),
            "band_high": hi.tolist()}


def _means(S: np.ndarray, W: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(W > 0, S / np.where(W > 0, W, 1.0), 0.0)


def _pool_sequentially(W, S, count):
    """Pool adjacent violators with a stack (the textbook algorithm), on blocks."""
    ws, ss, cs = [], [], []
    for wi, si, ci in zip(W.tolist(), S.tolist(), count.tolist()):
        ws.append(wi), ss.append(si), cs.append(ci)
        while len(ws) > 1 and _mean(ss[-2], ws[-2]) > _mean(ss[-1], ws[-1]):
            wi, si, ci = ws.pop(), ss.pop(), cs.pop()
            ws[-1] += wi
            ss[-1] += si
            cs[-1] += ci
    return np.array(ws), np.array(ss), np.array(cs, dtype=np.int64)


def _mean(s: float, w: float) -> float:
    return s / w if w > 0 else 0.0


def _log_loss(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-row binary log loss (nats), 0·log 0 = 0, as the reference packages take it."""
    from scipy.special import xlogy

    return -xlogy(y, x) - xlogy(1.0 - y, 1.0 - x)


def _squared(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x - y) ** 2


SCORES = {"log_loss": _log_loss, "brier": _squared}


def decompose(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict[str, Parts]:
    """Both scores' decompositions of forecasts ``x`` of 0/1 outcomes ``y`` with weights ``w``
    (rows of weight 0 left out: a recalibrated 0 or 1 may be infinitely wrong for them)."""
    if not (w > 0).all():
        keep = w > 0
        x, y, w = x[keep], y[keep], w[keep]
    wsum = w.sum()
    r = isotonic(x, y, w)
    base = np.full_like(x, float(np.add.reduce(w * y) / wsum))
    out = {}
    for name, score in SCORES.items():
        sx, sr, sm = (float(np.add.reduce(w * score(f, y)) / wsum) for f in (x, r, base))
        out[name] = Parts(sx, sx - sr, sm - sr, sm)
    return out


def with_standard_errors(x, y, w, parts: dict[str, Parts], seed: int = 0) -> dict[str, Parts]:
    """``parts`` with the standard error of each component over SE_RESAMPLES Poisson
    resamples of the rows (for a decomposition computed on a sample of the input)."""
    rng = np.random.default_rng(seed)
    draws = {name: [] for name in parts}
    for _ in range(SE_RESAMPLES):
        wb = w * rng.poisson(1.0, len(w))
        if wb.sum() <= 0:
            continue
        for name, p in decompose(x, y, wb).items():
            draws[name].append((p.miscalibration, p.discrimination, p.uncertainty))
    out = {}
    for name, p in parts.items():
        d = np.array(draws[name])
        se = tuple(float(v) for v in d.std(axis=0, ddof=1)) if len(d) > 1 else None
        out[name] = Parts(p.score, p.miscalibration, p.discrimination, p.uncertainty, se)
    return out


def decomposition(logq: np.ndarray, target: np.ndarray, w: np.ndarray, classes: tuple[str, ...],
                  total_rows: int) -> Decomposition | None:
    """From the row sample (ln clip(Q), the true class index, weights); None without rows."""
    n, k = logq.shape
    if n == 0 or w.sum() <= 0:
        return None
    q = np.exp(logq)
    top = q.argmax(axis=1)
    conf = q[np.arange(n), top]
    correct = (top == target).astype(float)
    sampled = n < total_rows

    def parts(x, y):
        p = decompose(x, y, w)
        return with_standard_errors(x, y, w, p) if sampled else p

    top_label = parts(conf, correct)
    binary = parts(q[:, 1], (target == 1).astype(float)) if k == 2 else None
    curve = reliability_curve(q[:, 1], (target == 1).astype(float), w) if k == 2 else \
        reliability_curve(conf, correct, w)
    frequency = np.bincount(target, weights=w, minlength=k)
    kept = np.sort(np.argsort(-frequency, kind="stable")[:MAX_CLASSES])
    per_class = {classes[j]: decompose(q[:, j], (target == j).astype(float), w) for j in kept}
    return Decomposition("binary" if k == 2 else "top_label", binary, top_label, per_class, n, total_rows,
                         k - len(kept), curve)


def finite(d: Decomposition) -> bool:
    """Every figure a number (a NaN here is a bug, as anywhere)."""
    groups = [d.top_label, *(d.per_class.values()), *([d.binary] if d.binary else [])]
    return all(math.isfinite(v) for g in groups for p in g.values()
               for v in (p.score, p.miscalibration, p.discrimination, p.uncertainty))
