"""In-memory tables: a pandas DataFrame, or one read from a file that keeps the file's name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .spec import Layout, SourceInfo
from .stream import _Reader

if TYPE_CHECKING:
    import pandas as pd

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


class _ArrowReader(_Reader):
    """A pyarrow Table (or a polars DataFrame, through its Arrow table), read in slices of rows:
    the validator reads Arrow columns in place when they are plainly valid."""

    def __init__(self, table, info: SourceInfo | None = None) -> None:
        self._table = table
        self.info = info or SourceInfo("Arrow table", None, None, "arrow")
        self.columns = [str(c) for c in table.column_names]

    def frames(self, layout: Layout, chunk_rows: int) -> Iterator:
        table = self._table.rename_columns(self.columns).select(layout.usecols)
        if table.num_rows == 0:
            yield table.to_pandas()
        for start in range(0, table.num_rows, chunk_rows):
            yield table.slice(start, chunk_rows).combine_chunks()


def arrow_table_of(data):
    """A pyarrow Table for a pyarrow Table or a polars DataFrame (asked without importing either),
    else None."""
    module = type(data).__module__.split(".")[0]
    if module == "pyarrow" and type(data).__name__ == "Table":
        return data
    if module == "polars" and type(data).__name__ == "DataFrame":
        return data.to_arrow()
    return None
