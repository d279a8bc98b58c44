"""Multiple-choice answers of a language model as one row per option (CSV, Parquet, JSON lines) or
as JSON objects (``{"id": …, "label": …, "logprobs": {option: log-probability, …}}``) → one row per
question, the options' log-probabilities side by side, for the classifier pipeline (which takes
their softmax: the model's distribution over the options).

Read whole: a multiple-choice file holds questions, not tokens (at most MAX_CHOICE_ROWS rows).
The gold option is named by ``label`` on the question's rows, or marked by ``gold`` (true on its
row). Every question must give every option a log-probability: an option missing from one
question (absent from an API's top log-probabilities) is named, with the hint to write −inf.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError, quote
from .sequences import GOLD, LOGPROB, LOGPROBS, MAX_CHOICE_ROWS, OPTION, _arrow
from .spec import InputSpec, _list_cols

#: The prefix of the options' columns in the table handed on (no column of the data is read with it).
PREFIX = "option:"
_TRUE = {"1", "1.0", "true", "yes", "y", "t"}
_FALSE = {"0", "0.0", "false", "no", "n", "f", ""}


@dataclass(frozen=True)
class ChoiceLayout:
    id_col: str
    label_col: str | None
    gold_col: str | None
    group_cols: tuple[str, ...]

    @property
    def numeric_cols(self) -> list[str]:
        return [LOGPROB]

    @property
    def text_cols(self) -> list[str]:
        return [c for c in (self.id_col, OPTION, self.label_col, self.gold_col, *self.group_cols) if c]

    @property
    def usecols(self) -> list[str]:
        return list(dict.fromkeys(self.numeric_cols + self.text_cols))


def choice_spec(spec: InputSpec) -> InputSpec:
    """How the classifier reads the questions' table."""
    return InputSpec(label_col="label", prob_prefix=PREFIX, logits=True, group_by=spec.group_by, id_col="id",
                     eps=spec.eps, keyed=True)


def read_choices(reader, spec: InputSpec):
    """The questions as a pandas DataFrame (``id``, ``label``, ``option:<name>`` columns, slices)
    and what the input was, for the run's description."""
    name = reader.info.name
    try:
        if LOGPROBS in reader.columns and OPTION not in reader.columns:
            records, how = _objects(reader, spec), "JSON objects with a 'logprobs' object"
        else:
            records, how = _long_rows(reader, spec), "one row per option"
    finally:
        reader.close()
    return _questions(name, records, spec), how


def _layout(columns: list[str], spec: InputSpec, name: str) -> ChoiceLayout:
    present = set(columns)
    id_col = spec.id_col or "id"
    if id_col not in present:
        raise InputError(name, f"no id column {quote(id_col)}: one row per option needs an id naming each row's "
                         "question", hint=f"the columns are {_list_cols(columns)}")
    label = spec.label_col if spec.label_col in present else None
    gold = GOLD if GOLD in present else None
    if label is None and gold is None:
        raise InputError(name, f"no {quote(spec.label_col)} column naming the gold option, nor a {quote(GOLD)} column "
                         "marking its row", hint=f"the columns are {_list_cols(columns)}")
    for g in spec.group_by:
        if g not in present:
            raise InputError(name, f"no --group-by column {quote(g)}", hint=f"the columns are {_list_cols(columns)}")
    return ChoiceLayout(id_col, label, gold if label is None else None, tuple(spec.group_by))


