"""Language-model evaluations through the one pipeline: a harness run or a file of sequences →
load (documents, sequences) → compute (additive sums per sequence and task) → interpret (the LM
section) → the one :class:`~evalreport.result.Result` every renderer reads.

A harness run's multiple-choice documents are classifier rows — the softmax of the options'
log-likelihoods against the gold option — and go through the classifier pipeline whole
(calibration, decomposition, per gold option, slices: the task first); its perplexity tasks and
files of sequences go through :mod:`evalreport.compute.lm`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .compute import Bootstrap, reduce_batches, replicate_weights
from .compute.lm import SequenceStats, choice_stats, reduce_sequences
from .errors import UsageError, opt
from .interpret import build_result
from .interpret_lm import (LN2, NO_BAND, choice_task, lm_only_result, relations_of, rolling_task, sequence_figures,
                           sequence_section, worst_rows)
from .ladder import UNITS, Ladder
from .load import InputSpec, LoadedInput, Table
from .load.harness import (MULTIPLE_CHOICE, TASK_COLUMN, HarnessRun, choice_arrays, choices_frame, document_key,
                           read_harness, rolling_documents)
from .load.validate import key_hashes
from .result import LMSection, Result, SourceInfo

#: Options that read a predictions table's columns, and so mean nothing for an lm-eval run.
_TABLE_OPTIONS = {"label_col": "label", "prob_prefix": "p_", "score_col": None, "target_prefix": None,
                  "logits": False, "weight_col": None, "id_col": None, "renormalize": False, "classes": None}


def refuse_table_options(spec: InputSpec, name: str, what: str, allowed: tuple[str, ...] = ()) -> None:
    """An option that names a predictions table's columns, given for an input of another shape."""
    for key, default in _TABLE_OPTIONS.items():
        if key not in allowed and getattr(spec, key) != default:
            flag = opt(key, flag=isinstance(default, bool))
            raise UsageError(f"{flag.rstrip('=')} reads a predictions table's columns; {name} is {what}, "
                             "which evalreport reads by its own shape")


def codes_of(values: list) -> tuple[np.ndarray, list]:
    """Values (text, None for missing) → (codes, distinct values in the order first seen)."""
    index: dict = {}
    codes = np.fromiter((index.setdefault(v, len(index)) for v in values), dtype=np.intp, count=len(values))
    return codes, list(index)


def evaluate_harness(path: str, files, spec: InputSpec, *, unit: str, ladder: Ladder, boot: Bootstrap | None,
                     max_slices: int, chunk_rows: int, filter_name: str | None, on_figures=None) -> Result:
    """An lm-evaluation-harness run (see :mod:`evalreport.load.harness`) → the one result."""
    from .interpret import with_sample_fits

    run = read_harness(path, files, filter_name)
    refuse_table_options(spec, run.name, "an lm-eval run")
    group_by = tuple(g for g in spec.group_by if g != TASK_COLUMN)
    source = SourceInfo(run.name, run.path, run.sha256, "lm-eval")
    options = _run_options(run, unit, group_by, filter_name)
    classifier = None
    frame = choices_frame(run, group_by)
    if frame is not None:
        mc_spec = InputSpec(label_col="label", prob_prefix="lp_", logits=True, group_by=(TASK_COLUMN, *group_by),
                            id_col="id", eps=spec.eps, keyed=True)
        loaded = LoadedInput(Table(frame, source), mc_spec, chunk_rows=chunk_rows)
        stats = reduce_batches(loaded.batches(), len(loaded.layout.classes), spec.eps, boot)
        first = build_result(stats, loaded, ladder, unit, options=options, bootstrap=boot, max_slices=max_slices,
                             sample_fits=False)
        classifier = with_sample_fits(first, stats, boot)
    lm, warnings, documents = harness_section(run, group_by, spec.eps, boot, unit, ladder, max_slices)
    if classifier is not None:
        return replace(classifier, lm=lm, warnings=classifier.warnings + tuple(warnings),
                       options={**classifier.options, "format": "lm-eval"})
    return lm_only_result(source, lm, unit, ladder, options, boot, warnings, documents)


