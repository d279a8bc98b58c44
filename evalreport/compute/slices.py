"""Per-slice sums of one ``--group-by`` column, held compactly and merged in place.

Every distinct value keeps one row of sums (:data:`GROUP_FIELDS`), in the order
the values first appear in the input — so merging batches in input order gives
the same table however the input was cut. Two bounds keep memory flat:

- a column may have at most :data:`MAX_SLICE_VALUES` distinct values (about
  200 bytes each: the text, an index entry and 7 sums); beyond, the reduction
  stops with :class:`TooManySlices`;
- bootstrap block sums (for the per-slice intervals) are kept while the column
  has at most :data:`MAX_BOOT_SLICES` values (32 KiB each); a column with more has
  no per-slice intervals — a property of the whole input, not of the chunking.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .bootstrap import BLOCK_CELLS, BOOT_BLOCKS, ItemBlocks
from .rows import slice_names

#: Per slice value: the sums kept, in this order (rows count rows; the rest are weighted).
GROUP_FIELDS = ("rows", "weight", "ce", "h", "kl", "correct", "brier")
#: The most distinct values a --group-by column may have.
MAX_SLICE_VALUES = 1_000_000
#: Per-slice intervals for columns of at most this many distinct values (their block sums fill BLOCK_CELLS).
MAX_BOOT_SLICES = BLOCK_CELLS // BOOT_BLOCKS
#: Per-slice ECE for columns of at most this many distinct values (30 sums each: 2.4 MB at most).
MAX_CAL_SLICES = 10_000
#: Calibration bins of the per-slice ECE (the report's 15 equal-width bins of the top probability).
SLICE_CAL_BINS = 15


class TooManySlices(Exception):
    """A --group-by column has more distinct values than MAX_SLICE_VALUES."""

    def __init__(self, column: str, limit: int) -> None:
        super().__init__(column, limit)
        self.column, self.limit = column, limit


@dataclass
class SliceSums:
    """One column's slices: ``values`` (text; None for the rows without a value), ``sums`` (a row per value, GROUP_FIELDS; a total
    holds spare rows beyond ``len(values)``) and ``blocks`` ([weight, score] per value and
    bootstrap block, or None when not kept)."""

    column: str
    values: list[str | None]
    sums: np.ndarray
    blocks: ItemBlocks | None
    cal: ItemBlocks | None = None  # per value and calibration bin: Σ w·confidence, Σ w·correct (or None)
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    @classmethod
    def empty(cls, column: str, keep_blocks: bool, keep_cal: bool = False) -> SliceSums:
        blocks = ItemBlocks(0, BOOT_BLOCKS, None, [np.zeros((0, BOOT_BLOCKS)), np.zeros((0, BOOT_BLOCKS))]) \
            if keep_blocks else None
        cal = ItemBlocks(0, SLICE_CAL_BINS, None, [np.zeros((0, SLICE_CAL_BINS)), np.zeros((0, SLICE_CAL_BINS))]) \
            if keep_cal else None
        return cls(column, [], np.zeros((0, len(GROUP_FIELDS))), blocks, cal)

    def ece(self, values) -> float | None:
        """The top-label ECE (15 bins) of the rows of ``values`` (indices) together; None when
        the calibration sums were not kept or the rows have no weight."""
        if self.cal is None:
            return None
        conf, correct = (x[values] for x in self.cal.dense())
        weight = self.table[values, GROUP_FIELDS.index("weight")].sum()
        return float(np.abs(correct.sum(axis=0) - conf.sum(axis=0)).sum() / weight) if weight > 0 else None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def table(self) -> np.ndarray:
        """The sums of the values held: (len(values), len(GROUP_FIELDS))."""
        return self.sums[: len(self.values)]

    def block_sums(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Weight and score per value and block (dense), or None when not kept."""
        if self.blocks is None:
            return None
        w, s = self.blocks.dense()
        return w[: len(self.values)], s[: len(self.values)]

    def scale(self, factor: float) -> None:
        """Multiply the weighted sums (all but the row counts) in place."""
        if factor != 1.0:
            self.sums[:, 1:] *= factor
            for items in (self.blocks, self.cal):
                if items is not None:
                    for x in items.fields:
                        x *= factor

    def add(self, other: SliceSums, scale: float = 1.0) -> None:
        """Merge ``other`` (× ``scale``) into this total, in place; its new values go last."""
        if not self._index and self.values:
            self._index = {v: i for i, v in enumerate(self.values)}
        index = self._index
        rows = np.empty(len(other.values), dtype=np.intp)
        for i, v in enumerate(other.values):
            j = index.get(v)
            if j is None:
                j = index[v] = len(self.values)
                self.values.append(v)
            rows[i] = j
        if len(self.values) > MAX_SLICE_VALUES:
            raise TooManySlices(self.column, MAX_SLICE_VALUES)
        if self.blocks is not None and (other.blocks is None or len(self.values) > MAX_BOOT_SLICES):
            self.blocks = None  # too many values for per-slice intervals: free the block sums
        if self.cal is not None and (other.cal is None or len(self.values) > MAX_CAL_SLICES):
            self.cal = None  # too many values for a per-slice ECE
        self._grow(len(self.values))
        add = other.table.copy()
        if scale != 1.0:
            add[:, 1:] *= scale
        self.sums[rows] += add  # rows are distinct
        if self.blocks is not None:
            theirs = other.blocks
            if theirs.keys is None:  # a total's dense sums hold spare rows beyond its values
                theirs = ItemBlocks(len(other), theirs.n_blocks, None, [x[: len(other)] for x in theirs.fields])
            theirs.add_to(self.blocks.fields, rows=rows, scale=scale)
        if self.cal is not None:
            theirs = other.cal
            if theirs.keys is None:
                theirs = ItemBlocks(len(other), theirs.n_blocks, None, [x[: len(other)] for x in theirs.fields])
            theirs.add_to(self.cal.fields, rows=rows, scale=scale)

    def _grow(self, n: int) -> None:
        """Room for ``n`` values (capacity doubles: merging stays linear)."""
        cap = len(self.sums)
        if n <= cap:
            return
        new = max(n, 2 * cap, 16)
        self.sums = np.concatenate([self.sums, np.zeros((new - cap, self.sums.shape[1]))])
        if self.blocks is not None:
            grow = min(new, MAX_BOOT_SLICES)
            fields = [np.concatenate([x, np.zeros((grow - len(x), BOOT_BLOCKS))]) if grow > len(x) else x
                      for x in self.blocks.fields]
            self.blocks = ItemBlocks(len(fields[0]), BOOT_BLOCKS, None, fields)
        if self.cal is not None:
            grow = min(new, MAX_CAL_SLICES)
            fields = [np.concatenate([x, np.zeros((grow - len(x), SLICE_CAL_BINS))]) if grow > len(x) else x
                      for x in self.cal.fields]
            self.cal = ItemBlocks(len(fields[0]), SLICE_CAL_BINS, None, fields)

    def copy(self) -> SliceSums:
        blocks = cal = None
        if self.blocks is not None:
            fields = [x.copy() for x in self.blocks.dense()]
            blocks = ItemBlocks(len(fields[0]), BOOT_BLOCKS, None, fields)
        if self.cal is not None:
            fields = [x.copy() for x in self.cal.dense()]
            cal = ItemBlocks(len(fields[0]), SLICE_CAL_BINS, None, fields)
        return SliceSums(self.column, list(self.values), self.sums.copy(), blocks, cal)


