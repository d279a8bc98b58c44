"""Make the example prediction files from real scikit-learn models, and their reports.

Each file holds out-of-fold predictions (5-fold cross-validation), so every row
was scored by a model that did not see it. Run from anywhere:

    python examples/make_examples.py

It writes the CSV files here and their HTML reports, JSON and Markdown into
``examples/reports/``. Needs scikit-learn (``pip install ".[examples]"``). The
predictions are deterministic; the reports differ only in their time stamp.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
FOLDS = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)


def out_of_fold(model, X, y) -> tuple[np.ndarray, np.ndarray]:
    """Predicted probabilities for every row from the fold that held it out, and the fold."""
    proba = np.zeros((len(y), len(np.unique(y))))
    fold = np.zeros(len(y), dtype=int)
    for k, (train, test) in enumerate(FOLDS.split(X, y)):
        model.fit(X[train], y[train])
        proba[test] = model.predict_proba(X[test])
        fold[test] = k
    return proba, fold


def write(df: pd.DataFrame, name: str) -> None:
    path = HERE / name
    df.to_csv(path, index=False, float_format="%.6g", lineterminator="\n")
    print(f"wrote {path.relative_to(HERE.parent)} ({len(df)} rows)")


def _digits(model, name: str) -> None:
    data = load_digits()
    proba, fold = out_of_fold(model, data.data, data.target)
    df = pd.DataFrame({"id": [f"digit-{i:04d}" for i in range(len(data.target))], "label": data.target, "fold": fold})
    for k in range(10):
        df[f"p_{k}"] = proba[:, k]
    write(df, name)


def digits() -> None:
    """10 classes, 1,797 rows: a random forest (under-confident, as forests are)."""
    _digits(RandomForestClassifier(n_estimators=100, random_state=0), "digits_predictions.csv")


def digits_logreg() -> None:
    """The same digits rows (same ids and folds) scored by a second model, logistic regression:
    the candidate for ``evalreport compare`` against the random forest."""
    _digits(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1)), "digits_predictions_logreg.csv")


def iris() -> None:
    """3 named classes, 150 rows: logistic regression, with the fold as a slice column."""
    data = load_iris()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    proba, fold = out_of_fold(model, data.data, data.target)
    names = np.asarray(data.target_names)
    df = pd.DataFrame({"id": np.arange(1, len(data.target) + 1), "label": names[data.target], "fold": fold})
    for k, name in enumerate(names):
        df[f"p_{name}"] = proba[:, k]
    write(df, "iris_predictions.csv")


def iris_soft_targets() -> None:
    """The iris predictions against label-smoothed targets (ε = 0.1): soft targets, P ≠ one-hot."""
    df = pd.read_csv(HERE / "iris_predictions.csv")
    names = ["setosa", "versicolor", "virginica"]
    eps = 0.1
    for name in names:
        df[f"t_{name}"] = np.where(df["label"] == name, 1 - eps + eps / 3, eps / 3)
    write(df.drop(columns="label"), "iris_soft_targets.csv")


def breast_cancer() -> None:
    """Binary, 569 rows, one score column P(malignant): Gaussian naive Bayes (over-confident)."""
    data = load_breast_cancer()
    malignant = (data.target == 0).astype(int)  # scikit-learn codes malignant as 0
    proba, fold = out_of_fold(GaussianNB(), data.data, malignant)
    df = pd.DataFrame({"id": np.arange(1, len(malignant) + 1), "label": malignant, "fold": fold, "score": proba[:, 1]})
    write(df, "breast_cancer_predictions.csv")


def llm_multiple_choice() -> None:
    """A language model answering 4-option multiple-choice questions (A–D), 480 rows in four
    subjects: for each question, the log-probability the model gives each option's letter as its
    next token, as an inference API returns them (``logprobs``). The letters' probabilities do not
    sum to 1 — the rest went to other tokens — so ``--logits`` softmaxes over the four options,
    which is exactly the renormalisation wanted. Simulated (no model is downloaded): the model
    knows some subjects better than others and, as language models do, favours the letter A."""
    rng = np.random.default_rng(7)
    subjects = {"biology": 3.2, "history": 2.6, "law": 1.4, "mathematics": 1.0}  # skill: logit bonus
    rows = []
    for subject, skill in subjects.items():
        for i in range(120):
            answer = int(rng.integers(4))
            z = rng.normal(0.0, 1.2, 4)
            z[answer] += skill * rng.uniform(0.3, 1.7)
            z[0] += 0.6  # the letter bias
            other = rng.normal(1.0, 1.0)  # the log of the mass on every other token, on z's scale
            lp = z - np.logaddexp(np.logaddexp.reduce(z), other)
            rows.append({"id": f"{subject}-{i:03d}", "subject": subject, "label": "ABCD"[answer],
                         **{f"lp_{c}": v for c, v in zip("ABCD", lp)}})
    write(pd.DataFrame(rows), "llm_multiple_choice.csv")


#: file → options of each example report
REPORTS = {
    "digits_predictions.csv": dict(group_by="fold"),
    "iris_predictions.csv": dict(group_by="fold"),
    "iris_soft_targets.csv": dict(target_prefix="t_", group_by="fold"),
    "breast_cancer_predictions.csv": dict(score_col="score", group_by="fold"),
    "llm_multiple_choice.csv": dict(prob_prefix="lp_", logits=True, group_by="subject"),
}


def reports() -> None:
    from evalreport import compare, evaluate

    out = HERE / "reports"
    out.mkdir(exist_ok=True)
    os.chdir(HERE.parent)  # so the reports name the files relative to the repository
    for name, options in REPORTS.items():
        result = evaluate(f"examples/{name}", **options)
        stem = name.removesuffix(".csv")
        (out / f"{stem}.html").write_text(result.to_html(), encoding="utf-8")
        (out / f"{stem}.json").write_text(result.to_json(), encoding="utf-8")
        (out / f"{stem}.md").write_text(result.to_markdown(), encoding="utf-8")
        print(f"wrote examples/reports/{stem}.html ({result.overall.band_label})")
    c = compare("examples/digits_predictions.csv", "examples/digits_predictions_logreg.csv", group_by="fold")
    (out / "digits_compare.html").write_text(c.to_html(), encoding="utf-8")
    (out / "digits_compare.json").write_text(c.to_json(), encoding="utf-8")
    (out / "digits_compare.md").write_text(c.to_markdown(), encoding="utf-8")
    print(f"wrote examples/reports/digits_compare.html ({c.score.headline})")


if __name__ == "__main__":
    digits()
    digits_logreg()
    iris()
    iris_soft_targets()
    breast_cancer()
    llm_multiple_choice()
    reports()
