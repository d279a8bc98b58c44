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
