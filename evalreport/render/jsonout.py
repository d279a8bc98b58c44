"""JSON output. Keys listed in CONTRACT.md are stable; more keys may be added.

Schema history:
- 1: first version (evalreport 0.1): overall, per_class, groups, ladder,
  histogram, confusion, worst_examples, warnings. Added since, within version 1:
  groups[].kind (slice rows that are no value of the data); lm (language-model
  evaluations: a harness run's tasks, sequences), with overall null when the
  input has no classifier rows.

The JSON holds no time stamp, so the same input gives byte-identical JSON.
"""

from __future__ import annotations

import json
import math

import numpy as np

from .. import __version__

SCHEMA_VERSION = 1


def _clean(x):
    """NaN/∞ → null (JSON has neither); numpy scalars → Python numbers."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, float) and x == 0.0:
        return 0.0  # −0.0 (a degenerate part or baseline) is written 0.0
    return x


def _bootstrap(settings: dict | None) -> dict | None:
    """A classifier run's bootstrap, with the replicates its overall intervals were drawn from (at
    least HEADLINE_REPLICATES: the gates decide on them). A language model's sequence figures use
    the run's own replicates."""
    if settings is None:
        return None
    from ..compute.bootstrap import Bootstrap, headline

    return {**settings, "overall_replicates": headline(Bootstrap(**settings)).replicates}


def overall_dict(r) -> dict:
    """A result's overall figures (the shape of ``overall`` in the report JSON)."""
    o = r.overall
    return {
        "cross_entropy": o.cross_entropy,
        "log_loss": o.log_loss,
        "entropy": o.entropy,
        "kl_divergence": o.kl_divergence,
        "brier": o.brier,
        "accuracy": o.accuracy,
        "band": o.band,
        "band_label": o.band_label,
        "band_score": o.band_score,
        "prediction_entropy": o.prediction_entropy,
        "geometric_mean_true_prob": o.geometric_mean_true_prob,
        "baselines": {"uniform": o.uniform_cross_entropy, "prior": o.prior_cross_entropy, "prior_band": o.prior_band},
        "skill_vs_prior": o.skill_vs_prior,
        "skill_vs_prior_ci95": o.skill_vs_prior_ci95,
        "no_skill": o.no_skill,
        "median_row_cross_entropy": o.median_row_cross_entropy,
        "clipped_rows": o.clipped_rows,
        "renormalized_rows": o.renormalized_rows,
        "loss_cap": o.loss_cap,
        "band_score_ci95": o.band_score_ci95,
        "accuracy_ci95": o.accuracy_ci95,
    }


def to_dict(r) -> dict:
    """The report as JSON (see the module's notes; the keys CONTRACT.md fixes are stable). A
    language-model evaluation adds ``lm``; without classifier rows (sequences alone) the
    classifier's keys are empty: ``overall`` null, no classes."""
    head = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "evalreport", "version": __version__},
        "input": {"path": r.source.path, "sha256": r.source.sha256, "format": r.source.format},
        "rows": r.rows,
        "unit": r.unit,
        "classes": list(r.classes),
        "targets": ("soft" if r.soft else "hard") if r.classifier else None,
        "weighted": r.weighted,
        "total_weight": r.total_weight,
        "eps": r.eps,
    }
    body = _classifier_dict(r) if r.classifier else _no_classifier_dict(r)
    lm = {"lm": lm_dict(r.lm)} if r.lm is not None else {}
    return _clean({**head, **body, **lm, "warnings": list(r.warnings)})


def _no_classifier_dict(r) -> dict:
    return {"overall": None, "bootstrap": r.bootstrap, "per_class": [], "groups": {}, "ladder": _ladder_dict(r),
            "histogram": None, "confusion": None, "worst_examples": [], "calibration": None,
            "loss_concentration": None, "decomposition": None}


def _ladder_dict(r) -> dict:
    return {
        "source": r.ladder.source,
        "unit": "nats",
        "bands": [
            {"id": b["id"], "label": b["label"], "upper": b["upper"], "upper_inclusive": b["upper_inclusive"]}
            for b in r.ladder.rows()
        ],
    }


