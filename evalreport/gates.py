"""Gates for ``evalreport check``: pure decisions on a result, and the one exit-code mapping.

Values are rounded to the precision they are printed with (4 decimals) before
they are compared, so the printed number and the verdict always agree.

Two rules:

- ``point`` (default): a gate fails when the point estimate is beyond the threshold;
- ``significant``: a gate fails only when the whole 95% interval is beyond it, so
  a small, noisy evaluation set does not fail a gate by chance. Where there is
  no interval (``--bootstrap 0``, a JSON baseline) the point rule applies, and
  the gate says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import UsageError, printable, quote
from .compute.bootstrap import MAX_REPLICATES
from .compute.power import minimum_detectable, too_close
from .ladder import UNITS, Ladder
from .load import JsonBaseline
from .result import Comparison, Result

PRECISION = 4
#: The classifier's gates (on a distribution over classes or options), the language model's, and both.
CLASSIFIER_GATES = ("max_score", "max_band", "max_class_score", "max_class_band", "min_accuracy", "max_ece", "min_skill")
LM_GATES = ("max_bits_per_byte", "max_perplexity", "min_acc")
SLICE_GATES = ("max_slice_score", "max_slice_regression")
GATE_KEYS = (*CLASSIFIER_GATES, "max_regression", "max_ece_regression", *SLICE_GATES, *LM_GATES)
#: The gates a language model's sequences alone cannot answer.
CLASSIFIER_ONLY = (*CLASSIFIER_GATES, "max_ece_regression", *SLICE_GATES)


@dataclass(frozen=True)
class GateSpec:
    """The gates asked for. Scores are in the run's unit; accuracy is a share in [0, 1]."""

    max_score: float | None = None
    max_band: str | None = None
    max_class_score: float | None = None
    max_class_band: str | None = None
    min_accuracy: float | None = None
    max_ece: float | None = None
    min_skill: float | None = None
    max_regression: float | None = None
    max_ece_regression: float | None = None
    max_slice_score: float | None = None
    max_slice_regression: float | None = None
    max_bits_per_byte: float | None = None
    max_perplexity: float | None = None
    min_acc: float | None = None
    significant: bool = False
    tasks: dict = field(default_factory=dict)  # task → {min_acc, max_bits_per_byte, max_perplexity}: per-task thresholds

    def __post_init__(self) -> None:
        for key in ("max_score", "max_class_score", "max_slice_score"):
            v = getattr(self, key)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise UsageError(f"--{key.replace('_', '-')} must be a number ≥ 0, got {v}")
        if self.max_ece is not None and not (0 <= self.max_ece <= 1):
            raise UsageError(f"--max-ece is a share between 0 and 1, got {self.max_ece}")
        if self.min_accuracy is not None and not (0 <= self.min_accuracy <= 1):
            raise UsageError(f"--min-accuracy is a share between 0 and 1, got {quote(self.min_accuracy)}")
        for key in ("max_regression", "max_slice_regression"):
            v = getattr(self, key)
            if v is not None and not math.isfinite(v):
                raise UsageError(f"--{key.replace('_', '-')} must be a number, got {v}")
        if self.max_ece_regression is not None and not (math.isfinite(self.max_ece_regression)
                                                        and -1 <= self.max_ece_regression <= 1):
            raise UsageError(f"--max-ece-regression is a change of a share, between -1 and 1, got "
                             f"{quote(self.max_ece_regression)}")
        for key in ("max_bits_per_byte", "max_perplexity"):
            v = getattr(self, key)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise UsageError(f"--{key.replace('_', '-')} must be a number ≥ 0, got {v}")
        if self.min_skill is not None and not (math.isfinite(self.min_skill) and self.min_skill <= 1):
            raise UsageError(f"--min-skill is a share of the prior's loss, at most 1, got {quote(self.min_skill)}")
        if self.min_acc is not None and not (0 <= self.min_acc <= 1):
            raise UsageError(f"--min-acc is a share between 0 and 1, got {self.min_acc}")

    def any(self) -> bool:
        return any(getattr(self, k) is not None for k in GATE_KEYS) or bool(self.tasks)

    def check_bands(self, ladder) -> None:
        """An unknown band is a usage error before the evaluation, not after it."""
        for band in (self.max_band, self.max_class_band):
            if band is not None:
                ladder.by_id(band)

    def require_any(self) -> None:
        if not self.any():
            raise UsageError(
                "no gates to check: pass --max-score, --max-band, --max-class-score, --max-class-band, "
                "--min-accuracy, --min-skill, --max-ece, --max-slice-score, --max-bits-per-byte, --max-perplexity, "
                "--min-acc or --baseline with --max-regression (or set [tool.evalreport.gates])"
            )


