"""The bootstrap behind the 95% intervals: right coverage, deterministic, chunk-independent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate

import evalreport.compute.bootstrap as compute  # where BOOT_BLOCKS lives
from evalreport import evaluate
from evalreport.compute import Bootstrap, poisson_weights

from conftest import EXAMPLES, random_predictions


def test_replicate_weights_depend_only_on_row_position():
    boot = Bootstrap(200, seed=3)
    whole = poisson_weights(0, 100, boot)
    assert np.array_equal(whole[37:], poisson_weights(37, 63, boot))
    assert not np.array_equal(whole, poisson_weights(0, 100, Bootstrap(200, seed=4)))
    v = poisson_weights(0, 20_000, boot).astype(float)  # Poisson(1): mean 1, variance 1
    assert v.mean() == pytest.approx(1, abs=0.01) and v.var() == pytest.approx(1, abs=0.02)
    assert (v == 0).mean() == pytest.approx(np.exp(-1), abs=0.005)


def test_blocks_beyond_the_first_rows_are_random_sets_of_rows(monkeypatch):
    monkeypatch.setattr(compute, "BOOT_BLOCKS", 64)
    blocks = compute.boot_block(np.arange(10_000, dtype=np.uint64))
    assert blocks[:64].tolist() == list(range(64))  # the first rows are their own blocks
    counts = np.bincount(blocks[64:], minlength=64)
    assert counts.min() > 100 and counts.max() < 200  # about 155 rows each, spread at random
    assert len(set(blocks[64:128])) > 30  # not a systematic (row mod 64) assignment


def test_block_intervals_do_not_depend_on_chunking_and_agree_with_row_level(monkeypatch):
    rng = np.random.default_rng(0)
    df = random_predictions(rng, 3000, 4, weights=True, groups=5)
    row_level = evaluate(df, weight_col="w", group_by="g", bootstrap=400).to_dict()  # 3000 > 2048: blocks
    monkeypatch.setattr(compute, "BOOT_BLOCKS", 256)  # about 12 rows a block
    a = evaluate(df, weight_col="w", group_by="g", bootstrap=400).to_dict()
    b = evaluate(df, weight_col="w", group_by="g", bootstrap=400, chunk_rows=101).to_dict()
    assert a["overall"]["band_score_ci95"] == pytest.approx(b["overall"]["band_score_ci95"], abs=1e-12)
    for x, y in zip(a["per_class"] + a["groups"]["g"], b["per_class"] + b["groups"]["g"]):
        assert x["ci95"] == pytest.approx(y["ci95"], abs=1e-12)
    width = lambda d: d["overall"]["band_score_ci95"][1] - d["overall"]["band_score_ci95"][0]  # noqa: E731
    assert width(a) == pytest.approx(width(row_level), rel=0.15)  # blocks of rows: the same uncertainty


def test_intervals_bracket_the_estimates():
    r = evaluate(EXAMPLES / "digits_predictions.csv", group_by="fold")
    lo, hi = r.overall.band_score_ci95
    assert lo < r.overall.band_score < hi
    for item in list(r.per_class) + list(r.groups["fold"]):
        assert item.ci95[0] < item.cross_entropy < item.ci95[1]
    assert r.bootstrap == {"replicates": 200, "seed": 0}
    # a slice has fewer rows than the whole, so a wider interval
    assert all(s.ci95[1] - s.ci95[0] > hi - lo for s in r.groups["fold"])


def test_no_bootstrap_means_no_intervals():
    r = evaluate(EXAMPLES / "iris_predictions.csv", bootstrap=0)
    assert r.overall.band_score_ci95 is None and r.bootstrap is None
    assert r.to_dict()["overall"]["band_score_ci95"] is None


@pytest.mark.parametrize("blocks", [None, 32], ids=["row-level", "32-blocks"])
def test_95_percent_intervals_cover_the_true_mean_loss(blocks, monkeypatch):
    """Calibrated binary predictions q ~ U(0.05, 0.95), y ~ Bernoulli(q): the true
    mean log loss is E[H(q)], the mean binary entropy, known by integration.
    With 32 blocks for 300 rows, each replicate weighs blocks of about 9 rows."""
    if blocks:
        monkeypatch.setattr(compute, "BOOT_BLOCKS", blocks)
    def h(q):
        return -(q * np.log(q) + (1 - q) * np.log(1 - q))

    truth = integrate.quad(h, 0.05, 0.95)[0] / 0.9
    n, datasets, covered = 300, 250, 0
    for i in range(datasets):
        rng = np.random.default_rng(1000 + i)
        q = rng.uniform(0.05, 0.95, n)
        y = (rng.uniform(size=n) < q).astype(int)
        r = evaluate(pd.DataFrame({"label": y, "s": q}), score_col="s", seed=i)
        lo, hi = r.overall.band_score_ci95
        covered += lo <= truth <= hi
    coverage = covered / datasets
    print(f"coverage {coverage:.3f} over {datasets} data sets (true mean loss {truth:.4f})")
    assert 0.92 <= coverage <= 0.98


def test_a_figure_resting_on_one_row_has_no_interval(tmp_path):
    """One row is the same in every replicate: its 'interval' had zero width, which a reviewer reads
    as certainty. A figure whose rows lie in fewer than two bootstrap blocks has none ('—'); the
    figures beside it keep theirs, and --significant falls back to the point rule, as it says."""
    from conftest import run

    one = evaluate(pd.DataFrame({"label": ["a"], "p_a": [0.8], "p_b": [0.2]}))
    assert one.overall.band_score_ci95 is None

    def intervals_in(x, key=""):  # every interval the JSON holds, wherever it is
        if isinstance(x, dict):
            for k, v in x.items():
                yield from intervals_in(v, k if "ci95" in k else key)
        elif isinstance(x, list) and "ci95" in key and len(x) == 2 and all(isinstance(t, float) for t in x):
            yield x
        elif isinstance(x, list):
            for v in x:
                yield from intervals_in(v, key)

    assert list(intervals_in(one.to_dict())) == []  # the ECE's and the decomposition's included
    assert len(list(intervals_in(evaluate(EXAMPLES / "iris_predictions.csv").to_dict()))) > 10  # the probe sees them
    df = pd.DataFrame({"label": ["a"] * 40 + ["b"], "g": ["x"] * 40 + ["y"],
                       "p_a": np.linspace(0.5, 0.9, 41), "p_b": 1 - np.linspace(0.5, 0.9, 41)})
    r = evaluate(df, group_by="g")
    by_class = {c.name: c for c in r.per_class}
    lo, hi = by_class["a"].ci95
    assert lo < by_class["a"].cross_entropy < hi
    assert by_class["b"].ci95 is None  # one row of class b
    slices = {s.value: s for s in r.groups["g"]}
    assert slices["x"].ci95 is not None and slices["y"].ci95 is None
    assert r.overall.band_score_ci95 is not None
    src = tmp_path / "one.csv"
    src.write_text("label,p_a,p_b\na,0.8,0.2\n")
    result = run(["check", src, "--max-score", "0.1", "--significant"])
    assert result.exit_code == 1 and "no interval: the point rule" in result.stdout  # (the table wraps it)
