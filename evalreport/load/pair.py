"""Pairs of inputs: two models' predictions for the same rows (compare, check --baseline)."""

from __future__ import annotations

import errno
import math
import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import errors
from ..errors import InputError, display_path, opt, printable
from ..ladder import UNITS
from .spec import InputSpec, _list_cols

if TYPE_CHECKING:
    from .source import LoadedInput

# --------------------------------------------------------------------------- pairs of inputs


def check_two_sources(baseline, candidate) -> None:
    """Two models' inputs must be two sources: a stream ('-', a FIFO) is read once, so given for
    both the baseline would take it all and leave the candidate an empty input. One regular file
    given twice is fine (it is read twice)."""
    key = _stream_key(baseline)
    if key is not None and key == _stream_key(candidate):
        where = "standard input" if key == "-" else f"the stream {display_path(os.fspath(baseline))}"
        raise errors.UsageError(f"the baseline and the candidate are both {where}, which can be read only once; "
                                "save one of them to a file")


def _stream_key(source):
    """'-' for standard input, (device, inode) for a path that is no regular file, else None."""
    if not isinstance(source, (str, os.PathLike)):
        return None
    path = os.fspath(source)
    if path == "-":
        return "-"
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None  # the reader names the problem
    return None if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) else (st.st_dev, st.st_ino)


#: How each mode reads a file, in words (for a message when the two sides differ).
_MODES = {"labels": "labels and one probability column per class", "score": "labels and one binary score column",
          "soft": "soft targets"}


def check_layouts(base_layout, cand_layout, name: str) -> None:
    """Two inputs compared must be read the same way (mode) and hold the same classes."""
    if base_layout.mode != cand_layout.mode:
        raise InputError(name, f"it is read as {_MODES[cand_layout.mode]}, the baseline as "
                         f"{_MODES[base_layout.mode]}",
                         hint="read both the same way (" + ("the --baseline-… options set"
                                                            if errors.OPTION_STYLE == "cli"
                                                            else "the baseline_… keywords set")
                         + " the baseline's own reading)")
    if set(base_layout.classes) != set(cand_layout.classes):
        raise InputError(name, "its classes differ from the baseline's",
                         hint=f"baseline {_list_cols(base_layout.classes)}, candidate "
                         f"{_list_cols(cand_layout.classes)}")


def open_pair(baseline, candidate, spec: InputSpec, base_spec: InputSpec | None = None,
              chunk_rows: int | None = None) -> tuple[LoadedInput, LoadedInput, str | None]:
    """Both inputs opened (their headers read, nothing else) and checked against each other: the
    same mode and the same classes, the candidate's classes numbered in the baseline's order. And
    the id column rows are matched by: the one both have (``id`` by default), else None (by position).
    ``base_spec``: the baseline's own reading options, when they differ."""
    from dataclasses import replace

    from .source import DEFAULT_CHUNK_ROWS, LoadedInput

    chunk_rows = chunk_rows or DEFAULT_CHUNK_ROWS
    base_spec = base_spec or spec
    lb = LoadedInput(baseline, base_spec, chunk_rows=chunk_rows)
    try:
        lc = LoadedInput(candidate, spec, chunk_rows=chunk_rows)
    except BaseException:
        lb.close()
        raise
    try:
        base_layout = lb.layout
        check_layouts(base_layout, lc.layout, lc.source.name)
        if base_layout.mode != "score":  # the baseline's order: both sides number the classes alike
            classes = base_layout.classes
            lb = LoadedInput(baseline, replace(base_spec, classes=classes), chunk_rows=chunk_rows, reader=lb.reader)
            lc = LoadedInput(candidate, replace(spec, classes=classes), chunk_rows=chunk_rows, reader=lc.reader)
        id_col = spec.id_col or "id"
        by_id = id_col if base_layout.id_col == id_col and lc.layout.id_col == id_col else None
        return lb, lc, by_id
    except BaseException:
        lb.close()
        lc.close()
        raise


#: The largest JSON report read as a baseline (a report is a few MB even for thousands of classes).
MAX_BASELINE_BYTES = 256 << 20


