"""Pairs of inputs: two models' predictions for the same rows (compare, check --baseline)."""

from __future__ import annotations

import errno
import math
import os
import stat
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .. import errors
from ..errors import InputError, display_path, opt, printable, quote
from ..ladder import UNITS
from .frame import Table
from .source import _open_reader
from .spec import InputSpec, Layout, _list_cols, batch_rows, plan_layout
from .validate import _as_text, _class_codes, _text_values, _Validator

if TYPE_CHECKING:
    import pandas as pd

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


def read_table(source: str | os.PathLike | pd.DataFrame, spec: InputSpec) -> tuple[Table, Layout]:
    """Read the columns an evaluation needs into memory (for aligning two inputs)."""
    import pandas as pd

    reader = _open_reader(source, spec)
    try:
        layout = plan_layout(reader.columns, spec, reader.info.name)
    except BaseException:
        reader.close()
        raise
    frames = [f for f in reader.frames(layout, batch_rows(len(layout.classes))) if len(f)]
    if not frames:
        raise InputError(reader.info.name, "has a header but no rows")
    if not any(isinstance(f, pd.DataFrame) for f in frames):  # all Arrow: join the pieces, convert once
        import pyarrow as pa

        frame = pa.concat_tables([pa.table(f) for f in frames]).to_pandas()
    else:
        frames = [f if isinstance(f, pd.DataFrame) else f.to_pandas() for f in frames]
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].reset_index(drop=True)
    return Table(frame, reader.info), layout


#: How each mode reads a file, in words (for a message when the two sides differ).
_MODES = {"labels": "labels and one probability column per class", "score": "labels and one binary score column",
          "soft": "soft targets"}


@dataclass(frozen=True)
class Pair:
    """Two tables whose rows match one to one, in the baseline's order."""

    base: Table
    cand: Table
    matched_by: str  # in words: "id column 'id'", "row order"
    dropped: tuple[int, int] | None = None  # common rows only: rows the baseline and the candidate lost


