"""The CLI end to end: formats, outputs, options, config files, every command."""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from conftest import ROOT, run

CONTRACT_OVERALL = {"cross_entropy", "log_loss", "entropy", "kl_divergence", "brier", "accuracy", "band", "band_score"}


def report_json(tmp_path, src, *args) -> dict:
    out = tmp_path / "m.json"
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", out, *args])
    assert result.exit_code == 0, result.stderr
    return json.loads(out.read_text())


def test_report_writes_html_json_markdown(tmp_path, examples):
    src = examples / "digits_predictions.csv"
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json",
                  "--markdown", tmp_path / "s.md", "--group-by", "fold"])
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "m.json").read_text())
    low, high = data["overall"]["band_score_ci95"]  # the summary line shows the JSON's interval (1,200 replicates)
    assert f"Not great: cross-entropy 0.3071 [95% {low:.4f}–{high:.4f}] nats (1,797 rows, 10 classes)" in result.stderr
    assert 0.29 < low < 0.2935 and 0.32 < high < 0.323
    # the contract's schema v1
    assert data["schema_version"] == 1
    assert data["tool"]["name"] == "evalreport" and data["tool"]["version"]
    assert data["input"] == {"path": str(src), "sha256": hashlib.sha256(src.read_bytes()).hexdigest(), "format": "csv"}
    assert data["rows"] == 1797 and data["unit"] == "nats"
    assert data["classes"] == [str(k) for k in range(10)]
    assert CONTRACT_OVERALL <= data["overall"].keys()
    assert data["overall"]["band"] == "not_great"
    for c in data["per_class"]:
        assert {"class", "support", "cross_entropy", "kl_divergence", "band"} <= c.keys()
        assert isinstance(c["class"], str) and isinstance(c["support"], int)
    assert [g["value"] for g in data["groups"]["fold"]] == ["0", "1", "2", "3", "4"]
    assert {"value", "rows", "cross_entropy", "band"} <= data["groups"]["fold"][0].keys()
    assert isinstance(data["warnings"], list)
    md = (tmp_path / "s.md").read_text()
    assert md.startswith("## evalreport: **Not great**") and len(md.splitlines()) <= 60
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_json_is_byte_identical_across_runs(tmp_path, examples):
    a = report_json(tmp_path, examples / "iris_predictions.csv", "--group-by", "fold")
    b = report_json(tmp_path, examples / "iris_predictions.csv", "--group-by", "fold")
    assert a == b


