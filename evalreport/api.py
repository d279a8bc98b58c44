"""The public Python API: :func:`evaluate`. The CLI calls exactly this."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from numpy.typing import ArrayLike

from .errors import InputError, UsageError, opt
from .compute import (BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED, MAX_REPLICATES, Bootstrap, TooManySlices, Stats, in_order, merge_rising,
                      reduce_batches, reduce_pair)
from .interpret import (DEFAULT_LADDER, MAX_SLICES, MAX_SLICES_LIMIT, Ladder, build_comparison, build_result,
                        check_finite, with_sample_fits)
from .load import (DEFAULT_CHUNK_ROWS, DEFAULT_EPS, Batch, InputSpec, LanguageInput, LoadedInput, PairedRows,
                   check_two_sources, open_input, open_pair)
from .load.spec import is_frame
from .result import Comparison, Result

if TYPE_CHECKING:
    import pandas as pd


def evaluate(
    data: pd.DataFrame | str | os.PathLike | ArrayLike,
    proba: ArrayLike | None = None,
    *,
    label_col: str = "label",
    prob_prefix: str = "p_",
    score_col: str | None = None,
    positive_label: str | int = "1",
    target_prefix: str | None = None,
    logits: bool = False,
    weight_col: str | None = None,
    group_by: str | Sequence[str] = (),
    id_col: str | None = None,
    unit: str = "nats",
    eps: float = DEFAULT_EPS,
    renormalize: bool = False,
    classes: Sequence[str] | str | None = None,
    delimiter: str = ",",
    decimal: str = ".",
    ladder: Ladder | Mapping[str, float] | None = None,
    bootstrap: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_rows: Callable[[int], None] | None = None,
    max_slices: int = MAX_SLICES,
    sample_weight: ArrayLike | None = None,
    groups: ArrayLike | Mapping[str, ArrayLike] | None = None,
    on_figures: Callable[[Result], None] | None = None,
    filter: str | None = None,
) -> Result:
    """Evaluate predicted class probabilities against labels or target distributions.

    Parameters
    ----------
    data : a pandas DataFrame, a dask DataFrame (each partition is reduced on
        the cluster; the figures are those of one machine), or the path of a
        CSV (optionally gzip-compressed), Parquet or Feather file; ``"-"``
        reads CSV from standard input. With ``proba``: the true labels
        ``y_true`` (an array, list or Series), or a 2-D array of target
        distributions (soft labels), one column per class.
    proba : the predicted probabilities as ``model.predict_proba(X)`` returns
        them, one column per class in the order of ``classes``; a 1-D array is
        P(``classes[1]``) of a binary model (``predict_proba(X)[:, 1]``). With
        ``logits=True``, logits (log-probabilities) in the same shape.
    label_col, prob_prefix, score_col, positive_label, target_prefix, logits,
    weight_col, group_by, id_col, unit, eps, renormalize :
        as the CLI options of the same names (see the README).
    classes : the class names, in the order of their probability columns
        (``prob_prefix`` + name; with ``prob_prefix=""`` the columns are the bare
        names, as ``model.classes_``). Other columns with the prefix are ignored.
        With ``proba``: the classes of its columns (``model.classes_``); when not
        given, a ``proba`` DataFrame's column names, else the sorted distinct
        labels (as scikit-learn's ``log_loss``), else 0 … K−1 for integer labels.
    delimiter, decimal : of a CSV file's fields (``","``, ``";"``, ``"tab"``, …) and
        numbers (``"."`` or ``","``).
    ladder : a :class:`Ladder`, or a mapping of band id → upper threshold in
        nats that replaces those thresholds of the default ladder.
    bootstrap, seed : replicates of the Poisson bootstrap behind the 95%
        intervals (a multiple of 4; 0 for none) and its seed. The same input
        and seed give the same intervals, however the rows are chunked.
    chunk_rows : rows read and reduced at a time (memory bound; figures do not
        depend on it).
    on_rows : called with the number of rows read so far after each chunk
        (the CLI shows progress with it).
    max_slices : per ``group_by`` column, how many slices (those with the most
        weight) are shown; the rest are folded into one ``(other)`` row.
    on_figures : called, once the rows are reduced, with a first Result that
        lacks what is fitted on the row sample (the score decomposition, the
        row-sample calibration errors, the temperature fit, the per-slice
        miscalibration shares), before those are computed: the command line
        starts drawing the charts that need none of them.
    filter : an lm-evaluation-harness run logged under several filters: the one
        to read (each document is logged once per filter).

    Notes
    -----
    Language-model evaluations need no option: a folder written by
    ``lm_eval --log_samples --output_path`` (or one of its results or samples
    files) is read as a harness run — its multiple-choice tasks as classifier
    rows over the options, its perplexity tasks as sequences — with the
    harness's own figures beside ours in ``result.lm``.

    Returns
    -------
    Result
        Figures in ``unit``; ``result.to_dict()``, ``to_json()``,
        ``to_markdown()`` and ``to_html()`` render it.

    Raises
    ------
    InputError
        The data cannot be evaluated (the message names column and rows).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"label": [1, 0], "p_0": [0.2, 0.9], "p_1": [0.8, 0.1]})
    >>> round(evaluate(df).overall.log_loss, 4)
    0.1643
    >>> round(evaluate([1, 0], [[0.2, 0.8], [0.9, 0.1]]).overall.log_loss, 4)
    0.1643
    """
    return _evaluate(locals(), sample_fits=True)


def gate_result(data, **options) -> Result:
    """What :func:`evaluate` returns but for the fits on the row sample (the first result
    ``on_figures`` receives): every figure a gate reads, for a ``check`` that writes nothing that
    shows the fits (they cost a small run a quarter of its time after the imports). Not for
    rendering: a result without its fits has no Markdown. Language-model inputs get the whole
    result."""
    bound = inspect.signature(evaluate).bind(data, **options)
    bound.apply_defaults()
    return _evaluate(bound.arguments, sample_fits=False)


def _evaluate(arguments: Mapping, sample_fits: bool) -> Result:
    """:func:`evaluate`'s work, given its arguments; without ``sample_fits``, the first result."""
    data, options = _in_memory(arguments["data"], arguments["proba"], arguments)
    unit, ladder, max_slices, chunk_rows, on_rows, on_figures = (
        options[k] for k in ("unit", "ladder", "max_slices", "chunk_rows", "on_rows", "on_figures"))
    spec = InputSpec.from_options(options)
    ladder = _ladder(ladder)
    boot = _bootstrap(options["bootstrap"], options["seed"])
    _check_max_slices(max_slices)
    run = _harness_run(data)
    filter_name = options["filter"]
    if filter_name is not None and run is None:
        raise UsageError(f"{opt('filter')} chooses a filter of an lm-evaluation-harness run; "
                         "the input is not one")
    with _one_blas_thread():
        if run is not None:
            from .evaluate_lm import evaluate_harness

            return evaluate_harness(os.fspath(data), run, spec, unit=unit, ladder=ladder, boot=boot,
                                    max_slices=max_slices, chunk_rows=chunk_rows, filter_name=filter_name)
        if _is_dask(data):
            from .dask_engine import reduce_dask

            stats, loaded = _slices_bounded(lambda: reduce_dask(data, spec, boot, chunk_rows),
                                            getattr(data, "name", "dask DataFrame"))
        else:
            loaded = open_input(data, spec, chunk_rows)
            if isinstance(loaded, LanguageInput):
                from .evaluate_lm import evaluate_language

                return evaluate_language(loaded, spec, unit=unit, ladder=ladder, boot=boot, max_slices=max_slices,
                                         chunk_rows=chunk_rows, on_rows=on_rows)
            stats = _slices_bounded(lambda: reduce_batches(_counted(loaded.batches(), on_rows),
                                                           len(loaded.layout.classes), spec.eps, boot),
                                    loaded.source.name)
        first = build_result(stats, loaded, ladder, unit, options=_describe(spec, loaded, unit), bootstrap=boot,
                             max_slices=max_slices, sample_fits=False)
        if on_figures is not None:
            on_figures(first)
        if not sample_fits:
            check_finite(first)  # as with_sample_fits checks the full result: a NaN is exit 3, never a pass
            return first
        return with_sample_fits(first, stats, boot)


