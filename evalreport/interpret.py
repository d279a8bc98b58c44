"""Interpret: bands, baselines, verdicts and warnings from the merged statistics.

Bands are always decided on the band score in nats — the mean cross-entropy
for hard labels, the mean KL(P‖Q) for soft targets (the part of the loss the
model can still remove) — whatever unit the figures are shown in.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .compute import (
    CAL_EDGES,
    CONFIDENTLY_WRONG,
    FINE_EDGES,
    HIST_EDGES,
    Bootstrap,
    Stats,
    fit_temperature,
    histogram_quantile,
    MAX_BOOT_SLICES,
    intervals,
    paired_intervals,
    replicate_weights,
    top_rows_loss_share,
)
from .compute.bootstrap import headline
from .errors import FigureError, UsageError, opt, quote
from .ladder import DEFAULT_LADDER, UNITS, Band, Ladder  # noqa: F401 (re-exported)
from .load import MISSING_GROUP, LoadedInput
from .result import (
    Calibration,
    CalibrationBin,
    ClassRow,
    Comparison,
    Difference,
    ErrorEstimate,
    Histogram,
    LossConcentration,
    Overall,
    Result,
    RisingExample,
    SLICE_LABELS,
    SliceRow,
    WorstExample,
    shown_id,
)



#: Slices shown per --group-by column by default (the rest are folded into one "(other)" row), and the most
#: --max-slices may ask for.
MAX_SLICES = 100
MAX_SLICES_LIMIT = 10_000


def _band(ladder: Ladder, score_nats: float | None) -> tuple[str | None, str | None]:
    band = None if score_nats is None else ladder.band_for(score_nats)
    return (band.id, band.label) if band else (None, None)


def _ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


def build_result(
    stats: Stats,
    loaded: LoadedInput,
    ladder: Ladder = DEFAULT_LADDER,
    unit: str = "nats",
    options: dict | None = None,
    bootstrap: Bootstrap | None = None,
    max_slices: int = MAX_SLICES,
    sample_fits: bool = True,
) -> Result:
    """Turn merged statistics into the one result object every renderer reads.

    ``max_slices``: per --group-by column, the slices with the most weight shown;
    the rest are folded into one ``(other)`` row (with a warning).
    ``sample_fits=False``: a first result, at once, without what is fitted on the row sample (the
    decomposition, the row-sample calibration errors, the temperature fit, the per-slice
    miscalibration shares; those are None, NaN or left out) — to start drawing the charts
    that need none of it (see charts.ROW_SAMPLE_CHARTS). Its figures are not checked;
    :func:`with_sample_fits` completes it."""
    if unit not in UNITS:
        raise UsageError(f"{opt('unit')} must be 'nats' or 'bits', got {quote(unit)}")
    f = UNITS[unit]
    spec, soft = loaded.spec, loaded.layout.mode == "soft"
    classes = loaded.classes
    k = len(classes)
    boot = stats.boot if bootstrap else None
    v = replicate_weights(bootstrap) if boot is not None else None
    vh = replicate_weights(headline(bootstrap)) if boot is not None else None  # the overall figures'
    overall = _overall(stats, ladder, f, soft, spec.eps, k, vh)
    per_class = _per_class(stats, classes, ladder, f, soft, v)
    alerts = list(getattr(loaded, "alerts", ()))
    warnings = list(alerts)
    groups = {col: _slice_rows(stats, col, ladder, f, soft, v, max_slices, warnings) for col in spec.group_by}
    warnings += _warnings(stats, per_class, overall, spec.eps, unit, soft)
    hist_edges = [e * f if math.isfinite(e) else None for e in HIST_EDGES]
    verdict = _verdict(overall, unit, soft) + _in_context(overall, unit, k)
    first = Result(
        source=loaded.source,
        mode=loaded.layout.mode,
        rows=stats.rows,
        total_weight=stats.absolute(stats.weight),
        weighted=loaded.layout.weight_col is not None,
        unit=unit,
        classes=tuple(classes),
        eps=spec.eps,
        ladder=ladder,
        overall=overall,
        per_class=tuple(per_class),
        groups=groups,
        histogram=Histogram(edges=tuple(hist_edges), counts=tuple(int(c) for c in stats.hist)),
        confusion=stats.absolute(stats.confusion.copy()),
        worst=_worst_examples(stats, classes, f),
        warnings=tuple(warnings),
        verdict=verdict,
        calibration=_calibration(stats, classes, unit, vh),
        loss_concentration=_concentration(stats, classes, overall),
        decomposition=None,
        decomposition_text=decomposition_sentences(None, unit, overall.band_score),
        options=dict(options or {}),
        bootstrap={"replicates": bootstrap.replicates, "seed": bootstrap.seed} if boot is not None else None,
        alerts=tuple(alerts),
    )
    return with_sample_fits(first, stats, bootstrap) if sample_fits else first


def _overall(stats: Stats, ladder: Ladder, f: float, soft: bool, eps: float, k: int, vh) -> Overall:
    """The overall figures in the unit (factor ``f`` from nats), their intervals drawn with the
    headline replicate weights ``vh``."""
    boot = stats.boot if vh is not None else None

    def u(x: float | None) -> float | None:
        return None if x is None else x * f

    def ci(num, den, factor: float = f) -> tuple[float, float] | None:
        interval = intervals(num, den, vh)[0]
        return None if interval is None else (interval[0] * factor, interval[1] * factor)

    band_score = stats.mean_kl if soft else stats.mean_ce
    prior = stats.prior
    prior_ce = max(0.0, float(-np.sum(prior[prior > 0] * np.log(prior[prior > 0]))))  # one class: 0, not −0
    band_id, band_label = _band(ladder, band_score)
    skill_den = prior_ce - stats.mean_h
    prior_band, prior_label = _band(ladder, max(skill_den, 0.0) if soft else prior_ce)  # the prior's band score
    overall = Overall(
        cross_entropy=u(stats.mean_ce),
        log_loss=None if soft else u(stats.mean_ce),
        entropy=u(stats.mean_h),
        kl_divergence=u(stats.mean_kl),
        prediction_entropy=u(stats.pred_entropy / stats.weight),
        brier=stats.brier / stats.weight,
        accuracy=stats.accuracy,
        band=band_id,
        band_label=band_label,
        band_score=u(band_score),
        band_score_nats=band_score,
        geometric_mean_true_prob=math.exp(-stats.mean_ce),
        uniform_cross_entropy=u(math.log(k)),
        prior_cross_entropy=u(prior_ce),
        skill_vs_prior=(1.0 - stats.mean_kl / skill_den) if skill_den > 1e-15 else None,
        median_row_cross_entropy=u(histogram_quantile(stats.fine, 0.5, FINE_EDGES)),
        clipped_rows=stats.clipped,
        renormalized_rows=stats.renormalized,
        loss_cap=u(-math.log(eps)),
        band_score_ci95=ci(boot.score, boot.w) if boot else None,
        accuracy_ci95=ci(boot.correct, boot.w, 1.0) if boot else None,
        prior_band=prior_band,
        prior_band_label=prior_label,
    )
    return replace(overall, skill_vs_prior_ci95=_skill_interval(overall))


def _per_class(stats: Stats, classes, ladder: Ladder, f: float, soft: bool, v) -> list[ClassRow]:
    """One row per class, with its interval from the replicate weights ``v``."""
    k = len(classes)
    total_ce = stats.ce
    class_acc = stats.class_accuracy
    class_ci = intervals(stats.boot.class_score, stats.boot.class_w, v) if v is not None else [None] * k
    class_weight = stats.absolute(stats.class_weight)
    per_class = []
    for j, name in enumerate(classes):
        cw = stats.class_weight[j]
        ce_j = _ratio(stats.class_ce[j], cw)
        kl_j = _ratio(stats.class_kl[j], cw)
        b_id, b_label = _band(ladder, kl_j if soft else ce_j)
        support = stats.class_rows[j]
        per_class.append(
            ClassRow(
                name=name,
                support=float(support) if soft else int(round(support)),
                weight=float(class_weight[j]),
                cross_entropy=None if ce_j is None else ce_j * f,
                kl_divergence=None if kl_j is None else kl_j * f,
                band=b_id,
                band_label=b_label,
                loss_share=_ratio(stats.class_ce[j], total_ce) if total_ce > 0 else (0.0 if cw > 0 else None),
                accuracy=None if np.isnan(class_acc[j]) else float(class_acc[j]),
                ci95=_times(class_ci[j], f) if cw > 0 else None,
            )
        )
    return per_class


def _worst_examples(stats: Stats, classes, f: float) -> tuple[WorstExample, ...]:
    return tuple(
        WorstExample(
            row=r.row,
            id=shown_id(r.id)[0],
            id_length=shown_id(r.id)[1],
            true_class=classes[r.true_class],
            true_prob=r.true_prob,
            pred_class=classes[r.pred_class],
            pred_prob=r.pred_prob,
            cross_entropy=r.ce * f,
        )
        for r in stats.worst
    )


def _warnings(stats: Stats, per_class: list[ClassRow], overall: Overall, eps: float, unit: str,
              soft: bool) -> list[str]:
    """What the reader of the figures should know: clipped, rescaled, empty classes, soft targets,
    weights beyond floats."""
    warnings = []
    if stats.clipped:
        warnings.append(
            f"{stats.clipped} row(s) gave a true class a probability below eps={eps:.3g}; "
            f"it was clipped to eps, which caps each such row's loss at "
            f"{overall.loss_cap:z.2f} {unit}"
        )
    if stats.renormalized:
        warnings.append(
            f"{stats.renormalized} row(s) did not sum to 1 within 0.001 and were rescaled ({opt('renormalize', flag=True)})"
        )
    empty = [c.name for c in per_class if c.support == 0]
    if empty:
        shown = ", ".join(quote(n) for n in empty[:10]) + (", …" if len(empty) > 10 else "")
        warnings.append(f"{len(empty)} class(es) have a probability column but no rows: {shown}")
    if soft:
        warnings.append("soft targets: log_loss is not defined; the band is decided on the mean KL(P‖Q)")
    if not math.isfinite(stats.absolute(stats.weight)):
        warnings.append("the weights sum beyond the largest float (1.8e308): total_weight and the per-class and "
                        "per-slice weights are written as null; every figure uses the weights relative to each other")
    return warnings


def with_sample_fits(first: Result, stats: Stats, bootstrap: Bootstrap | None = None) -> Result:
    """The full result: a first one (``build_result(sample_fits=False)``) with what is fitted on
    the row sample — the decomposition, the calibration with the row-sample errors and the
    temperature fit, each shown slice's miscalibration share — every figure checked finite."""
    from concurrent.futures import ThreadPoolExecutor

    soft, unit, classes = first.mode == "soft", first.unit, first.classes
    v = replicate_weights(bootstrap) if bootstrap is not None and stats.boot is not None else None
    # the decomposition on a thread of its own while the calibration is fitted here: each reads the
    # sample and writes nothing shared (the same figures either way); numpy's loops leave the GIL
    with ThreadPoolExecutor(1, thread_name_prefix="evalreport-fits") as pool:
        fitting = pool.submit(_decomposition, stats, classes, unit, soft, v)
        calibration = _calibration_fits(first.calibration, stats, len(classes), unit, soft, v)
        groups = {col: _with_shares(stats, col, rows, soft) for col, rows in first.groups.items()}
        decomposition = fitting.result()
    result = replace(
        first,
        groups=groups,
        calibration=calibration,
        decomposition=decomposition,
        decomposition_text=decomposition_sentences(decomposition, unit, first.overall.band_score),
    )
    check_finite(result)
    return result


