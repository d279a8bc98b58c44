"""Additive sufficient statistics: a batch → Stats of sums and counts; ``a + b`` merges two."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..load import Batch
from .bootstrap import Bootstrap, BootSums, boot_block, bootstrap_sums
from .calibration import CAL_BINS, RowSample, calibration_bin, one_vs_rest_bins, row_sample, sample_size
from .slices import SliceSums, batch_slices
from .rows import RowFigures, WorstRow, _positions, _splitmix64, _top_rows, _worst_of_batch, row_figures

#: Fixed (data-independent) bin edges for the per-row loss histogram, in nats,
#: so that histograms of different chunks add up bin by bin.
#: 120 log-spaced bins from 1e-4 to 50 nats (each spans a factor 1.12), one
#: below and one above.
HIST_EDGES = np.concatenate([[0.0], np.logspace(-4, np.log10(50.0), 121), [np.inf]])


#: "Confidently wrong": the true class was given less than these probabilities.
CONFIDENTLY_WRONG = (0.01, 0.1)


#: The loss histogram's inner edges are 10**(-4 + i·STEP): a bin index can be computed, then checked.
_HIST_LOG_LO, _HIST_STEP = -4.0, (math.log10(50.0) + 4.0) / 120

#: A fine loss histogram for the figures (the median row loss, the worst rows' share of the loss):
#: FINE_PER_DECADE log-spaced bins a decade from 10**FINE_LO to 10**FINE_HI nats, and a first bin for
#: exact zeros. A quantile interpolated within its bin is within a factor 10**(1/256) — 0.9% — of exact
#: (for losses above 1e-17 nats: the least a row can lose with the default eps is 1.1e-16).
FINE_PER_DECADE, FINE_LO, FINE_HI = 256, -17, 3
FINE_EDGES = np.concatenate([[0.0], 10.0 ** (FINE_LO + np.arange((FINE_HI - FINE_LO) * FINE_PER_DECADE + 1)
                                             / FINE_PER_DECADE)])


def fine_bin(log_ce: np.ndarray, ce: np.ndarray) -> np.ndarray:
    """Index of each loss in FINE_EDGES' bins, from its log10 (bin 0: exactly 0)."""
    i = np.floor((log_ce - FINE_LO) * FINE_PER_DECADE).astype(np.intp) + 1
    np.clip(i, 1, len(FINE_EDGES) - 2, out=i)
    i[ce <= 0] = 0
    return i


def hist_bin(ce: np.ndarray, log_ce: np.ndarray | None = None) -> np.ndarray:
    """Index of each value in HIST_EDGES' bins [e_i, e_i+1): computed from log10, then corrected."""
    log_ce = np.log10(np.maximum(ce, 1e-300)) if log_ce is None else log_ce
    i = np.floor((log_ce - _HIST_LOG_LO) / _HIST_STEP).astype(np.intp) + 1
    last = len(HIST_EDGES) - 2
    np.clip(i, 0, last, out=i)
    i -= (ce < HIST_EDGES[i]) & (i > 0)
    i += (ce >= HIST_EDGES[i + 1]) & (i < last)
    return i


#: Up to this many classes the confusion matrix is a dense array; beyond, a sparse one (the
#: cells of K² that rows reach: at most one per row).
DENSE_CONFUSION_CLASSES = 256