def test_stdin_gzip_and_parquet_give_the_same_figures(tmp_path, examples):
    src = examples / "iris_predictions.csv"
    base = report_json(tmp_path, src, "--group-by", "fold")
    gz = tmp_path / "iris.csv.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    pq = tmp_path / "iris.parquet"
    pd.read_csv(src).to_parquet(pq)  # label stays text, id and fold become integers
    for path in (gz, pq):
        other = report_json(tmp_path, path, "--group-by", "fold")
        assert other["overall"] == base["overall"] and other["groups"] == base["groups"], path
        assert other["per_class"] == base["per_class"]
    assert report_json(tmp_path, gz, "--group-by", "fold")["input"]["format"] == "csv.gz"
    result = run(["report", "-", "-o", tmp_path / "r.html", "--json", "-", "--group-by", "fold"],
                 input=src.read_text())
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["overall"] == base["overall"]
    assert data["input"]["path"] is None and data["input"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()


def test_parquet_with_integer_labels(tmp_path, examples):
    df = pd.read_csv(examples / "digits_predictions.csv")
    assert df["label"].dtype.kind == "i"
    df.to_parquet(tmp_path / "d.parquet")
    a = report_json(tmp_path, tmp_path / "d.parquet")
    b = report_json(tmp_path, examples / "digits_predictions.csv")
    assert a["overall"] == b["overall"] and a["classes"] == b["classes"]


def test_binary_score_column_and_bits(tmp_path, examples):
    data = report_json(tmp_path, examples / "breast_cancer_predictions.csv", "--score-col", "score", "--unit", "bits")
    assert data["classes"] == ["0", "1"] and data["unit"] == "bits"
    nats = report_json(tmp_path, examples / "breast_cancer_predictions.csv", "--score-col", "score")
    assert data["overall"]["log_loss"] == pytest.approx(nats["overall"]["log_loss"] / math.log(2))
    assert data["overall"]["clipped_rows"] == 5 and any("clipped" in w for w in data["warnings"])


def test_string_positive_label_names_the_other_class(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("label,s\nspam,0.9\nham,0.2\nham,0.4\n")
    data = report_json(tmp_path, src, "--score-col", "s", "--positive-label", "spam")
    assert data["classes"] == ["ham", "spam"]
    assert data["overall"]["log_loss"] == pytest.approx(-(math.log(.9) + math.log(.8) + math.log(.6)) / 3)


def test_soft_targets_logits_weights_and_ids(tmp_path):
    src = tmp_path / "soft.csv"
    src.write_text("key,z_a,z_b,t_a,t_b,w\nr1,2.0,0.0,0.9,0.1,1\nr2,0.0,1.0,0.2,0.8,3\n")
    data = report_json(tmp_path, src, "--prob-prefix", "z_", "--logits", "--target-prefix", "t_",
                       "--weight-col", "w", "--id-col", "key")
    o = data["overall"]
    assert o["log_loss"] is None and data["targets"] == "soft" and data["weighted"]
    assert o["cross_entropy"] == pytest.approx(o["entropy"] + o["kl_divergence"], abs=1e-12)
    assert o["band_score"] == o["kl_divergence"]
    assert {w["id"] for w in data["worst_examples"]} == {"r1", "r2"}


def test_renormalize_option(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("label,p_a,p_b\na,60,40\nb,1,3\n")  # percentages: outside [0, 1] stays an error
    out = run(["report", src, "-o", tmp_path / "r.html", "--renormalize"])
    assert out.exit_code == 2 and "outside [0, 1]" in out.stderr
    src.write_text("label,p_a,p_b\na,0.6,0.6\nb,0.1,0.3\n")
    data = report_json(tmp_path, src, "--renormalize")
    assert data["overall"]["renormalized_rows"] == 2
    assert data["overall"]["log_loss"] == pytest.approx(-(math.log(.5) + math.log(.75)) / 2)


def test_labels_named_like_missing_values_stay_classes(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("label,p_NA,p_None\nNA,0.8,0.2\nNone,0.3,0.7\n")
    data = report_json(tmp_path, src)
    assert data["classes"] == ["NA", "None"]
    assert [c["support"] for c in data["per_class"]] == [1, 1]


def test_bands_config_files_and_option(tmp_path, monkeypatch, examples):
    monkeypatch.chdir(tmp_path)
    src = examples / "iris_predictions.csv"  # cross-entropy 0.155 nats: "fine" by default
    assert report_json(tmp_path, src)["overall"]["band"] == "fine"
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n[tool.evalreport.bands]\nfine = 0.1\n")
    data = report_json(tmp_path, src)
    assert data["overall"]["band"] == "could_improve"
    assert data["ladder"]["source"] == "pyproject.toml [tool.evalreport.bands]"
    (tmp_path / "evalreport.toml").write_text("[bands]\nfine = 0.16\n")  # evalreport.toml wins
    data = report_json(tmp_path, src)
    assert data["overall"]["band"] == "fine" and data["ladder"]["source"] == "evalreport.toml [bands]"
    data = report_json(tmp_path, src, "--bands", "fine=0.15")
    assert data["overall"]["band"] == "could_improve" and data["ladder"]["source"].startswith("--bands")
    out = run(["bands", "--bands", "fine=0.15"])
    assert out.exit_code == 0 and "0.05 ≤ s < 0.15" in out.stdout
    (tmp_path / "evalreport.toml").write_text("[bands]\nfine = 'x'\n")
    bad = run(["bands"])
    assert bad.exit_code == 2 and "evalreport.toml [bands]: the threshold of 'fine' must be a number" in bad.stderr


def test_bands_command_prints_the_default_ladder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = run(["bands"])
    assert out.exit_code == 0
    for text in ("perfect", "Something is broken", "s < 0.005", "0.2 ≤ s ≤ 0.3", "0.3 < s ≤ 1", "s > 2"):
        assert text in out.stdout
    bits = run(["bands", "--unit", "bits"])
    assert f"s > {2 / math.log(2):.4g}" in bits.stdout


def test_dist_command(tmp_path):
    out = run(["dist", "--p", "0.1,0.4,0.5", "--q", "0.8,0.15,0.05", "--unit", "bits", "--json"])
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    assert round(data["cross_entropy_pq"], 3) == 3.288 and round(data["kl_pq"], 3) == 1.927
    table = run(["dist", "--p", "0.1,0.4,0.5", "--q", "0.8,0.15,0.05"])
    assert "KL(P‖Q)" in table.stdout and f"{1.927 * math.log(2):.4f}"[:4] in table.stdout
    inf = run(["dist", "--p", "0.5,0.5", "--q", "1,0", "--json"])
    assert json.loads(inf.stdout)["kl_pq"] is None


@pytest.mark.parametrize(
    "p,q,message",
    [
        ("0.5,0.5", "0.8,0.15,0.05", "P has 2 values but Q has 3"),
        ("-0.1,0.6,0.5", "0.8,0.15,0.05", "--p: negative value -0.1"),
        ("0.1,0.4,0.4", "0.8,0.15,0.05", "--p: the values sum to 0.9, not 1"),
        ("0.1,x,0.5", "0.8,0.15,0.05", "--p: 'x' is not a number"),
    ],
)
def test_dist_errors(p, q, message):
    out = run(["dist", "--p", p, "--q", q])
    assert out.exit_code == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_every_command_has_help_and_is_documented():
    readme = "\n".join(p.read_text() for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])  # the docs
    for command in ("report", "check", "compare", "bands", "dist"):
        out = run([command, "--help"])
        assert out.exit_code == 0 and "Usage" in out.stdout
        assert f"evalreport {command}" in readme, command
    for option in ("--label-col", "--prob-prefix", "--score-col", "--positive-label", "--target-prefix", "--logits",
                   "--weight-col", "--group-by", "--id-col", "--unit", "--eps", "--renormalize", "--bootstrap", "--seed",
                   "--bands", "--config"):
        for command in ("report", "check", "compare"):
            assert option in run([command, "--help"]).stdout, (command, option)
        assert option in readme, option
    assert "[eps, 1-eps]" in run(["report", "--help"]).stdout  # brackets are text, not markup
    for option in ("--max-score", "--max-band", "--max-class-score", "--max-class-band", "--min-accuracy", "--max-ece",
                   "--baseline", "--max-regression", "--significant", "--junit"):
        assert option in run(["check", "--help"]).stdout and option in readme, option


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "evalreport", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("evalreport ")


def test_progress_callback_and_quiet_ci(monkeypatch):
    from evalreport import evaluate
    from evalreport.cli import _Progress

    seen = []
    evaluate(ROOT / "examples" / "iris_predictions.csv", chunk_rows=40, on_rows=seen.append)
    assert seen == [40, 80, 120, 150]
    monkeypatch.setenv("CI", "true")
    assert _Progress().enabled is False  # never draws in CI logs


def test_version_and_bands_start_without_the_numerical_stack():
    code = ("import sys, evalreport.cli; from evalreport.cli import app; "
            "print(sorted(m for m in ('pandas', 'scipy', 'pyarrow', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_file_where_the_command_goes_is_told_the_command(examples):
    """`evalreport preds.csv` (the command forgotten): one line naming the command that reads it."""
    from test_hardening import one_error_line

    src = examples / "iris_predictions.csv"
    one_error_line(run([src]), rf"No such command '{src}'; to evaluate it: evalreport report {src}")
    one_error_line(run(["reprot", src]), r"No such command 'reprot'\. Did you mean 'report'\?")
    one_error_line(run(["no-such-file.csv"]), r"No such command 'no-such-file\.csv'\. \(see")


def test_no_negative_zero_is_shown_or_written(tmp_path):
    """One class present: the class-prior baseline and some decomposition parts come out as −0.0,
    which read as '-0.0000 nats' and '-0.0' in the JSON; they are 0."""
    import json

    src = tmp_path / "one.csv"
    src.write_text("label,p_a,p_b\na,0.8,0.2\na,0.7,0.3\n")
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", tmp_path / "r.json", "--markdown",
                  tmp_path / "r.md"])
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "r.json").read_text()
    assert json.loads(text)["overall"]["baselines"]["prior"] == 0.0
    assert "-0.0" not in text.replace("e-0", "")  # (an exponent like 1e-05 is no negative zero)
    for out in ("r.md", "r.html"):
        assert "-0.0000" not in (tmp_path / out).read_text() and "−0.0000" not in (tmp_path / out).read_text()