def _classifier_dict(r) -> dict:
    return {
        "overall": overall_dict(r),
        "bootstrap": _bootstrap(r.bootstrap),
        "per_class": [
            {
                "class": c.name,
                "support": c.support,
                "weight": c.weight,
                "cross_entropy": c.cross_entropy,
                "kl_divergence": c.kl_divergence,
                "band": c.band,
                "loss_share": c.loss_share,
                "accuracy": c.accuracy,
                "ci95": c.ci95,
            }
            for c in r.per_class
        ],
        "groups": {
            col: [
                {
                    "value": s.value,  # null for the rows without a value and for the folded values
                    "kind": s.kind,  # "value", "missing" (no value) or "other" (folded)
                    "rows": s.rows,
                    "weight": s.weight,
                    "cross_entropy": s.cross_entropy,
                    "kl_divergence": s.kl_divergence,
                    "entropy": s.entropy,
                    "accuracy": s.accuracy,
                    "brier": s.brier,
                    "band": s.band,
                    "ci95": s.ci95,
                    "ece": s.ece,
                    "miscalibration_share": s.miscalibration_share,
                    **({"folded_values": s.folded} if s.folded else {}),  # the "(other)" row
                }
                for s in slices
            ]
            for col, slices in r.groups.items()
        },
        "ladder": _ladder_dict(r),
        "histogram": {
            "of": "per-row cross-entropy",
            "unit": r.unit,
            "edges": list(r.histogram.edges),
            "counts": list(r.histogram.counts),
        },
        "confusion": {
            "rows": "true class",
            "columns": "predicted class",
            # the whole matrix up to 256 classes (65,536 cells); beyond, null: see largest
            "matrix": r.confusion.tolist() if isinstance(r.confusion, np.ndarray) else None,
            "largest": [{"true_class": t, "pred_class": p, "weight": w} for t, p, w in r.largest_confusions()],
        },
        "worst_examples": [
            {
                "row": w.row,
                "id": w.id,
                "true_class": w.true_class,
                "true_prob": w.true_prob,
                "pred_class": w.pred_class,
                "pred_prob": w.pred_prob,
                "cross_entropy": w.cross_entropy,
                **({"id_length": w.id_length} if w.id_length else {}),  # the id was cut (MAX_SHOWN_ID)
            }
            for w in r.worst
        ],
        "calibration": calibration_dict(r.calibration) if r.calibration else None,
        "loss_concentration": concentration_dict(r.loss_concentration) if r.loss_concentration else None,
        "decomposition": decomposition_dict(r.decomposition) if r.decomposition else None,
    }


def sequence_dict(f) -> dict:
    """One set of sequences' figures (``lm.overall``, a slice's): counts, Σ nll, and the ratios."""
    return {"sequences": f.sequences, "tokens": f.tokens, "bytes": f.bytes, "words": f.words, "nll": f.nll,
            "cross_entropy": f.cross_entropy, "ci95": f.ci95, "perplexity": f.perplexity,
            "perplexity_ci95": f.perplexity_ci95, "bits_per_token": f.bits_per_token,
            "bits_per_byte": f.bits_per_byte, "bits_per_byte_ci95": f.bits_per_byte_ci95,
            "word_perplexity": f.word_perplexity, "byte_perplexity": f.byte_perplexity}


def task_dict(t) -> dict:
    """One harness task: the harness's figures under its names, its standard errors, what its
    results file reported, and ours (``cross_entropy`` per ``per``, with ``ci95``)."""
    return {"task": t.task, "filter": t.filter, "kind": t.kind, "documents": t.documents, "options": t.options,
            **t.harness, "stderr": {k: v for k, v in t.stderr.items()}, "reported": dict(t.reported),
            "cross_entropy": t.cross_entropy, "per": t.per, "ci95": t.ci95, "band": t.band,
            "accuracy_ci95": t.accuracy_ci95}


def lm_dict(lm) -> dict:
    return {
        "source": lm.source,
        "model": lm.model,
        "filter": lm.filter,
        "tasks": [task_dict(t) for t in lm.tasks],
        "overall": sequence_dict(lm.overall) if lm.overall is not None else None,
        "groups": {col: [{"value": s.value, "kind": s.kind, **sequence_dict(s.figures)} for s in slices]
                   for col, slices in lm.groups.items()},
        "worst_sequences": {"per": lm.worst_per,
                            "rows": [{"row": w.row, "id": w.id, "nll": w.nll, "tokens": w.tokens, "bytes": w.bytes,
                                      "loss": w.loss, **({"id_length": w.id_length} if w.id_length else {})}
                                     for w in lm.worst]},
        "skipped": list(lm.skipped),
        "note": lm.note,
    }


