"""Parquet through Arrow, page by page."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ..errors import InputError
from .spec import Layout, SourceInfo
from .stream import _first_line, _hashed_meanwhile, _prefetch, _Reader

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
