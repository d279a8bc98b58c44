"""Issue 11: the first hour with real models. Every file shape people actually write works,
or says the one thing to change. Predictions come from real scikit-learn models."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import cross_val_predict

from conftest import run
from test_hardening import one_error_line


@pytest.fixture(scope="module")
def iris_model():
    """Out-of-fold predictions of a logistic regression on iris: (y as names, proba, classes)."""
    data = load_iris()
    y = data.target_names[data.target]
    model = LogisticRegression(max_iter=1000)
    proba = cross_val_predict(model, data.data, y, cv=5, method="predict_proba")
    classes = np.unique(y)  # as model.classes_
    return y, proba, classes


def _frame(y, proba, classes, prefix: str = "p_") -> pd.DataFrame:
    df = pd.DataFrame(proba, columns=[f"{prefix}{c}" for c in classes])
    df.insert(0, "label", y)
    return df



def test_errors_from_python_name_the_keywords_and_from_the_cli_the_options(tmp_path):
    """Item 9: evaluate() names its own keywords; the command line its options."""
    from evalreport import InputError, evaluate

    df = pd.DataFrame({"y": ["a", "b"], "p_a": [0.5, 0.6], "p_b": [0.5, 0.5]})
    with pytest.raises(InputError, match=r"name the right one with label_col=$"):
        evaluate(df)
    with pytest.raises(InputError, match=r"pass renormalize=True to rescale such rows"):
        evaluate(df, label_col="y")
    src = tmp_path / "p.csv"
    df.to_csv(src, index=False)
    one_error_line(run(["report", src, "-o", tmp_path / "r.html"]), r"name the right one with --label-col$")
    one_error_line(run(["report", src, "-o", tmp_path / "r.html", "--label-col", "y"]), r"pass --renormalize to rescale")
    with pytest.raises(InputError, match=r"label_col="):  # and back to keywords after a command ran
        evaluate(df)


@pytest.mark.parametrize("extra", ["p_max", "p_true"])
def test_an_extra_prefixed_column_is_named_and_renormalize_does_not_hide_it(tmp_path, iris_model, extra):
    """Item 2: p_max (the top probability) or p_true (the probability of the truth) beside the classes."""
    y, proba, classes = iris_model
    df = _frame(y, proba, classes)
    idx = {c: j for j, c in enumerate(classes)}
    df[extra] = proba.max(axis=1) if extra == "p_max" else proba[np.arange(len(y)), [idx[v] for v in y]]
    src = tmp_path / "p.csv"
    df.to_csv(src, index=False)
    pattern = (rf"column '{extra}': read as class '{extra[2:]}', which no label names — without it the rows sum to 1 "
               r".*drop that column, choose another --prob-prefix, or name the classes with --classes")
    one_error_line(run(["report", src, "-o", tmp_path / "r.html"]), pattern)
    one_error_line(run(["report", src, "-o", tmp_path / "r.html", "--renormalize"]), r"--renormalize would only hide it")
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json",
                  "--classes", ",".join(classes)])
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "m.json").read_text())["overall"]["log_loss"] == pytest.approx(
        log_loss(y, proba, labels=classes), abs=1e-9)


def test_a_predicted_class_column_is_named_not_called_a_bad_probability(tmp_path, iris_model):
    y, proba, classes = iris_model
    df = _frame(y, proba, classes)
    df["p_pred"] = proba.argmax(axis=1)  # 0, 1, 2: a class index that shares the prefix
    src = tmp_path / "p.csv"
    df.to_csv(src, index=False)
    one_error_line(run(["report", src, "-o", tmp_path / "r.html"]),
                   r"column 'p_pred': read as class 'pred', which no label names — its values are not probabilities")


def test_bare_class_names_as_columns_with_classes(tmp_path, iris_model):
    """model.classes_ as the column names: --prob-prefix '' with --classes (an empty prefix alone says so)."""
    y, proba, classes = iris_model
    df = _frame(y, proba, classes, prefix="")
    src = tmp_path / "p.csv"
    df.to_csv(src, index=False)
    one_error_line(run(["report", src, "-o", tmp_path / "r.html", "--prob-prefix", ""]),
                   r"--prob-prefix is empty: name the class columns with --classes")
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json", "--prob-prefix", "",
                  "--classes", ",".join(classes)])
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "m.json").read_text())["overall"]["log_loss"] == pytest.approx(
        log_loss(y, proba, labels=classes), abs=1e-9)
    from evalreport import evaluate

    assert evaluate(df, prob_prefix="", classes=classes).overall.log_loss == pytest.approx(log_loss(y, proba), abs=1e-12)
    one_error_line(run(["report", src, "-o", tmp_path / "r.html", "--prob-prefix", "", "--classes", "setosa,nope"]),
                   r"no probability column 'nope' for class 'nope'")


def test_logits_written_without_logits_suggest_logits(tmp_path, iris_model):
    """Item 6: decision_function values (logits) in the p_ columns."""
    data = load_iris()
    y = data.target_names[data.target]
    scores = cross_val_predict(LogisticRegression(max_iter=1000), data.data, y, cv=5, method="decision_function")
    df = _frame(y, scores, np.unique(y))
    src = tmp_path / "p.csv"
    df.to_csv(src, index=False)
    one_error_line(run(["report", src, "-o", tmp_path / "r.html"]),
                   r"probabilities outside \[0, 1\].*these look like logits or scores, not probabilities: pass --logits")
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json", "--logits"])
    assert result.exit_code == 0, result.stderr
    from scipy.special import softmax

    assert json.loads((tmp_path / "m.json").read_text())["overall"]["log_loss"] == pytest.approx(
        log_loss(y, softmax(scores, axis=1)), abs=1e-9)


@pytest.mark.parametrize("score", [False, True])
def test_percentages_are_named_as_such_not_taken_for_logits(tmp_path, iris_model, score):
    """Probabilities written as percentages (rows summing to 100, or a score from 0 to 100) are
    not logits: the hint says to divide them by 100, and the figures then match scikit-learn's."""
    y, proba, classes = iris_model
    src = tmp_path / "pct.csv"
    if score:
        yb = (y == classes[2]).astype(int)
        pd.DataFrame({"label": yb, "score": np.round(proba[:, 2] * 100, 4)}).to_csv(src, index=False)
        args = ["--score-col", "score"]
    else:
        _frame(y, proba * 100, classes).to_csv(src, index=False)
        args = []
    one_error_line(run(["report", src, "-o", tmp_path / "r.html", *args]),
                   r"probabilities outside \[0, 1\].*these look like percentages.*divide them by 100")
    df = pd.read_csv(src)
    prob_cols = [c for c in df.columns if c != "label"]
    df[prob_cols] = df[prob_cols] / 100
    df.to_csv(src, index=False)
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json", *args])
    assert result.exit_code == 0, result.stderr
    expected = log_loss(yb, df["score"]) if score else log_loss(y, df[prob_cols].to_numpy(), labels=classes)
    assert json.loads((tmp_path / "m.json").read_text())["overall"]["log_loss"] == pytest.approx(expected, abs=1e-9)


