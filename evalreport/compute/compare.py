"""Two models on the same rows: the rows whose loss rose the most."""

from __future__ import annotations

from dataclasses import dataclass

from ..load import Batch, id_text
from .rows import WORST_ROWS, RowFigures, highest_first, row_number

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
    idx = highest_first(d, base, WORST_ROWS)
    rows = [
        RisingRow(row_number(base, i), id_text(base.ids, i), int(fb.true_class[i]),
                  float(sb[i]), float(sc[i]))
        for i in idx
        if d[i] > 0
    ]
    return merge_rising((), tuple(rows))


def reduce_pair(bb: Batch, bc: Batch, n_classes: int, eps: float, boot=None):
    """Two aligned batches (the same rows, the baseline's positions) reduced: each side's Stats
    with the same replicate weights per row, and the rows whose loss rose the most."""
    from .rows import row_figures
    from .stats import accumulate

    fb = row_figures(bb.q, bb.y, bb.p, eps=eps)
    fc = row_figures(bc.q, bc.y, bc.p, eps=eps)
    return (accumulate(bb, n_classes, eps, boot, fb), accumulate(bc, n_classes, eps, boot, fc),
            rising_rows(bb, fb, fc))


def merge_rising(a: tuple[RisingRow, ...], b: tuple[RisingRow, ...]) -> tuple[RisingRow, ...]:
    """The WORST_ROWS largest rises of both, ties broken by position (so merging is associative)."""
    return tuple(sorted(a + b, key=lambda r: (-r.increase, r.row))[:WORST_ROWS])
