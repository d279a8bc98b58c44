"""lm-evaluation-harness output → the documents of each task, validated.

What ``lm_eval --log_samples --output_path OUT`` writes for one model: ``OUT/<model>/results_<date>.json``
(the aggregated figures and each task's config) and ``samples_<task>_<date>.jsonl`` (one line per
document and filter). Recognised by content: a folder holding such files (or holding one folder
that does), a results file, or one samples file. The shapes, from lm-eval's own source
(``evaluator.py``, ``loggers/evaluation_tracker.py``, ``api/task.py``):

- a line: ``doc_id``, ``doc``, ``target`` (text), ``arguments`` (``{"gen_args_<i>": {"arg_0":
  context, "arg_1": continuation}}``), ``resps`` / ``filtered_resps`` (*stringified* values:
  ``[["-4.75", "False"], …]`` for the options of a multiple-choice document, ``["-325.3"]`` for a
  rolling log-likelihood), ``filter``, ``metrics`` (the names), ``doc_hash``, and each metric's
  per-document value (``"word_perplexity": [ll, words]``);
- a ``multiple_choice`` document's continuations are ``target_delimiter + choice``; ``acc_norm``
  divides each option's log-likelihood by ``len(choice)`` (characters);
- one line per (document, filter): a document is never counted twice here — a task logged under
  several filters needs ``filter=`` (``--filter``) to choose one.

Every problem is one :class:`~evalreport.errors.InputError` naming the file, the line and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, display_path, opt, quote

#: How lm-eval names its files: the date id it adds is the run's.
_RESULTS = re.compile(r"^results_(?P<date>.+)\.json$")
_SAMPLES = re.compile(r"^samples_(?P<task>.+)_(?P<date>\d{4}-\d\d-\d\dT[\d\-.]+)\.jsonl$")
#: The task types read here, and the per-document metrics that give a lone samples file's type away.
MULTIPLE_CHOICE, ROLLING = "multiple_choice", "loglikelihood_rolling"
_ROLLING_METRICS = {"word_perplexity", "byte_perplexity", "bits_per_byte"}
#: The largest samples file read (a line per document; MMLU's are a few hundred MB at most).
MAX_SAMPLES_BYTES = 4 << 30
#: Options (their letters) of a multiple-choice document: A–Z, then numbers.
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def option_names(k: int) -> list[str]:
    """The names of ``k`` options: A, B, C, … (0, 1, 2, … beyond 26)."""
    return list(_LETTERS[:k]) if k <= len(_LETTERS) else [str(i) for i in range(k)]


@dataclass
class TaskDocs:
    """One task's documents under one filter, as the harness scored them."""

    task: str
    filter: str
    kind: str  # MULTIPLE_CHOICE or ROLLING
    file: str  # the samples file, as messages name it
    doc_ids: list = field(default_factory=list)
    doc_hashes: list = field(default_factory=list)
    fields: list = field(default_factory=list)  # each document's ``doc`` (for --group-by)
    lls: list = field(default_factory=list)  # multiple choice: each option's log-likelihood; rolling: one
    gold: list = field(default_factory=list)  # multiple choice: the gold option's index
    lengths: list = field(default_factory=list)  # multiple choice: each choice's length in characters (or None)
    words: list = field(default_factory=list)  # rolling: the words and bytes of the text
    bytes: list = field(default_factory=list)
    lines: list = field(default_factory=list)  # each document's line in the file

    def __len__(self) -> int:
        return len(self.doc_ids)

    @property
    def options(self) -> int:
        return len(self.lls[0]) if self.kind == MULTIPLE_CHOICE and self.lls else 0


@dataclass
class HarnessRun:
    """What one harness run logged: its tasks' documents, its own figures and its configs."""

    name: str  # the run as messages and the report name it
    path: str
    files: tuple[str, ...]
    sha256: str  # of the files read, in order
    model: str | None
    tasks: list[TaskDocs]
    reported: dict  # task → {"acc,none": …} as results_*.json holds them ({} without it)
    configs: dict  # task → its config (output_type, target_delimiter, …)
    skipped: list[str]  # tasks left out, in words (generation tasks hold no log-likelihoods)
    date: str | None = None