def test_a_hair_outside_zero_one_shows_the_value_and_says_to_clip():
    """1.0000000000000002 (a division by a row sum) was shown as 'e.g. 1' under 'outside [0, 1]',
    which reads as nonsense; the value is shown as it is, with the fix. It stays an error, as in
    scikit-learn's log_loss."""
    from evalreport import InputError, evaluate

    y, proba = [1, 0, 1], np.array([[0.0, 1.0000000000000002], [0.9, 0.1], [0.0, 1.0]])
    with pytest.raises(ValueError):
        log_loss(y, proba)
    with pytest.raises(InputError, match=r"e\.g\. 1\.0000000000000002; only a hair outside.*numpy\.clip"):
        evaluate(y, proba)
    clipped = np.clip(proba, 0, 1)
    assert evaluate(y, clipped).overall.log_loss == pytest.approx(log_loss(y, clipped), abs=1e-12)


def test_a_log_probability_of_minus_infinity_is_a_probability_of_0(tmp_path):
    """A language model's log-probability of −∞ (a masked option) is P = 0: the row is scored
    (clipped at eps, and counted, where it is the true class), as scikit-learn scores the softmax."""
    from scipy.special import softmax

    lp = np.array([[-0.1, -2.5, -np.inf], [-3.0, -0.05, -np.inf], [-np.inf, -1.2, -0.4], [-0.2, -1.9, -3.0]])
    y = ["A", "B", "A", "C"]
    src = tmp_path / "lp.csv"
    pd.DataFrame({"label": y, **{f"lp_{c}": lp[:, j] for j, c in enumerate("ABC")}}).to_csv(src, index=False)
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json", "--prob-prefix", "lp_",
                  "--logits"])
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["overall"]["log_loss"] == pytest.approx(log_loss(y, softmax(lp, axis=1), labels=list("ABC")), abs=1e-9)
    assert data["overall"]["clipped_rows"] == 1  # row 3 gave its true class A a probability of 0
    # one score column of logits (a sigmoid): −∞ is P(positive) = 0, right for a negative row
    pd.DataFrame({"label": [0, 1, 0], "s": [-np.inf, 2.0, -1.0]}).to_csv(src, index=False)
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json", "--score-col", "s",
                  "--logits"])
    assert result.exit_code == 0, result.stderr
    expected = log_loss([0, 1, 0], 1 / (1 + np.exp(-np.array([-np.inf, 2.0, -1.0]))))
    assert json.loads((tmp_path / "m.json").read_text())["overall"]["log_loss"] == pytest.approx(expected, abs=1e-9)


def test_one_bad_row_in_a_chunk_lacking_a_class_is_not_called_an_extra_column(iris_model):
    """Sorted by class, a chunk may lack a class; one row off by exactly that class's value is
    still one bad row, not a column that is no class."""
    from evalreport import InputError, evaluate

    y, proba, classes = iris_model
    df = _frame(y, proba, classes).sort_values("label", kind="stable").reset_index(drop=True)
    df.loc[120, "p_setosa"] += 0.5
    with pytest.raises(InputError, match=r"probabilities do not sum to 1 .*\(rows 121\)"):
        evaluate(df, chunk_rows=50)