def _in_memory(data, proba, options: Mapping) -> tuple[object, dict]:
    """Arrays from Python (``y_true, proba``; ``sample_weight=``, ``groups=``) as a table with the
    options that name its columns; a path, a table of a kind evalreport reads as it is; anything
    else a TypeError naming what is read."""
    options = dict(options)
    if proba is None and options["sample_weight"] is None and options["groups"] is None:
        return source_of(data), options
    from .load.arrays import arrays_table, with_extra_columns  # pandas: tables made of arrays

    if proba is not None:
        table, named = arrays_table(data, proba, options)
        return table, {**options, **named}
    if not is_frame(data):
        raise UsageError("sample_weight= and groups= are arrays beside arrays or a DataFrame; for a file "
                         "name its columns with weight_col= and group_by=")
    data, named = with_extra_columns(data, options)
    return data, {**options, **named}


#: What ``evaluate()`` and ``compare()`` read, in words (for the TypeError of anything else).
ACCEPTED = ("a path (str, bytes or os.PathLike; '-' for standard input), a pandas, polars or dask DataFrame, "
            "a pyarrow Table, or y_true with proba= (arrays)")


def source_of(data):
    """``data`` as the readers take it: a path as text, a table as it is; anything else — None, a
    dict, an open file, an array without proba= — is a TypeError naming the accepted kinds."""
    from .load.frame import Table, arrow_table_of

    if isinstance(data, bytes):
        return os.fsdecode(data)
    if isinstance(data, (str, os.PathLike)) or is_frame(data) or isinstance(data, Table) or _is_dask(data):
        return data
    if arrow_table_of(data) is not None:
        return data
    hint = " — arrays need proba= (evaluate(y_true, proba))" if hasattr(data, "__array__") or isinstance(
        data, (list, tuple)) else ""
    raise TypeError(f"evaluate() reads {ACCEPTED}; got {type(data).__module__}.{type(data).__qualname__}{hint}")


