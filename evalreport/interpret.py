"""Interpret: bands, baselines, verdicts and warnings from the merged statistics.

Bands are always decided on the band score in nats — the mean cross-entropy
for hard labels, the mean KL(P‖Q) for soft targets (the part of the loss the
model can still remove) — whatever unit the figures are shown in.
"""

from __future__ import annotations

import math

import numpy as np

from .compute import (
    CAL_EDGES,
    CONFIDENTLY_WRONG,
    HIST_EDGES,
    Bootstrap,
    Stats,
    fit_temperature,
    histogram_quantile,
    paired_interval,
    percentile_interval,
    top_rows_loss_share,
)
from .errors import UsageError, quote
from .ladder import DEFAULT_LADDER, UNITS, Band, Ladder  # noqa: F401 (re-exported)
from .load import LoadedInput
from .result import (
    Calibration,
    CalibrationBin,
    ClassRow,
    Comparison,
    Difference,
    Histogram,
    LossConcentration,
    Overall,
    Result,
    RisingExample,
    SliceRow,
    WorstExample,
)



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
) -> Result:
    """Turn merged statistics into the one result object every renderer reads."""
    if unit not in UNITS:
        raise UsageError(f"--unit must be 'nats' or 'bits', got '{unit}'")
    f = UNITS[unit]
    spec, soft = loaded.spec, loaded.layout.mode == "soft"
    classes = loaded.classes
    k = len(classes)

    def u(x: float | None) -> float | None:
        return None if x is None else x * f

    def ci(num, den, factor: float = f) -> tuple[float, float] | None:
        interval = percentile_interval(num, den)
        return None if interval is None else (interval[0] * factor, interval[1] * factor)

    boot = stats.boot.replicates(bootstrap) if stats.boot is not None and bootstrap else None

    band_score = stats.mean_kl if soft else stats.mean_ce
    prior = stats.prior
    prior_ce = float(-np.sum(prior[prior > 0] * np.log(prior[prior > 0])))
    uniform_ce = math.log(k)
    band_id, band_label = _band(ladder, band_score)
    skill_den = prior_ce - stats.mean_h
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
        uniform_cross_entropy=u(uniform_ce),
        prior_cross_entropy=u(prior_ce),
        skill_vs_prior=(1.0 - stats.mean_kl / skill_den) if skill_den > 1e-15 else None,
        median_row_cross_entropy=u(histogram_quantile(stats.hist, 0.5)),
        clipped_rows=stats.clipped,
        renormalized_rows=stats.renormalized,
        loss_cap=u(-math.log(spec.eps)),
        band_score_ci95=ci(boot.score, boot.w) if boot else None,
        accuracy_ci95=ci(boot.correct, boot.w, 1.0) if boot else None,
    )

    total_ce = stats.ce
    class_acc = stats.class_accuracy
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
                weight=float(cw),
                cross_entropy=u(ce_j),
                kl_divergence=u(kl_j),
                band=b_id,
                band_label=b_label,
                loss_share=_ratio(stats.class_ce[j], total_ce) if total_ce > 0 else (0.0 if cw > 0 else None),
                accuracy=None if np.isnan(class_acc[j]) else float(class_acc[j]),
                ci95=ci(boot.class_score[j], boot.class_w[j]) if boot and cw > 0 else None,
            )
        )

    groups = {}
    for col in spec.group_by:
        values = stats.groups.get(col, {})
        slices = []
        for value in _natural_order(values):
            rows, weight, ce, h, kl, correct, brier = values[value]
            ce_m, kl_m = _ratio(ce, weight), _ratio(kl, weight)
            b_id, b_label = _band(ladder, kl_m if soft else ce_m)
            slices.append(
                SliceRow(
                    value=value,
                    rows=int(rows),
                    weight=float(weight),
                    cross_entropy=u(ce_m),
                    kl_divergence=u(kl_m),
                    entropy=u(_ratio(h, weight)),
                    accuracy=_ratio(correct, weight),
                    brier=_ratio(brier, weight),
                    band=b_id,
                    band_label=b_label,
                    ci95=ci(boot.groups[col][value][1], boot.groups[col][value][0]) if boot and weight > 0 else None,
                )
            )
        groups[col] = slices

    worst = [
        WorstExample(
            row=r.row,
            id=r.id,
            true_class=classes[r.true_class],
            true_prob=r.true_prob,
            pred_class=classes[r.pred_class],
            pred_prob=r.pred_prob,
            cross_entropy=r.ce * f,
        )
        for r in stats.worst
    ]

    warnings = []
    if stats.clipped:
        warnings.append(
            f"{stats.clipped} row(s) gave a true class a probability below eps={spec.eps:.3g}; "
            f"it was clipped to eps, which caps each such row's loss at "
            f"{overall.loss_cap:.2f} {unit}"
        )
    if stats.renormalized:
        warnings.append(
            f"{stats.renormalized} row(s) did not sum to 1 within 0.001 and were rescaled (--renormalize)"
        )
    empty = [c.name for c in per_class if c.weight == 0]
    if empty:
        shown = ", ".join(quote(n) for n in empty[:10]) + (", …" if len(empty) > 10 else "")
        warnings.append(f"{len(empty)} class(es) have a probability column but no rows: {shown}")
    if soft:
        warnings.append("soft targets: log_loss is not defined; the band is decided on the mean KL(P‖Q)")

    hist_edges = [e * f if math.isfinite(e) else None for e in HIST_EDGES]
    verdict = _verdict(overall, unit, soft)
    return Result(
        source=loaded.source,
        mode=loaded.layout.mode,
        rows=stats.rows,
        total_weight=stats.weight,
        weighted=loaded.layout.weight_col is not None,
        unit=unit,
        classes=tuple(classes),
        eps=spec.eps,
        ladder=ladder,
        overall=overall,
        per_class=tuple(per_class),
        groups=groups,
        histogram=Histogram(edges=tuple(hist_edges), counts=tuple(int(c) for c in stats.hist)),
        confusion=stats.confusion.copy(),
        worst=tuple(worst),
        warnings=tuple(warnings),
        verdict=verdict,
        calibration=_calibration(stats, classes, unit, soft),
        loss_concentration=_concentration(stats, classes, overall),
        options=dict(options or {}),
        bootstrap={"replicates": bootstrap.replicates, "seed": bootstrap.seed} if boot and bootstrap else None,
    )


