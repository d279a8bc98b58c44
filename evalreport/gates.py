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
from .ladder import UNITS, Ladder
from .load import JsonBaseline
from .result import Comparison, Result

PRECISION = 4
#: The classifier's gates (on a distribution over classes or options), the language model's, and both.
CLASSIFIER_GATES = ("max_score", "max_band", "max_class_score", "max_class_band", "min_accuracy", "max_ece", "min_skill")
LM_GATES = ("max_bits_per_byte", "max_perplexity", "min_acc")
GATE_KEYS = (*CLASSIFIER_GATES, "max_regression", "max_ece_regression", *LM_GATES)


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
    max_bits_per_byte: float | None = None
    max_perplexity: float | None = None
    min_acc: float | None = None
    significant: bool = False
    tasks: dict = field(default_factory=dict)  # task → {min_acc, max_bits_per_byte, max_perplexity}: per-task thresholds

    def __post_init__(self) -> None:
        for key in ("max_score", "max_class_score"):
            v = getattr(self, key)
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise UsageError(f"--{key.replace('_', '-')} must be a number ≥ 0, got {v}")
        if self.max_ece is not None and not (0 <= self.max_ece <= 1):
            raise UsageError(f"--max-ece is a share between 0 and 1, got {self.max_ece}")
        if self.min_accuracy is not None and not (0 <= self.min_accuracy <= 1):
            raise UsageError(f"--min-accuracy is a share between 0 and 1, got {quote(self.min_accuracy)}")
        if self.max_regression is not None and not math.isfinite(self.max_regression):
            raise UsageError(f"--max-regression must be a number, got {self.max_regression}")
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
                "--min-accuracy, --min-skill, --max-ece, --max-bits-per-byte, --max-perplexity, --min-acc or "
                "--baseline with --max-regression (or set [tool.evalreport.gates])"
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
        asked = next((k for k in CLASSIFIER_GATES if getattr(spec, k) is not None), None)
        if asked is not None:
            raise UsageError(f"--{asked.replace('_', '-')} grades a distribution over classes or options, and "
                             f"{result.source.name} holds sequences alone: gate on their figures instead "
                             "(--max-bits-per-byte, --max-perplexity, --baseline with --max-regression)")
        return _lm_check(result, spec, comparison, json_baseline)
    ladder, unit, o = result.ladder, result.unit, result.overall
    f = UNITS[unit]
    sig = spec.significant
    what = "mean KL(P‖Q)" if result.soft else "cross-entropy"
    no_ci = " (no interval: the point rule applies)" if sig and o.band_score_ci95 is None else ""
    gates = []
    notes = []

    if spec.max_score is not None:
        gates.append(GateResult(
            "max-score", f"{what} ≤ {spec.max_score:g} {unit}", spec.max_score, o.band_score, o.band_score_ci95,
            not _beyond_max(o.band_score, o.band_score_ci95, spec.max_score, sig), no_ci.strip(" ()")))

    if spec.max_band is not None:
        limit = _band_rank(ladder, ladder.by_id(spec.max_band).id)
        decided_on = o.band_score_nats
        if sig and _usable(o.band_score_ci95):
            decided_on = o.band_score_ci95[0] / f
        band = ladder.band_for(decided_on) if _number(decided_on) else None
        if band is None:
            detail = "no band: the score is not a number"
        else:
            detail = f"band {o.band_label}" + (f"; the interval's best end is in '{band.label}'"
                                               if sig and _usable(o.band_score_ci95) else "")
        gates.append(GateResult(
            "max-band", f"band '{ladder.by_id(spec.max_band).label}' or better", ladder.by_id(spec.max_band).id, o.band,
            o.band_score_ci95, band is not None and _band_rank(ladder, band.id) <= limit, detail + no_ci,
            o.band_score))

    classes = [c for c in result.per_class if c.support]  # a class without rows has no score to gate

    def score(c) -> float:  # worst first: a score that is not a number counts as the worst
        x = c.kl_divergence if result.soft else c.cross_entropy
        return x if _number(x) else math.inf
    if spec.max_class_score is not None:
        failing = [c for c in classes if _beyond_max(score(c), c.ci95, spec.max_class_score, sig)]
        worst = max(classes, key=score)
        gates.append(GateResult(
            "max-class-score", f"every class's {what} ≤ {spec.max_class_score:g} {unit}", spec.max_class_score,
            score(worst), worst.ci95, not failing,
            f"worst class {quote(worst.name)}" + (f"; failing: {_names(failing)}" if failing else "")))

    if spec.max_class_band is not None:
        limit = _band_rank(ladder, ladder.by_id(spec.max_class_band).id)

        def class_rank(c) -> float:
            decided_on = c.ci95[0] / f if sig and _usable(c.ci95) else score(c) / f
            band = ladder.band_for(decided_on) if _number(decided_on) else None
            return math.inf if band is None else _band_rank(ladder, band.id)

        failing = [c for c in classes if class_rank(c) > limit]
        worst = max(classes, key=score)
        gates.append(GateResult(
            "max-class-band", f"every class in band '{ladder.by_id(spec.max_class_band).label}' or better",
            ladder.by_id(spec.max_class_band).id, worst.band, worst.ci95, not failing,
            f"worst class {quote(worst.name)} ({worst.band_label})" + (f"; failing: {_names(failing)}" if failing else ""),
            score(worst)))

    if spec.min_accuracy is not None:
        ci = o.accuracy_ci95
        below = _below_min(o.accuracy, ci, spec.min_accuracy, sig)
        gates.append(GateResult("min-accuracy", f"accuracy ≥ {spec.min_accuracy:g}", spec.min_accuracy,
                                o.accuracy, ci, not below, no_ci.strip(" ()")))

    if spec.min_skill is not None:
        ci = o.skill_vs_prior_ci95
        detail = "no interval: the point rule applies" if sig and not _usable(ci) else ""
        if o.skill_vs_prior is None:
            detail = "no skill to gate: the class frequencies leave no loss to remove"
        else:
            detail = "; ".join(x for x in (detail, o.skill_words) if x)
        gates.append(GateResult("min-skill", f"skill over the class frequencies > {spec.min_skill:g}", spec.min_skill,
                                o.skill_vs_prior, ci, _above_min(o.skill_vs_prior, ci, spec.min_skill, sig), detail))

    if spec.max_ece is not None:
        ece = result.calibration.ece
        ci = result.calibration.ece_ci95
        detail = "no interval: the point rule applies" if sig and not _usable(ci) else ""
        gates.append(GateResult("max-ece", f"expected calibration error ≤ {spec.max_ece:g}", spec.max_ece, ece, ci,
                                not _beyond_max(ece, ci, spec.max_ece, sig), detail))

    if spec.max_regression is not None:
        if comparison is not None:
            d = comparison.score
            gates.append(GateResult(
                "max-regression", f"{what} rises by ≤ {spec.max_regression:g} {unit} over the baseline",
                spec.max_regression, d.difference, d.ci95,
                not _beyond_max(d.difference, d.ci95, spec.max_regression, sig),
                f"baseline {d.baseline:.4f}, candidate {d.candidate:.4f} {unit}; rows matched by {comparison.matched_by}"))
        elif json_baseline is not None:
            base = json_baseline.band_score_nats * f
            diff = o.band_score - base
            detail = (f"baseline {base:.4f} {unit} from {json_baseline.path}: a JSON summary allows only "
                      "the point comparison, no interval")
            gates.append(GateResult(
                "max-regression", f"{what} rises by ≤ {spec.max_regression:g} {unit} over the baseline",
                spec.max_regression, diff, None, not _beyond_max(diff, None, spec.max_regression, False), detail))
        else:
            raise UsageError("--max-regression needs --baseline FILE (the baseline model's predictions or JSON)")
    if spec.max_ece_regression is not None:
        d = comparison.calibration.errors["ece"] if comparison is not None and comparison.calibration else None
        if d is None:
            raise UsageError("--max-ece-regression needs a baseline of predictions with hard labels")
        gates.append(GateResult(
            "max-ece-regression", f"ECE rises by ≤ {spec.max_ece_regression:g} over the baseline",
            spec.max_ece_regression, d.difference, d.ci95,
            not _beyond_max(d.difference, d.ci95, spec.max_ece_regression, sig),
            f"baseline {d.baseline:.4f}, candidate {d.candidate:.4f}; rows matched by {comparison.matched_by}"))
    gates += lm_gates(result, spec)

    if sig:
        notes.append("rule: --significant — a gate fails only when its whole 95% interval lies beyond the threshold")
    else:
        notes.append("rule: point estimate — a gate fails when the value (rounded to 4 decimals) is beyond the threshold")
    return CheckReport(result, tuple(gates), "significant" if sig else "point", comparison, tuple(notes))