def _parts(p) -> dict:
    return {"score": p.score, "miscalibration": p.miscalibration, "discrimination": p.discrimination,
            "uncertainty": p.uncertainty,
            "standard_error": dict(zip(_PARTS, p.se)) if p.se else None,
            "ci95": {name: list(ci) for name, ci in zip(_PARTS, p.ci95)} if p.ci95 else None}


_PARTS = ("miscalibration", "discrimination", "uncertainty")


def decomposition_dict(d) -> dict:
    """``{log_loss: {binary, top_label, per_class: {class: …}}, brier: {…}}``, each part
    ``{score, miscalibration, discrimination, uncertainty, standard_error, ci95}`` (CORP: score =
    MCB − DSC + UNC; ``ci95`` of each part, bootstrapped, for the binary and top-label forecasts)."""
    out = {"method": "CORP (isotonic recalibration)", "main": d.main, "rows": d.rows, "total_rows": d.total_rows,
           "sampled": d.sampled, "classes_left_out": d.classes_left_out, "reliability_curve": d.curve}
    for score in ("log_loss", "brier"):
        out[score] = {
            "binary": _parts(d.binary[score]) if d.binary else None,
            "top_label": _parts(d.top_label[score]),
            "per_class": {name: _parts(parts[score]) for name, parts in d.per_class.items()},
        }
    return out


def _spread(c, key: str) -> dict:
    """``<key>_ci95`` and ``<key>_noise_floor`` of one of the row-sample calibration errors."""
    e = c.error(key)
    if e is None:
        return {f"{key}_ci95": None, f"{key}_noise_floor": None}
    return {f"{key}_ci95": list(e.ci95) if e.ci95 else None,
            f"{key}_noise_floor": {"mean": e.floor, "p95": e.floor_high}}


def calibration_dict(c) -> dict:
    return {
        "ece": c.ece,
        "ece_ci95": list(c.ece_ci95) if c.ece_ci95 else None,
        "ece_noise_floor": {"mean": c.ece_floor, "p95": c.ece_floor_high},
        "debiased_l2_ce": c.debiased_l2_ce,
        **_spread(c, "debiased_l2_ce"),
        "ece_equal_mass": c.ece_equal_mass,
        **_spread(c, "ece_equal_mass"),
        "ece_sweep": {"ece": c.ece_sweep, "bins": c.sweep_bins,
                      **{k.replace("ece_sweep_", ""): x for k, x in _spread(c, "ece_sweep").items()}}
        if c.ece_sweep is not None else None,
        "mce": c.mce,
        "bins": {
            "edges": [c.bins[0].lower] + [b.upper for b in c.bins],
            "counts": [b.rows for b in c.bins],
            "weight": [b.weight for b in c.bins],
            "accuracy": [b.accuracy for b in c.bins],
            "confidence": [b.confidence for b in c.bins],
        },
        "per_class": [{"class": name, "calibration_error": e} for name, e in c.per_class],
        "temperature": c.temperature,  # null with temperature_infinite: the optimum flattens to uniform
        "temperature_infinite": c.temperature is not None and math.isinf(c.temperature),
        "temperature_ci95": list(c.temperature_ci95) if c.temperature_ci95 else None,
        "temperature_within_noise": c.temperature_within_noise,
        "loss_removed_noise_floor": c.loss_removed_floor,
        "cross_entropy_before_temperature": c.cross_entropy_before,
        "cross_entropy_after_temperature": c.cross_entropy_after,
        "loss_removed": c.loss_removed,
        "loss_removed_share": c.loss_removed_share,
        "fit_rows": c.fit_rows,
        "standard_error": c.standard_error,
        "summary": c.sentence,
    }


def concentration_dict(c) -> dict:
    return {
        "worst_1pct_share": c.worst_1pct_share,
        "worst_10pct_share": c.worst_10pct_share,
        "heavy_tail": c.heavy_tail,
        "dominated": c.dominated,
        "confidently_wrong": list(c.thresholds),
        "per_class": list(c.per_class),
    }


