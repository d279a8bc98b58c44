"""In-memory arrays from Python — ``evaluate(y_true, proba, classes=model.classes_)`` — as a table.

The arrays become the columns of a DataFrame that then goes through the very
same checks as any other input: ``label`` (or ``t_<class>`` for a 2-D array
of target distributions), ``p_<class>`` (or ``score`` for a 1-D array of
P(positive)), ``sample_weight`` and one column per slice. So the figures are
those of the same table written to a file, to the last bit.

Classes are matched as scikit-learn matches them: ``proba``'s columns are
``classes`` in order (``model.classes_``); without it, the columns of a
``proba`` DataFrame, else the sorted distinct labels when there are as many
as columns, else 0 … K−1 for integer labels. Numbers that are whole (``1.0``)
are the integers they equal, in the labels and the classes alike.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError, UsageError, opt
from .frame import Table
from .spec import InputSpec, SourceInfo

#: What error messages and the report call arrays passed from Python.
ARRAYS = "arrays (y_true, proba)"
LABEL, PREFIX, TARGET, SCORE, WEIGHT = "label", "p_", "t_", "score", "sample_weight"
#: The reading options the arrays decide themselves: giving one as well is a usage error.
_DECIDED = ("label_col", "prob_prefix", "score_col", "target_prefix", "weight_col", "group_by", "classes")


def _given(value, default) -> bool:
    """Whether an option was given another value than its default (an array is a value: compared
    with ``in`` it would answer element by element)."""
    if value is None:
        return False
    if isinstance(value, (str, int, float, bool)):
        return value != default
    if isinstance(value, (tuple, list)):
        return len(value) > 0 and tuple(value) != tuple(default or ())
    return True


def arrays_table(y_true, proba, options: Mapping) -> tuple[Table, dict]:
    """``y_true`` and ``proba`` (and ``sample_weight=``, ``groups=`` among ``options``) → a table
    and the reading options that name its columns."""
    defaults = InputSpec()
    for name in _DECIDED:
        if name != "classes" and _given(options.get(name), getattr(defaults, name)):
            raise UsageError(f"{opt(name)} names a column of a table; with arrays pass "
                             f"{'sample_weight=' if name == 'weight_col' else 'groups=' if name == 'group_by' else 'the arrays'} "
                             "instead")
    q, from_frame = _matrix(proba, "proba")
    n = len(q)
    soft = np.ndim(y_true) == 2
    y = _matrix(y_true, "y_true")[0] if soft else _vector(y_true, "y_true")
    if len(y) != n:
        raise InputError(ARRAYS, f"y_true has {len(y):,} rows but proba has {n:,}")
    if n == 0:
        raise InputError(ARRAYS, "has no rows")
    classes = options.get("classes")
    classes = list(from_frame) if classes is None and from_frame is not None else classes
    classes = _whole(np.asarray(classes)).tolist() if classes is not None else None
    cols: dict[str, object] = {}
    out: dict = {"label_col": LABEL, "prob_prefix": PREFIX}
    if q.ndim == 1:  # a binary score: P(classes[1]), as predict_proba(X)[:, 1]
        if soft:
            raise InputError(ARRAYS, "y_true holds distributions (2-D) but proba is one score per row (1-D)")
        y = _whole(y)
        positive = _positive(y, classes, options.get("positive_label"))
        cols[LABEL] = _labels(y)
        cols[SCORE] = q
        out.update(score_col=SCORE, positive_label=positive, classes=None)
    else:
        k = q.shape[1]
        if soft:
            if y.shape[1] != k:
                raise InputError(ARRAYS, f"y_true has {y.shape[1]} columns (classes) but proba has {k}")
            classes = classes if classes is not None else list(range(k))
        else:
            y = _whole(y)
            classes = classes if classes is not None else _default_classes(y, k)
        if len(classes) != k:
            raise InputError(ARRAYS, f"classes= names {len(classes)} classes but proba has {k} columns")
        names = [str(c) for c in classes]
        if soft:
            cols.update({TARGET + c: y[:, j] for j, c in enumerate(names)})
            out["target_prefix"] = TARGET
        else:
            cols[LABEL] = _labels(y)
        cols.update({PREFIX + c: q[:, j] for j, c in enumerate(names)})
        out["classes"] = names
    extra = _extra_columns(options, n)
    clash = set(extra) & set(cols)
    if clash:
        raise UsageError(f"groups= names {sorted(clash)[0]!r}, a column the arrays already use; give it another name")
    if WEIGHT in extra:
        out["weight_col"] = WEIGHT
    out["group_by"] = tuple(c for c in extra if c != WEIGHT)
    frame = pd.DataFrame({**cols, **extra}, copy=False)
    return Table(frame, SourceInfo(ARRAYS, None, None, "arrays")), out


def with_extra_columns(data: pd.DataFrame, options: Mapping) -> tuple[pd.DataFrame, dict]:
    """A DataFrame with ``sample_weight=`` / ``groups=`` arrays beside it: the columns added."""
    extra = _extra_columns(options, len(data))
    if not extra:
        return data, {}
    clash = [c for c in extra if c in map(str, data.columns)]
    if clash:
        raise UsageError(f"the DataFrame already has a column {clash[0]!r}: name it with "
                         f"{'weight_col=' if clash[0] == WEIGHT else 'group_by='} instead, or rename the array")
    if WEIGHT in extra and options.get("weight_col"):
        raise UsageError("give the weights once: weight_col= (a column) or sample_weight= (an array)")
    out = {"group_by": (*_names(options.get("group_by")), *(c for c in extra if c != WEIGHT))}
    if WEIGHT in extra:
        out["weight_col"] = WEIGHT
    return data.assign(**extra), out


def _names(group_by) -> tuple[str, ...]:
    return (group_by,) if isinstance(group_by, str) else tuple(group_by or ())


def _extra_columns(options: Mapping, n: int) -> dict[str, np.ndarray]:
    """``sample_weight=`` and ``groups=`` as columns of length n."""
    out = {}
    w = options.get("sample_weight")
    if w is not None:
        w = _vector(w, "sample_weight")
        if w.dtype.kind not in "biuf":
            raise InputError(ARRAYS, f"sample_weight is not numeric (dtype {w.dtype})")
        out[WEIGHT] = _same_length(w, n, "sample_weight")
    groups = options.get("groups")
    if groups is None:
        return out
    if isinstance(groups, pd.DataFrame):
        groups = {str(c): groups[c] for c in groups.columns}
    elif not isinstance(groups, Mapping):
        groups = {str(groups.name) if isinstance(groups, pd.Series) and groups.name is not None else "group": groups}
    for name, values in groups.items():
        name = str(name)
        if name == WEIGHT or not name:
            raise UsageError(f"groups= names a slice column {name!r}: give it another name")
        out[name] = _same_length(_vector(values, f"groups[{name!r}]"), n, f"groups[{name!r}]")
    return out


def _same_length(x: np.ndarray, n: int, what: str) -> np.ndarray:
    if len(x) != n:
        raise InputError(ARRAYS, f"{what} has {len(x):,} rows but proba has {n:,}")
    return x


def _matrix(x, what: str) -> tuple[np.ndarray, list | None]:
    """A float array of one score per row (1-D) or one column per class (2-D); a DataFrame's
    column names are returned as the classes it names."""
    columns = None
    if isinstance(x, pd.DataFrame):
        columns = list(x.columns)
        x = x.to_numpy()
    elif isinstance(x, pd.Series):
        x = x.to_numpy()
    if np.iscomplexobj(x):
        raise InputError(ARRAYS, f"{what} holds complex numbers ({_kind(x)}); probabilities are real")
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(ARRAYS, f"{what} is not numeric (as floats: {_kind(x)})") from None
    if a.ndim not in (1, 2):
        raise InputError(ARRAYS, f"{what} has {a.ndim} dimensions: one row per example and one column per class")
    return a, columns


def _kind(x) -> str:
    try:
        return f"dtype {np.asarray(x).dtype}"
    except Exception:  # noqa: BLE001 — only to describe what could not be read
        return type(x).__name__


def _vector(x, what: str) -> np.ndarray:
    a = x.to_numpy() if isinstance(x, (pd.Series, pd.Index, pd.Categorical)) else np.asarray(x)
    if a.ndim != 1:
        raise InputError(ARRAYS, f"{what} must be one value per row (1-D), got shape {a.shape}")
    return a


def _whole(a: np.ndarray) -> np.ndarray:
    """Floats that are all whole numbers (1.0) as the integers they equal; anything else as it is."""
    if a.dtype.kind == "f" and len(a) and np.isfinite(a).all() and (a == np.round(a)).all() \
            and np.abs(a).max() < 2**53:
        return a.astype(np.int64)
    return a


def _labels(y: np.ndarray) -> np.ndarray:
    """Labels as the strings the class columns are named by (a missing label stays missing)."""
    if y.dtype.kind in "biu":
        return y.astype(str).astype(object)
    return np.array([None if _missing(v) else str(v) for v in y], dtype=object)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or v is pd.NA


def _distinct(y: np.ndarray) -> list | None:
    """The sorted distinct labels, missing ones left out (the table's checks name their rows), or
    None when they cannot be ordered (mixed types)."""
    present = y[~pd.isna(y)] if y.dtype.kind in "fO" else y
    try:
        return np.unique(present).tolist()
    except TypeError:
        return None


def _default_classes(y: np.ndarray, k: int) -> list:
    """proba's classes when classes= is not given: as scikit-learn's log_loss, the sorted distinct
    labels; fewer of them than columns is 0 … K−1 when the labels are integers in that range."""
    seen = _distinct(y)
    if seen is not None and len(seen) == k:
        return seen
    if y.dtype.kind in "iu" and len(y) and y.min() >= 0 and y.max() < k:
        return list(range(k))
    found = f"{len(seen)} distinct labels" if seen is not None else "labels that cannot be sorted"
    raise InputError(ARRAYS, f"proba has {k} columns but y_true has {found}",
                     hint="pass classes= (the model's classes_, in proba's column order)")


def _positive(y: np.ndarray, classes, given) -> str:
    """The class a 1-D proba gives the probability of: classes[1], as predict_proba(X)[:, 1]."""
    if classes is not None:
        if len(classes) != 2:
            raise InputError(ARRAYS, f"proba is one score per row (binary) but classes= names {len(classes)} classes")
        return str(classes[1])
    if given not in (None, InputSpec().positive_label):
        return str(given)
    seen = _distinct(y)
    if seen is not None and len(seen) == 2:
        return str(seen[1])
    if y.dtype.kind == "b":
        return "True"
    if seen is not None and y.dtype.kind in "iu" and set(seen) <= {0, 1}:
        return "1"
    raise InputError(ARRAYS, "proba is one score per row, and y_true does not say which class it is the "
                     "probability of", hint="pass classes= (the model's classes_)")