def _rule_notes(sig: bool) -> tuple[str, ...]:
    if sig:
        return ("rule: --significant — a gate fails only when its whole 95% interval lies beyond the threshold",)
    return ("rule: point estimate — a gate fails when the value (rounded to 4 decimals) is beyond the threshold",)


def _lm_check(result: Result, spec: GateSpec, comparison: Comparison | None, json_baseline) -> CheckReport:
    """The gates of a language-model evaluation without classifier rows: its own, and a regression
    over a baseline of the same sequences (per-token cross-entropy, else bits per byte)."""
    gates = []
    if spec.max_regression is not None:
        if comparison is None:
            raise UsageError("--max-regression needs --baseline (the baseline model's sequences or run; a JSON "
                             "report allows only classifier figures)")
        d = comparison.score
        unit = result.unit if d.name == "cross_entropy" else "bits"
        what = "cross-entropy per token" if d.name == "cross_entropy" else "bits per byte"
        gates.append(GateResult(
            "max-regression", f"{what} rises by ≤ {spec.max_regression:g} {unit} over the baseline",
            spec.max_regression, d.difference, d.ci95,
            not _beyond_max(d.difference, d.ci95, spec.max_regression, spec.significant),
            f"baseline {d.baseline:.4f}, candidate {d.candidate:.4f} {unit}; matched by {comparison.matched_by}"))
    gates += lm_gates(result, spec)
    if not gates:
        spec.require_any()
    return CheckReport(result, tuple(gates), "significant" if spec.significant else "point", comparison,
                       _rule_notes(spec.significant))


