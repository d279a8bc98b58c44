"""Two models' predictions matched on a Dask cluster (compare and check --baseline, --engine dask).

Each side's partitions are validated on the workers as a report of them would be, each row
keeping its position in its whole input (the partitions' lengths are counted first). The two
sides are then joined on the cluster by dask's own outer merge on the id (or, without ids, on
the position), which shuffles every id to one partition; each joined partition is reduced there
to both sides' mergeable Stats. Matched rows carry the baseline's positions, which decide the
bootstrap blocks, so the figures are those of one machine (their sums' order aside). Every
problem of the match — repeated ids, ids on one side only, labels that differ — is gathered over
the partitions and raised as the one line the local engine gives.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field, replace

import numpy as np

from .compute import Bootstrap, Stats, merge_rising, reduce_pair
from .dask_engine import (DaskFiles, DaskInput, _computed, _quiet, check_rows, merged_on_cluster, partition_input, placed,
                          row_counts)
from .errors import InputError, UsageError, opt
from .load import InputSpec, SourceInfo, check_layouts, check_whole, classes_of, plan_layout
from .load.spill import _batch, _first, _id_texts, _Problems, _record_batch, matched_words

#: A joined partition holds about this many matched rows at most (more partitions for bigger inputs).
MERGE_ROWS = 1 << 20


@dataclass
class _SideMeta:
    """What the whole-input checks need of a side, summed over its partitions."""

    rows: int = 0
    weight: float = 0.0
    renormalized: int = 0
    negatives: dict = field(default_factory=dict)

    def __iadd__(self, other: _SideMeta) -> _SideMeta:
        self.rows += other.rows
        self.weight += other.weight
        self.renormalized += other.renormalized
        for label in other.negatives:
            self.negatives.setdefault(label, None)
        return self


@dataclass
class _Joined:
    """One joined partition reduced: both sides' Stats, the rising rows, the problems."""

    base: Stats | None
    cand: Stats | None
    rising: tuple
    problems: _Problems
    dropped: tuple[int, int]


@dataclass(frozen=True)
class PairedDask:
    """Both sides reduced, as the local compare has them."""

    base_stats: Stats
    cand_stats: Stats
    rising: tuple
    base: DaskInput
    cand: DaskInput
    matched_by: str
    dropped: tuple[int, int] | None


def _unwrap(ddf, default: str):
    if isinstance(ddf, DaskFiles):
        return ddf.frame, ddf.name
    return ddf, default


def compare_dask(baseline, candidate, spec: InputSpec, base_spec: InputSpec, boot: Bootstrap | None,
                 chunk_rows: int, common: bool = False) -> PairedDask:
    """Match and reduce two dask DataFrames (or folders read by dask_engine.read_files)."""
    from . import errors

    (fb, name_b), (fc, name_c) = _unwrap(baseline, "baseline dask DataFrame"), _unwrap(candidate, "dask DataFrame")
    if spec.keyed or base_spec.keyed:
        raise UsageError("--engine dask compares predictions tables, not language-model evaluations")
    lay_b = plan_layout([str(c) for c in fb.columns], base_spec, name_b)
    lay_c = plan_layout([str(c) for c in fc.columns], spec, name_c)
    check_layouts(lay_b, lay_c, name_c)
    if lay_b.mode != "score":  # both sides number the classes in the baseline's order
        base_spec, spec = replace(base_spec, classes=lay_b.classes), replace(spec, classes=lay_b.classes)
        lay_b, lay_c = plan_layout(lay_b.usecols, base_spec, name_b), plan_layout(lay_c.usecols, spec, name_c)
    id_col = spec.id_col or "id"
    by_id = id_col if lay_b.id_col == id_col and lay_c.id_col == id_col else None
    if common and not by_id:
        raise UsageError(f"{opt('common_rows', flag=True)} matches rows by their ids: both inputs need the id "
                         f"column ({opt('id_col')}, default 'id')")
    fb, fc = fb[lay_b.usecols], fc[lay_c.usecols]
    k = len(lay_b.classes)
    with _quiet():
        lengths_b, lengths_c = _computed([row_counts(fb), row_counts(fc)], name_c, many=True)
        total_b, total_c = int(np.sum(lengths_b)), int(np.sum(lengths_c))
        sides = [_validated_frames(fb, lengths_b, base_spec, name_b, by_id, "b:", chunk_rows, errors.OPTION_STYLE),
                 _validated_frames(fc, lengths_c, spec, name_c, by_id, "c:", chunk_rows, errors.OPTION_STYLE)]
        parts = max(fb.npartitions, fc.npartitions, math.ceil(max(total_b, total_c) / MERGE_ROWS))
        joined = sides[0][0].merge(sides[1][0], on="k", how="outer", indicator=True, npartitions=parts,
                                   broadcast=False)
        reduce = _delayed(_reduce_joined)
        tasks = [reduce(part, k, tuple(lay_b.group_cols), tuple(lay_c.group_cols), spec.eps, boot, chunk_rows,
                        bool(by_id), common) for part in joined.to_delayed()]
        metas = sides[0][1] + sides[1][1]
        computed = _computed([merged_on_cluster(tasks, _combine), *metas], name_c, many=True)
    whole, metas = computed[0], computed[1:]
    meta_b, meta_c = _SideMeta(), _SideMeta()
    for i, meta in enumerate(metas):
        (meta_b if i < len(sides[0][1]) else meta_c).__iadd__(meta)
    check_whole(name_b, lay_b, meta_b.rows, meta_b.weight, list(meta_b.negatives))
    check_whole(name_c, lay_c, meta_c.rows, meta_c.weight, list(meta_c.negatives))
    classes_b = classes_of(lay_b, base_spec, list(meta_b.negatives))
    classes_c = classes_of(lay_c, spec, list(meta_c.negatives))
    if lay_b.mode == "score" and classes_b != classes_c:
        raise InputError(name_c, "its classes differ from the baseline's",
                         hint=f"baseline {', '.join(classes_b)}, candidate {', '.join(classes_c)}")
    if not by_id and meta_b.rows != meta_c.rows:
        raise InputError(name_c, f"has {meta_c.rows} rows but the baseline has {meta_b.rows}",
                         hint="without an id column in both files, rows are matched by position")
    problems, dropped, rising = whole.problems, whole.dropped, whole.rising
    sb = whole.base if whole.base is not None else Stats(k)
    sc = whole.cand if whole.cand is not None else Stats(k)
    sb.renormalized, sc.renormalized = meta_b.renormalized, meta_c.renormalized
    matched = tuple(dropped) if common else None
    problems.raise_first(name_b, name_c, by_id, lay_c.label_col, matched_words(by_id, common, matched))
    if common and dropped[0] == meta_b.rows:
        raise InputError(name_c, "has no id in common with the baseline", column=by_id)
    source = SourceInfo(name_b, None, None, "dask"), SourceInfo(name_c, None, None, "dask")
    return PairedDask(sb, sc, rising, DaskInput(base_spec, lay_b, classes_b, source[0]),
                      DaskInput(spec, lay_c, classes_c, source[1]), matched_words(by_id, common, matched), matched)


