"""Calibration: top-label and one-vs-rest bins, and temperature scaling fitted on a mergeable row sample."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..load import Batch
from .minimize import minimize_bounded
from .rows import slice_names

#: Top-label calibration: 15 equal-width bins of the top probability over (0, 1];
#: a row with confidence c falls in the bin (lo, hi] that holds it. The edges are
#: the doubles nearest to b/15, so a probability written as an edge (0.2, 0.4, …)
#: falls in the bin below it, as (lo, hi] says.
CAL_BINS = 15
CAL_EDGES = np.array([b / CAL_BINS for b in range(CAL_BINS + 1)])


#: Temperature scaling is fitted on every row up to this many, else on a uniform sample of this size.
TEMPERATURE_SAMPLE = 50_000
#: ... of fewer rows when there are many classes: the sample holds ln Q, rows × classes of it,
#: at most this many cells (so 10,000 classes keep 1,000 rows, 80 MB), but never fewer than MIN_SAMPLE rows.
SAMPLE_CELLS = 1 << 22
MIN_SAMPLE = 1_000
#: With more classes than this, one-vs-rest bins are counted for all columns at once
#: (column by column is faster for a few classes, and a Python loop for thousands).
_OVR_COLUMNWISE = 64


def sample_size(n_classes: int) -> int:
    """Rows of the temperature-scaling sample for a model of ``n_classes`` classes."""
    return min(TEMPERATURE_SAMPLE, max(MIN_SAMPLE, SAMPLE_CELLS // max(n_classes, 1)))


def calibration_bin(c: np.ndarray) -> np.ndarray:
    """Bin index of probabilities c: the bin (lo, hi] holding c; 0 goes to the first bin.

    Arithmetic first (floor(15·c)), then checked against the exact edges where
    15·c is within a hair of a whole number: there rounding may put a value on
    the wrong side of an edge, and a value on an edge belongs to the bin below.
    Fastest on a 1-D array (a column of probabilities).
    """
    t = c * CAL_BINS
    b = t.astype(np.intp)  # floor, for t ≥ 0
    np.minimum(b, CAL_BINS - 1, out=b)
    t -= b  # the fraction (up to 1 for c = 1)
    near = np.nonzero((t < 1e-9) | (t > 1.0 - 1e-9))
    if len(near[0]):
        cn, bn = c[near], b[near]
        bn -= (cn <= CAL_EDGES[bn]) & (bn > 0)
        bn += (cn > CAL_EDGES[bn + 1]) & (bn < CAL_BINS - 1)
        b[near] = bn
    return b


@dataclass
class RowSample:
    """A uniform sample of rows that merges: the rows with the smallest hash of their position.

    Each piece of ``parts`` holds (ln(clip(Q)), target, weight, slices) for some rows: the target
    is the class index (hard labels) or P (soft targets); ``slices`` the rows' values of the
    --group-by columns (text, rows × columns). ``keys`` are the rows' hashes, in the
    pieces' order. Merging appends pieces without copying them until twice ``size`` rows are
    held, then keeps the ``size`` smallest keys; :meth:`compact` gives the sample itself.
    """

    keys: np.ndarray
    parts: tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]
    size: int

    @property
    def logq(self) -> np.ndarray:
        return self._joined(0)

    @property
    def target(self) -> np.ndarray:
        return self._joined(1)

    @property
    def w(self) -> np.ndarray:
        return self._joined(2)

    @property
    def slices(self) -> np.ndarray:
        """Each row's value of each --group-by column (rows × columns, text)."""
        return self._joined(3)

    def _joined(self, i: int) -> np.ndarray:
        return self.parts[0][i] if len(self.parts) == 1 else np.concatenate([part[i] for part in self.parts])

    def __add__(self, other: RowSample) -> RowSample:
        if not len(other.keys):
            return self
        if not len(self.keys):
            return other
        merged = RowSample(np.concatenate([self.keys, other.keys]), self.parts + other.parts, self.size)
        return merged.compact() if len(merged.keys) > 2 * self.size else merged

    def scaled(self, factor: float) -> RowSample:
        """The same rows with their weights × ``factor`` (to merge weighted sums; see Stats)."""
        if factor == 1.0:
            return self
        return RowSample(self.keys, tuple((lq, t, w * factor, s) for lq, t, w, s in self.parts), self.size)

    def bound(self) -> np.uint64 | None:
        """Once ``size`` rows are held: the size-th smallest key. A row with a larger key
        can never enter the sample."""
        if len(self.keys) < self.size:
            return None
        return np.partition(self.keys, self.size - 1)[self.size - 1]

    def compact(self) -> RowSample:
        """The ``size`` rows with the smallest keys, in one piece, in the order of their keys: the
        same sample in the same order however the rows were split and merged (the partitions of a
        cluster, or rows matched by id, arrive in another order than the file's)."""
        keep = np.argsort(self.keys, kind="stable")[: self.size]
        if len(self.parts) <= 1 and np.array_equal(keep, np.arange(len(self.keys))):
            return self
        return RowSample(self.keys[keep], (tuple(self._joined(i)[keep] for i in range(4)),), self.size)