@dataclass
class Stats:
    """Additive sufficient statistics of a set of rows. ``a += b`` merges two in place
    (``a + b`` returns a new one).

    Sums are weighted by the sample weights (1 when there are none) and in
    nats; ``rows`` and ``hist`` count rows. ``class_rows``/``class_weight``
    are Σ_i P_ik (the number of rows of class k for hard labels).
    ``confusion[t, p]`` is the weight of rows of true class t predicted as p
    (a scipy sparse array beyond DENSE_CONFUSION_CLASSES classes).

    Weighted sums are held in units of 2**wexp: the loader divides each batch's
    weights by a power of two (exact) so that the largest is below 1, and
    merging brings both sides to the larger exponent. Weights of 1e-300 or 1e307
    therefore give the figures weights of 1 give; absolute weights are
    ``ldexp(sum, wexp)`` (see :meth:`absolute`).
    """

    n_classes: int
    rows: int = 0
    weight: float = 0.0
    wexp: int = 0
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
    groups: dict[str, SliceSums] = field(default_factory=dict)
    worst: tuple[WorstRow, ...] = ()
    boot: BootSums | None = None
    # calibration: top-label bins (weight, Σ w·confidence, Σ w·correct, rows) and one-vs-rest bins per class
    cal: np.ndarray = None  # (5, CAL_BINS): weight, Σ w·conf, Σ w·correct, rows, Σ w²·conf·(1 − conf)
    ovr: np.ndarray = None  # (3, K, CAL_BINS): weight, Σ w·Q_k, Σ w·P_k
    # where the loss comes from
    hist_loss: np.ndarray = None  # Σ CE of the rows in each histogram bin (unweighted)
    fine: np.ndarray = None  # rows per bin of the fine loss histogram (FINE_EDGES)
    fine_loss: np.ndarray = None  # Σ CE of the rows in each of its bins (unweighted)
    wrong_rows: np.ndarray = None  # (len(CONFIDENTLY_WRONG), K): rows whose true class got less than t
    wrong_loss: np.ndarray = None  # (len(CONFIDENTLY_WRONG), K): their weighted loss
    sample: RowSample | None = None

    #: The weighted fields that are plain arrays or numbers (multiplied when exponents are aligned).
    _WEIGHTED = ("weight", "ce", "h", "kl", "pred_entropy", "brier", "class_weight", "class_ce", "class_kl",
                 "confusion", "ovr", "wrong_loss")
    #: Fields that add up as they are.
    _COUNTS = ("rows", "clipped", "renormalized", "class_rows", "hist", "hist_loss", "fine", "fine_loss", "wrong_rows")

    def __post_init__(self) -> None:
        k = self.n_classes
        for name in ("class_rows", "class_weight", "class_ce", "class_kl"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(k))
        if self.confusion is None:
            self.confusion = np.zeros((k, k)) if k <= DENSE_CONFUSION_CLASSES else _sparse_confusion(k)
        if self.hist is None:
            self.hist = np.zeros(len(HIST_EDGES) - 1, dtype=np.int64)
        if self.hist_loss is None:
            self.hist_loss = np.zeros(len(HIST_EDGES) - 1)
        if self.fine is None:
            self.fine = np.zeros(len(FINE_EDGES) - 1, dtype=np.int64)
        if self.fine_loss is None:
            self.fine_loss = np.zeros(len(FINE_EDGES) - 1)
        if self.cal is None:
            self.cal = np.zeros((5, CAL_BINS))
        if self.ovr is None:
            self.ovr = np.zeros((3, k, CAL_BINS))
        if self.wrong_rows is None:
            self.wrong_rows = np.zeros((len(CONFIDENTLY_WRONG), k))
        if self.wrong_loss is None:
            self.wrong_loss = np.zeros((len(CONFIDENTLY_WRONG), k))

    def _exponents(self, other: Stats) -> tuple[int, float, float]:
        """The common exponent of two Stats' weighted sums and each side's factor to reach it
        (a side without weight keeps its zeros as they are)."""
        if other.weight == 0:  # its weighted sums are all 0 (weights are ≥ 0)
            return self.wexp, 1.0, 1.0
        if self.weight == 0:
            return other.wexp, 1.0, 1.0
        e = max(self.wexp, other.wexp)
        return e, math.ldexp(1.0, self.wexp - e), math.ldexp(1.0, other.wexp - e)

    def _scale(self, factor: float) -> None:
        """Multiply every weighted sum in place (exact for powers of two)."""
        if factor == 1.0:
            return
        for name in self._WEIGHTED:
            value = getattr(self, name)
            if isinstance(value, float):
                setattr(self, name, value * factor)
            elif isinstance(value, np.ndarray):
                value *= factor
            else:  # a sparse confusion matrix
                setattr(self, name, value * factor)
        self.cal[:3] *= factor
        self.cal[4] *= factor * factor
        for g in self.groups.values():
            g.scale(factor)
        if self.boot is not None:
            self.boot = self.boot.scaled(factor)
        if self.sample is not None:
            self.sample = self.sample.scaled(factor)

    def __iadd__(self, other: Stats) -> Stats:
        if other.n_classes != self.n_classes:
            raise ValueError("cannot merge statistics over different class sets")
        e, mine, theirs = self._exponents(other)
        self._scale(mine)
        self.wexp = e
        for name in self._WEIGHTED:
            value, add = getattr(self, name), getattr(other, name)
            add = add * theirs if theirs != 1.0 else add
            if isinstance(value, np.ndarray) and isinstance(add, np.ndarray):
                value += add
            else:
                setattr(self, name, value + add)
        for name in self._COUNTS:
            value = getattr(self, name)
            if isinstance(value, np.ndarray):
                value += getattr(other, name)
            else:
                setattr(self, name, value + getattr(other, name))
        self.cal[:3] += other.cal[:3] * theirs
        self.cal[3] += other.cal[3]
        self.cal[4] += other.cal[4] * (theirs * theirs)
        for col, g in other.groups.items():
            if col not in self.groups:
                self.groups[col] = SliceSums.empty(col, keep_blocks=g.blocks is not None, keep_cal=g.cal is not None)
            self.groups[col].add(g, theirs)
        self.worst = _top_rows(self.worst + other.worst)
        if other.boot is not None:
            if self.boot is None:
                self.boot = other.boot.scaled(theirs).dense_copy()
            else:
                self.boot.add(other.boot, theirs)
        if other.sample is not None:
            add = other.sample.scaled(theirs)
            self.sample = add if self.sample is None else self.sample + add
        return self

    def __add__(self, other: Stats) -> Stats:
        return self.copy().__iadd__(other)

    def copy(self) -> Stats:
        """A copy whose arrays are its own (so merging into it leaves this one as it is)."""
        out = Stats(self.n_classes, **{name: getattr(self, name) for name in
                                       ("rows", "weight", "wexp", "ce", "h", "kl", "pred_entropy", "brier", "clipped",
                                        "renormalized", "worst", "sample")})
        for name in ("class_rows", "class_weight", "class_ce", "class_kl", "confusion", "hist", "cal", "ovr",
                     "hist_loss", "fine", "fine_loss", "wrong_rows", "wrong_loss"):
            setattr(out, name, getattr(self, name).copy())
        out.groups = {col: g.copy() for col, g in self.groups.items()}
        out.boot = self.boot.dense_copy() if self.boot is not None else None
        return out

    def absolute(self, weighted_sum):
        """A weighted sum (a number, an array, a sparse array) in the input's own weight units
        (a sum of weights near the largest float may be ∞ there)."""
        if self.wexp == 0:
            return weighted_sum
        with np.errstate(over="ignore"):
            if isinstance(weighted_sum, np.ndarray):
                return np.ldexp(weighted_sum, self.wexp)
            if isinstance(weighted_sum, (int, float)):
                return float(np.ldexp(float(weighted_sum), self.wexp))
            return weighted_sum * float(np.ldexp(1.0, self.wexp))  # sparse: only its stored cells

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
        return float(self.confusion.diagonal().sum()) / self.weight

    @property
    def prior(self) -> np.ndarray:
        """Class frequencies (weighted mean of the target distributions)."""
        return self.class_weight / self.class_weight.sum()

    @property
    def class_accuracy(self) -> np.ndarray:
        """Per true class: the share predicted as that class (recall); NaN without rows."""
        totals = np.asarray(self.confusion.sum(axis=1)).reshape(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(totals > 0, self.confusion.diagonal() / np.where(totals > 0, totals, 1), np.nan)


def _sparse_confusion(k: int, true=None, pred=None, w=None):
    from scipy.sparse import csr_array

    if true is None:
        return csr_array((k, k))
    return csr_array((w, (true, pred)), shape=(k, k))


def accumulate(batch: Batch, n_classes: int, eps: float, boot: Bootstrap | None = None,
               f: RowFigures | None = None, sample_below: np.uint64 | None = None,
               worst_least: float | None = None) -> Stats:
    """Reduce one validated batch to its sufficient statistics (and bootstrap sums, if asked).
    ``f``: the batch's row figures, when the caller has them already; ``sample_below``:
    the bound of the row sample the result will be merged into (see :func:`row_sample`);
    ``worst_least``: the least loss among its worst rows, once it holds WORST_ROWS of them (see
    :func:`_worst_of_batch`)."""
    f = f if f is not None else row_figures(batch.q, batch.y, batch.p, eps=eps)
    n, k = len(batch), n_classes
    w = batch.w if batch.w is not None else np.ones(n)
    class_rows, class_weight, class_ce, class_kl = _class_sums(batch, f, w, k, eps)
    if k <= DENSE_CONFUSION_CLASSES:
        confusion = np.bincount(f.true_class * k + f.pred_class, weights=w, minlength=k * k).reshape(k, k)
    else:
        confusion = _sparse_confusion(k, f.true_class, f.pred_class, w)
    correct = (f.true_class == f.pred_class).astype(np.float64)

    keys = _splitmix64(_positions(batch))  # shared by the bootstrap blocks and the row sample
    block = boot_block(_positions(batch), keys) if boot else None
    score = f.kl if batch.p is not None else f.ce
    conf = f.pred_prob
    b = calibration_bin(conf)
    groups = {}
    for col, values in batch.groups.items():
        codes, uniques = values.factorize()
        groups[col] = batch_slices(col, codes, uniques,
                                   [w, w * f.ce, w * f.h, w * f.kl, w * correct, w * f.brier], block, w, w * score,
                                   (b, w * conf, w * correct))

    log_ce = np.log10(np.maximum(f.ce, 1e-300))
    hb = hist_bin(f.ce, log_ce)
    fb = fine_bin(log_ce, f.ce)
    cal = np.stack([np.bincount(b, weights=x, minlength=CAL_BINS) for x in (w, w * conf, w * correct)]
                   + [np.bincount(b, minlength=CAL_BINS).astype(np.float64),
                      np.bincount(b, weights=w * w * conf * (1.0 - conf), minlength=CAL_BINS)])
    ovr = one_vs_rest_bins(batch.q, f.true_prob if batch.p is None else None, f.true_class, batch.p,
                           batch.w)
    wrong_rows, wrong_loss = _confidently_wrong(f, w, k)

    return Stats(
        n_classes=k,
        rows=n,
        weight=_total(w),
        wexp=batch.w_exp,
        ce=_total(w * f.ce),
        h=_total(w * f.h),
        kl=_total(w * f.kl),
        pred_entropy=_total(w * f.pred_entropy),
        brier=_total(w * f.brier),
        clipped=int(f.clipped.sum()),
        renormalized=batch.renormalized,
        class_rows=class_rows,
        class_weight=class_weight,
        class_ce=class_ce,
        class_kl=class_kl,
        confusion=confusion,
        hist=np.bincount(hb, minlength=len(HIST_EDGES) - 1),
        groups=groups,
        worst=_worst_of_batch(batch, f, worst_least),
        boot=bootstrap_sums(batch, f, w, correct, k, eps, block, b, CAL_BINS) if boot else None,
        cal=cal,
        ovr=ovr,
        hist_loss=np.bincount(hb, weights=f.ce, minlength=len(HIST_EDGES) - 1),
        fine=np.bincount(fb, minlength=len(FINE_EDGES) - 1),
        fine_loss=np.bincount(fb, weights=f.ce, minlength=len(FINE_EDGES) - 1),
        wrong_rows=wrong_rows,
        wrong_loss=wrong_loss,
        sample=row_sample(batch, w, eps, keys, below=sample_below, size=sample_size(k)),
    )


def _class_sums(batch: Batch, f: RowFigures, w: np.ndarray, k: int, eps: float):
    """Per class: rows (target mass for soft targets), weight, cross-entropy and KL sums."""
    if batch.p is None:
        class_ce = np.bincount(f.true_class, weights=w * f.ce, minlength=k)
        return (np.bincount(f.true_class, minlength=k).astype(np.float64),
                np.bincount(f.true_class, weights=w, minlength=k), class_ce, class_ce.copy())
    from scipy.special import rel_entr, xlogy

    wp = batch.p * w[:, None]
    qc = np.clip(batch.q, eps, 1.0 - eps)
    return (batch.p.sum(axis=0), wp.sum(axis=0), -xlogy(wp, qc).sum(axis=0),
            (w[:, None] * rel_entr(batch.p, qc)).sum(axis=0))


def _confidently_wrong(f: RowFigures, w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per CONFIDENTLY_WRONG threshold and class: the rows whose true class got less, and their loss."""
    wrong_rows = np.zeros((len(CONFIDENTLY_WRONG), k))
    wrong_loss = np.zeros((len(CONFIDENTLY_WRONG), k))
    for j, t in enumerate(CONFIDENTLY_WRONG):
        m = f.true_prob < t
        wrong_rows[j] = np.bincount(f.true_class[m], minlength=k)
        wrong_loss[j] = np.bincount(f.true_class[m], weights=(w * f.ce)[m], minlength=k)
    return wrong_rows, wrong_loss


def _total(x: np.ndarray) -> float:
    """A sum with numpy's pairwise summation, never BLAS (whose order depends on its threads)."""
    return float(np.add.reduce(x))


def histogram_quantile(counts: np.ndarray, q: float, edges: np.ndarray = HIST_EDGES) -> float:
    """The q-quantile of per-row loss from histogram counts (nats).

    Interpolated geometrically inside the bin that holds it (linearly in a
    first bin that starts at 0), so it is within one bin width of the exact
    quantile: a factor 10**(1/256) for FINE_EDGES, 1.12 for HIST_EDGES.
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