@dataclass(frozen=True)
class GateResult:
    gate: str  # e.g. "max-score"
    condition: str  # in words, e.g. "cross-entropy ≤ 0.3 nats"
    threshold: float | str
    value: float | str | None
    ci95: tuple[float, float] | None
    passed: bool
    detail: str = ""
    score: float | None = None  # a band gate's score (in the run's unit): the band alone hides how far it is
    subject: str | None = None  # what the gate is about, when not the whole run: a task, a slice "column=value"
    minimum_detectable: float | None = None  # --significant: the distance from the threshold 80% power tells apart
    too_close: bool = False  # --significant: the deciding end lies within its Monte Carlo error of the threshold


@dataclass(frozen=True)
class CheckReport:
    """The outcome of ``evalreport check``."""

    result: Result
    gates: tuple[GateResult, ...]
    rule: str  # "point" or "significant"
    comparison: Comparison | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def return_code(self) -> int:
        """The exit code: 0 when every gate passes, 1 when a gate failed.

        (Bad input or usage never gets this far: it exits with 2 from the CLI.)
        """
        return 0 if self.passed else 1


def _r(x: float) -> float:
    return round(x, PRECISION)


def _number(x) -> bool:
    """A value a gate can decide on: a finite number. Anything else fails its gate (fail closed)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _usable(ci) -> bool:
    return ci is not None and _number(ci[0]) and _number(ci[1])


def _beyond_max(value: float | None, ci, threshold: float, significant: bool) -> bool:
    """Above a maximum: the point (rounded), or with --significant the interval's lower end.
    A value that is not a number is beyond every threshold."""
    if not _number(value):
        return True
    if significant and _usable(ci):
        return _r(ci[0]) > threshold
    return _r(value) > threshold


def _below_min(value: float | None, ci, threshold: float, significant: bool) -> bool:
    """Below a minimum: the point (rounded), or with --significant the interval's upper end."""
    if not _number(value):
        return True
    if significant and _usable(ci):
        return _r(ci[1]) < threshold
    return _r(value) < threshold


def _above_min(value: float | None, ci, threshold: float, significant: bool) -> bool:
    """Strictly above a minimum (a skill of 0 is no skill): the point (rounded), or with
    --significant the interval's upper end — the gate fails only when the whole interval is at or
    below the threshold. A value that is not a number is never above."""
    if not _number(value):
        return False
    if significant and _usable(ci):
        return _r(ci[1]) > threshold
    return _r(value) > threshold


def _band_rank(ladder: Ladder, band_id: str) -> int:
    return [b.id for b in ladder.bands].index(band_id)


def evaluate_gates(
    result: Result,
    spec: GateSpec,
    comparison: Comparison | None = None,
    json_baseline: JsonBaseline | None = None,
) -> CheckReport:
    """Decide every gate asked for."""
    spec.require_any()
    if not result.classifier:
        asked = next((k for k in CLASSIFIER_ONLY if getattr(spec, k) is not None), None)
        if asked is not None:
            raise UsageError(f"--{asked.replace('_', '-')} grades a distribution over classes or options, and "
                             f"{result.source.name} holds sequences alone: gate on their figures instead "
                             "(--max-bits-per-byte, --max-perplexity, --baseline with --max-regression)")
        return _lm_check(result, spec, comparison, json_baseline)
    judge = _Judge(spec.significant, result)
    gates = [*_overall_gates(result, spec, judge), *_class_gates(result, spec, judge),
             *_baseline_gates(result, spec, judge, comparison, json_baseline), *_slice_gates(result, spec, judge, comparison),
             *lm_gates(result, spec, judge)]
    return CheckReport(result, tuple(gates), "significant" if spec.significant else "point", comparison,
                       _rule_notes(spec.significant, result, gates))