def row_sample(batch: Batch, w: np.ndarray, eps: float, keys: np.ndarray, below: np.uint64 | None = None,
               size: int | None = None) -> RowSample:
    """The batch's rows with the smallest position hashes ``keys`` (:func:`_splitmix64`).

    ``below``: the :meth:`RowSample.bound` of the sample this one will be merged
    into; rows above it are left out early (the merged sample is the same).
    ``size``: the sample's rows (default TEMPERATURE_SAMPLE; see :func:`sample_size`).
    """
    size = TEMPERATURE_SAMPLE if size is None else size
    target = batch.y if batch.p is None else batch.p
    keep = np.flatnonzero(keys < below) if below is not None else np.arange(len(keys))
    if len(keep) > size:
        keep = np.sort(keep[np.argpartition(keys[keep], size - 1)[:size]])
    logq = np.log(np.clip(batch.q[keep], eps, 1.0 - eps))
    slices = np.empty((len(keep), len(batch.groups)), dtype=object)
    for j, values in enumerate(batch.groups.values()):
        slices[:, j] = slice_names(values[keep])  # as SliceSums names them
    return RowSample(keys[keep], ((logq, target[keep], w[keep], slices),), size)


@dataclass(frozen=True)
class TemperatureFit:
    """The temperature T minimising the mean cross-entropy of softmax(ln(clip(Q)) / T) (nats)."""

    temperature: float  # math.inf: the best is to flatten the predictions to uniform
    cross_entropy_before: float
    cross_entropy_after: float
    rows: int  # rows the fit used
    standard_error: float | None  # of cross_entropy_after, when fitted on a sample
    ci95: tuple[float, float] | None = None  # of T, from the run's bootstrap replicates (one Newton step each)
    removed_floor: float = 0.0  # the loss a fit removes from a calibrated model's rows by chance (nats; see below)

    @property
    def within_noise(self) -> bool:
        """Whether scaling would remove nothing measurable: T's interval covers 1, or the loss it
        removes is within what fitting T to a calibrated model's outcomes removes by chance
        (REMOVED_FLOOR_LEVEL of such models remove less) — a model is called over- or
        under-confident only on strong evidence, so that calibrated models are not."""
        if math.isinf(self.temperature):
            return False
        removed = self.cross_entropy_before - self.cross_entropy_after
        covers = self.ci95 is not None and self.ci95[0] <= 1.0 <= self.ci95[1]
        return covers or removed <= self.removed_floor