def _with_shares(stats: Stats, col: str, rows: list[SliceRow], soft: bool) -> list[SliceRow]:
    """The slice rows of ``col`` with their miscalibration shares (the shown values' own; the
    folded row's, (other), that of the values it folds)."""
    shown = [r for r in rows if r.kind != "other"]
    shares = _miscalibration_shares(stats, col, [r.value for r in shown], soft)
    return [replace(r, miscalibration_share=shares.get(FOLDED if r.kind == "other" else shown.index(r)))
            for r in rows]


def _times(interval, factor: float):
    return None if interval is None else (interval[0] * factor, interval[1] * factor)


def _slice_rows(stats: Stats, col: str, ladder: Ladder, f: float, soft: bool, v, max_slices: int,
                warnings: list[str]) -> list[SliceRow]:
    """The slices of one column: those with the most weight (ties: first seen first), in natural
    order, then one (other) row for the rest; intervals where block sums were kept (the
    miscalibration shares come later: :func:`_with_shares`)."""
    sl = stats.groups.get(col)
    if sl is None or not len(sl):
        return []
    table = sl.table
    n = len(sl)
    if MISSING_GROUP in sl.values:
        rows = int(table[sl.values.index(MISSING_GROUP), 0])
        warnings.append(f"column {quote(col)} ({opt('group_by')}): {rows:,} row(s) have no value; they form the "
                        f"slice '{SLICE_LABELS['missing']}', marked apart from the values")
    order = np.lexsort((np.arange(n), -table[:, 1]))
    shown, folded = order[:max_slices], order[max_slices:]
    blocks = sl.block_sums() if v is not None else None
    cis = intervals(blocks[1][shown], blocks[0][shown], v) if blocks is not None else [None] * len(shown)

    def row(value: str | None, sums, interval, folded_values: int = 0, ece=None, kind: str = "value") -> SliceRow:
        rows, weight, ce, h, kl, correct, brier = sums
        ce_m, kl_m = _ratio(ce, weight), _ratio(kl, weight)
        b_id, b_label = _band(ladder, kl_m if soft else ce_m)
        return SliceRow(value=value, rows=int(rows), weight=float(stats.absolute(float(weight))),
                        cross_entropy=None if ce_m is None else ce_m * f,
                        kl_divergence=None if kl_m is None else kl_m * f,
                        entropy=None if weight <= 0 else h / weight * f,
                        accuracy=_ratio(correct, weight), brier=_ratio(brier, weight), band=b_id,
                        band_label=b_label, ci95=_times(interval, f) if weight > 0 else None,
                        folded=folded_values, ece=ece, kind=kind)

    by_value = {sl.values[i]: row(sl.values[i], table[i], cis[j], ece=sl.ece([i]),
                                  kind="missing" if sl.values[i] is MISSING_GROUP else "value")
                for j, i in enumerate(shown)}
    out = [by_value[value] for value in _natural_order(by_value)]
    if len(folded):
        interval = intervals(blocks[1][folded].sum(axis=0), blocks[0][folded].sum(axis=0), v)[0] \
            if blocks is not None else None
        out.append(row(None, table[folded].sum(axis=0), interval, len(folded), sl.ece(folded), kind="other"))
        warnings.append(f"column {quote(col)} ({opt('group_by')}): {n:,} values; the {len(shown):,} with the most weight are shown, "
                        f"the other {len(folded):,} ({int(table[folded, 0].sum()):,} rows) are folded into "
                        f"'{SLICE_LABELS['other']}' ({opt('max_slices')})")
    if v is not None and blocks is None:
        warnings.append(f"column {quote(col)} ({opt('group_by')}): {n:,} values, so no per-slice intervals (they are computed for "
                        f"columns of at most {MAX_BOOT_SLICES:,} values)")
    return out


