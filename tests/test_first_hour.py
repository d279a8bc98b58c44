"""Issue 11: the first hour with real models. Every file shape people actually write works,
or says the one thing to change. Predictions come from real scikit-learn models."""

from __future__ import annotations

import json

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


def test_one_bad_row_in_a_chunk_lacking_a_class_is_not_called_an_extra_column(iris_model):
    """Sorted by class, a chunk may lack a class; one row off by exactly that class's value is
    still one bad row, not a column that is no class."""
    from evalreport import InputError, evaluate

    y, proba, classes = iris_model
    df = _frame(y, proba, classes).sort_values("label", kind="stable").reset_index(drop=True)
    df.loc[120, "p_setosa"] += 0.5
    with pytest.raises(InputError, match=r"probabilities do not sum to 1 .*\(rows 121\)"):
        evaluate(df, chunk_rows=50)