def _verdict(o: Overall, unit: str, soft: bool) -> str:
    """One plain sentence that translates the score."""
    if soft:
        head = (
            f"The targets' own entropy, H(P) = {o.entropy:.4f} {unit}, is a floor no model can go below; "
            f"the model adds KL(P‖Q) = {o.kl_divergence:.4f} {unit} on top, and that part can still be removed."
        )
    else:
        head = (
            f"On average the model gives the true class a probability of "
            f"{100 * o.geometric_mean_true_prob:.1f}% (the geometric mean, exp(−cross-entropy))."
        )
    base = (
        f" Guessing uniformly would score {o.uniform_cross_entropy:.4f} {unit} and always predicting "
        f"the class frequencies {o.prior_cross_entropy:.4f} {unit}"
    )
    if o.skill_vs_prior is None:
        return head + base + "."
    if o.skill_vs_prior >= 0:
        return head + base + f"; the model removes {100 * o.skill_vs_prior:.1f}% of the loss the prior leaves."
    return head + base + "; the model does worse than predicting the class frequencies."



def _natural_order(values) -> list[str]:
    """Slice values in numeric order when they are all numbers, else as text."""
    keys = list(values)
    try:
        return sorted(keys, key=float)
    except ValueError:
        return sorted(keys)


def build_comparison(base: Result, cand: Result, base_stats: Stats, cand_stats: Stats, rising, matched_by: str) -> Comparison:
    """Differences candidate − baseline, overall, per class and per slice, with paired intervals."""
    f = UNITS[cand.unit]
    reps = None
    if cand.bootstrap and base_stats.boot is not None and cand_stats.boot is not None:
        setting = Bootstrap(**cand.bootstrap)
        reps = (base_stats.boot.replicates(setting), cand_stats.boot.replicates(setting))

    def paired(field: str = "score", index=None):
        return paired_interval(*reps, field, index) if reps else None

    def diff(name, b, c, interval, factor=f, rows=None) -> Difference:
        d = None if b is None or c is None else c - b
        ci = None if interval is None else (interval[0] * factor, interval[1] * factor)
        return Difference(name, b, c, d, ci, rows)

    score = diff("band score", base.overall.band_score, cand.overall.band_score,
                 paired("score"))
    accuracy = diff("accuracy", base.overall.accuracy, cand.overall.accuracy,
                    paired("correct"), factor=1.0)
    brier = diff("Brier", base.overall.brier, cand.overall.brier, None, factor=1.0)

    def item_score(item):
        return item.kl_divergence if cand.soft else item.cross_entropy

    per_class = tuple(
        diff(cb.name, item_score(cb), item_score(cc),
             paired(index=j) if cb.weight > 0 else None, rows=cb.support)
        for j, (cb, cc) in enumerate(zip(base.per_class, cand.per_class))
    )
    groups = {}
    for col in cand.groups:
        by_value = {s.value: s for s in base.groups[col]}
        groups[col] = [
            diff(sc.value, item_score(by_value[sc.value]), item_score(sc),
                 paired(index=(col, sc.value)) if sc.weight > 0 else None,
                 rows=sc.rows)
            for sc in cand.groups[col]
        ]
    classes = cand.classes
    rising_examples = tuple(
        RisingExample(r.row, r.id, classes[r.true_class], r.baseline * f, r.candidate * f, r.increase * f)
        for r in rising
    )
    return Comparison(base, cand, matched_by, score, accuracy, brier, per_class, groups, rising_examples)