@pytest.fixture(scope="module")
def digits_two_models():
    """The same rows scored by a random forest (probabilities) and a logistic regression (logits)."""
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold

    X, y = load_digits(return_X_y=True)
    X, y = X[:600], y[:600]
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    forest = cross_val_predict(RandomForestClassifier(n_estimators=30, random_state=0), X, y, cv=cv,
                               method="predict_proba")
    logits = cross_val_predict(LogisticRegression(max_iter=2000), X, y, cv=cv, method="decision_function")
    return y, forest, logits


def _digits_file(path, y, values, ids=True):
    df = pd.DataFrame(values, columns=[f"p_{j}" for j in range(values.shape[1])])
    df.insert(0, "label", y)
    if ids:
        df.insert(0, "id", np.arange(len(y)))
    df.to_csv(path, index=False)
    return path


def test_compare_reads_each_side_its_own_way(tmp_path, digits_two_models):
    """Item 1: a baseline of probabilities, a candidate of logits. --logits alone would softmax both
    (and says so, loudly); --no-baseline-logits reads the baseline as probabilities."""
    from scipy.special import softmax

    y, forest, logits = digits_two_models
    base = _digits_file(tmp_path / "forest.csv", y, forest)
    cand = _digits_file(tmp_path / "logreg.csv", y, logits)
    result = run(["compare", base, cand, "-o", tmp_path / "c.html", "--json", tmp_path / "c.json", "--logits",
                  "--no-baseline-logits"])
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["baseline"]["log_loss"] == pytest.approx(log_loss(y, forest, labels=range(10)), abs=1e-9)
    assert data["candidate"]["log_loss"] == pytest.approx(log_loss(y, softmax(logits, axis=1)), abs=1e-9)
    assert "CHECK" not in result.stderr
    assert "Check this first" not in (tmp_path / "c.html").read_text()
    wrong = run(["compare", base, cand, "-o", tmp_path / "w.html", "--json", tmp_path / "w.json", "--logits"])
    assert wrong.exit_code == 0
    assert "CHECK THE WARNINGS BELOW FIRST" in wrong.stderr.splitlines()[0]
    assert "warning: baseline: --logits was given, but every row of the probability columns lies in [0, 1]" in wrong.stderr
    from bs4 import BeautifulSoup

    page = BeautifulSoup((tmp_path / "w.html").read_text(), "html.parser")
    assert "Check this first (baseline)" in page.select_one("#verdict .alert").get_text()
    assert "forest.csv" in page.select_one("header .files").get_text()  # item 15: the files, at the top
    # check --baseline takes the same options
    gate = run(["check", cand, "--logits", "--baseline", base, "--no-baseline-logits", "--max-regression", "0.5",
                "--json", tmp_path / "g.json"])
    assert gate.exit_code == 0, gate.stderr
    g = json.loads((tmp_path / "g.json").read_text())["comparison"]
    assert g["baseline"]["log_loss"] == pytest.approx(data["baseline"]["log_loss"], rel=1e-12)


def test_report_with_logits_on_probabilities_warns_in_every_output(tmp_path, iris_model):
    y, proba, classes = iris_model
    src = tmp_path / "p.csv"
    _frame(y, proba, classes).to_csv(src, index=False)
    result = run(["report", src, "--logits", "-o", tmp_path / "r.html", "--json", tmp_path / "m.json",
                  "--markdown", tmp_path / "m.md"])
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0].endswith("CHECK THE WARNING BELOW FIRST")
    assert any("look like probabilities" in w for w in json.loads((tmp_path / "m.json").read_text())["warnings"])
    assert "Check this first" in (tmp_path / "m.md").read_text()
    assert 'class="alert"' in (tmp_path / "r.html").read_text()


def test_float_labels_get_the_same_diagnosis_on_both_sides(tmp_path, digits_two_models):
    """Item 4: labels written as 1.0 in the candidate: named there, not 'labels differ from the baseline's'."""
    y, forest, _ = digits_two_models
    base = _digits_file(tmp_path / "base.csv", y, forest)
    floats = _digits_file(tmp_path / "floats.csv", y.astype(float), forest)
    pattern = r"floats\.csv: column 'label': labels that have no probability column .*written as floats"
    one_error_line(run(["report", floats, "-o", tmp_path / "r.html"]), pattern)
    one_error_line(run(["compare", base, floats, "-o", tmp_path / "c.html"]), pattern)
    one_error_line(run(["compare", floats, base, "-o", tmp_path / "c.html"]), pattern)
    one_error_line(run(["check", floats, "--baseline", base, "--max-regression", "0.1"]), pattern)


