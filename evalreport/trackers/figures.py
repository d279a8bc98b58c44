"""The figures a tracker logs, named stably from the JSON: ``evalreport.cross_entropy``,
``evalreport.class.<name>.cross_entropy``, ``evalreport.slice.<column>.<value>.cross_entropy``.

Names keep to the characters MLflow accepts (letters, digits, ``_ - .`` and space); any other
character in a class or slice name becomes ``_``, and a name is cut to MAX_SEGMENT characters. Two names that come out the same get ``_2``,
``_3``, … in the order of the JSON, and each renaming is reported.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

PREFIX = "evalreport"
#: A class, slice column or slice value keeps at most this many characters of its name, so that the
#: longest key (evalreport.slice.<column>.<value>.band_score.ci95_high) stays within MLflow's 250.
MAX_SEGMENT = 95
#: A name's segment (a class, a slice column or value) keeps letters, digits, ``_ - .`` and space:
#: no ``/``, which would make path segments (``../../x``) that MLflow refuses.
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_\-. ]")
#: A whole name as MLflow takes it: those characters and ``/`` ``:``, and no path that resolves
#: elsewhere (MLflow's path_not_unique).
_VALID_NAME = re.compile(r"[A-Za-z0-9_\-. /:]+")


def valid_name(name: str) -> bool:
    import posixpath

    norm = posixpath.normpath(name)
    return bool(_VALID_NAME.fullmatch(name)) and norm == name and norm != "." and not norm.startswith(("..", "/"))
#: Overall figures logged, as the JSON's ``overall`` names them.
OVERALL = ("cross_entropy", "log_loss", "entropy", "kl_divergence", "brier", "accuracy", "band_score",
           "skill_vs_prior", "median_row_cross_entropy")
CALIBRATION = ("ece", "mce", "temperature", "loss_removed", "loss_removed_share")
PER_ITEM = ("cross_entropy", "kl_divergence", "accuracy", "brier", "loss_share")


class Names:
    """Sanitised, distinct names for items (classes, slice values) of one kind."""

    def __init__(self) -> None:
        self._taken: dict[str, str] = {}  # sanitised → original
        self.renamed: list[str] = []

    def __call__(self, kind: str, original: str, key=None) -> str:
        """The name of ``original``; ``key`` tells apart items shown alike (the slice of rows without
        a value, shown "(missing)", from a value "(missing)" of the data): default, the text itself."""
        key = original if key is None else key
        clean = _NOT_ALLOWED.sub("_", str(original))[:MAX_SEGMENT] or "_"
        name, n = clean, 1
        while self._taken.get(name, key) != key:
            n += 1
            name = f"{clean}_{n}"
        self._taken[name] = key
        if name != str(original):
            self.renamed.append(f"{kind} {original!r} is logged as {name!r}")
        return name


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _put(out: dict, name: str, value) -> None:
    v = _number(value)
    if v is not None:
        out[name] = v


def _interval(out: dict, name: str, ci) -> None:
    if ci:
        _put(out, f"{name}.ci95_low", ci[0])
        _put(out, f"{name}.ci95_high", ci[1])


def result_metrics(d: dict) -> tuple[dict[str, float], list[str]]:
    """A result's JSON → {metric name: value} and the renamings made."""
    out: dict[str, float] = {}
    o = d["overall"] or {}  # null for a language model's sequences alone
    for key in OVERALL:
        _put(out, f"{PREFIX}.{key}", o.get(key))
    _interval(out, f"{PREFIX}.band_score", o.get("band_score_ci95"))
    _interval(out, f"{PREFIX}.accuracy", o.get("accuracy_ci95"))
    for key in CALIBRATION:
        _put(out, f"{PREFIX}.{key}", (d.get("calibration") or {}).get(key))
    renamed = _lm_metrics(out, d.get("lm"))
    return out, _items(out, d, PER_ITEM, "band_score") + renamed


#: A language model's figures logged: over the sequences (evalreport.lm.<key>) and per harness task
#: (evalreport.task.<task>.<key>), the harness's under its own names.
LM_SEQUENCES = ("cross_entropy", "perplexity", "bits_per_token", "bits_per_byte", "word_perplexity",
                "byte_perplexity")
LM_TASK = ("acc", "acc_norm", "brier_score", "word_perplexity", "byte_perplexity", "bits_per_byte", "cross_entropy")


def _lm_metrics(out: dict, lm: dict | None) -> list[str]:
    if not lm:
        return []
    o = lm.get("overall") or {}
    for key in LM_SEQUENCES:
        _put(out, f"{PREFIX}.lm.{key}", o.get(key))
    _interval(out, f"{PREFIX}.lm.cross_entropy", o.get("ci95"))
    _interval(out, f"{PREFIX}.lm.bits_per_byte", o.get("bits_per_byte_ci95"))
    names = Names()
    for t in lm.get("tasks", []):
        base = f"{PREFIX}.task.{names('task', t['task'])}"
        for key in LM_TASK:
            _put(out, f"{base}.{key}", t.get(key))
        for key, value in (t.get("stderr") or {}).items():
            _put(out, f"{base}.{key}_stderr", value)
        _interval(out, f"{base}.cross_entropy", t.get("ci95"))
    return names.renamed


