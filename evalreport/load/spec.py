"""The input options and what a header means: InputSpec, SourceInfo, Layout, Batch, plan_layout."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, UsageError, opt, quote

if TYPE_CHECKING:
    import pandas as pd

#: Rows whose probabilities sum to 1 within this are scored as they are.
SUM_TOLERANCE = 1e-3
#: Rows validated and reduced at a time (bounds the temporaries of rows × classes).
DEFAULT_CHUNK_ROWS = 131_072
#: ... and at most this many cells (rows × classes) at a time, so a batch of a 10,000-class
#: model holds about 200 rows, not 131,072 (which would be 10 GB).
CHUNK_CELLS = 1 << 21
#: The most classes a model may have: every per-class table, interval and chart is bounded at it.
MAX_CLASSES = 10_000


def batch_rows(n_classes: int, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> int:
    """Rows per batch for a model of ``n_classes`` classes: ``chunk_rows``, or fewer so that
    rows × classes stays within CHUNK_CELLS (never fewer than 64 rows)."""
    return max(1, min(chunk_rows, max(64, CHUNK_CELLS // max(n_classes, 1))))
#: Float64 machine epsilon, the default clip (as ``sklearn.metrics.log_loss``).
DEFAULT_EPS = float(np.finfo(np.float64).eps)
#: Strings read as "missing" in numeric columns. Label, id and slice columns
#: keep every string as it is, so a class called "NA" stays a class.
NUMERIC_NA = ["", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "null", "NULL", "None", "#N/A", "<NA>"]
#: A --group-by column's missing or blank value: None, never a text, so that no value of the data
#: (not even the text "(missing)") can be taken for it. Reports show it as "(missing)", marked apart.
MISSING_GROUP = None



@dataclass(frozen=True)
class SourceInfo:
    """Where the rows came from, for the report's metadata (it travels on in the Result)."""

    name: str  # what error messages and the report call it
    path: str | None
    sha256: str | None
    format: str  # csv, csv.gz, parquet, dataframe

