"""Two models' predictions matched row by row in bounded memory (compare, check --baseline).

Each input is read once, validated batch by batch as a report of it would be, and its rows are
cut into partitions: by a hash of the id when rows are matched by id (the same id always lands
in the same partition on both sides), else by position. By id, a partition is kept in memory
until a side's partitions hold SPILL_BYTES; from then on they go to Arrow IPC files in a
temporary folder, removed on every exit path; then the partitions are matched pair by pair — a
group of them at a time, at most GROUP_CELLS values in memory. By position, the two inputs are
read in step and each group is matched once both sides have read past it: nothing goes to disk.
Each matched pair of batches carries the baseline's row positions, which decide the bootstrap
blocks: the figures are the same whatever the partitioning (their sums' order aside).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

import numpy as np

from .. import errors
from ..errors import InputError, opt, quote
from .spec import Batch, Codes
from .validate import _as_text, _slice_values, key_hashes

if TYPE_CHECKING:
    from .source import LoadedInput

#: Partitions of rows matched by id: by the top ID_BITS bits of the id's hash (128 partitions).
ID_BITS = 7
#: Partitions of rows matched by position: this many consecutive rows each.
POSITION_RANGE = 1 << 18
#: A side's partitions stay in memory up to this many bytes, then go to disk.
SPILL_BYTES = 256 << 20
#: A group of partitions matched at once holds at most about this many values (rows × columns) per side.
GROUP_CELLS = 1 << 24
#: Temporary space asked for beyond the spilled bytes measured so far (a spill file's overhead).
DISK_MARGIN = 64 << 20


def _terminated(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _id_texts(ids) -> np.ndarray:
    """A batch's ids as text (an object array; None where missing), as the in-file text reads."""
    import pyarrow as pa

    if hasattr(ids, "iloc"):
        return _as_text(ids)
    return ids.cast(pa.string()).to_numpy(zero_copy_only=False).astype(object)


