"""The result model: one plain object that every renderer reads.

Figures are already in ``Result.unit`` (nats or bits); ``band_score_nats`` keeps
the score the band was decided on. Renderers only format — they never compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .load.spec import SourceInfo  # noqa: F401 — where the rows came from; read by the load stage

if TYPE_CHECKING:
    import pandas as pd

    from .ladder import Ladder


@dataclass(frozen=True)
class Overall:
    cross_entropy: float
    log_loss: float | None  # None for soft targets
    entropy: float  # mean entropy of the targets (0 for hard labels)
    kl_divergence: float
    prediction_entropy: float  # mean entropy of the predicted distributions
    brier: float
    accuracy: float
    band: str
    band_label: str
    band_score: float
    band_score_nats: float
    geometric_mean_true_prob: float  # exp(−mean CE): the "typical" probability on the truth
    uniform_cross_entropy: float  # CE of predicting 1/K for every class (ln K)
    prior_cross_entropy: float  # CE of always predicting the class frequencies
    skill_vs_prior: float | None  # 1 − KL_model / KL_prior
    median_row_cross_entropy: float  # from the fine loss histogram: within 0.9% of exact
    clipped_rows: int
    renormalized_rows: int
    loss_cap: float  # −ln eps in the unit: the most one clipped row can cost
    band_score_ci95: tuple[float, float] | None = None  # bootstrap percentile interval, in the unit
    accuracy_ci95: tuple[float, float] | None = None
    skill_vs_prior_ci95: tuple[float, float] | None = None  # from the band score's, the prior's loss held fixed
    prior_band: str | None = None  # the band the class frequencies alone would get
    prior_band_label: str | None = None

    @property
    def no_skill(self) -> bool:
        """Whether the model is no better than always predicting the class frequencies: its skill
        over them is at most 0, or its 95% interval reaches 0."""
        if self.skill_vs_prior is None:
            return False
        return self.skill_vs_prior <= 0 or (self.skill_vs_prior_ci95 is not None and self.skill_vs_prior_ci95[0] <= 0)

    @property
    def skill_words(self) -> str:
        """The skill over the class frequencies in words, for the one-line summaries: empty unless
        the model is no better than them (see no_skill)."""
        if not self.no_skill:
            return ""
        ci = self.skill_vs_prior_ci95
        within = f" [95% {100 * ci[0]:z.0f}% to {100 * ci[1]:z.0f}%]" if ci else ""
        return f"no better than the class frequencies (skill {100 * self.skill_vs_prior:z.1f}%{within})"


@dataclass(frozen=True)
class ClassRow:
    name: str
    support: float  # rows of this class (Σ P_ik for soft targets)
    weight: float
    cross_entropy: float | None  # None: no rows of this class
    kl_divergence: float | None
    band: str | None
    band_label: str | None
    loss_share: float | None  # this class's part of the total loss
    accuracy: float | None  # share of its rows predicted as it (recall)
    ci95: tuple[float, float] | None = None  # of the class's band score


#: The longest id shown in a table of rows (worst rows, rising rows, worst sequences); a longer one
#: is cut, with its length kept beside it (``id_length``): a 2 MB id would make a 40 MB report.
MAX_SHOWN_ID = 200


def shown_id(text: str | None) -> tuple[str | None, int | None]:
    """An id as the tables show it, and its full length when it was cut (else None)."""
    if text is None or len(text) <= MAX_SHOWN_ID:
        return text, None
    return text[:MAX_SHOWN_ID] + "…", len(text)


#: What a slice row stands for: a value of the data, the rows without a value, or the values folded
#: beyond --max-slices. The last two have no value (``value`` is None), so no value of the data —
#: not even the text "(missing)" or "(other)" — can be taken for them.
SLICE_KINDS = ("value", "missing", "other")
#: How the rows without a value and the folded values are shown (marked apart from data values).
SLICE_LABELS = {"missing": "(missing)", "other": "(other)"}


def slice_label(kind: str, value: str | None) -> str:
    return value if kind == "value" else SLICE_LABELS[kind]


@dataclass(frozen=True)
class SliceRow:
    value: str | None  # None for the "missing" and "other" rows (see kind)
    rows: int
    weight: float
    cross_entropy: float | None
    kl_divergence: float | None
    entropy: float | None
    accuracy: float | None
    brier: float | None
    band: str | None
    band_label: str | None
    ci95: tuple[float, float] | None = None  # of the slice's band score
    folded: int = 0  # for the "(other)" row: how many values it stands for
    ece: float | None = None  # top-label ECE of the slice (15 bins); None beyond MAX_CAL_SLICES values
    miscalibration_share: float | None = None  # of its log loss (CORP, on the row sample); None on few rows
    kind: str = "value"  # see SLICE_KINDS

    @property
    def label(self) -> str:
        """How the row is shown: its value, or "(missing)" / "(other)" (marked as such by kind)."""
        return slice_label(self.kind, self.value)


@dataclass(frozen=True)
class WorstExample:
    row: int
    id: str | None  # cut to MAX_SHOWN_ID characters (see id_length)
    true_class: str
    true_prob: float
    pred_class: str
    pred_prob: float
    cross_entropy: float
    id_length: int | None = None  # the id's full length, when it was cut


@dataclass(frozen=True)
class CalibrationBin:
    lower: float
    upper: float
    rows: int
    weight: float
    accuracy: float | None  # share of rows whose top class is right
    confidence: float | None  # mean top probability


@dataclass(frozen=True)
class Calibration:
    """Top-label calibration (15 equal-width bins) and temperature scaling."""

    ece: float  # Σ_b (n_b / n)·|accuracy_b − confidence_b|
    mce: float  # max over non-empty bins of |accuracy_b − confidence_b|
    bins: tuple[CalibrationBin, ...]
    per_class: tuple[tuple[str, float], ...]  # one-vs-rest calibration error per class
    class_bins: dict  # class → (frequency per bin, confidence per bin, weight per bin), for the worst classes
    temperature: float | None  # math.inf: the best temperature flattens the predictions to uniform
    cross_entropy_before: float  # on the rows the fit used, in the unit
    cross_entropy_after: float
    loss_removed: float
    loss_removed_share: float
    fit_rows: int
    total_rows: int
    standard_error: float | None  # of cross_entropy_after when fitted on a sample
    sentence: str
    # Every calibration error with its interval and noise floor: the ECE above first, then — from the
    # row sample, not for soft targets — "debiased_l2_ce" (Kumar et al. 2019), "ece_equal_mass" (15
    # equal-mass bins, netcal's convention) and "ece_sweep" (the sweep rule, Roelofs et al. 2022).
    errors: tuple[ErrorEstimate, ...] = ()
    ece_sentence: str = ""
    sweep_bins: int | None = None  # the bins the sweep rule chose
    temperature_ci95: tuple[float, float] | None = None  # from the run's bootstrap (one Newton step a replicate)
    loss_removed_floor: float = 0.0  # what a fit removes from a calibrated model's rows by chance (95%), in the unit
    temperature_within_noise: bool = False  # the interval covers 1, or the loss removed is within the floor

    def error(self, key: str) -> ErrorEstimate | None:
        return next((e for e in self.errors if e.key == key), None)

    @property
    def ece_ci95(self) -> tuple[float, float] | None:
        """The bootstrap's 95% interval of the ECE."""
        return self.errors[0].ci95 if self.errors else None

    @property
    def ece_floor(self) -> float:
        """The ECE a perfectly calibrated model with these confidences would show, on average …"""
        return self.errors[0].floor if self.errors else 0.0

    @property
    def ece_floor_high(self) -> float:
        """… and its 95th percentile: an ECE below it is no evidence of miscalibration."""
        return self.errors[0].floor_high if self.errors else 0.0

    @property
    def debiased_l2_ce(self) -> float | None:
        e = self.error("debiased_l2_ce")
        return e.value if e else None

    @property
    def ece_equal_mass(self) -> float | None:
        e = self.error("ece_equal_mass")
        return e.value if e else None

    @property
    def ece_sweep(self) -> float | None:
        e = self.error("ece_sweep")
        return e.value if e else None