def align_pair(base: Table, base_layout: Layout, cand: Table, cand_layout: Layout, spec: InputSpec,
               base_spec: InputSpec | None = None, common: bool = False) -> Pair:
    """Both tables' rows, matched one to one in the baseline's order, and how they were matched.

    Rows are matched on the id column when both inputs have it, else by
    position. Different classes, ids, row counts or labels are input errors;
    each side's labels are checked against its own classes first (the same
    diagnosis as a report of that file: floats for integers, an unknown label).
    ``base_spec``: the baseline's own reading options, when they differ.
    ``common``: keep the rows whose id both inputs hold (ids are then required),
    and count what each side lost, instead of requiring the same ids.
    """
    import pandas as pd

    name = cand.info.name
    if base_layout.mode != cand_layout.mode:
        raise InputError(name, f"it is read as {_MODES[cand_layout.mode]}, the baseline as {_MODES[base_layout.mode]}",
                         hint="read both the same way (" + ("the --baseline-… options set" if errors.OPTION_STYLE == "cli"
                                                            else "the baseline_… keywords set")
                         + " the baseline's own reading)")
    if set(base_layout.classes) != set(cand_layout.classes):
        raise InputError(
            name,
            "its classes differ from the baseline's",
            hint=f"baseline {_list_cols(base_layout.classes)}, candidate {_list_cols(cand_layout.classes)}",
        )
    for table, layout, sp in ((base, base_layout, base_spec or spec), (cand, cand_layout, spec)):
        if layout.label_col:
            _Validator(table.info.name, layout, sp).labels(table.frame, 0)
    id_col = spec.id_col or ("id" if base_layout.id_col and cand_layout.id_col else None)
    frame, kept, dropped = cand.frame, None, None
    if common and not (id_col and id_col in base.frame and id_col in frame):
        raise errors.UsageError(f"{opt('common_rows', flag=True)} matches rows by their ids: both inputs need the id "
                                f"column ({opt('id_col')}, default 'id')")
    if id_col and id_col in base.frame and id_col in frame:
        base_ids, cand_ids = _as_text(base.frame[id_col]), _as_text(frame[id_col])
        for table, ids in ((base, base_ids), (cand, cand_ids)):
            dup = pd.Series(ids).duplicated(keep=False).to_numpy()
            if dup.any():
                raise InputError(table.info.name, "ids must be unique to match rows", column=id_col,
                                 rows=(np.flatnonzero(dup)[:5] + 1).tolist(), more=dup.sum() > 5)
        position = pd.Index(cand_ids).get_indexer(base_ids)
        missing = position < 0
        if common:
            kept = np.flatnonzero(~missing)
            if not len(kept):
                raise InputError(name, "has no id in common with the baseline", column=id_col,
                                 hint=f"e.g. baseline {quote(base_ids[0])}, candidate {quote(cand_ids[0])}")
            dropped = (int(missing.sum()), len(cand_ids) - len(kept))
            lost = f"the baseline lost {dropped[0]:,} row{'s' * (dropped[0] != 1)}, the candidate {dropped[1]:,}"
            base = Table(base.frame.iloc[kept].reset_index(drop=True), base.info)
            position = position[kept]
        elif missing.any() or len(cand_ids) != len(base_ids):
            extra = np.setdiff1d(cand_ids.astype(str), base_ids.astype(str))
            what = (f"{missing.sum()} baseline id(s) are missing from it, e.g. {quote(base_ids[missing][0])}" if missing.any()
                    else f"{len(extra)} of its id(s) are not in the baseline, e.g. {quote(extra[0])}")
            raise InputError(name, f"its rows do not match the baseline's: {what}", column=id_col,
                             hint="both files must hold predictions for the same rows (or "
                             f"{opt('common_rows', flag=True)} compares the rows both hold)")
        frame = frame.iloc[position].reset_index(drop=True)
        how = f"id column {quote(id_col)}" + (f", the rows both hold ({lost})" if common else "")
    else:
        if len(frame) != len(base.frame):
            raise InputError(name, f"has {len(frame)} rows but the baseline has {len(base.frame)}",
                             hint="without an id column in both files, rows are matched by position")
        how = "row order"
    if base_layout.label_col:
        differ = _text_differs(base.frame[base_layout.label_col], frame[cand_layout.label_col])
        if differ.any():
            at = np.flatnonzero(differ) if kept is None else kept[differ]  # the baseline's own row numbers
            raise InputError(name, f"labels differ from the baseline's when rows are matched by {how}",
                             column=cand_layout.label_col, rows=(at[:5] + 1).tolist(),
                             more=differ.sum() > 5, hint="row numbers are in the baseline's order")
    # the same column order as the baseline, so both sides number the classes alike
    order = [c for c in base.frame.columns if c in frame.columns] + [c for c in frame.columns if c not in base.frame.columns]
    return Pair(base, Table(frame[order], cand.info), how, dropped)


def _text_differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Row by row: do two columns hold different text? (Through their distinct values, not a
    string per row; missing equals missing.)"""
    import pandas as pd

    ta, tb = _text_values(a), _text_values(b)
    vocab = pd.Index(ta.categories).append(pd.Index(tb.categories)).unique()
    return _class_codes(ta, vocab) != _class_codes(tb, vocab)  # missing is −1 on both sides


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

    def check_against(self, rows: int, classes, soft: bool) -> None:
        """A baseline must score the same rows with the same classes: else the comparison
        means nothing, and a gate must not pass on it."""
        targets = "soft" if soft else "hard"
        if (self.rows, tuple(self.classes), self.targets) != (rows, tuple(classes), targets):
            raise InputError(
                display_path(self.path),
                f"is a report of {self.rows:,} rows, {self.targets} targets and classes {_list_cols(self.classes)}; "
                f"this run has {rows:,} rows, {targets} targets and classes {_list_cols(classes)}",
                hint="a baseline must score the same rows: pass the baseline model's report on this data",
            )


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
        unit = data["unit"]
        score = _json_number(data["overall"]["band_score"], "overall.band_score")
        rows = data["rows"]
        if not (_is_json_number(rows) and isinstance(rows, int) and rows >= 0):
            raise TypeError(f"rows must be a whole JSON number, got {_shown(rows)}")
        classes = data["classes"]
        if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
            raise TypeError("classes must be a list of names")
        return JsonBaseline(path, score / UNITS[unit], rows, tuple(classes), data.get("targets", "hard"))
    except (ValueError, KeyError, TypeError, RecursionError, UnicodeDecodeError) as err:
        raise InputError(name, f"is not an evalreport JSON report ({type(err).__name__}: {printable(str(err))[:120]})",
                         hint="pass the JSON written by 'evalreport report --json', or the baseline's predictions") from None