@dataclass(frozen=True)
class InputSpec:
    """How to read a predictions table (the contract's input options)."""

    label_col: str = "label"
    prob_prefix: str = "p_"
    score_col: str | None = None
    positive_label: str = "1"
    target_prefix: str | None = None
    logits: bool = False
    weight_col: str | None = None
    group_by: tuple[str, ...] = ()
    id_col: str | None = None  # None: use "id" when the table has it
    eps: float = DEFAULT_EPS
    renormalize: bool = False
    classes: tuple[str, ...] | None = None  # the classes, in column order: columns prob_prefix + class
    delimiter: str = ","  # of a CSV file's fields
    decimal: str = "."  # of a CSV file's numbers ("," in many European exports)
    keyed: bool = False  # rows are known by their id: bootstrap blocks by a hash of it, not by position

    @classmethod
    def from_options(cls, options: Mapping) -> InputSpec:
        """The spec among keyword options (evaluate()'s or the CLI's); other keys are ignored."""
        return cls(**{f.name: options[f.name] for f in fields(cls) if f.name in options})

    def __post_init__(self) -> None:
        if isinstance(self.group_by, str):
            object.__setattr__(self, "group_by", (self.group_by,))
        if self.group_by is not None and not isinstance(self.group_by, (list, tuple)):
            raise UsageError(f"{opt('group_by')} names columns: a name or a list of names, got "
                             f"{type(self.group_by).__name__}")
        named = [g if isinstance(g, str) else _column_name(g, "group_by") for g in self.group_by or ()]
        object.__setattr__(self, "group_by", tuple(named))
        for key in ("label_col", "prob_prefix", "positive_label"):
            if not isinstance(getattr(self, key), str):
                value = getattr(self, key)
                if key == "positive_label" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    continue  # str() below: a number names the class it is
                raise UsageError(f"{opt(key)} must be text (a column's name{' prefix' if key == 'prob_prefix' else ''}),"
                                 f" got {value!r}")
        for key in ("score_col", "target_prefix", "weight_col", "id_col"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, key, _column_name(value, key))
        if not (0 < self.eps < 0.5):
            raise UsageError(f"{opt('eps')} must lie in (0, 0.5), got {self.eps}")
        delimiter = {"tab": "\t", "\\t": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}.get(self.delimiter,
                                                                                             self.delimiter)
        if len(delimiter) != 1 or delimiter in "\r\n\"" or not delimiter.isprintable() and delimiter != "\t":
            raise UsageError(f"{opt('delimiter')} must be one character (or 'tab'), not a quote or a line end, "
                             f"got {quote(self.delimiter)}")
        object.__setattr__(self, "delimiter", delimiter)
        if self.decimal not in (".", ","):
            raise UsageError(f"{opt('decimal')} is '.' or ',', got {quote(self.decimal)}")
        if self.decimal == delimiter:
            raise UsageError(f"{opt('decimal')} and {opt('delimiter')} cannot both be {quote(delimiter)}")
        if isinstance(self.classes, str):
            object.__setattr__(self, "classes", tuple(c.strip() for c in self.classes.split(",")))
        elif self.classes is not None:
            object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))  # model.classes_ too
        if self.classes is not None:
            if len(self.classes) < 2 or any(c == "" for c in self.classes):
                raise UsageError(f"{opt('classes')} needs two or more class names, got {len(self.classes)}")
            if len(set(self.classes)) < len(self.classes):
                raise UsageError(f"{opt('classes')} names a class twice")
            if self.score_col is not None:
                raise UsageError(f"{opt('classes')} names probability columns; {opt('score_col')} is one score")
        if not self.prob_prefix and self.score_col is None and self.classes is None:
            raise UsageError(f"{opt('prob_prefix')} is empty: name the class columns with {opt('classes')} "
                             "(e.g. the model's classes_, when the columns are the bare class names)")
        object.__setattr__(self, "group_by", tuple(self.group_by or ()))
        object.__setattr__(self, "positive_label", str(self.positive_label))


@dataclass(frozen=True)
class Layout:
    """What each column means, decided from the header alone."""

    mode: str  # "labels" (hard labels, one column per class), "score" (binary), "soft"
    classes: tuple[str, ...]  # in "score" mode the negative name is settled after reading
    prob_cols: tuple[str, ...]
    target_cols: tuple[str | None, ...] | None
    label_col: str | None
    weight_col: str | None
    group_cols: tuple[str, ...]
    id_col: str | None

    @property
    def numeric_cols(self) -> list[str]:
        cols = list(self.prob_cols) + [c for c in self.target_cols or () if c]
        return cols + ([self.weight_col] if self.weight_col else [])

    @property
    def text_cols(self) -> list[str]:
        cols = [self.label_col] if self.label_col else []
        cols += list(self.group_cols)
        if self.id_col and self.id_col not in cols:
            cols.append(self.id_col)
        return cols

    @property
    def usecols(self) -> list[str]:
        seen: dict[str, None] = {}
        for c in self.numeric_cols + self.text_cols:
            seen[c] = None
        return list(seen)


