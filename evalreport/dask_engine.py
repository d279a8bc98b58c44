"""Beyond one machine: evaluate a dask DataFrame.

Each partition is validated and reduced to the same mergeable :class:`Stats` on
a worker. The partitions' lengths are counted first, so every row keeps its
position in the whole input: bootstrap blocks, the temperature sample and row
numbers are exactly those of a single machine reading every row, and the
merged statistics give the same report. Needs ``pip install "evalreport[dask]"``.
"""

from __future__ import annotations

import glob as _glob
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .compute import Bootstrap, Stats, TooManySlices, reduce_batches
from .errors import InputError, UsageError, display_path, quote
from .load import (
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
                      boot: Bootstrap | None, chunk_rows: int, option_style: str, expected: int) -> _Part:
    """On a worker: one partition reduced; ``expected``: its rows as the first pass counted them."""
    loaded = partition_input(frame, spec, row0, name, chunk_rows, option_style)
    stats = reduce_batches(loaded.batches(), n_classes, spec.eps, boot, workers=1)  # Dask runs the partitions in parallel
    check_rows(name, loaded.rows - row0, expected, row0)
    return _Part(stats, loaded.rows - row0, loaded.total_weight, loaded.negative_labels)


def partition_input(frame, spec: InputSpec, row0: int, name: str, chunk_rows: int, option_style: str) -> LoadedInput:
    """On a worker: a partition as an input of its own whose rows stand at ``row0`` of the whole (row
    numbers in errors are the whole input's); the whole-input checks are the caller's."""
    from . import errors

    errors.OPTION_STYLE = option_style  # a worker's messages name the options as the caller spells them
    return LoadedInput(Table(frame, SourceInfo(name, None, None, "dask")), spec, chunk_rows, row0=row0, partial=True)


def merged_on_cluster(tasks: list, combine):
    """Delayed reductions merged on the cluster, pairwise in their order (the same figures on every
    run): one result reaches the client, whose memory does not grow with the partitions."""
    import dask

    combine = dask.delayed(combine, pure=True)
    while len(tasks) > 1:
        tasks = [combine(tasks[i], tasks[i + 1]) if i + 1 < len(tasks) else tasks[i] for i in range(0, len(tasks), 2)]
    return tasks[0]


def _combine(a: _Part, b: _Part) -> _Part:
    """Two consecutive partitions' reductions as one (new objects: a task's inputs stay as they are)."""
    return _Part(a.stats + b.stats, a.rows + b.rows, a.weight + b.weight,
                 list(dict.fromkeys([*a.negatives, *b.negatives])))


def reduce_dask(ddf, spec: InputSpec, boot: Bootstrap | None, chunk_rows: int,
                name: str | None = None) -> tuple[Stats, DaskInput]:
    """Reduce every partition on the cluster and merge, in partition order. ``ddf``: a dask
    DataFrame, or the :class:`DaskFiles` of a folder (named after it in messages)."""
    import dask

    from . import errors

    if isinstance(ddf, DaskFiles):
        name, ddf = name or ddf.name, ddf.frame
    name = name or "dask DataFrame"
    layout = plan_layout([str(c) for c in ddf.columns], spec, name)
    ddf = ddf[layout.usecols]
    with _quiet():
        lengths = _computed(row_counts(ddf), name)  # a first pass places every partition's rows
        k = len(layout.classes)
        tasks = [dask.delayed(_reduce_partition)(part, spec, row0, name, k, boot, chunk_rows, errors.OPTION_STYLE, n)
                 for part, row0, n in placed(ddf.to_delayed(), lengths, name)]
        whole = _computed(merged_on_cluster(tasks, _combine), name)
    stats, negatives = whole.stats, whole.negatives
    check_whole(name, layout, whole.rows, whole.weight, negatives)
    classes = classes_of(layout, spec, negatives)
    return stats, DaskInput(spec, layout, classes, SourceInfo(name, None, None, "dask"))


