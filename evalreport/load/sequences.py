"""Language-model output in a table (CSV, Parquet, Feather, JSON lines, a DataFrame), recognised by
its columns — a ``logprob`` column and no probability columns:

- **sequence level** (a ``tokens`` column): one row per sequence — ``id``, ``logprob`` (the sum of
  the natural-log probabilities of its tokens), ``tokens``, optional ``bytes`` (or ``text``, whose
  UTF-8 bytes are counted), slices;
- **token level** (no ``tokens`` column): one row per token — ``id`` (its sequence), ``logprob``,
  optional ``bytes``; a sequence's rows stand together (as a model writes them), and are summed
  into the sequence as they stream by, so any number of tokens is read in bounded memory;
- **multiple choice** (an ``option`` column; or JSON lines whose ``logprobs`` field is an object
  of option → log-probability): one row per option, the gold option named by ``label`` (on the
  question's rows) or marked by ``gold``; read whole, as one row per question for the classifier.

Every problem is one :class:`~evalreport.errors.InputError` naming the file, the column and rows.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, opt, quote
from .spec import InputSpec, _list_cols
from .validate import key_hashes

LOGPROB, TOKENS, BYTES, TEXT, OPTION, GOLD, LOGPROBS = "logprob", "tokens", "bytes", "text", "option", "gold", "logprobs"
#: The lowest log-probability of a token: −ln of the largest float (−709.78, a probability of
#: 5.6e-309, below any a model's softmax gives), so that a perplexity, exp of a mean, is a float.
LOWEST_LOG_PROBABILITY = -math.log(sys.float_info.max)
#: The most rows a multiple-choice file may hold (it is read whole).
MAX_CHOICE_ROWS = 20_000_000


def lm_kind(columns: list[str], spec: InputSpec) -> str | None:
    """"sequences", "tokens" or "choices" when the columns say a language model's output (a
    ``logprob`` column, no probability columns), else None (a classifier's predictions)."""
    present = set(columns)
    if spec.score_col is not None or spec.target_prefix is not None or spec.classes is not None:
        return None
    if LOGPROBS in present and LOGPROB not in present and not any(c.startswith(spec.prob_prefix) for c in columns):
        return "choices"
    if LOGPROB not in present or any(c.startswith(spec.prob_prefix) for c in columns):
        return None
    if OPTION in present:
        return "choices"
    return "sequences" if TOKENS in present else "tokens"


@dataclass(frozen=True)
class SequenceLayout:
    """What each column of a sequence or token file is (the readers read ``usecols``)."""

    level: str  # "sequences" or "tokens"
    id_col: str | None
    tokens_col: str | None
    bytes_col: str | None
    text_col: str | None
    group_cols: tuple[str, ...]
    logprob_col: str = LOGPROB
    label_col: None = None

    @property
    def numeric_cols(self) -> list[str]:
        return [c for c in (self.logprob_col, self.tokens_col, self.bytes_col) if c]

    @property
    def text_cols(self) -> list[str]:
        return [c for c in (self.id_col, self.text_col, *self.group_cols) if c]

    @property
    def usecols(self) -> list[str]:
        return list(dict.fromkeys(self.numeric_cols + self.text_cols))

    @property
    def dictionary_cols(self) -> list[str]:
        """Text columns a reader may decode as dictionaries (each repeats over a sequence's tokens)."""
        return [c for c in (self.id_col, *self.group_cols) if c] if self.level == "tokens" else list(self.group_cols)


def sequence_layout(columns: list[str], spec: InputSpec, level: str, name: str) -> SequenceLayout:
    present = set(columns)
    for g in spec.group_by:
        if g not in present:
            raise InputError(name, f"no {opt('group_by').rstrip('=')} column {quote(g)}",
                             hint=f"the columns are {_list_cols(columns)}")
    id_col = spec.id_col or ("id" if "id" in present else None)
    if spec.id_col and spec.id_col not in present:
        raise InputError(name, f"no id column {quote(spec.id_col)}", hint=f"the columns are {_list_cols(columns)}")
    if level == "tokens" and id_col is None:
        raise InputError(name, "a file of one log-probability per token needs an id column naming each token's "
                         "sequence", hint=f"the columns are {_list_cols(columns)}; add 'id' (or, for one row per "
                         "sequence, a 'tokens' column with its number of tokens)")
    text_col = TEXT if TEXT in present and BYTES not in present else None
    return SequenceLayout(level, id_col, TOKENS if level == "sequences" else None, BYTES if BYTES in present else None,
                          text_col, tuple(spec.group_by))


@dataclass
class SequenceBatch:
    """Whole sequences, validated: keys (64-bit hashes of their ids), ids, Σ −logprob (nats),
    tokens, bytes (None when the input has none), slice values (column → (codes, values)), and
    the 1-based row where each starts."""

    keys: np.ndarray
    ids: list
    nll: np.ndarray
    tokens: np.ndarray | None
    bytes: np.ndarray | None
    groups: dict
    rows: np.ndarray

    def __len__(self) -> int:
        return len(self.nll)


@dataclass
class _Open:
    """A token-level sequence still being read (its tokens may go on in the next chunk)."""

    id: str
    row: int
    nll: float
    tokens: float
    bytes: float
    groups: dict = field(default_factory=dict)


class SequenceInput:
    """A sequence or token file read once: :meth:`batches` yields whole sequences."""

    def __init__(self, reader, spec: InputSpec, level: str, chunk_rows: int) -> None:
        self._reader = reader
        self.spec = spec
        self.layout = sequence_layout(reader.columns, spec, level, reader.info.name)
        self.chunk_rows = chunk_rows
        self.rows = 0
        self.sequences = 0
        self._open: _Open | None = None
        self._keys: list[np.ndarray] = []
        self._starts: list[np.ndarray] = []

    @property
    def source(self):
        return self._reader.info

    @property
    def name(self) -> str:
        return self._reader.info.name

    def batches(self) -> Iterator[SequenceBatch]:
        try:
            for frame in self._reader.frames(self.layout, self.chunk_rows):
                table = _arrow(frame)
                for start in range(0, table.num_rows, self.chunk_rows):
                    part = table.slice(start, self.chunk_rows)
                    batch = self._batch(part)
                    self.rows += part.num_rows
                    if batch is not None and len(batch):
                        yield self._counted(batch)
            last = self._close_open()
            if last is not None:
                yield self._counted(last)
        finally:
            self._reader.close()
        if self.rows == 0:
            raise InputError(self.name, "has a header but no rows")
        self._check_unique()

    def _counted(self, batch: SequenceBatch) -> SequenceBatch:
        self.sequences += len(batch)
        self._keys.append(batch.keys)
        self._starts.append(batch.rows)
        return batch

    # ----------------------------------------------------------------- one chunk

    def _batch(self, t) -> SequenceBatch | None:
        lay, n, row0 = self.layout, t.num_rows, self.rows
        if n == 0:
            return None
        logprob = self._floats(t, lay.logprob_col, row0)
        self._check_logprobs(logprob, row0)
        nbytes = self._counts(t, lay.bytes_col, row0, minimum=0) if lay.bytes_col else None
        if lay.text_col:
            nbytes = self._text_bytes(t, lay.text_col, row0)
        groups = {g: _slice_codes(t.column(g)) for g in lay.group_cols}
        if lay.level == "sequences":
            tokens = self._counts(t, lay.tokens_col, row0, minimum=1)
            self._check_reachable(logprob, tokens, row0)
            ids = self._ids(t, row0) if lay.id_col else [str(row0 + i + 1) for i in range(n)]
            rows = np.arange(row0 + 1, row0 + n + 1, dtype=np.int64)
            return _make(ids, -logprob, tokens, nbytes, groups, rows)
        self._check_reachable(logprob, None, row0)
        return self._runs(t, -logprob, nbytes, groups, row0)

    def _runs(self, t, nll: np.ndarray, nbytes, groups: dict, row0: int) -> SequenceBatch | None:
        """Token rows → the sequences they complete (runs of one id), the last one kept open: it
        may go on in the next chunk."""
        import pyarrow as pa

        ids = t.column(self.layout.id_col)
        if ids.null_count:
            rows = np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))
            raise InputError(self.name, "missing values", column=self.layout.id_col,
                             rows=(rows[:5] + row0 + 1).tolist(), more=len(rows) > 5)
        n = len(ids)
        starts = _run_starts(ids)
        change = np.zeros(n, dtype=bool)
        change[starts] = True
        run_ids = [str(x) for x in ids.take(pa.array(starts)).to_pylist()]
        runs = {"nll": np.add.reduceat(nll, starts), "tokens": np.diff(np.append(starts, n)).astype(np.float64),
                "bytes": np.add.reduceat(nbytes, starts) if nbytes is not None else np.zeros(len(starts)),
                "rows": starts.astype(np.int64) + row0 + 1}
        run_groups = {g: self._run_values(g, codes, values, change, starts, row0)
                      for g, (codes, values) in groups.items()}
        closed = []
        first = 0
        if self._open is not None and run_ids[0] == self._open.id:  # the open sequence goes on here
            o = self._open
            o.nll += float(runs["nll"][0])
            o.tokens += float(runs["tokens"][0])
            o.bytes += float(runs["bytes"][0])
            for g in groups:
                if run_groups[g][0] != o.groups[g]:
                    raise InputError(self.name, "a slice value changes inside a sequence (its tokens must share one)",
                                     column=g, rows=[int(runs["rows"][0])])
            first = 1
        if self._open is not None and (first == 0 or len(starts) > 1):
            closed.append(self._close_open(as_list=True))
        last = len(starts) - 1
        if first <= last:
            self._open = _Open(run_ids[last], int(runs["rows"][last]), float(runs["nll"][last]),
                               float(runs["tokens"][last]), float(runs["bytes"][last]),
                               {g: run_groups[g][last] for g in groups})
        middle = slice(first, last)
        ids_out = [x[0] for x in closed] + run_ids[middle]
        if not ids_out:
            return None

        def joined(key: str, i: int) -> np.ndarray:
            return np.concatenate([np.array([x[i] for x in closed], dtype=runs[key].dtype), runs[key][middle]])

        nbytes_out = joined("bytes", 4) if self.layout.bytes_col or self.layout.text_col else None
        groups_out = {g: _codes([x[5][g] for x in closed] + run_groups[g][middle]) for g in groups}
        return _make(ids_out, joined("nll", 2), joined("tokens", 3), nbytes_out, groups_out, joined("rows", 1))

    def _run_values(self, g: str, codes: np.ndarray, values: list, change: np.ndarray, starts: np.ndarray,
                    row0: int) -> list:
        """A slice column's value per run of tokens (from its codes); a value that changes inside a
        run (where the id does not) is an error."""
        changed = np.flatnonzero((codes[1:] != codes[:-1]) & ~change[1:]) + 1
        if len(changed):
            raise InputError(self.name, "a slice value changes inside a sequence (its tokens must share one)",
                             column=g, rows=(changed[:5] + row0 + 1).tolist(), more=len(changed) > 5)
        return [values[c] for c in codes[starts]]

    def _close_open(self, as_list: bool = False):
        o, self._open = self._open, None
        if o is None:
            return None
        item = (o.id, o.row, o.nll, o.tokens, o.bytes, o.groups)
        return item if as_list else self._from_list([item])

    def _from_list(self, items: list) -> SequenceBatch | None:
        if not items:
            return None
        ids = [x[0] for x in items]
        rows = np.array([x[1] for x in items], dtype=np.int64)
        nll = np.array([x[2] for x in items], dtype=np.float64)
        tokens = np.array([x[3] for x in items], dtype=np.float64)
        nbytes = np.array([x[4] for x in items], dtype=np.float64) if self.layout.bytes_col or self.layout.text_col \
            else None
        groups = {g: _codes([x[5][g] for x in items]) for g in self.layout.group_cols}
        return _make(ids, nll, tokens, nbytes, groups, rows)

    # ----------------------------------------------------------------- columns

    def _floats(self, t, col: str, row0: int) -> np.ndarray:
        import pyarrow as pa

        a = t.column(col)
        if not pa.types.is_floating(a.type) and not pa.types.is_integer(a.type) and not pa.types.is_null(a.type):
            values = a.to_pylist()
            bad = [i for i, v in enumerate(values) if v is not None and not _is_number(v)]
            raise InputError(self.name, f"not a number: {quote(values[bad[0]]) if bad else 'text'}", column=col,
                             rows=[row0 + i + 1 for i in bad[:5]], more=len(bad) > 5)
        x = a.cast(pa.float64()).to_numpy(zero_copy_only=False)
        missing = np.flatnonzero(np.isnan(x))
        if len(missing):
            raise InputError(self.name, "missing values", column=col, rows=(missing[:5] + row0 + 1).tolist(),
                             more=len(missing) > 5)
        return x

    def _check_logprobs(self, lp: np.ndarray, row0: int) -> None:
        positive = np.flatnonzero(lp > 1e-9)
        if len(positive):
            raise InputError(self.name, f"log-probabilities above 0 (e.g. {lp[positive[0]]:g}): a probability is "
                             "at most 1, its log at most 0", column=self.layout.logprob_col,
                             rows=(positive[:5] + row0 + 1).tolist(), more=len(positive) > 5,
                             hint="write the natural log of each probability (a probability itself? write ln p)")
        infinite = np.flatnonzero(np.isinf(lp))
        if len(infinite):
            raise InputError(self.name, "a log-probability of −inf: the model gave the text probability 0, so its "
                             "cross-entropy is infinite", column=self.layout.logprob_col,
                             rows=(infinite[:5] + row0 + 1).tolist(), more=len(infinite) > 5)

    def _check_reachable(self, lp: np.ndarray, tokens: np.ndarray | None, row0: int) -> None:
        """No token's log-probability lies below LOWEST_LOG_PROBABILITY: a lower one is a stand-in
        for −inf, such as float32's lowest, −3.4e38, and its perplexity would lie beyond the largest
        float. On a row of a sequence, its tokens' mean."""
        per_token = lp / tokens if tokens is not None else lp
        bad = np.flatnonzero(per_token < LOWEST_LOG_PROBABILITY)
        if len(bad):
            each = "a token's" if tokens is None else "its tokens' mean"
            raise InputError(self.name, f"a log-probability of {lp[bad[0]]:g}: {each} lies below "
                             f"{LOWEST_LOG_PROBABILITY:.2f} (a probability of 5.6e-309, below any a model's softmax "
                             "gives), where a perplexity passes the largest float", column=self.layout.logprob_col,
                             rows=(bad[:5] + row0 + 1).tolist(), more=len(bad) > 5,
                             hint="a stand-in for −inf (float32's lowest is −3.4e38)? A text given probability 0 "
                                  "has an infinite cross-entropy: leave it out, or write the model's own log-probability")

    def _counts(self, t, col: str, row0: int, minimum: int) -> np.ndarray:
        x = self._floats(t, col, row0)
        bad = np.flatnonzero((x < minimum) | (x != np.floor(x)))
        if len(bad):
            what = "a whole number of tokens, at least 1" if minimum else "a whole number of bytes"
            raise InputError(self.name, f"must be {what}, got {x[bad[0]]:g}", column=col,
                             rows=(bad[:5] + row0 + 1).tolist(), more=len(bad) > 5)
        return x

    def _text_bytes(self, t, col: str, row0: int) -> np.ndarray:
        import pyarrow as pa
        import pyarrow.compute as pc

        a = t.column(col)
        if a.null_count:
            rows = np.flatnonzero(a.is_null().to_numpy(zero_copy_only=False))
            raise InputError(self.name, "missing values", column=col, rows=(rows[:5] + row0 + 1).tolist())
        return pc.binary_length(a.cast(pa.string()).cast(pa.binary())).to_numpy(zero_copy_only=False).astype(np.float64)

    def _ids(self, t, row0: int) -> list[str]:
        values = t.column(self.layout.id_col).to_pylist()
        missing = [i for i, v in enumerate(values) if v is None]
        if missing:
            raise InputError(self.name, "missing values", column=self.layout.id_col,
                             rows=[row0 + i + 1 for i in missing[:5]], more=len(missing) > 5)
        return [str(v) for v in values]

    # ----------------------------------------------------------------- the whole input

    def _check_unique(self) -> None:
        """Each sequence once: a repeated id (in a sequence file), or a sequence whose tokens do
        not stand together (in a token file), is an error naming both rows."""
        if not self._keys:
            return
        keys, starts = np.concatenate(self._keys), np.concatenate(self._starts)
        order = np.argsort(keys, kind="stable")
        same = np.flatnonzero(keys[order][1:] == keys[order][:-1])
        if not len(same):
            return
        a, b = sorted((int(starts[order[same[0]]]), int(starts[order[same[0] + 1]])))
        col = self.layout.id_col or "id"
        if self.layout.level == "tokens":
            raise InputError(self.name, f"the tokens of one sequence do not stand together: rows {a:,} and {b:,} "
                             "start the same id apart", column=col, hint="sort the rows by id (keeping each "
                             "sequence's tokens in order)")
        raise InputError(self.name, f"an id is repeated (rows {a:,} and {b:,}): each sequence must be one row",
                         column=col, hint="a file with several rows per sequence has no 'tokens' column: one row "
                         "per token")


