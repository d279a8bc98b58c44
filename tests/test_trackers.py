"""Issue 13: attach the evaluation to an experiment tracker. MLflow is tested against a real local
tracking store (a SQLite file in a temporary folder), read back through MlflowClient; W&B in
offline mode, by reading back the run's files. The local outputs are written first, always."""

from __future__ import annotations

import json
import os
import time

import pytest

from conftest import EXAMPLES, run


def one_error_line(done, pattern: str) -> None:
    """Exit 2; the last line on stderr is the error (the summary of what was written may precede it)."""
    import re

    assert done.exit_code == 2, (done.exit_code, done.stderr)
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("evalreport: error: ") and re.search(pattern, last), last

mlflow = pytest.importorskip("mlflow") if not os.environ.get("CI") else __import__("mlflow")


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh SQLite tracking store; the working directory holds its artifacts."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def _run_id(stderr: str) -> str:
    return stderr.rsplit("logged to MLflow run ", 1)[1].split()[0]


def _artifact(client, run_id: str, path: str, tmp_path) -> bytes:
    local = client.download_artifacts(run_id, path, str(tmp_path / f"dl-{time.monotonic_ns()}"))
    with open(local, "rb") as f:
        return f.read()


def test_report_logs_the_json_figures_the_files_and_the_input(store, tmp_path):
    done = run(["report", EXAMPLES / "iris_predictions.csv", "--group-by", "fold", "-o", "r.html", "--json", "r.json",
                "--markdown", "r.md", "--mlflow", "--mlflow-experiment", "iris"])
    assert done.exit_code == 0, done.stderr
    run_id = _run_id(done.stderr)
    got = store.get_run(run_id)
    assert store.get_experiment(got.info.experiment_id).name == "iris" and got.info.status == "FINISHED"
    d = json.loads((tmp_path / "r.json").read_text())
    m = got.data.metrics
    o = d["overall"]
    for key in ("cross_entropy", "log_loss", "accuracy", "brier", "skill_vs_prior"):
        assert m[f"evalreport.{key}"] == o[key]
    assert m["evalreport.ece"] == d["calibration"]["ece"]
    assert (m["evalreport.band_score.ci95_low"], m["evalreport.band_score.ci95_high"]) == tuple(o["band_score_ci95"])
    for row in d["per_class"]:
        assert m[f"evalreport.class.{row['class']}.cross_entropy"] == row["cross_entropy"]
        assert m[f"evalreport.class.{row['class']}.band_score.ci95_high"] == row["ci95"][1]
    for row in d["groups"]["fold"]:
        assert m[f"evalreport.slice.fold.{row['value']}.cross_entropy"] == row["cross_entropy"]
    assert got.data.tags["evalreport.band"] == o["band"]
    assert got.data.params["evalreport.input.sha256"] == d["input"]["sha256"]
    assert got.data.params["evalreport.option.group_by"] == "fold"
    names = sorted(a.path for a in store.list_artifacts(run_id, "evalreport"))
    assert names == ["evalreport/report.html", "evalreport/report.json", "evalreport/report.md"]
    for local, remote in (("r.html", "report.html"), ("r.json", "report.json"), ("r.md", "report.md")):
        assert _artifact(store, run_id, f"evalreport/{remote}", tmp_path) == (tmp_path / local).read_bytes()


def test_logging_again_to_the_same_run_replaces_and_a_tracker_error_keeps_the_outputs(store, tmp_path, monkeypatch):
    done = run(["report", EXAMPLES / "iris_predictions.csv", "-o", "a.html", "--mlflow"])
    assert done.exit_code == 0, done.stderr
    run_id = _run_id(done.stderr)
    monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
    again = run(["report", EXAMPLES / "iris_predictions.csv", "-o", "b.html", "--mlflow"])
    assert again.exit_code == 0, again.stderr
    assert _run_id(again.stderr) == run_id
    assert len(store.list_artifacts(run_id, "evalreport")) == 3  # replaced, not copied
    assert _artifact(store, run_id, "evalreport/report.html", tmp_path) == (tmp_path / "b.html").read_bytes()
    # a different input into the same run: MLflow refuses to change a param — one line, outputs kept
    other = run(["report", EXAMPLES / "digits_predictions.csv", "-o", "c.html", "--mlflow"])
    one_error_line(other, r"MLflow: run \w+ already holds another evaluation \(its params differ: "
                          r"evalreport.input.sha256.*log this one to a new run$")
    assert (tmp_path / "c.html").stat().st_size > 10_000
    monkeypatch.setenv("MLFLOW_RUN_ID", "0123456789abcdef0123456789abcdef")
    bad = run(["report", EXAMPLES / "iris_predictions.csv", "-o", "d.html", "--mlflow"])
    one_error_line(bad, r"MLflow: .*not found.*")
    assert (tmp_path / "d.html").exists()