class _Judge:
    """Decides a gate on its value (rounded) or, with --significant, on its interval's end, and
    says how small a difference the interval can tell and whether the end is too close to call.

    ``replicates``: how many bootstrap replicates drew an interval — the overall figures' (at
    least HEADLINE_REPLICATES) or the per-item figures' (the run's); None without a bootstrap."""

    def __init__(self, significant: bool, result: Result) -> None:
        from .compute.bootstrap import Bootstrap, headline

        self.sig = significant
        self.item_replicates = result.bootstrap["replicates"] if result.bootstrap else None
        self.replicates = headline(Bootstrap(**result.bootstrap)).replicates if result.bootstrap else None

    def __call__(self, gate: str, condition: str, threshold: float, value, ci, kind: str, detail: str = "",
                 per_item: bool = False, **extra) -> GateResult:
        """``kind``: "max" (fails above), "min" (fails below), "above" (fails at or below)."""
        sig = self.sig
        decide = {"max": lambda: not _beyond_max(value, ci, threshold, sig),
                  "min": lambda: not _below_min(value, ci, threshold, sig),
                  "above": lambda: _above_min(value, ci, threshold, sig)}[kind]
        passed, notes, mdd, close = decide(), [], None, False
        replicates = self.item_replicates if per_item else self.replicates
        if sig and not _usable(ci):
            notes.append("no interval: the point rule applies")
        elif sig and _number(value):
            mdd = minimum_detectable(ci)
            notes.append(_detectable_words(mdd))
            end = ci[0] if kind == "max" else ci[1]
            if replicates and too_close(end, threshold, ci, replicates):
                passed, close = False, True
                notes.append(_too_close_words(end, threshold, ci, replicates, per_item))
        notes.append(detail)
        return GateResult(gate, condition, threshold, value, ci, passed, "; ".join(x for x in notes if x),
                          minimum_detectable=mdd, too_close=close, **extra)


def _detectable_words(mdd: float | None) -> str:
    """The distance from the threshold the interval tells apart (80% power, 5% level)."""
    return "" if mdd is None or not _number(mdd) else f"detectable distance {mdd:.4f}"


def _too_close_words(end: float, threshold: float, ci, replicates: int, per_item: bool,
                     what: str = "the interval's end", scale: float = 1.0) -> str:
    """``scale``: the end's Monte Carlo error as a multiple of that of the interval's own ends."""
    from .compute.power import end_error, replicates_to_settle

    need = replicates_to_settle(end, threshold, ci, MAX_REPLICATES, scale)
    if need is not None and not per_item:
        need = max(need, replicates + 4)
    how = (f"--bootstrap {need:,} would settle it" if need is not None else
           f"no number of replicates up to {MAX_REPLICATES:,} settles it: the end is at the threshold")
    return (f"too close to call at {replicates:,} replicates: {what} {end:.4f} is within twice its Monte "
            f"Carlo error (±{scale * end_error(ci, replicates):.4f}) of {threshold:g}, so it fails closed; {how}")


def _what(result: Result) -> str:
    return "mean KL(P‖Q)" if result.soft else "cross-entropy"


def _overall_gates(result: Result, spec: GateSpec, judge: _Judge) -> list[GateResult]:
    """--max-score, --max-band, --min-accuracy, --min-skill, --max-ece: the overall figures."""
    o, unit, ladder, out = result.overall, result.unit, result.ladder, []
    if spec.max_score is not None:
        out.append(judge("max-score", f"{_what(result)} ≤ {spec.max_score:g} {unit}", spec.max_score, o.band_score,
                         o.band_score_ci95, "max"))
    if spec.max_band is not None:
        out.append(_band_gate(result, spec, judge))
    if spec.min_accuracy is not None:
        out.append(judge("min-accuracy", f"accuracy ≥ {spec.min_accuracy:g}", spec.min_accuracy, o.accuracy,
                         o.accuracy_ci95, "min"))
    if spec.min_skill is not None:
        detail = ("no skill to gate: the class frequencies leave no loss to remove" if o.skill_vs_prior is None
                  else o.skill_words)
        out.append(judge("min-skill", f"skill over the class frequencies > {spec.min_skill:g}", spec.min_skill,
                         o.skill_vs_prior, o.skill_vs_prior_ci95, "above", detail))
    if spec.max_ece is not None:
        cal = result.calibration
        out.append(judge("max-ece", f"expected calibration error ≤ {spec.max_ece:g}", spec.max_ece, cal.ece,
                         cal.ece_ci95, "max"))
    return out


