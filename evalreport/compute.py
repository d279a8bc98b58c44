"""Compute: pure functions from validated arrays to additive statistics.

No I/O here. Every figure evalreport reports is a ratio of sums over rows, so a
batch of rows reduces to a :class:`Stats` of sums and counts (overall, per
class, per slice value, per histogram bin) and two ``Stats`` add up with ``+``.
A chunk of a file, a partition on a cluster and a whole DataFrame therefore
give the same figures; the means are derived only at the end.

All sums are in nats (natural log). ``*_loss`` figures are lower-is-better.

Definitions, per row *i* with target distribution P_i (one-hot for a hard
label) and prediction Q_i clipped to [eps, 1 − eps] as
``sklearn.metrics.log_loss`` does:

- cross-entropy  CE_i = −Σ_k P_ik ln Q_ik
- entropy        H_i  = −Σ_k P_ik ln P_ik  (0 ln 0 = 0)
- KL divergence  KL_i = Σ_k P_ik ln(P_ik / Q_ik) = CE_i − H_i
"""

from __future__ import annotations

import math
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import entr, log_softmax, rel_entr, xlogy

from .load import Batch, id_text

#: Fixed (data-independent) bin edges for the per-row loss histogram, in nats,
#: so that histograms of different chunks add up bin by bin.
#: 120 log-spaced bins from 1e-4 to 50 nats (each spans a factor 1.12), one
#: below and one above.
HIST_EDGES = np.concatenate([[0.0], np.logspace(-4, np.log10(50.0), 121), [np.inf]])
#: How many of the highest-loss rows are kept.
WORST_ROWS = 20
#: Per slice value: the sums kept, in this order.
GROUP_FIELDS = ("rows", "weight", "ce", "h", "kl", "correct", "brier")


#: Top-label calibration: 15 equal-width bins of the top probability over (0, 1];
#: a row with confidence c falls in the bin (lo, hi] that holds it. The edges are
#: the doubles nearest to b/15, so a probability written as an edge (0.2, 0.4, …)
#: falls in the bin below it, as (lo, hi] says.
CAL_BINS = 15
CAL_EDGES = np.array([b / CAL_BINS for b in range(CAL_BINS + 1)])
#: "Confidently wrong": the true class was given less than these probabilities.
CONFIDENTLY_WRONG = (0.01, 0.1)
#: Temperature scaling is fitted on every row up to this many, else on a uniform sample of this size.
TEMPERATURE_SAMPLE = 50_000

#: Default number of bootstrap replicates (a multiple of 4, see poisson_weights).
BOOTSTRAP_REPLICATES = 200
BOOTSTRAP_SEED = 0
#: A raw 64-bit draw r gives the Poisson(1) count #{j : r > T_j}, T_j = 2⁶⁴·P(X ≤ j).
#: Counts above 12 (probability 1e-10) are cut to 12.
_POISSON_THRESHOLDS = np.array(
    [min(int(math.exp(-1) * sum(1 / math.factorial(i) for i in range(j + 1)) * 2.0**64), 2**64 - 1) for j in range(12)],
    dtype=np.uint64,
)


@dataclass(frozen=True)
class Bootstrap:
    """Poisson bootstrap settings: ``replicates`` weights per row, from ``seed``."""

    replicates: int = BOOTSTRAP_REPLICATES
    seed: int = BOOTSTRAP_SEED

    def __post_init__(self) -> None:
        if self.replicates < 4 or self.replicates % 4:
            raise ValueError("bootstrap replicates must be a positive multiple of 4")