def _threshold(spec: GateSpec, key: str, task: str | None):
    """A gate's threshold for a task: its own in the settings' [gates.tasks.<task>], else the general one."""
    if task is not None and key in spec.tasks.get(task, {}):
        return spec.tasks[task][key]
    return getattr(spec, key)


def lm_gates(result: Result, spec: GateSpec) -> list[GateResult]:
    """--min-acc (each multiple-choice task's acc, the harness's; or the accuracy over options),
    --max-bits-per-byte and --max-perplexity (a file's sequences, or each perplexity task: the
    harness's bits_per_byte and word_perplexity)."""
    lm, sig, out = result.lm, spec.significant, []
    asked = [k for k in LM_GATES if getattr(spec, k) is not None or any(k in t for t in spec.tasks.values())]
    if not asked:
        return out
    if lm is None:
        if asked == ["min_acc"] and result.classifier:
            o = result.overall  # multiple-choice answers in a table: acc is the accuracy over the options
            return [GateResult("min-acc", f"acc ≥ {spec.min_acc:g}", spec.min_acc, o.accuracy, o.accuracy_ci95,
                               not _below_min(o.accuracy, o.accuracy_ci95, spec.min_acc, sig))]
        raise UsageError(f"--{asked[0].replace('_', '-')} gates a language model's figures; {result.source.name} is a "
                         "classifier's predictions")
    unknown = sorted(set(spec.tasks) - {t.task for t in lm.tasks})
    if unknown:
        raise UsageError(f"the gates settings name task(s) the run does not have: {', '.join(map(quote, unknown))}; "
                         f"its tasks: {', '.join(quote(t.task) for t in lm.tasks) or 'none (a file of sequences)'}")
    for t in lm.tasks:
        if t.kind == "multiple_choice" and (x := _threshold(spec, "min_acc", t.task)) is not None:
            acc = t.harness["acc"]
            out.append(GateResult("min-acc", f"{t.task}: acc ≥ {x:g}", x, acc, t.accuracy_ci95,
                                  not _below_min(acc, t.accuracy_ci95, x, sig), f"{t.documents:,} documents"))
        if t.kind != "multiple_choice":
            if (x := _threshold(spec, "max_bits_per_byte", t.task)) is not None:
                bpb = t.harness["bits_per_byte"]
                ci = None if t.ci95 is None else (t.ci95[0] / UNITS[result.unit] / math.log(2),
                                                  t.ci95[1] / UNITS[result.unit] / math.log(2))
                out.append(GateResult("max-bits-per-byte", f"{t.task}: bits_per_byte ≤ {x:g}", x, bpb, ci,
                                      not _beyond_max(bpb, ci, x, sig)))
            if (x := _threshold(spec, "max_perplexity", t.task)) is not None:
                ppl = t.harness["word_perplexity"]
                out.append(GateResult("max-perplexity", f"{t.task}: word_perplexity ≤ {x:g}", x, ppl, None,
                                      not _beyond_max(ppl, None, x, False),
                                      "the harness's word perplexity (no interval)"))
    o = lm.overall
    if not lm.tasks and o is not None:
        if spec.max_bits_per_byte is not None:
            if o.bits_per_byte is None:
                raise UsageError(f"--max-bits-per-byte needs the bytes of each sequence: {result.source.name} has no "
                                 "'bytes' or 'text' column")
            out.append(GateResult("max-bits-per-byte", f"bits per byte ≤ {spec.max_bits_per_byte:g}",
                                  spec.max_bits_per_byte, o.bits_per_byte, o.bits_per_byte_ci95,
                                  not _beyond_max(o.bits_per_byte, o.bits_per_byte_ci95, spec.max_bits_per_byte, sig)))
        if spec.max_perplexity is not None:
            if o.perplexity is None:
                raise UsageError(f"--max-perplexity needs each sequence's tokens: {result.source.name} has no 'tokens' "
                                 "column (or one row per token)")
            out.append(GateResult("max-perplexity", f"perplexity ≤ {spec.max_perplexity:g}", spec.max_perplexity,
                                  o.perplexity, o.perplexity_ci95,
                                  not _beyond_max(o.perplexity, o.perplexity_ci95, spec.max_perplexity, sig)))
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