#: A slice's miscalibration share is computed when the row sample holds at least this many of its
#: rows: an isotonic fit on fewer finds "miscalibration" in noise.
MIN_SHARE_ROWS = 200


#: The key of the folded values' share in :func:`_miscalibration_shares`.
FOLDED = -1


def _miscalibration_shares(stats: Stats, col: str, shown: list[str | None], soft: bool) -> dict[int, float]:
    """Per slice value (by its position in ``shown``; FOLDED for the values not shown): the share
    of its log loss that is miscalibration (CORP MCB / score of the binary or top-label
    forecast), from the row sample's rows of that value; only for values with MIN_SHARE_ROWS rows
    in the sample."""
    if soft or stats.sample is None or not len(stats.sample.keys):
        return {}
    from .compute.decomposition import main_forecast, miscalibration_shares

    sample = stats.sample.compact()
    values = sample.slices[:, list(stats.groups).index(col)]
    position = {value: i for i, value in enumerate(shown)}  # None (no value) is a key like any other
    group = np.array([position.get(value, FOLDED) for value in values], dtype=np.intp)
    found = miscalibration_shares(*main_forecast(np.exp(sample.logq), sample.target), sample.w, group,
                                  MIN_SHARE_ROWS)
    return {FOLDED if code < 0 else int(code): share for code, share in found.items()}


