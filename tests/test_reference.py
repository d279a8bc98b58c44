"""Figures against independent references: scikit-learn, SciPy, pandas, hand-worked cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss

from evalreport import evaluate
from evalreport.compute import distribution_figures

from conftest import EXAMPLES, random_predictions

EPS = np.finfo(np.float64).eps


def test_anchor_ten_binary_rows_score_0_247_nats():
    df = pd.DataFrame({"label": [1, 1, 1, 1, 1, 0, 0, 0, 0, 0], "score": [.8, .9, .9, .6, .8, .1, .4, .2, .1, .3]})
    r = evaluate(df, score_col="score")
    # hand-worked: mean of −ln p over the probabilities given to the true class
    p_true = [.8, .9, .9, .6, .8, .9, .6, .8, .9, .7]
    assert r.overall.log_loss == pytest.approx(-np.mean(np.log(p_true)), abs=1e-12)
    assert round(r.overall.log_loss, 3) == 0.247
    assert r.overall.band == "could_improve"  # 0.247 lies in 0.20–0.30
    assert r.classes == ("0", "1")


def test_anchor_distributions_in_bits():
    f = {k: v / math.log(2) for k, v in distribution_figures(np.array([.1, .4, .5]), np.array([.8, .15, .05])).items()}
    assert round(f["cross_entropy_pq"], 3) == 3.288
    assert round(f["entropy_p"], 3) == 1.361
    assert round(f["kl_pq"], 3) == 1.927
    assert round(f["cross_entropy_qp"], 3) == 2.906
    # against SciPy's own entropy (base 2)
    assert f["entropy_p"] == pytest.approx(scipy_entropy([.1, .4, .5], base=2), abs=1e-12)
    assert f["kl_pq"] == pytest.approx(scipy_entropy([.1, .4, .5], [.8, .15, .05], base=2), abs=1e-12)
    assert f["kl_qp"] == pytest.approx(scipy_entropy([.8, .15, .05], [.1, .4, .5], base=2), abs=1e-12)


def test_distribution_with_zero_in_q_is_infinite():
    f = distribution_figures(np.array([.5, .5]), np.array([1.0, 0.0]))
    assert math.isinf(f["cross_entropy_pq"]) and math.isinf(f["kl_pq"])
    assert f["kl_qp"] == pytest.approx(math.log(2))


@pytest.mark.parametrize("name", ["digits_predictions.csv", "iris_predictions.csv"])
def test_examples_match_sklearn(name):
    df = pd.read_csv(EXAMPLES / name, dtype={"label": str})
    r = evaluate(EXAMPLES / name, group_by="fold")
    classes = list(r.classes)
    q = df[[f"p_{c}" for c in classes]].to_numpy()
    # scikit-learn orders columns by sorted label; give it ours explicitly
    order = np.argsort(classes)
    labels_sorted = [classes[i] for i in order]
    assert r.overall.log_loss == pytest.approx(log_loss(df["label"], q[:, order], labels=labels_sorted), abs=1e-9)
    assert r.overall.brier == pytest.approx(brier_score_loss(df["label"], q[:, order], labels=labels_sorted), abs=1e-12)
    pred = np.asarray(classes)[q.argmax(axis=1)]
    assert r.overall.accuracy == pytest.approx(accuracy_score(df["label"], pred), abs=1e-12)

    # per class and per slice: a pandas groupby over per-row −ln p
    idx = pd.Index(classes).get_indexer(df["label"])
    df["ce"] = -np.log(np.clip(q[np.arange(len(df)), idx], EPS, 1 - EPS))
    by_class = df.groupby("label")["ce"].agg(["mean", "size", "sum"])
    for c in r.per_class:
        assert c.cross_entropy == pytest.approx(by_class.loc[c.name, "mean"], abs=1e-12)
        assert c.support == by_class.loc[c.name, "size"]
        assert c.loss_share == pytest.approx(by_class.loc[c.name, "sum"] / df["ce"].sum(), abs=1e-12)
    by_fold = df.groupby(df["fold"].astype(str))["ce"].agg(["mean", "size"])
    for s in r.groups["fold"]:
        assert s.cross_entropy == pytest.approx(by_fold.loc[s.value, "mean"], abs=1e-12)
        assert s.rows == by_fold.loc[s.value, "size"]


def test_binary_score_column_matches_sklearn():
    df = pd.read_csv(EXAMPLES / "breast_cancer_predictions.csv")
    r = evaluate(EXAMPLES / "breast_cancer_predictions.csv", score_col="score")
    assert r.overall.log_loss == pytest.approx(log_loss(df["label"], df["score"]), abs=1e-9)
    assert r.overall.brier == pytest.approx(brier_score_loss(df["label"], df["score"]), abs=1e-12)
    assert r.overall.accuracy == pytest.approx(accuracy_score(df["label"], df["score"] > 0.5), abs=1e-12)
    # rows whose true class got less than eps are counted, as the log clips them
    p_true = np.where(df["label"] == 1, df["score"], 1 - df["score"])
    assert r.overall.clipped_rows == int((p_true < EPS).sum()) > 0


def test_weights_match_sklearn():
    rng = np.random.default_rng(7)
    df = random_predictions(rng, 500, 4, weights=True, groups=3)
    r = evaluate(df, weight_col="w", group_by="g")
    q = df[[f"p_c{j}" for j in range(4)]].to_numpy()
    labels = [f"c{j}" for j in range(4)]
    assert r.overall.log_loss == pytest.approx(log_loss(df["label"], q, labels=labels, sample_weight=df["w"]), abs=1e-9)
    assert r.overall.brier == pytest.approx(
        brier_score_loss(df["label"], q, labels=labels, sample_weight=df["w"]), abs=1e-12)
    pred = np.asarray(labels)[q.argmax(axis=1)]
    assert r.overall.accuracy == pytest.approx(accuracy_score(df["label"], pred, sample_weight=df["w"]), abs=1e-12)
    for s in r.groups["g"]:
        part = df[df["g"] == s.value]
        ref = log_loss(part["label"], q[part.index], labels=labels, sample_weight=part["w"])
        assert s.cross_entropy == pytest.approx(ref, abs=1e-9)


def test_soft_targets_decomposition_against_scipy():
    rng = np.random.default_rng(3)
    df = random_predictions(rng, 200, 3, soft=True)
    r = evaluate(df, target_prefix="t_")
    p = df[[f"t_c{j}" for j in range(3)]].to_numpy()
    q = df[[f"p_c{j}" for j in range(3)]].to_numpy()
    h_ref = np.mean([scipy_entropy(row) for row in p])
    kl_ref = np.mean([scipy_entropy(pi, qi) for pi, qi in zip(p, q)])
    assert r.overall.entropy == pytest.approx(h_ref, abs=1e-9)
    assert r.overall.kl_divergence == pytest.approx(kl_ref, abs=1e-9)
    assert r.overall.cross_entropy == pytest.approx(h_ref + kl_ref, abs=1e-9)
    assert r.overall.log_loss is None
    assert r.overall.band_score == pytest.approx(kl_ref, abs=1e-9)  # soft: band on the KL
    # per class: Σ_i P_ik·(−ln Q_ik) / Σ_i P_ik
    for j, c in enumerate(r.per_class):
        assert c.cross_entropy == pytest.approx((p[:, j] * -np.log(q[:, j])).sum() / p[:, j].sum(), abs=1e-9)
    # Brier: mean Σ_k (Q − P)²
    assert r.overall.brier == pytest.approx(np.mean(((q - p) ** 2).sum(axis=1)), abs=1e-12)


def test_hard_labels_as_one_hot_soft_targets_agree():
    rng = np.random.default_rng(11)
    df = random_predictions(rng, 300, 3, groups=2)
    onehot = pd.get_dummies(df["label"]).reindex(columns=["c0", "c1", "c2"], fill_value=False).astype(float)
    soft = pd.concat([df.drop(columns="label"), onehot.add_prefix("t_")], axis=1)
    hard, via_soft = evaluate(df, group_by="g"), evaluate(soft, target_prefix="t_", group_by="g")
    assert via_soft.overall.cross_entropy == pytest.approx(hard.overall.log_loss, abs=1e-12)
    assert via_soft.overall.kl_divergence == pytest.approx(hard.overall.kl_divergence, abs=1e-12)
    assert via_soft.overall.entropy == 0
    assert via_soft.overall.brier == pytest.approx(hard.overall.brier, abs=1e-12)
    for a, b in zip(hard.per_class, via_soft.per_class):
        assert a.cross_entropy == pytest.approx(b.cross_entropy, abs=1e-12)


def test_bits_are_nats_over_ln2():
    path = EXAMPLES / "iris_predictions.csv"
    nats, bits = evaluate(path), evaluate(path, unit="bits")
    assert bits.overall.log_loss == pytest.approx(nats.overall.log_loss / math.log(2), rel=1e-12)
    assert bits.overall.uniform_cross_entropy == pytest.approx(math.log2(3), rel=1e-12)
    assert bits.overall.band == nats.overall.band  # bands are decided in nats
    assert bits.overall.accuracy == nats.overall.accuracy  # unitless figures unchanged


def test_logits_are_softmaxed_stably():
    z = np.array([[1000.0, 0.0, -1000.0], [0.5, 0.25, 0.0], [-3.0, 2.0, 1.0]])
    df = pd.DataFrame(z, columns=["p_a", "p_b", "p_c"]).assign(label=["a", "b", "c"])
    r = evaluate(df, logits=True)
    e = np.exp(z[1:] - z[1:].max(axis=1, keepdims=True))
    q = np.vstack([[1.0, 0.0, 0.0], e / e.sum(axis=1, keepdims=True)])
    assert r.overall.log_loss == pytest.approx(log_loss(df["label"], q, labels=["a", "b", "c"]), abs=1e-12)


def test_baselines_and_skill():
    df = pd.DataFrame({"label": ["a"] * 3 + ["b"], "p_a": [.9, .8, .7, .2], "p_b": [.1, .2, .3, .8]})
    r = evaluate(df)
    prior = np.array([.75, .25])
    assert r.overall.uniform_cross_entropy == pytest.approx(math.log(2))
    assert r.overall.prior_cross_entropy == pytest.approx(log_loss(df["label"], np.tile(prior, (4, 1))))
    assert r.overall.skill_vs_prior == pytest.approx(1 - r.overall.log_loss / r.overall.prior_cross_entropy)
    assert r.overall.geometric_mean_true_prob == pytest.approx(np.prod([.9, .8, .7, .8]) ** 0.25)


def test_class_with_column_but_no_rows_is_fine():
    df = pd.DataFrame({"label": ["a", "b"], "p_a": [.7, .2], "p_b": [.2, .7], "p_c": [.1, .1]})
    r = evaluate(df)
    c = {x.name: x for x in r.per_class}["c"]
    assert c.support == 0 and c.cross_entropy is None and c.band is None
    assert r.overall.log_loss == pytest.approx(log_loss(df["label"], df[["p_a", "p_b", "p_c"]], labels=["a", "b", "c"]))
    assert any("no rows" in w for w in r.warnings)


def test_renormalize_rescales_only_rows_that_are_off():
    df = pd.DataFrame({"label": ["a", "b", "a"], "p_a": [.6, .2, .5004], "p_b": [.6, .6, .5]})
    r = evaluate(df, renormalize=True)
    q = np.array([[.5, .5], [.25, .75], [.5004, .5]])  # rows 1–2 rescaled; row 3 within 1e-3 kept
    assert r.overall.log_loss == pytest.approx(-np.mean(np.log([.5, .75, .5004])), abs=1e-12)
    assert r.overall.renormalized_rows == 2
    assert r.overall.brier == pytest.approx(brier_score_loss(df["label"], q, labels=["a", "b"]), abs=1e-12)


def test_worst_examples_are_the_highest_loss_rows():
    df = pd.read_csv(EXAMPLES / "digits_predictions.csv", dtype={"label": str})
    r = evaluate(EXAMPLES / "digits_predictions.csv")
    q = df[[f"p_{k}" for k in range(10)]].to_numpy()
    p_true = q[np.arange(len(df)), df["label"].astype(int)]
    expected = np.lexsort((np.arange(len(df)), p_true))[:20]  # lowest p_true first, ties by row
    assert [w.row for w in r.worst] == (expected + 1).tolist()
    assert [w.id for w in r.worst] == df["id"].iloc[expected].tolist()
    assert r.worst[0].true_prob == pytest.approx(p_true[expected[0]])


@pytest.mark.parametrize("chunk_rows", [None, 700, 97, 5])
def test_worst_rows_tied_in_loss_are_the_first_ones_however_the_input_is_cut(tmp_path, chunk_rows):
    """300 rows give the true class 0 (clipped to eps: the same loss): the worst rows are the first
    20 of them by position, in one batch or many (a batch once kept any 20 of its tied rows)."""
    rng = np.random.default_rng(1)
    q, y = rng.dirichlet(np.ones(3), 5000), rng.integers(0, 3, 5000)
    tied = rng.choice(5000, 300, replace=False)
    q[tied] = 0.0
    q[tied, (y[tied] + 1) % 3] = 1.0
    df = pd.DataFrame(q, columns=["p_a", "p_b", "p_c"]).assign(label=np.array(["a", "b", "c"])[y])
    df.to_parquet(tmp_path / "ties.parquet")
    p_true = q[np.arange(5000), y]
    expected = np.lexsort((np.arange(5000), p_true))[:20] + 1  # lowest p_true first, ties by row
    assert set(expected) <= set(tied + 1)
    for source in (df, tmp_path / "ties.parquet"):
        r = evaluate(source, **({} if chunk_rows is None else {"chunk_rows": chunk_rows}))
        assert [w.row for w in r.worst] == expected.tolist()


@pytest.mark.parametrize("chunk_rows", [None, 50, 3])
def test_rows_of_weight_0_are_no_worst_rows(chunk_rows):
    """A row of weight 0 takes no part in any figure: it was listed first among the highest-loss
    rows (36 nats, clipped)."""
    rng = np.random.default_rng(0)
    q, y = rng.dirichlet(np.full(3, 5.0), 500), rng.integers(0, 3, 500)
    q[7], y[7] = [0.0, 0.0, 1.0], 0
    w = np.ones(500)
    w[[7, 11]] = 0.0
    df = pd.DataFrame(q, columns=["p_a", "p_b", "p_c"]).assign(label=np.array(list("abc"))[y], w=w)
    ce = -np.log(np.clip(q[np.arange(500), y], EPS, 1))
    ce[w == 0] = -np.inf
    expected = np.lexsort((np.arange(500), -ce))[:20] + 1
    r = evaluate(df, weight_col="w", **({} if chunk_rows is None else {"chunk_rows": chunk_rows}))
    assert [x.row for x in r.worst] == expected.tolist() and 8 not in expected and 12 not in expected


def test_median_row_loss_from_the_histogram_is_within_a_bin():
    df = pd.read_csv(EXAMPLES / "digits_predictions.csv", dtype={"label": str})
    q = df[[f"p_{k}" for k in range(10)]].to_numpy()
    ce = -np.log(np.clip(q[np.arange(len(df)), df["label"].astype(int)], EPS, 1 - EPS))
    median = evaluate(EXAMPLES / "digits_predictions.csv").overall.median_row_cross_entropy
    assert np.median(ce) / 1.12 <= median <= np.median(ce) * 1.12


def test_histogram_quantile_hand_worked():
    from evalreport.compute import histogram_quantile

    edges = np.array([0.0, 1.0, 4.0, np.inf])
    assert histogram_quantile(np.array([2, 2, 0]), 0.5, edges) == pytest.approx(1.0)
    assert histogram_quantile(np.array([0, 2, 0]), 0.5, edges) == pytest.approx(2.0)  # geometric middle of [1, 4]
    assert histogram_quantile(np.array([4, 0, 0]), 0.25, edges) == pytest.approx(0.25)  # linear in the first bin
    assert histogram_quantile(np.array([0, 0, 3]), 0.5, edges) == 4.0  # open last bin: its lower edge


@pytest.mark.parametrize("order", ["C", "F"])
def test_row_helpers_against_numpy_and_scipy(order):
    """Top class (first on ties, as argmax), its probability, the true class's probability and
    the row entropy, against np.argmax, take_along_axis and scipy's entr."""
    from scipy.special import entr

    from evalreport.compute import _pick, _row_entropy, _top

    rng = np.random.default_rng(2)
    q = rng.dirichlet(np.full(5, 0.3), size=2000)
    q[:40] = 0.2  # five-way ties
    q[40:80] = [0.4, 0.1, 0.4, 0.1, 0.0]  # a tie between two columns, and a zero
    q[80:90] = np.eye(5)[rng.integers(0, 5, 10)]  # certainty: zeros elsewhere
    q[90:95, 3] = 1e-310  # subnormal probabilities
    q = np.asarray(q, order=order)
    pred, top = _top(q)
    assert np.array_equal(pred, np.argmax(q, axis=1))
    assert np.array_equal(top, q.max(axis=1))
    y = rng.integers(0, 5, len(q))
    assert np.array_equal(_pick(q, y), np.take_along_axis(q, y[:, None], axis=1)[:, 0])
    np.testing.assert_allclose(_row_entropy(q), entr(q).sum(axis=1), rtol=1e-14, atol=1e-300)
