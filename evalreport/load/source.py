"""The entry point: a path, standard input or a DataFrame → a reader → validated batches."""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, display_path
from .csv import _CsvReader, _Prefixed, _read_exactly
from .frame import Table, _ArrowReader, _FrameReader, arrow_table_of
from .ipc import FEATHER_V1_MAGIC, FILE_MAGIC, STREAM_MAGIC, _IpcReader
from .jsonl import _JsonlReader, looks_like_jsonl
from .parquet import _ParquetReader, spool
from .spec import (DEFAULT_CHUNK_ROWS, Batch, InputSpec, SourceInfo, batch_rows, check_whole, classes_of, is_frame,
                   plan_layout)
from .stream import _Reader
from .validate import _Validator

if TYPE_CHECKING:
    import pandas as pd

#: What a path that cannot be opened is, by errno, in words.
_OPEN_PROBLEMS = {
    errno.ENOENT: "no such file",
    errno.ELOOP: "a loop of symbolic links",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EACCES: "permission denied",
    errno.ENOTDIR: "a part of the path is not a folder",
}


def _open_problem(path: str, err: OSError) -> str:
    if err.errno == errno.ENOENT and os.path.islink(path):
        return "a symbolic link to a file that does not exist"
    return _OPEN_PROBLEMS.get(err.errno, f"cannot be read ({err.strerror})")


#: First bytes of formats that are not predictions evalreport reads, and what to tell the user.
_OTHER_FORMATS = [
    (b"PK\x03\x04", "is a ZIP archive (an Excel .xlsx workbook?)", "export the sheet as CSV, or unzip it"),
    (b"\xd0\xcf\x11\xe0", "is an Excel 97–2003 workbook (or another OLE file)", "export the sheet as CSV"),
    (b"BZh", "is bzip2-compressed", "decompress it (bunzip2), or recompress it with gzip"),
    (b"\xfd7zXZ", "is xz-compressed", "decompress it (unxz), or recompress it with gzip"),
    (b"\x28\xb5\x2f\xfd", "is zstd-compressed", "decompress it (unzstd), or recompress it with gzip"),
    (b"\xff\xfe", "is UTF-16 text (as Excel's 'Unicode text')", "re-save it as UTF-8 CSV"),
    (b"\xfe\xff", "is UTF-16 text", "re-save it as UTF-8 CSV"),
    (b"\x93NUMPY", "is a NumPy .npy array", "write a CSV or Parquet table with a label column and p_ columns"),
    (b"\x89HDF", "is an HDF5 file", "write the table as Parquet or CSV"),
    (b"ORC", "is an ORC file", "write the table as Parquet or CSV"),
    (b"Obj\x01", "is an Avro file", "write the table as Parquet or CSV"),
    (b"SQLite format 3", "is an SQLite database", "export the table as CSV or Parquet"),
    (b"\x80\x04", "is a Python pickle", "write the DataFrame with to_parquet() or to_csv()"),
    (b"\x80\x05", "is a Python pickle", "write the DataFrame with to_parquet() or to_csv()"),
]


def _other_format(name: str, head: bytes) -> None:
    """Raise for a file whose first bytes say it is something evalreport does not read."""
    for magic, what, hint in _OTHER_FORMATS:
        if head.startswith(magic):
            raise InputError(name, what, hint=hint)


def _open_reader(source: str | os.PathLike | pd.DataFrame | Table, spec: InputSpec | None = None) -> _Reader:
    """A reader for a DataFrame, a path (a file; a FIFO or device, read once as a stream) or
    ``"-"`` (standard input, a stream). Every file is read once, never held whole in memory.
    CSV, gzip-compressed CSV, Parquet and Arrow IPC (Feather) are told apart by their first bytes."""
    delimiter = spec.delimiter if spec is not None else ","
    decimal = spec.decimal if spec is not None else "."
    if is_frame(source):
        return _FrameReader(source)
    if isinstance(source, Table):
        return _FrameReader(source.frame, source.info)
    arrow = arrow_table_of(source)
    if arrow is not None:
        kind = "polars DataFrame" if type(source).__module__.startswith("polars") else "Arrow table"
        return _ArrowReader(arrow, SourceInfo(kind, None, None, kind.split()[0].lower()))
    path = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
    if path == "-":
        if sys.stdin is None:  # the program was started with no file descriptor 0 (<&-)
            raise InputError("<stdin>", "standard input is closed", hint="pipe the predictions in, or name a file")
        return _stream_reader("<stdin>", None, sys.stdin.buffer, owned=False, delimiter=delimiter, decimal=decimal)
    name = display_path(path)
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(name, "is a directory, not a predictions file")
        if stat.S_ISREG(st.st_mode) and st.st_size == 0:
            raise InputError(name, "the file is empty")
        f = open(path, "rb")
    except OSError as err:
        raise InputError(name, _open_problem(path, err)) from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO, <(zcat f.gz), a device: one pass, as a stream
        return _stream_reader(name, name, f, delimiter=delimiter, decimal=decimal)
    try:
        head = f.read(16)
        f.seek(0)
    except OSError as err:
        f.close()
        raise InputError(name, f"cannot be read ({err.strerror})") from None
    if head.startswith(b"PAR1") or path.lower().endswith((".parquet", ".pq")):
        f.close()
        return _ParquetReader(name, name, path)
    if head.startswith((FILE_MAGIC, STREAM_MAGIC, FEATHER_V1_MAGIC)) or path.lower().endswith(
            (".feather", ".arrow", ".arrows", ".ipc")):
        f.close()
        return _IpcReader(name, name, path, head)
    _other_format(name, head)
    jsonl = _jsonl_kind(name, head, lambda: _gunzipped_head(path))
    if jsonl is not None:
        return _JsonlReader(name, name, f, gz=jsonl == "gz")
    return _CsvReader(name, name, f, delimiter=delimiter, decimal=decimal)