def _one_blas_thread():
    """Hold BLAS to one thread while figures are computed: its sums would otherwise depend on the
    number of threads (and cores) in their last bits, and the same input must give the same bytes."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _slices_bounded(reduce, name: str):
    """Run a reduction; a --group-by column with too many distinct values is an input error."""
    try:
        return reduce()
    except TooManySlices as err:
        raise InputError(name, f"more than {err.limit:,} distinct values", column=err.column,
                         hint=f"{opt('group_by')} is for slices such as a fold, a country or a device, not for ids") from None


def _check_max_slices(max_slices: int) -> None:
    if not (isinstance(max_slices, int) and 1 <= max_slices <= MAX_SLICES_LIMIT):
        raise UsageError(f"{opt('max_slices')} must be a whole number from 1 to {MAX_SLICES_LIMIT:,}, got {max_slices}")


def _harness_run(data):
    """The files of an lm-evaluation-harness run when ``data`` names one (a folder, a results or
    samples file, recognised by content), else None."""
    if not isinstance(data, (str, os.PathLike)) or os.fspath(data) in ("-", ""):
        return None
    from .load.harness import harness_files

    return harness_files(os.fspath(data))


def _language_kind(source, spec: InputSpec) -> str | None:
    """A language model's output in a table — "sequences", "tokens" or "choices" — told by the
    header of a file or a DataFrame's columns (a stream is not read ahead: None)."""
    from .load.sequences import lm_kind

    if is_frame(source):
        return lm_kind([str(c) for c in source.columns], spec)
    if not isinstance(source, (str, os.PathLike)) or os.fspath(source) in ("-", "") or not os.path.isfile(source):
        return None
    from .load.source import _open_reader

    try:
        reader = _open_reader(source, spec)
    except Exception:  # noqa: BLE001 — the reader names the problem when it is read for real
        return None
    try:
        return lm_kind(reader.columns, spec)
    finally:
        reader.close()