def _column_name(value, option: str) -> str:
    """A column named by something else than text: a whole number names the column whose name it is
    as text (a DataFrame's columns 0, 1, …); anything else (a tuple of a MultiIndex, None) is refused."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise UsageError(f"{opt(option)} names a column by its name (text, or a whole number), got "
                     f"{type(value).__name__} {value!r}"[:200])


def is_frame(x) -> bool:
    """Whether ``x`` is a pandas DataFrame, asked without importing pandas: a file read through
    Arrow never needs it, and a program that made a DataFrame has imported it already."""
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(x, pd.DataFrame)


@dataclass(frozen=True, eq=False)  # arrays: no element-wise ==
class Codes:
    """A text column as codes into its distinct values: ``categories[codes]`` are the rows' values.
    (A label column may have code −1, missing; a slice column never has: its missing or blank
    values are the category MISSING_GROUP, None.)
    The fields are named as pandas.Categorical's, which validation also reads this way."""

    codes: np.ndarray  # (n,) integer
    categories: np.ndarray  # (m,) object array of str

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, rows) -> np.ndarray:
        """The values of these rows (an object array of str)."""
        return self.categories[self.codes[rows]]

    def factorize(self) -> tuple[np.ndarray, np.ndarray]:
        """Codes into the values that occur, numbered in the order they first occur, and those
        values: as ``pandas.factorize`` gives them (so slices keep their order)."""
        n, m = len(self.codes), len(self.categories)
        first = np.full(m, n, dtype=np.intp)
        np.minimum.at(first, self.codes, np.arange(n, dtype=np.intp))
        seen = np.flatnonzero(first < n)
        order = seen[np.argsort(first[seen], kind="stable")]
        renumber = np.zeros(m, dtype=np.intp)
        renumber[order] = np.arange(len(order))
        return renumber[self.codes], self.categories[order]


@dataclass
class Batch:
    """One chunk of validated rows, ready for :mod:`evalreport.compute`."""

    row0: int  # 0-based position of the first row in the whole input
    q: np.ndarray  # (n, K) predicted distributions (softmaxed / renormalised), not clipped
    y: np.ndarray | None  # (n,) true class index (hard labels)
    p: np.ndarray | None  # (n, K) target distributions (soft targets)
    w: np.ndarray | None  # (n,) sample weights, divided by 2**w_exp (exact) so that the largest is below 1
    groups: dict[str, Codes] = field(default_factory=dict)  # column → text values
    ids: pd.Series | object | None = None  # read only for the rows a report names; see id_text
    renormalized: int = 0
    w_exp: int = 0  # the weights as given are w · 2**w_exp
    keys: np.ndarray | None = None  # (n,) uint64 hashes of the rows' ids when the input is keyed (see InputSpec)
    positions: np.ndarray | None = None  # (n,) uint64 positions in the whole input, when not row0, row0 + 1, …

    def __len__(self) -> int:
        return self.q.shape[0]


# --------------------------------------------------------------------------- layout


#: Delimiters people use instead of the comma, and their names (for a header read as one column).
OTHER_DELIMITERS = {";": "semicolons", "\t": "tabs", "|": "pipes", ",": "commas"}


def plan_layout(columns: list[str], spec: InputSpec, name: str) -> Layout:
    """Decide from the header which columns are classes, labels, weights, …"""
    present = set(columns)
    _check_header(columns, spec, name)
    _require_named(columns, spec, name)
    id_col = spec.id_col if spec.id_col is not None else ("id" if "id" in present else None)
    if spec.target_prefix is not None and spec.target_prefix == spec.prob_prefix:
        raise UsageError(f"{opt('target_prefix')} and {opt('prob_prefix')} are both {quote(spec.prob_prefix)}: the "
                         "targets' columns and the probabilities' must have different prefixes")
    if (spec.score_col is None and spec.label_col in present and spec.label_col.startswith(spec.prob_prefix)
            and spec.prob_prefix and spec.classes is None):
        raise InputError(name, f"{opt('label_col')} names {quote(spec.label_col)}, which starts with the probability "
                         f"prefix {quote(spec.prob_prefix)}: it would be read as a class's probability too",
                         hint=f"name the column of true classes with {opt('label_col')}")
    named = {spec.label_col, spec.score_col, spec.weight_col, id_col, *spec.group_by} - {None}
    common = dict(weight_col=spec.weight_col, group_cols=spec.group_by, id_col=id_col)
    if spec.score_col is not None:
        if spec.target_prefix:
            raise UsageError(f"{opt('score_col')} and {opt('target_prefix')} cannot be used together")
        _require(columns, spec.score_col, "score", opt("score_col"), name)
        _require(columns, spec.label_col, "label", opt("label_col"), name)
        return Layout(mode="score", classes=("", spec.positive_label), prob_cols=(spec.score_col,), target_cols=None,
                      label_col=spec.label_col, **common)
    target_cols_all = ([c for c in columns if c.startswith(spec.target_prefix) and c not in named]
                       if spec.target_prefix else [])
    prob_cols, target_cols_all = _prob_columns(columns, spec, name, named, target_cols_all)
    classes = _classes_of_columns(prob_cols, spec, name)
    if spec.target_prefix:
        return Layout(mode="soft", classes=tuple(classes), prob_cols=tuple(prob_cols),
                      target_cols=_target_columns(columns, spec, name, classes, target_cols_all), label_col=None,
                      **common)
    _require(columns, spec.label_col, "label", opt("label_col"), name)
    return Layout(mode="labels", classes=tuple(classes), prob_cols=tuple(prob_cols), target_cols=None,
                  label_col=spec.label_col, **common)