def check_finite(r: Result) -> None:
    """Every figure must be a number: a NaN or ∞ here is a bug, and must reach the user as one
    (exit 3), never as a report — least of all as a passed gate."""
    items = [("overall", r.overall)] + [(f"per_class[{c.name!r}]", c) for c in r.per_class] + \
        [(f"groups[{col!r}][{s.value!r}]", s) for col, rows in r.groups.items() for s in rows]
    for where, item in items:
        for name, value in vars(item).items():
            if name in ("weight", "loss_cap"):
                continue  # weights in the input's units may exceed the largest float; they are not figures
            values = value if isinstance(value, tuple) else (value,)
            for x in values:
                if isinstance(x, float) and not math.isfinite(x):
                    raise FigureError(f"{where}.{name} is {x}")
    c = r.calibration
    if c is not None:
        fitted = ("cross_entropy_before", "cross_entropy_after", "loss_removed") if c.temperature is not None else ()
        for name in ("ece", "mce", *fitted):  # a first result has no temperature fit yet (NaN placeholders)
            x = getattr(c, name)
            if not math.isfinite(x):
                raise FigureError(f"calibration.{name} is {x}")
        for e in c.errors:
            for x in (e.value, e.floor, e.floor_high, *(e.ci95 or ())):
                if not math.isfinite(x):
                    raise FigureError(f"calibration.{e.key} (or its interval or floor) is {x}")


def _decomposition(stats: Stats, classes, unit: str, soft: bool, v=None):
    """The CORP decomposition on the row sample (every row up to its size), the log loss in the
    unit, with intervals from the bootstrap's replicate weights ``v``; None for soft targets (the
    outcomes are not 0/1) or without rows."""
    from .compute.bootstrap import row_replicate_counts
    from .compute.decomposition import decomposition, finite

    if soft or stats.sample is None:
        return None
    sample = stats.sample.compact()
    counts = row_replicate_counts(sample.keys, v) if v is not None else None
    d = decomposition(sample.logq, sample.target, sample.w, tuple(classes), stats.rows, counts)
    if d is None:
        return None
    if not finite(d):
        raise FigureError("a part of the score decomposition is not a number")
    f = UNITS[unit]

    def scaled(parts: dict) -> dict:
        return {**parts, "log_loss": parts["log_loss"].scaled(f)}

    return replace(d, binary=scaled(d.binary) if d.binary else None, top_label=scaled(d.top_label),
                   per_class={name: scaled(p) for name, p in d.per_class.items()})


def decomposition_sentences(d, unit: str, overall_score: float) -> tuple[str, ...]:
    """The decomposition in words: what the loss is made of, the Brier score alike, what to do."""
    if d is None:
        return ()
    binary = d.main == "binary"
    ll = (d.binary if binary else d.top_label)["log_loss"]
    br = (d.binary if binary else d.top_label)["brier"]
    share = ll.miscalibration / ll.score if ll.score > 0 else 0.0
    resolved = ll.discrimination / ll.uncertainty if ll.uncertainty > 0 else 0.0
    what = ("Of the" if binary else
            f"Scored as a yes/no forecast of whether the top class is right (its probability; the log loss "
            f"of that question is {ll.score:z.4f} {unit}, not the {overall_score:z.4f} {unit} over all classes): of the")
    ci = ll.ci95 or (None,) * 3

    def within(i: int) -> str:
        return f" [95% {ci[i][0]:z.4f}–{ci[i][1]:z.4f}]" if ci[i] else ""

    out = [
        f"{what} {ll.score:z.4f} {unit} of log loss, {ll.miscalibration:z.4f}{within(0)} ({share:.0%}) is miscalibration "
        f"that an isotonic map fitted on this data would remove — optimistic, as it is fitted in-sample. The forecasts "
        f"discriminate {ll.discrimination:z.4f}{within(1)} {unit} of the {ll.uncertainty:z.4f}{within(2)} {unit} of "
        f"uncertainty (the loss of always forecasting the base rate): they resolve {resolved:.0%} of it.",
        f"The Brier score alike: {br.score:z.4f} = {br.miscalibration:z.4f} miscalibration − {br.discrimination:z.4f} "
        f"discrimination + {br.uncertainty:z.4f} uncertainty.",
    ]
    if share >= 0.25:
        out.append("What to do: much of the loss is mis-scaled probabilities — fit a temperature or an isotonic map on "
                   "held-out data before anything else.")
    elif resolved < 0.25:
        out.append("What to do: the probabilities are about right for what the model knows, but it separates the "
                   "outcomes little — better features or a better model will lower the loss; recalibration will not.")
    else:
        out.append(f"What to do: calibration is not the problem ({share:.0%} of the loss); to lower the loss the model "
                   "must separate the outcomes better.")
    if d.sampled:
        se = ll.se or (math.nan,) * 3
        out.append(f"Computed on a uniform sample of {d.rows:,} of {d.total_rows:,} rows (standard errors: "
                   f"miscalibration ±{se[0]:z.4f}, discrimination ±{se[1]:z.4f}, uncertainty ±{se[2]:z.4f} {unit}).")
    return tuple(out)


