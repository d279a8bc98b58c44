"""CSV (optionally gzip-compressed) through Arrow's parser, in pieces cut at line ends."""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import InputError, opt, quote
from .lines import MAX_ROW_BYTES, LineCutter
from .spec import NUMERIC_NA, Layout, SourceInfo
from .stream import _first_line, _Hashing, _prefetch, _Reader

if TYPE_CHECKING:
    import pandas as pd

#: Bytes of CSV parsed at a time by the Arrow reader (about 80,000 rows of 10 classes; measured
#: faster than 32 MiB pieces, and a quarter of the memory in flight).
PIECE_BYTES = 8 << 20


class _CsvReader(_Reader):
    """CSV (optionally gzip-compressed) from a file or a stream, read once.

    The header is the first row that is not blank, read by the cutter
    (:class:`~evalreport.load.lines.LineCutter`) and parsed by the ``csv`` module;
    the rows go to Arrow's multi-threaded parser in pieces of whole rows. A piece
    Arrow rejects is checked for rows with a wrong number of fields and for bytes
    that are not UTF-8, then parsed by pandas, whose values the validator names.
    The raw bytes are hashed as they are read, on a thread of their own.
    """

    def __init__(self, name: str, path: str | None, stream, owned: bool = True, delimiter: str = ",",
                 decimal: str = ".") -> None:
        self._delimiter, self._decimal = delimiter, decimal
        self._hashing = _Hashing(stream, owned=owned)
        try:
            head = _read_exactly(self._hashing, 2)
            self._gz = head == b"\x1f\x8b"
            self.info = SourceInfo(name, path, None, "csv.gz" if self._gz else "csv")
            body = _Prefixed(head, self._hashing)
            self._text = self._gunzipped(body) if self._gz else body
            self._cutter = LineCutter(self._text, name, PIECE_BYTES, delimiter.encode())
            header = self._reading(self._cutter.header)
            if not header:
                raise InputError(name, "the file is empty" if path else "the input is empty")
            self.columns = self._parse_header(header)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._hashing.close()

    def _gunzipped(self, body) -> _Prefixed:
        """The decompressed stream; a binary table inside the gzip (``.parquet.gz``) is named as such."""
        gz = gzip.GzipFile(fileobj=body, mode="rb")
        inner = self._reading(lambda: _read_exactly(gz, 8))
        for magic, what in ((b"PAR1", "Parquet"), (b"ARROW1", "Arrow IPC (Feather)")):
            if inner.startswith(magic):
                raise InputError(self.info.name, f"is a gzip-compressed {what} file",
                                 hint=f"decompress it (gunzip): {what} compresses its own data, and is read as it is")
        return _Prefixed(inner, gz)

    def _reading(self, read):
        """Call ``read``; a broken compressed stream or a failing device is an input error."""
        try:
            return read()
        except (gzip.BadGzipFile, EOFError, zlib.error) as err:
            raise InputError(self.info.name, f"cannot be read as gzip-compressed CSV ({_first_line(err)})") from None
        except OSError as err:
            raise InputError(self.info.name, f"cannot be read ({err.strerror or _first_line(err)})") from None

    def _parse_header(self, header: bytes) -> list[str]:
        if header.startswith(codecs.BOM_UTF8):
            header = header[len(codecs.BOM_UTF8) :]
        try:
            text = header.decode("utf-8")
        except UnicodeDecodeError as err:
            raise self._not_utf8(None, err.start, self._cutter.header_offset) from None
        directive = text.strip("\r\n")
        if directive.lower().startswith("sep=") and len(directive) == 5:  # Excel's note of the delimiter
            sep = directive[4]
            named = "tab" if sep == "\t" else quote(sep)
            also = "" if sep == self._delimiter else f", and pass {opt('delimiter')} {named}"
            raise InputError(self.info.name, f"the first line, {quote(directive)}, is Excel's note of the delimiter",
                             hint=f"delete that line{also}")
        records = [r for r in _records(csv.reader(io.StringIO(text, newline=""), delimiter=self._delimiter),
                                       self.info.name) if r]
        if len(records) > 1:  # a CR outside quotes: every CSV parser ends the line there
            raise InputError(self.info.name, "the header holds a line break (CR) outside quotes",
                             hint="quote the column name that holds it, or remove the CR")
        names = records[0] if records else []
        columns = [c if c else f"Unnamed: {i}" for i, c in enumerate(names)]  # as pandas names them
        seen: dict[str, int] = {}
        for i, c in enumerate(columns):
            if c in seen:
                raise InputError(self.info.name, f"two columns are named {quote(c)} (columns {seen[c] + 1} and {i + 1})",
                                 hint="rename one: evalreport cannot tell which one to read")
            seen[c] = i
        return columns

    def _not_utf8(self, piece: bytes | None, start: int, offset: int) -> InputError:
        """The first byte that is not UTF-8: its offset in the (decompressed) input, and its row
        (``piece`` None: in the header)."""
        where = "in the header" if piece is None else f"row {self._row_in(piece, start):,}"
        return InputError(
            self.info.name,
            f"is not UTF-8 text (first bad byte at offset {offset + start}, {where})",
            hint="re-save it as UTF-8",
        )

    def _row_in(self, piece: bytes, position: int) -> int:
        """The data row of ``position`` in a piece (blank lines not counted, as the parsers skip them)."""
        eol = bytes([self._cutter.eol])
        lines = piece[:position].split(eol)[:-1]
        return self._cutter.rows_before + 1 + sum(1 for line in lines if line.strip(b" \t\r"))

    def frames(self, layout: Layout, chunk_rows: int) -> Iterator:
        # parse the next piece on a second thread while the caller works on this one
        return _prefetch(self._parse(layout, chunk_rows))

    def _parse(self, layout: Layout, chunk_rows: int) -> Iterator:
        """Arrow tables, or pandas frames for a piece Arrow rejects."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        # labels and slice values repeat: read them as categories (codes and a few distinct strings)
        coded = {c: pa.dictionary(pa.int32(), pa.string()) for c in [layout.label_col, *layout.group_cols] if c}
        types = {c: pa.float64() for c in layout.numeric_cols} | {c: pa.string() for c in layout.text_cols} | coded
        convert = pacsv.ConvertOptions(
            include_columns=layout.usecols,
            column_types=types,
            null_values=NUMERIC_NA,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            decimal_point=self._decimal,
        )
        read = pacsv.ReadOptions(column_names=self.columns, use_threads=True)
        parse = pacsv.ParseOptions(delimiter=self._delimiter)
        pieces = self._cutter.pieces()
        try:
            while (piece := self._reading(lambda: next(pieces, None))) is not None:
                try:
                    table = pacsv.read_csv(pa.py_buffer(piece), read_options=read, parse_options=parse,
                                           convert_options=convert)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    self._check_rows(piece, self._cutter.offset)
                    for frame in self._pandas_frames(io.BytesIO(piece), layout, chunk_rows):
                        self._cutter.rows_before += len(frame)
                        yield frame
                    continue
                self._cutter.rows_before += table.num_rows
                yield table
            self._reading(self._hashing.drain)  # what a compressed stream left unread, for the hash
            self.info = SourceInfo(self.info.name, self.info.path, self._hashing.hexdigest(), self.info.format)
        finally:
            self.close()

    def _check_rows(self, piece, offset: int) -> None:
        """The problems pandas would report badly: bytes that are not UTF-8, and rows whose
        number of fields differs from the header's (pandas would shift or drop values)."""
        piece = bytes(piece)
        try:
            text = piece.decode("utf-8")
        except UnicodeDecodeError as err:
            raise self._not_utf8(piece, err.start, offset) from None
        n, row = len(self.columns), self._cutter.rows_before
        if csv.field_size_limit() < MAX_ROW_BYTES:  # the csv module's own bound (128 KiB) is below ours
            csv.field_size_limit(MAX_ROW_BYTES)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self._delimiter)
        for record in _records(reader, self.info.name):
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line: skipped, as Arrow and pandas skip it
            row += 1
            if len(record) != n:
                more = len(record) > n
                raise InputError(
                    self.info.name,
                    f"row {row:,} has {len(record)} fields, but the header has {n}",
                    hint="a value with the delimiter in it must be quoted" if more else "is a value missing?",
                )


    def _pandas_frames(self, source, layout: Layout, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """A piece of CSV (no header line) through pandas: its errors name the offending values."""
        import pandas as pd

        text = layout.text_cols
        reader = pd.read_csv(
            source,
            sep=self._delimiter,
            decimal=self._decimal,
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
        except pd.errors.ParserError as err:
            raise InputError(self.info.name, f"is not valid CSV ({_first_line(err)})") from None


def _records(reader, name: str):
    """The csv module's records; its own errors (it has few) as one input error."""
    try:
        yield from reader
    except csv.Error as err:
        raise InputError(name, f"is not valid CSV (line {reader.line_num}: {err})") from None


def _read_exactly(stream, n: int) -> bytes:
    """Up to ``n`` bytes (fewer only at the end of the input: a pipe may hand out less)."""
    out = b""
    while len(out) < n:
        more = stream.read(n - len(out))
        if not more:
            break
        out += more
    return out


class _Prefixed:
    """A binary stream that first gives back ``head`` (bytes already read to look at), then the
    rest. ``owned``: closing it closes the stream (not so for standard input)."""

    def __init__(self, head: bytes, stream, owned: bool = True) -> None:
        self._head, self._stream, self._owned = head, stream, owned

    def close(self) -> None:
        if self._owned:
            self._stream.close()

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                out, self._head = self._head + self._stream.read(), b""
                return out
            out, self._head = self._head[:n], self._head[n:]
            if len(out) < n:
                out += self._stream.read(n - len(out))
            return out
        return self._stream.read(n)
