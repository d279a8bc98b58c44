"""Properties every figure must have, over random inputs (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalreport import evaluate
from evalreport.compute import Stats, accumulate, row_figures
from evalreport.load import InputSpec, LoadedInput

from conftest import random_predictions

EPS = float(np.finfo(np.float64).eps)


def _drop_intervals(d):
    """Every interval (a key ending in ci95, wherever it sits) and the prose quoting one."""
    if isinstance(d, dict):
        return {k: _drop_intervals(v) for k, v in d.items() if not k.endswith("ci95")}
    if isinstance(d, list):
        return [_drop_intervals(v) for v in d]
    return d


def _figures(r) -> dict:
    """Every point figure of a result. Left out: where rows are (worst examples)
    and the bootstrap intervals, whose replicate weights follow row positions,
    with what is decided from them (verdicts and prose quoting an interval)."""
    d = r.to_dict()
    d.pop("input")
    d.pop("worst_examples")
    d["calibration"].pop("summary")  # prose quoting the temperature
    d = _drop_intervals(d)
    assert "band_score_ci95" not in d["overall"]
    return d


def _assert_same(a: dict, b: dict, tol: float = 1e-12, path: str = "") -> None:
    assert type(a) is type(b) or {type(a), type(b)} <= {int, float}, path
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], tol, f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, tol, f"{path}[{i}]")
    elif isinstance(a, float) and path.endswith(".temperature"):
        # the fit is convex and well conditioned in β = 1/T, not in T (T can run to thousands)
        assert 1 / a == pytest.approx(1 / b, rel=1e-5, abs=1e-7), path
    elif isinstance(a, float):
        if any(key in path for key in ("temperature", "loss_removed", "standard_error")):
            tol = max(tol, 1e-5)  # outputs of a 1-D optimiser: summation order moves them slightly
        assert a == pytest.approx(b, rel=tol, abs=tol), path
    else:
        assert a == b, path


@settings(max_examples=60, deadline=None)
@given(
    p=st.lists(st.floats(0, 1), min_size=2, max_size=6).filter(lambda v: sum(v) > 1e-3),
    q=st.lists(st.floats(0, 1), min_size=2, max_size=6).filter(lambda v: sum(v) > 1e-3),
)
def test_cross_entropy_is_entropy_plus_kl_per_row(p, q):
    k = min(len(p), len(q))
    if sum(p[:k]) <= 0 or sum(q[:k]) <= 0:  # cut to k values, a distribution can lose all its mass
        return
    P = np.array(p[:k]) / np.sum(p[:k])
    Q = np.array(q[:k]) / np.sum(q[:k])
    f = row_figures(Q[None, :], p=P[None, :], eps=EPS)
    assert f.ce[0] == pytest.approx(f.h[0] + f.kl[0], abs=1e-12)
    assert f.kl[0] >= -1e-12  # Gibbs' inequality (up to clipping at eps)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), soft=st.booleans(), weights=st.booleans())
def test_shuffling_rows_changes_no_figure(seed, soft, weights):
    rng = np.random.default_rng(seed)
    df = random_predictions(rng, 60, 3, soft=soft, weights=weights, groups=3)
    kw = dict(target_prefix="t_" if soft else None, weight_col="w" if weights else None, group_by="g")
    shuffled = df.sample(frac=1.0, random_state=seed % 1000).reset_index(drop=True)
    _assert_same(_figures(evaluate(df, **kw)), _figures(evaluate(shuffled, **kw)))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), soft=st.booleans())
def test_weights_of_one_change_nothing(seed, soft):
    rng = np.random.default_rng(seed)
    df = random_predictions(rng, 50, 4, soft=soft, groups=2)
    kw = dict(target_prefix="t_" if soft else None, group_by="g")
    plain = _figures(evaluate(df, **kw))
    weighted = _figures(evaluate(df.assign(w=1.0), weight_col="w", **kw))
    weighted.pop("weighted"), plain.pop("weighted")
    _assert_same(plain, weighted)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), chunk=st.integers(1, 97), soft=st.booleans())
def test_chunk_boundaries_do_not_matter(seed, chunk, soft):
    rng = np.random.default_rng(seed)
    df = random_predictions(rng, 97, 3, soft=soft, weights=True, groups=4)
    kw = dict(target_prefix="t_" if soft else None, weight_col="w", group_by="g")
    whole = evaluate(df, bootstrap=8, **kw).to_dict()
    chunked = evaluate(df, bootstrap=8, chunk_rows=chunk, **kw).to_dict()
    assert whole["overall"]["band_score_ci95"] is not None
    _assert_same(whole, chunked)  # worst examples, row numbers and bootstrap intervals included


def test_integer_weights_equal_repeated_rows():
    rng = np.random.default_rng(5)
    df = random_predictions(rng, 40, 3, groups=2)
    df["w"] = rng.integers(1, 4, size=len(df)).astype(float)
    repeated = df.loc[df.index.repeat(df["w"].astype(int))].drop(columns="w").reset_index(drop=True)
    a = evaluate(df, weight_col="w", group_by="g").to_dict()
    b = evaluate(repeated, group_by="g").to_dict()
    for key in ("cross_entropy", "brier", "accuracy", "kl_divergence"):
        assert a["overall"][key] == pytest.approx(b["overall"][key], abs=1e-12)
    for x, y in zip(a["per_class"], b["per_class"]):
        assert x["cross_entropy"] == pytest.approx(y["cross_entropy"], abs=1e-12)


def test_merging_stats_is_associative_and_has_a_zero():
    rng = np.random.default_rng(1)
    df = random_predictions(rng, 90, 3, weights=True, groups=3)
    loaded = LoadedInput(df, InputSpec(weight_col="w", group_by=("g",)), chunk_rows=30)
    a, b, c = (accumulate(batch, 3, EPS) for batch in loaded.batches())
    left, right = (a + b) + c, a + (b + c)
    for name in ("ce", "brier", "weight"):
        assert getattr(left, name) == pytest.approx(getattr(right, name), rel=1e-14)
    np.testing.assert_allclose(left.confusion, right.confusion)
    assert left.worst == right.worst
    zero = Stats(3)
    assert (a + zero).ce == a.ce and (a + zero).worst == a.worst


@pytest.mark.parametrize("soft", [False, True])
def test_threads_reduce_to_exactly_the_serial_sums(soft):
    """Batches reduced on several threads merge in input order: the same bits as one thread."""
    from evalreport.compute import Bootstrap, reduce_batches

    rng = np.random.default_rng(11)
    df = random_predictions(rng, 500, 4, soft=soft, weights=True, groups=3)
    spec = InputSpec(target_prefix="t_" if soft else None, weight_col="w", group_by=("g",))

    def reduce(workers: int) -> Stats:
        batches = LoadedInput(df, spec, chunk_rows=37).batches()
        return reduce_batches(batches, 4, EPS, Bootstrap(8), workers=workers)

    serial, threaded = reduce(1), reduce(3)
    for name in ("ce", "kl", "brier", "weight", "pred_entropy"):
        assert getattr(threaded, name) == getattr(serial, name), name
    for name in ("class_ce", "confusion", "hist", "cal", "ovr", "wrong_loss"):
        np.testing.assert_array_equal(getattr(threaded, name), getattr(serial, name), err_msg=name)
    np.testing.assert_array_equal(threaded.boot.score, serial.boot.score)
    np.testing.assert_array_equal(threaded.sample.compact().keys, serial.sample.compact().keys)
    assert threaded.worst == serial.worst and threaded.rows == serial.rows == 500