def _temperature_loss(beta: float, logq: np.ndarray, target: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-row cross-entropy after scaling the log-probabilities by β = 1/T."""
    from scipy.special import log_softmax

    ls = log_softmax(beta * logq, axis=1)
    if target.ndim == 1:
        return -np.take_along_axis(ls, target[:, None], axis=1)[:, 0]
    return -(target * ls).sum(axis=1)


def _temperature_terms(beta: float, logq: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the first and second derivatives in β of the loss after scaling by β: g = E_s[l] −
    Σ P·l and h = Var_s[l] ≥ 0, where l = ln(clip(Q)) and s = softmax(β·l)."""
    from scipy.special import softmax

    s = softmax(beta * logq, axis=1)
    mean = (s * logq).sum(axis=1)
    truth = np.take_along_axis(logq, target[:, None], axis=1)[:, 0] if target.ndim == 1 else (target * logq).sum(axis=1)
    return mean - truth, np.maximum((s * logq * logq).sum(axis=1) - mean * mean, 0.0)


#: The share of calibrated models that remove less loss by fitting T than the floor a model must
#: exceed to be called over- or under-confident, and χ² with one degree of freedom at it.
REMOVED_FLOOR_LEVEL = 0.9999
_CHI2_FLOOR = 15.136705226623606  # scipy.stats.chi2.ppf(0.9999, 1)


def temperature_spread(sample: RowSample, beta: float, counts: np.ndarray | None) -> tuple[tuple | None, float]:
    """T's 95% interval over the bootstrap replicates (``counts``: each sample row's weight in each
    replicate, as every other interval of the run), each replicate's β one Newton step from the
    fit's (the loss is convex in β); and the loss (nats) that fitting T removes from a calibrated
    model's rows by chance, at REMOVED_FLOOR_LEVEL: with outcomes drawn from Q, the slope at β = 1 is
    a sum of independent terms of mean 0 and variance h, so the loss removed is χ²₁·Σw²h / (2·Σwh·Σw)."""
    from .bootstrap import spread

    sample = sample.compact()
    logq, target, w = sample.logq, sample.target, sample.w
    g1, h1 = _temperature_terms(1.0, logq, target)
    wh1 = float((w * h1).sum())
    floor = _CHI2_FLOOR * float((w * w * h1).sum()) / (2.0 * wh1 * float(w.sum())) if wh1 > 0 else 0.0
    if counts is None or len(w) < 2:
        return None, floor
    g, h = _temperature_terms(beta, logq, target)
    c = counts.astype(np.float64) * w[:, None]  # (rows, replicates): each row's weight in each replicate
    with np.errstate(invalid="ignore", divide="ignore"):
        betas = beta - (c.T @ g) / (c.T @ h)  # one Newton step from the fit's β
        temps = np.where(betas > 0, 1.0 / betas, np.nan)
    return spread(temps, 1.0 / beta), floor


def fit_temperature(sample: RowSample, total_rows: int, counts: np.ndarray | None = None) -> TemperatureFit:
    """Fit T on the sample. The loss is convex in β = 1/T, so the optimum is unique;
    it is searched for β in [1e-4, 1e3] and β at the lower end means T → ∞. ``counts``: the
    bootstrap replicates' weights of the sample rows, for T's interval (see temperature_spread)."""
    sample = sample.compact()
    logq, target, w = sample.logq, sample.target, sample.w
    wsum = w.sum()

    def mean(beta: float) -> float:  # numpy's pairwise sum, not BLAS: the same bits on any number of threads
        return float(np.add.reduce(w * _temperature_loss(beta, logq, target, w)) / wsum)

    lo, hi = 1e-4, 1e3
    log_beta, _ = minimize_bounded(lambda t: mean(math.exp(t)), math.log(lo), math.log(hi), xatol=1e-7)
    beta = math.exp(log_beta)
    after = mean(beta)
    temperature = math.inf if beta <= lo * 1.01 else 1.0 / beta
    se = None
    if total_rows > len(w):
        per_row = _temperature_loss(beta, logq, target, w)
        var = np.average((per_row - after) ** 2, weights=w)
        se = float(math.sqrt(var / len(w) * (1 - len(w) / total_rows)))
    ci, floor = temperature_spread(sample, beta, counts) if math.isfinite(temperature) else (None, 0.0)
    return TemperatureFit(temperature, mean(1.0), after, len(w), se, ci, floor)


def one_vs_rest_bins(q: np.ndarray, true_prob: np.ndarray | None, true_class: np.ndarray,
                     p: np.ndarray | None, w: np.ndarray | None) -> np.ndarray:
    """Per class k and calibration bin of Q_k: (weight, Σ w·Q_k, Σ w·P_k), shape (3, K, CAL_BINS).

    Column by column (each a contiguous run of memory in the loader's layout).
    For hard labels P_k is 1 only for the true class, whose bin is that of ``true_prob``.
    """
    n, k = q.shape
    out = np.zeros((3, k, CAL_BINS))
    if k > _OVR_COLUMNWISE:  # all columns in one pass: cell (row, class) → class · CAL_BINS + bin
        qc = np.ascontiguousarray(q)
        cells = (calibration_bin(qc.reshape(-1)).reshape(n, k) + np.arange(k) * CAL_BINS).reshape(-1)
        wf = None if w is None else np.repeat(w, k)

        def binned(x: np.ndarray | None) -> np.ndarray:
            return np.bincount(cells, weights=x, minlength=k * CAL_BINS).reshape(k, CAL_BINS)

        out[0] = binned(wf)
        out[1] = binned(qc.reshape(-1) if wf is None else qc.reshape(-1) * wf)
        if p is not None:
            pf = np.ascontiguousarray(p).reshape(-1)
            out[2] = binned(pf if wf is None else pf * wf)
    for j in range(k if k <= _OVR_COLUMNWISE else 0):
        col = q[:, j]
        bins = calibration_bin(col)
        out[0, j] = np.bincount(bins, weights=w, minlength=CAL_BINS)
        out[1, j] = np.bincount(bins, weights=col if w is None else col * w, minlength=CAL_BINS)
        if p is not None:
            out[2, j] = np.bincount(bins, weights=p[:, j] if w is None else p[:, j] * w, minlength=CAL_BINS)
    if p is None:
        idx = true_class * CAL_BINS + calibration_bin(true_prob)
        out[2] = np.bincount(idx, weights=w, minlength=k * CAL_BINS).reshape(k, CAL_BINS)
    return out