# --------------------------------------------------------------------------- recognising a run


def harness_files(path: str) -> tuple[Path | None, list[Path]] | None:
    """(results file or None, samples files) when ``path`` is a harness run or samples file, else None.
    Decided by content: names as lm-eval writes them, or a JSON-lines file whose first object has
    lm-eval's fields. A folder holding runs of several dates is an error naming them."""
    p = Path(path)
    try:
        folder, file = p.is_dir(), p.is_file()
    except OSError:  # a name too long, a folder that cannot be searched: the reader names the problem
        return None
    if folder:
        return _folder_files(p)
    if not file:
        return None
    if _RESULTS.match(p.name):
        date = _RESULTS.match(p.name)["date"]
        samples = sorted(f for f in p.parent.iterdir() if (m := _SAMPLES.match(f.name)) and m["date"] == date)
        return p, samples
    if _is_samples_file(p):
        return None, [p]
    return None


def _folder_files(folder: Path) -> tuple[Path | None, list[Path]] | None:
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return None
    results = [f for f in entries if f.is_file() and _RESULTS.match(f.name)]
    samples = [f for f in entries if f.is_file() and _SAMPLES.match(f.name)]
    if not results and not samples:  # lm_eval writes OUT/<model>/: one model folder inside
        inner = [f for f in entries if f.is_dir() and _folder_has_run(f)]
        if len(inner) == 1:
            return _folder_files(inner[0])
        if len(inner) > 1:
            raise InputError(display_path(str(folder)), f"holds the runs of {len(inner)} models "
                             f"({', '.join(quote(f.name) for f in inner[:4])}{', …' if len(inner) > 4 else ''})",
                             hint="pass the folder of one model")
        return None
    dates = sorted({_RESULTS.match(f.name)["date"] for f in results} | {_SAMPLES.match(f.name)["date"] for f in samples})
    if len(dates) > 1:
        raise InputError(display_path(str(folder)), f"holds {len(dates)} runs ({', '.join(dates[:3])}"
                         f"{', …' if len(dates) > 3 else ''})",
                         hint=f"pass one run's results file, e.g. {display_path(str(folder / f'results_{dates[-1]}.json'))}")
    return (results[0] if results else None), samples


def _folder_has_run(folder: Path) -> bool:
    try:
        return any(_RESULTS.match(f.name) or _SAMPLES.match(f.name) for f in folder.iterdir())
    except OSError:
        return False


def _is_samples_file(path: Path) -> bool:
    """A JSON-lines file whose first line is an object with lm-eval's per-document fields."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    if not head.lstrip().startswith(b"{"):
        return False
    first = head.split(b"\n", 1)[0]
    try:
        obj = json.loads(first)
    except (ValueError, RecursionError):
        return _SAMPLES.match(path.name) is not None or (b'"doc_id"' in first and b'"arguments"' in first)
    return isinstance(obj, dict) and "doc_id" in obj and "arguments" in obj and (
        "resps" in obj or "filtered_resps" in obj)


# --------------------------------------------------------------------------- reading


def read_harness(path: str, files: tuple[Path | None, list[Path]], filter_name: str | None = None) -> HarnessRun:
    """Read a run (see :func:`harness_files`): every task's documents, validated."""
    results_file, samples = files
    name = display_path(path)
    sha = hashlib.sha256()
    reported, configs, model, date = {}, {}, None, None
    if results_file is not None:
        data = _read_results(results_file, sha)
        reported = {t: v for t, v in (data.get("results") or {}).items() if isinstance(v, dict)}
        configs = {t: v for t, v in (data.get("configs") or {}).items() if isinstance(v, dict)}
        model = data.get("model_name") if isinstance(data.get("model_name"), str) else None
        date = _RESULTS.match(results_file.name)["date"]
    if not samples:
        raise InputError(name, "holds no samples files (samples_<task>_<date>.jsonl)",
                         hint="run lm_eval with --log_samples: the per-document log-likelihoods are in them")
    tasks: list[TaskDocs] = []
    skipped: list[str] = []
    for file in samples:
        for docs in _read_samples(file, configs, sha, skipped):
            tasks.append(docs)
    tasks = _one_filter(name, tasks, filter_name)
    if not tasks:
        raise InputError(name, "holds no multiple-choice or log-likelihood tasks",
                         hint="; ".join(skipped) if skipped else None)
    shown = [str(results_file)] if results_file else []
    return HarnessRun(name, str(path), tuple(shown + [str(f) for f in samples]), sha.hexdigest(), model, tasks,
                      reported, configs, skipped, date)