def test_true_false_labels_with_a_score_column_suggest_the_positive_label(tmp_path):
    """Item 5: a boolean target written as True/False, with the default --positive-label 1."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    y = y.astype(bool)
    score = cross_val_predict(LogisticRegression(max_iter=5000), X, y, cv=5, method="predict_proba")[:, 1]
    src = tmp_path / "p.csv"
    pd.DataFrame({"label": y, "score": score}).to_csv(src, index=False)
    one_error_line(run(["report", src, "-o", tmp_path / "r.html", "--score-col", "score"]),
                   r"the positive label '1' does not occur; the labels are 'False', 'True'.*pass --positive-label True")
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json", "--score-col", "score",
                  "--positive-label", "True"])
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "m.json").read_text())["overall"]["log_loss"] == pytest.approx(
        log_loss(y, score), abs=1e-9)


def _report_json(tmp_path, src, *args, input=None):
    out = tmp_path / "m.json"
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", out, *args], input=input)
    assert result.exit_code == 0, result.stderr
    return json.loads(out.read_text())


@pytest.mark.parametrize("fmt", ["feather", "arrow-stream", "feather-lz4"])
def test_feather_and_arrow_ipc_are_read(tmp_path, iris_model, fmt):
    """Item 7: df.to_feather() (Arrow IPC file) and an Arrow IPC stream, by path and on stdin."""
    import hashlib

    import pyarrow as pa
    import pyarrow.ipc as ipc

    y, proba, classes = iris_model
    df = _frame(y, proba, classes)
    src = tmp_path / ("p.feather" if fmt.startswith("feather") else "p.arrows")
    if fmt == "feather":
        df.to_feather(src)
    elif fmt == "feather-lz4":
        df.to_feather(src, compression="lz4")
    else:
        table = pa.Table.from_pandas(df, preserve_index=False)
        with ipc.new_stream(str(src), table.schema) as writer:
            for batch in table.to_batches(max_chunksize=40):
                writer.write_batch(batch)
    expected = log_loss(y, proba, labels=classes)
    data = _report_json(tmp_path, src)
    assert data["overall"]["log_loss"] == pytest.approx(expected, abs=1e-12)
    assert data["input"]["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert data["input"]["format"] == ("arrow" if fmt == "arrow-stream" else "feather")
    import subprocess
    import sys

    piped = subprocess.run([sys.executable, "-m", "evalreport", "report", "-", "-o", str(tmp_path / "s.html"),
                            "--json", "-"], input=src.read_bytes(), capture_output=True)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["overall"]["log_loss"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("make,pattern", [
    (lambda df, p: __import__("zipfile").ZipFile(p, "w").writestr("xl/workbook.xml", "x"),  # an .xlsx is a ZIP
     r"is a ZIP archive \(an Excel \.xlsx workbook\?\); export the sheet as CSV"),
    (lambda df, p: np.save(p, df.select_dtypes("number").to_numpy()), r"is a NumPy \.npy array"),
    (lambda df, p: df.to_pickle(p), r"is a Python pickle; write the DataFrame with to_parquet\(\) or to_csv\(\)"),
    (lambda df, p: p.write_bytes(df.to_csv(index=False).encode("utf-16")), r"is UTF-16 text .*re-save it as UTF-8 CSV"),
    (lambda df, p: p.write_bytes(__import__("bz2").compress(df.to_csv(index=False).encode())), r"is bzip2-compressed"),
], ids=["xlsx", "npy", "pickle", "utf16", "bz2"])
def test_other_binary_formats_are_named_not_called_bad_utf8(tmp_path, iris_model, make, pattern):
    y, proba, classes = iris_model
    src = tmp_path / "preds.csv"
    make(_frame(y, proba, classes), src)
    if not src.exists():  # np.save adds .npy
        src = tmp_path / "preds.csv.npy"
    one_error_line(run(["report", src, "-o", tmp_path / "r.html"]), pattern)


@pytest.mark.parametrize("sep,decimal,option", [(";", ".", ";"), ("\t", ".", "tab"), (";", ",", ";"), ("|", ".", "|")])
def test_other_delimiters_are_detected_and_read(tmp_path, iris_model, sep, decimal, option):
    """Item 8: a header read as one column names the delimiter to pass; --delimiter (and
    --decimal for a decimal comma) reads the file."""
    y, proba, classes = iris_model
    src = tmp_path / "preds.csv"
    _frame(y, proba, classes).to_csv(src, sep=sep, decimal=decimal, index=False)
    name = {";": "semicolons", "\t": "tabs", "|": "pipes"}[sep]
    one_error_line(run(["report", src, "-o", tmp_path / "r.html"]),
                   rf"the header is one column, .* with {name} in it; a file separated by {name}\? pass --delimiter")
    args = ["--delimiter", option] + (["--decimal", ","] if decimal == "," else [])
    if decimal == ",":
        one_error_line(run(["report", src, "-o", tmp_path / "r.html", "--delimiter", option]),
                       r"numbers with a decimal comma\? pass --decimal ','")
    data = _report_json(tmp_path, src, *args)
    assert data["overall"]["log_loss"] == pytest.approx(log_loss(y, proba, labels=classes), abs=1e-6)


def test_a_missing_slice_value_is_the_slice_missing_and_counted(tmp_path, iris_model):
    """Item 15: an empty --group-by value shows as '(missing)', last, and the warnings count its rows."""
    y, proba, classes = iris_model
    df = _frame(y, proba, classes)
    df["fold"] = np.arange(len(df)) % 12  # numbers: 10 and 11 sort after 9
    df["fold"] = df["fold"].astype(str)
    df.loc[::7, "fold"] = ""
    src = tmp_path / "p.csv"
    df.to_csv(src, index=False)
    data = _report_json(tmp_path, src, "--group-by", "fold")
    values = [s["value"] for s in data["groups"]["fold"]]
    assert values[-1] is None and data["groups"]["fold"][-1]["kind"] == "missing" and "" not in values
    assert values[:-1] == sorted(values[:-1], key=float)
    missing = (df["fold"] == "").sum()
    assert data["groups"]["fold"][-1]["rows"] == missing
    assert f"column 'fold' (--group-by): {missing} row(s) have no value; they form the slice '(missing)', marked apart from the values" in data["warnings"]
    from evalreport import evaluate

    frame = df.assign(fold=df["fold"].replace("", None))  # None in a DataFrame: the same slice
    assert [s.rows for s in evaluate(frame, group_by="fold").groups["fold"]][-1] == missing


def test_junit_band_failure_gives_the_score_and_baseline_needs_a_regression_gate(tmp_path, iris_model):
    """Item 16."""
    import xml.etree.ElementTree as ET

    y, proba, classes = iris_model
    src = tmp_path / "p.csv"
    _frame(y, proba, classes).to_csv(src, index=False)
    result = run(["check", src, "--max-band", "great", "--max-class-band", "perfect", "--junit", tmp_path / "j.xml"])
    assert result.exit_code == 1
    messages = [f.get("message") for f in ET.parse(tmp_path / "j.xml").iter("failure")]
    score = log_loss(y, proba)
    assert any(f"(score {score:.4f} nats)" in m for m in messages), messages
    assert all("(score " in m for m in messages)
    one_error_line(run(["check", src, "--baseline", src, "--max-score", "1"]),
                   r"--baseline is given, but no --max-regression: say how much the score may rise")
    one_error_line(run(["check", src, "--baseline", src]), r"no --max-regression")


def test_a_bad_band_with_clear_skill_over_the_prior_says_both():
    """Item 14: a 40-class model in the band 'Something is broken' that clearly beats the class
    prior is told so; a model with no skill gets no such sentence."""
    from sklearn.datasets import make_classification

    from evalreport import evaluate

    X, y = make_classification(n_samples=4000, n_features=30, n_informative=12, n_classes=40,
                               n_clusters_per_class=1, class_sep=0.6, random_state=0)
    proba = cross_val_predict(LogisticRegression(max_iter=300), X, y, cv=3, method="predict_proba")
    df = pd.DataFrame(proba, columns=[f"p_{j}" for j in range(40)])
    df.insert(0, "label", y)
    r = evaluate(df)
    assert r.overall.band in ("broken", "terrible") and r.overall.skill_vs_prior > 0
    assert "with 40 classes this is a hard task" in r.verdict and "clearly beats the class frequencies" in r.verdict
    prior = np.bincount(y, minlength=40) / len(y)
    flat = df.copy()
    flat[[f"p_{j}" for j in range(40)]] = prior + np.random.default_rng(0).normal(0, 1e-4, (len(y), 40)).clip(-prior, None)
    flat[[f"p_{j}" for j in range(40)]] = flat[[f"p_{j}" for j in range(40)]].div(
        flat[[f"p_{j}" for j in range(40)]].sum(axis=1), axis=0)
    assert "hard task" not in evaluate(flat).verdict  # no skill: no excuse


@pytest.mark.parametrize("weak", [False, True])
def test_the_median_row_loss_is_within_one_percent_even_far_below_1e_4(weak):
    """Item 3: a very confident model (row losses of 1e-7 and less) — the old 120-bin histogram
    started at 1e-4 and was off by orders of magnitude there; the figures now come from a fine one."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingClassifier

    from evalreport import evaluate

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    model = (make_pipeline(StandardScaler(), LogisticRegression(C=0.01)) if weak
             else GradientBoostingClassifier(n_estimators=300, random_state=0))
    proba = cross_val_predict(model, X, y, cv=5, method="predict_proba")
    df = pd.DataFrame({"label": y, "p_0": proba[:, 0], "p_1": proba[:, 1]})
    r = evaluate(df)
    eps = np.finfo(float).eps
    ce = -np.log(np.clip(proba[np.arange(len(y)), y], eps, 1 - eps))
    exact = np.median(ce)
    if not weak:
        assert exact < 1e-4  # the shape of the issue
    assert r.overall.median_row_cross_entropy == pytest.approx(exact, rel=0.01)
    top = np.sort(ce)[::-1]
    for share, got in ((0.01, r.loss_concentration.worst_1pct_share), (0.10, r.loss_concentration.worst_10pct_share)):
        m = share * len(ce)  # rows, fractional: 1% of 569 rows is 5.69 rows
        want = (top[: int(m)].sum() + (m - int(m)) * top[int(m)]) / ce.sum()
        assert got == pytest.approx(want, abs=0.01)


