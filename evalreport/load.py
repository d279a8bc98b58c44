"""Load: a predictions file or DataFrame → validated batches of numpy arrays.

Every input error is found here, before any figure is computed, and raised as
an :class:`~evalreport.errors.InputError` naming the file, the column and the
first offending rows (1-based data rows: row 1 is the first line after the
header). Nothing downstream validates again.

The input is read in chunks of rows, so a file of any size passes through in
bounded memory; a DataFrame goes through the very same checks.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, softmax

from .errors import InputError, UsageError
from .ladder import UNITS

#: Rows whose probabilities sum to 1 within this are scored as they are.
SUM_TOLERANCE = 1e-3
#: Rows validated and reduced at a time (bounds the temporaries of rows × classes).
DEFAULT_CHUNK_ROWS = 131_072
#: Float64 machine epsilon, the default clip (as ``sklearn.metrics.log_loss``).
DEFAULT_EPS = float(np.finfo(np.float64).eps)
#: Strings read as "missing" in numeric columns. Label, id and slice columns
#: keep every string as it is, so a class called "NA" stays a class.
NUMERIC_NA = ["", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "null", "NULL", "None", "#N/A", "<NA>"]
MISSING_GROUP = "(missing)"


@dataclass(frozen=True)
class InputSpec:
    """How to read a predictions table (the contract's input options)."""

    label_col: str = "label"
    prob_prefix: str = "p_"
    score_col: str | None = None
    positive_label: str = "1"
    target_prefix: str | None = None
    logits: bool = False
    weight_col: str | None = None
    group_by: tuple[str, ...] = ()
    id_col: str | None = None  # None: use "id" when the table has it
    eps: float = DEFAULT_EPS
    renormalize: bool = False

    @classmethod
    def from_options(cls, options: Mapping) -> InputSpec:
        """The spec among keyword options (evaluate()'s or the CLI's); other keys are ignored."""
        return cls(**{f.name: options[f.name] for f in fields(cls) if f.name in options})

    def __post_init__(self) -> None:
        if isinstance(self.group_by, str):
            object.__setattr__(self, "group_by", (self.group_by,))
        if not (0 < self.eps < 0.5):
            raise UsageError(f"--eps must lie in (0, 0.5), got {self.eps}")
        if not self.prob_prefix and self.score_col is None:
            raise UsageError("--prob-prefix must not be empty")
        object.__setattr__(self, "group_by", tuple(self.group_by or ()))
        object.__setattr__(self, "positive_label", str(self.positive_label))


@dataclass(frozen=True)
class SourceInfo:
    """Where the rows came from, for the report's metadata."""

    name: str  # what error messages and the report call it
    path: str | None
    sha256: str | None
    format: str  # csv, csv.gz, parquet, dataframe


@dataclass(frozen=True)
class Layout:
    """What each column means, decided from the header alone."""

    mode: str  # "labels" (hard labels, one column per class), "score" (binary), "soft"
    classes: tuple[str, ...]  # in "score" mode the negative name is settled after reading
    prob_cols: tuple[str, ...]
    target_cols: tuple[str | None, ...] | None
    label_col: str | None
    weight_col: str | None
    group_cols: tuple[str, ...]
    id_col: str | None

    @property
    def numeric_cols(self) -> list[str]:
        cols = list(self.prob_cols) + [c for c in self.target_cols or () if c]
        return cols + ([self.weight_col] if self.weight_col else [])

    @property
    def text_cols(self) -> list[str]:
        cols = [self.label_col] if self.label_col else []
        cols += list(self.group_cols)
        if self.id_col and self.id_col not in cols:
            cols.append(self.id_col)
        return cols

    @property
    def usecols(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.numeric_cols + self.text_cols:
            seen[c] = None
        return list(seen)


@dataclass
class Batch:
    """One chunk of validated rows, ready for :mod:`evalreport.compute`."""

    row0: int  # 0-based position of the first row in the whole input
    q: np.ndarray  # (n, K) predicted distributions (softmaxed / renormalised), not clipped
    y: np.ndarray | None  # (n,) true class index (hard labels)
    p: np.ndarray | None  # (n, K) target distributions (soft targets)
    w: np.ndarray | None  # (n,) sample weights
    groups: dict[str, pd.Categorical] = field(default_factory=dict)  # column → text values
    ids: pd.Series | None = None  # read only for the rows a report names
    renormalized: int = 0

    def __len__(self) -> int:
        return self.q.shape[0]


# --------------------------------------------------------------------------- sources


class _Reader:
    """A table source that yields chunks of the columns asked for: pandas DataFrames, or Arrow
    tables / record batches (which the validator reads in place when they are plainly valid)."""

    info: SourceInfo
    columns: list[str]

    def frames(self, layout: Layout, chunk_rows: int) -> Iterator:
        raise NotImplementedError


def _sha256_file(path: Path, stop: threading.Event | None = None) -> str | None:
    """The file's sha256 (hex); None if ``stop`` was set before the end."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            if stop is not None and stop.is_set():
                return None
            h.update(block)
    return h.hexdigest()


@contextmanager
def _hashed_meanwhile(path: Path | None):
    """Hash a file on a thread of its own while the caller reads it — for Parquet, whose
    reader reads only the columns it needs, so the hash needs a read of its own. Yields a
    function that waits for the sha256 (None without a file); a caller that leaves early
    (an input error) stops the hashing instead of waiting for it."""
    if path is None:
        yield lambda: None
        return
    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="evalreport-hash") as pool:
        future = pool.submit(_sha256_file, path, stop)
        try:
            yield future.result
        finally:
            stop.set()  # once the digest was taken, this changes nothing


class _Hashing:
    """A binary stream that hashes what is read through it, in order, on a thread of its own
    (hashlib releases the GIL), so the file is read once and the hash costs the reader nothing."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self._sha = hashlib.sha256()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="evalreport-hash")  # one thread: in order

    def _hashed(self, data: bytes) -> bytes:
        if data:
            self._pool.submit(self._sha.update, data)
        return data

    def read(self, n: int = -1) -> bytes:
        return self._hashed(self._stream.read(n))

    def readline(self) -> bytes:
        return self._hashed(self._stream.readline())

    def hexdigest(self) -> str:
        self._pool.shutdown(wait=True)
        return self._sha.hexdigest()

    def close(self) -> None:
        """Stop: hashing not yet done is dropped (an input error does not wait for it)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._stream.close()


#: Bytes of CSV parsed at a time by the Arrow reader (about 80,000 rows of 10 classes; measured
#: faster than 32 MiB pieces, and a quarter of the memory in flight).
PIECE_BYTES = 8 << 20


class _CsvReader(_Reader):
    """CSV through Arrow's multi-threaded parser, in pieces cut at line ends; a piece
    Arrow rejects is parsed again by pandas, whose errors the validator reports."""

    def __init__(self, name: str, path: str | None, raw: bytes | None, fs_path: Path | None) -> None:
        self._raw = raw
        self._fs_path = fs_path
        head = raw[:4] if raw is not None else _head(fs_path)
        self._gz = head[:2] == b"\x1f\x8b"
        sha = hashlib.sha256(raw).hexdigest() if raw is not None else None  # files: hashed while read
        self.info = SourceInfo(name, path, sha, "csv.gz" if self._gz else "csv")
        try:
            header = pd.read_csv(self._open(), nrows=0, encoding="utf-8")
        except pd.errors.EmptyDataError:
            raise InputError(name, "the file is empty") from None
        except UnicodeDecodeError:
            raise self._not_utf8() from None
        except (gzip.BadGzipFile, EOFError, OSError) as err:
            raise InputError(name, f"cannot be read as gzip-compressed CSV ({err})") from None
        except pd.errors.ParserError as err:
            raise InputError(name, f"is not valid CSV ({_first_line(err)})") from None
        self.columns = [str(c) for c in header.columns]

    def _open(self):
        stream = io.BytesIO(self._raw) if self._raw is not None else open(self._fs_path, "rb")
        return gzip.GzipFile(fileobj=stream, mode="rb") if self._gz else stream

    def _not_utf8(self) -> InputError:
        decoder = codecs.getincrementaldecoder("utf-8")()
        line, offset = 1, 0
        with self._open() as stream:
            for block in iter(lambda: stream.read(1 << 16), b""):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as err:
                    line += block[: max(err.start, 0)].count(b"\n")
                    offset += max(err.start, 0)
                    break
                line += block.count(b"\n")
                offset += len(block)
        return InputError(
            self.info.name,
            f"is not UTF-8 text (first bad byte at offset {offset}, line {line})",
            hint="re-save it as UTF-8",
        )

    def frames(self, layout: Layout, chunk_rows: int) -> Iterator:
        # parse the next piece on a second thread while the caller works on this one
        return _prefetch(self._parse(layout, chunk_rows))

    def _parse(self, layout: Layout, chunk_rows: int) -> Iterator:
        """Arrow tables, or pandas frames for a piece Arrow rejects. A file's bytes are
        hashed as they are read (one read), the hashing on a thread of its own."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        raw = io.BytesIO(self._raw) if self._raw is not None else open(self._fs_path, "rb")
        hashing = _Hashing(raw) if self.info.sha256 is None else None
        source = hashing or raw
        stream = gzip.GzipFile(fileobj=source, mode="rb") if self._gz else source
        # labels and slice values repeat: read them as categories (codes and a few distinct strings)
        coded = {c: pa.dictionary(pa.int32(), pa.string()) for c in [layout.label_col, *layout.group_cols] if c}
        types = {c: pa.float64() for c in layout.numeric_cols} | {c: pa.string() for c in layout.text_cols} | coded
        convert = pacsv.ConvertOptions(
            include_columns=layout.usecols,
            column_types=types,
            null_values=NUMERIC_NA,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        read = pacsv.ReadOptions(column_names=self.columns, use_threads=True)
        try:
            stream.readline()  # the header, already read
            for piece in _pieces(stream, PIECE_BYTES):
                try:
                    yield pacsv.read_csv(pa.py_buffer(piece), read_options=read, convert_options=convert)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    yield from self._pandas_frames(io.BytesIO(bytes(piece)), layout, chunk_rows)
            if hashing is not None:
                while hashing.read(1 << 20):  # what a compressed stream left unread, for the hash
                    pass
                self.info = SourceInfo(self.info.name, self.info.path, hashing.hexdigest(), self.info.format)
        except (gzip.BadGzipFile, EOFError) as err:
            raise InputError(self.info.name, f"cannot be read as gzip-compressed CSV ({err})") from None
        finally:
            stream.close()
            if hashing is not None:
                hashing.close()

    def _pandas_frames(self, source, layout: Layout, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """A piece of CSV (no header line) through pandas: its errors name the offending values."""
        text = layout.text_cols
        reader = pd.read_csv(
            source,
            header=None,
            names=self.columns,
            usecols=layout.usecols,
            dtype={c: str for c in text},
            keep_default_na=False,
            na_values={c: NUMERIC_NA for c in layout.numeric_cols},
            chunksize=chunk_rows,
            encoding="utf-8",
        )
        try:
            with reader:
                yield from reader
        except UnicodeDecodeError:
            raise self._not_utf8() from None
        except pd.errors.ParserError as err:
            raise InputError(self.info.name, f"is not valid CSV ({_first_line(err)})") from None


def _prefetch(items: Iterator, depth: int = 1) -> Iterator:
    """Iterate ``items`` on a background thread, up to ``depth`` items ahead; errors are re-raised here."""
    import queue
    import threading

    done = object()
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as err:  # handed to the consumer
            put((done, err))

    thread = threading.Thread(target=produce, name="evalreport-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, err = box.get()
            if err is not None:
                raise err
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _pieces(stream, size: int) -> Iterator[bytes]:
    """Blocks of about ``size`` bytes of CSV, each ending at a line end outside quotes."""
    rest = b""
    while True:
        block = stream.read(size)
        if not block:
            if rest.strip():
                yield rest
            return
        data = rest + block
        cut = data.rfind(b"\n") + 1
        # a line end inside a quoted field is no place to cut: the quotes before it must pair up
        while cut > 0 and b'"' in data and data.count(b'"', 0, cut) % 2:
            cut = data.rfind(b"\n", 0, cut - 1) + 1
        if cut == 0:
            rest = data
            continue
        rest = data[cut:]
        yield memoryview(data)[:cut]  # no copy: Arrow reads the buffer in place


class _ParquetReader(_Reader):
    """Parquet through Arrow, page by page (never a whole row group or file in memory),
    decoded on a second thread; a file is hashed on a third as it is read."""

    def __init__(self, name: str, path: str | None, raw: bytes | None, fs_path: Path | None) -> None:
        import pyarrow.parquet as pq

        self._fs_path = fs_path
        sha = hashlib.sha256(raw).hexdigest() if raw is not None else None  # files: hashed while read
        self.info = SourceInfo(name, path, sha, "parquet")
        try:
            # pages are read through a 1 MiB buffer: memory does not grow with a row group's size
            self._file = pq.ParquetFile(io.BytesIO(raw) if raw is not None else fs_path, pre_buffer=False,
                                        buffer_size=1 << 20)
        except Exception as err:  # pyarrow raises several types for a broken file
            raise InputError(name, f"is not a readable Parquet file ({_first_line(err)})") from None
        self.columns = list(self._file.schema_arrow.names)

    def frames(self, layout: Layout, chunk_rows: int) -> Iterator:
        return _prefetch(self._decode(layout, chunk_rows))

    def _decode(self, layout: Layout, chunk_rows: int) -> Iterator:
        with _hashed_meanwhile(self._fs_path if self.info.sha256 is None else None) as digest:
            got_any = False
            for batch in self._file.iter_batches(batch_size=chunk_rows, columns=layout.usecols):
                got_any = True
                yield batch
            if not got_any:
                yield pd.DataFrame(columns=layout.usecols)
            if (sha := digest()) is not None:
                self.info = SourceInfo(self.info.name, self.info.path, sha, self.info.format)


@dataclass(frozen=True)
class Table:
    """A DataFrame read from a file, still named after it (for error messages and metadata)."""

    frame: pd.DataFrame
    info: SourceInfo


class _FrameReader(_Reader):
    def __init__(self, frame: pd.DataFrame, info: SourceInfo | None = None) -> None:
        self._frame = frame
        self.info = info or SourceInfo("DataFrame", None, None, "dataframe")
        self.columns = [str(c) for c in frame.columns]

    def frames(self, layout: Layout, chunk_rows: int) -> Iterator:
        frame = self._frame.set_axis(self.columns, axis=1)[layout.usecols]
        if len(frame) == 0:
            yield frame
        for start in range(0, len(frame), chunk_rows):
            yield frame.iloc[start : start + chunk_rows]


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(4)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _open_reader(source: str | os.PathLike | pd.DataFrame | Table) -> _Reader:
    if isinstance(source, pd.DataFrame):
        return _FrameReader(source)
    if isinstance(source, Table):
        return _FrameReader(source.frame, source.info)
    path = str(source)
    if path == "-":
        raw = sys.stdin.buffer.read()
        name, fs_path = "<stdin>", None
        if not raw:
            raise InputError(name, "the input is empty")
    else:
        raw, name, fs_path = None, path, Path(path)
        if not fs_path.exists():
            raise InputError(name, "no such file")
        if fs_path.is_dir():
            raise InputError(name, "is a directory, not a predictions file")
        try:
            size = fs_path.stat().st_size
            head = _head(fs_path)
        except OSError as err:
            raise InputError(name, f"cannot be read ({err.strerror})") from None
        if size == 0:
            raise InputError(name, "the file is empty")
    head = raw[:4] if raw is not None else head
    is_parquet = head == b"PAR1" or path.lower().endswith((".parquet", ".pq"))
    cls = _ParquetReader if is_parquet else _CsvReader
    return cls(name, None if path == "-" else path, raw, fs_path)


# --------------------------------------------------------------------------- layout


def plan_layout(columns: list[str], spec: InputSpec, name: str) -> Layout:
    """Decide from the header which columns are classes, labels, weights, …"""
    present = set(columns)

    def require(col: str | None, what: str, option: str) -> None:
        if col is not None and col not in present:
            raise InputError(
                name,
                f"no {what} column '{col}'",
                hint=f"the columns are {_list_cols(columns)}; name the right one with {option}",
            )

    require(spec.weight_col, "weight", "--weight-col")
    for g in spec.group_by:
        require(g, "--group-by", "--group-by")
    require(spec.id_col, "id", "--id-col")
    id_col = spec.id_col if spec.id_col is not None else ("id" if "id" in present else None)

    named = {spec.label_col, spec.score_col, spec.weight_col, id_col, *spec.group_by} - {None}
    target_cols_all = (
        [c for c in columns if c.startswith(spec.target_prefix) and c not in named]
        if spec.target_prefix
        else []
    )
    common = dict(weight_col=spec.weight_col, group_cols=spec.group_by, id_col=id_col)

    if spec.score_col is not None:
        if spec.target_prefix:
            raise UsageError("--score-col and --target-prefix cannot be used together")
        require(spec.score_col, "score", "--score-col")
        require(spec.label_col, "label", "--label-col")
        return Layout(
            mode="score",
            classes=("", spec.positive_label),
            prob_cols=(spec.score_col,),
            target_cols=None,
            label_col=spec.label_col,
            **common,
        )

    prob_cols = [
        c for c in columns if c.startswith(spec.prob_prefix) and c not in named and c not in target_cols_all
    ]
    if not prob_cols:
        raise InputError(
            name,
            f"no probability columns (no column name starts with '{spec.prob_prefix}')",
            hint=f"the columns are {_list_cols(columns)}; pass --prob-prefix, or --score-col for one binary score",
        )
    classes = [c[len(spec.prob_prefix) :] for c in prob_cols]
    for col, cls in zip(prob_cols, classes):
        if cls == "":
            raise InputError(name, "a probability column needs a class name after the prefix", column=col)
    if len(set(classes)) != len(classes):
        raise InputError(name, "two probability columns name the same class", column=spec.prob_prefix + "*")
    if len(classes) < 2:
        raise InputError(
            name,
            "only one probability column; a classifier needs two or more classes",
            column=prob_cols[0],
            hint="for a binary model with one score column use --score-col",
        )

    if spec.target_prefix:
        if not target_cols_all:
            raise InputError(
                name,
                f"no target columns (no column name starts with '{spec.target_prefix}')",
                hint=f"the columns are {_list_cols(columns)}",
            )
        by_class = {c[len(spec.target_prefix) :]: c for c in target_cols_all}
        unknown = [c for k, c in by_class.items() if k not in classes]
        if unknown:
            raise InputError(
                name,
                "target column for a class that has no probability column",
                column=unknown[0],
                hint=f"the classes are {_list_cols(classes)}",
            )
        return Layout(
            mode="soft",
            classes=tuple(classes),
            prob_cols=tuple(prob_cols),
            target_cols=tuple(by_class.get(k) for k in classes),
            label_col=None,
            **common,
        )

    require(spec.label_col, "label", "--label-col")
    return Layout(
        mode="labels",
        classes=tuple(classes),
        prob_cols=tuple(prob_cols),
        target_cols=None,
        label_col=spec.label_col,
        **common,
    )


def _list_cols(cols, limit: int = 8) -> str:
    shown = ", ".join(repr(str(c)) for c in list(cols)[:limit])
    return shown + (", …" if len(cols) > limit else "")


# --------------------------------------------------------------------------- validation


class _Validator:
    """Turns one DataFrame chunk into a :class:`Batch`, or raises InputError."""

    def __init__(self, name: str, layout: Layout, spec: InputSpec) -> None:
        self.name = name
        self.layout = layout
        self.spec = spec
        self.negative_labels: dict[str, None] = {}  # "score" mode: labels other than the positive one

    def _fail(self, message: str, column: str | None, bad: np.ndarray, row0: int, hint: str | None = None):
        idx = np.flatnonzero(bad)
        rows = (idx[:5] + row0 + 1).tolist()
        raise InputError(self.name, message, column=column, rows=rows, more=len(idx) > 5, hint=hint)

    def numeric(self, frame: pd.DataFrame, col: str, row0: int) -> np.ndarray:
        s = frame[col]
        if s.dtype == bool:
            s = s.astype(np.float64)
        if not pd.api.types.is_numeric_dtype(s):
            values = pd.to_numeric(s, errors="coerce")
            bad = (values.isna() & s.notna()).to_numpy()
            if bad.any():
                first = s.to_numpy(dtype=object)[np.flatnonzero(bad)[0]]
                self._fail("values that are not numbers", col, bad, row0, hint=f"e.g. {str(first)!r}")
            s = values
        arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(arr)
        if missing.any():
            self._fail("missing values", col, missing, row0)
        return arr

    def distribution(self, frame: pd.DataFrame, cols, row0: int, what: str, logits: bool) -> tuple[np.ndarray, int]:
        """Read K columns as per-row distributions; return them and the number renormalised."""
        present = [c for c in cols if c is not None]
        if not logits and len(present) == len(cols) > 1 and all(frame[c].dtype == np.float64 for c in cols):
            m = frame[list(cols)].to_numpy(dtype=np.float64)  # one block: no copy per column
            if _in_unit_range(m):
                return self._sums(m, row0, what)
        arrays = []
        for col in cols:
            if col is None:  # a class without a target column: P = 0
                arrays.append(np.zeros(len(frame)))
                continue
            a = self.numeric(frame, col, row0)
            if logits:
                bad = ~np.isfinite(a)
                if bad.any():
                    self._fail("non-finite logits", col, bad, row0)
            else:
                bad = (a < 0) | (a > 1)
                if bad.any():
                    first = a[np.flatnonzero(bad)[0]]
                    self._fail(f"{what} outside [0, 1]", col, bad, row0, hint=f"e.g. {first:g}")
            arrays.append(a)
        if logits:
            z = np.column_stack(arrays)
            return (expit(np.column_stack([-z[:, 0], z[:, 0]])) if z.shape[1] == 1 else softmax(z, axis=1)), 0
        m = np.column_stack(arrays)
        if m.shape[1] == 1:  # binary score column: P(negative) = 1 − score
            return np.column_stack([1.0 - m[:, 0], m[:, 0]]), 0
        return self._sums(m, row0, what)

    def _sums(self, m: np.ndarray, row0: int, what: str) -> tuple[np.ndarray, int]:
        """Rows must sum to 1 within SUM_TOLERANCE, or be renormalised when asked."""
        sums, off = _row_sums_off(m)
        if not off.any():
            return m, 0
        prefix = self.spec.target_prefix if what == "targets" else self.spec.prob_prefix
        column = f"{prefix}*"
        first = sums[np.flatnonzero(off)[0]]
        if not self.spec.renormalize:
            self._fail(
                f"{what} do not sum to 1 (within {SUM_TOLERANCE:g})",
                column,
                off,
                row0,
                hint=f"the first sums to {first:.6g}; pass --renormalize to rescale such rows",
            )
        zero = off & (sums <= 0)
        if zero.any():
            self._fail(f"{what} sum to 0 and cannot be renormalised", column, zero, row0)
        m = m.copy() if not m.flags.writeable else m  # a read-only view of the frame's block
        m[off] /= sums[off, None]
        return m, int(off.sum())

    def labels(self, frame: pd.DataFrame, row0: int) -> np.ndarray:
        col = self.layout.label_col
        values = _text_values(frame[col])
        missing = values.codes < 0
        if (values.categories == "").any():
            missing |= values.codes == values.categories.get_loc("")
        if missing.any():
            self._fail("missing labels", col, missing, row0)
        if self.layout.mode == "score":
            positive = np.asarray(values == self.spec.positive_label)
            for v in pd.unique(values[~positive]):
                self.negative_labels.setdefault(str(v), None)
            if len(self.negative_labels) > 1:
                seen = [self.spec.positive_label] + list(self.negative_labels)
                first_new = list(self.negative_labels)[1]
                self._fail(
                    "--score-col needs a binary label, but it holds more than two values",
                    col,
                    np.asarray(values == first_new),
                    row0,
                    hint=f"values seen: {_list_cols(seen)}; is --positive-label "
                    f"'{self.spec.positive_label}' right?",
                )
            return positive.astype(np.intp)
        classes = self.layout.classes
        codes = _class_codes(values, classes)
        unknown = codes < 0
        if unknown.any():
            odd = [str(v) for v in pd.unique(np.asarray(values)[unknown])[:5]]
            hint = f"found {_list_cols(odd)}; the classes (from the '{self.spec.prob_prefix}*' columns) are {_list_cols(classes)}"
            as_int = {o: o[:-2] for o in odd if o.endswith(".0")}
            if as_int and all(v in classes for v in as_int.values()):
                hint += " — the labels were written as floats; write them as integers"
            self._fail("labels that have no probability column", col, unknown, row0, hint=hint)
        return codes.astype(np.intp)

    def weights(self, frame: pd.DataFrame, row0: int) -> np.ndarray:
        col = self.layout.weight_col
        w = self.numeric(frame, col, row0)
        bad = _bad_weights(w)
        if bad.any():
            self._fail("weights must be finite and not negative", col, bad, row0)
        return w

    def batch(self, frame, row0: int) -> Batch:
        """Validate a pandas or Arrow chunk. Arrow takes a fast path when the chunk is plainly
        valid (see :meth:`_arrow_batch`); anything else goes through pandas, which names the problem."""
        if not isinstance(frame, pd.DataFrame):
            fast = self._arrow_batch(frame, row0)
            if fast is not None:
                return fast
            frame = frame.to_pandas()
        return self._frame_batch(frame, row0)

    def _arrow_batch(self, table, row0: int) -> Batch | None:
        """Hard labels and probability columns straight from Arrow memory, or None when the
        chunk needs a closer look: nulls, values outside [0, 1], rows not summing to 1, unknown
        labels, bad weights, other modes (binary score, logits, soft targets)."""
        import pyarrow as pa

        lay, spec = self.layout, self.spec
        if lay.mode != "labels" or spec.logits:
            return None
        floats = [*lay.prob_cols] + ([lay.weight_col] if lay.weight_col else [])
        cols = {c: table.column(c) for c in floats}
        if any(a.type != pa.float64() or a.null_count for a in cols.values()):
            return None
        n, k = table.num_rows, len(lay.prob_cols)
        q = np.empty((n, k), order="F")  # a column per class, each a contiguous run (compute works by column)
        for j, c in enumerate(lay.prob_cols):
            _fill(q[:, j], cols[c])
        if not _in_unit_range(q) or _row_sums_off(q)[1].any():
            return None
        labels = _arrow_categories(table.column(lay.label_col))
        y = _class_codes(labels, lay.classes) if labels is not None else None
        if y is None or (y < 0).any():
            return None
        w = None
        if lay.weight_col:
            w = np.empty(n)
            _fill(w, cols[lay.weight_col])
            if _bad_weights(w).any():
                return None
        groups = {}
        for g in lay.group_cols:
            groups[g] = _arrow_categories(table.column(g))
            if groups[g] is None:
                return None
        ids = table.column(lay.id_col).to_pandas().reset_index(drop=True) if lay.id_col else None
        return Batch(row0=row0, q=q, y=y, p=None, w=w, groups=groups, ids=ids, renormalized=0)

    def _frame_batch(self, frame: pd.DataFrame, row0: int) -> Batch:
        lay, spec = self.layout, self.spec
        q, renorm = self.distribution(frame, lay.prob_cols, row0, "probabilities", spec.logits)
        y = p = None
        if lay.mode == "soft":
            p, renorm_p = self.distribution(frame, lay.target_cols, row0, "targets", False)
            renorm += renorm_p
        else:
            y = self.labels(frame, row0)
        w = self.weights(frame, row0) if lay.weight_col else None
        groups = {}
        for g in lay.group_cols:
            values = _text_values(frame[g])
            if (values.codes < 0).any():
                values = values.add_categories([MISSING_GROUP]) if MISSING_GROUP not in values.categories else values
                values = values.fillna(MISSING_GROUP)
            groups[g] = values
        ids = frame[lay.id_col].reset_index(drop=True) if lay.id_col else None
        return Batch(row0=row0, q=q, y=y, p=p, w=w, groups=groups, ids=ids, renormalized=renorm)


def _fill(dst: np.ndarray, column) -> None:
    """Copy an Arrow float64 column (chunked or not, no nulls) into ``dst``."""
    start = 0
    for chunk in getattr(column, "chunks", [column]):
        dst[start : start + len(chunk)] = chunk.to_numpy(zero_copy_only=False)
        start += len(chunk)


def _in_unit_range(m: np.ndarray) -> bool:
    """Every value in [0, 1] (NaN fails), in two passes and no temporaries."""
    return m.size == 0 or bool(m.min() >= 0.0 and m.max() <= 1.0)


def _row_sums_off(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row sums, and which rows miss 1 by more than SUM_TOLERANCE."""
    sums = m.sum(axis=1)
    return sums, np.abs(sums - 1.0) > SUM_TOLERANCE


def _bad_weights(w: np.ndarray) -> np.ndarray:
    """Weights that are not finite or negative."""
    return ~np.isfinite(w) | (w < 0)


def _class_codes(values: pd.Categorical, classes) -> np.ndarray:
    """Index in ``classes`` of each text value; −1 where missing or not among them."""
    return np.append(pd.Index(classes).get_indexer(values.categories), -1)[values.codes]


def _arrow_categories(column) -> pd.Categorical | None:
    """An Arrow text or integer column as categories of text (one dictionary for all its
    chunks), or None when it has missing values or another type (the pandas path decides)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if column.null_count or not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)):
        return None
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()  # Arrow unifies the chunks' dictionaries
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    codes = column.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    text = [str(v) for v in column.dictionary.to_pylist()]  # integers as the pandas path writes them
    return pd.Categorical.from_codes(codes, categories=pd.Index(text, dtype=object))


def _text_values(s: pd.Series) -> pd.Categorical:
    """A column as categories of text (missing: code −1), converting only its distinct values."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    text = _as_text(pd.Series(uniques))
    if len(set(text)) < len(text):  # e.g. 1 and "1" in one column: convert row by row
        return pd.Categorical(_as_text(s))
    return pd.Categorical.from_codes(codes, categories=pd.Index(text, dtype=object))


def id_text(ids: pd.Series | None, i: int) -> str | None:
    """The id of row i of a batch, as text."""
    if ids is None:
        return None
    v = ids.iloc[i]
    if pd.isna(v):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _as_text(s: pd.Series) -> np.ndarray:
    """A column as an object array of str (None where missing); integral floats lose '.0'."""
    if pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s):
        out = s.to_numpy(dtype=object, na_value=None)  # already text: no per-value work
        return out.copy() if not out.flags.writeable else out
    if pd.api.types.is_float_dtype(s):
        notna = s.notna()
        if notna.any() and (s[notna] % 1 == 0).all():
            s = s.astype("Int64")
    out = s.astype(object).to_numpy(dtype=object, copy=True)
    isna = pd.isna(out)
    out[~isna] = [str(v) for v in out[~isna]]
    out[isna] = None
    return out


# --------------------------------------------------------------------------- entry point


class LoadedInput:
    """A validated input: its source, its layout, and a one-pass stream of batches.

    Iterate :meth:`batches` once; file-level problems (no rows, all weights 0,
    a third label in a binary file) are raised at the end of that iteration.
    After it, :attr:`classes` holds the final class names.
    """

    def __init__(
        self,
        source: str | os.PathLike | pd.DataFrame | Table,
        spec: InputSpec | None = None,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        row0: int = 0,
        partial: bool = False,
    ) -> None:
        """``row0``: the position of the first row in a larger input (a partition's offset);
        ``partial``: a part of an input, so the whole-input checks are left to the caller."""
        self.spec = spec or InputSpec()
        self._reader = _open_reader(source)
        self.layout = plan_layout(self._reader.columns, self.spec, self.source.name)
        self.chunk_rows = chunk_rows
        self.row0 = row0
        self.partial = partial
        self.rows = row0
        self.total_weight = 0.0
        self._validator = _Validator(self.source.name, self.layout, self.spec)
        self._consumed = False

    @property
    def source(self) -> SourceInfo:
        """The input's description; a file's sha256 is known once its rows were read."""
        return self._reader.info

    @property
    def negative_labels(self) -> list[str]:
        """``--score-col``: the labels other than the positive one, in the order first seen."""
        return list(self._validator.negative_labels)

    @property
    def classes(self) -> tuple[str, ...]:
        return classes_of(self.layout, self.spec, self.negative_labels)

    def batches(self) -> Iterator[Batch]:
        if self._consumed:
            raise RuntimeError("LoadedInput.batches() can be iterated only once")
        self._consumed = True
        for frame in self._reader.frames(self.layout, self.chunk_rows):  # pandas or Arrow
            for start in range(0, len(frame), self.chunk_rows):  # a reader's piece may hold more rows
                part = frame if len(frame) <= self.chunk_rows else (
                    frame.iloc[start : start + self.chunk_rows] if isinstance(frame, pd.DataFrame)
                    else frame.slice(start, self.chunk_rows))
                batch = self._validator.batch(part, self.rows)
                self.rows += len(batch)
                if batch.w is not None:
                    self.total_weight += float(batch.w.sum())
                yield batch
        if not self.partial:
            check_whole(self.source.name, self.layout, self.rows - self.row0, self.total_weight)


def check_whole(name: str, layout: Layout, rows: int, total_weight: float, negatives=()) -> None:
    """The checks only a whole input can answer: any rows, any weight, at most two binary labels."""
    if rows == 0:
        raise InputError(name, "has a header but no rows")
    if layout.weight_col and total_weight <= 0:
        raise InputError(name, "the weights sum to 0", column=layout.weight_col)
    if len(negatives) > 1:
        raise InputError(name, "--score-col needs a binary label, but it holds more than two values",
                         column=layout.label_col, hint=f"labels other than the positive one: {_list_cols(negatives)}")


def classes_of(layout: Layout, spec: InputSpec, negatives) -> tuple[str, ...]:
    """The class names; with --score-col the negative one is the other label seen."""
    if layout.mode != "score":
        return layout.classes
    return (negatives[0] if negatives else _negative_name(spec.positive_label), spec.positive_label)


def _negative_name(positive: str) -> str:
    pairs = {"1": "0", "true": "false", "True": "False", "yes": "no", "pos": "neg", "positive": "negative"}
    return pairs.get(positive, f"not {positive}")


def parse_distribution(text: str, option: str) -> np.ndarray:
    """``"0.1,0.4,0.5"`` → a validated probability vector (for ``evalreport dist``)."""
    parts = [t.strip() for t in text.split(",")]
    values = []
    for t in parts:
        try:
            values.append(float(t))
        except ValueError:
            raise InputError(option, f"'{t}' is not a number", hint="give comma-separated probabilities, e.g. 0.1,0.4,0.5") from None
    v = np.array(values)
    if len(v) < 2:
        raise InputError(option, "a distribution needs at least two values")
    if not np.isfinite(v).all():
        raise InputError(option, "values must be finite")
    if (v < 0).any():
        raise InputError(option, f"negative value {v[v < 0][0]:g}; probabilities cannot be negative")
    if abs(v.sum() - 1.0) > SUM_TOLERANCE:
        raise InputError(option, f"the values sum to {v.sum():.6g}, not 1 (within {SUM_TOLERANCE:g})")
    return v


# --------------------------------------------------------------------------- pairs of inputs


def read_table(source: str | os.PathLike | pd.DataFrame, spec: InputSpec) -> tuple[Table, Layout]:
    """Read the columns an evaluation needs into memory (for aligning two inputs)."""
    reader = _open_reader(source)
    layout = plan_layout(reader.columns, spec, reader.info.name)
    frames = [f for f in reader.frames(layout, DEFAULT_CHUNK_ROWS) if len(f)]
    if not frames:
        raise InputError(reader.info.name, "has a header but no rows")
    if not any(isinstance(f, pd.DataFrame) for f in frames):  # all Arrow: join the pieces, convert once
        import pyarrow as pa

        frame = pa.concat_tables([pa.table(f) for f in frames]).to_pandas()
    else:
        frames = [f if isinstance(f, pd.DataFrame) else f.to_pandas() for f in frames]
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    return Table(frame, reader.info), layout


def align_pair(base: Table, base_layout: Layout, cand: Table, cand_layout: Layout, spec: InputSpec) -> tuple[Table, str]:
    """The candidate's rows in the baseline's order, and how they were matched.

    Rows are matched on the id column when both inputs have it, else by
    position. Different classes, ids, row counts or labels are input errors.
    """
    name = cand.info.name
    if set(base_layout.classes) != set(cand_layout.classes) or base_layout.mode != cand_layout.mode:
        raise InputError(
            name,
            "its classes differ from the baseline's",
            hint=f"baseline {_list_cols(base_layout.classes)}, candidate {_list_cols(cand_layout.classes)}",
        )
    id_col = spec.id_col or ("id" if base_layout.id_col and cand_layout.id_col else None)
    frame = cand.frame
    if id_col and id_col in base.frame and id_col in frame:
        base_ids, cand_ids = _as_text(base.frame[id_col]), _as_text(frame[id_col])
        for table, ids in ((base, base_ids), (cand, cand_ids)):
            dup = pd.Series(ids).duplicated(keep=False).to_numpy()
            if dup.any():
                raise InputError(table.info.name, "ids must be unique to match rows", column=id_col,
                                 rows=(np.flatnonzero(dup)[:5] + 1).tolist(), more=dup.sum() > 5)
        position = pd.Index(cand_ids).get_indexer(base_ids)
        missing = position < 0
        if missing.any() or len(cand_ids) != len(base_ids):
            extra = np.setdiff1d(cand_ids.astype(str), base_ids.astype(str))
            what = (f"{missing.sum()} baseline id(s) are missing from it, e.g. '{base_ids[missing][0]}'" if missing.any()
                    else f"{len(extra)} of its id(s) are not in the baseline, e.g. '{extra[0]}'")
            raise InputError(name, f"its rows do not match the baseline's: {what}", column=id_col,
                             hint="both files must hold predictions for the same rows")
        frame = frame.iloc[position].reset_index(drop=True)
        how = f"id column '{id_col}'"
    else:
        if len(frame) != len(base.frame):
            raise InputError(name, f"has {len(frame)} rows but the baseline has {len(base.frame)}",
                             hint="without an id column in both files, rows are matched by position")
        how = "row order"
    if base_layout.label_col:
        differ = _text_differs(base.frame[base_layout.label_col], frame[cand_layout.label_col])
        if differ.any():
            raise InputError(name, f"labels differ from the baseline's when rows are matched by {how}",
                             column=cand_layout.label_col, rows=(np.flatnonzero(differ)[:5] + 1).tolist(),
                             more=differ.sum() > 5, hint="row numbers are in the baseline's order")
    # the same column order as the baseline, so both sides number the classes alike
    order = [c for c in base.frame.columns if c in frame.columns] + [c for c in frame.columns if c not in base.frame.columns]
    return Table(frame[order], cand.info), how


def _text_differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Row by row: do two columns hold different text? (Through their distinct values, not a
    string per row; missing equals missing.)"""
    ta, tb = _text_values(a), _text_values(b)
    vocab = pd.Index(ta.categories).append(pd.Index(tb.categories)).unique()
    return _class_codes(ta, vocab) != _class_codes(tb, vocab)  # missing is −1 on both sides


@dataclass(frozen=True)
class JsonBaseline:
    """A previous run's JSON: enough for a point comparison of the band score."""

    path: str
    band_score_nats: float
    rows: int
    classes: tuple[str, ...]


def read_json_baseline(path: str) -> JsonBaseline:
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        unit = data["unit"]
        score = float(data["overall"]["band_score"])
        return JsonBaseline(path, score / UNITS[unit], int(data["rows"]), tuple(data["classes"]))
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InputError(path, f"is not an evalreport JSON report ({type(err).__name__}: {err})",
                         hint="pass the JSON written by 'evalreport report --json', or the baseline's predictions") from None
