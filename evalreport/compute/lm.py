"""Language-model sequences: additive sums of negative log-likelihoods, tokens, bytes and words.

A sequence (an example's gold continuation, a document of a perplexity task) is the unit: its
tokens are not independent of each other, so every figure is a ratio of sums over sequences and
its interval resamples whole sequences — each sequence lies in one bootstrap block, chosen by a
hash of its key (its id; a harness document's task and doc_id), so two evaluations of the same
sequences (two checkpoints) get the same replicate weights: their differences are paired.

- per-token cross-entropy  Σ nll / Σ tokens (nats); perplexity = exp of it; bits per token
- bits per byte            Σ nll / (Σ bytes · ln 2)
- the harness's ratios     word_perplexity = exp(Σ nll / Σ words), byte_perplexity = exp(Σ nll / Σ bytes)

Everything here adds up with ``+=``, per slice value too, so a chunk of a token file, a
partition and a whole table reduce the same way.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from .bootstrap import BLOCK_CELLS, BOOT_BLOCKS, boot_block, item_block_sums
from .rows import _splitmix64

#: The sums kept per sequence set: how many sequences, and Σ nll, Σ tokens, Σ bytes, Σ words.
SEQ_FIELDS = ("sequences", "nll", "tokens", "bytes", "words")
#: The sums kept per bootstrap block (all but the count).
BLOCK_FIELDS = SEQ_FIELDS[1:]
#: The worst sequences kept (by loss per unit: per token, else per byte, else per sequence).
WORST_SEQUENCES = 20
#: Per-slice intervals for columns of at most this many values (their block sums fill BLOCK_CELLS).
MAX_BOOT_SEQ_SLICES = BLOCK_CELLS // (BOOT_BLOCKS * len(BLOCK_FIELDS))
#: The most distinct values a slice column of sequences may have.
MAX_SEQ_SLICE_VALUES = 1_000_000


def sequence_blocks(keys: np.ndarray) -> np.ndarray:
    """The bootstrap block of each sequence, from its key's 64-bit hash as a keyed row's
    (compute.rows._positions): a sequence's tokens all lie in one block, and the same sequence
    gets the same block in every evaluation and in the classifier figures of the same run."""
    return boot_block(keys, _splitmix64(keys))


@dataclass(frozen=True)
class WorstSequence:
    """One of the highest-loss sequences. Ordered by how bad it is: the higher loss, and of two
    that lose as much, the one that starts first (so the sequences kept are the same however the
    input is cut into batches)."""

    loss: float  # per unit (see SequenceStats.unit_of_loss), nats
    row: int  # 1-based position of the sequence's first row
    id: str
    nll: float
    tokens: float | None
    bytes: float | None

    def _rank(self) -> tuple[float, int]:
        return self.loss, -self.row

    def __lt__(self, other: WorstSequence) -> bool:
        return self._rank() < other._rank()

    def __gt__(self, other: WorstSequence) -> bool:
        return self._rank() > other._rank()


@dataclass
class SequenceSlices:
    """One slice column's sums: per value, SEQ_FIELDS; and per value and block, BLOCK_FIELDS
    (dense, or None when the column has more than MAX_BOOT_SEQ_SLICES values)."""

    column: str
    values: list
    sums: np.ndarray  # (len(values), len(SEQ_FIELDS))
    blocks: np.ndarray | None  # (len(values), len(BLOCK_FIELDS), BOOT_BLOCKS)
    _index: dict = field(default_factory=dict, repr=False)

    def __iadd__(self, other: SequenceSlices) -> SequenceSlices:
        if not self._index and self.values:
            self._index = {v: i for i, v in enumerate(self.values)}
        rows = []
        for v in other.values:
            j = self._index.get(v)
            if j is None:
                j = self._index[v] = len(self.values)
                self.values.append(v)
            rows.append(j)
        if len(self.values) > MAX_SEQ_SLICE_VALUES:
            from .slices import TooManySlices

            raise TooManySlices(self.column, MAX_SEQ_SLICE_VALUES)
        grow = len(self.values) - len(self.sums)
        if grow > 0:
            self.sums = np.vstack([self.sums, np.zeros((grow, len(SEQ_FIELDS)))])
        self.sums[rows] += other.sums
        if self.blocks is not None and (other.blocks is None or len(self.values) > MAX_BOOT_SEQ_SLICES):
            self.blocks = None
        if self.blocks is not None:
            if grow > 0:
                self.blocks = np.concatenate([self.blocks, np.zeros((grow, *self.blocks.shape[1:]))])
            self.blocks[rows] += other.blocks
        return self


@dataclass
class SequenceStats:
    """Mergeable sums over sequences (see the module's notes); ``+=`` merges, in input order."""

    sums: np.ndarray = field(default_factory=lambda: np.zeros(len(SEQ_FIELDS)))
    blocks: np.ndarray = field(default_factory=lambda: np.zeros((len(BLOCK_FIELDS), BOOT_BLOCKS)))
    groups: dict[str, SequenceSlices] = field(default_factory=dict)
    worst: list = field(default_factory=list)  # a min-heap of WorstSequence, at most WORST_SEQUENCES
    has: dict = field(default_factory=lambda: {"tokens": True, "bytes": True, "words": True})

    @property
    def sequences(self) -> int:
        return int(self.sums[0])

    def __iadd__(self, other: SequenceStats) -> SequenceStats:
        self.sums += other.sums
        self.blocks += other.blocks
        for col, sl in other.groups.items():
            if col in self.groups:
                self.groups[col] += sl
            else:
                self.groups[col] = SequenceSlices(col, list(sl.values), sl.sums.copy(),
                                                  None if sl.blocks is None else sl.blocks.copy())
        for w in other.worst:
            _keep_worst(self.worst, w)
        for k in self.has:
            self.has[k] = self.has[k] and other.has[k]
        return self

    def unit_of_loss(self) -> str:
        """What the worst sequences are ranked by: "token", else "byte", else "sequence"."""
        return "token" if self.has["tokens"] else "byte" if self.has["bytes"] else "sequence"


def _keep_worst(heap: list, item: WorstSequence) -> None:
    if len(heap) < WORST_SEQUENCES:
        heapq.heappush(heap, item)
    elif item > heap[0]:
        heapq.heapreplace(heap, item)


def reduce_sequences(keys: np.ndarray, nll: np.ndarray, tokens: np.ndarray | None, bytes_: np.ndarray | None,
                     words: np.ndarray | None, groups: dict, ids, row: np.ndarray) -> SequenceStats:
    """One batch of sequences → its sums. ``keys``: each sequence's 64-bit key hash; ``nll``: its
    negative log-likelihood (nats, ≥ 0); ``tokens``, ``bytes_``, ``words``: its counts (None when
    the input has none); ``groups``: column → (codes, values) of its slice values; ``ids``: its
    names (indexable); ``row``: the 1-based row where each sequence starts."""
    n = len(nll)
    zeros = np.zeros(n)
    columns = [nll] + [zeros if x is None else np.asarray(x, dtype=np.float64) for x in (tokens, bytes_, words)]
    sums = np.array([float(n)] + [float(c.sum()) for c in columns])
    block = sequence_blocks(keys)
    blocks = np.stack([np.bincount(block, weights=c, minlength=BOOT_BLOCKS) for c in columns])
    out = SequenceStats(sums, blocks, has={"tokens": tokens is not None, "bytes": bytes_ is not None,
                                           "words": words is not None})
    for col, (codes, values) in groups.items():
        m = len(values)
        per = np.column_stack([np.bincount(codes, minlength=m).astype(np.float64)]
                              + [np.bincount(codes, weights=c, minlength=m) for c in columns])
        sb = None
        if m <= MAX_BOOT_SEQ_SLICES:
            ib = item_block_sums(codes, block, m, BOOT_BLOCKS, columns)
            sb = np.stack(ib.dense(), axis=1)  # (m, fields, blocks)
        out.groups[col] = SequenceSlices(col, list(values), per, sb)
    unit = tokens if tokens is not None else bytes_
    loss = nll / np.maximum(unit, 1e-300) if unit is not None else nll
    if unit is not None:
        loss = np.where(unit > 0, loss, np.inf)
    top = np.lexsort((row, -loss))[:WORST_SEQUENCES]  # ties: the first sequences, as WorstSequence ranks them
    for i in top:
        _keep_worst(out.worst, WorstSequence(float(loss[i]), int(row[i]), str(ids[i]), float(nll[i]),
                                             None if tokens is None else float(tokens[i]),
                                             None if bytes_ is None else float(bytes_[i])))
    return out


def choice_sums(lls: np.ndarray, gold: np.ndarray, lengths: np.ndarray | None) -> dict[str, float]:
    """A multiple-choice task's per-document figures summed, the harness's way (lm-eval's
    ``process_results``): ``acc`` (argmax of the log-likelihoods is gold), ``acc_norm`` (argmax of
    log-likelihood per character of the choice), ``brier_score`` (Σ_k (softmax − one-hot)², on
    [0, 2]); with their squares for the standard errors. Sums, so tasks and chunks add up."""
    from scipy.special import softmax

    n = len(gold)
    acc = (np.argmax(lls, axis=1) == gold).astype(np.float64)
    q = softmax(lls, axis=1)
    onehot = np.zeros_like(q)
    onehot[np.arange(n), gold] = 1.0
    brier = ((q - onehot) ** 2).sum(axis=1)
    out = {"documents": float(n), "acc": acc.sum(), "acc_sq": (acc * acc).sum(), "brier_score": brier.sum()}
    if lengths is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = (np.argmax(lls / lengths, axis=1) == gold).astype(np.float64)
        out["acc_norm"], out["acc_norm_sq"] = norm.sum(), (norm * norm).sum()
    return out


#: A multiple-choice task's sums kept per bootstrap block: documents, acc, acc_norm, cross-entropy over options.
CHOICE_BLOCK_FIELDS = ("documents", "acc", "acc_norm", "cross_entropy")


@dataclass
class ChoiceStats:
    """One multiple-choice task's sums (see :func:`choice_sums`) and their bootstrap block sums,
    each document in the block of its key (as a sequence's), so two runs pair by document."""

    sums: dict
    blocks: np.ndarray  # (len(CHOICE_BLOCK_FIELDS), BOOT_BLOCKS)


def choice_stats(lls: np.ndarray, gold: np.ndarray, lengths: np.ndarray | None, keys: np.ndarray,
                 eps: float) -> ChoiceStats:
    """A multiple-choice task's documents → the harness's sums (:func:`choice_sums`) and ours: the
    cross-entropy over the options, −ln of the softmax of the log-likelihoods at the gold option,
    clipped to [eps, 1 − eps] as every other cross-entropy here."""
    from scipy.special import log_softmax

    sums = choice_sums(lls, gold, lengths)
    logq = log_softmax(lls, axis=1)[np.arange(len(gold)), gold]
    ce = -np.log(np.clip(np.exp(logq), eps, 1.0 - eps))
    sums["cross_entropy"] = float(ce.sum())
    acc = (np.argmax(lls, axis=1) == gold).astype(np.float64)
    if lengths is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = (np.argmax(lls / lengths, axis=1) == gold).astype(np.float64)
    else:
        norm = np.zeros(len(gold))
    block = sequence_blocks(keys)
    blocks = np.stack([np.bincount(block, weights=x, minlength=BOOT_BLOCKS)
                       for x in (np.ones(len(gold)), acc, norm, ce)])
    return ChoiceStats(sums, blocks)