def _figures_only(d: dict) -> dict:
    """A result's JSON without what names the input (its name, format and the options' wording)."""
    d = json.loads(json.dumps(d))
    d.pop("input")
    d.pop("tool")
    return d


def test_arrays_straight_from_predict_proba_give_the_same_result_as_the_table(iris_model):
    """Item 10: evaluate(y_true, proba, classes=model.classes_) — arrays, lists, Series, a proba
    DataFrame — with weights and slices as arrays: the same figures as the DataFrame, to the bit."""
    from evalreport import evaluate

    y, proba, classes = iris_model
    rng = np.random.default_rng(3)
    w = rng.uniform(0.2, 3.0, len(y))
    g = rng.choice(["north", "south", "east"], len(y))
    df = pd.DataFrame({"label": y, **{f"p_{c}": proba[:, j] for j, c in enumerate(classes)}, "w": w, "region": g})
    want = evaluate(df, weight_col="w", group_by="region", bootstrap=16)
    assert want.overall.log_loss == pytest.approx(log_loss(y, proba, sample_weight=w), rel=1e-12)
    for got in (
        evaluate(y, proba, classes=classes, sample_weight=w, groups={"region": g}, bootstrap=16),
        evaluate(list(y), proba.tolist(), sample_weight=list(w), groups=pd.Series(g, name="region"), bootstrap=16),
        evaluate(pd.Series(y), pd.DataFrame(proba, columns=classes), sample_weight=pd.Series(w),
                 groups=pd.DataFrame({"region": g}), bootstrap=16),
        evaluate(df.drop(columns=["w", "region"]), sample_weight=w, groups={"region": g}, bootstrap=16),
    ):
        assert _figures_only(got.to_dict()) == _figures_only(want.to_dict())
    assert evaluate(y, proba).to_dict()["input"]["format"] == "arrays"


