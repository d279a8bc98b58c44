"""CSV (optionally gzip-compressed) through Arrow's parser, in pieces cut at line ends."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ..errors import InputError
from .spec import NUMERIC_NA, Layout, SourceInfo
from .stream import _first_line, _Hashing, _head, _prefetch, _Reader

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