def _long_rows(reader, spec: InputSpec) -> dict:
    """One row per option → columns (lists): question, option, logprob, label/gold, slices, row."""
    import pyarrow as pa

    lay = _layout(reader.columns, spec, reader.info.name)
    tables = [_arrow(f) for f in reader.frames(lay, 1 << 17)]
    table = pa.concat_tables([t for t in tables if t.num_rows]) if any(t.num_rows for t in tables) else None
    if table is None:
        raise InputError(reader.info.name, "has a header but no rows")
    if table.num_rows > MAX_CHOICE_ROWS:
        raise InputError(reader.info.name, f"more than {MAX_CHOICE_ROWS:,} rows: a multiple-choice file is read "
                         "whole")
    lp = table.column(LOGPROB)
    if not (pa.types.is_floating(lp.type) or pa.types.is_integer(lp.type) or pa.types.is_null(lp.type)):
        values = lp.to_pylist()
        bad = [i for i, v in enumerate(values) if v is not None and not _float_text(v)]
        raise InputError(reader.info.name, f"not a number: {quote(values[bad[0]])}", column=LOGPROB,
                         rows=[i + 1 for i in bad[:5]], more=len(bad) > 5)
    out = {"question": _text_list(table, lay.id_col), "option": _text_list(table, OPTION),
           "logprob": lp.cast(pa.float64()).to_numpy(zero_copy_only=False),
           "rows": np.arange(1, table.num_rows + 1), "layout": lay}
    if lay.label_col:
        out["label"] = _text_list(table, lay.label_col)
    else:
        out["gold"] = _text_list(table, lay.gold_col)
    out["groups"] = {g: _text_list(table, g) for g in lay.group_cols}
    return out


def _objects(reader, spec: InputSpec) -> dict:
    """JSON objects with a ``logprobs`` object → the same columns, an object's options as rows."""
    name = reader.info.name
    id_col = spec.id_col or "id"
    question, option, logprob, label, rows, groups = [], [], [], [], [], {g: [] for g in spec.group_by}
    for line, obj in reader.objects():
        lps = obj.get(LOGPROBS)
        if not isinstance(lps, dict) or not lps:
            raise InputError(name, f"line {line:,}: field 'logprobs' must be an object of option → log-probability, "
                             f"got {quote(str(lps))}")
        for key in (id_col, spec.label_col):
            if obj.get(key) is None:
                raise InputError(name, f"line {line:,}: no field {quote(key)}")
        for opt_name, value in lps.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(name, f"line {line:,}: field 'logprobs' {quote(opt_name)}: {quote(str(value))} is "
                                 "not a number", hint="write -Infinity for an option the model gave no log-probability")
            question.append(_as_text(obj[id_col]))
            option.append(str(opt_name))
            logprob.append(float(value))
            label.append(_as_text(obj[spec.label_col]))
            rows.append(line)
            for g in groups:
                groups[g].append(None if obj.get(g) is None else _as_text(obj.get(g)))
    if not question:
        raise InputError(name, "holds no questions")
    return {"question": question, "option": option, "logprob": np.asarray(logprob, dtype=np.float64),
            "label": label, "groups": groups, "rows": np.asarray(rows),
            "layout": ChoiceLayout(id_col, spec.label_col, None, tuple(spec.group_by))}


def _questions(name: str, rec: dict, spec: InputSpec):
    """Validate the options of each question and pivot them into one row per question."""
    import pandas as pd

    lay, rows = rec["layout"], rec["rows"]
    question = pd.Series(rec["question"], dtype=object)
    option = pd.Series(rec["option"], dtype=object)
    lp = rec["logprob"]
    for col, values in (("id", question), (OPTION, option)):
        missing = np.flatnonzero(values.isna().to_numpy())
        if len(missing):
            raise InputError(name, "missing values", column=lay.id_col if col == "id" else OPTION,
                             rows=rows[missing[:5]].tolist(), more=len(missing) > 5)
    bad = np.flatnonzero(np.isnan(lp) | (lp == np.inf) | (lp > 1e-9))
    if len(bad):
        raise InputError(name, "log-probabilities must be numbers at most 0 (−inf for an option the model gave none)",
                         column=LOGPROB, rows=rows[bad[:5]].tolist(), more=len(bad) > 5)
    pair = pd.MultiIndex.from_arrays([question, option])
    dup = np.flatnonzero(pair.duplicated(keep=False))
    if len(dup):
        raise InputError(name, f"question {quote(question[dup[0]])} has option {quote(option[dup[0]])} twice",
                         column=OPTION, rows=rows[dup[:5]].tolist(), more=len(dup) > 5)
    options = _sorted(dict.fromkeys(option))
    if len(options) < 2:
        raise InputError(name, f"one option ({quote(options[0])}) in the whole file: a choice needs two or more",
                         column=OPTION)
    wide = pd.DataFrame({"q": question, "o": option, "lp": lp}).pivot(index="q", columns="o", values="lp")
    order = list(dict.fromkeys(question))
    wide = wide.reindex(index=order, columns=options)
    absent = np.argwhere(np.isnan(wide.to_numpy()))
    if len(absent):
        q, o = order[absent[0][0]], options[absent[0][1]]
        raise InputError(name, f"question {quote(q)} has no log-probability for option {quote(o)} (absent from the "
                         f"returned top log-probabilities?) — {len(absent):,} such gap(s)", column=OPTION,
                         hint="give every option a row: write -inf (in JSON, -Infinity) for an option the model "
                              "gave no log-probability")
    first_row = pd.Series(rows).groupby(question.to_numpy(), sort=False).first().reindex(order)
    gold = _gold(name, rec, question, option, rows, order, options)
    frame = pd.DataFrame({"id": order, "label": gold})
    for o in options:
        frame[PREFIX + o] = wide[o].to_numpy()
    for g, values in rec["groups"].items():
        frame[g] = _per_question(name, g, pd.Series(values, dtype=object), question, rows, order)
    frame.attrs["first_rows"] = first_row.to_numpy()
    return frame