def _band_gate(result: Result, spec: GateSpec, judge: _Judge) -> GateResult:
    """--max-band: the band of the score (with --significant, of the interval's best end); the
    Monte Carlo check is against the limit band's upper edge."""
    ladder, o, f, sig = result.ladder, result.overall, UNITS[result.unit], spec.significant
    limit_band = ladder.by_id(spec.max_band)
    limit = _band_rank(ladder, limit_band.id)
    decided_on = o.band_score_ci95[0] / f if sig and _usable(o.band_score_ci95) else o.band_score_nats
    band = ladder.band_for(decided_on) if _number(decided_on) else None
    if band is None:
        detail = "no band: the score is not a number"
    else:
        detail = f"band {o.band_label}" + (f"; the interval's best end is in '{band.label}'"
                                           if sig and _usable(o.band_score_ci95) else "")
    passed = band is not None and _band_rank(ladder, band.id) <= limit
    edge = limit_band.upper * f if limit_band.upper is not None and math.isfinite(limit_band.upper) else None
    judged = (judge("max-band", "", edge, o.band_score, o.band_score_ci95, "max") if edge is not None
              else GateResult("", "", 0, None, None, True))
    note = "; ".join(x for x in (judged.detail, detail) if x)
    return GateResult("max-band", f"band '{limit_band.label}' or better", limit_band.id, o.band, o.band_score_ci95,
                      passed and not judged.too_close, note, o.band_score, minimum_detectable=judged.minimum_detectable,
                      too_close=judged.too_close)


def _score(result: Result):
    def score(c) -> float:  # worst first: a score that is not a number counts as the worst
        x = c.kl_divergence if result.soft else c.cross_entropy
        return x if _number(x) else math.inf
    return score


def _class_gates(result: Result, spec: GateSpec, judge: _Judge) -> list[GateResult]:
    """--max-class-score, --max-class-band: every class with rows."""
    ladder, unit, f, sig, out = result.ladder, result.unit, UNITS[result.unit], spec.significant, []
    classes = [c for c in result.per_class if c.support]  # a class without rows has no score to gate
    score = _score(result)
    if spec.max_class_score is not None:
        judged = [judge("max-class-score", "", spec.max_class_score, score(c), c.ci95, "max", per_item=True)
                  for c in classes]
        failing = [c for c, g in zip(classes, judged) if not g.passed]
        worst = max(classes, key=score)
        notes = [g.detail for c, g in zip(classes, judged) if g.too_close][:1]
        out.append(GateResult(
            "max-class-score", f"every class's {_what(result)} ≤ {spec.max_class_score:g} {unit}",
            spec.max_class_score, score(worst), worst.ci95, not failing,
            "; ".join(x for x in [f"worst class {quote(worst.name)}" + (f"; failing: {_names(failing)}" if failing
                                                                         else ""),
                                  *notes, _detectable_words(minimum_detectable(worst.ci95) if sig else None)] if x),
            minimum_detectable=minimum_detectable(worst.ci95) if sig else None))
    if spec.max_class_band is not None:
        limit = _band_rank(ladder, ladder.by_id(spec.max_class_band).id)

        def class_rank(c) -> float:
            decided_on = c.ci95[0] / f if sig and _usable(c.ci95) else score(c) / f
            band = ladder.band_for(decided_on) if _number(decided_on) else None
            return math.inf if band is None else _band_rank(ladder, band.id)

        failing = [c for c in classes if class_rank(c) > limit]
        worst = max(classes, key=score)
        out.append(GateResult(
            "max-class-band", f"every class in band '{ladder.by_id(spec.max_class_band).label}' or better",
            ladder.by_id(spec.max_class_band).id, worst.band, worst.ci95, not failing,
            f"worst class {quote(worst.name)} ({worst.band_label})" + (f"; failing: {_names(failing)}" if failing else ""),
            score(worst)))
    return out


