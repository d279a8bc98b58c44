"""Interpret a language-model evaluation: sequence figures with their intervals, a harness run's
tasks (the harness's figures the harness's way, ours beside them), the LM section of the result.

Per-token cross-entropy over a vocabulary has no absolute ladder — what is good depends on the
tokenizer, the language and the text — so it gets no band; the ladder grades a distribution over
the options of a multiple-choice question. Intervals resample sequences (documents), never tokens.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from .compute import intervals, replicate_weights
from .compute.lm import SEQ_FIELDS, ChoiceStats, SequenceStats
from .ladder import UNITS, Ladder
from .result import (
    LMSection,
    Result,
    SequenceFigures,
    SequenceSlice,
    SourceInfo,
    TaskFigures,
    WorstSequenceRow,
    shown_id,
)

LN2 = math.log(2)
#: Why per-token cross-entropy has no band, in one sentence (the report and the JSON's notes say it).
NO_BAND = ("Per-token cross-entropy has no band: how low it can go depends on the tokenizer, the language and the "
           "text, so it is read against a reference run of the same data (evalreport compare), not a ladder.")
#: How each of the harness's figures relates to ours, for the report.
RELATIONS = {
    "acc": "the share of documents whose most likely option is the gold one — our accuracy over options, the same "
           "number",
    "acc_norm": "the same, each option's log-likelihood divided by its length in characters first (the harness's "
                "length normalisation); no probability, so no cross-entropy of its own",
    "brier_score": "Σ over options of (probability − 1 if gold else 0)², averaged: on [0, 2]; our Brier score is the "
                   "same for more than two options and half of it for two",
    "word_perplexity": "exp(Σ negative log-likelihood / Σ words) over the documents: a ratio of sums, not a mean of "
                       "per-document perplexities",
    "byte_perplexity": "exp(Σ negative log-likelihood / Σ UTF-8 bytes): exp of our cross-entropy per byte",
    "bits_per_byte": "Σ negative log-likelihood / (Σ bytes · ln 2): our cross-entropy per byte, in bits",
}


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def _scaled(ci, factor: float):
    return None if ci is None else (ci[0] * factor, ci[1] * factor)


def _exp(ci):
    return None if ci is None else (_perplexity(ci[0]), _perplexity(ci[1]))


def _perplexity(loss: float) -> float:
    """exp of a mean loss (nats), ∞ beyond the largest float (a few bytes for many unlikely tokens
    can pass it per byte; JSON writes null, the page ∞)."""
    return math.exp(loss) if loss <= _LN_MAX else math.inf


_LN_MAX = math.log(sys.float_info.max)


def sequence_figures(sums: np.ndarray, blocks: np.ndarray | None, v: np.ndarray | None, unit: str,
                     has: dict) -> SequenceFigures:
    """The figures of one set of sequences from its sums (SEQ_FIELDS) and block sums (nll,
    tokens, bytes, words per block): ratios of sums, with percentile intervals over replicates
    that reweight whole sequences."""
    f = UNITS[unit]
    n, nll, tokens, bytes_, words = (float(x) for x in sums)

    def ci(den: int):
        if v is None or blocks is None:
            return None
        return intervals(blocks[0], blocks[den], v)[0]

    per_token = _ratio(nll, tokens) if has["tokens"] else None
    per_byte = _ratio(nll, bytes_) if has["bytes"] else None
    per_word = _ratio(nll, words) if has["words"] else None
    token_ci = ci(1) if per_token is not None else None
    byte_ci = ci(2) if per_byte is not None else None
    return SequenceFigures(
        sequences=int(n),
        tokens=tokens if has["tokens"] else None,
        bytes=bytes_ if has["bytes"] else None,
        words=words if has["words"] else None,
        nll=nll * f,
        cross_entropy=None if per_token is None else per_token * f,
        ci95=_scaled(token_ci, f),
        perplexity=None if per_token is None else _perplexity(per_token),
        perplexity_ci95=_exp(token_ci),
        bits_per_token=None if per_token is None else per_token / LN2,
        bits_per_byte=None if per_byte is None else per_byte / LN2,
        bits_per_byte_ci95=_scaled(byte_ci, 1 / LN2),
        word_perplexity=None if per_word is None else _perplexity(per_word),
        byte_perplexity=None if per_byte is None else _perplexity(per_byte),
    )


def sequence_section(stats: SequenceStats, source: str, bootstrap, unit: str, max_slices: int,
                     warnings: list[str]) -> LMSection:
    """A file of sequences (or tokens): the overall figures, per slice, the worst sequences."""
    v = replicate_weights(bootstrap) if bootstrap is not None else None
    overall = sequence_figures(stats.sums, stats.blocks, v, unit, stats.has)
    groups = {col: _slices(col, sl, v, unit, stats.has, max_slices, warnings) for col, sl in stats.groups.items()}
    return LMSection(source=source, overall=overall, groups=groups, worst=worst_rows(stats, unit),
                     worst_per=stats.unit_of_loss(), note=NO_BAND)


def relations_of(tasks) -> tuple[tuple[str, str], ...]:
    """How each harness figure the tasks have relates to ours, in words (for the report)."""
    return tuple((name, text) for name, text in RELATIONS.items()
                 if any(t.harness.get(name) is not None for t in tasks))


def worst_rows(stats: SequenceStats, unit: str) -> tuple[WorstSequenceRow, ...]:
    f = UNITS[unit]
    return tuple(WorstSequenceRow(w.row, shown_id(w.id)[0], w.nll * f, w.tokens, w.bytes, w.loss * f,
                                  id_length=shown_id(w.id)[1])
                 for w in sorted(stats.worst, reverse=True))


def _slices(col: str, sl, v, unit: str, has: dict, max_slices: int, warnings: list[str]) -> list[SequenceSlice]:
    """One slice column's values: those with the most sequences (at most ``max_slices``), in
    natural order, the rows without a value last, the rest folded into one "other" row."""
    from .interpret import _natural_order
    from .load import MISSING_GROUP

    counts = sl.sums[: len(sl.values), 0]
    order = np.lexsort((np.arange(len(sl.values)), -counts))
    shown, folded = order[:max_slices], order[max_slices:]
    blocks = sl.blocks

    def figures(rows) -> SequenceFigures:
        b = None if blocks is None else blocks[rows].sum(axis=0)
        return sequence_figures(sl.sums[rows].sum(axis=0), b, v, unit, has)

    by_value = {sl.values[i]: SequenceSlice(sl.values[i], figures([i]),
                                            "missing" if sl.values[i] is MISSING_GROUP else "value") for i in shown}
    out = [by_value[x] for x in _natural_order(by_value)]
    if len(folded):
        out.append(SequenceSlice(None, figures(folded), "other"))
        warnings.append(f"column {col!r}: {len(sl.values):,} values; the {len(shown):,} with the most sequences are "
                        f"shown, the other {len(folded):,} are folded into '(other)'")
    return out


# --------------------------------------------------------------------------- harness tasks


def _stderr(total: float, squares: float, n: float) -> float | None:
    """The harness's standard error of a mean (lm-eval's mean_stderr): the sample standard
    deviation over √n."""
    if n < 2:
        return None
    mean = total / n
    var = max(squares - n * mean * mean, 0.0) / (n - 1)
    return math.sqrt(var) / math.sqrt(n)


def _reported(run, task: str, flt: str, names) -> dict:
    """The figures results_*.json holds for a task (None where it holds none or "N/A")."""
    values = run.reported.get(task, {})
    out = {}
    for name in names:
        x = values.get(f"{name},{flt}")
        out[name] = float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None
        e = values.get(f"{name}_stderr,{flt}")
        out[f"{name}_stderr"] = float(e) if isinstance(e, (int, float)) and not isinstance(e, bool) else None
    return out


def choice_task(run, docs, stats: ChoiceStats, v, unit: str, ladder: Ladder) -> TaskFigures:
    """A multiple-choice task: acc, acc_norm, brier_score (and stderr) the harness's way; our
    cross-entropy over the options with its interval and band."""
    f = UNITS[unit]
    s, n = stats.sums, stats.sums["documents"]
    harness = {"acc": float(s["acc"] / n), "acc_norm": float(s["acc_norm"] / n) if "acc_norm" in s else None,
               "brier_score": float(s["brier_score"] / n)}
    stderr = {"acc": _stderr(s["acc"], s["acc_sq"], n),
              "acc_norm": _stderr(s["acc_norm"], s["acc_norm_sq"], n) if "acc_norm" in s else None}
    ce = s["cross_entropy"] / n
    ce_ci = acc_ci = None
    if v is not None:
        ce_ci, acc_ci = intervals(stats.blocks[[3, 1]], stats.blocks[[0, 0]], v)
    band = ladder.band_for(ce)
    return TaskFigures(task=docs.task, filter=docs.filter, kind=docs.kind, documents=int(n), options=docs.options,
                       harness=harness, stderr=stderr, reported=_reported(run, docs.task, docs.filter, harness),
                       cross_entropy=ce * f, ci95=_scaled(ce_ci, f), per="document", band=band.id,
                       band_label=band.label, accuracy_ci95=acc_ci)


def rolling_task(run, docs, sums: np.ndarray, blocks, v, unit: str) -> TaskFigures:
    """A rolling log-likelihood (perplexity) task: word_perplexity, byte_perplexity, bits_per_byte
    as the harness aggregates them (ratios of sums over documents); our cross-entropy per byte."""
    fig = sequence_figures(sums, blocks, v, unit, {"tokens": False, "bytes": True, "words": True})
    harness = {"word_perplexity": fig.word_perplexity, "byte_perplexity": fig.byte_perplexity,
               "bits_per_byte": fig.bits_per_byte}
    f = UNITS[unit]
    per_byte = None if fig.bits_per_byte is None else fig.bits_per_byte * LN2 * f
    ci = None if fig.bits_per_byte_ci95 is None else (fig.bits_per_byte_ci95[0] * LN2 * f,
                                                      fig.bits_per_byte_ci95[1] * LN2 * f)
    return TaskFigures(task=docs.task, filter=docs.filter, kind=docs.kind, documents=fig.sequences, options=None,
                       harness=harness, stderr={}, reported=_reported(run, docs.task, docs.filter, harness),
                       cross_entropy=per_byte, ci95=ci, per="byte")


def lm_only_result(source: SourceInfo, lm: LMSection, unit: str, ladder: Ladder, options: dict, bootstrap,
                   warnings: list[str], rows: int) -> Result:
    """The result of a language-model evaluation without classifier rows (sequences alone): no
    classes, band or calibration — the LM section holds the figures."""
    return Result(source=source, mode="lm", rows=rows, total_weight=float(rows), weighted=False, unit=unit,
                  classes=(), eps=0.0, ladder=ladder, overall=None, per_class=(), groups={}, histogram=None,
                  confusion=None, worst=(), warnings=tuple(warnings), verdict=lm_verdict(lm, unit),
                  options=dict(options), bootstrap={"replicates": bootstrap.replicates, "seed": bootstrap.seed}
                  if bootstrap is not None else None, lm=lm)


def lm_verdict(lm: LMSection, unit: str) -> str:
    """One plain sentence for a report of sequences."""
    o = lm.overall
    if o is None:
        return ""
    if o.cross_entropy is not None:
        return (f"The model spends {o.cross_entropy:z.4f} {unit} per token on the reference text: as unsure as a "
                f"uniform choice among {o.perplexity:,.1f} tokens (its perplexity). {NO_BAND}")
    if o.bits_per_byte is not None:
        return (f"The model spends {o.bits_per_byte:z.4f} bits per byte of the reference text (byte perplexity "
                f"{o.byte_perplexity:,.3f}). {NO_BAND.replace('Per-token', 'Per-byte')}")
    return ""


def seq_field_index(name: str) -> int:
    return SEQ_FIELDS.index(name)


# --------------------------------------------------------------------------- two evaluations


def paired(name: str, num_a: float, den_a: float, num_b: float, den_b: float, blocks_a, blocks_b, v, factor: float,
           rows: float | None = None, higher_is_better: bool = False, kind: str = "value"):
    """Candidate − baseline of a ratio of sums, both sides in ``factor`` units; its interval from a
    paired bootstrap: both sides' block sums (numerator, denominator) get the same replicate weights,
    each sequence or document in the block of its key."""
    from .compute import paired_intervals
    from .result import Difference

    a, b = _ratio(num_a, den_a), _ratio(num_b, den_b)
    ci = None
    if v is not None and blocks_a is not None and blocks_b is not None:
        ci = paired_intervals(blocks_a[0], blocks_a[1], blocks_b[0], blocks_b[1], v)[0]
    scale = (lambda x: None if x is None else x * factor)
    return Difference(name, scale(a), scale(b), None if a is None or b is None else (b - a) * factor, _scaled(ci, factor),
                      rows, kind, higher_is_better)


def choice_differences(a: ChoiceStats, b: ChoiceStats, v, unit: str) -> dict:
    """A multiple-choice task of two runs: acc, acc_norm, our cross-entropy over the options (paired
    intervals) and the harness's Brier score (no interval)."""
    from .result import Difference

    f, n_a, n_b = UNITS[unit], a.sums["documents"], b.sums["documents"]
    out = {}
    for name, i, factor, better in (("acc", 1, 1.0, True), ("acc_norm", 2, 1.0, True), ("cross_entropy", 3, f, False)):
        if name == "acc_norm" and ("acc_norm" not in a.sums or "acc_norm" not in b.sums):
            continue
        out[name] = paired(name, a.sums[name], n_a, b.sums[name], n_b, a.blocks[[i, 0]], b.blocks[[i, 0]], v, factor,
                           rows=n_b, higher_is_better=better)
    brier_a, brier_b = a.sums["brier_score"] / n_a, b.sums["brier_score"] / n_b
    out["brier_score"] = Difference("brier_score", brier_a, brier_b, brier_b - brier_a, None, n_b)
    return out


def sequence_differences(sa: np.ndarray, ba, sb: np.ndarray, bb, v, unit: str, has: dict) -> dict:
    """Two evaluations of the same sequences (sums SEQ_FIELDS, blocks nll/tokens/bytes/words):
    the per-token cross-entropy and the bits per byte, paired."""
    out = {}
    if has["tokens"]:
        out["cross_entropy"] = paired("cross_entropy", sa[1], sa[2], sb[1], sb[2],
                                      None if ba is None else ba[[0, 1]], None if bb is None else bb[[0, 1]], v,
                                      UNITS[unit], rows=sb[0])
    if has["bytes"]:
        out["bits_per_byte"] = paired("bits_per_byte", sa[1], sa[3], sb[1], sb[3],
                                      None if ba is None else ba[[0, 2]], None if bb is None else bb[[0, 2]], v,
                                      1 / LN2, rows=sb[0])
    return out
