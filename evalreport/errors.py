"""The one exception family evalreport raises on purpose.

Every error a user can cause (a bad file, a bad option, a gate that cannot be
evaluated) is an :class:`EvalReportError`. The CLI prints ``str(err)`` as one
line on stderr and exits with ``err.exit_code``; it never shows a traceback for
these. Anything else escaping is a bug in evalreport.
"""

from __future__ import annotations

from collections.abc import Sequence


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
            parts.append(f"column '{column}'")
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


def format_rows(rows: Sequence[int], more: bool = False, limit: int = 5) -> str:
    """``[3, 8, 9]`` → ``"3, 8, 9"``; longer lists are cut with an ellipsis."""
    shown = ", ".join(str(r) for r in rows[:limit])
    if more or len(rows) > limit:
        shown += ", …"
    return shown