def harness_section(run: HarnessRun, group_by: tuple[str, ...], eps: float, boot, unit: str, ladder: Ladder,
                    max_slices: int) -> tuple[LMSection, list[str], int]:
    """The LM section of a harness run: each task's figures (the harness's and ours), and the
    perplexity tasks' documents as sequences (overall, per slice, the worst)."""
    v = replicate_weights(boot) if boot is not None else None
    warnings = list(run.skipped)
    seq = sequence_stats(rolling_documents(run, group_by))
    by_task = {}
    if seq is not None:
        sl = seq.groups[TASK_COLUMN]
        by_task = {value: i for i, value in enumerate(sl.values)}
    tasks = []
    for t in run.tasks:
        if t.kind == MULTIPLE_CHOICE:
            lls, gold, lengths = choice_arrays(t)
            keys = key_hashes([document_key(t.task, d) for d in t.doc_ids])
            tasks.append(choice_task(run, t, choice_stats(lls, gold, lengths, keys, eps), v, unit, ladder))
            if lengths is None:
                warnings.append(f"task {t.task!r}: the options are in the contexts (multiple inputs), so their lengths "
                                "are not logged and acc_norm cannot be computed")
        else:
            i = by_task[t.task]
            sl = seq.groups[TASK_COLUMN]
            tasks.append(rolling_task(run, t, sl.sums[i], None if sl.blocks is None else sl.blocks[i], v, unit))
    lm = LMSection(source="lm-eval", tasks=tuple(tasks), model=run.model,
                   filter=", ".join(sorted({t.filter for t in run.tasks})), skipped=tuple(run.skipped),
                   note=NO_BAND, relations=relations_of(tasks))
    if seq is not None:
        section = sequence_section(seq, "lm-eval", boot, unit, max_slices, warnings)
        lm = replace(lm, overall=section.overall, groups=section.groups, worst=section.worst,
                     worst_per=section.worst_per)
    return lm, warnings, sum(len(t) for t in run.tasks)


def sequence_stats(docs: dict | None) -> SequenceStats | None:
    """Rolling documents (see load.harness.rolling_documents) → their sums, in one batch."""
    if docs is None:
        return None
    groups = {col: codes_of(values) for col, values in docs["groups"].items()}
    return reduce_sequences(key_hashes(docs["ids"]), docs["nll"], None, docs["bytes"], docs["words"], groups,
                            docs["ids"], docs["rows"])


def evaluate_sequences(inp, spec: InputSpec, *, unit: str, ladder: Ladder, boot: Bootstrap | None, max_slices: int,
                       on_rows=None) -> Result:
    """A file of sequences or tokens (see :mod:`evalreport.load.sequences`) → the one result: its
    figures in the LM section, no classes and no band."""
    level = inp.layout.level
    refuse_table_options(spec, inp.name, "a file of " + ("sequences" if level == "sequences" else "tokens"),
                         allowed=("id_col",))
    stats = SequenceStats()
    for batch in inp.batches():
        stats += reduce_sequences(batch.keys, batch.nll, batch.tokens, batch.bytes, None, batch.groups, batch.ids,
                                  batch.rows)
        if on_rows is not None:
            on_rows(inp.rows)
    warnings: list[str] = []
    lm = sequence_section(stats, level, boot, unit, max_slices, warnings)
    options = {"format": inp.source.format, "unit": unit,
               "rows": "one per sequence" if level == "sequences" else "one per token"}
    if inp.layout.id_col:
        options["id column"] = inp.layout.id_col
    if inp.layout.group_cols:
        options["group by"] = ", ".join(inp.layout.group_cols)
    return lm_only_result(inp.source, lm, unit, ladder, options, boot, warnings, inp.rows)


def evaluate_language(inp, spec: InputSpec, *, unit: str, ladder: Ladder, boot: Bootstrap | None, max_slices: int,
                      chunk_rows: int, on_rows=None) -> Result:
    """A language model's output in a table: sequences or tokens (the LM section), or multiple-choice
    answers (a classifier over the options)."""
    if inp.kind == "choices":
        return evaluate_choices(inp.reader, spec, unit=unit, ladder=ladder, boot=boot, max_slices=max_slices,
                                chunk_rows=chunk_rows)
    from .load.sequences import SequenceInput

    return evaluate_sequences(SequenceInput(inp.reader, spec, inp.kind, chunk_rows), spec, unit=unit, ladder=ladder,
                              boot=boot, max_slices=max_slices, on_rows=on_rows)