def _combine(a: _Joined, b: _Joined) -> _Joined:
    """Two joined partitions' reductions as one (new objects: a task's inputs stay as they are)."""
    problems = _Problems()
    problems += a.problems
    problems += b.problems
    dropped = (a.dropped[0] + b.dropped[0], a.dropped[1] + b.dropped[1])
    if a.base is None or b.base is None:
        kept = a if b.base is None else b
        return _Joined(kept.base, kept.cand, kept.rising, problems, dropped)
    return _Joined(a.base + b.base, a.cand + b.cand, merge_rising(a.rising, b.rising), problems, dropped)


def _delayed(fn):
    import dask

    return dask.delayed(fn, pure=True)


def _validated_frames(ddf, lengths, spec: InputSpec, name: str, by_id: str | None, prefix: str, chunk_rows: int,
                      option_style: str):
    """A side's partitions validated on the workers: a dask DataFrame of the validated columns
    (prefixed, beside the join key ``k``) and each partition's _SideMeta (delayed)."""
    import dask.dataframe as dd

    layout = plan_layout([str(c) for c in ddf.columns], spec, name)
    meta = _meta(layout, len(layout.classes), by_id, prefix)
    validate = _delayed(_validate_partition)
    done = [validate(part, spec, row0, name, by_id, prefix, chunk_rows, option_style, meta, n)
            for part, row0, n in placed(ddf.to_delayed(), lengths, name)]
    take = _delayed(operator.getitem)
    frame = dd.from_delayed([take(d, 0) for d in done], meta=meta, verify_meta=False)
    return frame, [take(d, 1) for d in done]


def _meta(layout, k: int, by_id: str | None, prefix: str):
    """The validated columns' empty frame: the join key k, then the side's columns prefixed."""
    import pandas as pd

    text = pd.StringDtype("pyarrow")
    cols = {"k": pd.Series(dtype=text if by_id else "int64"), f"{prefix}pos": pd.Series(dtype="int64")}
    for j in range(k):
        cols[f"{prefix}q{j}"] = pd.Series(dtype="float64")
    if layout.mode == "soft":
        for j in range(k):
            cols[f"{prefix}p{j}"] = pd.Series(dtype="float64")
    else:
        cols[f"{prefix}y"] = pd.Series(dtype="int64")
    if layout.weight_col:
        cols[f"{prefix}w"] = pd.Series(dtype="float64")
        cols[f"{prefix}wexp"] = pd.Series(dtype="int32")
    for g in layout.group_cols:
        cols[f"{prefix}g:{g}"] = pd.Series(dtype=text)
    return pd.DataFrame(cols)