def _check_header(columns: list[str], spec: InputSpec, name: str) -> None:
    """A header of one column: another delimiter? (no evaluation has one column)"""
    if len(columns) != 1:
        return
    for d, word in OTHER_DELIMITERS.items():
        if d != spec.delimiter and d in columns[0]:
            raise InputError(name, f"the header is one column, {quote(columns[0], 60)}, with {word} in it",
                             hint=f"a file separated by {word}? pass {opt('delimiter')} "
                             + ("tab" if d == "\t" else quote(d)))


def _require(columns: list[str], col: str | None, what: str, option: str, name: str) -> None:
    """A column the options name must be in the header."""
    if col is not None and col not in columns:
        raise InputError(name, f"no {what} column {quote(col)}",
                         hint=f"the columns are {_list_cols(columns)}; name the right one with {option}")


def _require_named(columns: list[str], spec: InputSpec, name: str) -> None:
    """The weight, slice and id columns the options name."""
    present = set(columns)
    _require(columns, spec.weight_col, "weight", opt("weight_col"), name)
    for g in spec.group_by:
        parts = [c.strip() for c in g.split(",")]
        if g not in present and len(parts) > 1 and all(c in present for c in parts):
            option = opt("group_by")
            each = (" ".join(f"{option} {c}" for c in parts) if option.startswith("--")
                    else f"{option}{parts!r}")  # the CLI repeats the option; Python takes a list
            raise InputError(name, f"no {option.rstrip('=')} column {quote(g)}",
                             hint=f"to slice by several columns, name each: {each}")
        _require(columns, g, opt("group_by").rstrip("="), opt("group_by"), name)
    _require(columns, spec.id_col, "id", opt("id_col"), name)


def _prob_columns(columns: list[str], spec: InputSpec, name: str, named: set,
                  target_cols_all: list[str]) -> tuple[list[str], list[str]]:
    """The probability columns (those --classes names, in its order, else every column with the
    prefix), and the target columns that are not among them."""
    present = set(columns)
    if spec.classes is not None:  # named: PREFIX + class for each, in that order; other columns are ignored
        prob_cols = [spec.prob_prefix + c for c in spec.classes]
        missing = [c for c in prob_cols if c not in present]
        if missing:
            raise InputError(name, f"no probability column {quote(missing[0])} for class "
                             f"{quote(missing[0][len(spec.prob_prefix):])}" + (f" (and {len(missing) - 1} more)"
                                                                                 if len(missing) > 1 else ""),
                             hint=f"the columns are {_list_cols(columns)}; {opt('classes')} names the classes, "
                             f"{opt('prob_prefix')} what comes before each name")
        target_cols_all = [c for c in target_cols_all if c not in prob_cols]
    else:
        prob_cols = [
            c for c in columns if c.startswith(spec.prob_prefix) and c not in named and c not in target_cols_all
        ]
    if not prob_cols:
        lm = [c for c in columns if any(k in c.lower() for k in ("logprob", "log_prob", "nll", "loglik"))]
        hint = (f"the columns are {_list_cols(columns)}; a language model's log-probabilities? name the column "
                f"{quote('logprob')} (the sum over a sequence's tokens, with {quote('tokens')} for their number and "
                f"{quote('bytes')}; or one row per token) — {quote(lm[0])} is not read by its name"
                if lm else f"the columns are {_list_cols(columns)}; pass {opt('prob_prefix')}, or {opt('score_col')} "
                "for one binary score")
        raise InputError(name, f"no probability columns (no column name starts with '{spec.prob_prefix}')", hint=hint)
    return prob_cols, target_cols_all