def _read_results(path: Path, sha) -> dict:
    name = display_path(str(path))
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(name, f"cannot be read ({err.strerror})") from None
    sha.update(raw)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as err:
        raise InputError(name, f"is not valid JSON ({type(err).__name__}: {str(err)[:120]})") from None
    if not isinstance(data, dict):
        raise InputError(name, "is not an lm-eval results file (not a JSON object)")
    return data


def _one_filter(name: str, tasks: list[TaskDocs], filter_name: str | None) -> list[TaskDocs]:
    """Each task under one filter: the one asked for (a task with one filter keeps it), or its only
    one. A task logged under several filters without ``--filter`` is an error, and so is a filter
    no task has: no document counts twice, and a mistyped filter is not ignored."""
    by_task: dict[str, list[TaskDocs]] = {}
    for t in tasks:
        by_task.setdefault(t.task, []).append(t)
    if filter_name is not None and not any(t.filter == filter_name for t in tasks):
        raise InputError(name, f"no task has the filter {quote(filter_name)}",
                         hint=f"the filters: {', '.join(quote(f) for f in sorted({t.filter for t in tasks}))}")
    out = []
    for task, found in by_task.items():
        filters = [t.filter for t in found]
        if filter_name is not None and len(found) > 1:
            chosen = [t for t in found if t.filter == filter_name]
            if not chosen:
                raise InputError(name, f"task {quote(task)} has no filter {quote(filter_name)}",
                                 hint=f"its filters: {', '.join(quote(f) for f in filters)}")
            out += chosen
        elif len(found) > 1:
            raise InputError(name, f"task {quote(task)} is logged under {len(found)} filters "
                             f"({', '.join(quote(f) for f in filters)}): each document once per filter",
                             hint=f"pass {_named('filter', 'NAME')} to read one of them")
        else:
            out += found
    return out


def _named(option: str, value: str) -> str:
    """An option with its value as the caller writes it: ``--filter NAME`` or ``filter=NAME``."""
    written = opt(option)
    return f"{written} {value}" if written.startswith("--") else f"{written}{value}"


def _read_samples(path: Path, configs: dict, sha, skipped: list[str]) -> list[TaskDocs]:
    """One samples file → its task's documents per filter."""
    name = display_path(str(path))
    try:
        size = path.stat().st_size
        if size > MAX_SAMPLES_BYTES:
            raise InputError(name, f"is larger than {MAX_SAMPLES_BYTES >> 30} GiB")
        f = open(path, "rb")
    except OSError as err:
        raise InputError(name, f"cannot be read ({err.strerror})") from None
    m = _SAMPLES.match(path.name)
    task = m["task"] if m else None
    by_filter: dict[str, TaskDocs] = {}
    seen: dict[tuple[str, object], int] = {}
    kind = None
    with f:
        for number, line in enumerate(f, 1):
            sha.update(line)
            if not line.strip():
                continue
            where = f"{name}: line {number}"
            obj = _parse_line(where, line)
            if kind is None:
                task = task or _text(obj.get("task")) or path.stem
                kind = _kind(obj, configs.get(task, {}))
                if kind not in (MULTIPLE_CHOICE, ROLLING):
                    skipped.append(f"task {quote(task)} ({kind or 'unknown type'}) holds no log-likelihoods to score; "
                                   "it is left out")
                    return []
            flt = _text(obj.get("filter")) or "none"
            docs = by_filter.get(flt)
            if docs is None:
                docs = by_filter[flt] = TaskDocs(task, flt, kind, name)
            doc_id = _field(where, obj, "doc_id")
            if not isinstance(doc_id, (int, str)) or isinstance(doc_id, bool):
                raise InputError(where, f"field 'doc_id' must be a number or a text, got {_shown(doc_id)}")
            if (flt, doc_id) in seen:
                raise InputError(where, f"doc_id {quote(doc_id)} again (first on line {seen[(flt, doc_id)]}, filter "
                                 f"{quote(flt)}): a document must be logged once per filter")
            seen[(flt, doc_id)] = number
            doc = obj.get("doc")
            docs.doc_ids.append(doc_id)
            docs.doc_hashes.append(_text(obj.get("doc_hash")))
            docs.fields.append(doc if isinstance(doc, dict) else {})
            docs.lines.append(number)
            if kind == MULTIPLE_CHOICE:
                _choice(where, obj, docs, configs.get(task, {}))
            else:
                _rolling(where, obj, docs)
    if kind is None:
        raise InputError(name, "holds no documents")
    return list(by_filter.values())


