"""Make lm-evaluation-harness runs, written by lm-eval itself, offline — no model download.

A small language model of our own (a character n-gram, trained on the docstrings of Python's
standard library, so the text is on every machine) is passed to ``lm_eval.simple_evaluate`` with
three tasks on local data files (``dataset_path: json``): a 4-option and a 2-option
``multiple_choice`` task and a ``loglikelihood_rolling`` (perplexity) task. lm-eval's own
``EvaluationTracker`` writes ``results_<date>.json`` and ``samples_<task>_<date>.jsonl``, as
``lm_eval --log_samples --output_path`` does. Two "checkpoints" — the same model trained on
less and on more text — make a pair to compare.

    python examples/lm_eval/make_runs.py    # writes examples/lm_eval/runs/ (tasks/: their data) and the reports

The test suite calls :func:`write_run` to make its fixtures the same way. Needs
``pip install lm-eval`` (the test extra has it).
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import os
import random
import re
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Standard-library modules whose docstrings are the text: the training corpus and the tasks' data.
MODULES = ("json", "csv", "argparse", "collections", "textwrap", "difflib", "unittest", "logging", "subprocess",
           "pathlib", "email", "http.client", "urllib.parse", "xml.etree.ElementTree", "sqlite3", "tarfile",
           "zipfile", "datetime", "decimal", "fractions", "statistics", "itertools", "functools", "string",
           "shutil", "tempfile", "threading", "queue", "socket", "selectors", "asyncio", "heapq", "bisect")
TASKS = ("nextword4", "ending2", "docs_ppl")


def corpus() -> str:
    """The docstrings of MODULES and of their public functions and classes, in a fixed order."""
    parts: list[str] = []
    for name in MODULES:
        module = importlib.import_module(name)
        parts.append(inspect.getdoc(module) or "")
        for member, value in sorted(vars(module).items()):
            if member.startswith("_") or not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            if getattr(value, "__module__", None) != module.__name__:
                continue
            parts.append(inspect.getdoc(value) or "")
    return "\n\n".join(p for p in parts if p)


def _lm_class():
    from lm_eval.api.model import LM

    class CharNgram(LM):
        """A character n-gram model with add-alpha smoothing: log-likelihoods of continuations
        (``loglikelihood``) and of whole texts (``loglikelihood_rolling``), as lm-eval asks."""

        def __init__(self, text: str, order: int = 4, alpha: float = 0.05) -> None:
            super().__init__()
            self.order, self.alpha = order, alpha
            self.vocab = len(set(text)) + 1
            self.counts: dict[str, Counter] = defaultdict(Counter)
            padded = "\x02" * (order - 1) + text
            for i in range(order - 1, len(padded)):
                self.counts[padded[i - order + 1 : i]][padded[i]] += 1
            self.totals = {h: sum(c.values()) for h, c in self.counts.items()}

        def _history(self, text: str) -> str:
            return ("\x02" * (self.order - 1) + text)[len(text) :] if self.order > 1 else ""

        def _score(self, context: str, continuation: str) -> tuple[float, bool]:
            ll, greedy = 0.0, True
            text = "\x02" * (self.order - 1) + context
            for ch in continuation:
                h = text[len(text) - self.order + 1 :]
                c = self.counts.get(h)
                total = self.totals.get(h, 0)
                ll += math.log(((c[ch] if c else 0) + self.alpha) / (total + self.alpha * self.vocab))
                greedy = greedy and c is not None and c.most_common(1)[0][0] == ch
                text += ch
            return ll, greedy

        def loglikelihood(self, requests):
            return [self._score(*r.args[:2]) for r in requests]

        def loglikelihood_rolling(self, requests):
            return [self._score("", r.args[0])[0] for r in requests]

        def generate_until(self, requests):
            raise NotImplementedError("the tasks here score log-likelihoods only")

    return CharNgram


def write_data(folder: Path, text: str, seed: int = 0) -> dict[str, Path]:
    """The three tasks' data files (JSON lines) and YAML configs in ``folder``."""
    rng = random.Random(seed)
    sentences = [s.strip().replace("\n", " ") for s in re.split(r"(?<=[.!?])\s+", text)]
    sentences = [s for s in sentences if 40 < len(s) < 220 and len(s.split()) >= 7]
    rng.shuffle(sentences)
    words = sorted(set(re.findall(r"\b[a-z]{3,12}\b", text)))
    mc4, mc2 = [], []
    for i, s in enumerate(sentences[:900]):
        ws = s.split()
        k = rng.randint(3, len(ws) - 2)
        context, true = " ".join(ws[:k]), ws[k]
        options = [true] + rng.sample([w for w in words if w != true], 3)
        rng.shuffle(options)
        section = ("api", "guide", "reference")[i % 3]
        if i < 450:
            mc4.append({"qid": f"nw-{i:04d}", "context": context, "choices": options, "answer": options.index(true),
                        "section": section})
        else:
            ending = " ".join(ws[k:])
            shuffled = list(ws[k:])
            while " ".join(shuffled) == ending and len(set(shuffled)) > 1:
                rng.shuffle(shuffled)
            if " ".join(shuffled) == ending:
                continue
            pair = [ending, " ".join(shuffled)] if rng.random() < 0.5 else [" ".join(shuffled), ending]
            mc2.append({"context": context, "options": pair, "label": pair.index(ending), "section": section})
    paragraphs = [p.strip() for p in text.split("\n\n") if 120 < len(p.strip()) < 1500]
    rng.shuffle(paragraphs)
    docs = [{"text": p, "section": ("api", "guide", "reference")[i % 3]} for i, p in enumerate(paragraphs[:150])]
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, rows in (("nextword4", mc4), ("ending2", mc2), ("docs_ppl", docs)):
        files[name] = folder / f"{name}.jsonl"
        with open(files[name], "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    common = "dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {path}\ntest_split: test\n"
    mc = "output_type: multiple_choice\nmetric_list:\n  - metric: acc\n  - metric: acc_norm\n  - metric: brier_score\n"
    configs = {
        "nextword4": "doc_to_text: \"{{context}}\"\ndoc_to_choice: \"{{choices}}\"\ndoc_to_target: answer\n" + mc,
        "ending2": "doc_to_text: \"{{context}}\"\ndoc_to_choice: \"{{options}}\"\ndoc_to_target: label\n" + mc,
        "docs_ppl": ("output_type: loglikelihood_rolling\ndoc_to_text: \"\"\ndoc_to_target: \"{{text}}\"\n"
                     "metric_list:\n  - metric: word_perplexity\n  - metric: byte_perplexity\n"
                     "  - metric: bits_per_byte\n"),
    }
    for name, body in configs.items():
        (folder / f"{name}.yaml").write_text(f"task: {name}\n" + common.format(path=files[name]) + body)
    return files


def write_run(output_path: Path, tasks_folder: Path, training_share: float = 1.0, name: str = "char-ngram",
              order: int = 4, tasks: tuple[str, ...] = TASKS) -> Path:
    """Evaluate the n-gram model trained on the first ``training_share`` of the corpus on the tasks
    in ``tasks_folder`` (see :func:`write_data`), and save the run as ``lm_eval --output_path
    OUTPUT_PATH --log_samples`` does. Returns the folder that holds results_*.json."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    text = corpus()
    model = _lm_class()(text[: int(len(text) * training_share)], order=order)
    tracker = EvaluationTracker(output_path=str(output_path))
    results = lm_eval.simple_evaluate(model=model, model_args=f"pretrained={name},order={order},share={training_share}",
                                      tasks=list(tasks), log_samples=True, bootstrap_iters=1000,
                                      task_manager=TaskManager(include_path=str(tasks_folder)),
                                      evaluation_tracker=tracker, random_seed=0, numpy_random_seed=0,
                                      torch_random_seed=0, fewshot_random_seed=0)
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return Path(output_path) / tracker.general_config_tracker.model_name_sanitized


def main() -> None:
    """The committed example: two checkpoints of one model, their reports and their comparison."""
    import shutil
    import subprocess
    import sys

    runs = HERE / "runs"
    if runs.exists():
        shutil.rmtree(runs)
    data = HERE / "tasks"
    write_data(data, corpus())
    for step, share in (("step1000", 0.3), ("step2000", 1.0)):
        write_run(runs / step, data, training_share=share)
    root = HERE.parent.parent  # paths as a user in the repository writes them
    runs, reports = runs.relative_to(root), Path("examples/reports")
    cli = [sys.executable, "-m", "evalreport"]
    for step in ("step1000", "step2000"):
        subprocess.run([*cli, "report", str(runs / step), "-o", str(reports / f"lm_eval_{step}.html"),
                        "--json", str(reports / f"lm_eval_{step}.json"), "--markdown",
                        str(reports / f"lm_eval_{step}.md")], check=True, cwd=root)
    subprocess.run([*cli, "compare", str(runs / "step1000"), str(runs / "step2000"), "-o",
                    str(reports / "lm_eval_compare.html"), "--json", str(reports / "lm_eval_compare.json"),
                    "--markdown", str(reports / "lm_eval_compare.md")], check=True, cwd=root)


if __name__ == "__main__":
    main()
