"""Parquet through Arrow, page by page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


from ..errors import InputError
from .spec import Layout, SourceInfo
from .stream import _arrow_batches, _first_line, _prefetch, _Reader

#: A row group read a slice of columns at a time when its columns decode to more than this.
WIDE_ROW_GROUP_BYTES = 128 << 20
COLUMN_SLICE = 128


class _ParquetReader(_Reader):
    """Parquet through Arrow, page by page (never a whole row group or file in memory),
    decoded on a second thread; a file is hashed on a third as it is read.

    ``source`` is a path, or an open file holding a copy of a stream (standard input,
    a FIFO: Parquet needs to seek), whose ``sha256`` was taken while it was copied.
    Columns are read as they are, without pandas' metadata: a column pandas wrote
    from its index is read like any other column.
    """

    def __init__(self, name: str, path: str | None, source, sha256: str | None = None) -> None:
        import pyarrow.parquet as pq

        self._fs_path = Path(source) if isinstance(source, (str, os.PathLike)) else None
        self._opened = None if self._fs_path is not None else source
        self.info = SourceInfo(name, path, sha256, "parquet")
        try:
            # pages are read through a 1 MiB buffer: memory does not grow with a row group's size
            self._file = pq.ParquetFile(source, pre_buffer=False, buffer_size=1 << 20)
        except Exception as err:  # pyarrow raises several types for a broken file
            self.close()
            raise InputError(name, f"is not a readable Parquet file ({_first_line(err)})") from None
        self.columns = list(self._file.schema_arrow.names)

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()

    def frames(self, layout: Layout, chunk_rows: int) -> Iterator:
        return _prefetch(self._decode(layout, chunk_rows))

    def _decode(self, layout: Layout, chunk_rows: int) -> Iterator:
        return _arrow_batches(self, lambda: self._batches(self._for(layout), layout.usecols, chunk_rows),
                              layout, "Parquet file")

    @staticmethod
    def _batches(file, columns: list[str], chunk_rows: int) -> Iterator:
        """Record batches of ``chunk_rows`` rows. A row group whose columns decode to more than
        WIDE_ROW_GROUP_BYTES (2,000 classes × 20,000 rows, as pandas writes them) is read a slice
        of columns at a time (COLUMN_SLICE columns), so the memory it takes is its decoded size,
        not several times that: Arrow's batch reader holds a whole row group's column chunks,
        compressed and decoded, at once."""
        import pyarrow as pa

        meta = file.metadata
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows
            if rows * len(columns) * 8 <= WIDE_ROW_GROUP_BYTES:
                yield from file.iter_batches(batch_size=chunk_rows, row_groups=[group], columns=columns)
                continue
            parts = [file.read_row_group(group, columns=columns[i : i + COLUMN_SLICE])
                     for i in range(0, len(columns), COLUMN_SLICE)]
            whole = pa.Table.from_arrays([c for t in parts for c in t.columns],
                                         names=[n for t in parts for n in t.column_names])
            del parts
            for start in range(0, rows, chunk_rows):
                yield from whole.slice(start, chunk_rows).combine_chunks().to_batches()

    def _for(self, layout):
        """The file as the layout reads it: text columns it names in ``dictionary_cols`` (a language
        model's ids and slices, repeated on every token) decoded as dictionaries — the ids' codes,
        not a string per row."""
        import pyarrow.parquet as pq

        wanted = [c for c in getattr(layout, "dictionary_cols", ()) if c in self.columns]
        if not wanted:
            return self._file
        if self._opened is not None:
            self._opened.seek(0)
        return pq.ParquetFile(self._fs_path if self._fs_path is not None else self._opened, pre_buffer=False,
                              buffer_size=1 << 20, read_dictionary=wanted)


def spool(stream, name: str) -> tuple:
    """Copy a stream to a temporary file (Parquet needs to seek; memory stays flat), hashing it;
    returns the open file and its sha256."""
    import hashlib
    import tempfile

    sha = hashlib.sha256()
    out = tempfile.TemporaryFile(prefix="evalreport-")
    try:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
            out.write(block)
        out.seek(0)
    except OSError as err:
        out.close()
        raise InputError(name, f"cannot be read ({err.strerror})") from None
    return out, sha.hexdigest()
