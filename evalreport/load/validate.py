"""Validation: one chunk of rows (pandas or Arrow) → a Batch of numpy arrays, or an InputError.

A plainly valid Arrow chunk (hard labels, probabilities in [0, 1]) never touches pandas, and
pandas is imported only when a chunk needs it (a DataFrame, or a chunk with a problem to name):
a file read through Arrow is checked without paying pandas' import (0.2 s, a fifth of ``check``).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, opt, quote
from .spec import MISSING_GROUP, SUM_TOLERANCE, Batch, Codes, InputSpec, Layout, _list_cols, is_frame

if TYPE_CHECKING:
    import pandas as pd

# --------------------------------------------------------------------------- validation


class _Validator:
    """Turns one DataFrame chunk into a :class:`Batch`, or raises InputError."""

    def __init__(self, name: str, layout: Layout, spec: InputSpec) -> None:
        self.name = name
        self.layout = layout
        self.spec = spec
        self.negative_labels: dict[str, None] = {}  # "score" mode: labels other than the positive one
        self.positive_seen = False  # "score" mode: has the positive label occurred yet
        self.logits_look_like_probabilities: bool | None = None  # --logits on rows in [0, 1] summing to 1

    def _fail(self, message: str, column: str | None, bad: np.ndarray, row0: int, hint: str | None = None):
        idx = np.flatnonzero(bad)
        rows = (idx[:5] + row0 + 1).tolist()
        raise InputError(self.name, message, column=column, rows=rows, more=len(idx) > 5, hint=hint)

    def numeric(self, frame: pd.DataFrame, col: str, row0: int) -> np.ndarray:
        import pandas as pd

        s = frame[col]
        if s.dtype == bool:
            s = s.astype(np.float64)
        if not pd.api.types.is_numeric_dtype(s):
            try:
                values = pd.to_numeric(s, errors="coerce")
            except TypeError:  # lists, dicts: values pandas cannot even try
                self._nested(s, col, row0, "a number")
            bad = (values.isna() & s.notna()).to_numpy()
            if bad.any():
                first = s.to_numpy(dtype=object)[np.flatnonzero(bad)[0]]
                hint = f"e.g. {quote(first)}"
                if self.spec.decimal == "." and re.fullmatch(r"\s*[-+]?\d*,\d+(e[-+]?\d+)?\s*", str(first), re.I):
                    hint += f"; numbers with a decimal comma? pass {opt('decimal')} ','"
                elif re.fullmatch(r"\s*[-+]?[\d.]+(e[-+]?\d+)?\s*%\s*", str(first), re.I):
                    hint += "; percentages with a % sign: write each as a number (80% is 0.8)"
                elif str(first).strip() == col:
                    hint += ("; that row repeats the header: were files joined with cat? keep the first "
                             "file's header only (tail -n +2 for the others)")
                self._fail("values that are not numbers", col, bad, row0, hint=hint)
            s = values
        arr = s.to_numpy(dtype=np.float64, na_value=np.nan)
        missing = np.isnan(arr)
        if missing.any():
            self._fail("missing values", col, missing, row0)
        return arr

    def distribution(self, frame: pd.DataFrame, cols, row0: int, what: str, logits: bool) -> tuple[np.ndarray, int]:
        """Read K columns as per-row distributions; return them and the number renormalised."""
        present = [c for c in cols if c is not None]
        if not logits and len(present) == len(cols) > 1 and all(frame[c].dtype == np.float64 for c in cols):
            m = frame[list(cols)].to_numpy(dtype=np.float64)  # one block: no copy per column
            if _in_unit_range(m):
                return self._sums(m, row0, what, frame)
        arrays = []
        for col in cols:
            if col is None:  # a class without a target column: P = 0
                arrays.append(np.zeros(len(frame)))
                continue
            a = self.numeric(frame, col, row0)
            if logits:
                bad = np.isnan(a) | (a == np.inf)  # −∞ is a log-probability of 0: softmax gives P = 0
                if bad.any():
                    self._fail("logits of +∞ or NaN", col, bad, row0,
                               hint="−∞ (a probability of 0) is read as such; +∞ and NaN are no logit")
            else:
                bad = (a < 0) | (a > 1)
                if bad.any():
                    self._out_of_range(frame, col, a, bad, row0, what)
            arrays.append(a)
        if logits:
            z = np.column_stack(arrays)
            none = np.isneginf(z).all(axis=1) & (z.shape[1] > 1)  # one score column: −∞ is P(positive) = 0
            if none.any():
                self._fail("every logit of the row is −∞", f"{self.spec.prob_prefix}*", none, row0,
                           hint="no class would have any probability")
            if what == "probabilities":  # every row in [0, 1] (and summing to 1): probabilities, not logits
                like = _in_unit_range(z) and (z.shape[1] == 1 or not _row_sums_off(z)[1].any())
                self.logits_look_like_probabilities = like and self.logits_look_like_probabilities is not False
            from scipy.special import expit, softmax

            return (expit(np.column_stack([-z[:, 0], z[:, 0]])) if z.shape[1] == 1 else softmax(z, axis=1)), 0
        m = np.column_stack(arrays)
        if m.shape[1] == 1:  # binary score column: P(negative) = 1 − score
            return np.column_stack([1.0 - m[:, 0], m[:, 0]]), 0
        return self._sums(m, row0, what, frame)

    def _unnamed_classes(self, frame: pd.DataFrame) -> list[int]:
        """Probability columns whose class nothing names: no label of this chunk (hard labels),
        no target column (soft targets)."""
        lay = self.layout
        if lay.mode == "soft":
            return [j for j, c in enumerate(lay.target_cols) if c is None]
        if lay.mode != "labels":
            return []
        try:
            named = set(_text_values(frame[lay.label_col]).categories)
        except TypeError:
            return []
        return [j for j, c in enumerate(lay.classes) if c not in named]

    def _extra_column(self, j: int, bad: np.ndarray, row0: int, detail: str, hint: str = "") -> None:
        """Raise: probability column j is most likely not a class at all (p_max, p_pred, …)."""
        col, cls = self.layout.prob_cols[j], self.layout.classes[j]
        self._fail(f"read as class {quote(cls)}, which no label names — {detail}", col, bad, row0,
                   hint=(hint + "; " if hint else "") + f"drop that column, choose another {opt('prob_prefix')}, "
                   f"or name the classes with {opt('classes')}")

    def _out_of_range(self, frame: pd.DataFrame, col: str, a: np.ndarray, bad: np.ndarray, row0: int,
                      what: str) -> None:
        """Raise for values outside [0, 1]: a column that is no class, logits without --logits, or bad values."""
        first = a[np.flatnonzero(bad)[0]]
        lay = self.layout
        if what == "probabilities" and col in lay.prob_cols:
            j = lay.prob_cols.index(col)
            if j in self._unnamed_classes(frame) and len(lay.prob_cols) > 2:
                self._extra_column(j, bad, row0, "its values are not probabilities", hint=f"e.g. {_outside(first)}")
        hint = f"e.g. {_outside(first)}"
        out = a[bad]
        if np.isfinite(out).all() and max(float(out.max()) - 1.0, -float(out.min())) <= ROUNDING_NOISE:
            hint += ("; only a hair outside, as arithmetic leaves it (1 − p, a division by a row sum): "
                     "clip them to [0, 1] first, e.g. numpy.clip(p, 0, 1)")
        elif what == "probabilities" and np.isfinite(first):  # inf is neither a logit nor a percentage
            m = _floats(frame, lay.prob_cols)
            if _look_like_percentages(m):
                hint += ("; these look like percentages (from 0 to 100"
                         + (f"), not probabilities: divide them by 100 (logits would take {opt('logits', flag=True)})"
                            if lay.mode == "score" else ", each row summing to 100): divide them by 100"))
            elif _look_like_logits(m):
                hint += (f"; these look like logits or scores, not probabilities: pass {opt('logits', flag=True)} "
                         + ("to take their sigmoid" if lay.mode == "score" else "to softmax them"))
        self._fail(f"{what} outside [0, 1]", col, bad, row0, hint=hint)

    def _sums(self, m: np.ndarray, row0: int, what: str, frame: pd.DataFrame | None = None) -> tuple[np.ndarray, int]:
        """Rows must sum to 1 within SUM_TOLERANCE, or be renormalised when asked — but never when
        one probability column whose class no label names explains every row that is off."""
        sums, off = _row_sums_off(m)
        if not off.any():
            return m, 0
        prefix = self.spec.target_prefix if what == "targets" else self.spec.prob_prefix
        column = f"{prefix}*"
        first = sums[np.flatnonzero(off)[0]]
        # a column that is no class (p_max, p_true) puts nearly every row off, by exactly its value;
        # one bad row in a chunk that lacks some class must not be read that way
        if what == "probabilities" and frame is not None and m.shape[1] > 2 and off.mean() >= 0.9:
            for j in self._unnamed_classes(frame):
                if (np.abs(sums[off] - m[off, j] - 1.0) <= SUM_TOLERANCE).all():
                    self._extra_column(j, off, row0, "without it the rows sum to 1",
                                       hint=f"so {opt('renormalize', flag=True)} would only hide it")
        if what == "probabilities" and frame is not None and prefix:
            self._class_read_as_other(frame, sums, off, row0, column)
        if not self.spec.renormalize:
            self._fail(
                f"{what} do not sum to 1 (within {SUM_TOLERANCE:g})",
                column,
                off,
                row0,
                hint=f"the first sums to {first:.6g}; pass {opt('renormalize', flag=True)} to rescale such rows",
            )
        zero = off & (sums <= 0)
        if zero.any():
            self._fail(f"{what} sum to 0 and cannot be renormalised", column, zero, row0)
        m = m.copy() if not m.flags.writeable else m  # a read-only view of the frame's block
        m[off] /= sums[off, None]
        return m, int(off.sum())

    def _class_read_as_other(self, frame: pd.DataFrame, sums: np.ndarray, off: np.ndarray, row0: int,
                             column: str) -> None:
        """Raise when a column named as the weight, a slice or the id carries the probability prefix
        and, added back, makes every row that is off sum to 1: a class's column read as something
        else (``--group-by p_setosa``), which --renormalize would silently drop."""
        lay, prefix = self.layout, self.spec.prob_prefix
        named = [(lay.weight_col, "weight_col"), *((g, "group_by") for g in lay.group_cols), (lay.id_col, "id_col")]
        for col, option in named:
            if col is None or not col.startswith(prefix):
                continue
            extra = _floats(frame, [col])[off, 0]
            if np.isfinite(extra).all() and (np.abs(sums[off] + extra - 1.0) <= SUM_TOLERANCE).all():
                self._fail(f"probabilities do not sum to 1, but would with column {quote(col)}, read as the "
                           f"{opt(option).rstrip('=')} column", column, off, row0,
                           hint=f"it looks like the probability column of class {quote(col[len(prefix):])}; "
                           f"a column cannot be both: name another {opt(option).rstrip('=')} column")

    def _nested(self, s: pd.Series, col: str, row0: int, what: str):
        """Raise: the column holds lists, dicts or other values that are not one value per row."""
        kinds = s.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray)))
        bad = kinds.to_numpy(dtype=bool)
        first = s.to_numpy(dtype=object)[np.flatnonzero(bad)[0]] if bad.any() else None
        kind = "dicts (structs)" if isinstance(first, dict) else "lists" if first is not None else "nested values"
        self._fail(f"values that are {kind}, not one value per row", col, bad if bad.any() else np.ones(len(s), bool),
                   row0, hint=f"each row needs {what} here")

    def text(self, frame: pd.DataFrame, col: str, row0: int) -> pd.Categorical:
        """A label or slice column as categories of text (nested values are an error)."""
        try:
            return _text_values(frame[col])
        except TypeError:  # unhashable: lists, dicts (a Parquet list or struct column)
            self._nested(frame[col], col, row0, "one label or slice value")

    def labels(self, frame: pd.DataFrame, row0: int) -> np.ndarray:
        import pandas as pd

        col = self.layout.label_col
        values = self.text(frame, col, row0)
        missing = values.codes < 0
        if (values.categories == "").any():
            missing |= values.codes == values.categories.get_loc("")
        if missing.any():
            self._fail("missing labels", col, missing, row0)
        if self.layout.mode == "score":
            positive = np.asarray(values == self.spec.positive_label)
            self.positive_seen |= bool(positive.any())
            for v in pd.unique(values[~positive]):
                self.negative_labels.setdefault(str(v), None)
            if len(self.negative_labels) == 2 and not self.positive_seen:  # True/False with the default '1'
                labels = list(self.negative_labels)
                guess = next((v for v in labels if v.strip().lower() in POSITIVE_WORDS), labels[-1])
                self._fail(
                    f"the positive label {quote(self.spec.positive_label)} does not occur; the labels are "
                    f"{_list_cols(labels)}",
                    col,
                    np.ones(len(values), dtype=bool),
                    row0,
                    hint=f"pass {opt('positive_label')} {guess} — the label whose probability "
                    f"{opt('score_col').rstrip('=')} {quote(self.spec.score_col)} holds",
                )
            if len(self.negative_labels) > 1:
                seen = [self.spec.positive_label] + list(self.negative_labels)
                first_new = list(self.negative_labels)[1]
                self._fail(
                    f"{opt('score_col')} needs a binary label, but it holds more than two values",
                    col,
                    np.asarray(values == first_new),
                    row0,
                    hint=f"values seen: {_list_cols(seen)}; is {opt('positive_label')} "
                    f"{quote(self.spec.positive_label)} right?",
                )
            return positive.astype(np.intp)
        classes = self.layout.classes
        codes = _class_codes(values, classes)
        unknown = codes < 0
        if unknown.any():  # dates and durations: the class names may write them short ("2020-01-01", "1 days")
            for other in _temporal_texts(frame[col]):
                other_codes = _class_codes(other, classes)
                if not (other_codes < 0).any():
                    return other_codes.astype(np.intp)
        if unknown.any():
            odd = [str(v) for v in pd.unique(np.asarray(values)[unknown])[:5]]
            hint = f"found {_list_cols(odd)}; the classes (from the '{self.spec.prob_prefix}*' columns) are {_list_cols(classes)}"
            as_int = {o: o[:-2] for o in odd if o.endswith(".0")}
            if as_int and all(v in classes for v in as_int.values()):
                hint += " — the labels were written as floats; write them as integers"
            else:
                folded = {c.casefold(): c for c in classes}
                near = {o: folded.get(o.casefold()) for o in odd}
                if all(near.values()):  # 'True' against p_true: a spelling, not another class
                    o = odd[0]
                    hint += (f" — they differ from the class names only in case ({quote(o)} against "
                             f"{quote(near[o])}): rename the probability columns or the labels to match")
                elif all(o.strip() in classes for o in odd):
                    hint += " — the labels have spaces around them; strip them"
                elif all(o.isdecimal() and int(o) < len(classes) for o in odd):
                    hint += (f" — the labels look like class positions (0 to {len(classes) - 1}): write the "
                             f"class names instead (e.g. data.target_names[y]), or number the probability columns")
            self._fail("labels that have no probability column", col, unknown, row0, hint=hint)
        return codes.astype(np.intp)

    def weights(self, frame: pd.DataFrame, row0: int) -> np.ndarray:
        col = self.layout.weight_col
        w = self.numeric(frame, col, row0)
        bad = _bad_weights(w)
        if bad.any():
            self._fail("weights must be finite and not negative", col, bad, row0)
        return w

    def alerts(self) -> list[str]:
        """Doubts about how the input was read, found along the way (for the report's top and the summary)."""
        if self.logits_look_like_probabilities:
            return [f"{opt('logits', flag=True)} was given, but every row of the probability columns lies in [0, 1]"
                    + (" and sums to 1" if len(self.layout.prob_cols) > 1 else "")
                    + ": these look like probabilities, and the figures are those of their softmax — leave "
                    f"{opt('logits', flag=True)} out if they are"]
        return []

    def batch(self, frame, row0: int) -> Batch:
        """Validate a pandas or Arrow chunk. Arrow takes a fast path when the chunk is plainly
        valid (see :meth:`_arrow_batch`); anything else goes through pandas, which names the problem."""
        batch = self._arrow_batch(frame, row0) if not is_frame(frame) else None
        if batch is None:
            batch = self._frame_batch(frame if is_frame(frame) else frame.to_pandas(), row0)
        if batch.w is not None:
            batch.w, batch.w_exp = _normalised_weights(batch.w)
        if self.spec.keyed:
            batch.keys = key_hashes([id_text(batch.ids, i) for i in range(len(batch))])
        return batch

    def _arrow_batch(self, table, row0: int) -> Batch | None:
        """Hard labels and probability columns straight from Arrow memory, or None when the
        chunk needs a closer look: nulls, values outside [0, 1], rows not summing to 1, unknown
        labels, bad weights, other modes (binary score, logits, soft targets)."""
        import pyarrow as pa

        lay, spec = self.layout, self.spec
        if lay.mode != "labels" or spec.logits:
            return None
        floats = [*lay.prob_cols] + ([lay.weight_col] if lay.weight_col else [])
        cols = {c: table.column(c) for c in floats}
        if any(a.type != pa.float64() or a.null_count for a in cols.values()):
            return None
        n, k = table.num_rows, len(lay.prob_cols)
        q = np.empty((n, k), order="F")  # a column per class, each a contiguous run (compute works by column)
        for j, c in enumerate(lay.prob_cols):
            _fill(q[:, j], cols[c])
        if not _in_unit_range(q) or _row_sums_off(q)[1].any():
            return None
        labels = _arrow_categories(table.column(lay.label_col))
        y = _class_codes(labels, lay.classes) if labels is not None else None
        if y is None or (y < 0).any():
            return None
        w = None
        if lay.weight_col:
            w = np.empty(n)
            _fill(w, cols[lay.weight_col])
            if _bad_weights(w).any():
                return None
        groups = {}
        for g in lay.group_cols:
            values = _arrow_categories(table.column(g))
            if values is None:
                return None
            groups[g] = _slice_values(values)
        ids = _arrow_ids(table.column(lay.id_col)) if lay.id_col else None
        return Batch(row0=row0, q=q, y=y, p=None, w=w, groups=groups, ids=ids, renormalized=0)

    def _frame_batch(self, frame: pd.DataFrame, row0: int) -> Batch:
        lay, spec = self.layout, self.spec
        q, renorm = self.distribution(frame, lay.prob_cols, row0, "probabilities", spec.logits)
        y = p = None
        if lay.mode == "soft":
            p, renorm_p = self.distribution(frame, lay.target_cols, row0, "targets", False)
            renorm += renorm_p
        else:
            y = self.labels(frame, row0)
        w = self.weights(frame, row0) if lay.weight_col else None
        groups = {}
        for g in lay.group_cols:
            groups[g] = _slice_values(self.text(frame, g, row0))
        ids = frame[lay.id_col].reset_index(drop=True) if lay.id_col else None
        return Batch(row0=row0, q=q, y=y, p=p, w=w, groups=groups, ids=ids, renormalized=renorm)


#: Labels that usually mean "positive", for the hint when --positive-label does not occur.
POSITIVE_WORDS = ("true", "1", "1.0", "yes", "y", "pos", "positive", "t")


def _normalised_weights(w: np.ndarray) -> tuple[np.ndarray, int]:
    """Weights divided by the power of two that brings the largest below 1, and its exponent:
    exact (a power of two only shifts the exponent), so that sums of weights × figures cannot
    overflow however large the weights (1e307 is finite) or lose digits however small (1e-300)."""
    top = float(w.max()) if len(w) else 0.0
    if top == 0.0:
        return w, 0
    exp = math.frexp(top)[1]
    return (np.ldexp(w, -exp) if exp else w), exp


def _slice_values(values) -> Codes:
    """A --group-by column's values (Codes or a pandas.Categorical of text), a missing or blank
    one as the slice MISSING_GROUP (None: not a text, so no value of the data is merged with it)."""
    categories = np.asarray(values.categories, dtype=object)
    codes = np.asarray(values.codes)
    blank = [not str(c).strip() for c in categories]
    if not any(blank) and not (codes < 0).any():
        return Codes(codes, categories)
    kept = [c for c, b in zip(categories, blank) if not b]
    missing = len(kept)
    categories = np.empty(missing + 1, dtype=object)
    categories[:missing] = kept
    categories[missing] = MISSING_GROUP
    position = {c: i for i, c in enumerate(kept)}
    # each old code's new one; the last entry is for code −1 (missing)
    renumber = np.array([missing if b else position[c] for c, b in zip(values.categories, blank)] + [missing],
                        dtype=np.intp)
    return Codes(renumber[codes], categories)


def _fill(dst: np.ndarray, column) -> None:
    """Copy an Arrow float64 column (chunked or not, no nulls) into ``dst``."""
    start = 0
    for chunk in getattr(column, "chunks", [column]):
        dst[start : start + len(chunk)] = _values(chunk, np.float64)
        start += len(chunk)


def _values(array, dtype) -> np.ndarray:
    """An Arrow array of a fixed-width type without nulls as a read-only view of its values.
    (``Array.to_numpy`` would import pandas, which pyarrow asks about extension types: a fifth
    of a small ``check``'s time.)"""
    dtype = np.dtype(dtype)
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def _in_unit_range(m: np.ndarray) -> bool:
    """Every value in [0, 1] (NaN fails), in two passes and no temporaries."""
    return m.size == 0 or bool(m.min() >= 0.0 and m.max() <= 1.0)


#: Values outside [0, 1] by at most this much are named as rounding noise (still an error, as in
#: scikit-learn: the hint says to clip them).
ROUNDING_NOISE = 1e-9


def _outside(x: float) -> str:
    """A value outside [0, 1] as text that shows it is: 1.0000000000000002, not the '1' of :g."""
    text = f"{x:g}"
    return repr(float(x)) if 0.0 <= float(text) <= 1.0 else text


def _floats(frame: pd.DataFrame, cols) -> np.ndarray:
    """Columns of a frame as floats, rows × columns, a value that is no number as NaN (for the
    hints of an error already found: the values' own checks are in _Validator.numeric)."""
    import pandas as pd

    return frame[list(cols)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)


def _look_like_logits(m: np.ndarray) -> bool:
    """Values outside [0, 1] in the probability columns ``m``, and rows that do not sum to 1."""
    if m.shape[1] == 1:  # a binary score: logits take both signs, or go past 1
        return bool(np.nanmin(m) < 0 or np.nanmax(m) > 1)
    outside = (m < 0) | (m > 1)
    return bool(outside.any() and _row_sums_off(np.nan_to_num(m))[1].any())


def _look_like_percentages(m: np.ndarray) -> bool:
    """Probability columns ``m`` written as percentages: every number from 0 to 100, some above 1,
    and (several columns) each row summing to 100 within 100 × SUM_TOLERANCE."""
    m = m[np.isfinite(m).all(axis=1)]
    if not len(m) or m.min() < 0 or m.max() > 100 or m.max() <= 1:
        return False
    return m.shape[1] == 1 or bool((np.abs(m.sum(axis=1) - 100.0) <= 100 * SUM_TOLERANCE).all())


def _row_sums_off(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row sums, and which rows miss 1 by more than SUM_TOLERANCE."""
    sums = m.sum(axis=1)
    return sums, np.abs(sums - 1.0) > SUM_TOLERANCE


def _bad_weights(w: np.ndarray) -> np.ndarray:
    """Weights that are not finite or negative."""
    return ~np.isfinite(w) | (w < 0)


def _class_codes(values, classes) -> np.ndarray:
    """Index in ``classes`` of each text value (Codes or a pandas.Categorical); −1 where missing
    or not among them."""
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(c, -1) for c in values.categories] + [-1], dtype=np.intp)[values.codes]


def _arrow_categories(column) -> Codes | None:
    """An Arrow text or integer column as categories of text (one dictionary for all its
    chunks), or None when it has missing values or another type (the pandas path decides)."""
    import pyarrow as pa

    t = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if column.null_count or not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)):
        return None
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()  # Arrow unifies the chunks' dictionaries
    if not pa.types.is_dictionary(column.type):  # the CSV reader's are (pyarrow.compute, 35 ms, only here)
        column = column.dictionary_encode()
    codes = _values(column.indices, str(column.indices.type)).astype(np.int32, copy=False)  # int8 … int64
    text = [str(v) for v in column.dictionary.to_pylist()]  # integers as the pandas path writes them
    return Codes(codes, np.array(text, dtype=object))


def _arrow_ids(column):
    """An id column of text or integers as it is in Arrow (:func:`id_text` reads a row's id from
    it); any other type as a pandas Series, whose text the report has always shown."""
    import pyarrow as pa

    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) or pa.types.is_integer(column.type):
        return column
    return column.to_pandas().reset_index(drop=True)


def _temporal_texts(s: pd.Series) -> list:
    """A date, time or duration label column written the other ways its class names may write it:
    a date at midnight as "2020-01-01" or "2020-01-01 00:00:00", a whole number of days as "1 days"
    or "1 days 00:00:00" (an empty list for any other column)."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(s):
        ok = s.dropna()
        forms = ["%Y-%m-%d %H:%M:%S"] + (["%Y-%m-%d"] if (ok == ok.dt.normalize()).all() else [])
        return [pd.Categorical(s.dt.strftime(f).where(s.notna(), None)) for f in forms]
    if pd.api.types.is_timedelta64_dtype(s):
        ok = s.dropna()
        out = [pd.Categorical(s.astype(str).where(s.notna(), None))]
        if (ok % pd.Timedelta(days=1) == pd.Timedelta(0)).all():
            out.append(pd.Categorical(s.map(lambda v: None if pd.isna(v) else f"{v.days} days")))
        return out
    return []


def _text_values(s: pd.Series) -> pd.Categorical:
    """A column as categories of text (missing: code −1), converting only its distinct values."""
    import pandas as pd

    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    text = _as_text(pd.Series(uniques))
    if len(set(text)) < len(text):  # e.g. 1 and "1" in one column: convert row by row
        return pd.Categorical(_as_text(s))
    return pd.Categorical.from_codes(codes, categories=pd.Index(text, dtype=object))


def key_hashes(texts) -> np.ndarray:
    """Stable 64-bit hashes of texts (pandas' hash_array: SipHash with a fixed key), the keys by
    which rows known by an id — a harness document, a sequence — find their bootstrap block."""
    from pandas.util import hash_array

    return hash_array(np.asarray(texts, dtype=object), categorize=False)


def id_text(ids, i: int) -> str | None:
    """The id of row i of a batch (a pandas Series, or an Arrow column of text or integers), as text."""
    if ids is None:
        return None
    if not hasattr(ids, "iloc"):  # Arrow: text or integers, None where missing
        v = ids[i].as_py()
        return None if v is None else str(v)
    import pandas as pd

    v = ids.iloc[i]
    if pd.isna(v):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _as_text(s: pd.Series) -> np.ndarray:
    """A column as an object array of str (None where missing); integral floats lose '.0'."""
    import pandas as pd

    if pd.api.types.is_string_dtype(s) and not pd.api.types.is_object_dtype(s):
        out = s.to_numpy(dtype=object, na_value=None)  # already text: no per-value work
        return out.copy() if not out.flags.writeable else out
    if pd.api.types.is_float_dtype(s):
        notna = s.notna()
        if notna.any() and (s[notna] % 1 == 0).all():
            s = s.astype("Int64")
    out = s.astype(object).to_numpy(dtype=object, copy=True)
    isna = pd.isna(out)
    out[~isna] = [str(v) for v in out[~isna]]
    out[isna] = None
    return out


def parse_distribution(text: str, option: str) -> np.ndarray:
    """``"0.1,0.4,0.5"`` → a validated probability vector (for ``evalreport dist``)."""
    parts = [t.strip() for t in text.split(",")]
    values = []
    for t in parts:
        try:
            values.append(float(t))
        except ValueError:
            raise InputError(option, f"{quote(t)} is not a number", hint="give comma-separated probabilities, e.g. 0.1,0.4,0.5") from None
    v = np.array(values)
    if len(v) < 2:
        raise InputError(option, "a distribution needs at least two values")
    if not np.isfinite(v).all():
        raise InputError(option, "values must be finite")
    if (v < 0).any():
        raise InputError(option, f"negative value {v[v < 0][0]:g}; probabilities cannot be negative")
    if abs(v.sum() - 1.0) > SUM_TOLERANCE:
        raise InputError(option, f"the values sum to {v.sum():.6g}, not 1 (within {SUM_TOLERANCE:g})")
    return v
