"""Beyond one machine: evaluate a dask DataFrame.

Each partition is validated and reduced to the same mergeable :class:`Stats` on
a worker. The partitions' lengths are counted first, so every row keeps its
position in the whole input: bootstrap blocks, the temperature sample and row
numbers are exactly those of a single machine reading every row, and the
merged statistics give the same report. Needs ``pip install "evalreport[dask]"``.
"""

from __future__ import annotations

import glob as _glob
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .compute import Bootstrap, Stats, reduce_batches
from .errors import InputError, UsageError, quote
from .load import (
    NUMERIC_NA,
    InputSpec,
    Layout,
    LoadedInput,
    SourceInfo,
    Table,
    check_whole,
    classes_of,
    plan_layout,
)


@dataclass(frozen=True)
class DaskInput:
    """What the interpret stage reads of an input (as of a :class:`LoadedInput`)."""

    spec: InputSpec
    layout: Layout
    classes: tuple[str, ...]
    source: SourceInfo


@dataclass
class _Part:
    stats: Stats
    rows: int
    weight: float
    negatives: list[str]


def _reduce_partition(frame: pd.DataFrame, spec: InputSpec, row0: int, name: str, n_classes: int,
                      boot: Bootstrap | None, chunk_rows: int) -> _Part:
    loaded = LoadedInput(Table(frame, SourceInfo(name, None, None, "dask")), spec, chunk_rows, row0=row0, partial=True)
    stats = reduce_batches(loaded.batches(), n_classes, spec.eps, boot, workers=1)  # Dask runs the partitions in parallel
    return _Part(stats, loaded.rows - row0, loaded.total_weight, loaded.negative_labels)


def reduce_dask(ddf, spec: InputSpec, boot: Bootstrap | None, chunk_rows: int,
                name: str = "dask DataFrame") -> tuple[Stats, DaskInput]:
    """Reduce every partition on the cluster and merge, in partition order."""
    import dask

    layout = plan_layout([str(c) for c in ddf.columns], spec, name)
    ddf = ddf[layout.usecols]
    lengths = ddf.map_partitions(len).compute()  # a first pass places every partition's rows
    offsets = np.concatenate([[0], np.cumsum(np.asarray(lengths))[:-1]]).astype(np.int64)
    k = len(layout.classes)
    tasks = [dask.delayed(_reduce_partition)(part, spec, int(row0), name, k, boot, chunk_rows)
             for part, row0 in zip(ddf.to_delayed(), offsets)]
    stats, rows, weight, negatives = Stats(k), 0, 0.0, {}
    for part in dask.compute(*tasks):
        stats += part.stats
        rows += part.rows
        weight += part.weight
        for label in part.negatives:
            negatives.setdefault(label, None)
    check_whole(name, layout, rows, weight, list(negatives))
    classes = classes_of(layout, spec, list(negatives))
    return stats, DaskInput(spec, layout, classes, SourceInfo(name, None, None, "dask"))


def read_files(path: str, spec: InputSpec):
    """A dask DataFrame over a directory or glob of Parquet or CSV files (sorted by name)."""
    import dask.dataframe as dd

    p = Path(path)
    pattern = str(p / "*") if p.is_dir() else path
    files = sorted(f for f in _glob.glob(pattern) if Path(f).is_file())
    if not files:
        raise InputError(path, "no files match")
    parquet = [f for f in files if f.lower().endswith((".parquet", ".pq"))]
    csv = [f for f in files if f.lower().endswith((".csv", ".csv.gz"))]
    if parquet and csv:  # reading one kind would leave the other's rows out of every figure
        raise InputError(path, f"holds both Parquet ({len(parquet):,} files, e.g. {quote(Path(parquet[0]).name)}) and "
                         f"CSV parts ({len(csv):,} files, e.g. {quote(Path(csv[0]).name)})",
                         hint="--engine dask reads one format: convert the parts to one, or name one kind with a glob "
                              "(e.g. 'parts/*.parquet')")
    if parquet:
        return dd.read_parquet(parquet)
    if not csv:
        raise UsageError(f"{path}: no .parquet or .csv files to read with --engine dask")
    header = pd.read_csv(csv[0], nrows=0, encoding="utf-8")
    layout = plan_layout([str(c) for c in header.columns], spec, csv[0])
    return dd.read_csv(
        csv,
        usecols=layout.usecols,
        dtype={c: str for c in layout.text_cols} | {c: "float64" for c in layout.numeric_cols},
        keep_default_na=False,
        na_values={c: NUMERIC_NA for c in layout.numeric_cols},
        encoding="utf-8",
        blocksize="64MB",
    )


def client(scheduler: str | None):
    """A client of the cluster at ``scheduler``, or of a new local cluster (closed with the client)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError('--engine dask needs dask: pip install "evalreport[dask]"') from None
    if scheduler:
        return Client(scheduler)
    return Client(LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None))
