"""The Poisson bootstrap: replicate weights by row position, sums per block, percentile intervals."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from ..load import Batch
from .rows import RowFigures, _splitmix64

#: Default number of bootstrap replicates (a multiple of 4, see poisson_weights).
BOOTSTRAP_REPLICATES = 200
#: The most replicates a run may ask for: beyond it the intervals' digits no longer move, while
#: time and memory grow with the number.
MAX_REPLICATES = 10_000
BOOTSTRAP_SEED = 0
#: The overall figures' intervals (the band score, accuracy, skill, ECE; compare's overall
#: differences, which gates decide on) are drawn from at least this many replicates: an end's
#: Monte Carlo error is then under 2% of the interval's width (see compute.power.end_error),
#: enough that a gate does not flip between two draws. Cheap: they are a few sums per block.
HEADLINE_REPLICATES = 1200
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


#: Figures computed from the rows themselves (the score decomposition, the calibration errors
#: with data-dependent bins) are refitted once per replicate, on the row sample. Their work is
#: bounded by rows × replicates ≤ ROW_CELLS: all the run's replicates (at most MAX_ROW_REPLICATES)
#: up to about 10,000 rows, fewer beyond (never fewer than MIN_ROW_REPLICATES: 40 for 50,000 rows).
ROW_CELLS = 1 << 21
MAX_ROW_REPLICATES = 1_000
MIN_ROW_REPLICATES = 40
#: With at least this many replicates an interval is the replicates' percentiles; with fewer
#: (large samples, where the figures are close to normal) the figure ± 1.96 standard deviations.
PERCENTILE_REPLICATES = 200


def row_replicates(rows: int, wanted: int) -> int:
    """How many replicates (or draws) a figure refitted from ``rows`` rows gets of ``wanted``."""
    return min(wanted, MAX_ROW_REPLICATES, max(MIN_ROW_REPLICATES, ROW_CELLS // max(rows, 1)))


def row_replicate_counts(keys: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Each sampled row's weight in each replicate — the same Poisson count its block gets in
    the sums (so the row figures' intervals pair with every other interval of the run):
    (rows, :func:`row_replicates`) uint8, the run's first replicates, from the rows' position hashes."""
    from .rows import _unmix64

    return v[boot_block(_unmix64(keys), keys), : row_replicates(len(keys), v.shape[1])]


def spread(draws: np.ndarray, value: float, level: float = 0.95) -> tuple[float, float] | None:
    """The interval of a figure that cannot be negative (an error, a part of a score) from its
    replicates (NaNs left out): their percentiles with at least PERCENTILE_REPLICATES of them,
    else ``value`` ± z·(their standard deviation), cut at 0; None with fewer than 2."""
    draws = draws[~np.isnan(draws)]
    if len(draws) < 2:
        return None
    if len(draws) >= PERCENTILE_REPLICATES:
        return _percentiles(draws[None, :], level)[0]
    from statistics import NormalDist

    half = NormalDist().inv_cdf(0.5 + level / 2) * float(draws.std(ddof=1))
    return max(float(value - half), 0.0), float(value + half)


#: Bootstrap block sums of per-item figures (classes, slice values) are kept in at most this many
#: cells (items × blocks, a power of 2): with more classes, each class gets fewer, larger blocks.
BLOCK_CELLS = 1 << 21
#: Fewest blocks a class keeps (so at most BLOCK_CELLS / MIN_CLASS_BLOCKS classes get intervals).
MIN_CLASS_BLOCKS = 64


def class_blocks(n_classes: int) -> int:
    """Bootstrap blocks per class: BOOT_BLOCKS while classes × blocks fits BLOCK_CELLS, then
    halved as often as needed (a power of 2, so a coarse block is a union of fine ones)."""
    blocks = BOOT_BLOCKS
    while blocks > MIN_CLASS_BLOCKS and n_classes * blocks > BLOCK_CELLS:
        blocks //= 2
    return blocks


