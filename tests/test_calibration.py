"""Calibration, temperature scaling and loss concentration against hand-worked cases and
independent computations."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from scipy.optimize import minimize_scalar
from scipy.special import softmax
from sklearn.metrics import log_loss

import evalreport.compute.calibration as compute  # where TEMPERATURE_SAMPLE lives
from evalreport import evaluate

from conftest import EXAMPLES, random_predictions, run

EPS = np.finfo(float).eps


def test_ece_hand_worked_with_rows_on_bin_edges():
    # top probabilities 0.4 = 6/15 and 0.6 = 9/15 sit exactly on bin edges: (lo, hi] puts them in
    # the bins (1/3, 0.4] and (8/15, 0.6]; 1.0 is in the last bin.
    df = pd.DataFrame({
        "label": ["a", "a", "a", "a"],
        "p_a": [0.4, 0.6, 0.2, 1.0],
        "p_b": [0.3, 0.2, 0.6, 0.0],
        "p_c": [0.3, 0.2, 0.2, 0.0],
    })
    c = evaluate(df).calibration
    rows = [b.rows for b in c.bins]
    assert rows[5] == 1 and rows[6] == 0  # 0.4 in (5/15, 6/15], not (6/15, 7/15]
    assert rows[8] == 2 and rows[9] == 0  # both 0.6 rows in (8/15, 9/15]
    assert rows[14] == 1 and sum(rows) == 4
    # bin 5: 1 row, right, confidence 0.4 → gap 0.6; bin 8: 2 rows, one right, confidence 0.6 → gap 0.1; bin 14: 0
    assert c.ece == pytest.approx(0.25 * 0.6 + 0.5 * 0.1 + 0.25 * 0.0, abs=1e-12)
    assert c.mce == pytest.approx(0.6, abs=1e-12)
    assert c.bins[8].accuracy == 0.5 and c.bins[8].confidence == pytest.approx(0.6)


def naive_calibration(q: np.ndarray, y: np.ndarray, w: np.ndarray, bins: int = 15, target: np.ndarray | None = None):
    """A deliberately plain reference: loops over rows and bins. The edges are b/15 rounded
    to the nearest double, as a probability written "0.2" is. ``target``: soft targets P
    (the one-vs-rest truth of class k is P_k; ``y`` is then argmax P)."""
    target = np.eye(q.shape[1])[y] if target is None else target
    def bin_of(c: float) -> int:
        for b in range(bins):
            if float(Fraction(b, bins)) < c <= float(Fraction(b + 1, bins)):
                return b
        return 0  # c == 0

    n_b, conf_b, acc_b = [0.0] * bins, [0.0] * bins, [0.0] * bins
    for qi, yi, wi in zip(q, y, w):
        top = int(np.argmax(qi))
        b = bin_of(float(qi[top]))
        n_b[b] += wi
        conf_b[b] += wi * qi[top]
        acc_b[b] += wi * (top == yi)
    total = sum(n_b)
    gaps = [abs(acc_b[b] / n_b[b] - conf_b[b] / n_b[b]) for b in range(bins) if n_b[b] > 0]
    ece = sum(n_b[b] / total * abs(acc_b[b] / n_b[b] - conf_b[b] / n_b[b]) for b in range(bins) if n_b[b] > 0)
    per_class = []
    for k in range(q.shape[1]):
        s_q, s_y = [0.0] * bins, [0.0] * bins
        for qi, ti, wi in zip(q, target, w):
            b = bin_of(float(qi[k]))
            s_q[b] += wi * qi[k]
            s_y[b] += wi * ti[k]
        per_class.append(sum(abs(s_y[b] - s_q[b]) for b in range(bins)) / total)
    return ece, max(gaps), per_class


@pytest.mark.parametrize("case", ["digits", "weighted-random", "soft-targets"])
def test_ece_against_a_naive_reference(case):
    target = None
    if case == "digits":
        df = pd.read_csv(EXAMPLES / "digits_predictions.csv")
        q, y, w = df[[f"p_{k}" for k in range(10)]].to_numpy(), df["label"].to_numpy(), np.ones(len(df))
        c = evaluate(EXAMPLES / "digits_predictions.csv").calibration
    elif case == "weighted-random":
        rng = np.random.default_rng(4)
        df = random_predictions(rng, 400, 4, weights=True)
        q = df[[f"p_c{j}" for j in range(4)]].to_numpy()
        y, w = df["label"].str[1:].astype(int).to_numpy(), df["w"].to_numpy()
        c = evaluate(df, weight_col="w").calibration
    else:  # soft targets
        rng = np.random.default_rng(6)
        df = random_predictions(rng, 400, 4, soft=True, weights=True)
        q = df[[f"p_c{j}" for j in range(4)]].to_numpy()
        target = df[[f"t_c{j}" for j in range(4)]].to_numpy()
        y, w = target.argmax(axis=1), df["w"].to_numpy()
        c = evaluate(df, target_prefix="t_", weight_col="w").calibration
    ece, mce, per_class = naive_calibration(q, y, w, target=target)
    assert c.ece == pytest.approx(ece, abs=1e-12)
    assert c.mce == pytest.approx(mce, abs=1e-12)
    assert [e for _, e in c.per_class] == pytest.approx(per_class, abs=1e-12)


def scipy_temperature(q: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    logq = np.log(np.clip(q, EPS, 1 - EPS))
    labels = np.arange(q.shape[1])

    def loss(t):
        return log_loss(y, softmax(logq / t, axis=1), labels=labels)

    res = minimize_scalar(loss, bounds=(0.01, 50), method="bounded", options={"xatol": 1e-8})
    return res.x, res.fun


def test_temperature_of_an_under_confident_random_forest_matches_scipy():
    df = pd.read_csv(EXAMPLES / "digits_predictions.csv")
    t_ref, ce_ref = scipy_temperature(df[[f"p_{k}" for k in range(10)]].to_numpy(), df["label"].to_numpy())
    r = evaluate(EXAMPLES / "digits_predictions.csv")
    c = r.calibration
    assert c.temperature == pytest.approx(t_ref, rel=1e-4)
    assert c.cross_entropy_after == pytest.approx(ce_ref, abs=1e-7)
    assert c.temperature < 1 and "under-confident" in c.sentence
    assert c.loss_removed == pytest.approx(c.cross_entropy_before - ce_ref, abs=1e-7)
    assert c.cross_entropy_before == pytest.approx(r.overall.cross_entropy, abs=2e-3)  # rows rounded to 6 digits
    assert c.standard_error is None and c.fit_rows == 1797
    assert "optimistic estimate" in c.sentence


def test_temperature_of_an_over_confident_naive_bayes():
    df = pd.read_csv(EXAMPLES / "breast_cancer_predictions.csv")
    q = np.column_stack([1 - df["score"], df["score"]])
    t_ref, ce_ref = scipy_temperature(q, df["label"].to_numpy())
    c = evaluate(EXAMPLES / "breast_cancer_predictions.csv", score_col="score").calibration
    assert c.temperature == pytest.approx(t_ref, rel=1e-4) and c.temperature > 1
    assert "over-confident" in c.sentence


def test_predictions_worse_than_uniform_run_to_infinite_temperature(tmp_path):
    df = pd.DataFrame({"label": [1, 1, 0, 0, 1], "s": [0.2, 0.3, 0.8, 0.7, 0.1]})  # anti-correlated
    c = evaluate(df, score_col="s").calibration
    assert math.isinf(c.temperature)
    assert c.cross_entropy_after == pytest.approx(math.log(2), abs=1e-3)  # flattened to uniform
    assert "worse than guessing uniformly" in c.sentence and "T → ∞" in c.sentence
    path = tmp_path / "p.csv"
    df.to_csv(path, index=False)
    out = run(["report", path, "--score-col", "s", "-o", tmp_path / "r.html", "--json", tmp_path / "m.json"])
    assert out.exit_code == 0
    cal = json.loads((tmp_path / "m.json").read_text())["calibration"]
    assert cal["temperature"] is None and cal["temperature_infinite"] is True


def test_temperature_on_a_sample_states_its_error(monkeypatch):
    exact = evaluate(EXAMPLES / "digits_predictions.csv").calibration
    monkeypatch.setattr(compute, "TEMPERATURE_SAMPLE", 600)
    whole = evaluate(EXAMPLES / "digits_predictions.csv").calibration
    chunked = evaluate(EXAMPLES / "digits_predictions.csv", chunk_rows=250).calibration
    assert whole.fit_rows == 600 and whole.standard_error > 0
    assert whole.temperature == chunked.temperature  # the sample does not depend on chunking
    assert abs(whole.cross_entropy_after - exact.cross_entropy_after) < 4 * whole.standard_error
    assert whole.temperature < 1  # under-confident on the sample too
    assert "uniform sample of 600 of 1,797 rows" in whole.sentence


def test_loss_concentration_against_exact_sorting():
    df = pd.read_csv(EXAMPLES / "digits_predictions_logreg.csv")
    q = df[[f"p_{k}" for k in range(10)]].to_numpy()
    p_true = q[np.arange(len(df)), df["label"]]
    ce = np.sort(-np.log(np.clip(p_true, EPS, 1 - EPS)))[::-1]
    lc = evaluate(EXAMPLES / "digits_predictions_logreg.csv").loss_concentration
    for share, got in ((0.01, lc.worst_1pct_share), (0.10, lc.worst_10pct_share)):
        k = share * len(ce)
        exact = (ce[: int(k)].sum() + (k - int(k)) * ce[int(k)]) / ce.sum()
        assert got == pytest.approx(exact, abs=0.01), share  # within a histogram bin
    for t in lc.thresholds:
        wrong = p_true < t["below"]
        assert t["rows"] == wrong.sum()
        assert t["loss_share"] == pytest.approx(ce.sum() and (-np.log(np.clip(p_true[wrong], EPS, 1))).sum() / ce.sum())
    by_class = {c["class"]: c for c in lc.per_class}
    for k in range(10):
        rows = (p_true < 0.1) & (df["label"] == k)
        assert by_class[str(k)]["below_0_1"]["rows"] == rows.sum()


def test_report_sections_and_gate(tmp_path):
    r = evaluate(EXAMPLES / "digits_predictions.csv")
    soup = BeautifulSoup(r.to_html(), "html.parser")
    section = soup.select_one("#calibration")
    assert section.select_one('b[data-key="ece"]').get_text() == f"{r.calibration.ece:.4f}"
    assert "Dividing its log-probabilities by T" in section.select_one("p.temperature").get_text()
    imgs = section.select("figure.chart img")
    assert len(imgs) == 2 and "Reliability of the top class" in imgs[0]["title"] and "One-vs-rest" in imgs[1]["title"]
    assert soup.select_one("#loss-sources #confidently-wrong tbody tr") is not None
    assert "**Calibration**: ECE" in r.to_markdown()
    ece = r.calibration.ece  # 0.2028
    assert run(["check", EXAMPLES / "digits_predictions.csv", "--max-ece", "0.25"]).exit_code == 0
    assert run(["check", EXAMPLES / "digits_predictions.csv", "--max-ece", f"{ece - 0.01:.4f}"]).exit_code == 1
    bad = run(["check", EXAMPLES / "digits_predictions.csv", "--max-ece", "5"])
    assert bad.exit_code == 2 and "--max-ece is a share" in bad.stderr


def test_arithmetic_binning_equals_a_search_on_the_edges():
    from evalreport.compute import CAL_EDGES, HIST_EDGES, calibration_bin, hist_bin

    rng = np.random.default_rng(0)
    c = np.concatenate([rng.uniform(0, 1, 200_000), CAL_EDGES, np.nextafter(CAL_EDGES, 2), np.nextafter(CAL_EDGES, -1)[1:]])
    assert np.array_equal(calibration_bin(c), np.clip(np.searchsorted(CAL_EDGES, c, side="left") - 1, 0, 14))
    inner = HIST_EDGES[1:-1]
    x = np.concatenate([10 ** rng.uniform(-6, 2.5, 200_000), [0.0], inner, np.nextafter(inner, 0), np.nextafter(inner, 99)])
    assert np.array_equal(hist_bin(x), np.searchsorted(HIST_EDGES, x, side="right") - 1)
