"""Cutting a stream of CSV bytes into pieces of whole rows, in one linear pass.

A piece may end only at a line end outside a quoted field, so the quotes must be
followed as a CSV parser follows them: a quote opens a quoted field only at the
start of a field (after a delimiter or a line end); inside one, a run of quotes
of even length is escaped quotes and a run of odd length closes it; a quote in
the middle of an unquoted field (``1",a``) is an ordinary character, as Arrow and
pandas read it. Runs of quotes are found with numpy a block at a time, and the
state (inside a quoted field or not) is carried from block to block, so the work
is linear in the input however the quotes fall. A block without a quote, outside
a quoted field, costs two searches in C and nothing else (no counting of lines).

Bounds: a row — one line, or a quoted field spanning lines — may be at most
:data:`MAX_ROW_BYTES`; beyond it, or at the end of the input inside a quoted
field, the cutter raises one :class:`~evalreport.errors.InputError` naming the
row. Rows are numbered as everywhere in evalreport: data rows, the first after
the header is row 1, blank lines not counted. The cutter knows how many rows the
pieces it handed out held (``rows_before``, kept up to date by the reader, which
parses each piece before asking for the next) and counts the rest in the bytes
it still holds, only when it has an error to report.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import InputError

#: The longest row (a line, or a quoted field spanning lines) the reader accepts, in bytes.
MAX_ROW_BYTES = 64 << 20
QUOTE = 0x22
#: After this many quotes in the middle of unquoted fields in one block, the block's quote runs
#: are followed one by one (still linear), instead of re-checked in vector passes.
_STRAY_PASSES = 8


class LineCutter:
    """Pieces of whole rows from a binary stream (see the module's notes).

    ``header()`` returns the first row that is not blank (its bytes without the
    line end); ``pieces()`` then yields the rest in pieces of about ``size`` bytes,
    each ending with a line end outside quotes (the last one at the end of the input).
    ``offset`` is the byte offset of the piece last yielded; the reader adds the rows
    it parsed from each piece to ``rows_before``.
    """

    def __init__(self, stream, name: str, size: int, delimiter: bytes = b",") -> None:
        self._stream = stream
        self._name = name
        self._size = size
        self._delim = delimiter[0]
        self._eol = 0x0A  # set to CR for a file whose lines end with CR alone
        self._inside = False  # inside a quoted field at the end of what was scanned
        self._prev = 0x0A  # the byte before the next one scanned (the start is a field's start)
        self._opened = 0  # where the open quoted field opened: a position in the bytes held
        self._parts: list[bytes] = []  # what is read but not yet handed out
        self._pending = 0  # bytes in _parts
        self._base = 0  # byte offset (in the decompressed input) of the start of _parts
        self.offset = 0  # byte offset of the piece last yielded
        self.rows_before = 0  # data rows in the pieces handed out (kept by the reader)
        self.header_offset = 0

    @property
    def eol(self) -> int:
        """The byte that ends lines: LF, or CR in a file whose lines end with CR alone."""
        return self._eol

    # ------------------------------------------------------------------ reading

    def _read(self) -> bytes:
        """The next block, never ending inside a run of quotes (so runs are whole)."""
        block = self._stream.read(self._size)
        while block and block[-1] == QUOTE:
            more = self._stream.read(4096)
            if not more:
                break
            block += more
        return block

    # ------------------------------------------------------------------ scanning

    def _outside_ends(self, block: bytes) -> np.ndarray | int:
        """Line ends of ``block`` outside quoted fields (positions), carrying the state on.
        Returns -1 in place of an array when the block holds no quote and starts outside
        (the caller then cuts at the last line end with bytes.rfind)."""
        if not self._inside and QUOTE not in block:
            self._prev = block[-1]
            return -1
        arr = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(arr == self._eol)
        q = np.flatnonzero(arr == QUOTE)
        if not len(q):  # inside a quoted field all through
            self._prev = block[-1]
            return ends[:0]
        brk = np.flatnonzero(np.diff(q) != 1) + 1
        starts = q[np.concatenate([[0], brk])]
        lengths = np.diff(np.concatenate([[0], brk, [len(q)]]))
        before = arr[np.maximum(starts - 1, 0)]
        if starts[0] == 0:
            before[0] = self._prev
        at_start = (before == self._delim) | (before == 0x0A) | (before == 0x0D)
        odd = (lengths & 1).astype(bool)
        toggles = _toggles(odd, at_start, self._inside)
        inside_after = self._inside ^ (np.cumsum(toggles) & 1).astype(bool)
        inside_before = np.concatenate([[self._inside], inside_after[:-1]])
        opened = np.flatnonzero(toggles & ~inside_before)
        if inside_after[-1] and len(opened):  # where the open field opened, for an error
            self._opened = self._pending + int(starts[opened[-1]])
        runs_before = np.searchsorted(starts, ends)
        inside_at = np.where(runs_before > 0, inside_after[np.maximum(runs_before - 1, 0)], self._inside)
        self._inside = bool(inside_after[-1])
        self._prev = block[-1]
        return ends[~inside_at]

    # ------------------------------------------------------------------ the header

    def header(self) -> bytes:
        """The first row that is not blank, without its line end (b"" for an empty input)."""
        start = 0  # where the row being looked at starts, in the bytes read so far
        first = True
        while True:
            block = self._read()
            if not block:
                break
            if first:
                self._detect_eol(block)
                first = False
            data = self._take(block)
            for end in self._ends_in(data, len(data) - len(block)):
                if data[start:end].strip(b" \t\r"):
                    self.header_offset = start
                    self._base = end + 1
                    self._opened -= end + 1  # positions are counted from the new start
                    self._reset(data[end + 1 :])
                    return data[start:end].rstrip(b"\r")
                start = end + 1  # a blank line before the header
            self._check_length()
        if self._inside:
            self._unterminated()
        data = b"".join(self._parts)[start:].strip(b"\r\n \t")
        self.header_offset = start
        self._reset(b"")
        return data

    def _detect_eol(self, block: bytes) -> None:
        """CR alone ends lines in some old files: cut at CR then. Such a file has no LF at all (a CR
        in a quoted value of a file with LF line ends is only a character)."""
        if b"\n" not in block and b"\r" in block:
            self._eol = 0x0D

    def _take(self, block: bytes) -> bytes:
        """Hold ``block`` after what is held (its quotes scanned next); all of it, joined."""
        self._parts.append(block)
        joined = b"".join(self._parts) if len(self._parts) > 1 else block
        return joined

    def _ends_in(self, data: bytes, scanned: int) -> Iterator[int]:
        """Positions in ``data`` of the line ends outside quotes after its first ``scanned`` bytes
        (scanned before: they hold none). The state is carried over the whole block at once."""
        self._pending = scanned
        ends = self._outside_ends(data[scanned:])
        self._pending = len(data)
        if isinstance(ends, int):
            eol = bytes([self._eol])
            i = data.find(eol, scanned)
            while i >= 0:
                yield i
                i = data.find(eol, i + 1)
            return
        for e in ends:
            yield int(e) + scanned

    # ------------------------------------------------------------------ the pieces

    def pieces(self) -> Iterator[bytes | memoryview]:
        """The rest of the input after the header, in pieces of whole rows (bytes, or a view of
        a block when a piece is one block's head: no copy for Arrow to read)."""
        eol = bytes([self._eol])
        while True:
            block = self._read()
            if not block:
                break
            ends = self._outside_ends(block)
            cut = block.rfind(eol) if isinstance(ends, int) else (int(ends[-1]) if len(ends) else -1)
            if cut < 0:
                self._parts.append(block)
                self._pending += len(block)
                self._check_length()
                continue
            head = memoryview(block)[: cut + 1]
            yield from self._hand_out(b"".join([*self._parts, head]) if self._parts else head)
            self._opened -= self._pending + cut + 1  # positions are counted from the new start
            self._reset(block[cut + 1 :])
        if self._inside:
            self._unterminated()
        rest = b"".join(self._parts)
        if rest.strip(b"\r\n \t"):
            yield from self._hand_out(rest)
        self._reset(b"")

    def _hand_out(self, piece) -> Iterator[bytes | memoryview]:
        self.offset = self._base
        yield piece
        self._base += len(piece)

    # ------------------------------------------------------------------ bookkeeping, bounds, errors

    def _reset(self, rest: bytes) -> None:
        """Hold only ``rest`` (scanned already; whether it ends inside a quote is self._inside)."""
        self._parts = [rest] if rest else []
        self._pending = len(rest)

    def _row_at(self, position: int) -> int:
        """The data row (1-based, blank lines not counted) holding ``position`` of the bytes held:
        the rows handed out, and the rows that end (outside quotes) before it — scanned afresh
        (the bytes held start at a row's start), only when an error is reported."""
        held = b"".join(self._parts)[: max(position, 0)]
        scan = LineCutter(None, self._name, 0, bytes([self._delim]))
        scan._eol = self._eol
        ends = scan._outside_ends(held) if held else np.zeros(0, dtype=np.intp)
        if isinstance(ends, int):
            ends = np.flatnonzero(np.frombuffer(held, dtype=np.uint8) == self._eol)
        rows, start = 0, 0
        for end in ends:
            rows += bool(held[start:end].strip(b" \t\r"))
            start = int(end) + 1
        return self.rows_before + 1 + rows

    def _check_length(self) -> None:
        if self._pending <= MAX_ROW_BYTES:
            return
        limit = f"{MAX_ROW_BYTES >> 20} MiB" if MAX_ROW_BYTES % (1 << 20) == 0 else f"{MAX_ROW_BYTES:,} bytes"
        if self._inside:
            raise InputError(self._name, f"a quoted field that opens in row {self._row_at(self._opened):,} runs on "
                             f"for more than {limit}", hint="is a quote not closed? a row may be at most " + limit)
        raise InputError(self._name, f"row {self._row_at(0):,} is longer than {limit} without a line end",
                         hint="is this a CSV file? a row may be at most " + limit)

    def _unterminated(self) -> None:
        raise InputError(self._name, f"the quoted field that opens in row {self._row_at(self._opened):,} is never "
                         "closed", hint="a quote opens a field when it starts one; close it, or write the quote as \"\"")


def _toggles(odd: np.ndarray, at_start: np.ndarray, inside: bool) -> np.ndarray:
    """Which runs of quotes flip the state (inside a quoted field or not), starting ``inside``.

    Outside a quoted field, a run flips the state when it is odd and starts a field;
    inside one, when it is odd. So every odd run flips it, except an odd run in the middle
    of an unquoted field ("stray"). Assume they all flip, find the first stray one met
    outside, correct from there on, and repeat; after a few strays, follow the runs one by one.
    """
    t = odd.copy()
    stray = odd & ~at_start
    i = 0
    for _ in range(_STRAY_PASSES):
        if not stray[i:].any():
            return t
        before = inside ^ (np.concatenate([[0], np.cumsum(t[i:])[:-1]]) & 1).astype(bool)
        bad = np.flatnonzero(stray[i:] & ~before)
        if not len(bad):
            return t
        j = i + int(bad[0])
        t[j] = False
        inside = False  # the stray run leaves it outside
        i = j + 1
    for j in range(i, len(t)):
        if stray[j] and not inside:
            t[j] = False
        inside ^= bool(t[j])
    return t