def _baseline_gates(result: Result, spec: GateSpec, judge: _Judge, comparison: Comparison | None,
                    json_baseline: JsonBaseline | None) -> list[GateResult]:
    """--max-regression, --max-ece-regression: against a baseline's predictions (paired) or JSON."""
    unit, out = result.unit, []
    if spec.max_regression is not None:
        condition = f"{_what(result)} rises by ≤ {spec.max_regression:g} {unit} over the baseline"
        if comparison is not None:
            d = comparison.score
            out.append(judge("max-regression", condition, spec.max_regression, d.difference, d.ci95, "max",
                             f"baseline {d.baseline:.4f}, candidate {d.candidate:.4f} {unit}; rows matched by "
                             f"{comparison.matched_by}"))
        elif json_baseline is not None:
            base = json_baseline.band_score_nats * UNITS[unit]
            diff = result.overall.band_score - base
            out.append(GateResult(
                "max-regression", condition, spec.max_regression, diff, None,
                not _beyond_max(diff, None, spec.max_regression, False),
                f"baseline {base:.4f} {unit} from {json_baseline.path}: a JSON summary allows only the point "
                "comparison, no interval"))
        else:
            raise UsageError("--max-regression needs --baseline FILE (the baseline model's predictions or JSON)")
    if spec.max_ece_regression is not None:
        d = comparison.calibration.errors["ece"] if comparison is not None and comparison.calibration else None
        if d is None:
            raise UsageError("--max-ece-regression needs a baseline of predictions with hard labels")
        out.append(judge("max-ece-regression", f"ECE rises by ≤ {spec.max_ece_regression:g} over the baseline",
                         spec.max_ece_regression, d.difference, d.ci95, "max",
                         f"baseline {d.baseline:.4f}, candidate {d.candidate:.4f}; rows matched by "
                         f"{comparison.matched_by}"))
    return out


def _slice_gates(result: Result, spec: GateSpec, judge: _Judge, comparison: Comparison | None) -> list[GateResult]:
    """--max-slice-score (every shown slice value) and --max-slice-regression (every slice value both
    sides have): one gate per failing slice value, worst first, or one naming the worst when all pass.
    With --significant, a slice value fails when Holm's correction over all of them rejects it."""
    out = []
    if spec.max_slice_score is not None:
        if not result.groups:
            raise UsageError("--max-slice-score gates the slices of --group-by COLUMN: name the column(s) to slice by")
        _every_value_shown(result, "--max-slice-score")
        score = _score(result)
        items = [(col, s.label, score(s), s.ci95) for col, rows in result.groups.items() for s in rows if s.rows]
        out += _per_slice(judge, "max-slice-score", f"{_what(result)} ≤ {spec.max_slice_score:g} {result.unit}",
                          spec.max_slice_score, items, "every slice value's")
    if spec.max_slice_regression is not None:
        if comparison is None:
            raise UsageError("--max-slice-regression needs --baseline FILE with the baseline model's predictions "
                             "(a JSON report holds no paired slices)")
        if not comparison.groups:
            raise UsageError("--max-slice-regression gates the slices of --group-by COLUMN: name the column(s) "
                             "to slice by")
        _every_value_shown(comparison.baseline, "--max-slice-regression")
        _every_value_shown(result, "--max-slice-regression")
        items = [(col, d.name, d.difference, d.ci95) for col, diffs in comparison.groups.items() for d in diffs
                 if d.difference is not None]
        if not items:
            raise UsageError("--max-slice-regression: no slice value has rows on both sides")
        out += _per_slice(judge, "max-slice-regression",
                          f"{_what(result)} rises by ≤ {spec.max_slice_regression:g} {result.unit} over the baseline",
                          spec.max_slice_regression, items, "every slice value's")
    return out


