"""The Poisson bootstrap: replicate weights by row position, sums per block, percentile intervals."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import rel_entr

from ..load import Batch
from .rows import RowFigures, _positions, _splitmix64

#: Default number of bootstrap replicates (a multiple of 4, see poisson_weights).
BOOTSTRAP_REPLICATES = 200
#: The most replicates a run may ask for: beyond it the intervals' digits no longer move, while
#: time and memory grow with the number.
MAX_REPLICATES = 10_000
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