def _classes_of_columns(prob_cols: list[str], spec: InputSpec, name: str) -> list[str]:
    """The class names after the prefix: each named, no two alike, from two to MAX_CLASSES."""
    classes = [c[len(spec.prob_prefix) :] for c in prob_cols]
    for col, cls in zip(prob_cols, classes):
        if cls == "":
            raise InputError(name, "a probability column needs a class name after the prefix", column=col)
    if len(set(classes)) != len(classes):
        raise InputError(name, "two probability columns name the same class", column=spec.prob_prefix + "*")
    if len(classes) < 2:
        raise InputError(
            name,
            "only one probability column; a classifier needs two or more classes",
            column=prob_cols[0],
            hint=f"for a binary model with one score column use {opt('score_col')}",
        )
    if len(classes) > MAX_CLASSES:
        raise InputError(
            name,
            f"{len(classes):,} probability columns: evalreport reads models of at most {MAX_CLASSES:,} classes",
            column=spec.prob_prefix + "*",
            hint=f"is {opt('prob_prefix')} right? columns that are not classes must not start with it",
        )
    return classes


def _target_columns(columns: list[str], spec: InputSpec, name: str, classes: list[str],
                    target_cols_all: list[str]) -> tuple:
    """Soft targets: each class's target column (None where a class has none)."""
    if not target_cols_all:
        raise InputError(name, f"no target columns (no column name starts with '{spec.target_prefix}')",
                         hint=f"the columns are {_list_cols(columns)}")
    by_class = {c[len(spec.target_prefix) :]: c for c in target_cols_all}
    unknown = [c for k, c in by_class.items() if k not in classes]
    if unknown:
        raise InputError(name, "target column for a class that has no probability column", column=unknown[0],
                         hint=f"the classes are {_list_cols(classes)}")
    return tuple(by_class.get(k) for k in classes)


def _list_cols(cols, limit: int = 8) -> str:
    """Names or values for a message: each quoted and cut (see errors.quote), at most ``limit``."""
    shown = ", ".join(quote(c) for c in list(cols)[:limit])
    return shown + (", …" if len(cols) > limit else "")


def check_whole(name: str, layout: Layout, rows: int, total_weight: float, negatives=()) -> None:
    """The checks only a whole input can answer: any rows, any weight, at most two binary labels."""
    if rows == 0:
        raise InputError(name, "has a header but no rows")
    if layout.weight_col and total_weight <= 0:
        raise InputError(name, "the weights sum to 0", column=layout.weight_col)
    if len(negatives) > 1:
        raise InputError(name, f"{opt('score_col')} needs a binary label, but it holds more than two values",
                         column=layout.label_col, hint=f"labels other than the positive one: {_list_cols(negatives)}")


def classes_of(layout: Layout, spec: InputSpec, negatives) -> tuple[str, ...]:
    """The class names; with --score-col the negative one is the other label seen."""
    if layout.mode != "score":
        return layout.classes
    return (negatives[0] if negatives else _negative_name(spec.positive_label), spec.positive_label)


def _negative_name(positive: str) -> str:
    pairs = {"1": "0", "true": "false", "True": "False", "yes": "no", "pos": "neg", "positive": "negative"}
    return pairs.get(positive, f"not {positive}")
