"""Shared helpers for the evalreport tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from evalreport.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


def run(args, input=None):
    """Run the CLI in-process; returns the typer Result (exit_code, stdout, stderr)."""
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def random_predictions(rng: np.random.Generator, n: int, k: int, *, soft: bool = False, weights: bool = False,
                       groups: int = 0) -> pd.DataFrame:
    """A random predictions table: labels (or soft targets), p_ columns, optional weights and a slice column."""
    logits = rng.normal(0, 2, size=(n, k))
    q = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    df = pd.DataFrame({f"p_c{j}": q[:, j] for j in range(k)})
    if soft:
        t = rng.dirichlet(np.full(k, 0.5), size=n)
        for j in range(k):
            df[f"t_c{j}"] = t[:, j]
    else:
        df.insert(0, "label", [f"c{j}" for j in rng.integers(0, k, size=n)])
    if weights:
        df["w"] = rng.uniform(0.1, 3.0, size=n)
    if groups:
        df["g"] = rng.integers(0, groups, size=n).astype(str)
    return df


@pytest.fixture(scope="session")
def lm_runs(tmp_path_factory):
    """Two lm-evaluation-harness runs written by lm-eval itself (offline: a character n-gram of our
    own on local task files; see examples/lm_eval/make_runs.py): the same tasks, the model trained
    on 30% and on all of its text. Returns {"tasks": folder, "step1000": run, "step2000": run}."""
    import sys

    sys.path.insert(0, str(EXAMPLES / "lm_eval"))
    try:
        import make_runs
    finally:
        sys.path.pop(0)
    root = tmp_path_factory.mktemp("lm_eval")
    tasks = root / "tasks"
    make_runs.write_data(tasks, make_runs.corpus())
    out = {"tasks": tasks}
    for step, share in (("step1000", 0.3), ("step2000", 1.0)):
        out[step] = make_runs.write_run(root / step, tasks, training_share=share)
    return out