def evaluate_choices(reader, spec: InputSpec, *, unit: str, ladder: Ladder, boot: Bootstrap | None, max_slices: int,
                     chunk_rows: int) -> Result:
    """Multiple-choice answers (one row per option, or JSON objects) → a classifier over the options."""
    from .interpret import with_sample_fits
    from .load.choices import choice_spec, read_choices

    refuse_table_options(spec, reader.info.name, "multiple-choice answers", allowed=("id_col", "label_col"))
    frame, how = read_choices(reader, spec)
    mc_spec = choice_spec(spec)
    loaded = LoadedInput(Table(frame, reader.info), mc_spec, chunk_rows=chunk_rows)
    stats = reduce_batches(loaded.batches(), len(loaded.layout.classes), spec.eps, boot)
    options = {"format": reader.info.format, "unit": unit, "multiple choice": how,
               "probabilities": "softmax of the options' log-probabilities", "label column": spec.label_col}
    if spec.group_by:
        options["group by"] = ", ".join(spec.group_by)
    first = build_result(stats, loaded, ladder, unit, options=options, bootstrap=boot, max_slices=max_slices,
                         sample_fits=False)
    return with_sample_fits(first, stats, boot)


def _run_options(run: HarnessRun, unit: str, group_by, filter_name) -> dict[str, str]:
    out = {"format": "lm-eval", "unit": unit, "tasks": ", ".join(t.task for t in run.tasks)}
    if run.model:
        out["model"] = run.model
    if run.date:
        out["run"] = run.date
    if filter_name:
        out["filter"] = filter_name
    if group_by:
        out["group by"] = ", ".join(group_by)
    return out


__all__ = ["evaluate_harness", "harness_section", "refuse_table_options", "sequence_figures", "worst_rows"]


# --------------------------------------------------------------------------- two evaluations


def compare_language(baseline, candidate, runs, kinds, spec: InputSpec, *, unit: str, ladder: Ladder,
                     boot: Bootstrap | None, max_slices: int, chunk_rows: int, filter_name: str | None, pair):
    """Two language-model evaluations of the same documents or sequences → one Comparison, paired
    by key. ``runs``: each side's harness files (or None); ``kinds``: each side's kind of table;
    ``pair``: the classifier comparison of two tables (api._compare), for multiple-choice rows."""
    names = [_display(baseline), _display(candidate)]
    what = [("an lm-eval run" if r is not None else {"sequences": "a file of sequences", "tokens": "a file of tokens",
                                                    "choices": "multiple-choice answers", None: "a predictions file"}[k])
            for r, k in zip(runs, kinds)]
    same = (runs[0] is not None and runs[1] is not None) or (
        runs == (None, None) and {kinds[0], kinds[1]} <= {"sequences", "tokens"}) or kinds == ("choices", "choices")
    if not same:
        raise UsageError(f"compare needs two evaluations of one kind: the baseline {names[0]} is {what[0]}, the "
                         f"candidate {names[1]} {what[1]}")
    if runs[0] is not None:
        return _compare_runs(baseline, candidate, runs, spec, unit=unit, ladder=ladder, boot=boot,
                             max_slices=max_slices, chunk_rows=chunk_rows, filter_name=filter_name, pair=pair)
    if kinds[0] == "choices":
        return _compare_choices(baseline, candidate, spec, unit, ladder, boot, chunk_rows, max_slices, pair)
    return _compare_sequences(baseline, candidate, spec, unit, ladder, boot, max_slices, chunk_rows)


def _display(source) -> str:
    from .errors import display_path

    return display_path(str(source)) if not hasattr(source, "columns") else "DataFrame"


def _compare_choices(baseline, candidate, spec, unit, ladder, boot, chunk_rows, max_slices, pair):
    from .load import open_input
    from .load.choices import choice_spec, read_choices

    tables = []
    for source in (baseline, candidate):
        inp = open_input(source, spec, chunk_rows)
        refuse_table_options(spec, inp.reader.info.name, "multiple-choice answers", allowed=("id_col", "label_col"))
        frame, _ = read_choices(inp.reader, spec)
        tables.append(Table(frame, inp.reader.info))
    mc = choice_spec(spec)
    return pair(tables[0], tables[1], mc, mc, ladder, boot, unit, chunk_rows, max_slices)