def _skill_interval(o: Overall) -> tuple[float, float] | None:
    """The skill's 95% interval from the band score's, the prior's loss held fixed (it is the
    class frequencies of these very rows)."""
    if o.skill_vs_prior is None or o.band_score_ci95 is None:
        return None
    removable = o.prior_cross_entropy - o.entropy  # what the prior leaves to remove (unit)
    if removable <= 0:
        return None
    return 1 - o.band_score_ci95[1] / removable, 1 - o.band_score_ci95[0] / removable


def _skill_sentence(o: Overall, unit: str) -> str:
    """When the model is no better than always predicting the class frequencies — its skill over
    them at most 0, or its interval reaching 0 — say so beside the band, which is absolute: on rare
    classes the frequencies alone can score a good band."""
    if not o.no_skill:
        return ""
    ci = o.skill_vs_prior_ci95
    within = f" (95% interval {100 * ci[0]:z.0f}% to {100 * ci[1]:z.0f}%)" if ci else ""
    if o.skill_vs_prior <= 0:
        text = (f" The model is no better than always predicting the class frequencies: its skill over them is "
                f"{100 * o.skill_vs_prior:z.1f}%{within}.")
    else:
        text = (f" The model may be no better than always predicting the class frequencies: its skill over them, "
                f"{100 * o.skill_vs_prior:z.1f}%{within}, could be none.")
    if o.prior_band_label:
        text += (f" The frequencies alone score {o.prior_cross_entropy:z.4f} {unit}, '{o.prior_band_label}' on the "
                 "ladder — the ladder is absolute, and on rare classes a low loss is easy.")
    return text


def _verdict(o: Overall, unit: str, soft: bool) -> str:
    """One plain sentence that translates the score."""
    if soft:
        head = (
            f"The targets' own entropy, H(P) = {o.entropy:z.4f} {unit}, is a floor no model can go below; "
            f"the model adds KL(P‖Q) = {o.kl_divergence:z.4f} {unit} on top, and that part can still be removed."
        )
    else:
        head = (
            f"On average the model gives the true class a probability of "
            f"{100 * o.geometric_mean_true_prob:z.1f}% (the geometric mean, exp(−cross-entropy))."
        )
    base = (
        f" Guessing uniformly would score {o.uniform_cross_entropy:z.4f} {unit} and always predicting "
        f"the class frequencies {o.prior_cross_entropy:z.4f} {unit}"
    )
    if o.skill_vs_prior is None:
        return head + base + "."
    if o.no_skill:
        return head + base + "." + _skill_sentence(o, unit)
    return head + base + f"; the model removes {100 * o.skill_vs_prior:z.1f}% of the loss the prior leaves."



#: Bands bad enough that the verdict puts them in context of the task's difficulty (ids of the ladder).
_BAD_BANDS = ("not_great", "terrible", "broken")


def _in_context(o: Overall, unit: str, k: int) -> str:
    """The ladder is absolute; a hard task (many classes, noisy labels) can put a useful model in a bad
    band. When the model clearly beats always predicting the class frequencies — the skill's 95%
    interval, from the score's with the prior's loss held fixed, lies above 0 — say both."""
    if o.band not in _BAD_BANDS or o.skill_vs_prior_ci95 is None or o.skill_vs_prior is None:
        return ""
    lo, hi = o.skill_vs_prior_ci95
    if lo <= 0:
        return ""
    return (f" The ladder is absolute, and with {k} classes this is a hard task: the band measures how large the "
            f"loss is, while the model clearly beats the class frequencies — it removes {100 * o.skill_vs_prior:z.0f}% "
            f"of the loss they leave (95% interval {100 * lo:z.0f}–{100 * hi:z.0f}%).")


def _natural_order(values) -> list[str]:
    """Slice values in numeric order when they are all numbers, else as text; the slice of rows
    without a value last."""
    keys = [v for v in values if v is not MISSING_GROUP]
    for key in (int, float, str):  # whole numbers exactly (2**60 + 1 after 2**60), then any number, then text
        try:
            keys = sorted(keys, key=key)
            break
        except ValueError:
            continue
    return keys + [v for v in values if v is MISSING_GROUP]