def _is_dask(data) -> bool:
    """A dask DataFrame, or the parts of a folder read for --engine dask (dask_engine.DaskFiles)."""
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr") or type(data).__name__ == "DaskFiles"


def _counted(batches, on_rows):
    rows = 0
    for batch in batches:
        yield batch
        rows += len(batch)
        if on_rows is not None:
            on_rows(rows)


def _ladder(ladder) -> Ladder:
    if ladder is None:
        return DEFAULT_LADDER
    if isinstance(ladder, Ladder):
        return ladder
    return DEFAULT_LADDER.with_thresholds(dict(ladder), "thresholds passed to evaluate()")


def compare(
    baseline: pd.DataFrame | str | os.PathLike,
    candidate: pd.DataFrame | str | os.PathLike,
    *,
    label_col: str = "label",
    prob_prefix: str = "p_",
    score_col: str | None = None,
    positive_label: str | int = "1",
    target_prefix: str | None = None,
    logits: bool = False,
    weight_col: str | None = None,
    group_by: str | Sequence[str] = (),
    id_col: str | None = None,
    unit: str = "nats",
    eps: float = DEFAULT_EPS,
    renormalize: bool = False,
    classes: Sequence[str] | str | None = None,
    delimiter: str = ",",
    decimal: str = ".",
    ladder: Ladder | Mapping[str, float] | None = None,
    bootstrap: int = BOOTSTRAP_REPLICATES,
    seed: int = BOOTSTRAP_SEED,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_slices: int = MAX_SLICES,
    baseline_logits: bool | None = None,
    baseline_prob_prefix: str | None = None,
    baseline_score_col: str | None = None,
    baseline_positive_label: str | None = None,
    baseline_classes: Sequence[str] | str | None = None,
    filter: str | None = None,
    common_rows: bool = False,
) -> Comparison:
    """Two models' predictions for the same rows: both evaluations and their paired differences.

    Rows are matched on the id column when both inputs have one (``id_col``,
    default ``id``), else by position; the labels must agree row by row. Both
    sides are bootstrapped with the same replicate weights per matched row, so
    the intervals of the differences are paired. ``common_rows=True`` compares
    the rows whose id both inputs hold (ids required) and says how many each
    side lost; without it, different ids are an error. Options as :func:`evaluate`;
    they read both files, except where a ``baseline_…`` option reads the
    baseline its own way (a baseline of probabilities against a candidate of
    logits: ``logits=True, baseline_logits=False``).
    """
    baseline, candidate = (_compared(x, locals()) for x in (baseline, candidate))
    spec = InputSpec.from_options(locals())
    if _is_dask(baseline) or _is_dask(candidate):
        return _compare_dask(baseline, candidate, spec, locals())
    runs = (_harness_run(baseline), _harness_run(candidate))
    if filter is not None and runs == (None, None):
        raise UsageError(f"{opt('filter')} chooses a filter of an lm-evaluation-harness run; the inputs are not runs")
    kinds = (_language_kind(baseline, spec), _language_kind(candidate, spec))
    if not isinstance(common_rows, bool):
        raise UsageError(f"{opt('common_rows')} is True or False, got {common_rows!r}")
    if runs != (None, None) or kinds != (None, None):
        from .evaluate_lm import compare_language

        if common_rows:
            raise UsageError(f"{opt('common_rows', flag=True)} matches the rows of two predictions tables; "
                             "language-model evaluations are paired by their documents and sequences")
        check_two_sources(baseline, candidate)
        with _one_blas_thread():
            return compare_language(baseline, candidate, runs, kinds, spec, unit=unit, ladder=_ladder(ladder),
                                    boot=_bootstrap(bootstrap, seed), max_slices=max_slices, chunk_rows=chunk_rows,
                                    filter_name=filter, pair=_compare)
    base_spec = _baseline_spec(spec, logits=baseline_logits, prob_prefix=baseline_prob_prefix,
                               score_col=baseline_score_col, positive_label=baseline_positive_label,
                               classes=baseline_classes)
    ladder = _ladder(ladder)
    boot = _bootstrap(bootstrap, seed)
    _check_max_slices(max_slices)
    with _one_blas_thread():
        return _compare(baseline, candidate, spec, base_spec, ladder, boot, unit, chunk_rows, max_slices,
                        common_rows)


