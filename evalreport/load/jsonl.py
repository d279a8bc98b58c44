"""JSON lines (optionally gzip-compressed): one object per line, read in blocks of whole lines.

The columns are the keys of the first lines' objects, in the order first seen. Each block goes to
Arrow's JSON parser; its columns are then given the types the layout reads (numbers as float64,
labels, ids and slices as text: a JSON number there becomes its text, ``true`` becomes "true").
A block Arrow rejects — a line that is not JSON, a field whose type changes — is read line by line
with Python's parser instead, which names the line and the field. Row 1 is the first object
(blank lines are not counted). The raw bytes are hashed as they are read.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import zlib
from collections.abc import Iterator

from ..errors import InputError, quote
from .spec import SourceInfo
from .stream import _first_line, _Hashing, _prefetch, _Reader

#: Bytes of JSON lines parsed at a time.
BLOCK_BYTES = 8 << 20
#: Lines read to learn the columns.
HEAD_LINES = 1000
#: The longest line (one object).
MAX_LINE_BYTES = 64 << 20


def looks_like_jsonl(head: bytes) -> bool:
    """Whether the first bytes are a JSON object (a JSON-lines file), not a CSV header."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"{")


class _JsonlReader(_Reader):
    def __init__(self, name: str, path: str | None, stream, owned: bool = True, gz: bool = False) -> None:
        self._hashing = _Hashing(stream, owned=owned)
        self.info = SourceInfo(name, path, None, "jsonl.gz" if gz else "jsonl")
        self._raw = gzip.GzipFile(fileobj=self._hashing, mode="rb") if gz else self._hashing
        self._rest = b""
        self._line = 0  # lines read so far (for messages)
        self._row = 0  # objects read so far
        try:
            self._first = self._block()
            self.columns = self._columns(self._first)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._hashing.close()

    # ----------------------------------------------------------------- blocks of whole lines

    def _read(self, n: int) -> bytes:
        try:
            return self._raw.read(n)
        except (gzip.BadGzipFile, EOFError, zlib.error) as err:
            raise InputError(self.info.name, f"cannot be read as gzip-compressed JSON lines ({_first_line(err)})") from None
        except OSError as err:
            raise InputError(self.info.name, f"cannot be read ({err.strerror or _first_line(err)})") from None

    def _block(self) -> tuple[int, bytes] | None:
        """The next block of whole lines and the number of its first line; None at the end."""
        data = self._rest
        while True:
            more = self._read(BLOCK_BYTES)
            data += more
            cut = data.rfind(b"\n")
            if not more:
                block, self._rest = data, b""
                break
            if cut >= 0 and len(data) >= BLOCK_BYTES // 2:
                block, self._rest = data[: cut + 1], data[cut + 1 :]
                break
            if cut < 0 and len(data) > MAX_LINE_BYTES:
                raise InputError(self.info.name, f"line {self._line + 1:,} is longer than {MAX_LINE_BYTES >> 20} MiB")
        if not block.strip():
            return None
        first = self._line + 1
        self._line += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        return first, block

    def _columns(self, first) -> list[str]:
        if first is None:
            raise InputError(self.info.name, "the file is empty" if self.info.path else "the input is empty")
        names: dict[str, None] = {}
        for number, obj in self._objects(first, limit=HEAD_LINES):
            for key in obj:
                names.setdefault(str(key), None)
        return list(names)

    def _objects(self, block, limit: int | None = None) -> Iterator[tuple[int, dict]]:
        """Each line of a block as (line number, object), with Python's parser."""
        first, data = block
        for i, line in enumerate(data.split(b"\n")):
            if limit is not None and i >= limit:
                return
            if not line.strip():
                continue
            number = first + i
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError) as err:
                cut = " (the line is cut short: a truncated file?)" if not line.rstrip().endswith(b"}") else ""
                raise InputError(self.info.name, f"line {number:,}: not valid JSON{cut} ({type(err).__name__}: "
                                 f"{str(err)[:100]})") from None
            if not isinstance(obj, dict):
                raise InputError(self.info.name, f"line {number:,}: not a JSON object, got {_shown(obj)}",
                                 hint="a JSON-lines file holds one object per line")
            yield number, obj

    # ----------------------------------------------------------------- tables

    def frames(self, layout, chunk_rows: int) -> Iterator:
        return _prefetch(self._tables(layout))

    def objects(self) -> Iterator[tuple[int, dict]]:
        """Every object of the file with its line number, with Python's parser (for inputs read as
        a whole: multiple-choice questions)."""
        block, self._first = self._first, None
        while block is not None:
            yield from self._objects(block)
            block = self._block()
        self._finish()

    def _tables(self, layout) -> Iterator:
        numeric, text = set(layout.numeric_cols), [c for c in layout.usecols if c not in layout.numeric_cols]
        block, self._first = self._first, None
        while block is not None:
            yield self._table(block, layout.usecols, numeric, text)
            block = self._block()
        self._finish()

    def _finish(self) -> None:
        if hasattr(self._raw, "read") and self._raw is not self._hashing:
            self._hashing.drain()
        self.info = SourceInfo(self.info.name, self.info.path, self._hashing.hexdigest(), self.info.format)

    def _table(self, block, usecols: list[str], numeric: set, text: list[str]):
        """A block as an Arrow table of ``usecols``: Arrow's parser, or Python's where it fails."""
        import pyarrow as pa
        import pyarrow.json as pj

        try:
            table = pj.read_json(io.BytesIO(block[1]))
        except (pa.ArrowInvalid, pa.ArrowException):
            return self._python_table(block, usecols, numeric)
        columns = {}
        for c in usecols:
            col = table.column(c) if c in table.column_names else pa.nulls(table.num_rows)
            converted = _as_number(col) if c in numeric else _as_text(col)
            if converted is None:  # a type Arrow cannot give as asked: Python names the line
                return self._python_table(block, usecols, numeric)
            columns[c] = converted
        return pa.table(columns)

    def _python_table(self, block, usecols: list[str], numeric: set):
        import pyarrow as pa

        values: dict[str, list] = {c: [] for c in usecols}
        for number, obj in self._objects(block):
            for c in usecols:
                v = obj.get(c)
                values[c].append(_number(self.info.name, number, c, v) if c in numeric
                                 else _text(self.info.name, number, c, v))
        return pa.table({c: pa.array(values[c], type=pa.float64() if c in numeric else pa.string())
                         for c in usecols})


def _as_number(col):
    import pyarrow as pa

    t = col.type
    if pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_null(t):
        return col.cast(pa.float64())
    return None


def _as_text(col):
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return col.cast(pa.string())
    if pa.types.is_integer(t) or pa.types.is_null(t):
        return col.cast(pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(col, "true", "false")
    return None


def _number(name: str, line: int, column: str, v):
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(name, f"line {line:,}: field {quote(column)}: {_shown(v)} is not a number",
                         hint="write numbers without quotes")
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _text(name: str, line: int, column: str, v):
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    raise InputError(name, f"line {line:,}: field {quote(column)}: {_shown(v)} where one value belongs")


def _shown(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:60] + "…"