def item_block_sums(item: np.ndarray, block: np.ndarray, n_items: int, n_blocks: int,
                    weights: list[np.ndarray]) -> ItemBlocks:
    """Sums of each of ``weights`` per (item, block): dense (a bincount) when the cells are few for
    the entries, else sparse (only the cells present) — a batch of 300 rows of a 10,000-class
    model touches 300 cells of 1.3 million."""
    key = item.astype(np.int64) * n_blocks + block
    cells = n_items * n_blocks
    if cells <= 4 * len(key):
        return ItemBlocks(n_items, n_blocks, None,
                          [np.bincount(key, weights=x, minlength=cells).reshape(n_items, n_blocks) for x in weights])
    keys, inverse = np.unique(key, return_inverse=True)
    return ItemBlocks(n_items, n_blocks, keys, [np.bincount(inverse, weights=x, minlength=len(keys)) for x in weights])


@dataclass
class ItemBlocks:
    """Sums per (item, block) of a few figures: ``fields[f]`` is dense (items, blocks), or, with
    ``keys`` (item × blocks + block, sorted, unique), the sums of just those cells."""

    n_items: int
    n_blocks: int
    keys: np.ndarray | None
    fields: list[np.ndarray]

    def dense(self) -> list[np.ndarray]:
        if self.keys is None:
            return self.fields
        out = []
        for x in self.fields:
            d = np.zeros(self.n_items * self.n_blocks)
            d[self.keys] = x
            out.append(d.reshape(self.n_items, self.n_blocks))
        return out

    def add_to(self, totals: list[np.ndarray], rows: np.ndarray | None = None, scale: float = 1.0) -> None:
        """Add into dense ``totals`` (one (N, blocks) array per field), item i going to row
        ``rows[i]`` (all distinct; default: the same row)."""
        if self.keys is None:
            for t, x in zip(totals, self.fields):
                if rows is None:
                    t += x * scale if scale != 1.0 else x
                else:
                    t[rows] += x * scale if scale != 1.0 else x
            return
        item, block = np.divmod(self.keys, self.n_blocks)
        target = (item if rows is None else rows[item]) * self.n_blocks + block
        for t, x in zip(totals, self.fields):
            flat = t.reshape(-1)
            flat[target] += x * scale if scale != 1.0 else x  # cells are unique: no collisions


@dataclass
class BootSums:
    """Sums per bootstrap block (row weights × figures); merge with ``+=``.

    ``w``, ``score`` (the band score: CE for hard labels, KL for soft targets)
    and ``correct`` have one sum per block; ``class_w`` and ``class_score``
    one per class and class block (:func:`class_blocks`; the blocks of a class
    are the row blocks folded modulo their number). A batch's class sums may be
    sparse (:class:`ItemBlocks`); a total's are dense. Every row of a block gets
    the block's Poisson(1) weight in a replicate (see :func:`intervals`).
    """

    w: np.ndarray
    score: np.ndarray
    correct: np.ndarray
    classes: ItemBlocks  # fields: class weight, class score
    cal: ItemBlocks | None = None  # per (calibration bin, block): weight, Σ w·confidence, Σ w·correct

    @property
    def class_w(self) -> np.ndarray:
        return self.classes.dense()[0]

    @property
    def class_score(self) -> np.ndarray:
        return self.classes.dense()[1]

    def scaled(self, factor: float) -> BootSums:
        if factor == 1.0:
            return self
        c, b = self.classes, self.cal
        return BootSums(self.w * factor, self.score * factor, self.correct * factor,
                        ItemBlocks(c.n_items, c.n_blocks, c.keys, [x * factor for x in c.fields]),
                        ItemBlocks(b.n_items, b.n_blocks, b.keys, [x * factor for x in b.fields]) if b else None)

    def dense_copy(self) -> BootSums:
        c, b = self.classes, self.cal
        return BootSums(self.w.copy(), self.score.copy(), self.correct.copy(),
                        ItemBlocks(c.n_items, c.n_blocks, None, [x.copy() for x in c.dense()]),
                        ItemBlocks(b.n_items, b.n_blocks, None, [x.copy() for x in b.dense()]) if b else None)

    def add(self, other: BootSums, scale: float = 1.0) -> None:
        """Add ``other`` (× ``scale``) into this one, in place (this one's item sums dense)."""
        for mine, theirs in ((self.w, other.w), (self.score, other.score), (self.correct, other.correct)):
            mine += theirs * scale if scale != 1.0 else theirs
        other.classes.add_to(self.classes.fields, scale=scale)
        if other.cal is not None and self.cal is not None:
            other.cal.add_to(self.cal.fields, scale=scale)