def test_arrays_with_integer_float_boolean_labels_and_a_binary_score():
    """As scikit-learn: integer labels 0..K-1 name the columns; 1.0 is the label 1; a 1-D proba is
    P(classes[1]) (predict_proba(X)[:, 1]); True/False labels too."""
    from sklearn.datasets import load_breast_cancer

    from evalreport import evaluate

    X, y = load_breast_cancer(return_X_y=True)
    proba = cross_val_predict(LogisticRegression(max_iter=5000), X, y, cv=5, method="predict_proba")
    want = log_loss(y, proba)
    for yy in (y, y.astype(float), y.astype(bool)):
        assert evaluate(yy, proba).overall.log_loss == pytest.approx(want, rel=1e-12)
        one = evaluate(yy, proba[:, 1])
        assert one.overall.log_loss == pytest.approx(want, rel=1e-12)
    named = np.array(["benign", "malignant"])[1 - y]  # classes_ sorted: benign, malignant
    r = evaluate(named, proba[:, ::-1][:, 1], classes=["benign", "malignant"])
    assert r.overall.log_loss == pytest.approx(want, rel=1e-12)
    # one label value present, integers: 0..K-1 still name proba's columns
    assert evaluate(y[y == 1], proba[y == 1]).overall.log_loss == pytest.approx(
        log_loss(y[y == 1], proba[y == 1], labels=[0, 1]), rel=1e-12)


def test_soft_targets_and_logits_as_arrays():
    from scipy.special import softmax

    from evalreport import evaluate

    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 4))
    t = softmax(rng.normal(size=(200, 4)), axis=1)
    r = evaluate(t, z, logits=True, classes=list("abcd"))
    q = softmax(z, axis=1)
    ce = -(t * np.log(q)).sum(axis=1).mean()
    h = -(t * np.log(t)).sum(axis=1).mean()
    assert r.overall.cross_entropy == pytest.approx(ce, rel=1e-12)
    assert r.overall.entropy == pytest.approx(h, rel=1e-12)
    assert r.overall.kl_divergence == pytest.approx(ce - h, rel=1e-10)