def _validate_partition(frame, spec: InputSpec, row0: int, name: str, by_id: str | None, prefix: str,
                        chunk_rows: int, option_style: str, meta, expected: int):
    """On a worker: one partition validated as the local reader validates (row numbers of the whole
    input), as the validated columns and the partition's _SideMeta; ``expected``: its rows as the
    first pass counted them."""
    import pandas as pd
    import pyarrow as pa

    loaded = partition_input(frame, spec, row0, name, chunk_rows, option_style)
    groups = tuple(loaded.layout.group_cols)
    pieces, renormalized = [], 0
    for batch in loaded.batches():
        renormalized += batch.renormalized
        pieces.append(_record_batch(batch, _id_texts(batch.ids) if by_id else None, None, groups))
    check_rows(name, loaded.rows - row0, expected, row0)
    side = _SideMeta(loaded.rows - row0, loaded.total_weight, renormalized, dict.fromkeys(loaded.negative_labels))
    if not pieces:
        return meta, side
    table = pa.Table.from_batches(pieces)
    out = pd.DataFrame({f"{prefix}{c}": table.column(c).to_pandas(types_mapper=_text_mapper) for c in table.column_names
                        if c != "id"})
    out.insert(0, "k", table.column("id").to_pandas(types_mapper=_text_mapper) if by_id else out[f"{prefix}pos"])
    return out[list(meta.columns)].astype(meta.dtypes.to_dict()), side


def _text_mapper(arrow_type):
    import pandas as pd
    import pyarrow as pa

    return pd.StringDtype("pyarrow") if arrow_type in (pa.string(), pa.large_string()) else None


def _reduce_joined(frame, k: int, groups_b: tuple, groups_c: tuple, eps: float, boot: Bootstrap | None,
                   chunk_rows: int, by_id: bool, common: bool) -> _Joined:
    """On a worker: one partition of the outer join (every row of an id in it) reduced."""
    problems, dropped = _Problems(), [0, 0]
    if by_id and _duplicates(frame, problems):
        return _Joined(None, None, (), problems, (0, 0))
    how = frame["_merge"].to_numpy()
    left, right = how == "left_only", how == "right_only"
    if left.any():
        dropped[0] = int(left.sum())
        if not common:
            rows = frame["b:pos"].to_numpy()[left].astype(np.int64)
            order = np.argsort(rows, kind="stable")[:5]
            ids = frame["k"].to_numpy(dtype=object)[left][order]
            problems.missing.add(zip((rows[order] + 1).tolist(), [str(x) for x in ids]), dropped[0])
    if right.any():
        dropped[1] = int(right.sum())
        if not common:
            problems.extra.add(sorted(str(x) for x in frame["k"].to_numpy()[right])[:5], dropped[1])
    both = frame[how == "both"].sort_values("b:pos", kind="stable")
    if not len(both):
        return _Joined(None, None, (), problems, tuple(dropped))
    sides = {p: _columns(both, p, by_id) for p in ("b:", "c:")}
    positions = sides["b:"]["pos"]
    if "y" in sides["b:"]:
        differ = sides["b:"]["y"] != sides["c:"]["y"]
        if differ.any():
            problems.label_rows.add(_first(positions[differ] + 1), int(differ.sum()))
    sb, sc, rising = Stats(k), Stats(k), ()
    everything = np.arange(len(both))
    for start in range(0, len(both), chunk_rows):
        rows = everything[start : start + chunk_rows]
        bb = _batch(sides["b:"], rows, positions[rows], k, groups_b)
        bc = _batch(sides["c:"], rows, positions[rows], k, groups_c)
        b, c, r = reduce_pair(bb, bc, k, eps, boot)
        sb += b
        sc += c
        rising = merge_rising(rising, r)
    return _Joined(sb, sc, rising, problems, tuple(dropped))


def _duplicates(frame, problems: _Problems) -> bool:
    """Ids repeated on a side (an id's rows are all in one joined partition): noted, True if any."""
    repeated = frame["k"].duplicated(keep=False).to_numpy()
    if not repeated.any():
        return False
    sub = frame[repeated]
    found = False
    for side, col in (("base", "b:pos"), ("cand", "c:pos")):
        distinct = sub.groupby("k", observed=True, dropna=False)[col].transform("nunique").to_numpy()
        rows = np.unique(sub[col].to_numpy()[distinct > 1]).astype(np.int64)
        if len(rows):
            problems.duplicates[side].add(_first(rows + 1), len(rows))
            found = True
    return found


def _columns(both, prefix: str, by_id: bool) -> dict:
    """A side's matched columns as _batch reads them: numbers as numpy (whole numbers as ints again,
    the outer join made them floats), text as Arrow."""
    import pyarrow as pa

    out = {}
    for name in both.columns:
        if not name.startswith(prefix):
            continue
        short = name[len(prefix):]
        if short.startswith("g:"):
            out[short] = pa.array(both[name].to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        elif short in ("pos", "y", "wexp"):
            out[short] = both[name].to_numpy().astype(np.int64)
        else:
            out[short] = both[name].to_numpy(dtype=np.float64)
    if by_id:
        out["id"] = pa.array(both["k"].to_numpy(dtype=object), type=pa.string(), from_pandas=True)
    return out