def _parse_line(where: str, line: bytes) -> dict:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as err:
        cut = " (the line is cut short: a truncated file?)" if not line.rstrip().endswith(b"}") else ""
        raise InputError(where, f"not valid JSON{cut} ({type(err).__name__}: {str(err)[:100]})") from None
    if not isinstance(obj, dict):
        raise InputError(where, f"not a JSON object, got {_shown(obj)}")
    return obj


def _kind(obj: dict, config: dict) -> str | None:
    """The task's output type: from its config in results_*.json, else from the line's shape."""
    kind = config.get("output_type")
    if isinstance(kind, str):
        return kind
    metrics = obj.get("metrics")
    metrics = set(metrics) if isinstance(metrics, list) and all(isinstance(x, str) for x in metrics) else set()
    if metrics & _ROLLING_METRICS:
        return ROLLING
    resps = obj.get("filtered_resps", obj.get("resps"))
    if isinstance(resps, list) and resps and all(isinstance(r, list) and len(r) == 2 for r in resps):
        args = obj.get("arguments")
        if isinstance(args, dict) and len(args) >= 2:
            return MULTIPLE_CHOICE
        return "loglikelihood"
    return "generate_until" if resps is not None else None


def _field(where: str, obj: dict, key: str):
    if key not in obj:
        raise InputError(where, f"no field {quote(key)}", hint="is this a samples file written by lm_eval --log_samples?")
    return obj[key]


def _number(where: str, key: str, value) -> float:
    """A log-likelihood as the harness logs it: a stringified float (or a number); −inf is allowed."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InputError(where, f"field {quote(key)}: {_shown(value)} is not a number")
    try:
        x = float(value)
    except (ValueError, OverflowError):
        raise InputError(where, f"field {quote(key)}: {quote(value)} is not a number") from None
    if math.isnan(x) or x == math.inf:
        raise InputError(where, f"field {quote(key)}: {quote(value)} is not a log-likelihood (NaN or +∞)")
    if x > 1e-9:
        raise InputError(where, f"field {quote(key)}: {quote(value)} is above 0, so it is no log-likelihood")
    return min(x, 0.0)


def _responses(where: str, obj: dict) -> tuple[str, list]:
    key = "filtered_resps" if "filtered_resps" in obj else "resps"
    value = _field(where, obj, key)
    if not isinstance(value, list) or not value:
        raise InputError(where, f"field {quote(key)} must be a non-empty list, got {_shown(value)}")
    return key, value


def _choice(where: str, obj: dict, docs: TaskDocs, config: dict) -> None:
    key, resps = _responses(where, obj)
    if key == "resps":  # unfiltered: one list of responses per request
        resps = [r[0] if isinstance(r, list) and len(r) == 1 else r for r in resps]
    lls = []
    for i, r in enumerate(resps):
        if not (isinstance(r, list) and len(r) == 2):
            raise InputError(where, f"field {quote(key)} [{i}]: expected a [log-likelihood, is_greedy] pair, "
                             f"got {_shown(r)}")
        lls.append(_number(where, f"{key}[{i}]", r[0]))
    args = _arguments(where, obj)
    metrics = obj.get("metrics") if isinstance(obj.get("metrics"), list) else []
    if "acc_mutual_info" in metrics and len(lls) % 2 == 0:  # the unconditional log-likelihoods follow
        lls, args = lls[: len(lls) // 2], args[: len(lls) // 2]
    if len(args) != len(lls):
        raise InputError(where, f"{len(lls)} responses but {len(args)} arguments (options)")
    if len(lls) < 2:
        raise InputError(where, f"field {quote(key)}: one option; a multiple-choice document needs two or more")
    if docs.lls and len(lls) != len(docs.lls[0]):
        raise InputError(where, f"field {quote(key)}: {len(lls)} options, but the task's first document (line "
                         f"{docs.lines[0]}) has {len(docs.lls[0])}",
                         hint="every document of a multiple-choice task must offer the same number of options")
    delimiter = config.get("target_delimiter", " ")
    delimiter = delimiter if isinstance(delimiter, str) else " "
    contexts = [a[0] if a and isinstance(a[0], str) else None for a in args]
    continuations = [a[1] if len(a) > 1 and isinstance(a[1], str) else None for a in args]
    choices = [c[len(delimiter):] if c is not None and c.startswith(delimiter) else c for c in continuations]
    if len(set(contexts)) > 1 and len(set(continuations)) == 1:
        lengths = None  # the options are in the contexts (multiple_input): their lengths are not logged
    else:
        lengths = [None if c is None else float(len(c)) for c in choices]
    gold = _gold(where, obj, choices, len(lls))
    docs.lls.append(lls)
    docs.lengths.append(lengths)
    docs.gold.append(gold)


def _arguments(where: str, obj: dict) -> list[list]:
    """The requests' arguments, in order: lm-eval writes ``{"gen_args_<i>": {"arg_<j>": …}}``."""
    args = _field(where, obj, "arguments")
    if isinstance(args, list):
        return [list(a) if isinstance(a, (list, tuple)) else [a] for a in args]
    if not isinstance(args, dict):
        raise InputError(where, f"field 'arguments' must be an object or a list, got {_shown(args)}")
    out = []
    for i in range(len(args)):
        one = args.get(f"gen_args_{i}")
        if not isinstance(one, dict):
            raise InputError(where, f"field 'arguments': no gen_args_{i}")
        out.append([one.get(f"arg_{j}") for j in range(len(one))])
    return out