@pytest.mark.parametrize(("call", "says"), [
    (lambda y, p: dict(data=y[:-1], proba=p), "y_true has 149 rows but proba has 150"),
    (lambda y, p: dict(data=np.array(["a", "b"])[y[:100]], proba=p[:100]), "pass classes="),
    (lambda y, p: dict(data=y, proba=p, classes=["a", "b"]), "classes= names 2 classes but proba has 3 columns"),
    (lambda y, p: dict(data=y, proba=p, label_col="y"), "label_col= names a column of a table"),
    (lambda y, p: dict(data=y, proba=p, sample_weight=np.ones(3)), "sample_weight has 3 rows"),
    (lambda y, p: dict(data=y, proba=p, sample_weight=["a"] * 150), "sample_weight is not numeric"),
    (lambda y, p: dict(data=y, proba=p[:, :, None]), "proba has 3 dimensions"),
    (lambda y, p: dict(data=y, proba=[["x"] * 3] * 150), "proba is not numeric"),
    (lambda y, p: dict(data=y, proba=p * 0.5), "sum to 1"),
    (lambda y, p: dict(data="preds.csv", sample_weight=np.ones(150)), "for a file name its columns"),
    (lambda y, p: dict(data=np.where(np.arange(150) == 7, np.nan, y.astype(float)), proba=p), "missing labels (rows 8)"),
    (lambda y, p: dict(data=y[:0], proba=p[:0]), "has no rows"),
    (lambda y, p: dict(data=y, proba=p, sample_weight=np.where(np.arange(150) == 3, -1.0, 1.0)),
     "weights must be finite and not negative (rows 4)"),
])
def test_bad_arrays_are_one_clear_error(iris_model, call, says):
    from evalreport import EvalReportError, evaluate

    y = np.repeat([0, 1, 2], 50)
    p = iris_model[1]
    kw = call(y, p)
    with pytest.raises(EvalReportError, match=None) as err:
        evaluate(kw.pop("data"), kw.pop("proba", None), **kw)
    assert says in str(err.value)
    assert "\n" not in str(err.value)


def test_to_frame_gives_the_per_class_and_per_slice_tables_with_the_json_figures(iris_model):
    """Item 11: result.to_frame() / to_frame("slices"), and the same for a Comparison."""
    from evalreport import EvalReportError, compare, evaluate

    y, proba, classes = iris_model
    folds = np.arange(len(y)) % 3
    r = evaluate(y, proba, classes=classes, groups={"fold": folds}, bootstrap=16)
    per_class = r.to_frame()
    assert list(per_class.index) == list(classes)
    for j, c in enumerate(classes):  # each class's loss: the mean over its rows, from scikit-learn
        rows = y == c
        assert per_class.loc[c, "cross_entropy"] == pytest.approx(
            log_loss(y[rows], proba[rows], labels=classes), rel=1e-12)
        assert per_class.loc[c, "ci95_low"] <= per_class.loc[c, "cross_entropy"] <= per_class.loc[c, "ci95_high"]
    slices = r.to_frame("slices")
    assert slices.index.names == ["slice", "value"]
    for f in range(3):
        rows = folds == f
        assert slices.loc[("fold", str(f)), "cross_entropy"] == pytest.approx(
            log_loss(y[rows], proba[rows], labels=classes), rel=1e-12)
        assert slices.loc[("fold", str(f)), "rows"] == rows.sum()
    with pytest.raises(EvalReportError, match="no slices"):
        evaluate(y, proba).to_frame("slices")
    with pytest.raises(EvalReportError, match="'classes' or 'slices'"):
        r.to_frame("rows")

    worse = np.clip(proba * 0.8 + 0.2 / 3, 0, 1)
    base = pd.DataFrame({"label": y, "fold": folds, **{f"p_{c}": proba[:, j] for j, c in enumerate(classes)}})
    cand = base.assign(**{f"p_{c}": worse[:, j] for j, c in enumerate(classes)})
    c = compare(base, cand, group_by="fold", bootstrap=16)
    diffs = c.to_frame()
    assert set(diffs.columns) >= {"baseline", "candidate", "difference", "ci95_low", "ci95_high", "verdict"}
    assert (diffs["difference"] == diffs["candidate"] - diffs["baseline"]).all()
    assert c.to_frame("slices").loc[("fold", "0"), "verdict"] in ("worse", "better", "no clear difference")


def test_a_result_displays_as_the_report_in_a_notebook(iris_model):
    """Item 11: _repr_html_ is the whole report in an iframe's srcdoc, escaped, sized to the cell."""
    import html as html_mod

    from evalreport import compare, evaluate

    y, proba, classes = iris_model
    r = evaluate(y, proba, classes=classes, bootstrap=0)
    cell = r._repr_html_()
    assert cell.startswith("<iframe srcdoc=\"") and cell.endswith("</iframe>")
    srcdoc = re.search(r'srcdoc="([^"]*)"', cell).group(1)
    def stamp(x):
        return re.sub(r"\d{4}-\d\d-\d\dT[\d:]+[+-]\d\d:\d\d", "<time>", x)

    assert stamp(html_mod.unescape(srcdoc)) == stamp(r.to_html())  # the report itself, escaped
    assert "width:100%" in cell and "height:640px" in cell
    df = pd.DataFrame({"label": y, **{f"p_{c}": proba[:, j] for j, c in enumerate(classes)}})
    assert compare(df, df, bootstrap=0)._repr_html_().startswith("<iframe srcdoc=")