def _check_same_documents(a: HarnessRun, b: HarnessRun) -> None:
    """Two runs pair by (task, doc_id): the same tasks, the same documents (by doc_hash where both
    logged one)."""
    from .errors import InputError, quote

    ta, tb = {t.task: t for t in a.tasks}, {t.task: t for t in b.tasks}
    if set(ta) != set(tb):
        only_a, only_b = sorted(set(ta) - set(tb)), sorted(set(tb) - set(ta))
        raise InputError(b.name, "its tasks differ from the baseline's: "
                         + "; ".join(part for part in (
                             f"only the baseline has {', '.join(map(quote, only_a))}" if only_a else "",
                             f"only the candidate has {', '.join(map(quote, only_b))}" if only_b else "") if part),
                         hint="compare runs of the same tasks (lm_eval --tasks …)")
    for task, x in ta.items():
        y = tb[task]
        if x.kind != y.kind:
            raise InputError(b.name, f"task {quote(task)} is {y.kind} here and {x.kind} in the baseline")
        hx, hy = dict(zip(x.doc_ids, x.doc_hashes)), dict(zip(y.doc_ids, y.doc_hashes))
        if set(hx) != set(hy):
            missing = sorted(set(hx) ^ set(hy), key=str)[0]
            raise InputError(b.name, f"task {quote(task)}: doc_id {quote(missing)} is in one run only "
                             f"({len(hx):,} documents in the baseline, {len(hy):,} here)",
                             hint="compare runs of the same documents (the same --limit, the same data)")
        for doc, h in hx.items():
            if h and hy[doc] and h != hy[doc]:
                raise InputError(b.name, f"task {quote(task)}: doc_id {quote(doc)} is another document than the "
                                 "baseline's (its doc_hash differs)", hint="the two runs scored different data")


def _compare_runs(baseline, candidate, runs, spec, *, unit, ladder, boot, max_slices, chunk_rows, filter_name, pair):
    import os

    from .compute.lm import choice_stats
    from .interpret_lm import choice_differences, sequence_differences
    from .load.harness import ROLLING
    from .result import Comparison, Difference, LMComparison, TaskDifference

    a, b = (read_harness(os.fspath(s), files, filter_name) for s, files in zip((baseline, candidate), runs))
    for run in (a, b):
        refuse_table_options(spec, run.name, "an lm-eval run")
    _check_same_documents(a, b)
    group_by = tuple(g for g in spec.group_by if g != TASK_COLUMN)
    v = replicate_weights(boot) if boot is not None else None
    sections = [harness_section(run, group_by, spec.eps, boot, unit, ladder, max_slices) for run in (a, b)]
    seqs = [sequence_stats(rolling_documents(run, group_by)) for run in (a, b)]
    tb = {t.task: t for t in b.tasks}
    diffs = []
    for x in a.tasks:
        y = tb[x.task]
        if x.kind == MULTIPLE_CHOICE:
            order = {d: i for i, d in enumerate(y.doc_ids)}
            stats = []
            for t, idx in ((x, None), (y, [order[d] for d in x.doc_ids])):
                lls, gold, lengths = choice_arrays(t)
                if idx is not None:
                    lls, gold = lls[idx], gold[idx]
                    lengths = None if lengths is None else lengths[idx]
                keys = key_hashes([document_key(x.task, d) for d in x.doc_ids])
                stats.append(choice_stats(lls, gold, lengths, keys, spec.eps))
            found = choice_differences(stats[0], stats[1], v, unit)
        else:
            found = {}
            sums, blocks = [], []
            for s in seqs:
                sl = s.groups[TASK_COLUMN]
                i = sl.values.index(x.task)
                sums.append(sl.sums[i])
                blocks.append(None if sl.blocks is None else sl.blocks[i])
            both = sequence_differences(sums[0], blocks[0], sums[1], blocks[1], v, unit,
                                        {"tokens": False, "bytes": True, "words": True})
            found["bits_per_byte"] = both["bits_per_byte"]
            per_byte = both["bits_per_byte"]
            found["cross_entropy"] = _rescaled(per_byte, LN2 * UNITS[unit], "cross_entropy")
        diffs.append(TaskDifference(x.task, x.filter, x.kind, len(x), found))
    overall = {}
    if seqs[0] is not None:
        overall = sequence_differences(seqs[0].sums, seqs[0].blocks, seqs[1].sums, seqs[1].blocks, v, unit,
                                       {"tokens": False, "bytes": True, "words": True})
    lm = LMComparison(tasks=tuple(diffs), overall=overall, matched_by="task and doc_id")
    frames = [choices_frame(run, group_by) for run in (a, b)]
    if frames[0] is not None:
        mc = InputSpec(label_col="label", prob_prefix="lp_", logits=True, group_by=(TASK_COLUMN, *group_by),
                       id_col="id", eps=spec.eps, keyed=True)
        infos = [SourceInfo(run.name, run.path, run.sha256, "lm-eval") for run in (a, b)]
        c = pair(Table(frames[0], infos[0]), Table(frames[1], infos[1]), mc, mc, ladder, boot, unit, chunk_rows,
                 max_slices)
        sides = [replace(r, lm=s[0], warnings=r.warnings + tuple(s[1])) for r, s in zip((c.baseline, c.candidate),
                                                                                       sections)]
        return replace(c, baseline=sides[0], candidate=sides[1], lm=lm, matched_by="task and doc_id")
    results = [lm_only_result(SourceInfo(run.name, run.path, run.sha256, "lm-eval"), s[0], unit, ladder,
                              _run_options(run, unit, group_by, filter_name), boot, s[1], s[2])
               for run, s in zip((a, b), sections)]
    score = overall["bits_per_byte"]
    none = Difference("", None, None, None, None)
    return Comparison(results[0], results[1], "task and doc_id", score, none, none, (), {}, (), lm=lm)