def row_counts(ddf):
    """Each partition's rows (delayed), counted on the very frame that is then reduced: dask's
    optimiser may cut another frame otherwise (the Parquet parts' first column alone came in 3
    partitions where the whole had 8)."""
    return ddf.map_partitions(len)


def placed(parts: list, lengths, name: str) -> list[tuple[object, int, int]]:
    """Each delayed partition with the position of its first row and its rows from the first pass
    — as many partitions as that pass counted, or one line: rows the cluster cut otherwise would
    be left out or misplaced."""
    lengths = [int(n) for n in lengths]
    if len(parts) != len(lengths):
        raise InputError(name, f"the cluster cut it into {len(lengths):,} partitions to count their rows and "
                         f"{len(parts):,} to read them; nothing was computed", hint=_CUT_OTHERWISE)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)[:-1]]).astype(np.int64)
    return [(part, int(row0), n) for part, row0, n in zip(parts, offsets, lengths)]


def check_rows(name: str, rows: int, expected: int, row0: int) -> None:
    """On a worker: a partition must hold the rows the first pass counted in it."""
    if rows != expected:
        raise InputError(name, f"the partition from row {row0 + 1:,} held {expected:,} rows when they were counted "
                         f"and {rows:,} when they were read; nothing was computed", hint=_CUT_OTHERWISE)


_CUT_OTHERWISE = "this is dask's doing: please report it with your dask version"


def _computed(what, name: str, many: bool = False):
    """Compute on the cluster; an input error on a worker comes back as itself, any other failure
    of the cluster or a part (a file that cannot be read) as one InputError naming the input."""
    import dask

    try:
        return dask.compute(*what) if many else what.compute()
    except (InputError, UsageError, TooManySlices):
        raise
    except Exception as err:  # noqa: BLE001 — the cluster's and the readers' errors, as one line
        text = " ".join(str(err).split())[:200] or type(err).__name__
        raise InputError(name, f"the cluster could not read it ({type(err).__name__}: {text})") from None