def _gold(name, rec, question, option, rows, order, options) -> list:
    """Each question's gold option: the label its rows agree on, or the option marked gold."""
    import pandas as pd

    if "label" in rec:
        label = pd.Series(rec["label"], dtype=object)
        per = _per_question(name, rec["layout"].label_col, label, question, rows, order)
        known = set(zip(question, option))
        for q, g in zip(order, per):
            if g is None or (q, g) not in known:
                raise InputError(name, f"question {quote(q)}: the gold option {quote(g)} has no row",
                                 column=rec["layout"].label_col, hint=f"the options are {_list_cols(options)}")
        return per
    marks = pd.Series(rec["gold"], dtype=object).map(lambda v: None if v is None else str(v).strip().lower())
    bad = np.flatnonzero(~marks.isin(_TRUE | _FALSE).to_numpy())
    if len(bad):
        raise InputError(name, f"{quote(marks.iloc[bad[0]])} is not true or false", column=GOLD,
                         rows=rows[bad[:5]].tolist(), more=len(bad) > 5)
    is_gold = marks.isin(_TRUE).to_numpy()
    count = pd.Series(is_gold).groupby(question.to_numpy(), sort=False).sum().reindex(order)
    wrong = [q for q, c in zip(order, count) if c != 1]
    if wrong:
        n = int(count[wrong[0]])
        raise InputError(name, f"question {quote(wrong[0])} marks {n} gold options; each question has one", column=GOLD)
    golden = pd.Series(option[is_gold].to_numpy(), index=question[is_gold].to_numpy())
    return golden.reindex(order).tolist()


def _per_question(name, col, values, question, rows, order) -> list:
    """A column that must hold one value per question (a slice, the label): its value, checked."""
    import pandas as pd

    frame = pd.DataFrame({"q": question.to_numpy(), "v": values.fillna("\0missing").to_numpy()})
    distinct = frame.groupby("q", sort=False)["v"].nunique()
    wrong = distinct[distinct > 1]
    if len(wrong):
        q = wrong.index[0]
        at = rows[np.flatnonzero(question.to_numpy() == q)[:5]].tolist()
        raise InputError(name, f"question {quote(q)} has different values on its rows (one per question)",
                         column=col, rows=at)
    first = frame.groupby("q", sort=False)["v"].first().reindex(order)
    return [None if v == "\0missing" else v for v in first]


def _sorted(options) -> list[str]:
    """The options in their natural order (numbers as numbers), whatever the rows' order."""
    try:
        return sorted(options, key=float)
    except ValueError:
        return sorted(options)


def _text_list(table, col: str) -> list:
    return [None if v is None else _as_text(v) for v in table.column(col).to_pylist()]


def _as_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _float_text(v) -> bool:
    try:
        float(str(v))
        return True
    except ValueError:
        return False