def _make(ids: list, nll, tokens, nbytes, groups: dict, rows) -> SequenceBatch:
    """``groups``: column → (codes, values)."""
    return SequenceBatch(key_hashes(ids), ids, np.asarray(nll, dtype=np.float64), tokens, nbytes, groups, rows)


def _dictionary(column):
    """A text column of a chunk as one dictionary array (as read, or encoded here)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(arr.type):
        return arr
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = arr.cast(pa.string())
    return pc.dictionary_encode(arr)


def _unique_codes(enc) -> np.ndarray:
    """The codes of a dictionary array (no nulls) with one code per distinct value: its indices as
    they are when its dictionary holds each value once (as Arrow's readers and encoder give it),
    else renumbered (Arrow allows a dictionary to repeat a value)."""
    import pyarrow.compute as pc

    codes = enc.indices.to_numpy(zero_copy_only=False)
    if pc.count_distinct(enc.dictionary).as_py() == len(enc.dictionary):
        return codes
    index: dict = {}
    renumber = np.array([index.setdefault(v, len(index)) for v in enc.dictionary.to_pylist()], dtype=np.intp)
    return renumber[codes]


def _run_starts(ids) -> np.ndarray:
    """Where each run of one id starts in a chunk's id column: by the ids' codes (a dictionary as
    read, or as encoded here), compared as integers."""
    codes = _unique_codes(_dictionary(ids))
    if len(codes) == 0:
        return np.zeros(0, dtype=np.intp)
    return np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))


def _slice_codes(column) -> tuple[np.ndarray, list]:
    """A slice column of a chunk as (codes, values) through Arrow's dictionary encoding, with no
    Python object per row; missing and blank values are the one value MISSING_GROUP (None)."""
    from .spec import MISSING_GROUP

    enc = _dictionary(column)
    values = [MISSING_GROUP if v is None or not str(v).strip() else str(v) for v in enc.dictionary.to_pylist()]
    codes = enc.indices.fill_null(len(values)).to_numpy(zero_copy_only=False).astype(np.intp)
    values.append(MISSING_GROUP)  # the code of a null
    used = np.bincount(codes, minlength=len(values)) > 0  # a dictionary may hold values no row of the chunk has
    index: dict = {}
    renumber = np.array([index.setdefault(v, len(index)) if u else -1 for v, u in zip(values, used)], dtype=np.intp)
    return renumber[codes], list(index)  # blanks and nulls: one value, MISSING_GROUP


def _codes(values: list) -> tuple[np.ndarray, list]:
    index: dict = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.intp, count=len(values))
    return codes, list(index)


def _is_number(v) -> bool:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return True
    try:
        float(str(v))
        return not math.isnan(float(str(v))) or str(v).strip().lower() == "nan"
    except ValueError:
        return False


def _arrow(frame):
    """A reader's chunk (an Arrow table or record batch, or a pandas frame) as an Arrow table."""
    import pyarrow as pa

    if isinstance(frame, pa.Table):
        return frame
    if isinstance(frame, pa.RecordBatch):
        return pa.Table.from_batches([frame])
    return pa.Table.from_pandas(frame, preserve_index=False)