@contextmanager
def _quiet():
    """Distributed's and dask's own loggers say nothing while a command runs: a worker's error
    reaches the user as evalreport's one line, not as pages of worker log."""
    import logging

    loggers = [logging.getLogger(n) for n in ("distributed", "dask", "tornado", "bokeh")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@dataclass(frozen=True)
class DaskFiles:
    """A folder or glob of Parquet or CSV parts as a dask DataFrame, with the name messages use."""

    frame: object
    name: str
    parts: tuple[str, ...]

    @property
    def columns(self):
        return self.frame.columns


def read_files(path: str, spec: InputSpec) -> DaskFiles:
    """A dask DataFrame over a directory or glob of Parquet or CSV files (sorted by name). Every
    part's columns are checked here, before any work on the cluster, so that a part that cannot be
    read or lacks a column is named: one line, exit 2. CSV parts are one partition each, read on the
    workers by the local reader (:func:`read_csv_part`; a CSV file is not cut: a quoted field may
    hold a line break)."""
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
        columns = _same_columns(path, parquet, _parquet_columns, spec)
        return DaskFiles(dd.read_parquet(parquet, columns=columns, blocksize=PARQUET_BLOCKSIZE), path, tuple(parquet))
    if not csv:
        raise UsageError(f"{path}: no .parquet or .csv files to read with --engine dask")
    columns = _same_columns(path, csv, lambda part: _csv_columns(part, spec.delimiter), spec)
    layout = plan_layout(columns, spec, csv[0])
    frame = dd.from_map(read_csv_part, csv, spec=spec, meta=_no_rows(layout), label="evalreport-read-csv")
    return DaskFiles(frame, path, tuple(csv))


def read_csv_part(path: str, spec: InputSpec) -> pd.DataFrame:
    """On a worker: one CSV part, read by the local engine's own reader — Arrow's parser, and a
    piece it rejects checked row by row (the number of fields, UTF-8) before pandas reads it — so a
    part is refused as a file is on one machine, in one line naming the part and its row (pandas
    alone, given only the columns to read, drops a row's extra fields without a word). Values that
    are no number stay text, for the validator to name with their rows in the whole input."""
    loaded = LoadedInput(path, spec)
    try:
        pieces = [piece if isinstance(piece, pd.DataFrame) else piece.to_pandas()
                  for piece in loaded.reader.frames(loaded.layout, loaded.chunk_rows)]
    finally:
        loaded.close()
    usecols = list(loaded.layout.usecols)
    if not pieces:
        return _no_rows(loaded.layout)
    frame = pd.concat([piece[usecols] for piece in pieces], ignore_index=True)
    for c in usecols:  # Arrow's dictionaries (labels, slices) as the text a CSV file holds
        if isinstance(frame[c].dtype, pd.CategoricalDtype):
            frame[c] = frame[c].astype(object)
    return frame


def _parquet_columns(path: str) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def _no_rows(layout: Layout) -> pd.DataFrame:
    """A CSV part's frame without rows: the columns read, text or float64."""
    return pd.DataFrame({c: pd.Series(dtype=object if c in layout.text_cols else "float64") for c in layout.usecols})


def _csv_columns(path: str, delimiter: str) -> list[str]:
    return [str(c) for c in pd.read_csv(path, nrows=0, sep=delimiter, encoding="utf-8").columns]


def _same_columns(name: str, parts: list[str], read, spec: InputSpec) -> list[str]:
    """The parts' columns: each part readable, with every column the first one's layout reads."""
    columns = None
    needed: list[str] = []
    for part in parts:
        shown = display_path(part)
        try:
            found = read(part)
        except Exception as err:  # noqa: BLE001 — the readers' errors for a part that is no table
            text = " ".join(str(err).split())[:160] or type(err).__name__
            raise InputError(shown, f"a part of {display_path(name)} cannot be read ({text})") from None
        if columns is None:
            columns = found
            needed = plan_layout(found, spec, shown).usecols
            continue
        missing = [c for c in needed if c not in found]
        if missing:
            raise InputError(shown, f"a part of {display_path(name)} has no column {quote(missing[0])}",
                             hint=f"every part needs the columns of the first, {display_path(parts[0])}")
    return needed


def client(scheduler: str | None):
    """A client of the cluster at ``scheduler`` (reached within CONNECT_TIMEOUT seconds, else one
    line, exit 2), or of a new local cluster (closed with the client)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError('--engine dask needs dask: pip install "evalreport[dask]"') from None
    if scheduler:
        if "://" not in scheduler and ":" not in scheduler:
            raise UsageError(f"--scheduler {quote(scheduler)}: not an address (tcp://host:port)")
        with _quiet():
            try:
                return Client(scheduler, timeout=CONNECT_TIMEOUT)
            except Exception as err:  # noqa: BLE001 — OSError, TimeoutError, ValueError of a bad address
                text = " ".join(str(err).split())[:160] or type(err).__name__
                raise UsageError(f"--scheduler {quote(scheduler)}: no scheduler reached within {CONNECT_TIMEOUT} s "
                                 f"({text})") from None
    import logging

    with _quiet():  # the workers' own logs too: an error reaches the user as evalreport's one line
        return Client(LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None,
                                   silence_logs=logging.CRITICAL))


#: Parquet parts are read in partitions of about this much data (dask aggregates small row groups and
#: splits a file at its row groups): a worker's memory follows its partitions' size — compare of 50M
#: rows in 16 parts a side peaked at 4.1 GiB a worker as 16 partitions (dask's default), 1.9 GiB as 48.
PARQUET_BLOCKSIZE = "128MiB"

#: Seconds to reach a scheduler before giving up.
CONNECT_TIMEOUT = 10
