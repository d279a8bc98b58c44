"""Arrow IPC: Feather (v2) files and Arrow IPC streams, record batch by record batch.

A file is memory-mapped, so its batches are read in place and never held whole;
a stream (standard input, a FIFO, an ``.arrows`` file) is read batch by batch as
it comes. Columns are read as they are, without pandas' metadata (an index
column is a column). The file is hashed on a thread of its own as it is read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path


from ..errors import InputError
from .spec import Layout, SourceInfo
from .stream import _arrow_batches, _first_line, _prefetch, _Reader

#: The first bytes of an Arrow IPC file (Feather v2), of a stream's first message, of a Feather v1 file.
FILE_MAGIC = b"ARROW1"
STREAM_MAGIC = b"\xff\xff\xff\xff"
FEATHER_V1_MAGIC = b"FEA1"


class _IpcReader(_Reader):
    """Feather / Arrow IPC, file or stream format. ``source``: a path (memory-mapped), or an open
    file holding a copy of a stream (see parquet.spool), whose ``sha256`` was taken while copied."""

    def __init__(self, name: str, path: str | None, source, head: bytes, sha256: str | None = None) -> None:
        import pyarrow as pa
        import pyarrow.ipc as ipc

        self._fs_path = Path(source) if isinstance(source, (str, os.PathLike)) else None
        self._closing = []
        try:
            handle = pa.memory_map(str(self._fs_path)) if self._fs_path is not None else source
            self._closing.append(handle)
            if head.startswith(FEATHER_V1_MAGIC):  # the old format: pyarrow reads it whole, as a table
                import pyarrow.feather as feather

                table = feather.read_table(handle)
                self._file = table
                self._batches = lambda: iter(table.to_batches())
            elif head.startswith(FILE_MAGIC):
                self._file = ipc.open_file(handle)
                self._batches = lambda: (self._file.get_batch(i) for i in range(self._file.num_record_batches))
            else:
                self._file = ipc.open_stream(handle)
                self._batches = lambda: iter(self._file)
        except (OSError, pa.ArrowException) as err:
            self.close()
            raise InputError(name, f"is not a readable Arrow IPC (Feather) file ({_first_line(err)})") from None
        kind = "feather" if head.startswith(FILE_MAGIC) else "feather v1" if head.startswith(FEATHER_V1_MAGIC) else "arrow"
        self.info = SourceInfo(name, path, sha256, kind)
        self.columns = [str(c) for c in self._file.schema.names]

    def close(self) -> None:
        for f in self._closing:
            f.close()
        self._closing = []

    def frames(self, layout: Layout, chunk_rows: int) -> Iterator:
        return _prefetch(self._decode(layout, chunk_rows))

    def _decode(self, layout: Layout, chunk_rows: int) -> Iterator:
        def pieces():
            for batch in self._batches():
                batch = batch.select(layout.usecols)
                for start in range(0, batch.num_rows, chunk_rows):
                    yield batch.slice(start, chunk_rows)

        return _arrow_batches(self, pieces, layout, "Arrow IPC (Feather) file")
