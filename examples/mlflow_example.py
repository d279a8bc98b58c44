"""Train a model, track it in a local MLflow store, and attach evalreport's evaluation to its run.

    pip install ".[examples,mlflow]"
    python examples/mlflow_example.py [--store DIR]

It trains a logistic regression on scikit-learn's digits, logs the model's parameters and its
training accuracy to a new MLflow run in a SQLite store in DIR (default: ./mlflow-example; no
server), writes the held-out predictions to a CSV, then runs

    MLFLOW_RUN_ID=<the run> evalreport report predictions.csv --mlflow

so the report's figures, band, HTML, JSON and Markdown land in the same run; and prints the
command that shows them (``mlflow ui``, which needs the full ``mlflow`` package: the [mlflow] extra
is the client alone, mlflow-skinny).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path, default=Path("mlflow-example"))
    args = ap.parse_args()
    store = args.store.resolve()
    store.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{store / 'mlflow.db'}"
    os.environ["MLFLOW_TRACKING_URI"] = uri

    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    found = client.get_experiment_by_name("digits")
    experiment = found.experiment_id if found else client.create_experiment(
        "digits", artifact_location=(store / "artifacts").as_uri())
    run = client.create_run(experiment, run_name="logreg C=0.1")
    run_id = run.info.run_id

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)).fit(X_train, y_train)
    client.log_param(run_id, "C", 0.1)
    client.log_metric(run_id, "train_accuracy", float(model.score(X_train, y_train)))

    proba = model.predict_proba(X_test)
    predictions = store / "predictions.csv"
    pd.DataFrame({"label": y_test, **{f"p_{c}": proba[:, j] for j, c in enumerate(model.classes_)}}).to_csv(
        predictions, index=False)
    client.set_terminated(run_id)

    # the evaluation, attached to the training run
    done = subprocess.run([sys.executable, "-m", "evalreport", "report", str(predictions), "-o",
                           str(store / "report.html"), "--mlflow"],
                          env=dict(os.environ, MLFLOW_RUN_ID=run_id), check=False)
    if done.returncode != 0:
        raise SystemExit(done.returncode)
    metrics = client.get_run(run_id).data.metrics
    print(f"run {run_id}: cross-entropy {metrics['evalreport.cross_entropy']:.4f} nats, "
          f"accuracy {metrics['evalreport.accuracy']:.3f} (train accuracy {metrics['train_accuracy']:.3f})")
    print(ui_hint(uri))
    np.testing.assert_allclose(metrics["evalreport.accuracy"], model.score(X_test, y_test))


def ui_hint(uri: str) -> str:
    """How to look at the run: ``mlflow ui`` where the full MLflow (its server) is installed; with
    the [mlflow] extra alone (mlflow-skinny, no server) what to install first."""
    import importlib.util

    command = f"mlflow ui --backend-store-uri {uri}"
    if importlib.util.find_spec("flask") is not None:  # the server 'mlflow ui' runs is a Flask app
        return f"see it:  {command}   (then open the 'digits' experiment)"
    return (f"see it:  pip install mlflow && {command}   (the [mlflow] extra installs mlflow-skinny, "
            "a client without the server that 'mlflow ui' runs; then open the 'digits' experiment)")


if __name__ == "__main__":
    main()
