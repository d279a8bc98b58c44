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
from .interpret_lm import choice_task, lm_only_result, rolling_task, sequence_figures, sequence_section, worst_rows
from .ladder import Ladder
from .load import InputSpec, LoadedInput, Table
from .load.harness import (MULTIPLE_CHOICE, TASK_COLUMN, HarnessRun, choice_arrays, choices_frame, document_key,
                           read_harness, rolling_documents)
from .load.validate import key_hashes
from .result import LMSection, Result, SourceInfo

#: Options that read a predictions table's columns, and so mean nothing for an lm-eval run.
_TABLE_OPTIONS = {"label_col": "label", "prob_prefix": "p_", "score_col": None, "target_prefix": None,
                  "logits": False, "weight_col": None, "id_col": None, "renormalize": False, "classes": None}


def refuse_table_options(spec: InputSpec, name: str, what: str) -> None:
    """An option that names a predictions table's columns, given for an input of another shape."""
    for key, default in _TABLE_OPTIONS.items():
        if getattr(spec, key) != default:
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
                   filter=", ".join(sorted({t.filter for t in run.tasks})), skipped=tuple(run.skipped))
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