def _every_value_shown(result: Result, gate: str) -> None:
    """A slice gate checks every value one by one: values folded into (other) by --max-slices
    would pass unseen inside its pooled score, so they are refused (exit 2), never passed."""
    from .interpret import MAX_SLICES_LIMIT

    for col, rows in result.groups.items():
        folded = sum(s.folded for s in rows if s.kind == "other")
        if folded:
            values = folded + sum(1 for s in rows if s.kind != "other")
            how = (f"pass --max-slices {values:,} so that each is checked" if values <= MAX_SLICES_LIMIT else
                   f"that is more than --max-slices allows ({MAX_SLICES_LIMIT:,}): gate a column of fewer values")
            raise UsageError(f"{gate} checks every value of --group-by {quote(col)} one by one, but {folded:,} of its "
                             f"{values:,} values are folded into '(other)' by --max-slices, where one could fail "
                             f"unseen: {how}")


def _per_slice(judge: _Judge, gate: str, condition: str, threshold: float, items: list, every: str) -> list[GateResult]:
    """One gate per failing (column, value, figure, interval), worst first; else one naming the worst.
    Under --significant, Holm's walk fails closed: a slice value whose step is too close to call at
    the run's replicates fails (see holm_walk)."""
    from .compute.power import end_error, holm_walk

    def key(item) -> float:
        return item[2] if _number(item[2]) else math.inf

    items = sorted(items, key=key, reverse=True)
    sig, replicates = judge.sig, judge.item_replicates
    tested = [i for i, it in enumerate(items) if sig and _number(it[2]) and _usable(it[3])]
    steps = dict(zip(tested, holm_walk([(items[i][2], items[i][3]) for i in tested], threshold, replicates)))
    failing = []
    for i, (col, label, value, ci) in enumerate(items):
        step = steps.get(i)
        if step is not None:
            failed, note = step.rejected, f"Holm over {len(tested):,} slice values"
            if step.too_close:
                note += "; " + _too_close_words(step.end, threshold, ci, replicates, True, "the Holm-adjusted end",
                                                step.error / end_error(ci, replicates))
        else:
            failed = _beyond_max(value, None, threshold, False)
            note = "no interval: the point rule applies" if sig else ""
        if failed:
            mdd = minimum_detectable(ci) if sig else None
            failing.append(GateResult(
                gate, f"{col} = {printable(label)}: {condition}", threshold, value, ci, False,
                "; ".join(x for x in (note, f"{len(failing) + 1} of the failing, worst first",
                                      _detectable_words(mdd)) if x),
                subject=f"{col}={label}", minimum_detectable=mdd, too_close=step is not None and step.too_close))
    if failing:
        return failing
    col, label, value, ci = items[0]
    mdd = minimum_detectable(ci) if sig else None
    return [GateResult(gate, f"{every} {condition}", threshold, value, ci, True,
                       "; ".join(x for x in (f"worst slice {col} = {quote(label)} of {len(items):,}",
                                             f"Holm over {len(tested):,} slice values" if tested else "",
                                             _detectable_words(mdd)) if x),
                       minimum_detectable=mdd)]


def _rule_notes(sig: bool, result: Result | None = None, gates=()) -> tuple[str, ...]:
    if not sig:
        return ("rule: point estimate — a gate fails when the value (rounded to 4 decimals) is beyond the threshold",)
    notes = ["rule: --significant — a gate fails only when its whole 95% interval lies beyond the threshold "
             "(per slice value: when Holm's correction over the slice values rejects it, family-wise 2.5%, "
             "or when its step is too close to call)"]
    if any(g.minimum_detectable is not None for g in gates):
        rows = f"{result.rows:,} rows" if result is not None else "these rows"
        notes.append(f"with {rows}, a value closer to its threshold than the gate's 'detectable' distance cannot be "
                     "told from it (80% power at the 5% level)")
    return tuple(notes)