def _gunzipped_head(path: str) -> bytes:
    """The first bytes inside a gzip-compressed file (empty if they cannot be read: the CSV reader
    then names the problem)."""
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as g:
            return g.read(64)
    except (OSError, EOFError, zlib.error):
        return b""


def _jsonl_kind(name: str, head: bytes, inner) -> str | None:
    """"plain" or "gz" when the input is JSON lines (by content: a JSON object first), else None."""
    if looks_like_jsonl(head):
        return "plain"
    if head.startswith(b"\x1f\x8b") and looks_like_jsonl(inner()):
        return "gz"
    return None


def _stream_reader(name: str, path: str | None, stream, owned: bool = True, delimiter: str = ",",
                   decimal: str = ".") -> _Reader:
    """CSV from a stream, read as it comes; Parquet and Arrow IPC (they need to seek, or are read
    in place) copied to a temporary file first."""
    try:
        head = _read_exactly(stream, 16)
    except OSError as err:
        raise InputError(name, f"cannot be read ({err.strerror})") from None
    stream = _Prefixed(head, stream, owned)
    if head.startswith((b"PAR1", FILE_MAGIC, STREAM_MAGIC)):
        spooled, sha = spool(stream, name)
        stream.close()
        if head.startswith(b"PAR1"):
            return _ParquetReader(name, path, spooled, sha)
        return _IpcReader(name, path, spooled, head, sha)
    if head:
        _other_format(name, head)
    if looks_like_jsonl(head):
        return _JsonlReader(name, path, stream, owned=owned)
    return _CsvReader(name, path, stream, delimiter=delimiter, decimal=decimal)


# --------------------------------------------------------------------------- entry point


@dataclass(frozen=True)
class LanguageInput:
    """A language model's output in a table (see load.sequences): its kind ("sequences", "tokens"
    or "choices") and the open reader."""

    kind: str
    reader: _Reader


def open_input(source, spec: InputSpec, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> LoadedInput | LanguageInput:
    """The input, told apart by its columns: a classifier's predictions (a :class:`LoadedInput`),
    or a language model's log-probabilities (a :class:`LanguageInput`)."""
    from .sequences import lm_kind

    reader = _open_reader(source, spec)
    try:
        kind = lm_kind(reader.columns, spec)
    except BaseException:
        reader.close()
        raise
    if kind is not None:
        return LanguageInput(kind, reader)
    return LoadedInput(source, spec, chunk_rows=chunk_rows, reader=reader)


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
        reader: _Reader | None = None,
    ) -> None:
        """``row0``: the position of the first row in a larger input (a partition's offset);
        ``partial``: a part of an input, so the whole-input checks are left to the caller;
        ``reader``: the source's reader, when it is open already (see :func:`open_input`)."""
        self.spec = spec or InputSpec()
        self._reader = reader if reader is not None else _open_reader(source, self.spec)
        try:
            self.layout = plan_layout(self._reader.columns, self.spec, self.source.name)
        except BaseException:
            self._reader.close()
            raise
        self.chunk_rows = batch_rows(len(self.layout.classes), chunk_rows)
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
    def reader(self) -> _Reader:
        """The source's open reader (to plan the input again with other options before reading it)."""
        return self._reader

    def close(self) -> None:
        self._reader.close()

    @property
    def negative_labels(self) -> list[str]:
        """``--score-col``: the labels other than the positive one, in the order first seen."""
        return list(self._validator.negative_labels)

    @property
    def classes(self) -> tuple[str, ...]:
        return classes_of(self.layout, self.spec, self.negative_labels)

    @property
    def alerts(self) -> list[str]:
        """Doubts about how the input was read (e.g. --logits on what look like probabilities)."""
        return self._validator.alerts()

    def batches(self) -> Iterator[Batch]:
        if self._consumed:
            raise RuntimeError("LoadedInput.batches() can be iterated only once")
        self._consumed = True
        for frame in self._reader.frames(self.layout, self.chunk_rows):  # pandas or Arrow
            for start in range(0, len(frame), self.chunk_rows):  # a reader's piece may hold more rows
                part = frame if len(frame) <= self.chunk_rows else (
                    frame.iloc[start : start + self.chunk_rows] if is_frame(frame)
                    else frame.slice(start, self.chunk_rows))
                batch = self._validator.batch(part, self.rows)
                self.rows += len(batch)
                if batch.w is not None:  # in the input's units (only whether it is > 0 matters; ∞ is fine)
                    with np.errstate(over="ignore"):
                        self.total_weight += float(np.ldexp(batch.w.sum(), batch.w_exp))
                yield batch
        if not self.partial:
            check_whole(self.source.name, self.layout, self.rows - self.row0, self.total_weight)