@dataclass(frozen=True)
class ErrorEstimate:
    """One calibration error: its value, the bootstrap's 95% interval, and what a perfectly
    calibrated model with the same confidences and rows would show (mean, 95th percentile)."""

    key: str  # its JSON key
    name: str
    value: float
    ci95: tuple[float, float] | None
    floor: float
    floor_high: float
    reading: str  # what it says, against its floor: see interpret.error_reading


@dataclass(frozen=True)
class LossConcentration:
    """Where the loss comes from."""

    worst_1pct_share: float  # share of the total loss carried by the 1% of rows with the highest loss
    worst_10pct_share: float
    heavy_tail: bool  # the mean loss is far above the median row's
    dominated: bool  # the worst 10% of rows carry most of the loss
    thresholds: tuple[dict, ...]  # per "true class given below t": rows, rows_share, loss_share
    per_class: tuple[dict, ...]  # per class: the same, as shares of the class's rows and loss


@dataclass(frozen=True)
class Histogram:
    """Rows per bin of per-row cross-entropy; edges in the result's unit (None = ∞)."""

    edges: tuple[float | None, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class Parts:
    """One decomposition: the mean score and its three parts (the score's unit)."""

    score: float
    miscalibration: float
    discrimination: float
    uncertainty: float
    se: tuple[float, float, float] | None = None  # of (MCB, DSC, UNC), when computed on a sample
    ci95: tuple[tuple[float, float], ...] | None = None  # bootstrap 95% intervals of (MCB, DSC, UNC)

    def scaled(self, factor: float) -> Parts:
        se = tuple(s * factor for s in self.se) if self.se else None
        ci = tuple((lo * factor, hi * factor) for lo, hi in self.ci95) if self.ci95 else None
        return Parts(self.score * factor, self.miscalibration * factor, self.discrimination * factor,
                     self.uncertainty * factor, se, ci)


@dataclass(frozen=True)
class Decomposition:
    """Every decomposition of one evaluation (nats for the log loss)."""

    main: str  # "binary" or "top_label": which one the report leads with
    binary: dict[str, Parts] | None  # on P(classes[1]), for a binary model
    top_label: dict[str, Parts]  # confidence vs whether the top class is right
    per_class: dict[str, dict[str, Parts]]  # one-vs-rest, for the most frequent classes (a bounded number)
    rows: int  # rows it was computed on
    total_rows: int
    classes_left_out: int = 0
    curve: dict | None = None  # the CORP reliability diagram of the main forecast: x, recalibrated, band_low/high

    @property
    def sampled(self) -> bool:
        return self.rows < self.total_rows


@dataclass(frozen=True)
class SequenceFigures:
    """Figures of a set of sequences (all, a slice, a task): ratios of sums, in the result's unit
    where they are a loss (perplexities are plain numbers). None where the input has no such count."""

    sequences: int
    tokens: float | None
    bytes: float | None
    words: float | None
    nll: float  # Σ −log-likelihood, in the unit
    cross_entropy: float | None  # per token
    ci95: tuple[float, float] | None  # of cross_entropy
    perplexity: float | None  # exp(per-token cross-entropy in nats)
    perplexity_ci95: tuple[float, float] | None
    bits_per_token: float | None
    bits_per_byte: float | None
    bits_per_byte_ci95: tuple[float, float] | None
    word_perplexity: float | None = None  # exp(Σ nll / Σ words), the harness's ratio
    byte_perplexity: float | None = None  # exp(Σ nll / Σ bytes)


@dataclass(frozen=True)
class SequenceSlice:
    """One slice value's sequence figures (kind as SliceRow's)."""

    value: str | None
    figures: SequenceFigures
    kind: str = "value"

    @property
    def label(self) -> str:
        return slice_label(self.kind, self.value)


@dataclass(frozen=True)
class WorstSequenceRow:
    row: int
    id: str  # cut as WorstExample's
    nll: float  # in the unit
    tokens: float | None
    bytes: float | None
    loss: float  # per token (else per byte, else the sequence's nll), in the unit
    id_length: int | None = None


@dataclass(frozen=True)
class TaskFigures:
    """One harness task under one filter: the harness's figures computed the harness's way, under
    its names, and ours beside them."""

    task: str
    filter: str
    kind: str  # "multiple_choice" or "loglikelihood_rolling"
    documents: int
    options: int | None  # multiple choice: options per document
    harness: dict  # acc, acc_norm, brier_score / word_perplexity, byte_perplexity, bits_per_byte
    stderr: dict  # the harness's standard errors (acc, acc_norm), where it has one
    reported: dict  # the same figures as results_*.json holds them (None where it has none)
    cross_entropy: float | None  # ours, in the unit: over options (multiple choice), per byte (rolling)
    ci95: tuple[float, float] | None
    per: str  # what cross_entropy is per: "document" (over its options) or "byte"
    band: str | None = None  # multiple choice: the band of the cross-entropy over options
    band_label: str | None = None
    accuracy_ci95: tuple[float, float] | None = None  # of acc, from the run's bootstrap


@dataclass(frozen=True)
class LMSection:
    """A language-model evaluation: a harness run's tasks, or a file of sequences."""

    source: str  # "lm-eval" (a harness run), "sequences", "tokens" or "choices"
    tasks: tuple[TaskFigures, ...] = ()
    overall: SequenceFigures | None = None
    groups: dict = field(default_factory=dict)  # column → [SequenceSlice]
    worst: tuple[WorstSequenceRow, ...] = ()
    worst_per: str = "token"  # what the worst sequences' loss is per
    model: str | None = None  # the harness's model name
    filter: str | None = None
    skipped: tuple[str, ...] = ()
    note: str = ""  # why per-token cross-entropy has no band, in one sentence
    relations: tuple[tuple[str, str], ...] = ()  # each harness figure of the tasks: how it relates to ours


@dataclass(frozen=True)
class Result:
    source: SourceInfo
    mode: str  # "labels", "score" (binary, one score column) or "soft"
    rows: int
    total_weight: float
    weighted: bool
    unit: str
    classes: tuple[str, ...]
    eps: float
    ladder: Ladder
    overall: Overall
    per_class: tuple[ClassRow, ...]
    groups: dict[str, list[SliceRow]]
    histogram: Histogram
    confusion: np.ndarray  # weight of rows, [true, predicted]
    worst: tuple[WorstExample, ...]
    warnings: tuple[str, ...]
    verdict: str  # one plain sentence that translates the score
    calibration: Calibration | None = None
    loss_concentration: LossConcentration | None = None
    options: dict = field(default_factory=dict)
    bootstrap: dict | None = None  # {"replicates": B, "seed": s} when intervals were computed
    alerts: tuple[str, ...] = ()  # doubts about how the input was read: shown first (also among the warnings)
    decomposition: Decomposition | None = None  # why the loss is what it is (compute/decomposition.py)
    decomposition_text: tuple[str, ...] = ()  # the decomposition in words, for the report
    lm: LMSection | None = None  # a language-model evaluation (its multiple-choice rows are the classifier's)

    @property
    def soft(self) -> bool:
        return self.mode == "soft"

    @property
    def classifier(self) -> bool:
        """Whether the result holds classifier figures (a distribution over classes or options per
        row): False for a language model's sequences alone, which have no classes, band or ladder."""
        return self.overall is not None

    def __repr__(self) -> str:
        """A short line, as pandas objects print (the whole result is its to_dict())."""
        head = f"<evalreport.Result {self.source.name!r}: {self.rows:,} rows"
        if self.classifier:
            o = self.overall
            what = "mean KL" if self.soft else "cross-entropy"
            head += f", {len(self.classes)} classes, {what} {o.band_score:.4f} {self.unit} ({o.band_label})"
        if self.lm is not None:
            if self.lm.tasks:
                head += f", {len(self.lm.tasks)} lm-eval task(s)"
            o = self.lm.overall
            if o is not None and o.cross_entropy is not None:
                head += f", {o.cross_entropy:.4f} {self.unit} per token (perplexity {o.perplexity:.6g})"
            elif o is not None and o.bits_per_byte is not None:
                head += f", {o.bits_per_byte:.4f} bits per byte"
        return head + ">"

    def _worst_first(self, items):
        """Highest band score first (ties keep their order); items without rows last."""
        key = (lambda x: x.kl_divergence) if self.soft else (lambda x: x.cross_entropy)
        scored = [x for x in items if key(x) is not None]
        return sorted(scored, key=key, reverse=True) + [x for x in items if key(x) is None]

    def confusion_rows(self, rows) -> np.ndarray:
        """Rows of the confusion matrix (true classes ``rows``) as a dense array, whether the matrix is
        dense or (beyond 256 classes) sparse."""
        m = self.confusion
        return np.asarray(m, dtype=float)[rows] if isinstance(m, np.ndarray) else m[list(rows)].toarray()

    def largest_confusions(self, n: int = 20) -> list[tuple[str, str, float]]:
        """The ``n`` (true class, predicted class, weight) cells off the diagonal with the most weight."""
        from scipy.sparse import coo_array

        m = coo_array(self.confusion)
        off = m.row != m.col
        t, p, w = m.row[off], m.col[off], m.data[off]
        order = np.lexsort((p, t, -w))[:n]
        return [(self.classes[t[i]], self.classes[p[i]], float(w[i])) for i in order if w[i] > 0]

    def classes_worst_first(self) -> list[ClassRow]:
        return self._worst_first(self.per_class)

    def slices_worst_first(self, column: str) -> list[SliceRow]:
        return self._worst_first(self.groups[column])

    def to_dict(self) -> dict:
        from .render.jsonout import to_dict

        return to_dict(self)

    def to_json(self) -> str:
        from .render.jsonout import to_json

        return to_json(self)

    def to_markdown(self) -> str:
        from .render.markdown import to_markdown

        return to_markdown(self)

    def to_html(self, processes: int = 1) -> str:
        """The self-contained HTML report. ``processes=2`` draws half the charts in a forked
        copy of the process (Linux; the command line does so), with the same result."""
        from .render.html import to_html

        return to_html(self, processes=processes)

    def to_frame(self, table: str = "classes") -> pd.DataFrame:
        """The per-class table (``"classes"``, indexed by class) or the per-slice table
        (``"slices"``, indexed by slice column and value) as a pandas DataFrame, with the JSON's
        figures and names (an interval as ``ci95_low`` and ``ci95_high``)."""
        from .render.notebook import frame

        return frame(self.to_dict(), table)

    def _repr_html_(self) -> str:
        from .render.notebook import inline

        return inline(self.to_html(), "evalreport")

    def tracker_files(self) -> dict[str, bytes]:
        """The files attached to a tracker's run: the HTML report, the JSON and the Markdown."""
        return {"report.html": self.to_html().encode(), "report.json": self.to_json().encode(),
                "report.md": self.to_markdown().encode()}

    def log_mlflow(self, run_id: str | None = None, experiment: str | None = None) -> str:
        """Log this evaluation to MLflow (see the README, "Attach it to your experiment"): to
        ``run_id``, else the active run (``MLFLOW_RUN_ID``), else a new run in ``experiment``.
        Returns the run's id; raises TrackerError if MLflow refuses."""
        from .trackers import mlflow
        from .trackers.figures import result_payload

        return mlflow.log(result_payload(self, self.tracker_files()), run_id, experiment)

    def log_wandb(self, run=None, project: str | None = None) -> str:
        """Log this evaluation to Weights & Biases: to ``run``, else the active run, else a new run
        in ``project``. Returns the run's path (offline: its folder; None when W&B is disabled,
        WANDB_MODE=disabled: nothing is logged); raises TrackerError."""
        from .trackers import wandb
        from .trackers.figures import result_payload

        files = self.tracker_files()
        return wandb.log(result_payload(self, files), wandb.tables_of(self.to_dict()),
                         files["report.html"].decode(), run, project)


@dataclass(frozen=True)
class Difference:
    """One figure of two models on the same rows: candidate − baseline, with a paired 95% interval."""

    name: str
    baseline: float | None
    candidate: float | None
    difference: float | None
    ci95: tuple[float, float] | None
    rows: float | None = None  # support of a class / rows of a slice
    kind: str = "value"  # of a slice: see SLICE_KINDS (name is then its label)
    higher_is_better: bool = False  # accuracy: a rise is better

    @property
    def verdict(self) -> str:
        """'worse', 'better' or 'no clear difference' (the interval decides; a loss is lower-is-better,
        an accuracy higher-is-better)."""
        if self.ci95 is None or self.difference is None:
            return "no interval"
        rise, fall = ("better", "worse") if self.higher_is_better else ("worse", "better")
        if self.ci95[0] > 0:
            return rise
        if self.ci95[1] < 0:
            return fall
        return "no clear difference"

    @property
    def headline(self) -> str:
        return {"worse": "the candidate is worse", "better": "the candidate is better"}.get(self.verdict, self.verdict)


@dataclass(frozen=True)
class CalibrationComparison:
    """Two models' calibration on the same rows: each error and each part of the main forecast's
    log loss, candidate − baseline, with paired intervals (lower is better for all but
    discrimination, where higher is)."""

    errors: dict  # "ece", "debiased_l2_ce", "ece_equal_mass", "ece_sweep" → Difference
    parts: dict  # "miscalibration", "discrimination", "uncertainty" → Difference (the unit)
    forecast: str | None  # "binary" or "top_label": which forecast the parts are of


@dataclass(frozen=True)
class TaskDifference:
    """One harness task of two runs: each figure's candidate − baseline, with paired intervals."""

    task: str
    filter: str
    kind: str
    documents: int
    differences: dict  # figure name → Difference (acc, acc_norm, brier_score, cross_entropy, bits_per_byte, …)


@dataclass(frozen=True)
class LMComparison:
    """Two language-model evaluations of the same documents or sequences, paired by their keys."""

    tasks: tuple[TaskDifference, ...] = ()
    overall: dict = field(default_factory=dict)  # sequences: cross_entropy (per token), bits_per_byte → Difference
    groups: dict = field(default_factory=dict)  # column → [Difference] of the per-token (else per-byte) loss
    matched_by: str = ""


@dataclass(frozen=True)
class RisingExample:
    row: int
    id: str | None  # cut as WorstExample's
    true_class: str
    baseline: float
    candidate: float
    increase: float
    id_length: int | None = None


@dataclass(frozen=True)
class Comparison:
    """Two models' predictions for the same rows, side by side."""

    baseline: Result
    candidate: Result
    matched_by: str
    score: Difference  # band score (cross-entropy for hard labels)
    accuracy: Difference
    brier: Difference
    per_class: tuple[Difference, ...]
    groups: dict[str, list[Difference]]
    rising: tuple[RisingExample, ...]
    lm: LMComparison | None = None  # language-model evaluations: per task, per sequence set
    calibration: CalibrationComparison | None = None  # both models' calibration, paired
    dropped: tuple[int, int] | None = None  # --common-rows: the rows the baseline and the candidate lost

    @property
    def unit(self) -> str:
        return self.candidate.unit

    @property
    def classifier(self) -> bool:
        return self.candidate.classifier

    @property
    def minimum_detectable(self) -> float | None:
        """The smallest true difference of the headline figure its paired interval detects (80% power
        at the 5% level): 2.80 of the interval's standard errors. None without an interval."""
        from .compute.power import minimum_detectable

        return minimum_detectable(self.score.ci95) if self.score.difference is not None else None

    @property
    def detectable_words(self) -> str:
        """"with 1,797 rows a difference under 0.0210 nats cannot be told from noise", or ""."""
        mdd = self.minimum_detectable
        if mdd is None:
            return ""
        unit = self.unit if self.classifier or self.score.name == "cross_entropy" else "bits per byte"
        n = f"{self.candidate.rows:,} rows" if self.classifier else "these sequences"
        return (f"with {n} a difference under {mdd:.4f} {unit} cannot be told from noise "
                "(80% power at the 5% level)")

    def __repr__(self) -> str:
        d = self.score
        ci = f" [95% {d.ci95[0]:+.4f} to {d.ci95[1]:+.4f}]" if d.ci95 else ""
        diff = "—" if d.difference is None else f"{d.difference:+.4f}"
        return (f"<evalreport.Comparison {self.baseline.source.name!r} → {self.candidate.source.name!r}: "
                f"{d.headline}, {diff}{ci} {self.unit}; {self.candidate.rows:,} rows matched by {self.matched_by}>")

    @staticmethod
    def _by_rise(diffs) -> list[Difference]:
        """Largest rise first; items without a difference (no rows) last."""
        known = [d for d in diffs if d.difference is not None]
        return sorted(known, key=lambda d: -d.difference) + [d for d in diffs if d.difference is None]

    def classes_by_rise(self) -> list[Difference]:
        return self._by_rise(self.per_class)

    def slices_by_rise(self, column: str) -> list[Difference]:
        return self._by_rise(self.groups[column])

    def to_dict(self) -> dict:
        from .render.jsonout import comparison_to_dict

        return comparison_to_dict(self)

    def to_json(self) -> str:
        from .render.jsonout import dumps

        return dumps(self.to_dict())

    def to_markdown(self) -> str:
        from .render.markdown import comparison_to_markdown

        return comparison_to_markdown(self)

    def to_html(self) -> str:
        from .render.html import comparison_to_html

        return comparison_to_html(self)

    def to_frame(self, table: str = "classes") -> pd.DataFrame:
        """As :meth:`Result.to_frame`: per class or per slice, the baseline's and the candidate's
        figure, their difference, its interval and verdict."""
        from .render.notebook import frame

        return frame(self.to_dict(), table)

    def _repr_html_(self) -> str:
        from .render.notebook import inline

        return inline(self.to_html(), "evalreport compare")

    def tracker_files(self) -> dict[str, bytes]:
        return {"compare.html": self.to_html().encode(), "compare.json": self.to_json().encode(),
                "compare.md": self.to_markdown().encode()}

    def log_mlflow(self, run_id: str | None = None, experiment: str | None = None) -> str:
        """As :meth:`Result.log_mlflow`, for the comparison."""
        from .trackers import mlflow
        from .trackers.figures import comparison_payload

        return mlflow.log(comparison_payload(self, self.tracker_files()), run_id, experiment)

    def log_wandb(self, run=None, project: str | None = None) -> str:
        """As :meth:`Result.log_wandb`, for the comparison."""
        from .trackers import wandb
        from .trackers.figures import comparison_payload

        files = self.tracker_files()
        return wandb.log(comparison_payload(self, files), wandb.tables_of(self.to_dict()),
                         files["compare.html"].decode(), run, project)