def poisson_weights(row0: int, n: int, boot: Bootstrap) -> np.ndarray:
    """Replicate weights of rows ``row0 … row0+n−1``: an (n, B) array of Poisson(1) counts.

    Drawn from a counter-based generator (Philox) keyed on the seed and advanced
    to ``row0``, so a row's weights depend only on its position in the input —
    not on how the input was cut into chunks. Two inputs whose rows are aligned
    get the same weights, which makes differences between them a paired bootstrap.
    """
    bits = np.random.Philox(key=boot.seed)
    bits.advance(row0 * boot.replicates // 4)  # Philox-4x64 gives 4 draws per counter step
    raw = bits.random_raw(n * boot.replicates).reshape(n, boot.replicates)
    counts = np.zeros(raw.shape, dtype=np.uint8)
    for t in _POISSON_THRESHOLDS:
        counts += raw > t
    return counts


#: Rows are grouped into this many bootstrap blocks (a power of 2); inputs of up to this many rows get one block a row.
BOOT_BLOCKS = 2048


def boot_block(positions: np.ndarray, keys: np.ndarray | None = None) -> np.ndarray:
    """The bootstrap block of each row position: the row itself for the first BOOT_BLOCKS rows,
    a hash of the position beyond (so blocks are random sets of rows, whatever the file's order).
    ``keys``: the positions' hashes (:func:`_splitmix64`), when the caller has them."""
    keys = _splitmix64(positions) if keys is None else keys
    blocks = (keys & np.uint64(BOOT_BLOCKS - 1)).astype(np.intp)  # = keys mod BOOT_BLOCKS, a power of 2
    early = positions < BOOT_BLOCKS
    if early.any():
        blocks[early] = positions[early].astype(np.intp)
    return blocks


@dataclass
class BootSums:
    """Sums per bootstrap block (row weights × figures); add with ``+``.

    ``score`` is the band score (CE for hard labels, KL for soft targets);
    ``groups[col][value]`` holds [weight, score] per block. :meth:`replicates`
    turns them into per-replicate sums: every row of a block gets the block's
    Poisson(1) weight in a replicate.
    """

    w: np.ndarray
    score: np.ndarray
    correct: np.ndarray
    class_w: np.ndarray
    class_score: np.ndarray
    groups: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def __add__(self, other: BootSums) -> BootSums:
        return BootSums(
            self.w + other.w,
            self.score + other.score,
            self.correct + other.correct,
            self.class_w + other.class_w,
            self.class_score + other.class_score,
            _merge_groups(self.groups, other.groups),
        )

    def replicates(self, boot: Bootstrap) -> BootSums:
        """The same sums per replicate: (…, BOOT_BLOCKS) @ (BOOT_BLOCKS, B)."""
        v = poisson_weights(0, BOOT_BLOCKS, boot).astype(np.float64)
        return BootSums(
            self.w @ v,
            self.score @ v,
            self.correct @ v,
            self.class_w @ v,
            self.class_score @ v,
            {col: {value: sums @ v for value, sums in values.items()} for col, values in self.groups.items()},
        )


def _merge_groups(a: dict, b: dict) -> dict:
    out = {g: dict(v) for g, v in a.items()}
    for g, values in b.items():
        mine = out.setdefault(g, {})
        for value, sums in values.items():
            mine[value] = mine[value] + sums if value in mine else sums.copy()
    return out


def _by_block(index: np.ndarray, size: int, weights: np.ndarray) -> np.ndarray:
    return np.bincount(index, weights=weights, minlength=size * BOOT_BLOCKS).reshape(size, BOOT_BLOCKS)


def bootstrap_sums(batch: Batch, f: RowFigures, w: np.ndarray, correct: np.ndarray, k: int, eps: float,
                   keys: np.ndarray) -> BootSums:
    """Per-block sums of one batch: a few bincounts, whatever the number of replicates.
    ``keys``: the hashes of the batch's row positions (:func:`_splitmix64`)."""
    m = BOOT_BLOCKS
    score = f.kl if batch.p is not None else f.ce
    block = boot_block(_positions(batch), keys)
    ws = w * score
    if batch.p is None:
        idx = f.true_class * m + block
        class_w, class_score = _by_block(idx, k, w), _by_block(idx, k, ws)
    else:
        class_kl = rel_entr(batch.p, np.clip(batch.q, eps, 1.0 - eps))
        class_w = np.stack([np.bincount(block, weights=w * batch.p[:, j], minlength=m) for j in range(k)])
        class_score = np.stack([np.bincount(block, weights=w * class_kl[:, j], minlength=m) for j in range(k)])
    groups = {}
    for col, values in batch.groups.items():
        codes, uniques = pd.factorize(values)
        idx = codes * m + block
        gw, gs = _by_block(idx, len(uniques), w), _by_block(idx, len(uniques), ws)
        groups[col] = {str(v): np.stack([gw[j], gs[j]]) for j, v in enumerate(uniques)}
    return BootSums(
        np.bincount(block, weights=w, minlength=m),
        np.bincount(block, weights=ws, minlength=m),
        np.bincount(block, weights=w * correct, minlength=m),
        class_w,
        class_score,
        groups,
    )


def percentile_interval(num: np.ndarray, den: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of the replicate ratios num/den (replicates with den = 0 are left out)."""
    ok = den > 0
    if ok.sum() < 2:
        return None
    ratios = num[..., ok] / den[..., ok]
    lo, hi = np.percentile(ratios, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


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


#: The loss histogram's inner edges are 10**(-4 + i·STEP): a bin index can be computed, then checked.
_HIST_LOG_LO, _HIST_STEP = -4.0, (math.log10(50.0) + 4.0) / 120


def hist_bin(ce: np.ndarray) -> np.ndarray:
    """Index of each value in HIST_EDGES' bins [e_i, e_i+1): computed from log10, then corrected."""
    i = np.floor((np.log10(np.maximum(ce, 1e-300)) - _HIST_LOG_LO) / _HIST_STEP).astype(np.intp) + 1
    last = len(HIST_EDGES) - 2
    np.clip(i, 0, last, out=i)
    i -= (ce < HIST_EDGES[i]) & (i > 0)
    i += (ce >= HIST_EDGES[i + 1]) & (i < last)
    return i


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A 64-bit mixing hash (SplitMix64's finaliser), vectorised."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@dataclass
class RowSample:
    """A uniform sample of rows that merges: the rows with the smallest hash of their position.

    ``logq`` holds ln(clip(Q)); ``target`` the class index (hard labels) or P (soft targets).
    Merging only appends until twice ``size`` rows are held, then keeps the ``size``
    smallest keys; :meth:`compact` gives the sample itself.
    """

    keys: np.ndarray
    logq: np.ndarray
    target: np.ndarray
    w: np.ndarray
    size: int

    def __add__(self, other: RowSample) -> RowSample:
        merged = RowSample(
            np.concatenate([self.keys, other.keys]),
            np.concatenate([self.logq, other.logq]),
            np.concatenate([self.target, other.target]),
            np.concatenate([self.w, other.w]),
            self.size,
        )
        return merged.compact() if len(merged.keys) > 2 * self.size else merged

    def bound(self) -> np.uint64 | None:
        """Once ``size`` rows are held: the size-th smallest key. A row with a larger key
        can never enter the sample."""
        if len(self.keys) < self.size:
            return None
        return np.partition(self.keys, self.size - 1)[self.size - 1]

    def compact(self) -> RowSample:
        """The ``size`` rows with the smallest keys, in the order they were merged."""
        if len(self.keys) <= self.size:
            return self
        keep = np.sort(np.argpartition(self.keys, self.size - 1)[: self.size])
        return RowSample(self.keys[keep], self.logq[keep], self.target[keep], self.w[keep], self.size)


def _positions(batch: Batch) -> np.ndarray:
    """The batch's row positions in the whole input (0-based)."""
    return np.arange(batch.row0, batch.row0 + len(batch), dtype=np.uint64)


def row_sample(batch: Batch, w: np.ndarray, eps: float, keys: np.ndarray, below: np.uint64 | None = None) -> RowSample:
    """The batch's rows with the smallest position hashes ``keys`` (:func:`_splitmix64`).

    ``below``: the :meth:`RowSample.bound` of the sample this one will be merged
    into; rows above it are left out early (the merged sample is the same).
    """
    size = TEMPERATURE_SAMPLE
    target = batch.y if batch.p is None else batch.p
    keep = np.flatnonzero(keys < below) if below is not None else np.arange(len(keys))
    if len(keep) > size:
        keep = np.sort(keep[np.argpartition(keys[keep], size - 1)[:size]])
    logq = np.log(np.clip(batch.q[keep], eps, 1.0 - eps))
    return RowSample(keys[keep], logq, target[keep], w[keep], size)


@dataclass(frozen=True)
class TemperatureFit:
    """The temperature T minimising the mean cross-entropy of softmax(ln(clip(Q)) / T) (nats)."""

    temperature: float  # math.inf: the best is to flatten the predictions to uniform
    cross_entropy_before: float
    cross_entropy_after: float
    rows: int  # rows the fit used
    standard_error: float | None  # of cross_entropy_after, when fitted on a sample


def _temperature_loss(beta: float, logq: np.ndarray, target: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Per-row cross-entropy after scaling the log-probabilities by β = 1/T."""
    ls = log_softmax(beta * logq, axis=1)
    if target.ndim == 1:
        return -np.take_along_axis(ls, target[:, None], axis=1)[:, 0]
    return -(target * ls).sum(axis=1)


def fit_temperature(sample: RowSample, total_rows: int) -> TemperatureFit:
    """Fit T on the sample. The loss is convex in β = 1/T, so the optimum is unique;
    it is searched for β in [1e-4, 1e3] and β at the lower end means T → ∞."""
    sample = sample.compact()
    logq, target, w = sample.logq, sample.target, sample.w
    wsum = w.sum()

    def mean(beta: float) -> float:
        return float(w @ _temperature_loss(beta, logq, target, w) / wsum)

    from scipy.optimize import minimize_scalar  # imported here: it costs a third of a second

    lo, hi = 1e-4, 1e3
    res = minimize_scalar(lambda t: mean(math.exp(t)), bounds=(math.log(lo), math.log(hi)), method="bounded",
                          options={"xatol": 1e-7})
    beta = math.exp(res.x)
    after = mean(beta)
    temperature = math.inf if beta <= lo * 1.01 else 1.0 / beta
    se = None
    if total_rows > len(w):
        per_row = _temperature_loss(beta, logq, target, w)
        var = np.average((per_row - after) ** 2, weights=w)
        se = float(math.sqrt(var / len(w) * (1 - len(w) / total_rows)))
    return TemperatureFit(temperature, mean(1.0), after, len(w), se)


@dataclass(frozen=True)
class RowFigures:
    """Per-row figures of one batch (nats)."""

    ce: np.ndarray
    h: np.ndarray
    kl: np.ndarray
    true_class: np.ndarray  # the label, or the argmax of the target distribution
    pred_class: np.ndarray  # argmax of Q
    true_prob: np.ndarray  # Q given to the true class (unclipped)
    pred_prob: np.ndarray  # Q given to the predicted class (the top probability)
    brier: np.ndarray  # Σ_k (Q_ik − P_ik)², halved for two classes as scikit-learn does
    pred_entropy: np.ndarray  # −Σ_k Q_ik ln Q_ik
    clipped: np.ndarray  # a class with target mass got a probability below eps


def _pick(m: np.ndarray, j: np.ndarray) -> np.ndarray:
    """m[i, j[i]] for each row i (a gather on the flat array, in its own memory order)."""
    n = len(j)
    if m.flags.f_contiguous:
        return m.ravel(order="F")[j * n + np.arange(n)]
    return m[np.arange(n), j]


def _top(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the index of the largest probability (the first, on ties, as argmax) and its value.
    A max across columns, then one comparison per column: cheaper than argmax along rows."""
    n, k = q.shape
    top = q.max(axis=1) if k else np.zeros(n)
    pred = np.full(n, k - 1, dtype=np.intp)
    for j in range(k - 2, -1, -1):  # right to left, so the first maximal column wins
        np.copyto(pred, j, where=q[:, j] == top)
    return pred, top


def _row_entropy(q: np.ndarray) -> np.ndarray:
    """−Σ_k Q_k ln Q_k per row (0 ln 0 = 0): as scipy's entr, without its per-element branches."""
    lq = np.maximum(q, np.finfo(np.float64).tiny)  # ln of the smallest normal, times 0, is 0
    np.log(lq, out=lq)
    lq *= q
    return -lq.sum(axis=1)


def row_figures(q: np.ndarray, y: np.ndarray | None = None, p: np.ndarray | None = None, *, eps: float) -> RowFigures:
    """Cross-entropy, entropy, KL divergence and friends for each row.

    Parameters
    ----------
    q : (n, K) predicted distributions.
    y : (n,) true class indices (hard labels), or
    p : (n, K) target distributions (soft targets).
    eps : probabilities are clipped to [eps, 1 − eps] before the log.
    """
    n, k = q.shape
    pred, pred_prob = _top(q)
    if p is None:
        true_prob = _pick(q, y)
        ce = -np.log(np.clip(true_prob, eps, 1.0 - eps))
        h = np.zeros(n)
        kl = ce  # one-hot P: KL = CE − 0
        brier = np.einsum("ij,ij->i", q, q) - 2.0 * true_prob + 1.0
        clipped = true_prob < eps
        true_class = y
    else:
        qc = np.clip(q, eps, 1.0 - eps)
        ce = -xlogy(p, qc).sum(axis=1)
        h = entr(p).sum(axis=1)
        kl = rel_entr(p, qc).sum(axis=1)
        brier = ((q - p) ** 2).sum(axis=1)
        clipped = ((p > 0) & (q < eps)).any(axis=1)
        true_class = np.argmax(p, axis=1)
        true_prob = _pick(q, true_class)
    if k == 2:
        brier = brier / 2.0
    return RowFigures(
        ce=ce,
        h=h,
        kl=kl,
        true_class=true_class,
        pred_class=pred,
        true_prob=true_prob,
        pred_prob=pred_prob,
        brier=brier,
        pred_entropy=_row_entropy(q),
        clipped=clipped,
    )


@dataclass(frozen=True)
class WorstRow:
    """One of the highest-loss rows (``row`` is 1-based in the input)."""

    row: int
    id: str | None
    true_class: int
    true_prob: float
    pred_class: int
    pred_prob: float
    ce: float


@dataclass
class Stats:
    """Additive sufficient statistics of a set of rows. ``a + b`` merges two.

    Sums are weighted by the sample weights (1 when there are none) and in
    nats; ``rows`` and ``hist`` count rows. ``class_rows``/``class_weight``
    are Σ_i P_ik (the number of rows of class k for hard labels).
    ``confusion[t, p]`` is the weight of rows of true class t predicted as p.
    """

    n_classes: int
    rows: int = 0
    weight: float = 0.0
    ce: float = 0.0
    h: float = 0.0
    kl: float = 0.0
    pred_entropy: float = 0.0
    brier: float = 0.0
    clipped: int = 0
    renormalized: int = 0
    class_rows: np.ndarray = None
    class_weight: np.ndarray = None
    class_ce: np.ndarray = None
    class_kl: np.ndarray = None
    confusion: np.ndarray = None
    hist: np.ndarray = None
    groups: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    worst: tuple[WorstRow, ...] = ()
    boot: BootSums | None = None
    # calibration: top-label bins (weight, Σ w·confidence, Σ w·correct, rows) and one-vs-rest bins per class
    cal: np.ndarray = None  # (4, CAL_BINS)
    ovr: np.ndarray = None  # (3, K, CAL_BINS): weight, Σ w·Q_k, Σ w·P_k
    # where the loss comes from
    hist_loss: np.ndarray = None  # Σ CE of the rows in each histogram bin (unweighted)
    wrong_rows: np.ndarray = None  # (len(CONFIDENTLY_WRONG), K): rows whose true class got less than t
    wrong_loss: np.ndarray = None  # (len(CONFIDENTLY_WRONG), K): their weighted loss
    sample: RowSample | None = None

    def __post_init__(self) -> None:
        k = self.n_classes
        for name in ("class_rows", "class_weight", "class_ce", "class_kl"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(k))
        if self.confusion is None:
            self.confusion = np.zeros((k, k))
        if self.hist is None:
            self.hist = np.zeros(len(HIST_EDGES) - 1, dtype=np.int64)
        if self.hist_loss is None:
            self.hist_loss = np.zeros(len(HIST_EDGES) - 1)
        if self.cal is None:
            self.cal = np.zeros((4, CAL_BINS))
        if self.ovr is None:
            self.ovr = np.zeros((3, k, CAL_BINS))
        if self.wrong_rows is None:
            self.wrong_rows = np.zeros((len(CONFIDENTLY_WRONG), k))
        if self.wrong_loss is None:
            self.wrong_loss = np.zeros((len(CONFIDENTLY_WRONG), k))

    def __add__(self, other: Stats) -> Stats:
        if other.n_classes != self.n_classes:
            raise ValueError("cannot merge statistics over different class sets")
        if self.boot is None or other.boot is None:
            boot = self.boot if other.boot is None else other.boot
        else:
            boot = self.boot + other.boot
        return Stats(
            n_classes=self.n_classes,
            rows=self.rows + other.rows,
            weight=self.weight + other.weight,
            ce=self.ce + other.ce,
            h=self.h + other.h,
            kl=self.kl + other.kl,
            pred_entropy=self.pred_entropy + other.pred_entropy,
            brier=self.brier + other.brier,
            clipped=self.clipped + other.clipped,
            renormalized=self.renormalized + other.renormalized,
            class_rows=self.class_rows + other.class_rows,
            class_weight=self.class_weight + other.class_weight,
            class_ce=self.class_ce + other.class_ce,
            class_kl=self.class_kl + other.class_kl,
            confusion=self.confusion + other.confusion,
            hist=self.hist + other.hist,
            groups=_merge_groups(self.groups, other.groups),
            worst=_top_rows(self.worst + other.worst),
            boot=boot,
            cal=self.cal + other.cal,
            ovr=self.ovr + other.ovr,
            hist_loss=self.hist_loss + other.hist_loss,
            wrong_rows=self.wrong_rows + other.wrong_rows,
            wrong_loss=self.wrong_loss + other.wrong_loss,
            sample=other.sample if self.sample is None else (self.sample if other.sample is None else self.sample + other.sample),
        )

    # Derived figures: means over rows, in nats.
    @property
    def mean_ce(self) -> float:
        return self.ce / self.weight

    @property
    def mean_h(self) -> float:
        return self.h / self.weight

    @property
    def mean_kl(self) -> float:
        return self.kl / self.weight

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion)) / self.weight

    @property
    def prior(self) -> np.ndarray:
        """Class frequencies (weighted mean of the target distributions)."""
        return self.class_weight / self.class_weight.sum()

    @property
    def class_accuracy(self) -> np.ndarray:
        """Per true class: the share predicted as that class (recall); NaN without rows."""
        totals = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, np.diag(self.confusion) / np.where(totals > 0, totals, 1), np.nan)


def accumulate(batch: Batch, n_classes: int, eps: float, boot: Bootstrap | None = None,
               f: RowFigures | None = None, sample_below: np.uint64 | None = None) -> Stats:
    """Reduce one validated batch to its sufficient statistics (and bootstrap sums, if asked).
    ``f``: the batch's row figures, when the caller has them already; ``sample_below``:
    the bound of the row sample the result will be merged into (see :func:`row_sample`)."""
    f = f if f is not None else row_figures(batch.q, batch.y, batch.p, eps=eps)
    n, k = len(batch), n_classes
    w = batch.w if batch.w is not None else np.ones(n)
    if batch.p is None:
        class_rows = np.bincount(f.true_class, minlength=k).astype(np.float64)
        class_weight = np.bincount(f.true_class, weights=w, minlength=k)
        class_ce = np.bincount(f.true_class, weights=w * f.ce, minlength=k)
        class_kl = class_ce.copy()
    else:
        wp = batch.p * w[:, None]
        qc = np.clip(batch.q, eps, 1.0 - eps)
        class_rows = batch.p.sum(axis=0)
        class_weight = wp.sum(axis=0)
        class_ce = -xlogy(wp, qc).sum(axis=0)
        class_kl = (w[:, None] * rel_entr(batch.p, qc)).sum(axis=0)
    confusion = np.bincount(f.true_class * k + f.pred_class, weights=w, minlength=k * k).reshape(k, k)
    correct = (f.true_class == f.pred_class).astype(np.float64)

    groups = {}
    for col, values in batch.groups.items():
        codes, uniques = pd.factorize(values)
        m = len(uniques)
        per_field = [np.bincount(codes, minlength=m).astype(np.float64)] + [
            np.bincount(codes, weights=x, minlength=m)
            for x in (w, w * f.ce, w * f.h, w * f.kl, w * correct, w * f.brier)
        ]
        table = np.column_stack(per_field)
        groups[col] = {str(v): table[j] for j, v in enumerate(uniques)}

    keys = _splitmix64(_positions(batch))  # shared by the bootstrap blocks and the row sample
    hb = hist_bin(f.ce)
    conf = f.pred_prob
    b = calibration_bin(conf)
    cal = np.stack([np.bincount(b, weights=x, minlength=CAL_BINS) for x in (w, w * conf, w * correct)]
                   + [np.bincount(b, minlength=CAL_BINS).astype(np.float64)])
    ovr = one_vs_rest_bins(batch.q, f.true_prob if batch.p is None else None, f.true_class, batch.p,
                           batch.w)
    wrong_rows = np.zeros((len(CONFIDENTLY_WRONG), k))
    wrong_loss = np.zeros((len(CONFIDENTLY_WRONG), k))
    for j, t in enumerate(CONFIDENTLY_WRONG):
        m = f.true_prob < t
        wrong_rows[j] = np.bincount(f.true_class[m], minlength=k)
        wrong_loss[j] = np.bincount(f.true_class[m], weights=(w * f.ce)[m], minlength=k)

    return Stats(
        n_classes=k,
        rows=n,
        weight=float(w.sum()),
        ce=float(w @ f.ce),
        h=float(w @ f.h),
        kl=float(w @ f.kl),
        pred_entropy=float(w @ f.pred_entropy),
        brier=float(w @ f.brier),
        clipped=int(f.clipped.sum()),
        renormalized=batch.renormalized,
        class_rows=class_rows,
        class_weight=class_weight,
        class_ce=class_ce,
        class_kl=class_kl,
        confusion=confusion,
        hist=np.bincount(hb, minlength=len(HIST_EDGES) - 1),
        groups=groups,
        worst=_worst_of_batch(batch, f),
        boot=bootstrap_sums(batch, f, w, correct, k, eps, keys) if boot else None,
        cal=cal,
        ovr=ovr,
        hist_loss=np.bincount(hb, weights=f.ce, minlength=len(HIST_EDGES) - 1),
        wrong_rows=wrong_rows,
        wrong_loss=wrong_loss,
        sample=row_sample(batch, w, eps, keys, below=sample_below),
    )


def one_vs_rest_bins(q: np.ndarray, true_prob: np.ndarray | None, true_class: np.ndarray,
                     p: np.ndarray | None, w: np.ndarray | None) -> np.ndarray:
    """Per class k and calibration bin of Q_k: (weight, Σ w·Q_k, Σ w·P_k), shape (3, K, CAL_BINS).

    Column by column (each a contiguous run of memory in the loader's layout).
    For hard labels P_k is 1 only for the true class, whose bin is that of ``true_prob``.
    """
    n, k = q.shape
    out = np.zeros((3, k, CAL_BINS))
    for j in range(k):
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


def _worst_of_batch(batch: Batch, f: RowFigures) -> tuple[WorstRow, ...]:
    n = len(batch)
    take = min(WORST_ROWS, n)
    idx = np.argpartition(-f.ce, take - 1)[:take] if take < n else np.arange(n)
    pred_prob = f.pred_prob
    rows = [
        WorstRow(
            row=batch.row0 + int(i) + 1,
            id=id_text(batch.ids, i),
            true_class=int(f.true_class[i]),
            true_prob=float(f.true_prob[i]),
            pred_class=int(f.pred_class[i]),
            pred_prob=float(pred_prob[i]),
            ce=float(f.ce[i]),
        )
        for i in idx
    ]
    return _top_rows(tuple(rows))


def _top_rows(rows: tuple[WorstRow, ...]) -> tuple[WorstRow, ...]:
    """The WORST_ROWS highest-loss rows, ties broken by position (deterministic)."""
    return tuple(sorted(rows, key=lambda r: (-r.ce, r.row))[:WORST_ROWS])


def histogram_quantile(counts: np.ndarray, q: float, edges: np.ndarray = HIST_EDGES) -> float:
    """The q-quantile of per-row loss from histogram counts (nats).

    Interpolated geometrically inside the bin that holds it (linearly in the
    first bin, which starts at 0), so it is within one bin width — a factor
    1.12 — of the exact quantile.
    """
    total = counts.sum()
    if total == 0:
        return float("nan")
    target = q * total
    cum = np.cumsum(counts)
    i = int(np.searchsorted(cum, target, side="left"))
    lo, hi = edges[i], edges[i + 1]
    if not np.isfinite(hi):
        return float(lo)
    before = cum[i - 1] if i > 0 else 0
    frac = (target - before) / counts[i] if counts[i] else 0.0
    if lo == 0:
        return float(hi * frac)
    return float(lo * (hi / lo) ** frac)


def top_rows_loss_share(counts: np.ndarray, losses: np.ndarray, share: float) -> float:
    """Share of the total loss carried by the ``share`` of rows with the highest loss.

    From the loss histogram: whole bins from the top, then a proportional part of
    the bin where the cut falls (so within one bin width of exact).
    """
    total, n = losses.sum(), counts.sum()
    if total <= 0 or n == 0:
        return 0.0
    want, got, loss = share * n, 0.0, 0.0
    for i in range(len(counts) - 1, -1, -1):
        if counts[i] == 0:
            continue
        take = min(counts[i], want - got)
        loss += losses[i] * take / counts[i]
        got += take
        if got >= want:
            break
    return float(loss / total)


#: Batches are reduced on up to this many threads (numpy and SciPy release the GIL in their loops).
MAX_WORKERS = 4


def in_order(fn, items, workers: int | None = None):
    """``fn(item)`` for each item, computed on ``workers`` threads (default: one per core, up
    to MAX_WORKERS) while the next items are produced, and yielded in input order. At most
    ``workers + 1`` items are in flight, so memory stays bounded. BLAS is held to one thread
    meanwhile: its idle threads spin, taking the cores the reader and the workers need."""
    from threadpoolctl import threadpool_limits

    workers = min(MAX_WORKERS, os.cpu_count() or 1) if workers is None else workers
    with threadpool_limits(limits=1, user_api="blas"):
        if workers <= 1:
            for item in items:
                yield fn(item)
            return
        with ThreadPoolExecutor(workers, thread_name_prefix="evalreport-reduce") as pool:
            pending: deque = deque()
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


def reduce_batches(batches, n_classes: int, eps: float, boot: Bootstrap | None = None,
                   workers: int | None = None) -> Stats:
    """Fold a stream of batches into one :class:`Stats`.

    Batches are reduced in parallel (:func:`in_order`) and merged in input
    order, so the sums — and every figure — are the same whatever the number
    of threads. Each batch's row sample leaves out the rows that cannot enter
    the merged sample so far (the result is the same, see :func:`row_sample`).
    """
    total = Stats(n_classes)

    def reduce(batch: Batch) -> Stats:
        return accumulate(batch, n_classes, eps, boot, sample_below=_bound(total))

    for stats in in_order(reduce, batches, workers):
        total = total + stats
    return total


def _bound(total: Stats) -> np.uint64 | None:
    return total.sample.bound() if total.sample is not None else None


def distribution_figures(p: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """Entropies, cross-entropies and KL divergences of two discrete distributions, in nats.

    Exact, without clipping: a zero in Q where P has mass gives ``inf``.
    """
    return {
        "entropy_p": float(entr(p).sum()),
        "entropy_q": float(entr(q).sum()),
        "cross_entropy_pq": float(-xlogy(p, q).sum()),
        "cross_entropy_qp": float(-xlogy(q, p).sum()),
        "kl_pq": float(rel_entr(p, q).sum()),
        "kl_qp": float(rel_entr(q, p).sum()),
    }


@dataclass(frozen=True)
class RisingRow:
    """A row whose band score (CE, or KL for soft targets) rose from baseline to candidate (nats)."""

    row: int
    id: str | None
    true_class: int
    baseline: float
    candidate: float

    @property
    def increase(self) -> float:
        return self.candidate - self.baseline


def rising_rows(base: Batch, fb: RowFigures, fc: RowFigures) -> tuple[RisingRow, ...]:
    """The WORST_ROWS rows of two aligned batches (their row figures ``fb``, ``fc``) whose loss
    rose the most, largest rise first (merge batches' with :func:`merge_rising`)."""
    sb, sc = (fb.kl, fc.kl) if base.p is not None else (fb.ce, fc.ce)
    d = sc - sb
    take = min(WORST_ROWS, len(d))
    idx = np.argpartition(-d, take - 1)[:take] if take < len(d) else np.arange(len(d))
    rows = [
        RisingRow(base.row0 + int(i) + 1, id_text(base.ids, i), int(fb.true_class[i]),
                  float(sb[i]), float(sc[i]))
        for i in idx
        if d[i] > 0
    ]
    return merge_rising((), tuple(rows))


def merge_rising(a: tuple[RisingRow, ...], b: tuple[RisingRow, ...]) -> tuple[RisingRow, ...]:
    """The WORST_ROWS largest rises of both, ties broken by position (so merging is associative)."""
    return tuple(sorted(a + b, key=lambda r: (-r.increase, r.row))[:WORST_ROWS])


def paired_interval(base: BootSums, cand: BootSums, field: str = "score", index=None) -> tuple[float, float] | None:
    """Percentile interval of candidate − baseline over bootstrap replicates (nats).

    ``base`` and ``cand`` are replicate sums (:meth:`BootSums.replicates`) of
    rows matched in the same order with the same seed, so replicate b weighs
    every row alike on both sides: a paired bootstrap.
    """
    if base is None or cand is None:
        return None

    def ratio(b: BootSums) -> np.ndarray:
        if index is None:
            num, den = getattr(b, field), b.w
        elif isinstance(index, tuple):  # (group column, value)
            num, den = b.groups[index[0]][index[1]][1], b.groups[index[0]][index[1]][0]
        else:
            num, den = b.class_score[index], b.class_w[index]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)

    diff = ratio(cand) - ratio(base)
    diff = diff[~np.isnan(diff)]
    if len(diff) < 2:
        return None
    lo, hi = np.percentile(diff, [2.5, 97.5])
    return float(lo), float(hi)