@dataclass
class _Side:
    """One input's rows, cut into partitions, in memory or in files."""

    name: str
    memory: dict = field(default_factory=dict)  # partition → [RecordBatch]
    files: dict = field(default_factory=dict)  # partition → [path]
    buffered: int = 0  # bytes held in memory
    rows: int = 0
    renormalized: int = 0

    def add(self, part: int, rb) -> None:
        self.memory.setdefault(part, []).append(rb)

    def flush(self, folder: str, label: str) -> None:
        """Every partition held in memory to a file of its own (one record batch each)."""
        import pyarrow as pa

        needed = self.buffered + DISK_MARGIN
        free = shutil.disk_usage(folder).free
        if free < needed:
            raise errors.UsageError(
                f"matching the rows of the two inputs needs temporary space: {needed >> 20:,} MiB more in "
                f"{folder}, which has {free >> 20:,} MiB free; set TMPDIR to a folder with room (about the "
                "size of both inputs)")
        for part, batches in self.memory.items():
            path = os.path.join(folder, f"{label}-{part}-{len(self.files.get(part, ())):05d}.arrow")
            table = pa.Table.from_batches(batches).combine_chunks()
            with pa.OSFile(path, "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
            self.files.setdefault(part, []).append(path)
        self.memory, self.buffered = {}, 0

    def table(self, part: int):
        """A partition's rows as one Arrow table (None when it has none)."""
        import pyarrow as pa

        pieces = []
        for path in self.files.get(part, ()):
            with pa.memory_map(path) as source:
                pieces.append(pa.ipc.open_stream(source).read_all())
        pieces += [pa.Table.from_batches([b]) for b in self.memory.get(part, ())]
        return pa.concat_tables(pieces) if pieces else None

    def parts(self) -> set:
        return set(self.memory) | set(self.files)


def _record_batch(batch: Batch, ids: np.ndarray | None, hashes: np.ndarray | None, groups: tuple[str, ...]):
    """A validated batch as Arrow columns: pos, id and its hash h, q0…, y or p0…, w and wexp, key,
    g:<column>."""
    import pyarrow as pa

    n = len(batch)
    cols = {"pos": pa.array(np.arange(batch.row0, batch.row0 + n, dtype=np.int64))}
    if ids is not None:
        cols["id"] = pa.array(ids, type=pa.string())
    if hashes is not None:
        cols["h"] = pa.array(hashes)
    for j in range(batch.q.shape[1]):
        cols[f"q{j}"] = pa.array(np.ascontiguousarray(batch.q[:, j]))
    if batch.y is not None:
        cols["y"] = pa.array(np.asarray(batch.y, dtype=np.int64))
    if batch.p is not None:
        for j in range(batch.p.shape[1]):
            cols[f"p{j}"] = pa.array(np.ascontiguousarray(batch.p[:, j]))
    if batch.w is not None:
        cols["w"] = pa.array(batch.w)
        cols["wexp"] = pa.array(np.full(n, batch.w_exp, dtype=np.int32))
    if batch.keys is not None:
        cols["key"] = pa.array(batch.keys)
    for g in groups:
        codes = batch.groups[g]
        cols[f"g:{g}"] = pa.array(codes.categories[codes.codes], type=pa.string())
    return pa.RecordBatch.from_pydict(cols)


def _batch(table, rows: np.ndarray, positions: np.ndarray, k: int, groups: tuple[str, ...]) -> Batch:
    """Rows ``rows`` of a partition's table as a Batch whose rows stand at ``positions``."""

    n = len(rows)
    q = np.empty((n, k), order="F")
    for j in range(k):
        q[:, j] = table[f"q{j}"][rows]
    names = set(table)
    y = table["y"][rows] if "y" in names else None
    p = None
    if "p0" in names:
        p = np.empty((n, k), order="F")
        for j in range(k):
            p[:, j] = table[f"p{j}"][rows]
    w, w_exp = None, 0
    if "w" in names:
        exps = table["wexp"][rows]
        w_exp = int(exps.max()) if n else 0
        w = np.ldexp(table["w"][rows], exps - w_exp)
    grouped = {}
    for g in groups:
        grouped[g] = _slice_values(_codes(table[f"g:{g}"].take(rows)))
    ids = table["id"].take(rows) if "id" in names else None
    return Batch(row0=0, q=q, y=y, p=p, w=w, w_exp=w_exp, groups=grouped, ids=ids,
                 keys=table["key"][rows] if "key" in names else None, positions=positions.astype(np.uint64))


def _codes(column):
    """An Arrow text column as Codes-like codes and categories (−1 where missing)."""
    import pyarrow as pa

    encoded = column.dictionary_encode().combine_chunks() if isinstance(column, pa.ChunkedArray) \
        else column.dictionary_encode()
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    if encoded.indices.null_count:
        codes = np.where(encoded.indices.is_null().to_numpy(zero_copy_only=False), -1, codes)
    return Codes(np.asarray(codes, dtype=np.intp), encoded.dictionary.to_numpy(zero_copy_only=False).astype(object))


def _by_hash(tb: dict, tc: dict) -> np.ndarray | None:
    """Each baseline row's candidate row (−1: none) by the ids' 64-bit hashes, each match checked
    on the text; None when a hash repeats on a side or a match's texts differ (then text decides)."""
    import pyarrow.compute as pc

    hb, hc = tb["h"], tc["h"]
    order = np.argsort(hc, kind="stable")
    sorted_c = hc[order]
    if (np.diff(sorted_c) == 0).any() or (np.diff(np.sort(hb)) == 0).any():
        return None
    at = np.minimum(np.searchsorted(sorted_c, hb), len(sorted_c) - 1)
    found = sorted_c[at] == hb
    position = np.where(found, order[at], -1)
    rows_b = np.flatnonzero(found)
    same = pc.equal(tb["id"].take(rows_b), tc["id"].take(position[rows_b]))
    if same.null_count or not pc.all(same).as_py():
        return None
    return position


def _numpy(table) -> dict:
    """An Arrow table's columns as numpy arrays; text (ids, slice values) stays Arrow."""
    return {name: table.column(name).to_numpy() if not name.startswith(("id", "g:"))
            else table.column(name).combine_chunks() for name in table.column_names}


def _first(rows: np.ndarray, n: int = 5) -> list[int]:
    """The n smallest row numbers, without sorting them all."""
    return np.sort(np.partition(rows, n - 1)[:n] if len(rows) > n else rows).tolist()


@dataclass
class _Rows:
    """Rows with a problem, gathered over all partitions in bounded memory: how many, and the
    first few (smallest) — what a one-line error names."""

    count: int = 0
    first: list = field(default_factory=list)

    def add(self, items, count: int | None = None) -> None:
        """``items``: the rows (or all the first ones of them); ``count``: how many in all."""
        items = list(items)
        self.count += len(items) if count is None else count
        self.first = sorted(self.first + sorted(items)[:5])[:5]

    def __iadd__(self, other: _Rows) -> _Rows:
        self.add(other.first, other.count)
        return self


@dataclass
class _Problems:
    """What is wrong with the match, gathered over all partitions and raised in one line."""

    duplicates: dict = field(default_factory=lambda: {"base": _Rows(), "cand": _Rows()})  # row numbers
    missing: _Rows = field(default_factory=_Rows)  # (baseline row number, id) of ids the candidate lacks
    extra: _Rows = field(default_factory=_Rows)  # candidate ids the baseline lacks
    label_rows: _Rows = field(default_factory=_Rows)  # baseline row numbers whose labels differ

    def __iadd__(self, other: _Problems) -> _Problems:
        """Another part's problems (partitions matched apart, on a cluster)."""
        for key in ("base", "cand"):
            self.duplicates[key] += other.duplicates[key]
        self.missing += other.missing
        self.extra += other.extra
        self.label_rows += other.label_rows
        return self

    def raise_first(self, base_name: str, cand_name: str, by_id: str | None, label_col: str | None,
                    matched_by: str) -> None:
        """The first problem found, in the order a reader checks: duplicates, then ids, then labels."""
        for key, name in (("base", base_name), ("cand", cand_name)):
            dup = self.duplicates[key]
            if dup.count:
                raise InputError(name, "ids must be unique to match rows", column=by_id, rows=dup.first,
                                 more=dup.count > 5)
        if self.missing.count or self.extra.count:
            if self.missing.count:
                row, first = self.missing.first[0]
                what = f"{self.missing.count} baseline id(s) are missing from it, e.g. {quote(first)}"
            else:
                what = f"{self.extra.count} of its id(s) are not in the baseline, e.g. {quote(self.extra.first[0])}"
            raise InputError(cand_name, f"its rows do not match the baseline's: {what}", column=by_id,
                             hint="both files must hold predictions for the same rows (or "
                             f"{opt('common_rows', flag=True)} compares the rows both hold)")
        if self.label_rows.count:
            rows = self.label_rows
            raise InputError(cand_name, f"labels differ from the baseline's when rows are matched by {matched_by}",
                             column=label_col, rows=rows.first, more=rows.count > 5,
                             hint="row numbers are the baseline's")


def matched_words(by_id: str | None, common: bool, dropped: tuple[int, int] | None) -> str:
    """How rows were matched, in words (the report's "matched by …")."""
    if not by_id:
        return "row order"
    how = f"id column {quote(by_id)}"
    if common and dropped is not None:
        b, c = dropped
        how += f", the rows both hold (the baseline lost {b:,} row{'s' * (b != 1)}, the candidate {c:,})"
    elif common:
        how += ", the rows both hold"
    return how


class _Reading:
    """One input's (partition, record batch) pieces, read on demand and held until released."""

    def __init__(self, pieces: Iterator) -> None:
        self.pieces, self.held, self.at, self.done = pieces, {}, -1, False

    def read_past(self, part: int) -> None:
        """Read until a piece beyond ``part`` is held (partitions come in rising order) or the input ends."""
        while not self.done and self.at <= part:
            piece = next(self.pieces, None)
            if piece is None:
                self.done = True
            else:
                self.at = piece[0]
                self.held.setdefault(piece[0], []).append(piece[1])

    def release(self, start: int, stop: int) -> list:
        """The held pieces of partitions ``start`` … ``stop - 1``, as tables, let go here."""
        import pyarrow as pa

        return [pa.Table.from_batches([rb]) for part in range(start, stop) for rb in self.held.pop(part, [])]


class PairedRows:
    """Two validated inputs matched row by row: a context manager (the temporary folder is removed
    on leaving it) whose :meth:`pairs` yields (baseline batch, candidate batch) pairs.

    ``by_id``: the id column both have (else rows match by position); ``common``: keep the ids both
    hold and count what each side lost, instead of requiring the same ids."""

    def __init__(self, base: LoadedInput, cand: LoadedInput, by_id: str | None, common: bool = False,
                 spill_bytes: int | None = None, group_cells: int | None = None) -> None:
        self.base_input, self.cand_input = base, cand
        self.by_id, self.common = by_id, common
        self.spill_bytes = SPILL_BYTES if spill_bytes is None else spill_bytes
        self.group_cells = GROUP_CELLS if group_cells is None else group_cells
        self.folder: str | None = None
        self.base, self.cand = _Side(base.source.name), _Side(cand.source.name)
        self.dropped: tuple[int, int] | None = None
        self.spilled = False
        self._told = (0, 0)  # each side's renormalised rows handed on with the pairs so far

    def __enter__(self) -> PairedRows:
        import signal
        import threading

        self._sigterm = None
        if threading.current_thread() is threading.main_thread():  # SIGTERM, too, leaves through __exit__
            self._sigterm = signal.signal(signal.SIGTERM, _terminated)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        if self._sigterm is not None:
            signal.signal(signal.SIGTERM, self._sigterm)

    # ------------------------------------------------------------------ pass 1: read and cut
    def _pieces(self, loaded: LoadedInput, side: _Side) -> Iterator[tuple[int, object]]:
        """An input's rows as (partition, record batch) pieces, in the order read (by position:
        partitions in rising order); the side counts its rows and renormalised rows as it goes."""
        groups = tuple(loaded.layout.group_cols)
        for batch in loaded.batches():
            ids = _id_texts(batch.ids) if self.by_id else None
            hashes = key_hashes(ids) if self.by_id else None
            if self.by_id:
                part = (hashes >> np.uint64(64 - ID_BITS)).astype(np.intp)
            else:
                part = (np.arange(batch.row0, batch.row0 + len(batch)) // POSITION_RANGE).astype(np.intp)
            rb = _record_batch(batch, ids, hashes, groups)
            side.rows += len(batch)
            side.renormalized += batch.renormalized
            order = np.argsort(part, kind="stable")
            bounds = np.flatnonzero(np.diff(part[order])) + 1
            rb = rb.take(order)
            for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(order)]):
                yield int(part[order[start]]), rb.slice(start, stop - start)

    def _cut(self, loaded: LoadedInput, side: _Side, label: str) -> None:
        for part, rb in self._pieces(loaded, side):
            side.add(part, rb)
            side.buffered += rb.nbytes
            if side.buffered > self.spill_bytes:
                if self.folder is None:
                    self.folder = tempfile.mkdtemp(prefix="evalreport-")
                side.flush(self.folder, label)
                self.spilled = True

    # ------------------------------------------------------------------ pass 2: match
    def pairs(self) -> Iterator[tuple[Batch, Batch]]:
        """The matched rows, a group of partitions at a time, in the baseline's order within each;
        the first problem of the match (see :meth:`_raise`) is raised, in one line, at the end of the
        iteration — the caller writes nothing before it has taken every pair."""
        if not self.by_id:
            yield from self._in_step()
            return
        self._cut(self.base_input, self.base, "base")
        self._cut(self.cand_input, self.cand, "cand")
        if self.spilled:  # what is still in memory goes to disk too: matching needs the room
            for side, label in ((self.base, "base"), (self.cand, "cand")):
                side.flush(self.folder, label)
        self._check_classes()
        problems, dropped = _Problems(), [0, 0]
        for parts in self._groups():
            tb, tc = (self._load(side, parts) for side in (self.base, self.cand))
            matched = self._match(tb, tc, problems, dropped)
            if matched is not None:
                yield from self._batches(tb, tc, matched)
        self._raise(problems)
        if self.common:
            if dropped[0] == self.base.rows:
                raise InputError(self.cand.name, "has no id in common with the baseline", column=self.by_id)
            self.dropped = (dropped[0], dropped[1])

    def _in_step(self) -> Iterator[tuple[Batch, Batch]]:
        """Rows matched by position, both inputs read in step: a group of consecutive partitions is
        matched once both sides have read past it, and let go — nothing goes to disk, and each side
        holds at most a group and a batch. The problems (rows that differ in number, labels that
        differ) are raised at the end, as by id."""
        import pyarrow as pa

        base_in, cand_in = self.base_input, self.cand_input
        take = max(1, self.group_cells // (POSITION_RANGE * self._width()))  # partitions a group: as _groups
        sides = [_Reading(self._pieces(base_in, self.base)), _Reading(self._pieces(cand_in, self.cand))]
        problems, dropped = _Problems(), [0, 0]
        start = 0
        while True:
            for s in sides:
                s.read_past(start + take - 1)
            if all(s.done and not s.held for s in sides):
                break
            tb, tc = (_numpy(pa.concat_tables(t)) if (t := s.release(start, start + take)) else {} for s in sides)
            start += take
            if not tb or not tc or len(tb["pos"]) != len(tc["pos"]):
                continue  # a side with other rows: the count is told at the end
            yield from self._batches(tb, tc, self._match(tb, tc, problems, dropped))
        self._check_classes()
        if self.base.rows != self.cand.rows:
            raise InputError(self.cand.name, f"has {self.cand.rows} rows but the baseline has {self.base.rows}",
                             hint="without an id column in both files, rows are matched by position")
        self._raise(problems)

    def _batches(self, tb: dict, tc: dict, matched) -> Iterator[tuple[Batch, Batch]]:
        """A group's matched rows as pairs of batches of the baseline's chunk size; each pair carries
        the renormalised rows each side counted since the last pair (their sum is the sides' count)."""
        rb, rc, positions = matched
        k = sum(1 for name in tb if name[0] == "q")
        base_in, cand_in = self.base_input, self.cand_input
        for start in range(0, len(rb), base_in.chunk_rows):
            sl = slice(start, start + base_in.chunk_rows)
            bb = _batch(tb, rb[sl], positions[sl], k, tuple(base_in.layout.group_cols))
            bc = _batch(tc, rc[sl], positions[sl], k, tuple(cand_in.layout.group_cols))
            bb.renormalized, bc.renormalized = (self.base.renormalized - self._told[0],
                                                self.cand.renormalized - self._told[1])
            self._told = (self.base.renormalized, self.cand.renormalized)
            yield bb, bc

    def _check_classes(self) -> None:
        """A binary score's classes (its labels, known once read) must be the baseline's."""
        base_in, cand_in = self.base_input, self.cand_input
        if base_in.layout.mode == "score" and base_in.classes != cand_in.classes:
            raise InputError(self.cand.name, "its classes differ from the baseline's",
                             hint=f"baseline {', '.join(map(quote, base_in.classes))}, candidate "
                             f"{', '.join(map(quote, cand_in.classes))}")

    def _width(self) -> int:
        """Values a row holds in a partition (position, id, hash, label, and a column per class)."""
        layout = self.base_input.layout
        return 4 + len(layout.classes) * (2 if layout.mode == "soft" else 1)

    def _groups(self) -> Iterator[list[int]]:
        """Consecutive partitions, as many at once as hold at most group_cells values per side."""
        parts = sorted(self.base.parts() | self.cand.parts())
        per_part = max(1, max(self.base.rows, self.cand.rows) * self._width() // max(len(parts), 1))
        take = max(1, self.group_cells // per_part)
        for i in range(0, len(parts), take):
            yield parts[i : i + take]

    @staticmethod
    def _load(side: _Side, parts: list[int]) -> dict:
        import pyarrow as pa

        tables = [t for t in (side.table(p) for p in parts) if t is not None]
        return _numpy(pa.concat_tables(tables)) if tables else {}

    def _match(self, tb: dict, tc: dict, problems: _Problems, dropped: list):
        """The rows of a group that match: baseline rows, candidate rows, baseline positions."""
        if not tb or not tc:
            if tb and self.by_id:
                self._missing(tb, np.ones(len(tb["pos"]), dtype=bool), problems, dropped)
            if tc and self.by_id:
                self._extra(tc["id"], np.ones(len(tc["pos"]), dtype=bool), problems, dropped)
            return None
        if self.by_id:
            position = _by_hash(tb, tc)
            if position is None:  # a hash repeated on a side: a repeated id (or two ids alike in hash)
                position = self._by_text(tb, tc, problems)
                if position is None:
                    return None
            missing = position < 0
            self._missing(tb, missing, problems, dropped)
            extra = np.ones(len(tc["pos"]), dtype=bool)
            extra[position[~missing]] = False
            self._extra(tc["id"], extra, problems, dropped)
            rows_b = np.flatnonzero(~missing)
            rows_c = position[~missing]
        else:
            rows_b = np.argsort(tb["pos"], kind="stable")
            rows_c = np.argsort(tc["pos"], kind="stable")
        order = np.argsort(tb["pos"][rows_b], kind="stable")
        rows_b, rows_c = rows_b[order], rows_c[order]
        positions = tb["pos"][rows_b]
        if "y" in tb and "y" in tc:
            differ = tb["y"][rows_b] != tc["y"][rows_c]
            if differ.any():
                problems.label_rows.add(_first(positions[differ] + 1), int(differ.sum()))
        return rows_b, rows_c, positions

    @staticmethod
    def _by_text(tb: dict, tc: dict, problems: _Problems) -> np.ndarray | None:
        """Match on the ids' text (a hash repeats): None when an id repeats, which is noted."""
        import pandas as pd

        texts = {}
        for key, t in (("base", tb), ("cand", tc)):
            texts[key] = t["id"].to_numpy(zero_copy_only=False).astype(object)
            dup = pd.Series(texts[key], dtype=object).duplicated(keep=False).to_numpy()
            if dup.any():
                problems.duplicates[key].add(_first(t["pos"][dup] + 1), int(dup.sum()))
        if problems.duplicates["base"].count or problems.duplicates["cand"].count:
            return None
        return pd.Index(texts["cand"], dtype=object).get_indexer(texts["base"])

    def _missing(self, tb: dict, missing: np.ndarray, problems: _Problems, dropped: list) -> None:
        count = int(missing.sum())
        dropped[0] += count
        if count and not self.common:
            rows = tb["pos"][missing]
            first = np.sort(rows)[:5]
            at = np.flatnonzero(missing)[np.argsort(rows, kind="stable")[:5]]
            problems.missing.add(zip((first + 1).tolist(), tb["id"].take(at).to_pylist()), count)

    def _extra(self, ids, extra: np.ndarray, problems: _Problems, dropped: list) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        count = int(extra.sum())
        dropped[1] += count
        if count and not self.common:
            texts = ids.filter(pa.array(extra)).cast(pa.string())
            first = texts.take(pc.sort_indices(texts)[:5]).to_pylist()
            problems.extra.add((str(x) for x in first), count)

    def _raise(self, problems: _Problems) -> None:
        problems.raise_first(self.base.name, self.cand.name, self.by_id, self.cand_input.layout.label_col,
                             self.matched_by)

    @property
    def matched_by(self) -> str:
        return matched_words(self.by_id, self.common, self.dropped)