def _compared(side, options: Mapping):
    """One side of a comparison: a source as evaluate() reads it, or ``(y_true, proba)`` arrays,
    which become a table (rows matched by position, as the arrays are)."""
    if isinstance(side, tuple) and len(side) == 2 and not isinstance(side[0], (str, bytes, os.PathLike)):
        from .load.arrays import arrays_table

        table, named = arrays_table(side[0], side[1], {**options, "sample_weight": None, "groups": None})
        if named.get("prob_prefix") not in (None, "p_") or named.get("label_col") not in (None, "label"):
            raise UsageError("compare((y_true, proba), …) takes labels and class probabilities (a 2-D proba)")
        return table
    try:
        return source_of(side)
    except TypeError as err:
        raise TypeError(str(err).replace("evaluate() reads", "compare() reads, for each side,").replace(
            " or y_true with proba= (arrays)", " or a (y_true, proba) pair of arrays")) from None


def _baseline_spec(spec: InputSpec, **overrides) -> InputSpec:
    """The baseline's reading options: the shared ones, but for those given for it alone."""
    from dataclasses import replace

    given = {k: v for k, v in overrides.items() if v is not None}
    return replace(spec, **given) if given else spec


def _compare(baseline, candidate, spec: InputSpec, base_spec: InputSpec, ladder: Ladder, boot, unit: str,
             chunk_rows: int, max_slices: int, common_rows: bool = False) -> Comparison:
    from dataclasses import replace

    check_two_sources(baseline, candidate)
    lb, lc, by_id = open_pair(baseline, candidate, spec, base_spec, chunk_rows)
    if common_rows and by_id is None:
        lb.close()
        lc.close()
        raise UsageError(f"{opt('common_rows', flag=True)} matches rows by their ids: both inputs need the id "
                         f"column ({opt('id_col')}, default 'id')")
    base_spec, spec = lb.spec, lc.spec
    k = len(lb.layout.classes)

    def reduce(pair: tuple[Batch, Batch]) -> tuple[Stats, Stats, tuple]:
        return reduce_pair(*pair, k, spec.eps, boot)

    sb, sc, rising = Stats(k), Stats(k), ()

    def pairs(paired: PairedRows):
        for b, c, r in in_order(reduce, paired.pairs()):
            sb.__iadd__(b)
            sc.__iadd__(c)
            yield r

    with PairedRows(lb, lc, by_id, common_rows) as paired:
        for r in _slices_bounded(lambda: list(pairs(paired)), lc.source.name):
            rising = merge_rising(rising, r)
    rb = build_result(sb, lb, ladder, unit, options=_describe(base_spec, lb, unit), bootstrap=boot, max_slices=max_slices)
    rc = build_result(sc, lc, ladder, unit, options=_describe(spec, lc, unit), bootstrap=boot, max_slices=max_slices)
    return replace(build_comparison(rb, rc, sb, sc, rising, paired.matched_by), dropped=paired.dropped)