def _gold(where: str, obj: dict, choices: list, k: int) -> int:
    """The gold option's index, from ``target`` as lm-eval logs it (the text of an index, or the
    gold choice's text)."""
    target = _field(where, obj, "target")
    text = str(target).strip()
    try:
        gold = int(text)
    except ValueError:
        if text in choices:
            return choices.index(text)
        if text.startswith("[") and text.endswith("]"):
            raise InputError(where, f"field 'target': several gold options ({quote(text)})",
                             hint="evalreport scores tasks with one gold option per document")
        raise InputError(where, f"field 'target': {quote(text)} is neither an option's index nor one of its "
                         f"{k} choices")
    if not 0 <= gold < k:
        raise InputError(where, f"field 'target': gold option {gold} is out of range (the document has {k} options, "
                         f"0–{k - 1})")
    return gold


def _rolling(where: str, obj: dict, docs: TaskDocs) -> None:
    key, resps = _responses(where, obj)
    first = resps[0]
    while isinstance(first, list) and len(first) == 1:
        first = first[0]
    ll = _number(where, key, first)
    target = obj.get("target")
    words = bytes_ = None
    pair = obj.get("word_perplexity")
    if isinstance(pair, list) and len(pair) == 2 and _count(pair[1]):
        words = int(pair[1])
    pair = obj.get("bits_per_byte", obj.get("byte_perplexity"))
    if isinstance(pair, list) and len(pair) == 2 and _count(pair[1]):
        bytes_ = int(pair[1])
    if (words is None or bytes_ is None) and not isinstance(target, str):
        raise InputError(where, "field 'target': the text is needed to count its words and bytes, got "
                         f"{_shown(target)}")
    if words is None:  # the harness's own counts (api/task.py): re.split on whitespace, UTF-8 bytes
        words = len(re.split(r"\s+", target))
    if bytes_ is None:
        bytes_ = len(target.encode("utf-8"))
    docs.lls.append(ll)
    docs.words.append(words)
    docs.bytes.append(bytes_)


def _count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _text(x) -> str | None:
    return x if isinstance(x, str) else None


def _shown(value) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:60] + "…"


