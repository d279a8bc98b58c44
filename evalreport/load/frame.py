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