def headline(boot: Bootstrap) -> Bootstrap:
    """The bootstrap of the overall figures: the run's, with at least HEADLINE_REPLICATES replicates."""
    return boot if boot.replicates >= HEADLINE_REPLICATES else Bootstrap(HEADLINE_REPLICATES, boot.seed)


@functools.lru_cache(maxsize=2)
def replicate_weights(boot: Bootstrap, blocks: int = BOOT_BLOCKS) -> np.ndarray:
    """The Poisson(1) weight of each block in each replicate: (blocks, replicates), uint8, read
    only. Drawn a few hundred blocks at a time, so at 10,000 replicates the raw draws stay small;
    drawn once a run (0.18 s at 10,000 replicates) — the first result and the full one share it."""
    out = np.empty((blocks, boot.replicates), dtype=np.uint8)
    step = max(1, (1 << 21) // boot.replicates)
    for start in range(0, blocks, step):
        n = min(step, blocks - start)
        out[start : start + n] = poisson_weights(start, n, boot)
    out.flags.writeable = False
    return out


#: Items whose replicate sums are held at once: items × replicates ≤ this many cells.
_REPLICATE_CELLS = 1 << 22


def _replicate_sums(sums: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(items, b) block sums → (items, R) replicate sums, against the first b rows of ``v``."""
    return sums @ v[: sums.shape[-1]].astype(np.float64)


def intervals(num: np.ndarray, den: np.ndarray, v: np.ndarray, level: float = 0.95) -> list:
    """Per item (a row of ``num``/``den``, block sums): the percentile interval of the replicate
    ratios num/den, replicates with den = 0 left out; None with fewer than 2 replicates left, or
    when the item's weight lies in fewer than MIN_BLOCKS blocks (see :func:`_resampled`).
    Computed a few items at a time, so memory stays flat in items × replicates."""
    num, den = np.atleast_2d(num), np.atleast_2d(den)
    out: list = []
    step = max(1, _REPLICATE_CELLS // v.shape[1])
    for start in range(0, len(num), step):
        n_r, d_r = _replicate_sums(num[start : start + step], v), _replicate_sums(den[start : start + step], v)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = np.where(d_r > 0, n_r / np.where(d_r > 0, d_r, 1.0), np.nan)
        out.extend(_resampled(_percentiles(ratios, level), den[start : start + step]))
    return out


#: A figure gets an interval when its weight lies in at least this many bootstrap blocks. One
#: block (one row, say) is the same ratio in every replicate: its "interval" would have no width,
#: which reads as certainty when it is the bootstrap that cannot tell.
MIN_BLOCKS = 2


def _resampled(found: list, *dens: np.ndarray) -> list:
    """``found`` intervals, None for the items whose weight lies in fewer than MIN_BLOCKS blocks
    of each ``dens`` (block sums of the weight, items × blocks)."""
    enough = np.logical_and.reduce([(d > 0).sum(axis=1) >= MIN_BLOCKS for d in dens])
    return [ci if ok else None for ci, ok in zip(found, enough)]


def paired_intervals(num_a, den_a, num_b, den_b, v: np.ndarray, level: float = 0.95) -> list:
    """Per item: the percentile interval of (num_b/den_b − num_a/den_a) over replicates —
    two inputs whose rows are matched share replicate weights, so this is a paired bootstrap."""
    num_a, den_a, num_b, den_b = map(np.atleast_2d, (num_a, den_a, num_b, den_b))
    out: list = []
    step = max(1, _REPLICATE_CELLS // v.shape[1])
    for start in range(0, len(num_a), step):
        sl = slice(start, start + step)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratios = []
            for num, den in ((num_a[sl], den_a[sl]), (num_b[sl], den_b[sl])):
                n_r, d_r = _replicate_sums(num, v), _replicate_sums(den, v)
                ratios.append(np.where(d_r > 0, n_r / np.where(d_r > 0, d_r, 1.0), np.nan))
        out.extend(_resampled(_percentiles(ratios[1] - ratios[0], level), den_a[sl], den_b[sl]))
    return out


def _percentiles(ratios: np.ndarray, level: float) -> list:
    q = [50 * (1 - level), 50 * (1 + level)]
    out = []
    for row in ratios:
        row = row[~np.isnan(row)]
        if len(row) < 2:
            out.append(None)
            continue
        lo, hi = np.percentile(row, q)
        out.append((float(lo), float(hi)))
    return out


def bootstrap_sums(batch: Batch, f: RowFigures, w: np.ndarray, correct: np.ndarray, k: int, eps: float,
                   block: np.ndarray, cal_bin: np.ndarray | None = None, cal_bins: int = 0) -> BootSums:
    """Per-block sums of one batch: a few bincounts, whatever the number of replicates.
    ``block``: the bootstrap block of each of its rows (:func:`boot_block`); ``cal_bin``: the
    calibration bin of each row's top probability, one of ``cal_bins`` (for the interval of the ECE)."""
    m = BOOT_BLOCKS
    score = f.kl if batch.p is not None else f.ce
    ws = w * score
    cb = class_blocks(k)
    coarse = block & (cb - 1)  # = block mod cb: a class block is a union of row blocks
    if batch.p is None:
        classes = item_block_sums(f.true_class, coarse, k, cb, [w, ws])
    else:
        from scipy.special import rel_entr

        class_kl = rel_entr(batch.p, np.clip(batch.q, eps, 1.0 - eps))
        item = np.broadcast_to(np.arange(k), batch.p.shape).reshape(-1)
        rows_block = np.repeat(coarse, k)
        classes = item_block_sums(item, rows_block, k, cb,
                                  [(w[:, None] * batch.p).reshape(-1), (w[:, None] * class_kl).reshape(-1)])
    cal = None
    if cal_bin is not None:
        cal = item_block_sums(cal_bin, block, cal_bins, m, [w, w * f.pred_prob, w * correct])
    return BootSums(
        np.bincount(block, weights=w, minlength=m),
        np.bincount(block, weights=ws, minlength=m),
        np.bincount(block, weights=w * correct, minlength=m),
        classes,
        cal,
    )


def ece_interval(cal: ItemBlocks, v: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """The percentile interval of the top-label ECE over the replicates; None when the rows lie in
    fewer than MIN_BLOCKS blocks (every replicate the same: see :func:`_resampled`)."""
    weight = cal.dense()[0].sum(axis=0, keepdims=True)  # (1, blocks)
    return _resampled(_percentiles(ece_replicates(cal, v)[None, :], level), weight)[0]


def ece_replicates(cal: ItemBlocks, v: np.ndarray) -> np.ndarray:
    """The top-label ECE of each bootstrap replicate: Σ_b |Σ w·correct − Σ w·conf| / Σ w per
    replicate, from the per-(bin, block) sums and the replicate weights ``v`` (blocks, R)."""
    w, conf, correct = (_replicate_sums(x, v) for x in cal.dense())
    total = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.abs(correct - conf).sum(axis=0) / np.where(total > 0, total, 1.0), np.nan)
