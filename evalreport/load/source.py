"""The entry point: a path, standard input or a DataFrame → a reader → validated batches."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ..errors import InputError
from .csv import _CsvReader
from .frame import Table, _FrameReader
from .parquet import _ParquetReader
from .spec import DEFAULT_CHUNK_ROWS, Batch, InputSpec, SourceInfo, check_whole, classes_of, plan_layout
from .stream import _head, _Reader
from .validate import _Validator

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