def build_comparison(base: Result, cand: Result, base_stats: Stats, cand_stats: Stats, rising, matched_by: str) -> Comparison:
    """Differences candidate − baseline, overall, per class and per slice, with paired intervals."""
    f = UNITS[cand.unit]
    bb, cb = base_stats.boot, cand_stats.boot
    boot = Bootstrap(**cand.bootstrap) if cand.bootstrap and bb is not None and cb is not None else None
    v = replicate_weights(boot) if boot is not None else None
    vh = replicate_weights(headline(boot)) if boot is not None else None  # the overall differences'

    def paired(num_a, den_a, num_b, den_b, weights=v) -> list:
        if weights is None:
            return [None] * len(np.atleast_2d(num_a))
        return paired_intervals(num_a, den_a, num_b, den_b, weights)

    def diff(name, b, c, interval, factor=f, rows=None) -> Difference:
        d = None if b is None or c is None else c - b
        return Difference(name, b, c, d, _times(interval, factor), rows)

    if v is not None:
        score_ci, = paired(bb.score, bb.w, cb.score, cb.w, vh)
        accuracy_ci, = paired(bb.correct, bb.w, cb.correct, cb.w, vh)
        class_ci = paired(bb.class_score, bb.class_w, cb.class_score, cb.class_w)
    else:
        score_ci = accuracy_ci = None
        class_ci = [None] * len(cand.per_class)
    score = diff("band score", base.overall.band_score, cand.overall.band_score, score_ci)
    accuracy = replace(diff("accuracy", base.overall.accuracy, cand.overall.accuracy, accuracy_ci, factor=1.0),
                       higher_is_better=True)
    brier = diff("Brier", base.overall.brier, cand.overall.brier, None, factor=1.0)

    def item_score(item):
        return None if item is None else item.kl_divergence if cand.soft else item.cross_entropy

    per_class = tuple(
        diff(cls_b.name, item_score(cls_b), item_score(cls_c), class_ci[j] if cls_b.weight > 0 else None,
             rows=cls_b.support)
        for j, (cls_b, cls_c) in enumerate(zip(base.per_class, cand.per_class))
    )
    groups = {col: _slice_differences(col, base, cand, base_stats, cand_stats, v, diff, item_score)
              for col in cand.groups}
    classes = cand.classes
    rising_examples = tuple(
        RisingExample(r.row, shown_id(r.id)[0], classes[r.true_class], r.baseline * f, r.candidate * f,
                      r.increase * f, shown_id(r.id)[1])
        for r in rising
    )
    from .interpret_compare import calibration_comparison

    calibration = calibration_comparison(base, cand, base_stats, cand_stats, v, vh)
    return Comparison(base, cand, matched_by, score, accuracy, brier, per_class, groups, rising_examples,
                      calibration=calibration)


def _slice_differences(col, base: Result, cand: Result, base_stats: Stats, cand_stats: Stats, v, diff,
                       item_score) -> list[Difference]:
    """The candidate's slices of one column against the baseline's same values, with paired
    intervals where both sides kept block sums (a value one side lacks has no difference)."""
    by_value = {(s.kind, s.value): s for s in base.groups.get(col, [])}
    slices = cand.groups[col]
    intervals_by_value: dict[str | None, tuple | None] = {}
    sb, sc = base_stats.groups.get(col), cand_stats.groups.get(col)
    blocks_b = sb.block_sums() if v is not None and sb is not None else None
    blocks_c = sc.block_sums() if v is not None and sc is not None else None
    if blocks_b is not None and blocks_c is not None:
        pos_b, pos_c = {x: i for i, x in enumerate(sb.values)}, {x: i for i, x in enumerate(sc.values)}
        both = [s.value for s in slices
                if s.kind != "other" and s.value in pos_b and s.value in pos_c and s.weight > 0]
        ib, ic = [pos_b[x] for x in both], [pos_c[x] for x in both]
        found = paired_intervals(blocks_b[1][ib], blocks_b[0][ib], blocks_c[1][ic], blocks_c[0][ic], v) if both else []
        intervals_by_value = dict(zip(both, found))
    return [replace(diff(s.label, item_score(by_value.get((s.kind, s.value))), item_score(s),
                         intervals_by_value.get(s.value) if s.kind != "other" else None, rows=s.rows), kind=s.kind)
            for s in slices]


#: One-vs-rest reliability curves are kept for this many of the worst-calibrated classes.
OVR_CLASSES = 4