def dumps(data: dict) -> str:
    return json.dumps(_clean(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_json(r) -> str:
    return dumps(to_dict(r))


def _diff(d) -> dict:
    return {"baseline": d.baseline, "candidate": d.candidate, "difference": d.difference, "ci95": d.ci95,
            "verdict": d.verdict}


def comparison_to_dict(c) -> dict:
    """``baseline`` and ``candidate`` are shaped like a report's ``overall``; ``difference`` is candidate − baseline."""
    b, k = c.baseline, c.candidate
    return _clean(
        {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "evalreport", "version": __version__},
            "inputs": {
                "baseline": {"path": b.source.path, "sha256": b.source.sha256, "format": b.source.format},
                "candidate": {"path": k.source.path, "sha256": k.source.sha256, "format": k.source.format},
            },
            "matched_by": c.matched_by,
            "dropped_rows": ({"baseline": c.dropped[0], "candidate": c.dropped[1]} if c.dropped is not None
                             else None),
            "rows": k.rows,
            "unit": k.unit,
            "classes": list(k.classes),
            "bootstrap": _bootstrap(k.bootstrap) if c.classifier else k.bootstrap,
            "baseline": overall_dict(b) if c.classifier else None,
            "candidate": overall_dict(k) if c.classifier else None,
            "difference": {
                "cross_entropy": c.score.difference,
                "ci95": c.score.ci95,
                "verdict": c.score.verdict,
                "minimum_detectable": c.minimum_detectable,
                "band_score": c.score.difference if c.classifier else None,
                "accuracy": c.accuracy.difference,
                "accuracy_ci95": c.accuracy.ci95,
                "brier": c.brier.difference,
                **({"of": c.score.name} if not c.classifier else {}),
            },
            "per_class": [{"class": d.name, "support": d.rows, **_diff(d)} for d in c.per_class],
            "groups": {col: [{"value": d.name if d.kind == "value" else None, "kind": d.kind, "rows": d.rows, **_diff(d)}
                             for d in diffs] for col, diffs in c.groups.items()},
            "rising_rows": [
                {"row": x.row, "id": x.id, "true_class": x.true_class, "baseline": x.baseline,
                 "candidate": x.candidate, "increase": x.increase, **({"id_length": x.id_length} if x.id_length else {})}
                for x in c.rising
            ],
            **({"lm": lm_comparison_dict(c)} if c.lm is not None else {}),
            **({"calibration": calibration_comparison_dict(c.calibration)} if c.calibration is not None else {}),
        }
    )


def calibration_comparison_dict(cc) -> dict:
    """Both models' calibration errors and the parts of the main forecast's log loss, each with
    candidate − baseline and its paired interval."""
    return {"errors": {key: _diff(d) for key, d in cc.errors.items()},
            "decomposition": {"forecast": cc.forecast, **{name: _diff(d) for name, d in cc.parts.items()}}}


def _paired(d) -> dict:
    return {"baseline": d.baseline, "candidate": d.candidate, "difference": d.difference, "ci95": d.ci95,
            "verdict": d.verdict}


def lm_comparison_dict(c) -> dict:
    """Two language-model evaluations: each side's LM section, and per task (and over the
    sequences) each figure's paired difference: ``tasks[].difference.<figure>`` with ``ci95``."""
    lm = c.lm
    return {
        "matched_by": lm.matched_by,
        "baseline": lm_dict(c.baseline.lm) if c.baseline.lm else None,
        "candidate": lm_dict(c.candidate.lm) if c.candidate.lm else None,
        "tasks": [{"task": t.task, "filter": t.filter, "kind": t.kind, "documents": t.documents,
                   "difference": {name: _paired(d) for name, d in t.differences.items()}} for t in lm.tasks],
        "overall": {name: _paired(d) for name, d in lm.overall.items()},
        "groups": {col: [{"value": d.name if d.kind == "value" else None, "kind": d.kind, "sequences": d.rows,
                          **_paired(d)} for d in diffs] for col, diffs in lm.groups.items()},
    }


def check_to_dict(report) -> dict:
    return _clean(
        {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "evalreport", "version": __version__},
            "passed": report.passed,
            "rule": report.rule,
            "gates": [
                {"gate": g.gate, "subject": g.subject, "condition": g.condition, "threshold": g.threshold,
                 "value": g.value, "ci95": g.ci95, "passed": g.passed, "detail": g.detail,
                 "minimum_detectable": g.minimum_detectable, "too_close": g.too_close}
                for g in report.gates
            ],
            "report": to_dict(report.result),
            "comparison": comparison_to_dict(report.comparison) if report.comparison else None,
        }
    )