def _lm_check(result: Result, spec: GateSpec, comparison: Comparison | None, json_baseline) -> CheckReport:
    """The gates of a language-model evaluation without classifier rows: its own, and a regression
    over a baseline of the same sequences (per-token cross-entropy, else bits per byte). Their
    intervals are drawn from the run's replicates (documents and sequences resampled whole)."""
    gates, judge = [], _Judge(spec.significant, result)
    if spec.max_regression is not None:
        if comparison is None:
            raise UsageError("--max-regression needs --baseline (the baseline model's sequences or run; a JSON "
                             "report allows only classifier figures)")
        d = comparison.score
        unit = result.unit if d.name == "cross_entropy" else "bits"
        what = "cross-entropy per token" if d.name == "cross_entropy" else "bits per byte"
        gates.append(judge(
            "max-regression", f"{what} rises by ≤ {spec.max_regression:g} {unit} over the baseline",
            spec.max_regression, d.difference, d.ci95, "max",
            f"baseline {d.baseline:.4f}, candidate {d.candidate:.4f} {unit}; matched by {comparison.matched_by}",
            per_item=True))
    gates += lm_gates(result, spec, judge)
    if not gates:
        spec.require_any()
    return CheckReport(result, tuple(gates), "significant" if spec.significant else "point", comparison,
                       _rule_notes(spec.significant, result, gates))


def _threshold(spec: GateSpec, key: str, task: str | None):
    """A gate's threshold for a task: its own in the settings' [gates.tasks.<task>], else the general one."""
    if task is not None and key in spec.tasks.get(task, {}):
        return spec.tasks[task][key]
    return getattr(spec, key)


def lm_gates(result: Result, spec: GateSpec, judge: _Judge) -> list[GateResult]:
    """--min-acc (each multiple-choice task's acc, the harness's; or the accuracy over options),
    --max-bits-per-byte and --max-perplexity (a file's sequences, or each perplexity task: the
    harness's bits_per_byte and word_perplexity)."""
    lm, out = result.lm, []
    asked = [k for k in LM_GATES if getattr(spec, k) is not None or any(k in t for t in spec.tasks.values())]
    if not asked:
        return out
    if lm is None:
        if asked == ["min_acc"] and result.classifier:
            o = result.overall  # multiple-choice answers in a table: acc is the accuracy over the options
            return [judge("min-acc", f"acc ≥ {spec.min_acc:g}", spec.min_acc, o.accuracy, o.accuracy_ci95, "min")]
        raise UsageError(f"--{asked[0].replace('_', '-')} gates a language model's figures; {result.source.name} is a "
                         "classifier's predictions")
    unknown = sorted(set(spec.tasks) - {t.task for t in lm.tasks})
    if unknown:
        raise UsageError(f"the gates settings name task(s) the run does not have: {', '.join(map(quote, unknown))}; "
                         f"its tasks: {', '.join(quote(t.task) for t in lm.tasks) or 'none (a file of sequences)'}")
    for t in lm.tasks:
        if t.kind == "multiple_choice" and (x := _threshold(spec, "min_acc", t.task)) is not None:
            acc = t.harness["acc"]
            out.append(judge("min-acc", f"{t.task}: acc ≥ {x:g}", x, acc, t.accuracy_ci95, "min",
                             f"{t.documents:,} documents", per_item=True, subject=t.task))
        if t.kind != "multiple_choice":
            if (x := _threshold(spec, "max_bits_per_byte", t.task)) is not None:
                bpb = t.harness["bits_per_byte"]
                ci = None if t.ci95 is None else (t.ci95[0] / UNITS[result.unit] / math.log(2),
                                                  t.ci95[1] / UNITS[result.unit] / math.log(2))
                out.append(judge("max-bits-per-byte", f"{t.task}: bits_per_byte ≤ {x:g}", x, bpb, ci, "max",
                                 per_item=True, subject=t.task))
            if (x := _threshold(spec, "max_perplexity", t.task)) is not None:
                ppl = t.harness["word_perplexity"]
                out.append(GateResult("max-perplexity", f"{t.task}: word_perplexity ≤ {x:g}", x, ppl, None,
                                      not _beyond_max(ppl, None, x, False),
                                      "the harness's word perplexity (no interval)", subject=t.task))
    o = lm.overall
    if not lm.tasks and o is not None:
        if spec.max_bits_per_byte is not None:
            if o.bits_per_byte is None:
                raise UsageError(f"--max-bits-per-byte needs the bytes of each sequence: {result.source.name} has no "
                                 "'bytes' or 'text' column")
            out.append(judge("max-bits-per-byte", f"bits per byte ≤ {spec.max_bits_per_byte:g}",
                             spec.max_bits_per_byte, o.bits_per_byte, o.bits_per_byte_ci95, "max", per_item=True))
        if spec.max_perplexity is not None:
            if o.perplexity is None:
                raise UsageError(f"--max-perplexity needs each sequence's tokens: {result.source.name} has no 'tokens' "
                                 "column (or one row per token)")
            out.append(judge("max-perplexity", f"perplexity ≤ {spec.max_perplexity:g}", spec.max_perplexity,
                             o.perplexity, o.perplexity_ci95, "max", per_item=True))
        if spec.min_acc is not None:
            raise UsageError(f"--min-acc gates multiple-choice tasks; {result.source.name} holds sequences")
    if asked and not out:
        raise UsageError(f"--{asked[0].replace('_', '-')}: the run has no task it applies to "
                         "(--min-acc: multiple-choice tasks; --max-bits-per-byte, --max-perplexity: perplexity tasks)")
    return out