def _compare_dask(baseline, candidate, spec: InputSpec, options: Mapping) -> Comparison:
    """Both sides on a Dask cluster (dask DataFrames, or folders read by dask_engine.read_files)."""
    from dataclasses import replace

    from .dask_pair import compare_dask

    if not (_is_dask(baseline) and _is_dask(candidate)):
        raise UsageError("compare() on a Dask cluster takes two dask DataFrames (both sides on the cluster)")
    if options["filter"] is not None:
        raise UsageError(f"{opt('filter')} chooses a filter of an lm-evaluation-harness run; the inputs are not runs")
    if not isinstance(options["common_rows"], bool):
        raise UsageError(f"{opt('common_rows')} is True or False, got {options['common_rows']!r}")
    base_spec = _baseline_spec(spec, logits=options["baseline_logits"], prob_prefix=options["baseline_prob_prefix"],
                               score_col=options["baseline_score_col"],
                               positive_label=options["baseline_positive_label"],
                               classes=options["baseline_classes"])
    ladder, unit, max_slices = _ladder(options["ladder"]), options["unit"], options["max_slices"]
    boot = _bootstrap(options["bootstrap"], options["seed"])
    _check_max_slices(max_slices)
    with _one_blas_thread():
        paired = _slices_bounded(lambda: compare_dask(baseline, candidate, spec, base_spec, boot,
                                                      options["chunk_rows"], options["common_rows"]),
                                 getattr(candidate, "name", "dask DataFrame"))
        lb, lc = paired.base, paired.cand
        rb = build_result(paired.base_stats, lb, ladder, unit, options=_describe(lb.spec, lb, unit), bootstrap=boot,
                          max_slices=max_slices)
        rc = build_result(paired.cand_stats, lc, ladder, unit, options=_describe(lc.spec, lc, unit), bootstrap=boot,
                          max_slices=max_slices)
        comparison = build_comparison(rb, rc, paired.base_stats, paired.cand_stats, paired.rising, paired.matched_by)
    return replace(comparison, dropped=paired.dropped)


def _bootstrap(replicates: int, seed: int) -> Bootstrap | None:
    if not (isinstance(seed, int) and 0 <= seed < 2**64):
        raise UsageError(f"{opt('seed')} must be a whole number from 0 to 2**64 - 1, got {seed}")
    if replicates == 0:
        return None
    if replicates < 0 or replicates % 4 or replicates > MAX_REPLICATES:
        raise UsageError(f"{opt('bootstrap')} must be 0 or a multiple of 4 up to {MAX_REPLICATES:,}, got {replicates}")
    return Bootstrap(replicates, seed)


def _describe(spec: InputSpec, loaded: LoadedInput, unit: str) -> dict[str, str]:
    """The options in force, in words, for the report's run metadata."""
    lay = loaded.layout
    out = {"format": loaded.source.format, "unit": unit, "eps": f"{spec.eps:.3g}"}
    if lay.mode == "score":
        out["score column"] = spec.score_col
        out["positive label"] = spec.positive_label
    else:
        out["probability prefix"] = spec.prob_prefix
    if spec.classes is not None:
        out["classes"] = ", ".join(spec.classes)
    if spec.delimiter != "," and loaded.source.format.startswith("csv"):
        out["delimiter"] = "tab" if spec.delimiter == "\t" else spec.delimiter
    if spec.decimal != "." and loaded.source.format.startswith("csv"):
        out["decimal"] = spec.decimal
    if lay.mode == "soft":
        out["target prefix"] = spec.target_prefix
    else:
        out["label column"] = spec.label_col
    if spec.logits:
        out["logits"] = "yes (softmax)"
    if lay.weight_col:
        out["weight column"] = lay.weight_col
    if lay.group_cols:
        out["group by"] = ", ".join(lay.group_cols)
    if lay.id_col:
        out["id column"] = lay.id_col
    if spec.renormalize:
        out["renormalize"] = "yes"
    return out