def _calibration(stats: Stats, classes, unit: str, v=None) -> Calibration:
    """Calibration from the reduced sums alone (a first result's): the ECE with its interval and
    floor, the bins, the one-vs-rest errors; no temperature fit or row-sample errors yet (see
    :func:`_calibration_fits`)."""
    from .compute.calibration_error import ece_noise_floor

    w, conf, correct, rows, var = stats.cal
    total = w.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_b = np.where(w > 0, correct / np.where(w > 0, w, 1), np.nan)
        conf_b = np.where(w > 0, conf / np.where(w > 0, w, 1), np.nan)
    gaps = np.abs(acc_b - conf_b)
    ece = float(np.nansum(w / total * gaps))
    floor, floor_high = ece_noise_floor(w, var)
    ece_ci = None
    if v is not None and stats.boot is not None and stats.boot.cal is not None:
        from .compute.bootstrap import ece_interval

        ece_ci = ece_interval(stats.boot.cal, v)
    errors = (_estimate("ece", "ECE, 15 equal-width bins", ece, ece_ci, floor, floor_high),)
    mce = float(np.nanmax(gaps)) if (w > 0).any() else 0.0
    bins = tuple(
        CalibrationBin(float(CAL_EDGES[b]), float(CAL_EDGES[b + 1]), int(rows[b]), float(stats.absolute(float(w[b]))),
                       None if w[b] == 0 else float(acc_b[b]), None if w[b] == 0 else float(conf_b[b]))
        for b in range(len(w))
    )
    ow, oq, op = stats.ovr
    class_err = np.abs(op - oq).sum(axis=1) / total
    per_class = tuple((name, float(e)) for name, e in zip(classes, class_err))
    worst = np.argsort(-class_err, kind="stable")[:OVR_CLASSES]
    with np.errstate(invalid="ignore", divide="ignore"):
        class_bins = {
            classes[j]: (
                [None if ow[j, b] == 0 else float(op[j, b] / ow[j, b]) for b in range(ow.shape[1])],
                [None if ow[j, b] == 0 else float(oq[j, b] / ow[j, b]) for b in range(ow.shape[1])],
                [float(x) for x in ow[j]],
            )
            for j in worst
        }

    return Calibration(ece=ece, mce=mce, bins=bins, per_class=per_class, class_bins=class_bins, total_rows=stats.rows,
                       errors=errors, ece_sentence=_ece_sentence(errors), temperature=None,
                       cross_entropy_before=math.nan, cross_entropy_after=math.nan, loss_removed=math.nan,
                       loss_removed_share=math.nan, fit_rows=0, standard_error=None, sentence="")


def _calibration_fits(c: Calibration, stats: Stats, k: int, unit: str, soft: bool, v=None) -> Calibration:
    """A first result's calibration ``c`` with what is fitted on the row sample: the temperature
    and, for hard labels, the three row-sample errors (their intervals and floors)."""
    f = UNITS[unit]
    errors, sweep_bins = c.errors, None
    if not soft and stats.sample is not None and len(stats.sample.keys):
        found, bins = _row_errors(stats.sample.compact(), v)
        errors += tuple(found)
        sweep_bins = bins if found else None
    counts = None
    if v is not None and stats.sample is not None and len(stats.sample.keys):
        from .compute.bootstrap import row_replicate_counts

        counts = row_replicate_counts(stats.sample.compact().keys, v)
    fit = fit_temperature(stats.sample, stats.rows, counts)
    removed = fit.cross_entropy_before - fit.cross_entropy_after
    removable = fit.cross_entropy_before - (stats.mean_h if soft else 0.0)
    share = removed / removable if removable > 0 else 0.0
    return replace(
        c,
        errors=errors,
        ece_sentence=_ece_sentence(errors),
        sweep_bins=sweep_bins,
        temperature=fit.temperature,
        cross_entropy_before=fit.cross_entropy_before * f,
        cross_entropy_after=fit.cross_entropy_after * f,
        loss_removed=removed * f,
        loss_removed_share=share,
        fit_rows=fit.rows,
        standard_error=None if fit.standard_error is None else fit.standard_error * f,
        sentence=_temperature_sentence(fit, removed * f, share, unit, stats.rows, k, f),
        temperature_ci95=fit.ci95,
        loss_removed_floor=fit.removed_floor * f,
        temperature_within_noise=fit.within_noise,
    )


def error_reading(value: float, ci, floor_high: float) -> str:
    """What a calibration error says against its noise floor's 95th percentile."""
    if value <= floor_high:
        return "no evidence of miscalibration"
    if ci and ci[0] <= floor_high:
        return "probably miscalibrated; the interval reaches what chance gives"
    return "miscalibrated beyond chance"


def _estimate(key: str, name: str, value: float, ci, floor: float, floor_high: float) -> ErrorEstimate:
    return ErrorEstimate(key, name, value, ci, floor, floor_high, error_reading(value, ci, floor_high))


def _row_errors(sample, v) -> tuple[list[ErrorEstimate], int]:
    """The calibration errors that need the rows (on the row sample): debiased L2, equal-mass
    ECE, sweep ECE — each with the bootstrap's 95% interval (the run's replicate weights, as
    every sampled row's block gets them) and its noise floor (draws of a calibrated model)."""
    from .compute.bootstrap import row_replicate_counts, spread
    from .compute.calibration_error import SortedTop, debiased_l2_ce, equal_mass_ece, sweep_ece, top_label_forecast

    q = np.exp(sample.logq)
    conf, right = top_label_forecast(q, sample.target)
    sweep, bins = sweep_ece(conf, right)
    values = (debiased_l2_ce(q, sample.target), equal_mass_ece(conf, right), sweep)
    if values[0] is None:  # fewer than two rows
        return [], bins
    top = SortedTop.of(q, sample.target)
    draws = top.errors(row_replicate_counts(sample.keys, v)) if v is not None else None
    cis = [spread(draws[:, i], values[i]) for i in range(3)] if draws is not None else [None] * 3
    floors = top.floor_draws()
    names = ("Debiased L2 calibration error", "ECE, 15 equal-mass bins", f"ECE, sweep ({bins} equal-mass bins)")
    keys = ("debiased_l2_ce", "ece_equal_mass", "ece_sweep")
    return [_estimate(key, name, float(x), ci, float(np.nanmean(f)), float(np.nanpercentile(f, 95)))
            for key, name, x, ci, f in zip(keys, names, values, cis, floors.T)], bins