def comparison_metrics(d: dict) -> tuple[dict[str, float], list[str]]:
    """A comparison's JSON → metrics: the candidate's figures as a result's, the baseline's overall
    figures under ``evalreport.baseline.``, the paired differences under ``evalreport.difference.``."""
    out: dict[str, float] = {}
    for key in OVERALL:
        _put(out, f"{PREFIX}.{key}", (d["candidate"] or {}).get(key))
        _put(out, f"{PREFIX}.baseline.{key}", (d["baseline"] or {}).get(key))
    diff = d["difference"]
    for key in ("cross_entropy", "band_score", "accuracy", "brier"):
        _put(out, f"{PREFIX}.difference.{key}", diff.get(key))
    _interval(out, f"{PREFIX}.difference.band_score", diff.get("ci95"))
    _interval(out, f"{PREFIX}.difference.accuracy", diff.get("accuracy_ci95"))
    renamed = []
    lm = d.get("lm")
    if lm:
        for key, x in (lm.get("overall") or {}).items():
            _put(out, f"{PREFIX}.difference.lm.{key}", x.get("difference"))
            _interval(out, f"{PREFIX}.difference.lm.{key}", x.get("ci95"))
        names = Names()
        for t in lm.get("tasks", []):
            base = f"{PREFIX}.difference.task.{names('task', t['task'])}"
            for key, x in t["difference"].items():
                _put(out, f"{base}.{key}", x.get("difference"))
                _interval(out, f"{base}.{key}", x.get("ci95"))
        renamed = names.renamed
    return out, _items(out, d, ("baseline", "candidate", "difference"), "difference") + renamed


def _items(out: dict, d: dict, keys, interval: str) -> list[str]:
    """Per class (``evalreport.class.<name>.<key>``) and per slice (``evalreport.slice.<column>.
    <value>.<key>``) into ``out``, each row's ``ci95`` as the ends of ``<interval>``; the renamings."""
    def put(base: str, row: dict) -> None:
        for key in keys:
            _put(out, f"{base}.{key}", row.get(key))
        _interval(out, f"{base}.{interval}", row.get("ci95"))

    classes = Names()
    for row in d["per_class"]:
        put(f"{PREFIX}.class.{classes('class', row['class'])}", row)
    renamed = list(classes.renamed)
    for column, rows in d["groups"].items():
        values = Names()
        col = Names()("slice column", column)
        for row in rows:
            kind = row.get("kind", "value")
            shown = row["value"] if kind == "value" else f"({kind})"  # the JSON's rows without a value, folded ones
            name = values(f"slice {column}", shown, (kind, row["value"]))
            put(f"{PREFIX}.slice.{col}.{name}", row)
        renamed += values.renamed
    return renamed


@dataclass(frozen=True)
class Payload:
    """Everything one evaluation logs: metrics, params, tags and files (artifact name → bytes), the
    renamings made, and the JSON dictionary the figures came from (its tables, for W&B)."""

    metrics: dict
    params: dict
    tags: dict
    files: dict
    renamed: list
    source: dict


def _input_params(prefix: str, info: dict) -> dict:
    return {f"{PREFIX}.{prefix}sha256": info.get("sha256") or "", f"{PREFIX}.{prefix}path": info.get("path") or "",
            f"{PREFIX}.{prefix}format": info.get("format") or ""}


def _option_params(options: dict) -> dict:
    return {f"{PREFIX}.option.{_NOT_ALLOWED.sub('_', k.replace(' ', '_'))}": str(v) for k, v in options.items()}


def result_payload(result, files: dict, check: dict | None = None) -> Payload:
    """A Result (and, for ``check``, its JSON's gates) with the rendered files to attach."""
    d = result.to_dict()
    metrics, renamed = result_metrics(d)
    params = {**_input_params("input.", d["input"]), **_option_params(result.options),
              f"{PREFIX}.version": d["tool"]["version"] if isinstance(d.get("tool"), dict) else str(d.get("tool"))}
    o = d["overall"] or {}
    tags = {f"{PREFIX}.band": o.get("band") or "", f"{PREFIX}.band_label": o.get("band_label") or ""}
    if check is not None:
        tags[f"{PREFIX}.passed"] = "true" if check["passed"] else "false"
        names = Names()
        for gate in check["gates"]:
            subject = gate.get("subject")  # a task, a slice "column=value": one tag each, not one overwritten
            name = names("gate", gate["gate"] + (f".{subject}" if subject else ""), key=(gate["gate"], subject))
            tags[f"{PREFIX}.gate.{name}"] = "passed" if gate["passed"] else "failed"
    return Payload(metrics, params, tags, files, renamed, d)


def comparison_payload(comparison, files: dict) -> Payload:
    d = comparison.to_dict()
    metrics, renamed = comparison_metrics(d)
    params = {**_input_params("baseline.", d["inputs"]["baseline"]),
              **_input_params("candidate.", d["inputs"]["candidate"]),
              **_option_params(comparison.candidate.options)}
    tags = {f"{PREFIX}.verdict": d["difference"].get("verdict") or "",
            f"{PREFIX}.band": (d["candidate"] or {}).get("band") or ""}
    return Payload(metrics, params, tags, files, renamed, d)
