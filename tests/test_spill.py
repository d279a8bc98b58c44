"""compare in bounded memory (issue 26): the rows of two inputs are matched through partitions
that spill to disk; the figures equal those of the partitions held in memory, the temporary
folder is removed on every exit path, and a problem is the same one line either way."""

from __future__ import annotations

import glob
import os
import re
import tempfile

import numpy as np
import pandas as pd
import pytest

import evalreport.load.spill as spill
from evalreport import compare
from evalreport.errors import InputError

from conftest import random_predictions


def _figures(c) -> dict:
    d = c.to_dict()
    return {k: d[k] for k in ("baseline", "candidate", "difference", "per_class", "groups", "rising_rows",
                              "calibration", "matched_by", "rows")}


def _close(a, b, path="") -> None:
    """Equal, numbers to 1e-12 (the sums' order may differ)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12), path
    else:
        assert a == b, path


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(7)
    n = 12_000
    base = random_predictions(rng, n, 4, weights=True, groups=5)
    base.insert(0, "id", [f"r{i:06d}" for i in rng.permutation(n)])
    cand = base.copy()
    logits = np.log(cand[[c for c in cand if c.startswith("p_")]].to_numpy()) + rng.normal(0, 0.5, (n, 4))
    q = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    for j in range(4):
        cand[f"p_c{j}"] = q[:, j]
    cand = cand.sample(frac=1.0, random_state=3)  # another order: matched by id
    b, c = tmp_path / "base.csv", tmp_path / "cand.csv"
    base.to_csv(b, index=False)
    cand.to_csv(c, index=False)
    return b, c


def _spilling(monkeypatch, tmp_path):
    """Spill at 32 KiB and match 20,000 values at a time; count the folders made and left."""
    made = []
    real = tempfile.mkdtemp

    def mkdtemp(**kw):
        made.append(real(dir=tmp_path, **kw))
        return made[-1]

    monkeypatch.setattr(spill, "SPILL_BYTES", 32 << 10)
    monkeypatch.setattr(spill, "GROUP_CELLS", 20_000)
    monkeypatch.setattr(spill.tempfile, "mkdtemp", mkdtemp)
    return made


@pytest.mark.parametrize("group_by", [(), ("g",)])
def test_a_spilled_match_gives_the_figures_of_one_in_memory(pair, tmp_path, monkeypatch, group_by):
    b, c = pair
    kw = dict(weight_col="w", group_by=group_by)
    in_memory = compare(b, c, **kw)
    made = _spilling(monkeypatch, tmp_path)
    spilled = compare(b, c, **kw)
    assert made and not any(os.path.exists(m) for m in made)  # it spilled, and cleaned up
    _close(_figures(in_memory), _figures(spilled))
    assert in_memory.score.ci95 is not None


def test_rows_matched_by_position_are_read_in_step_without_disk(pair, tmp_path, monkeypatch):
    """Without ids, both inputs are read in step and matched a group of positions at a time:
    nothing goes to disk however low the spill bound, and the figures are those of the same rows
    matched by id in the same order (12 partitions of 1,000 rows, matched two at a time)."""
    b, c = pair
    for name, path in (("b", b), ("c", c)):
        df = pd.read_csv(path).sort_values("id")
        df.to_csv(tmp_path / f"{name}_id.csv", index=False)  # with ids, in the same order
        df.drop(columns="id").to_csv(path, index=False)  # without: matched by position
    by_id = compare(tmp_path / "b_id.csv", tmp_path / "c_id.csv", weight_col="w", group_by="g")
    made = _spilling(monkeypatch, tmp_path)
    monkeypatch.setattr(spill, "POSITION_RANGE", 1000)
    in_step = compare(b, c, weight_col="w", group_by="g")
    assert not made and in_step.matched_by == "row order"
    def figures(c) -> dict:  # rows are named by id on one side only
        f = _figures(c)
        f["rising_rows"] = [{k: v for k, v in row.items() if k != "id"} for row in f["rising_rows"]]
        return {**f, "matched_by": None}

    _close(figures(by_id), figures(in_step))
    short = tmp_path / "short.csv"
    pd.read_csv(c).iloc[:-1].to_csv(short, index=False)
    with pytest.raises(InputError, match="has 11999 rows but the baseline has 12000"):
        compare(b, short, weight_col="w")
    assert not made


@pytest.mark.parametrize("mutate, message", [
    (lambda df: df.iloc[:-1], "1 baseline id(s) are missing from it"),
    (lambda df: df.assign(id=df["id"].where(df.index != 11_000, df["id"][3])), "ids must be unique"),
    (lambda df: df.assign(label=df["label"].where(df.index != 9_000, "c0").where(df.index != 9_001, "c1")),
     "labels differ from the baseline's"),
])
def test_a_problem_found_in_a_spilled_partition_is_one_line_and_leaves_nothing(pair, tmp_path, monkeypatch,
                                                                               mutate, message):
    b, c = pair
    df = pd.read_csv(c).reset_index(drop=True)
    df = mutate(df)
    if message.startswith("labels") and (df["label"] == pd.read_csv(c)["label"]).all():
        pytest.skip("the mutation left the labels as they were")
    df.to_csv(c, index=False)
    made = _spilling(monkeypatch, tmp_path)
    with pytest.raises(InputError, match=re.escape(message)):
        compare(b, c, weight_col="w")
    assert made and not any(os.path.exists(m) for m in made)


def test_no_room_for_the_spill_is_one_line(pair, tmp_path, monkeypatch):
    b, c = pair
    made = _spilling(monkeypatch, tmp_path)
    monkeypatch.setattr(spill, "DISK_MARGIN", 1 << 62)  # more than any disk holds
    from evalreport.errors import UsageError

    with pytest.raises(UsageError, match="needs temporary space.*set TMPDIR"):
        compare(b, c)
    assert made and not glob.glob(os.path.join(made[0], "*"))