def _ece_sentence(errors: tuple[ErrorEstimate, ...]) -> str:
    e = errors[0]
    where = f" [95% {e.ci95[0]:z.3f}–{e.ci95[1]:z.3f}]" if e.ci95 else ""
    text = (f"ECE {e.value:z.3f}{where}; a perfectly calibrated model would show about {e.floor:z.3f} here (95% of "
            f"such models below {e.floor_high:z.3f}) from the noise of this many rows alone: {e.reading}.")
    debiased = next((x for x in errors if x.key == "debiased_l2_ce"), None)
    if debiased is not None:
        text += (f" The debiased L2 calibration error (Kumar et al. 2019: the binned squared gaps less what noise "
                 f"adds) is {debiased.value:z.3f}.")
    return text


def _temperature_sentence(fit, removed: float, share: float, unit: str, rows: int, k: int, f: float) -> str:
    before, after = fit.cross_entropy_before * f, fit.cross_entropy_after * f
    if math.isinf(fit.temperature):
        text = (
            f"The predictions are worse than guessing uniformly: the best temperature flattens them all the way "
            f"to 1/{k} (T → ∞), which would lower the cross-entropy from {before:z.4f} to {after:z.4f} {unit}. "
            "Recalibration cannot make such a model useful; the model itself needs fixing."
        )
    else:
        t = fit.temperature
        ci = f" (95% interval {fit.ci95[0]:z.3f}–{fit.ci95[1]:z.3f})" if fit.ci95 else ""
        if fit.within_noise:
            why = ("its interval covers 1" if fit.ci95 and fit.ci95[0] <= 1 <= fit.ci95[1] else
                   f"the {removed:z.4f} {unit} it would remove is no more than fitting T removes from a calibrated "
                   f"model's rows by chance (9,999 in 10,000 of them below {fit.removed_floor * f:z.4f} {unit})")
            text = (f"The best temperature is T = {t:z.3f}{ci}: within noise — scaling would remove nothing "
                    f"measurable, as {why}.")
        else:
            kind = ("under-confident: its probabilities should be sharper" if t < 1 else
                    "over-confident: its probabilities should be softer")
            text = (
                f"The best temperature is T = {t:z.3f}{ci}, so the model is {kind}. Dividing its log-probabilities "
                f"by T would lower the cross-entropy from {before:z.4f} to {after:z.4f} {unit}, removing "
                f"{removed:z.4f} {unit} ({100 * share:z.1f}% of what is removable) with one parameter fitted after "
                "training."
            )
    text += (
        " T is measured on this evaluation data itself, so this is an optimistic estimate of what "
        "recalibration fitted on held-out data would remove."
    )
    if fit.standard_error is not None:
        text += (
            f" Fitted on a uniform sample of {fit.rows:,} of {rows:,} rows; the cross-entropy after scaling is "
            f"known to ±{1.96 * fit.standard_error * f:z.4f} {unit} (95%)."
        )
    return text


#: A mean loss this many times the median row's says a few rows carry much of the loss.
HEAVY_TAIL_RATIO = 2.0
#: The worst 10% of rows carrying more than this share of the loss "dominate" it.
DOMINATED_SHARE = 0.5


def _concentration(stats: Stats, classes, overall: Overall) -> LossConcentration:
    thresholds, per_class = [], []
    for j, t in enumerate(CONFIDENTLY_WRONG):
        thresholds.append({
            "below": t,
            "rows": int(stats.wrong_rows[j].sum()),
            "rows_share": float(stats.wrong_rows[j].sum() / stats.rows),
            "loss_share": float(stats.wrong_loss[j].sum() / stats.ce) if stats.ce > 0 else 0.0,
        })
    for k, name in enumerate(classes):
        entry = {"class": name}
        for j, t in enumerate(CONFIDENTLY_WRONG):
            key = f"below_{t:g}".replace(".", "_")
            entry[key] = {
                "rows": int(stats.wrong_rows[j, k]),
                "loss_share": float(stats.wrong_loss[j, k] / stats.class_ce[k]) if stats.class_ce[k] > 0 else None,
            }
        per_class.append(entry)
    worst_10pct = top_rows_loss_share(stats.fine, stats.fine_loss, 0.10)
    median = overall.median_row_cross_entropy
    return LossConcentration(
        worst_1pct_share=top_rows_loss_share(stats.fine, stats.fine_loss, 0.01),
        worst_10pct_share=worst_10pct,
        heavy_tail=median is not None and overall.cross_entropy > HEAVY_TAIL_RATIO * median,
        dominated=worst_10pct > DOMINATED_SHARE,
        thresholds=tuple(thresholds),
        per_class=tuple(per_class),
    )
