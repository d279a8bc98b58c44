"""The one exception family evalreport raises on purpose.

Every error a user can cause (a bad file, a bad option, a gate that cannot be
evaluated) is an :class:`EvalReportError`. The CLI prints ``str(err)`` as one
line on stderr and exits with ``err.exit_code``; it never shows a traceback for
these. Anything else escaping is a bug in evalreport.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

#: The longest value from the data quoted in a message; longer ones are cut, with their length noted.
QUOTE_LIMIT = 80
#: How messages name options: "python" (``label_col=``, evaluate()'s keywords) unless the command
#: line runs, which sets "cli" (``--label-col``) for the length of a command. A module global, not a
#: context variable: errors are also raised on the reader's own thread.
OPTION_STYLE = "python"


def opt(name: str, flag: bool = False) -> str:
    """An option as the caller spells it: ``--label-col`` on the command line, ``label_col=`` in
    Python; a ``flag`` is ``--renormalize`` or ``renormalize=True``."""
    if OPTION_STYLE == "cli":
        return "--" + name.replace("_", "-")
    return f"{name}=True" if flag else f"{name}="


class EvalReportError(Exception):
    """Base class: a problem the user can fix. ``slug`` names the kind."""

    slug = "error"
    exit_code = 2


class InputError(EvalReportError):
    """The predictions file (or DataFrame) cannot be evaluated as it is."""

    slug = "input"

    def __init__(
        self,
        source: str,
        message: str,
        *,
        column: str | None = None,
        rows: Sequence[int] | None = None,
        more: bool = False,
        hint: str | None = None,
    ) -> None:
        self.source = source
        self.message = message
        self.column = column
        self.rows = list(rows) if rows is not None else None
        self.more = more
        self.hint = hint
        parts = [source]
        if column is not None:
            parts.append(f"column {quote(column)}")
        text = ": ".join(parts) + f": {message}"
        if self.rows:
            text += f" (rows {format_rows(self.rows, more)})"
        if hint:
            text += f"; {hint}"
        super().__init__(text)

    def __reduce__(self):  # so the error crosses process boundaries (a dask worker → the client)
        return (_rebuild_input_error, (self.source, self.message, self.column, self.rows, self.more, self.hint))


def _rebuild_input_error(source, message, column, rows, more, hint) -> InputError:
    return InputError(source, message, column=column, rows=rows, more=more, hint=hint)


class UsageError(EvalReportError):
    """Options that contradict each other or a config file that is wrong."""

    slug = "usage"


class OutputError(EvalReportError):
    """An output file could not be written (nothing was left behind)."""

    slug = "output"


class TrackerError(EvalReportError):
    """An experiment tracker (MLflow, Weights & Biases) refused or could not be reached; the local
    outputs were written before it was tried."""

    slug = "tracker"


class FigureError(RuntimeError):
    """A figure came out as NaN or ∞: a bug in evalreport, never a user's error. It is not an
    EvalReportError, so the command line exits 3 (internal error) — a gate never sees it."""

    def __init__(self, what: str) -> None:
        super().__init__(f"a figure is not a number: {what}")


def printable(text: str) -> str:
    """``text`` on one line: control characters, line ends and the stand-ins for bytes that
    were not UTF-8 (in file names) escaped as ``\\n``, ``\\x1b``, ``\\xe9``, …"""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by the file system's decoding
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(ch.encode("unicode_escape").decode("ascii") if code > 0x1F or ch in "\t\n\r" else f"\\x{code:02x}")
    return "".join(out)


def quote(value, limit: int = QUOTE_LIMIT) -> str:
    """A value from the data for a one-line message: quoted, made printable, and cut to
    ``limit`` characters with a note of its full length (a 50 MB label stays one short line)."""
    text = str(value)
    if len(text) <= limit:
        return f"'{printable(text)}'"
    return f"'{printable(text[:limit])}…' ({len(text):,} characters)"


def display_path(path: str | os.PathLike) -> str:
    """A path as messages and reports show it: printable, bytes that were not UTF-8 as ``\\xNN``."""
    return printable(os.fspath(path))


def format_rows(rows: Sequence[int], more: bool = False, limit: int = 5) -> str:
    """``[3, 8, 9]`` → ``"3, 8, 9"``; longer lists are cut with an ellipsis."""
    shown = ", ".join(str(r) for r in rows[:limit])
    if more or len(rows) > limit:
        shown += ", …"
    return shown
