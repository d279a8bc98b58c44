"""Issue 24: lm-evaluation-harness runs, read directly. The fixtures are written by lm-eval itself
(conftest.lm_runs); every harness figure is checked against the run's own results file, ours
against scikit-learn."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import softmax

from evalreport import InputError, UsageError, evaluate

from conftest import EXAMPLES, run
from test_hardening import one_error_line

EXAMPLES_DIGITS = EXAMPLES / "digits_predictions.csv"

pytest.importorskip("lm_eval")
TASKS = {"nextword4": "multiple_choice", "ending2": "multiple_choice", "docs_ppl": "loglikelihood_rolling"}


def _results(folder: Path) -> dict:
    (path,) = folder.glob("results_*.json")
    return json.loads(path.read_text())


def _samples(folder: Path, task: str) -> list[dict]:
    (path,) = folder.glob(f"samples_{task}_*.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


@pytest.mark.parametrize("step", ["step1000", "step2000"])
def test_every_harness_figure_equals_the_runs_results_file(lm_runs, step):
    folder = lm_runs[step]
    reported = _results(folder)["results"]
    r = evaluate(folder)
    assert {t.task: t.kind for t in r.lm.tasks} == TASKS
    checked = 0
    for t in r.lm.tasks:
        for name, value in t.harness.items():
            expected = reported[t.task][f"{name},none"]
            assert _rel(value, expected) < 1e-9, (t.task, name, value, expected)
            checked += 1
            stderr = reported[t.task].get(f"{name}_stderr,none")
            if isinstance(stderr, float):  # the harness has one for acc and acc_norm
                assert _rel(t.stderr[name], stderr) < 1e-9, (t.task, name)
                checked += 1
        assert t.documents == _results(folder)["n-samples"][t.task]["effective"]
    assert checked == 3 * 3 + 2 * 2  # three figures per task, two standard errors per multiple-choice task


def test_the_output_path_the_model_folder_a_results_file_and_a_samples_file_are_all_read(lm_runs):
    folder = lm_runs["step2000"]
    whole = evaluate(folder, bootstrap=0)
    assert evaluate(folder.parent, bootstrap=0).lm.tasks == whole.lm.tasks  # lm_eval's --output_path
    (results,) = folder.glob("results_*.json")
    assert evaluate(results, bootstrap=0).lm.tasks == whole.lm.tasks
    (samples,) = folder.glob("samples_nextword4_*.jsonl")
    alone = evaluate(samples, bootstrap=0)  # no results file: the type from the line's shape
    (task,) = alone.lm.tasks
    assert task.task == "nextword4" and task.harness == next(t for t in whole.lm.tasks if t.task == "nextword4").harness
    assert all(v is None for v in task.reported.values())


def test_cross_entropy_over_options_equals_scikit_learns_log_loss_of_the_softmax(lm_runs):
    from sklearn.metrics import log_loss

    folder = lm_runs["step2000"]
    r = evaluate(folder, group_by="section")
    all_y, all_q = [], []
    for task in ("nextword4", "ending2"):
        docs = _samples(folder, task)
        lls = np.array([[float(x[0]) for x in d["filtered_resps"]] for d in docs])
        y = np.array([int(d["target"]) for d in docs])
        q = softmax(lls, axis=1)
        expected = log_loss(y, q, labels=range(q.shape[1]))
        t = next(t for t in r.lm.tasks if t.task == task)
        assert _rel(t.cross_entropy, expected) < 1e-9
        row = next(s for s in r.groups["task"] if s.value == task)
        assert _rel(row.cross_entropy, expected) < 1e-9  # the classifier's slice: the same figure
        assert t.ci95 == pytest.approx(row.ci95, rel=1e-12)  # one bootstrap: a document keeps its block by its key
        padded = np.zeros((len(y), 4))
        padded[:, : q.shape[1]] = q
        all_y.append(y), all_q.append(padded)
    y, q = np.concatenate(all_y), np.concatenate(all_q)
    assert _rel(r.overall.log_loss, log_loss(y, q, labels=range(4))) < 1e-9
    assert r.classes == ("A", "B", "C", "D") and r.rows == len(y)
    assert {s.value for s in r.groups["section"]} == {"api", "guide", "reference"}


def test_perplexity_task_figures_are_ratios_of_sums_with_sequence_intervals(lm_runs):
    folder = lm_runs["step1000"]
    docs = _samples(folder, "docs_ppl")
    ll = np.array([float(d["filtered_resps"][0]) for d in docs])
    words = np.array([d["word_perplexity"][1] for d in docs])
    nbytes = np.array([len(d["target"].encode()) for d in docs])
    r = evaluate(folder)
    t = next(t for t in r.lm.tasks if t.task == "docs_ppl")
    assert _rel(t.harness["word_perplexity"], math.exp(-ll.sum() / words.sum())) < 1e-9
    assert _rel(t.harness["bits_per_byte"], -ll.sum() / nbytes.sum() / math.log(2)) < 1e-9
    assert _rel(t.cross_entropy, -ll.sum() / nbytes.sum()) < 1e-9 and t.per == "byte" and t.band is None
    lo, hi = t.ci95
    assert lo < t.cross_entropy < hi
    assert r.lm.overall.bits_per_byte == pytest.approx(t.harness["bits_per_byte"], rel=1e-12)


def test_the_report_command_on_a_run(lm_runs, tmp_path):
    folder = lm_runs["step2000"]
    done = run(["report", folder, "-o", tmp_path / "r.html", "--json", tmp_path / "r.json", "--markdown",
                tmp_path / "r.md", "--group-by", "section"])
    assert done.exit_code == 0, done.stderr
    assert done.stderr.startswith("lm-eval run char-ngram: 3 task(s), 1,")
    data = json.loads((tmp_path / "r.json").read_text())
    assert [t["task"] for t in data["lm"]["tasks"]] == ["docs_ppl", "ending2", "nextword4"]
    mc = data["lm"]["tasks"][2]
    assert set(mc) >= {"acc", "acc_norm", "brier_score", "stderr", "cross_entropy", "ci95", "band", "documents"}
    assert data["input"]["format"] == "lm-eval" and len(data["input"]["sha256"]) == 64
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((tmp_path / "r.html").read_text(), "html.parser")
    rows = soup.select("#lm-tasks tbody tr")
    assert [row["data-task"] for row in rows] == ["docs_ppl", "ending2", "nextword4"]
    assert len(soup.select("#lm-tasks .same")) == 9  # every harness figure equals the results file's
    assert soup.select_one("#calibration") is not None and soup.select_one("#lm-meaning") is not None
    md = (tmp_path / "r.md").read_text()
    assert "| nextword4 |" in md and len(md.splitlines()) <= 60


def test_a_group_by_names_a_field_of_the_documents(lm_runs):
    with pytest.raises(InputError, match=r"no document holds a field 'subject'.*their fields: 'answer', 'choices'"):
        evaluate(lm_runs["step2000"], group_by="subject")
    with pytest.raises(UsageError, match="reads a predictions table's columns"):
        evaluate(lm_runs["step2000"], score_col="p")


# --------------------------------------------------------------------------- filters


def _copy_run(folder: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(folder, dest)
    return dest


def test_a_task_under_two_filters_needs_filter_and_never_counts_a_document_twice(lm_runs, tmp_path):
    folder = _copy_run(lm_runs["step2000"], tmp_path / "run")
    (path,) = folder.glob("samples_ending2_*.jsonl")
    lines = path.read_text().splitlines()
    other = [json.loads(line) | {"filter": "strict"} for line in lines]
    path.write_text("\n".join(lines + [json.dumps(o) for o in other]) + "\n")
    with pytest.raises(InputError, match=r"task 'ending2' is logged under 2 filters \('none', 'strict'\).*filter=NAME"):
        evaluate(folder)
    done = run(["report", folder, "--filter", "strict", "-o", tmp_path / "r.html", "--json", tmp_path / "r.json"])
    assert done.exit_code == 0, done.stderr
    task = next(t for t in json.loads((tmp_path / "r.json").read_text())["lm"]["tasks"] if t["task"] == "ending2")
    assert task["filter"] == "strict" and task["documents"] == len(lines)
    one_error_line(run(["report", folder, "--filter", "strictest", "-o", tmp_path / "r.html"]),
                   r"no task has the filter 'strictest'; the filters: 'none', 'strict'")


# --------------------------------------------------------------------------- malformed logs


def _mutate(lm_runs, tmp_path, task: str, line: int, change) -> Path:
    folder = _copy_run(lm_runs["step2000"], tmp_path / "run")
    (path,) = folder.glob(f"samples_{task}_*.jsonl")
    lines = path.read_text().splitlines()
    lines[line - 1] = change(lines[line - 1])
    path.write_text("\n".join(lines) + "\n")
    return folder


def _drop_last_option(line):
    obj = json.loads(line)
    obj["filtered_resps"], obj["resps"] = obj["filtered_resps"][:-1], obj["resps"][:-1]
    del obj["arguments"][f"gen_args_{len(obj['arguments']) - 1}"]
    return json.dumps(obj)


def _no_responses(line):
    obj = json.loads(line)
    del obj["filtered_resps"], obj["resps"]
    return json.dumps(obj)


def _edit(key, value):
    def change(line):
        obj = json.loads(line)
        if value is KeyError:
            del obj[key]
        else:
            obj[key] = value(obj[key]) if callable(value) else value
        return json.dumps(obj)
    return change


@pytest.mark.parametrize("task,line,change,pattern", [
    ("nextword4", 7, lambda s: s[: len(s) // 2], r"samples_nextword4_.*: line 7: not valid JSON \(the line is cut short"),
    ("nextword4", 3, _edit("filtered_resps", lambda r: [["abc", "False"]] + r[1:]),
     r"line 3: field 'filtered_resps\[0\]': 'abc' is not a number"),
    ("nextword4", 5, _no_responses, r"line 5: no field 'resps'"),
    ("nextword4", 9, _drop_last_option, r"line 9: field 'filtered_resps': 3 options, but the task's first document "
                                        r"\(line 1\) has 4"),
    ("ending2", 4, _edit("doc_id", 0), r"line 4: doc_id '0' again \(first on line 1, filter 'none'\)"),
    ("nextword4", 2, _edit("target", "7"), r"line 2: field 'target': gold option 7 is out of range \(the document "
                                           r"has 4 options, 0–3\)"),
    ("docs_ppl", 6, _edit("filtered_resps", ["-inf?"]), r"line 6: field 'filtered_resps': '-inf\?' is not a number"),
    ("ending2", 8, lambda s: "[1, 2]", r"line 8: not a JSON object"),
], ids=["truncated", "non-number", "no-resps", "option-count", "duplicate-id", "gold-out-of-range", "rolling-nan",
        "not-an-object"])
def test_a_malformed_log_is_one_line_naming_the_file_line_and_field(lm_runs, tmp_path, task, line, change, pattern):
    folder = _mutate(lm_runs, tmp_path, task, line, change)
    done = run(["report", folder, "-o", tmp_path / "r.html"])
    one_error_line(done, pattern)
    assert not (tmp_path / "r.html").exists()


def test_a_results_file_that_is_not_json_and_a_run_without_samples(lm_runs, tmp_path):
    folder = _copy_run(lm_runs["step2000"], tmp_path / "run")
    (results,) = folder.glob("results_*.json")
    results.write_text("{not json")
    one_error_line(run(["report", folder, "-o", tmp_path / "r.html"]), r"results_.*\.json: is not valid JSON")
    for f in folder.glob("samples_*.jsonl"):
        f.unlink()
    results.write_text("{}")
    one_error_line(run(["report", folder, "-o", tmp_path / "r.html"]), r"holds no samples files.*--log_samples")


def test_two_runs_in_one_folder_are_named(lm_runs, tmp_path):
    folder = _copy_run(lm_runs["step2000"], tmp_path / "run")
    for f in list(folder.iterdir()):
        f.with_name(f.name.replace("2026", "2025") if "2026" in f.name else "x" + f.name).write_bytes(f.read_bytes())
    one_error_line(run(["report", folder, "-o", tmp_path / "r.html"]), r"holds 2 runs .*pass one run's results file")


# --------------------------------------------------------------------------- two checkpoints


def _paired_numpy(keys, num_a, den_a, num_b, den_b, replicates=200, seed=0):
    """A paired bootstrap written out in numpy: each document's Poisson weight from the run's
    replicate weights of its block (its key's hash), the ratio of weighted sums per side per
    replicate, the 2.5% and 97.5% percentiles of the difference."""
    from evalreport.compute import Bootstrap, replicate_weights
    from evalreport.compute.lm import sequence_blocks

    w = replicate_weights(Bootstrap(replicates, seed))[sequence_blocks(keys)].astype(float)  # (docs, R)
    diff = (w.T @ num_b) / (w.T @ den_b) - (w.T @ num_a) / (w.T @ den_a)
    return tuple(np.percentile(diff, [2.5, 97.5]))


def test_compare_two_checkpoints_pairs_documents_with_a_numpy_paired_bootstrap(lm_runs):
    from evalreport import compare
    from evalreport.load.harness import document_key
    from evalreport.load.validate import key_hashes

    a_dir, b_dir = lm_runs["step1000"], lm_runs["step2000"]
    c = compare(a_dir, b_dir)
    by_task = {t.task: t for t in c.lm.tasks}
    assert c.matched_by == "task and doc_id" and set(by_task) == set(TASKS)
    ra, rb = _results(a_dir)["results"], _results(b_dir)["results"]
    for task in ("nextword4", "ending2"):
        d = by_task[task].differences["acc"]
        assert d.difference == pytest.approx(rb[task]["acc,none"] - ra[task]["acc,none"], rel=1e-9)
        docs_a, docs_b = _samples(a_dir, task), _samples(b_dir, task)
        b_by_id = {x["doc_id"]: x for x in docs_b}
        acc = [np.array([float(x["acc"]) for x in docs]) for docs in (docs_a, [b_by_id[x["doc_id"]] for x in docs_a])]
        keys = key_hashes([document_key(task, x["doc_id"]) for x in docs_a])
        ones = np.ones(len(docs_a))
        assert d.ci95 == pytest.approx(_paired_numpy(keys, acc[0], ones, acc[1], ones), rel=1e-12)
        assert d.higher_is_better and d.verdict in ("better", "no clear difference", "worse")
    bpb = by_task["docs_ppl"].differences["bits_per_byte"]
    assert bpb.difference == pytest.approx(rb["docs_ppl"]["bits_per_byte,none"] - ra["docs_ppl"]["bits_per_byte,none"],
                                           rel=1e-9)
    assert bpb.verdict == "better"  # the model trained on all of the text reads it better
    assert c.score.name == "band score" and c.score.ci95 is not None  # the classifier part: CE over the options


def test_compare_cli_and_check_baseline_on_runs(lm_runs, tmp_path):
    a_dir, b_dir = lm_runs["step1000"], lm_runs["step2000"]
    done = run(["compare", a_dir, b_dir, "-o", tmp_path / "c.html", "--json", tmp_path / "c.json", "--markdown",
                tmp_path / "c.md"])
    assert done.exit_code == 0, done.stderr
    data = json.loads((tmp_path / "c.json").read_text())
    tasks = {t["task"]: t for t in data["lm"]["tasks"]}
    assert set(tasks["nextword4"]["difference"]) == {"acc", "acc_norm", "cross_entropy", "brier_score"}
    assert tasks["docs_ppl"]["difference"]["bits_per_byte"]["ci95"][1] < 0
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((tmp_path / "c.html").read_text(), "html.parser")
    assert len(soup.select("#lm-task-differences tbody tr")) == 4 + 4 + 2
    assert "| nextword4 | `acc` |" in (tmp_path / "c.md").read_text()
    better = run(["check", b_dir, "--baseline", a_dir, "--max-regression", "0", "--significant"])
    assert better.exit_code == 0, better.stdout + better.stderr
    worse = run(["check", a_dir, "--baseline", b_dir, "--max-regression", "0", "--significant"])
    assert worse.exit_code == 1


def test_compare_refuses_runs_of_other_documents(lm_runs, tmp_path):
    a_dir = lm_runs["step1000"]
    other = _mutate(lm_runs, tmp_path, "ending2", 3, _edit("doc_hash", "0" * 64))
    one_error_line(run(["compare", a_dir, other, "-o", tmp_path / "c.html"]),
                   r"task 'ending2': doc_id '2' is another document than the baseline's \(its doc_hash differs\)")
    fewer = _copy_run(lm_runs["step2000"], tmp_path / "fewer")
    next(fewer.glob("samples_docs_ppl_*.jsonl")).unlink()
    one_error_line(run(["compare", a_dir, fewer, "-o", tmp_path / "c.html"]),
                   r"its tasks differ from the baseline's: only the baseline has 'docs_ppl'")
    one_error_line(run(["compare", a_dir, EXAMPLES_DIGITS, "-o", tmp_path / "c.html"]),
                   r"compare needs two evaluations of one kind: the baseline .* is an lm-eval run, the candidate .* a "
                   r"predictions file")


# --------------------------------------------------------------------------- gates


def test_lm_gates_on_a_run_per_task_and_from_settings(lm_runs, tmp_path, monkeypatch):
    folder = lm_runs["step2000"]
    reported = _results(folder)["results"]
    acc = {t: reported[t]["acc,none"] for t in ("nextword4", "ending2")}
    low = min(acc.values())
    assert run(["check", folder, "--min-acc", f"{low - 0.01:.4f}"]).exit_code == 0
    failed = run(["check", folder, "--min-acc", f"{low + 0.01:.4f}", "--json", tmp_path / "c.json"])
    assert failed.exit_code == 1
    gates = json.loads((tmp_path / "c.json").read_text())["gates"]
    assert [g["passed"] for g in gates] == [acc[g["condition"].split(":")[0]] >= low + 0.01 for g in gates]
    bpb = reported["docs_ppl"]["bits_per_byte,none"]
    assert run(["check", folder, "--max-bits-per-byte", f"{bpb + 0.01:.4f}"]).exit_code == 0
    assert run(["check", folder, "--max-bits-per-byte", f"{bpb - 0.01:.4f}"]).exit_code == 1
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evalreport.toml").write_text(f"[gates]\nmin_acc = 0.1\n[gates.tasks.nextword4]\nmin_acc = "
                                              f"{acc['nextword4'] + 0.01:.4f}\n")
    per_task = run(["check", folder])
    assert per_task.exit_code == 1 and "nextword4: acc ≥" in per_task.stdout
    (tmp_path / "evalreport.toml").write_text("[gates.tasks.hellaswag]\nmin_acc = 0.5\n")
    one_error_line(run(["check", folder]), r"the gates settings name task\(s\) the run does not have: 'hellaswag'")


def test_a_run_and_a_comparison_are_logged_to_mlflow(lm_runs, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    from mlflow.tracking import MlflowClient

    done = run(["report", lm_runs["step2000"], "-o", "r.html", "--json", "r.json", "--mlflow"])
    assert done.exit_code == 0, done.stderr
    run_id = done.stderr.rsplit("logged to MLflow run ", 1)[1].split()[0]
    m = MlflowClient().get_run(run_id).data.metrics
    d = json.loads((tmp_path / "r.json").read_text())
    for t in d["lm"]["tasks"]:
        for key in ("acc", "bits_per_byte", "cross_entropy"):
            if t.get(key) is not None:
                assert m[f"evalreport.task.{t['task']}.{key}"] == t[key]
    assert m["evalreport.lm.bits_per_byte"] == d["lm"]["overall"]["bits_per_byte"]
    done = run(["compare", lm_runs["step1000"], lm_runs["step2000"], "-o", "c.html", "--json", "c.json", "--mlflow"])
    assert done.exit_code == 0, done.stderr
    run_id = done.stderr.rsplit("logged to MLflow run ", 1)[1].split()[0]
    m = MlflowClient().get_run(run_id).data.metrics
    c = json.loads((tmp_path / "c.json").read_text())
    acc = next(t for t in c["lm"]["tasks"] if t["task"] == "nextword4")["difference"]["acc"]
    assert m["evalreport.difference.task.nextword4.acc"] == acc["difference"]
    assert m["evalreport.difference.task.nextword4.acc.ci95_low"] == acc["ci95"][0]