def _names(items, limit: int = 5) -> str:
    names = ", ".join(quote(c.name) for c in items[:limit])
    return names + (f" and {len(items) - limit} more" if len(items) > limit else "")


#: The type each gate setting must have in a settings file.
_SETTING_TYPES = {key: "number" for key in GATE_KEYS} | {"max_band": "band id", "max_class_band": "band id",
                                                        "significant": "boolean", "baseline": "path",
                                                        "tasks": "table of tasks"}


def _setting_ok(kind: str, value) -> bool:
    if kind == "table of tasks":
        return isinstance(value, dict)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str)  # a band id or a path


def gate_spec_from(settings: dict, where: str | None = None, **cli) -> GateSpec:
    """Gates from ``[tool.evalreport.gates]`` (or ``[gates]``), overridden by CLI options that were given.

    Every setting must have its type (``significant = "false"`` is an error, not true)."""
    table = settings.get("gates", {}) or {}
    table = dict(table) if isinstance(table, dict) else table
    here = where.format("gates") if where else "the gates settings"
    if not isinstance(table, dict):
        raise UsageError(f"{here}: must be a table of gate = value")
    unknown = set(table) - set(_SETTING_TYPES)
    if unknown:
        raise UsageError(f"{here}: unknown gate setting(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(_SETTING_TYPES))}")
    for key, value in table.items():
        kind = _SETTING_TYPES[key]
        if not _setting_ok(kind, value):
            shown = quote(value) if isinstance(value, str) else printable(repr(value))[:80]
            raise UsageError(f"{here}: {key} must be a {kind}, got {shown}"
                             + (" (write true or false, without quotes)" if kind == "boolean" else ""))
        if kind == "number":
            try:
                table[key] = float(value)
            except OverflowError:
                raise UsageError(f"{here}: {key} is beyond the largest float ({len(str(value)):,} digits)") from None
    values = {k: table.get(k) for k in GATE_KEYS}
    values["significant"] = table.get("significant", False)
    values["tasks"] = _task_gates(table.get("tasks", {}), here)
    for key, value in cli.items():
        if key in values and value is not None and value is not False:
            values[key] = value
    return GateSpec(**values)


def _task_gates(tasks: dict, here: str) -> dict:
    """``[gates.tasks.<task>]``: per-task thresholds of the language-model gates, each a number."""
    out = {}
    for task, table in tasks.items():
        if not isinstance(table, dict):
            raise UsageError(f"{here}: tasks.{task} must be a table of gate = value")
        unknown = set(table) - set(LM_GATES)
        if unknown:
            raise UsageError(f"{here}: tasks.{task}: unknown gate setting(s) {', '.join(sorted(unknown))}; known: "
                             f"{', '.join(LM_GATES)}")
        for key, value in table.items():
            if not _setting_ok("number", value):
                raise UsageError(f"{here}: tasks.{task}.{key} must be a number, got {printable(repr(value))[:80]}")
            if abs(value) > 1e300:
                raise UsageError(f"{here}: tasks.{task}.{key} is beyond any threshold ({len(str(value)):,} digits)")
        out[str(task)] = {k: float(v) for k, v in table.items()}
    return out
