"""Interpret two models on the same rows: how their calibration differs, with paired intervals.

Both sides' rows are matched (by id or position) before anything is reduced, so their bootstrap
blocks and their row samples are the same rows: every replicate reweights the same rows on both
sides, and a difference's interval is the percentile interval of the replicates' differences.

- the ECE of 15 equal-width bins: from the per-(bin, block) sums of each side;
- the row-sample errors (debiased L2, equal-mass ECE, sweep ECE) and the CORP decomposition of the
  main forecast (MCB, DSC, UNC of its log loss): refitted on each replicate of the row sample.
"""

from __future__ import annotations

import numpy as np

from .ladder import UNITS
from .result import CalibrationComparison, Difference

#: The four calibration errors, as the report names them.
ERROR_NAMES = {"ece": "ECE, 15 equal-width bins", "debiased_l2_ce": "Debiased L2 calibration error",
               "ece_equal_mass": "ECE, 15 equal-mass bins", "ece_sweep": "ECE, sweep (equal-mass bins)"}
PART_NAMES = ("miscalibration", "discrimination", "uncertainty")


def _interval(draws: np.ndarray) -> tuple[float, float] | None:
    """The 95% percentile interval of paired replicate differences (NaNs left out)."""
    draws = draws[np.isfinite(draws)]
    if len(draws) < 2:
        return None
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


def _diff(name: str, a: float | None, b: float | None, ci, rows=None) -> Difference:
    return Difference(name, a, b, None if a is None or b is None else b - a, ci, rows)


def calibration_comparison(base, cand, sb, sc, v, vh=None) -> CalibrationComparison | None:
    """The calibration of two results on the same rows (``sb``, ``sc``: their Stats; ``v``: the
    replicate weights, or None without a bootstrap; ``vh``: the overall figures' weights, for the
    ECE from the bins' block sums). None for soft targets (no 0/1 outcomes)."""
    vh = v if vh is None else vh
    if cand.soft or base.calibration is None or cand.calibration is None:
        return None
    errors = {}
    ci = None
    if v is not None and sb.boot is not None and sc.boot is not None and sb.boot.cal is not None \
            and sc.boot.cal is not None:
        from .compute.bootstrap import ece_replicates

        ci = _interval(ece_replicates(sc.boot.cal, vh) - ece_replicates(sb.boot.cal, vh))
    errors["ece"] = _diff(ERROR_NAMES["ece"], base.calibration.ece, cand.calibration.ece, ci)
    parts, forecast = {}, None
    same_rows = (sb.sample is not None and sc.sample is not None and len(sb.sample.keys)
                 and np.array_equal(np.sort(sb.sample.compact().keys), np.sort(sc.sample.compact().keys)))
    if same_rows:
        row_errors, parts, forecast = _row_sample(sb.sample.compact(), sc.sample.compact(), v, UNITS[cand.unit])
        errors |= row_errors
    return CalibrationComparison(errors, parts, forecast)


def _aligned(a, b):
    """The second sample's rows in the first's order (both hold the same rows, by their keys)."""
    order_a, order_b = np.argsort(a.keys, kind="stable"), np.argsort(b.keys, kind="stable")
    position = np.empty(len(a.keys), dtype=np.intp)
    position[order_a] = order_b
    return position


def _row_sample(a, b, v, f: float):
    """The row-sample errors and the decomposition's parts of both sides, and their paired
    differences (each replicate weighting the same rows on both sides)."""
    from .compute.bootstrap import row_replicate_counts
    from .compute.calibration_error import SortedTop, debiased_l2_ce, equal_mass_ece, sweep_ece, top_label_forecast
    from .compute.decomposition import Forecasts, main_forecast, replicate_parts

    at = _aligned(a, b)
    sides = [(np.exp(a.logq), a.target, a.w), (np.exp(b.logq[at]), b.target[at], b.w[at])]
    counts = row_replicate_counts(a.keys, v) if v is not None else None
    values, draws, parts, part_draws = [], [], [], []
    for q, target, w in sides:
        conf, right = top_label_forecast(q, target)
        values.append((debiased_l2_ce(q, target), equal_mass_ece(conf, right), sweep_ece(conf, right)[0]))
        draws.append(SortedTop.of(q, target).errors(counts) if counts is not None else None)
        fc = Forecasts(*main_forecast(q, target))
        parts.append(fc.parts(w[fc.order])["log_loss"][1:])
        part_draws.append(replicate_parts(fc, w, counts)["log_loss"] if counts is not None else None)
    errors = {}
    for i, key in enumerate(("debiased_l2_ce", "ece_equal_mass", "ece_sweep")):
        va, vb = values[0][i], values[1][i]
        if va is None or vb is None:
            continue
        ci = _interval(draws[1][:, i] - draws[0][:, i]) if counts is not None else None
        errors[key] = _diff(ERROR_NAMES[key], float(va), float(vb), ci)
    out = {}
    for i, name in enumerate(PART_NAMES):
        ci = None
        if counts is not None and len(part_draws[0]) == len(part_draws[1]):
            ci = _interval(part_draws[1][:, i] - part_draws[0][:, i])
            ci = None if ci is None else (ci[0] * f, ci[1] * f)
        d = _diff(name, parts[0][i] * f, parts[1][i] * f, ci)
        out[name] = Difference(d.name, d.baseline, d.candidate, d.difference, d.ci95, d.rows,
                               higher_is_better=name == "discrimination")
    return errors, out, "binary" if sides[0][0].shape[1] == 2 else "top_label"