def test_the_language_model_example_softmaxes_option_log_probabilities(tmp_path):
    """Item 12: per-option log-probabilities of a multiple-choice judge go in with --logits: the
    softmax over the options is the renormalisation people need. Checked against SciPy's
    log_softmax and scikit-learn's log_loss, end to end through the command in the README."""
    from scipy.special import log_softmax, softmax

    from conftest import EXAMPLES

    src = EXAMPLES / "llm_multiple_choice.csv"
    df = pd.read_csv(src)
    lp = df[[f"lp_{c}" for c in "ABCD"]].to_numpy()
    mass = np.exp(lp).sum(axis=1)  # the letters' probabilities leave mass to other tokens
    assert (mass < 1).all() and np.median(mass) < 0.95
    out = tmp_path / "llm.json"
    done = run(["report", src, "--prob-prefix", "lp_", "--logits", "--group-by", "subject",
                "-o", tmp_path / "llm.html", "--json", out])
    assert done.exit_code == 0, done.stderr
    d = json.loads(out.read_text())
    y = df["label"].to_numpy()
    want = log_loss(y, softmax(lp, axis=1), labels=list("ABCD"))
    assert d["overall"]["log_loss"] == pytest.approx(want, rel=1e-12)
    per_row = -log_softmax(lp, axis=1)[np.arange(len(y)), np.searchsorted(list("ABCD"), y)]
    assert d["overall"]["cross_entropy"] == pytest.approx(per_row.mean(), rel=1e-12)
    by_subject = {g["value"]: g["cross_entropy"] for g in d["groups"]["subject"]}
    for subject, rows in df.groupby("subject").groups.items():
        assert by_subject[subject] == pytest.approx(per_row[rows].mean(), rel=1e-12)
    assert not any("look like probabilities" in w for w in d["warnings"])


def test_a_yes_no_judge_with_two_log_probabilities():
    """Item 12, the README's second case: a yes/no judge's two token log-probabilities, from Python."""
    from scipy.special import softmax

    from evalreport import evaluate

    rng = np.random.default_rng(5)
    truth = rng.choice(["no", "yes"], 300)
    z = rng.normal(0, 1, (300, 2)) + np.where(truth[:, None] == np.array(["no", "yes"]), 1.5, 0.0)
    lp = z - np.logaddexp(np.logaddexp.reduce(z, axis=1), 0.5)[:, None]  # mass left to other tokens
    r = evaluate(truth, lp, classes=["no", "yes"], logits=True)
    assert r.overall.log_loss == pytest.approx(log_loss(truth, softmax(lp, axis=1), labels=["no", "yes"]), rel=1e-12)


def test_short_labels_keep_what_tells_names_apart():
    """Item 13: names sharing a long start (and end) are cut where they do not differ."""
    from evalreport.render.labels import short_labels

    names = [f"Category number {i:03d} of the product catalogue" for i in range(40)]
    for limit in (16, 24, 32):
        labels, key = short_labels(names, limit)
        assert len(set(labels)) == 40 and all(len(s) <= limit for s in labels)
        assert all(f"{i:03d}" in s for i, s in enumerate(labels))  # the distinguishing part stays
        assert key == tuple(zip(labels, names))
    assert short_labels(["a", "b"], 16) == (["a", "b"], ())
    # no shared part: the middle goes, both ends stay
    labels, _ = short_labels(["alpha_model_checkpoint_final_v1", "beta_model_checkpoint_final_v2"], 16)
    assert labels == ["alpha_mo…inal_v1", "beta_mod…inal_v2"]
    # names that differ only where they are cut are numbered, still within the limit
    labels, key = short_labels(["x" * 20 + "a" + "x" * 20, "x" * 20 + "b" + "x" * 20], 16)
    assert len(set(labels)) == 2 and all(len(s) <= 16 for s in labels) and len(key) == 2


def test_a_forty_class_report_labels_every_class_apart_and_gives_the_key():
    """Item 13, in the report: the confusion matrix's 20 rows have 20 distinct labels, the one-vs-rest
    titles are two lines within their panel, and the HTML gives the key under each chart."""
    import base64
    import html as html_mod

    from evalreport import evaluate
    from evalreport.render import charts

    rng = np.random.default_rng(1)
    names = [f"Category number {i:03d} of the product catalogue" for i in range(40)]
    y = rng.integers(40, size=4000)
    z = rng.normal(0, 1, (4000, 40))
    z[np.arange(4000), y] += 2.0
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    r = evaluate(np.array(names)[y], p, classes=names, bootstrap=0)
    drawn = charts.all_charts(r)

    def texts(chart):
        svg = base64.b64decode(chart.uri.split(",", 1)[1]).decode()
        return [html_mod.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]

    conf = drawn["confusion"]
    shown = [t for t in texts(conf) if t.startswith("…")]
    assert len(shown) == 40 and len(set(shown)) == 20  # 20 rows, the same 20 columns
    assert {label for label, _ in conf.key} == set(shown) and all(n in names for _, n in conf.key)
    ovr = drawn["ovr"]
    titles = [t for t in texts(ovr) if t.startswith("…number")]
    assert len(titles) == len(r.calibration.class_bins) and all(len(t) <= 24 for t in titles)
    page = r.to_html()
    assert page.count('<details class="key" open>') >= 3  # per class, one-vs-rest, confusion
    assert html_mod.escape(names[0]) in page