@dataclass(frozen=True)
class JsonBaseline:
    """A previous run's JSON: enough for a point comparison of the band score."""

    path: str
    band_score_nats: float
    rows: int
    classes: tuple[str, ...]
    targets: str = "hard"
    eps: float | None = None  # None: not checked (a baseline made in Python)
    weighted: bool | None = None

    def check_against(self, rows: int, classes, soft: bool, eps: float | None = None,
                      weighted: bool | None = None) -> None:
        """A baseline must score the same rows with the same classes, the same clipping and the
        same weighting: else the comparison means nothing, and a gate must not pass on it."""
        targets = "soft" if soft else "hard"
        name = display_path(self.path)
        if (self.rows, tuple(self.classes), self.targets) != (rows, tuple(classes), targets):
            raise InputError(
                name,
                f"is a report of {self.rows:,} rows, {self.targets} targets and classes {_list_cols(self.classes)}; "
                f"this run has {rows:,} rows, {targets} targets and classes {_list_cols(classes)}",
                hint="a baseline must score the same rows: pass the baseline model's report on this data",
            )
        if None not in (self.eps, eps) and self.eps != eps:
            raise InputError(name, f"is a report with eps={self.eps:.6g}; this run clips at eps={eps:.6g}, which caps a "
                             "row's loss elsewhere", hint=f"pass {opt('eps')} {self.eps!r}, or report the baseline "
                             "again with this run's eps")
        if None not in (self.weighted, weighted) and self.weighted != weighted:
            which = ("its rows weighted", "this run's not") if self.weighted else ("its rows not weighted",
                                                                                   "this run's weighted")
            raise InputError(name, f"is a report with {which[0]}, {which[1]} ({opt('weight_col')}): the two means "
                             "are of other rows' shares", hint="weigh both runs alike")


def _is_json_number(value) -> bool:
    """A JSON number as Python's json reads it: an int or a float — never a bool (``true``), a
    string (``"0.15"``) or anything else a loose reading would turn into a number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _shown(value) -> str:
    return printable(repr(value))[:80]


def _json_number(value, what: str) -> float:
    """A finite JSON number as a float; anything else — ``true``, ``" 9 "``, ``"0.15"``, a number
    beyond the largest float — is a TypeError naming ``what`` (a gate never decides on it)."""
    if not _is_json_number(value):
        raise TypeError(f"{what} must be a JSON number, got {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise TypeError(f"{what} is beyond the largest float ({len(str(value)):,} digits)") from None
    if not math.isfinite(number):
        raise TypeError(f"{what} must be a finite number, got {_shown(value)}")
    return number


def read_json_baseline(path: str) -> JsonBaseline:
    """A JSON written by ``evalreport report --json`` (or ``check --json``, whose ``report`` it reads)."""
    import json

    name = display_path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BASELINE_BYTES + 1)
    except OSError as err:
        raise InputError(name, "no such file" if err.errno == errno.ENOENT else f"cannot be read ({err.strerror})") from None
    if len(raw) > MAX_BASELINE_BYTES:
        raise InputError(name, f"is larger than {MAX_BASELINE_BYTES >> 20} MiB: not a report written by evalreport")
    try:
        data = json.loads(raw.decode("utf-8"))
        if isinstance(data, dict) and "overall" not in data and isinstance(data.get("report"), dict):
            data = data["report"]  # the JSON of 'evalreport check'
        if isinstance(data, dict) and data.get("overall") is None and isinstance(data.get("lm"), dict):
            raise InputError(name, "is the JSON report of language-model sequences, which has no classifier score to "
                             "compare with", hint="pass the baseline run's own files (sequences, or the harness's "
                             "folder): --max-regression then compares the two runs' cross-entropy")
        unit = data["unit"]
        score = _json_number(data["overall"]["band_score"], "overall.band_score")
        rows = data["rows"]
        if not (_is_json_number(rows) and isinstance(rows, int) and rows >= 0):
            raise TypeError(f"rows must be a whole JSON number, got {_shown(rows)}")
        classes = data["classes"]
        if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
            raise TypeError("classes must be a list of names")
        eps, weighted = data["eps"], data["weighted"]
        if not (_is_json_number(eps) and 0 < eps < 0.5):
            raise TypeError(f"eps must be a JSON number between 0 and 0.5, got {_shown(eps)}")
        if not isinstance(weighted, bool):
            raise TypeError(f"weighted must be true or false, got {_shown(weighted)}")
        return JsonBaseline(path, score / UNITS[unit], rows, tuple(classes), data.get("targets", "hard"), float(eps),
                            weighted)
    except (ValueError, KeyError, TypeError, RecursionError, UnicodeDecodeError) as err:
        raise InputError(name, f"is not an evalreport JSON report ({type(err).__name__}: {printable(str(err))[:120]})",
                         hint="pass the JSON written by 'evalreport report --json', or the baseline's predictions") from None
