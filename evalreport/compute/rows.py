"""Per-row figures of a batch (cross-entropy, entropy, KL, top class, …) and the highest-loss rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..load import Batch, id_text

#: How many of the highest-loss rows are kept.
WORST_ROWS = 20


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A 64-bit mixing hash (SplitMix64's finaliser), vectorised."""
    z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _unmix64(z: np.ndarray) -> np.ndarray:
    """The inverse of :func:`_splitmix64` (each step is a bijection of 64-bit words): the row
    positions whose hashes a row sample keeps."""
    z = z.astype(np.uint64)
    z = z ^ (z >> np.uint64(31)) ^ (z >> np.uint64(62))
    z = z * np.uint64(pow(0x94D049BB133111EB, -1, 1 << 64))
    z = z ^ (z >> np.uint64(27)) ^ (z >> np.uint64(54))
    z = z * np.uint64(pow(0xBF58476D1CE4E5B9, -1, 1 << 64))
    z = z ^ (z >> np.uint64(30)) ^ (z >> np.uint64(60))
    return z - np.uint64(0x9E3779B97F4A7C15)


def slice_names(values) -> list[str | None]:
    """Slice values as the sums name them: text, and None (the rows without a value) kept None."""
    return [None if v is None else str(v) for v in values]


def _positions(batch: Batch) -> np.ndarray:
    """The batch's row positions in the whole input (0-based) — or, for rows known by their id
    (``Batch.keys``), the ids' hashes, which stand in for positions: a row then gets its bootstrap
    block and its place in the row sample from its id, wherever it stands in the file."""
    if batch.keys is not None:
        return batch.keys
    if batch.positions is not None:
        return batch.positions
    return np.arange(batch.row0, batch.row0 + len(batch), dtype=np.uint64)


def highest_first(values: np.ndarray, batch: Batch, take: int, least: float | None = None) -> np.ndarray:
    """The indices of the ``take`` highest ``values`` of a batch's rows, highest first, ties by
    position in the whole input (not by place in the batch: rows matched by id come in another
    order) — so that the rows kept are the same however the input is cut into batches. ``least``:
    a value below which no row is wanted (one that equals it still may be). Rows of weight 0 take
    no part in any figure, and none here."""
    weighed = np.flatnonzero(batch.w > 0) if batch.w is not None and not (batch.w > 0).all() else None
    some = values if weighed is None else values[weighed]
    n = len(some)
    if least is None and take < n:
        least = np.partition(some, n - take)[n - take]  # the take-th highest
    idx = np.flatnonzero(some >= least) if least is not None else np.arange(n)
    idx = idx if weighed is None else weighed[idx]
    return idx[np.lexsort((_row_numbers(batch, idx), -values[idx]))[:take]]


def _row_numbers(batch: Batch, idx: np.ndarray) -> np.ndarray:
    """The 0-based positions in the whole input of the batch's rows ``idx``."""
    return batch.positions[idx] if batch.positions is not None else batch.row0 + idx


def row_number(batch: Batch, i: int) -> int:
    """The 1-based number of row ``i`` of a batch in its whole input."""
    return int(batch.positions[i]) + 1 if batch.positions is not None else batch.row0 + int(i) + 1


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
    if k > 64:  # a Python loop over thousands of columns costs more than argmax
        pred = q.argmax(axis=1)
        return pred, _pick(q, pred)
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
        from scipy.special import entr, rel_entr, xlogy

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


def _worst_of_batch(batch: Batch, f: RowFigures, least: float | None = None) -> tuple[WorstRow, ...]:
    """The batch's WORST_ROWS highest-loss rows, ties broken by position as :func:`_top_rows`
    breaks them (so the rows kept are the same however the input is cut into batches).
    ``least``: the loss of the last of the rows kept so far, once there are WORST_ROWS of them —
    a row that loses less can never enter (a row that loses as much still can, by its position)."""
    idx = highest_first(f.ce, batch, WORST_ROWS, least)
    pred_prob = f.pred_prob
    rows = [
        WorstRow(
            row=row_number(batch, i),
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


def distribution_figures(p: np.ndarray, q: np.ndarray) -> dict[str, float]:
    """Entropies, cross-entropies and KL divergences of two discrete distributions, in nats.

    Exact, without clipping: a zero in Q where P has mass gives ``inf``.
    """
    from scipy.special import entr, rel_entr, xlogy

    return {
        "entropy_p": float(entr(p).sum()),
        "entropy_q": float(entr(q).sum()),
        "cross_entropy_pq": float(-xlogy(p, q).sum()),
        "cross_entropy_qp": float(-xlogy(q, p).sum()),
        "kl_pq": float(rel_entr(p, q).sum()),
        "kl_qp": float(rel_entr(q, p).sum()),
    }