def test_an_unreachable_server_is_one_line_soon(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    started = time.monotonic()
    done = run(["report", EXAMPLES / "iris_predictions.csv", "-o", "r.html", "--mlflow"])
    one_error_line(done, r"MLflow: .*")
    assert time.monotonic() - started < 90
    assert (tmp_path / "r.html").exists()


def test_check_logs_each_gate_and_the_junit_file(store, tmp_path):
    done = run(["check", EXAMPLES / "iris_predictions.csv", "--max-score", "0.1", "--min-accuracy", "0.9",
                "--junit", "j.xml", "--json", "c.json", "--mlflow"])
    assert done.exit_code == 1, done.stderr  # the score gate fails: still logged
    run_id = _run_id(done.stderr)
    tags = store.get_run(run_id).data.tags
    assert tags["evalreport.gate.max-score"] == "failed" and tags["evalreport.gate.min-accuracy"] == "passed"
    assert tags["evalreport.passed"] == "false"
    assert _artifact(store, run_id, "evalreport/junit.xml", tmp_path) == (tmp_path / "j.xml").read_bytes()
    assert _artifact(store, run_id, "evalreport/check.json", tmp_path) == (tmp_path / "c.json").read_bytes()


def test_compare_logs_the_paired_difference(store, tmp_path):
    done = run(["compare", EXAMPLES / "digits_predictions.csv", EXAMPLES / "digits_predictions_logreg.csv",
                "-o", "c.html", "--json", "c.json", "--mlflow"])
    assert done.exit_code == 0, done.stderr
    run_id = _run_id(done.stderr)
    d = json.loads((tmp_path / "c.json").read_text())
    m = store.get_run(run_id).data.metrics
    assert m["evalreport.difference.cross_entropy"] == d["difference"]["cross_entropy"]
    assert m["evalreport.difference.band_score.ci95_low"] == d["difference"]["ci95"][0]
    assert m["evalreport.baseline.cross_entropy"] == d["baseline"]["cross_entropy"]
    assert store.get_run(run_id).data.tags["evalreport.verdict"] == d["difference"]["verdict"]


def test_from_python_and_names_mlflow_cannot_take(store, tmp_path):
    import numpy as np

    from evalreport import evaluate

    rng = np.random.default_rng(0)
    y = rng.choice(["a/b", "a?b", "c"], 300)  # '/' and '?' both become '_': the second is numbered
    proba = rng.dirichlet(np.ones(3), 300)
    r = evaluate(y, proba, classes=["a/b", "a?b", "c"], bootstrap=0)
    run_id = r.log_mlflow(experiment="python")
    m = store.get_run(run_id).data.metrics
    assert m["evalreport.class.a_b.cross_entropy"] == r.per_class[0].cross_entropy
    assert m["evalreport.class.a_b_2.cross_entropy"] == r.per_class[1].cross_entropy
    assert r.log_mlflow(run_id=run_id) == run_id
    # names longer than MLflow's 250-character keys allow: cut, numbered where they would collide
    long = ["x" * 300 + "a", "x" * 300 + "b"]
    r = evaluate(np.array(long)[np.arange(100) % 2], np.full((100, 2), 0.5), classes=long, bootstrap=0,
                 groups={"g" * 300: np.array(long)[np.arange(100) % 2]})
    m = store.get_run(r.log_mlflow()).data.metrics
    assert m["evalreport.class." + "x" * 95 + ".cross_entropy"] == r.per_class[0].cross_entropy
    assert m["evalreport.class." + "x" * 95 + "_2.cross_entropy"] == r.per_class[1].cross_entropy
    assert max(len(k) for k in m) <= 250


def test_without_mlflow_installed_the_message_says_how(monkeypatch, tmp_path):
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    done = run(["report", EXAMPLES / "iris_predictions.csv", "-o", "r.html", "--mlflow"])
    one_error_line(done, r"pip install 'evalreport\[mlflow\]'$")
    assert (tmp_path / "r.html").exists()
    usage = run(["report", EXAMPLES / "iris_predictions.csv", "-o", "r.html", "--mlflow-experiment", "x"])
    one_error_line(usage, r"--mlflow-experiment goes with --mlflow$")


# ------------------------------------------------------------------ Weights & Biases, offline


def _wandb_records(run_dir) -> list:
    """The records of an offline run's .wandb file: a LevelDB-style log (32 KiB blocks, 7-byte
    record headers) after W&B's 7-byte file header, each record a protobuf ``Record``."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = list(run_dir.glob("run-*.wandb"))
    b = path.read_bytes()
    assert b[:4] == b":W&B"
    pos, block, out, partial = 7, 32768, [], b""
    while pos + 7 <= len(b):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", b[pos : pos + 7])
        pos += 7
        if kind == 0 and length == 0:
            pos += left - 7
            continue
        data = b[pos : pos + length]
        pos += length
        if kind == 1:
            out.append(data)
        elif kind == 2:
            partial = data
        elif kind == 3:
            partial += data
        elif kind == 4:
            out.append(partial + data)
    records = []
    for data in out:
        r = pb.Record()
        r.ParseFromString(data)
        records.append(r)
    return records


@pytest.fixture
def offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.chdir(tmp_path)
    for key, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true",
                       "WANDB_CACHE_DIR": str(tmp_path / "cache"), "WANDB_DATA_DIR": str(tmp_path / "data"),
                       "WANDB_CONFIG_DIR": str(tmp_path / "config")}.items():
        monkeypatch.setenv(key, value)
    return tmp_path


def _md5_b64(data: bytes) -> str:
    import base64
    import hashlib

    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_wandb_offline_run_holds_the_figures_tables_report_and_artifact(offline):
    done = run(["report", EXAMPLES / "iris_predictions.csv", "--group-by", "fold", "-o", "r.html", "--json", "r.json",
                "--markdown", "r.md", "--wandb"])
    assert done.exit_code == 0, done.stderr
    (run_dir,) = [p for p in (offline / "wandb").glob("offline-run-*") if p.is_dir()]
    d = json.loads((offline / "r.json").read_text())
    summary = {}
    manifests = []
    for rec in _wandb_records(run_dir):
        kind = rec.WhichOneof("record_type")
        if kind == "summary":
            summary.update({u.key: json.loads(u.value_json) for u in rec.summary.update if u.key})
        elif kind == "artifact":
            manifests.append({m.path: m.digest for m in rec.artifact.manifest.contents})
    assert summary["evalreport.cross_entropy"] == d["overall"]["cross_entropy"]
    assert summary["evalreport.band"] == d["overall"]["band"]
    for row in d["per_class"]:
        assert summary[f"evalreport.class.{row['class']}.cross_entropy"] == row["cross_entropy"]
    ours = [m for m in manifests if "report.html" in m]
    assert ours and ours[0] == {name: _md5_b64((offline / local).read_bytes())
                                for name, local in (("report.html", "r.html"), ("report.json", "r.json"),
                                                    ("report.md", "r.md"))}
    media = run_dir / "files" / "media"
    (html,) = list(media.glob("html/evalreport/report_*.html"))
    assert html.read_bytes() == (offline / "r.html").read_bytes()
    (table,) = list(media.glob("table/evalreport/per_class_*.table.json"))
    t = json.loads(table.read_text())
    rows = [dict(zip(t["columns"], r)) for r in t["data"]]
    assert [r["class"] for r in rows] == [r["class"] for r in d["per_class"]]
    assert [r["cross_entropy"] for r in rows] == [r["cross_entropy"] for r in d["per_class"]]
    assert list(media.glob("table/evalreport/slices/fold_*.table.json"))


def test_wandb_from_python_into_a_run_of_ones_own(offline):
    import wandb

    from evalreport import evaluate

    r = evaluate(EXAMPLES / "iris_predictions.csv", bootstrap=0)
    own = wandb.init(project="mine")
    where = r.log_wandb(run=own)
    assert own.summary["evalreport.cross_entropy"] == r.overall.cross_entropy
    own.finish()
    assert "offline-run" in where


def test_without_wandb_installed_the_message_says_how(monkeypatch, tmp_path):
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "wandb", None)
    done = run(["report", EXAMPLES / "iris_predictions.csv", "-o", "r.html", "--wandb"])
    one_error_line(done, r"pip install 'evalreport\[wandb\]'$")
    assert (tmp_path / "r.html").exists()


def test_the_mlflow_example_trains_logs_and_attaches_the_report(tmp_path):
    """The README's example: a model trained and tracked, evalreport run against its run."""
    import subprocess
    import sys

    from mlflow.tracking import MlflowClient

    done = subprocess.run([sys.executable, str(EXAMPLES / "mlflow_example.py"), "--store", str(tmp_path / "s")],
                          capture_output=True, text=True, cwd=tmp_path, check=False,
                          env={k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "mlflow ui --backend-store-uri sqlite:///" in done.stdout
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 's' / 'mlflow.db'}")
    (exp,) = [e for e in client.search_experiments() if e.name == "digits"]
    (r,) = client.search_runs([exp.experiment_id])
    assert {"train_accuracy", "evalreport.cross_entropy"} <= set(r.data.metrics)
    assert {a.path for a in client.list_artifacts(r.info.run_id, "evalreport")} == {
        "evalreport/report.html", "evalreport/report.json", "evalreport/report.md"}