def batch_slices(column: str, codes: np.ndarray, uniques, per_field: list[np.ndarray], block: np.ndarray | None,
                 w: np.ndarray, score_w: np.ndarray, cal: tuple | None = None) -> SliceSums:
    """One batch's slices of a column: ``codes`` index ``uniques`` (the values, first seen first);
    ``per_field`` holds the weighted figures in GROUP_FIELDS order after rows; ``block``: the rows'
    bootstrap blocks (None: no bootstrap); ``cal``: each row's calibration bin, w·confidence and
    w·correct (for the per-slice ECE)."""
    m = len(uniques)
    sums = np.column_stack([np.bincount(codes, minlength=m).astype(np.float64)]
                           + [np.bincount(codes, weights=x, minlength=m) for x in per_field])
    blocks = None
    if block is not None and m <= MAX_BOOT_SLICES:
        from .bootstrap import item_block_sums

        blocks = item_block_sums(codes, block, m, BOOT_BLOCKS, [w, score_w])
    cal_sums = None
    if cal is not None and m <= MAX_CAL_SLICES:
        from .bootstrap import item_block_sums

        bins, w_conf, w_correct = cal
        cal_sums = item_block_sums(codes, bins, m, SLICE_CAL_BINS, [w_conf, w_correct])
    return SliceSums(column, slice_names(uniques), sums, blocks, cal_sums)