def _rescaled(d, factor: float, name: str):
    from .result import Difference

    def s(x):
        return None if x is None else x * factor
    return Difference(name, s(d.baseline), s(d.candidate), s(d.difference),
                      None if d.ci95 is None else (d.ci95[0] * factor, d.ci95[1] * factor), d.rows)


def _compare_sequences(baseline, candidate, spec, unit, ladder, boot, max_slices, chunk_rows):
    from .errors import InputError
    from .interpret_lm import sequence_differences
    from .load import open_input
    from .load.sequences import SequenceInput
    from .result import Comparison, Difference, LMComparison

    inputs, stats, keys = [], [], []
    for source in (baseline, candidate):
        opened = open_input(source, spec, chunk_rows)
        inp = SequenceInput(opened.reader, spec, opened.kind, chunk_rows)
        refuse_table_options(spec, inp.name, "a file of sequences", allowed=("id_col",))
        s = SequenceStats()
        for batch in inp.batches():
            s += reduce_sequences(batch.keys, batch.nll, batch.tokens, batch.bytes, None, batch.groups, batch.ids,
                                  batch.rows)
        inputs.append(inp)
        stats.append(s)
        keys.append(np.sort(np.concatenate(inp._keys)))
    if len(keys[0]) != len(keys[1]) or not np.array_equal(keys[0], keys[1]):
        raise InputError(inputs[1].name, f"its sequences differ from the baseline's ({len(keys[1]):,} here, "
                         f"{len(keys[0]):,} there, matched by id)", hint="compare two models' log-probabilities of "
                         "the same sequences")
    v = replicate_weights(boot) if boot is not None else None
    has = {k: stats[0].has[k] and stats[1].has[k] for k in stats[0].has}
    overall = sequence_differences(stats[0].sums, stats[0].blocks, stats[1].sums, stats[1].blocks, v, unit, has)
    key = "cross_entropy" if has["tokens"] else "bits_per_byte"
    groups = {}
    for col, sa in stats[0].groups.items():
        sb = stats[1].groups[col]
        out = []
        for i, value in enumerate(sa.values):
            if value not in sb.values:
                continue
            j = sb.values.index(value)
            d = sequence_differences(sa.sums[i], None if sa.blocks is None else sa.blocks[i], sb.sums[j],
                                     None if sb.blocks is None else sb.blocks[j], v, unit, has)[key]
            out.append(replace(d, name=value if value is not None else "(missing)",
                               kind="value" if value is not None else "missing"))
        groups[col] = out
    lm = LMComparison(overall=overall, groups=groups, matched_by="id")
    results = []
    for inp, s in zip(inputs, stats):
        warnings: list[str] = []
        section = sequence_section(s, inp.layout.level, boot, unit, max_slices, warnings)
        results.append(lm_only_result(inp.source, section, unit, ladder, {"format": inp.source.format, "unit": unit},
                                      boot, warnings, inp.rows))
    none = Difference("", None, None, None, None)
    return Comparison(results[0], results[1], "id", overall[key], none, none, (), {}, (), lm=lm)