# --------------------------------------------------------------------------- documents as arrays


def doc_field(fields: dict, name: str) -> str | None:
    """A document's field as a slice value (text; None when absent or empty)."""
    value = fields.get(name)
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def choice_arrays(docs: TaskDocs) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(log-likelihoods (n, K), gold (n,), choice lengths (n, K) or None when any is unknown)."""
    lls = np.asarray(docs.lls, dtype=np.float64)
    gold = np.asarray(docs.gold, dtype=np.intp)
    if any(x is None or any(v is None for v in x) for x in docs.lengths):
        return lls, gold, None
    return lls, gold, np.asarray(docs.lengths, dtype=np.float64)


def is_path(source) -> bool:
    return isinstance(source, (str, os.PathLike)) and str(source) != "-"


#: The slice every harness report has: the task.
TASK_COLUMN = "task"


def _check_fields(run: HarnessRun, group_by: tuple[str, ...]) -> None:
    """A --group-by of a harness run names a field of its documents (``doc``)."""
    for name in group_by:
        if name == TASK_COLUMN:
            continue
        if not any(name in fields for t in run.tasks for fields in t.fields):
            known = sorted({k for t in run.tasks for fields in t.fields[:50] for k in fields})
            raise InputError(run.name, f"no document holds a field {quote(name)} ({opt('group_by')} names a field of "
                             "the documents, 'doc' in the samples files)",
                             hint=f"their fields: {', '.join(quote(k) for k in known[:10]) or 'none'}")


def document_key(task: str, doc_id) -> str:
    """How a harness document is known (its id in reports, and the key that pairs two runs)."""
    return f"{task}/{doc_id}"


def choices_frame(run: HarnessRun, group_by: tuple[str, ...]):
    """The multiple-choice documents as a table the classifier pipeline reads: ``id``
    (task/doc_id), ``task``, ``label`` (the gold option's letter), ``lp_<letter>`` (each option's
    log-likelihood; −inf for options a document of a task with fewer has not), the --group-by
    fields. None without multiple-choice tasks."""
    import pandas as pd

    tasks = [t for t in run.tasks if t.kind == MULTIPLE_CHOICE]
    if not tasks:
        return None
    _check_fields(run, group_by)
    k = max(t.options for t in tasks)
    names = option_names(k)
    parts = []
    for t in tasks:
        lls, gold, _ = choice_arrays(t)
        padded = np.full((len(t), k), -np.inf)
        padded[:, : lls.shape[1]] = lls
        part = {"id": [document_key(t.task, d) for d in t.doc_ids], TASK_COLUMN: t.task,
                "label": np.asarray(names, dtype=object)[gold]}
        part |= {f"lp_{name}": padded[:, j] for j, name in enumerate(names)}
        for g in group_by:
            if g != TASK_COLUMN:
                part[g] = [doc_field(fields, g) for fields in t.fields]
        parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


def rolling_documents(run: HarnessRun, group_by: tuple[str, ...]) -> dict | None:
    """The rolling log-likelihood documents as arrays: ``ids`` (task/doc_id), ``nll`` (−ll),
    ``bytes``, ``words``, ``groups`` (column → values), ``rows`` (line numbers). None without
    such tasks."""
    tasks = [t for t in run.tasks if t.kind == ROLLING]
    if not tasks:
        return None
    _check_fields(run, group_by)
    ids, nll, bytes_, words, rows = [], [], [], [], []
    groups: dict[str, list] = {TASK_COLUMN: []} | {g: [] for g in group_by if g != TASK_COLUMN}
    for t in tasks:
        ids += [document_key(t.task, d) for d in t.doc_ids]
        nll += [-x for x in t.lls]
        bytes_ += t.bytes
        words += t.words
        rows += t.lines
        groups[TASK_COLUMN] += [t.task] * len(t)
        for g in groups:
            if g != TASK_COLUMN:
                groups[g] += [doc_field(fields, g) for fields in t.fields]
    return {"ids": ids, "nll": np.asarray(nll, dtype=np.float64), "bytes": np.asarray(bytes_, dtype=np.float64),
            "words": np.asarray(words, dtype=np.float64), "groups": groups, "rows": np.asarray(rows, dtype=np.int64)}