#: One-vs-rest reliability curves are kept for this many of the worst-calibrated classes.
OVR_CLASSES = 4


def _calibration(stats: Stats, classes, unit: str, soft: bool) -> Calibration:
    f = UNITS[unit]
    w, conf, correct, rows = stats.cal
    total = w.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_b = np.where(w > 0, correct / np.where(w > 0, w, 1), np.nan)
        conf_b = np.where(w > 0, conf / np.where(w > 0, w, 1), np.nan)
    gaps = np.abs(acc_b - conf_b)
    ece = float(np.nansum(w / total * gaps))
    mce = float(np.nanmax(gaps)) if (w > 0).any() else 0.0
    bins = tuple(
        CalibrationBin(float(CAL_EDGES[b]), float(CAL_EDGES[b + 1]), int(rows[b]), float(w[b]),
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

    fit = fit_temperature(stats.sample, stats.rows)
    removed = fit.cross_entropy_before - fit.cross_entropy_after
    removable = fit.cross_entropy_before - (stats.mean_h if soft else 0.0)
    share = removed / removable if removable > 0 else 0.0
    return Calibration(
        ece=ece,
        mce=mce,
        bins=bins,
        per_class=per_class,
        class_bins=class_bins,
        temperature=fit.temperature,
        cross_entropy_before=fit.cross_entropy_before * f,
        cross_entropy_after=fit.cross_entropy_after * f,
        loss_removed=removed * f,
        loss_removed_share=share,
        fit_rows=fit.rows,
        total_rows=stats.rows,
        standard_error=None if fit.standard_error is None else fit.standard_error * f,
        sentence=_temperature_sentence(fit, removed * f, share, unit, stats.rows, len(classes), f),
    )


def _temperature_sentence(fit, removed: float, share: float, unit: str, rows: int, k: int, f: float) -> str:
    before, after = fit.cross_entropy_before * f, fit.cross_entropy_after * f
    if math.isinf(fit.temperature):
        text = (
            f"The predictions are worse than guessing uniformly: the best temperature flattens them all the way "
            f"to 1/{k} (T → ∞), which would lower the cross-entropy from {before:.4f} to {after:.4f} {unit}. "
            "Recalibration cannot make such a model useful; the model itself needs fixing."
        )
    else:
        t = fit.temperature
        if abs(t - 1) < 0.02:
            kind = "well calibrated in this sense: scaling its log-probabilities would change little"
        elif t < 1:
            kind = "under-confident: its probabilities should be sharper"
        else:
            kind = "over-confident: its probabilities should be softer"
        text = (
            f"The best temperature is T = {t:.3f}, so the model is {kind}. Dividing its log-probabilities by T "
            f"would lower the cross-entropy from {before:.4f} to {after:.4f} {unit}, removing {removed:.4f} {unit} "
            f"({100 * share:.1f}% of what is removable) with one parameter fitted after training."
        )
    text += (
        " T is measured on this evaluation data itself, so this is an optimistic estimate of what "
        "recalibration fitted on held-out data would remove."
    )
    if fit.standard_error is not None:
        text += (
            f" Fitted on a uniform sample of {fit.rows:,} of {rows:,} rows; the cross-entropy after scaling is "
            f"known to ±{1.96 * fit.standard_error * f:.4f} {unit} (95%)."
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
    worst_10pct = top_rows_loss_share(stats.hist, stats.hist_loss, 0.10)
    median = overall.median_row_cross_entropy
    return LossConcentration(
        worst_1pct_share=top_rows_loss_share(stats.hist, stats.hist_loss, 0.01),
        worst_10pct_share=worst_10pct,
        heavy_tail=median is not None and overall.cross_entropy > HEAVY_TAIL_RATIO * median,
        dominated=worst_10pct > DOMINATED_SHARE,
        thresholds=tuple(thresholds),
        per_class=tuple(per_class),
    )
