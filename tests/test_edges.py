"""Issue 23: fail closed where evalreport meets other systems — baselines, the step summary,
streams, Dask, MLflow, settings and the Python API. One test per reported behaviour; each failed
on main ed04ee8."""

from __future__ import annotations

import json
import re
import os
import resource
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import EXAMPLES, run
from test_hardening import one_error_line

IRIS = EXAMPLES / "iris_predictions.csv"


def evalreport_cmd(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalreport", *map(str, args)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, **kw)


# --------------------------------------------------------------------------- 1. JSON baselines


@pytest.fixture
def iris_json(tmp_path):
    path = tmp_path / "base.json"
    assert run(["report", IRIS, "-o", tmp_path / "r.html", "--json", path]).exit_code == 0
    return path


@pytest.mark.parametrize("score", [True, " 9 ", "0.15", "nan", None, [0.1], 10 ** 400],
                         ids=["true", "spaced-string", "numeric-string", "nan-string", "null", "list", "401-digits"])
def test_a_baseline_score_that_is_not_a_json_number_fails_closed(tmp_path, iris_json, score):
    data = json.loads(iris_json.read_text())
    data["overall"]["band_score"] = score
    iris_json.write_text(json.dumps(data))
    line = one_error_line(run(["check", IRIS, "--baseline", iris_json, "--max-regression", "0.5"]),
                          r"base\.json: is not an evalreport JSON report \(TypeError: overall\.band_score ")
    assert len(line) < 300  # a 401-digit number is not printed whole


@pytest.mark.parametrize("rows", ["150", 150.0, True])
def test_a_baseline_row_count_that_is_not_a_whole_json_number_fails_closed(tmp_path, iris_json, rows):
    data = json.loads(iris_json.read_text())
    data["rows"] = rows
    iris_json.write_text(json.dumps(data))
    one_error_line(run(["check", IRIS, "--baseline", iris_json, "--max-regression", "0.5"]), r"rows must be a whole")


# --------------------------------------------------------------------------- 2. the step summary


def test_markdown_to_the_step_summary_appends_once_and_keeps_what_was_there(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("# an earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    done = run(["check", IRIS, "--max-score", "1", "--markdown", summary])
    assert done.exit_code == 0, done.stderr
    text = summary.read_text()
    assert text.startswith("# an earlier step\n")
    assert text.count("## evalreport check") == 1


@pytest.mark.parametrize("option,name", [("--json", "summary.json"), ("--junit", "summary.xml"),
                                         ("-o", "summary.html")])
def test_another_output_on_the_step_summary_is_refused_before_any_work(tmp_path, monkeypatch, option, name):
    summary = tmp_path / name
    summary.write_text("earlier\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    one_error_line(run(["check", IRIS, "--max-score", "1", option, summary]),
                   rf"{option} .*{name}: is the step summary \(GITHUB_STEP_SUMMARY\)")
    assert summary.read_text() == "earlier\n"


# --------------------------------------------------------------------------- 3. short writes


def _file_size_limit(limit: int):
    def limit_it():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limit_it


@pytest.mark.parametrize("command", [["report", IRIS, "-o", os.devnull, "--json", "-"],
                                     ["check", IRIS, "--max-score", "1", "--json", "-"]], ids=["report", "check"])
def test_a_short_write_to_standard_output_is_exit_2_naming_it(tmp_path, command):
    out = tmp_path / "out.json"
    with open(out, "wb") as f:
        done = subprocess.run([sys.executable, "-m", "evalreport", *map(str, command)], stdout=f,
                              stderr=subprocess.PIPE, preexec_fn=_file_size_limit(8192))
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "evalreport: error: standard output (--json -): cannot write (File too large)" in err
    assert out.stat().st_size <= 8192


def test_a_short_write_to_the_step_summary_is_exit_2(tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("x" * 8000)
    env = {**os.environ, "GITHUB_STEP_SUMMARY": str(summary)}
    done = subprocess.run([sys.executable, "-m", "evalreport", "check", str(IRIS), "--max-score", "1"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                          preexec_fn=_file_size_limit(8192))
    assert done.returncode == 2, done.stderr
    assert b"summary.md (GITHUB_STEP_SUMMARY): cannot write" in done.stderr


def test_write_fully_retries_a_short_write_and_names_a_stream_that_takes_nothing():
    from evalreport.errors import OutputError
    from evalreport.output import write_fully

    class Stingy:
        def __init__(self, takes):
            self.takes, self.got = list(takes), b""

        def write(self, data):
            n = min(self.takes.pop(0), len(data))
            self.got += bytes(data[:n])
            return n

        def flush(self):
            pass

    whole = Stingy([3, 4, 100])
    write_fully(whole, b"0123456789", "a stream")
    assert whole.got == b"0123456789"
    with pytest.raises(OutputError, match=r"a stream: cannot write \(it took 3 of 10 bytes\)"):
        write_fully(Stingy([3, 0]), b"0123456789", "a stream")


# --------------------------------------------------------------------------- 4. Dask on a mixed folder


def test_dask_refuses_a_folder_of_csv_and_parquet_parts(tmp_path):
    pytest.importorskip("dask.dataframe")
    parts = tmp_path / "parts"
    parts.mkdir()
    df = pd.read_csv(IRIS)
    df.iloc[:50].to_parquet(parts / "a.parquet")
    df.iloc[50:].to_csv(parts / "b.csv", index=False)
    one_error_line(run(["report", parts, "--engine", "dask", "-o", tmp_path / "r.html"]),
                   r"parts: holds both Parquet \(1 files, e\.g\. 'a\.parquet'\) and CSV parts \(1 files, e\.g\. "
                   r"'b\.csv'\); --engine dask reads one format")
    assert not (tmp_path / "r.html").exists()


# --------------------------------------------------------------------------- 5. reserved slice names


@pytest.fixture
def hostile_slices(tmp_path):
    rng = np.random.default_rng(0)
    n = 600
    p = rng.uniform(0.05, 0.95, n)
    g = np.array(["a", "(missing)", "", "(other)", "b", "c"])[np.arange(n) % 6]
    df = pd.DataFrame({"label": (rng.uniform(size=n) < p).astype(int), "p_0": 1 - p, "p_1": p, "g": g})
    path = tmp_path / "slices.csv"
    df.to_csv(path, index=False)
    return path


def test_a_value_named_missing_is_not_merged_with_the_rows_without_a_value(tmp_path, hostile_slices):
    assert run(["report", hostile_slices, "--group-by", "g", "-o", tmp_path / "r.html", "--json", tmp_path / "r.json",
                "--markdown", tmp_path / "r.md"]).exit_code == 0
    rows = json.loads((tmp_path / "r.json").read_text())["groups"]["g"]
    by = {(r["kind"], r["value"]): r["rows"] for r in rows}
    assert by == {("value", "a"): 100, ("value", "(missing)"): 100, ("value", "(other)"): 100, ("value", "b"): 100,
                  ("value", "c"): 100, ("missing", None): 100}
    warnings = json.loads((tmp_path / "r.json").read_text())["warnings"]
    assert any("100 row(s) have no value" in w for w in warnings)
    md = (tmp_path / "r.md").read_text()
    assert "| \\(missing\\) | 100 |" in md and "| *(missing)* | 100 |" in md
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((tmp_path / "r.html").read_text(), "html.parser")
    cells = soup.select("section.slices td.name")
    assert [c.get_text() for c in cells if c.select_one("em")] == ["(missing)"]
    assert sorted(c.get_text() for c in cells if not c.select_one("em")) == ["(missing)", "(other)", "a", "b", "c"]


def test_a_value_named_other_does_not_stand_beside_the_folded_row_under_one_name(tmp_path, hostile_slices):
    assert run(["report", hostile_slices, "--group-by", "g", "--max-slices", "3", "-o", tmp_path / "r.html",
                "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md"]).exit_code == 0
    rows = json.loads((tmp_path / "r.json").read_text())["groups"]["g"]
    other = [r for r in rows if r["kind"] == "other"]
    assert len(other) == 1 and other[0]["value"] is None and other[0]["folded_values"] == 3
    assert sum(r["rows"] for r in rows) == 600
    assert all(r["value"] is not None for r in rows if r["kind"] == "value")


def test_compare_pairs_the_missing_slice_with_the_missing_slice(tmp_path, hostile_slices):
    from evalreport import compare

    df = pd.read_csv(hostile_slices, keep_default_na=False)
    other = df.assign(p_1=np.clip(df["p_1"] * 0.9, 0, 1), p_0=lambda d: 1 - d["p_1"])
    c = compare(df, other, group_by="g")
    by = {(d.kind, d.name): d for d in c.groups["g"]}
    assert ("missing", "(missing)") in by and ("value", "(missing)") in by
    data = c.to_dict()["groups"]["g"]
    assert sorted((r["kind"], r["value"] or "") for r in data) == [
        ("missing", ""), ("value", "(missing)"), ("value", "(other)"), ("value", "a"), ("value", "b"), ("value", "c")]
    missing = by[("missing", "(missing)")]
    alone_b = compare(df[df.g == ""].reset_index(drop=True), other[other.g == ""].reset_index(drop=True))
    assert missing.difference == pytest.approx(alone_b.score.difference, rel=1e-12)


# --------------------------------------------------------------------------- 6, 7, 14. MLflow

mlflow = pytest.importorskip("mlflow") if not os.environ.get("CI") else __import__("mlflow")


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(name, raising=False)
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def _run_id(stderr: str) -> str:
    return stderr.rsplit("logged to MLflow run ", 1)[1].split()[0]


def _snapshot(client, run_id):
    run = client.get_run(run_id)
    history = {k: [m.value for m in client.get_metric_history(run_id, k)] for k in run.data.metrics}
    return run.info.status, dict(run.data.params), dict(run.data.tags), history


@pytest.mark.parametrize("second", [[EXAMPLES / "digits_predictions.csv"], [IRIS, "--unit", "bits"]],
                         ids=["another-input", "another-unit"])
def test_a_refused_mlflow_log_writes_nothing(store, tmp_path, monkeypatch, second):
    first = run(["report", IRIS, "-o", "a.html", "--mlflow"])
    assert first.exit_code == 0, first.stderr
    run_id = _run_id(first.stderr)
    before = _snapshot(store, run_id)
    monkeypatch.setenv("MLFLOW_RUN_ID", run_id)
    refused = run(["report", *second, "-o", "b.html", "--mlflow"])
    assert refused.exit_code == 2
    assert "already holds another evaluation" in refused.stderr and "nothing was logged" in refused.stderr
    assert _snapshot(store, run_id) == before


def test_slice_values_that_are_paths_are_logged_under_clean_names(store, tmp_path):
    df = pd.read_csv(IRIS)
    df["g"] = np.array(["../../x", "a/b", "..", "/abs"])[np.arange(len(df)) % 4]
    df.to_csv(tmp_path / "p.csv", index=False)
    done = run(["report", tmp_path / "p.csv", "--group-by", "g", "-o", "r.html", "--json", "r.json", "--mlflow"])
    assert done.exit_code == 0, done.stderr
    got = store.get_run(_run_id(done.stderr))
    assert got.info.status == "FINISHED"
    names = {k.split(".cross_entropy")[0] for k in got.data.metrics if k.startswith("evalreport.slice.g.")
             and k.endswith(".cross_entropy")}
    assert len(names) == 4 and not any("/" in n for n in names)
    assert "evalreport.cross_entropy" in got.data.metrics


def test_a_log_that_fails_part_way_says_what_the_run_holds(store, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from evalreport import TrackerError, evaluate

    def no_artifacts(self, *a, **k):
        raise OSError("the artifact store went away")

    monkeypatch.setattr(MlflowClient, "log_artifacts", no_artifacts)
    with pytest.raises(TrackerError, match=r"the artifact store went away; the run (\w+) now holds part of this "
                                           r"evaluation \(its params and metrics and tags, not all of its files\), "
                                           r"and is marked FAILED: log it again to a new run") as err:
        evaluate(IRIS).log_mlflow()
    run_id = str(err.value).split("the run ")[1].split()[0]
    assert store.get_run(run_id).info.status == "FAILED"


def test_log_mlflow_inside_start_run_logs_to_the_active_run(store):
    from evalreport import evaluate

    result = evaluate(IRIS)
    with mlflow.start_run() as active:
        got = result.log_mlflow()
    assert got == active.info.run_id
    assert store.get_run(got).data.metrics["evalreport.cross_entropy"] == result.overall.cross_entropy
    assert len(store.search_runs([active.info.experiment_id])) == 1


# --------------------------------------------------------------------------- 8–11. Dask


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        with distributed.Client(lc) as client:
            yield client


def _parts(tmp_path, kind="parquet", n=4):
    df = pd.read_csv(IRIS)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(n):
        part = df.iloc[i * len(df) // n:(i + 1) * len(df) // n]
        if kind == "parquet":
            part.to_parquet(folder / f"part-{i}.parquet", index=False)
        else:
            part.to_csv(folder / f"part-{i}.csv", index=False)
    return folder, df


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_dask_names_a_part_missing_a_column(cluster, tmp_path, kind):
    folder, df = _parts(tmp_path, kind)
    bad = folder / f"part-2.{kind}"
    part = df.iloc[75:112].drop(columns=["p_virginica"])
    part.to_parquet(bad, index=False) if kind == "parquet" else part.to_csv(bad, index=False)
    one_error_line(run(["report", folder, "--engine", "dask", "--scheduler", cluster.scheduler.address, "-o",
                        tmp_path / "r.html"]), rf"part-2\.{kind}: a part of .*parts has no column 'p_virginica'")


def test_dask_names_a_zero_byte_parquet_part(cluster, tmp_path):
    folder, _ = _parts(tmp_path)
    (folder / "part-1.parquet").write_bytes(b"")
    one_error_line(run(["report", folder, "--engine", "dask", "--scheduler", cluster.scheduler.address, "-o",
                        tmp_path / "r.html"]), r"part-1\.parquet: a part of .*parts cannot be read")


def test_dask_reads_a_csv_with_line_breaks_in_quoted_fields_as_the_local_reader_does(cluster, tmp_path):
    df = pd.read_csv(IRIS)
    df["id"] = [f"row {i}\nsecond line, with a comma" for i in range(len(df))]
    folder = tmp_path / "parts"
    folder.mkdir()
    df.to_csv(folder / "all.csv", index=False)
    dask_json, local_json = tmp_path / "d.json", tmp_path / "l.json"
    done = run(["report", folder, "--engine", "dask", "--scheduler", cluster.scheduler.address, "-o",
                tmp_path / "r.html", "--json", dask_json])
    assert done.exit_code == 0, done.stderr
    assert run(["report", folder / "all.csv", "-o", tmp_path / "l.html", "--json", local_json]).exit_code == 0
    a, b = json.loads(dask_json.read_text()), json.loads(local_json.read_text())
    assert a["rows"] == b["rows"] == 150 and a["overall"]["log_loss"] == pytest.approx(b["overall"]["log_loss"], rel=1e-12)
    assert {w["id"] for w in a["worst_examples"]} == {w["id"] for w in b["worst_examples"]}


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:1", "not a url"])
def test_a_scheduler_that_cannot_be_reached_is_one_line_soon(tmp_path, address):
    import time

    folder, _ = _parts(tmp_path)
    started = time.monotonic()
    one_error_line(run(["report", folder, "--engine", "dask", "--scheduler", address, "-o", tmp_path / "r.html"]),
                   r"--scheduler .*(no scheduler reached within 10 s|not an address)")
    assert time.monotonic() - started < 25


def test_a_bad_row_under_dask_is_one_line_in_the_clis_words(tmp_path):
    """A local cluster of the command's own (worker processes write to the same stderr): one line,
    naming --renormalize and the folder, not 'renormalize=True' and 'dask DataFrame'."""
    pytest.importorskip("distributed")
    folder, df = _parts(tmp_path)
    bad = df.iloc[112:].copy()
    bad.iloc[3, bad.columns.get_loc("p_setosa")] = 0.9
    bad.to_parquet(folder / "part-3.parquet", index=False)
    done = evalreport_cmd("report", folder, "--engine", "dask", "-o", tmp_path / "r.html")
    err = done.stderr.decode()
    assert done.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "parts: column 'p_*': probabilities do not sum to 1" in lines[0] and "(rows 116)" in lines[0]
    assert "--renormalize" in lines[0] and "renormalize=True" not in lines[0] and "dask DataFrame" not in lines[0]


# --------------------------------------------------------------------------- 12, 13, 15. MLflow stores


@pytest.mark.parametrize("uri,pattern", [
    ("file:///{tmp}/mlruns", r"maintenance mode"),
    ("foo://bar", r"unsupported URI 'foo://bar'"),
    ("postgresql://u@localhost/db", r"No module named"),
    ("http://[::1", r"Invalid IPv6 URL"),
], ids=["file-store", "unknown-scheme", "no-driver", "malformed"])
def test_a_tracking_store_mlflow_refuses_is_one_line_and_a_tracker_error(tmp_path, monkeypatch, uri, pattern):
    from evalreport import TrackerError, evaluate

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri.format(tmp=tmp_path))
    done = run(["report", IRIS, "-o", tmp_path / "r.html", "--mlflow"])
    assert done.exit_code == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("evalreport: error: MLflow: the tracking store") and re.search(pattern, last), last
    assert (tmp_path / "r.html").exists()  # the local outputs were written first
    with pytest.raises(TrackerError, match=pattern):
        evaluate(IRIS, bootstrap=0).log_mlflow()


def test_a_sqlite_store_that_cannot_be_written_is_refused_at_once(tmp_path, monkeypatch):
    """As root every folder is writable, so the read-only folder is the one os.access says is."""
    import time

    from evalreport import TrackerError, evaluate

    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p).startswith(str(ro)) and mode & os.W_OK
                        else real(p, mode, **k))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{ro / 'mlflow.db'}")
    started = time.monotonic()
    with pytest.raises(TrackerError, match=r"ro' is not writable"):
        evaluate(IRIS, bootstrap=0).log_mlflow()
    assert time.monotonic() - started < 20
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'missing' / 'mlflow.db'}")
    with pytest.raises(TrackerError, match=r"the folder .*missing' does not exist"):
        evaluate(IRIS, bootstrap=0).log_mlflow()


def test_the_mlflow_example_says_what_mlflow_ui_needs(monkeypatch):
    import importlib.util
    import sys as _sys

    _sys.path.insert(0, str(EXAMPLES))
    try:
        import mlflow_example
    finally:
        _sys.path.pop(0)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "flask" else real(name, *a))
    hint = mlflow_example.ui_hint("sqlite:///x.db")
    assert hint.startswith("see it:  pip install mlflow && mlflow ui --backend-store-uri sqlite:///x.db")
    assert "mlflow-skinny" in hint


# --------------------------------------------------------------------------- 16–20. settings, baselines, numbers

HUGE = str(10 ** 400)


@pytest.mark.parametrize("toml,command,pattern", [
    (f"[gates]\nmax_score = {HUGE}\n", "check", r"\[gates\]: max_score is beyond the largest float \(401 digits\)"),
    (f"[gates]\nmax_regression = {HUGE}\nbaseline = 'x.csv'\n", "check", r"max_regression is beyond the largest float"),
    (f"[gates]\nmin_accuracy = {HUGE}\n", "check", r"min_accuracy is beyond the largest float"),
    (f"[bands]\ngreat = {HUGE}\n", "report", r"\[bands\]: the threshold of 'great' is beyond the largest float"),
    ("[bands]\ngreat = \"0.01\"\n", "report", r"the threshold of 'great' must be a number, got '0\.01'"),
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", "report", r"not valid TOML \(arrays or tables nested too deep\)"),
], ids=["huge-max-score", "huge-regression", "huge-min-accuracy", "huge-band", "string-band", "nested-5000"])
def test_settings_that_are_no_usable_number_are_one_short_line(tmp_path, monkeypatch, toml, command, pattern):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evalreport.toml").write_text(toml)
    args = ["report", IRIS, "-o", tmp_path / "r.html"] if command == "report" else ["check", IRIS]
    line = one_error_line(run(args), pattern)
    assert len(line) < 300


def test_a_huge_min_accuracy_option_is_cut_in_its_message():
    from evalreport.gates import GateSpec

    with pytest.raises(Exception, match=r"--min-accuracy is a share between 0 and 1, got '1{80}…' \(401 characters\)"):
        GateSpec(min_accuracy=int("1" * 401))


def test_a_band_named_twice_in_bands_is_refused(tmp_path):
    one_error_line(run(["report", IRIS, "-o", tmp_path / "r.html", "--bands", "great=0.01,great=0.02"]),
                   r"--bands: the band 'great' is named twice")


def test_a_current_folder_that_cannot_be_searched_is_one_line(tmp_path, monkeypatch):
    import pathlib

    monkeypatch.chdir(tmp_path)
    real = pathlib.Path.is_file

    def no_search(self):
        if self.name in ("evalreport.toml", "pyproject.toml") and self.parent == pathlib.Path.cwd():
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(pathlib.Path, "is_file", no_search)
    one_error_line(run(["report", IRIS, "-o", tmp_path / "r.html"]),
                   r"cannot look for evalreport\.toml in the current folder \(Permission denied\).*--config FILE")


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_config_naming_a_directory_or_a_fifo_says_what_it_is(tmp_path, kind):
    target = tmp_path / "cfg"
    target.mkdir() if kind == "directory" else os.mkfifo(target)
    pattern = r"cfg: is a directory, not a config file" if kind == "directory" else r"cfg: is not a regular file"
    one_error_line(run(["report", IRIS, "-o", tmp_path / "r.html", "--config", target]), pattern)


def test_a_baseline_in_a_settings_file_resolves_against_its_folder(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    shutil.copy(EXAMPLES / "digits_predictions_logreg.csv", project / "models" / "baseline.csv")
    (project / "evalreport.toml").write_text("[gates]\nbaseline = \"models/baseline.csv\"\nmax_regression = 0.2\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    done = run(["check", EXAMPLES / "digits_predictions.csv", "--config", project / "evalreport.toml"])
    assert done.exit_code == 0, done.stdout + done.stderr
    said = done.stdout.replace("\n", "")  # the console wraps long lines
    assert f"baseline: {project / 'models' / 'baseline.csv'} (named by {project / 'evalreport.toml'})" in said


# --------------------------------------------------------------------------- 21–23. standard streams and locale

DIST = ["dist", "--p", "0.1,0.4,0.5", "--q", "0.8,0.15,0.05"]


@pytest.mark.parametrize("args", [["check", IRIS, "--max-score", "1"], ["bands"], DIST], ids=["check", "bands", "dist"])
def test_an_ascii_c_locale_is_no_failure(args):
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "LANG": "C"}
    env.pop("PYTHONIOENCODING", None)
    done = evalreport_cmd(*args, env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert b"\\u2264" in done.stdout or b"\\u2016" in done.stdout or args == ["bands"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("args", [["check", IRIS, "--max-score", "1"], [*DIST, "--json"], DIST, ["bands"], ["--version"],
                                  ["--help"]], ids=["check", "dist-json", "dist", "bands", "version", "help"])
def test_a_full_standard_output_is_exit_2_naming_it(args):
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "evalreport", *map(str, args)], stdout=full, stderr=subprocess.PIPE)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.strip().splitlines()[-1] == "evalreport: error: standard output: cannot write (No space left on device)"
    assert "Traceback" not in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("args,code", [
    (["check", IRIS, "--max-score", "1"], 0), (["check", IRIS, "--max-score", "0.01"], 1),
    (["report", "no-such-file.csv"], 2), (["report", IRIS, "-o", "{tmp}/r.html"], 0), (DIST, 0),
], ids=["passing-check", "failing-check", "missing-input", "report", "dist"])
def test_the_exit_code_does_not_depend_on_standard_error(tmp_path, args, code):
    args = [str(a).format(tmp=tmp_path) for a in args]
    with open("/dev/full", "wb") as full:
        done = subprocess.run([sys.executable, "-m", "evalreport", *args], stdout=subprocess.DEVNULL, stderr=full)
    assert done.returncode == code


# --------------------------------------------------------------------------- 24–26. resources and sizes


def _wide_parquet(path, rows, k, row_group=None):
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.full(k, 0.1), rows)
    df = pd.DataFrame(q, columns=[f"p_c{j}" for j in range(k)])
    df.insert(0, "label", [f"c{j}" for j in rng.integers(0, k, rows)])
    df.to_parquet(path, row_group_size=row_group)
    return path


def _limited(limit_bytes: int, *args) -> subprocess.CompletedProcess:
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    return subprocess.run([str(SCRIPT) if SCRIPT.exists() else sys.executable, *([] if SCRIPT.exists() else
                           ["-m", "evalreport"]), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          preexec_fn=limit)


SCRIPT = __import__("pathlib").Path(sys.executable).with_name("evalreport")


@pytest.mark.parametrize("rows,k,limit", [(3000, 2000, 2 << 30), (300, 10_000, 1 << 30)], ids=["2000-classes-2GiB",
                                                                                                "10000-classes-1GiB"])
def test_the_documented_class_bounds_run_under_an_address_space_limit(tmp_path, rows, k, limit):
    path = _wide_parquet(tmp_path / "wide.parquet", rows, k)
    done = _limited(limit, "report", path, "-o", tmp_path / "r.html", "--json", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    assert json.loads((tmp_path / "r.json").read_text())["rows"] == rows


def test_a_memory_error_is_exit_2_not_a_bug(tmp_path, monkeypatch):
    """Where the memory runs out depends on the machine (numpy's MemoryError, or a library's own
    abort below Python): the one Python sees is numpy's, raised here where numpy raises it."""
    import evalreport.compute.parallel as parallel

    def out_of_memory(*args, **kwargs):
        np.empty((1 << 62,), dtype=np.uint8)  # numpy's own MemoryError: "Unable to allocate 4.00 EiB …"

    monkeypatch.setattr(parallel, "accumulate", out_of_memory)
    done = run(["report", IRIS, "-o", tmp_path / "r.html"])
    line = one_error_line(done, r"^evalreport: error: not enough memory for this input \(Unable to allocate 4\.00 EiB")
    assert "bug" not in line and not (tmp_path / "r.html").exists()


def test_a_wide_row_group_is_read_a_slice_of_columns_at_a_time(tmp_path):
    """20,000 rows × 2,000 classes in one row group (as pandas writes them): the memory its rows take
    is their decoded size (320 MB) plus the run's own, not several times that (1.7 GB before)."""
    path = _wide_parquet(tmp_path / "wide.parquet", 20_000, 2000, row_group=20_000)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = _limited(4 << 30, "report", path, "-o", tmp_path / "r.html", "--json", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr.decode()[-500:]
    peak_mib = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    assert peak_mib < 1100, peak_mib
    from evalreport import evaluate

    df = pd.read_parquet(path)
    columns = list(df.columns[1:])
    q = df[columns].to_numpy()[np.arange(len(df)), [columns.index("p_" + y) for y in df["label"]]]
    eps = np.finfo(float).eps
    expected = float(-np.log(np.clip(q, eps, 1 - eps)).mean())
    assert json.loads((tmp_path / "r.json").read_text())["overall"]["log_loss"] == pytest.approx(expected, rel=1e-9)
    assert evaluate(path, bootstrap=0, chunk_rows=777).overall.log_loss == pytest.approx(expected, rel=1e-9)


def test_long_ids_are_cut_in_every_output_and_said_so(tmp_path):
    df = pd.read_csv(IRIS)
    df["id"] = [f"row-{i}-" + "x" * 2_000_000 for i in range(len(df))]
    path = tmp_path / "ids.csv"
    df.to_csv(path, index=False)
    assert run(["report", path, "-o", tmp_path / "r.html", "--json", tmp_path / "r.json", "--markdown",
                tmp_path / "r.md"]).exit_code == 0
    for name in ("r.html", "r.json", "r.md"):
        assert (tmp_path / name).stat().st_size < 400_000, name
    worst = json.loads((tmp_path / "r.json").read_text())["worst_examples"][0]
    assert len(worst["id"]) == 201 and worst["id"].endswith("…") and worst["id_length"] > 2_000_000
    assert max(len(line) for line in (tmp_path / "r.md").read_text().splitlines()) < 1000
    assert "Ids longer than 200 characters are cut" in (tmp_path / "r.html").read_text()


# --------------------------------------------------------------------------- 27–28. the Python API


def test_option_values_of_the_wrong_kind_are_usage_errors():
    from evalreport import InputError, UsageError, evaluate

    df = pd.read_csv(IRIS)
    with pytest.raises(UsageError, match=r"group_by= names a column by its name \(text, or a whole number\), got tuple"):
        evaluate(df, group_by=[("fold", "x")])
    with pytest.raises(UsageError, match=r"label_col= must be text"):
        evaluate(df, label_col=None)
    numbered = df.rename(columns={"fold": 7})
    assert [s.value for s in evaluate(numbered, group_by=[7], bootstrap=0).groups["7"]] == ["0", "1", "2", "3", "4"]
    y = np.array([0, 1, 0])
    with pytest.raises(InputError, match="proba holds complex numbers"):
        evaluate(y, np.array([[0.5 + 1j, 0.5], [0.2, 0.8], [0.9, 0.1]]))
    with pytest.raises(InputError, match=r"proba has 2 columns but y_true has 4 distinct labels"):
        evaluate(np.array([0, 1, 2, 3]), np.full((4, 2), 0.5))  # a data problem: the documented InputError


def test_polars_and_arrow_tables_and_bytes_paths_are_read_and_anything_else_is_a_type_error():
    import io

    import pyarrow as pa

    from evalreport import compare, evaluate

    polars = pytest.importorskip("polars")
    df = pd.read_csv(IRIS)
    whole = evaluate(df, group_by="fold").to_dict()
    whole.pop("input")
    for data in (pa.Table.from_pandas(df), polars.from_pandas(df), os.fsencode(str(IRIS))):
        other = evaluate(data, group_by="fold").to_dict()
        other.pop("input")
        assert other == whole
    for bad in (None, {"label": [1]}, io.BytesIO(b"label,p_a\n"), [0, 1]):
        with pytest.raises(TypeError, match=r"evaluate\(\) reads a path .* a pyarrow Table, or y_true with proba="):
            evaluate(bad)
    with open(IRIS, "rb") as f, pytest.raises(TypeError, match="got _io.BufferedReader"):
        evaluate(f)
    rng = np.random.default_rng(0)
    y, p, p2 = rng.integers(0, 3, 300), rng.dirichlet(np.ones(3), 300), rng.dirichlet(np.ones(3), 300)
    c = compare((y, p), (y, p2), bootstrap=0)
    ce = lambda q: -np.log(q[np.arange(300), y]).mean()  # noqa: E731
    assert c.score.difference == pytest.approx(ce(p2) - ce(p), rel=1e-12) and c.matched_by == "row order"
    with pytest.raises(TypeError, match=r"compare\(\) reads, for each side, .* a \(y_true, proba\) pair of arrays"):
        compare(None, (y, p))


def test_a_result_prints_as_one_short_line():
    from evalreport import compare, evaluate

    r = evaluate(IRIS)
    assert repr(r) == str(r) == ("<evalreport.Result '" + str(IRIS) + "': 150 rows, 3 classes, cross-entropy 0.1548 "
                                 "nats (Fine)>")
    c = compare(EXAMPLES / "digits_predictions.csv", EXAMPLES / "digits_predictions_logreg.csv")
    assert len(repr(c)) < 400 and "the candidate is better, -0.1444" in repr(c)


# --------------------------------------------------------------------------- 29. small ones


def test_dist_gives_the_reason_of_each_infinity():
    done = run(["dist", "--p", "0,1", "--q", "0.5,0.5"])
    assert done.exit_code == 0
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in done.stdout.splitlines()
            if line.count("│") >= 3}
    assert rows["H(Q,P)"] == rows["KL(Q‖P)"] == "∞ (P is 0 where Q is not)"
    done = run(["dist", "--p", "0.5,0.5", "--q", "0,1"])
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in done.stdout.splitlines()
            if line.count("│") >= 3}
    assert rows["H(P,Q)"] == rows["KL(P‖Q)"] == "∞ (Q is 0 where P is not)"


def test_options_that_contradict_each_other_or_name_a_class_column(tmp_path):
    one_error_line(run(["report", EXAMPLES / "iris_soft_targets.csv", "-o", tmp_path / "r.html", "--target-prefix",
                        "p_"]), r"--target-prefix and --prob-prefix are both 'p_'")
    one_error_line(run(["report", IRIS, "-o", tmp_path / "r.html", "--label-col", "p_setosa"]),
                   r"--label-col names 'p_setosa', which starts with the probability prefix 'p_'")


def test_wandb_disabled_says_nothing_was_logged(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    done = run(["report", IRIS, "-o", tmp_path / "r.html", "--wandb"])
    assert done.exit_code == 0, done.stderr
    assert "logged to W&B" not in done.stderr and "nothing was logged" in done.stderr


@pytest.mark.parametrize("labels,classes", [
    (pd.to_datetime(["2020-01-01", "2020-01-02"] * 5), ["2020-01-01", "2020-01-02"]),
    (pd.to_datetime(["2020-01-01", "2020-01-02"] * 5), ["2020-01-01 00:00:00", "2020-01-02 00:00:00"]),
    (pd.to_timedelta(["1 days", "2 days"] * 5), ["1 days", "2 days"]),
], ids=["dates-short", "dates-long", "durations"])
def test_date_and_duration_labels_match_their_class_columns(tmp_path, labels, classes):
    from evalreport import evaluate

    df = pd.DataFrame({"label": labels, f"p_{classes[0]}": [0.7, 0.2] * 5, f"p_{classes[1]}": [0.3, 0.8] * 5})
    path = tmp_path / "t.parquet"
    df.to_parquet(path)
    r = evaluate(path, bootstrap=0)
    assert r.overall.log_loss == pytest.approx(-np.log([0.7, 0.8]).mean(), rel=1e-12)


def test_a_feather_v1_file_is_read(tmp_path):
    import pyarrow.feather as feather

    from evalreport import evaluate

    df = pd.read_csv(IRIS)
    path = tmp_path / "v1.feather"
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        feather.write_feather(df, path, version=1)
    assert evaluate(path, bootstrap=0).overall.log_loss == pytest.approx(evaluate(IRIS, bootstrap=0).overall.log_loss)


def test_huge_whole_number_slices_are_in_numeric_order(tmp_path):
    from evalreport import evaluate

    df = pd.read_csv(IRIS)
    df["g"] = np.array([2**60 + 1, 2**60, 2**60 + 3] * 50, dtype=np.uint64)
    path = tmp_path / "u.parquet"
    df.to_parquet(path)
    assert [s.value for s in evaluate(path, group_by="g", bootstrap=0).groups["g"]] == [
        str(2**60), str(2**60 + 1), str(2**60 + 3)]
