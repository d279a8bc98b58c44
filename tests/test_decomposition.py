"""Issue 14, part 1: the CORP decomposition, score = miscalibration − discrimination + uncertainty,
against model-diagnostics (the reference implementation) on real model predictions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict
from sklearn.naive_bayes import GaussianNB

from evalreport import evaluate
from evalreport.compute import decomposition as dec

md = pytest.importorskip("model_diagnostics.scoring")
EPS = np.finfo(float).eps


def _reference(y, x, w=None):
    out = {}
    for name, fn in (("log_loss", md.LogLoss()), ("brier", md.SquaredError())):
        row = md.decompose(y.astype(float), x, w, scoring_function=fn).row(0, named=True)
        out[name] = row
    return out


def _assert_parts(got: dict, want: dict, tol=1e-9):
    for key in ("score", "miscalibration", "discrimination", "uncertainty"):
        assert got[key] == pytest.approx(want[key], abs=tol), key


@pytest.fixture(scope="module")
def cancer():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01))
    proba = cross_val_predict(model, X, y, cv=5, method="predict_proba")
    return y, proba


def test_forecasts_at_the_clipping_bounds_stay_finite():
    """Naive Bayes puts many rows at 1e-16 and 1 − 1e-16; scikit-learn's IsotonicRegression.predict
    returns NaN for 84 of these rows (so does the reference built on it) — the decomposition here
    stays finite and exact."""
    X, y = load_breast_cancer(return_X_y=True)
    proba = cross_val_predict(GaussianNB(), X, y, cv=5, method="predict_proba")
    r = evaluate(y, proba, bootstrap=0)
    p = r.to_dict()["decomposition"]["log_loss"]["binary"]
    # the binary forecast is P(class 1) and its complement; the file's own P(class 0) can differ
    # from that complement below eps (1e-16 against 1 − (1 − 1e-16)): 1e-8 on this model
    assert p["score"] == pytest.approx(r.overall.log_loss, rel=1e-7)
    assert p["miscalibration"] - p["discrimination"] + p["uncertainty"] == pytest.approx(p["score"], abs=1e-12)
    assert 0 < p["miscalibration"] < p["score"]


def test_binary_decomposition_equals_model_diagnostics(cancer):
    y, proba = cancer
    d = evaluate(y, proba, bootstrap=0).to_dict()["decomposition"]
    x = np.clip(proba[:, 1], EPS, 1 - EPS)
    want = _reference(y, x)
    for score in ("log_loss", "brier"):
        _assert_parts(d[score]["binary"], want[score])
    assert d["log_loss"]["binary"]["score"] == pytest.approx(evaluate(y, proba, bootstrap=0).overall.log_loss, rel=1e-12)
    assert d["main"] == "binary" and not d["sampled"]


def test_top_label_and_one_vs_rest_equal_model_diagnostics():
    X, y = load_iris(return_X_y=True)
    proba = cross_val_predict(LogisticRegression(C=0.05, max_iter=1000), X, y, cv=5, method="predict_proba")
    w = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    d = evaluate(y, proba, sample_weight=w, bootstrap=0).to_dict()["decomposition"]
    q = np.clip(proba, EPS, 1 - EPS)
    top = q.argmax(axis=1)
    want = _reference((top == y).astype(float), q.max(axis=1), w)
    for score in ("log_loss", "brier"):
        _assert_parts(d[score]["top_label"], want[score])
    for k in range(3):
        want = _reference((y == k).astype(float), q[:, k], w)
        for score in ("log_loss", "brier"):
            _assert_parts(d[score]["per_class"][str(k)], want[score])
    assert d["main"] == "top_label" and d["log_loss"]["binary"] is None


@pytest.mark.parametrize("seed", range(25))
def test_the_identity_holds_in_every_report(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(20, 400)), int(rng.integers(2, 8))
    proba = softmax(rng.normal(0, rng.uniform(0.2, 5), (n, k)), axis=1)
    proba = np.round(proba, int(rng.integers(2, 8)))
    proba /= proba.sum(axis=1, keepdims=True)
    y = rng.integers(k, size=n)
    d = evaluate(y, proba, bootstrap=0, unit=["nats", "bits"][seed % 2]).to_dict()["decomposition"]
    for score in ("log_loss", "brier"):
        parts = [d[score]["top_label"], *d[score]["per_class"].values()] + ([d[score]["binary"]] if k == 2 else [])
        for p in parts:
            assert p["miscalibration"] - p["discrimination"] + p["uncertainty"] == pytest.approx(p["score"], abs=1e-12)
            assert p["miscalibration"] >= -1e-12 and p["discrimination"] >= -1e-12


def test_the_recalibrated_scores_agree_with_scikit_learns_isotonic_fit_and_rows_of_no_weight_are_not_there():
    """The recalibrated forecast's score (score − MCB), from pooled blocks, equals the score of
    scikit-learn's IsotonicRegression fitted values, ties and weights included; rows of weight 0
    change nothing."""
    from scipy.special import xlogy

    rng = np.random.default_rng(1)
    for _ in range(10):
        n = int(rng.integers(5, 3000))
        x = np.clip(np.round(rng.uniform(size=n), int(rng.integers(1, 4))), 0.01, 0.99)  # many ties
        y = (rng.uniform(size=n) < x).astype(float)
        w = rng.uniform(0.1, 3, n)
        r = IsotonicRegression().fit(x, y, sample_weight=w).predict(x)
        parts = dec.decompose(x, y, w)
        brier, log_loss = np.average((r - y) ** 2, weights=w), np.average(-xlogy(y, r) - xlogy(1 - y, 1 - r), weights=w)
        assert parts["brier"].score - parts["brier"].miscalibration == pytest.approx(brier, abs=1e-12)
        assert parts["log_loss"].score - parts["log_loss"].miscalibration == pytest.approx(log_loss, abs=1e-12)
        w0 = np.where(rng.uniform(size=n) < 0.3, 0.0, w)
        kept = w0 > 0
        alone, with_zeros = dec.decompose(x[kept], y[kept], w0[kept]), dec.decompose(x, y, w0)
        for name in alone:
            a, z = alone[name], with_zeros[name]
            assert (z.score, z.miscalibration, z.discrimination, z.uncertainty) == pytest.approx(
                (a.score, a.miscalibration, a.discrimination, a.uncertainty), abs=1e-12)


def test_miscalibration_is_what_the_true_recalibration_removes():
    """A binary model three times over-confident (logits × 3): the true recalibration maps its
    forecast back to the true probability; MCB estimates the loss that removes, within sampling error."""
    rng = np.random.default_rng(7)
    n = 40_000
    a = rng.normal(0, 1.2, n)
    p_true = expit(a)
    y = (rng.uniform(size=n) < p_true).astype(int)
    x = expit(3 * a)
    r = evaluate(y, x, bootstrap=0)
    parts = r.to_dict()["decomposition"]["log_loss"]["binary"]
    removed = np.mean(-y * np.log(x) - (1 - y) * np.log(1 - x)) - np.mean(-y * np.log(p_true) - (1 - y) * np.log(1 - p_true))
    assert parts["miscalibration"] == pytest.approx(removed, abs=0.01)
    # a calibrated model: next to no miscalibration
    calibrated = evaluate(y, p_true, bootstrap=0).to_dict()["decomposition"]["log_loss"]["binary"]
    assert calibrated["miscalibration"] < 0.005


def test_a_sampled_decomposition_states_its_sample_and_errors(monkeypatch, cancer):
    from evalreport.compute import stats as stats_mod

    monkeypatch.setattr(stats_mod, "sample_size", lambda k: 200)  # a 200-row sample of the 569 rows
    y, proba = cancer
    r = evaluate(y, proba, bootstrap=0)
    d = r.to_dict()["decomposition"]
    assert d["sampled"] and d["rows"] == 200 and d["total_rows"] == len(y)
    se = d["log_loss"]["binary"]["standard_error"]
    assert se and all(v > 0 for v in se.values())
    assert "uniform sample of 200 of 569 rows" in " ".join(r.decomposition_text)


def test_the_report_explains_it_in_words_and_soft_targets_have_none(cancer):
    from bs4 import BeautifulSoup

    y, proba = cancer
    r = evaluate(y, proba, bootstrap=0)
    soup = BeautifulSoup(r.to_html(), "html.parser")
    text = soup.select_one("#why").get_text(" ")
    assert "miscalibration" in text and "isotonic" in text and "What to do" in text
    assert soup.select_one('nav a[href="#why"]')
    soft = evaluate(proba[:, ::-1] * 0.9 + 0.05, proba, bootstrap=0)
    assert soft.decomposition is None and soft.to_dict()["decomposition"] is None


# ------------------------------------------------------------------ ECE: interval and noise floor


def _calibrated(rng, n, k=4, t=1.0):
    """Rows drawn from a model whose probabilities are the truth (t = 1), or a tempered copy."""
    z = rng.normal(0, 1.5, (n, k))
    p = softmax(z, axis=1)
    y = (rng.uniform(size=(n, 1)) > p.cumsum(axis=1)).sum(axis=1)
    return y, softmax(z * t, axis=1)


def test_the_noise_floor_holds_on_data_from_a_calibrated_model():
    """About 95% of perfectly calibrated models show an ECE below the floor's 95th percentile."""
    rng = np.random.default_rng(11)
    below = []
    for _ in range(200):
        y, q = _calibrated(rng, 1500)
        c = evaluate(y, q, classes=list(range(4)), bootstrap=0).calibration
        below.append([e.value <= e.floor_high for e in c.errors])  # ECE, debiased, equal-mass, sweep
    assert c.errors[0].value == c.ece and c.errors[0].floor_high == c.ece_floor_high
    for name, share in zip(("ece", "debiased", "equal mass", "sweep"), np.mean(below, axis=0)):
        assert 0.88 <= share <= 0.995, (name, share)


def test_a_miscalibrated_model_is_beyond_the_floor_and_its_interval_is_chunk_independent():
    import pandas as pd

    rng = np.random.default_rng(5)
    y, q = _calibrated(rng, 6000, t=2.5)  # over-confident
    df = pd.DataFrame({"label": y, **{f"p_{j}": q[:, j] for j in range(4)}})
    r = evaluate(df)
    c = r.calibration
    assert c.ece > c.ece_floor_high and "beyond chance" in c.ece_sentence
    assert c.ece_ci95[0] <= c.ece <= c.ece_ci95[1]
    assert evaluate(df, chunk_rows=777).calibration.ece_ci95 == pytest.approx(c.ece_ci95, rel=1e-12)
    d = r.to_dict()["calibration"]
    assert d["ece_ci95"] == list(c.ece_ci95) and d["ece_noise_floor"]["p95"] == c.ece_floor_high
    # the errors computed from rows: an interval around each, beyond its floor, the same however chunked
    chunked = evaluate(df, chunk_rows=777).calibration.errors
    for e, again in zip(c.errors[1:], chunked[1:]):
        assert e.ci95[0] <= e.value <= e.ci95[1] and e.value > e.floor_high, e
        assert again.ci95 == pytest.approx(e.ci95, rel=1e-12) and again.floor_high == pytest.approx(e.floor_high)
    assert d["debiased_l2_ce_ci95"] == list(c.errors[1].ci95)
    assert d["ece_equal_mass_noise_floor"] == {"mean": c.errors[2].floor, "p95": c.errors[2].floor_high}
    assert d["ece_sweep"]["ci95"] == list(c.errors[3].ci95) and d["ece_sweep"]["noise_floor"]["p95"] > 0
    assert evaluate(df, bootstrap=0).to_dict()["calibration"]["ece_equal_mass_ci95"] is None


def test_the_row_errors_under_resampling_equal_the_errors_of_the_resampled_rows():
    """The errors of a resample come from cumulative sums over the rows sorted once; they equal
    the plain functions run on the rows repeated as often as the resample counts them."""
    from evalreport.compute import calibration_error as ce

    rng = np.random.default_rng(0)
    for trial in range(150):
        n, k = int(rng.integers(2, 300)), int(rng.integers(2, 5))
        if trial % 3 == 0:  # rounded: ties, and often one bin per distinct value for the debiased error
            q = np.clip(rng.dirichlet(np.ones(k), n).round(int(rng.integers(1, 3))), 1e-3, None)
            q /= q.sum(axis=1, keepdims=True)
        else:
            q = rng.dirichlet(np.ones(k) * 0.5, n)
        t = rng.integers(0, k, n)
        top = ce.SortedTop.of(q, t)
        conf, right = q.max(axis=1), (q.argmax(axis=1) == t).astype(float)
        got = top.errors(counts=np.ones((n, 1), dtype=np.uint8))[0]
        assert got[0] ** 2 == pytest.approx(ce.debiased_l2_ce(q, t) ** 2, abs=1e-12)
        assert got[1:] == pytest.approx([ce.equal_mass_ece(conf, right), ce.sweep_ece(conf, right)[0]], abs=1e-12)
        counts = rng.integers(0, 3, n)
        if counts.sum() < 2:
            continue
        rep = np.repeat(np.arange(n), counts)
        got = top.errors(counts=counts[:, None].astype(np.uint8))[0]
        assert got[1:] == pytest.approx([ce.equal_mass_ece(conf[rep], right[rep]),
                                          ce.sweep_ece(conf[rep], right[rep])[0]], abs=1e-12)
        if top.discrete_edges is None and not ce._is_discrete(q[rep]):  # a resample keeps the sample's kind of bins
            assert got[0] ** 2 == pytest.approx(ce.debiased_l2_ce(q[rep], t[rep]) ** 2, abs=1e-12)


def test_check_max_ece_honours_significant(tmp_path):
    import json

    import pandas as pd

    from conftest import run

    rng = np.random.default_rng(8)
    y, q = _calibrated(rng, 800, t=1.3)
    src = tmp_path / "p.csv"
    pd.DataFrame({"label": y, **{f"p_{j}": q[:, j] for j in range(4)}}).to_csv(src, index=False)
    c = evaluate(src).calibration
    threshold = (c.ece_ci95[0] + c.ece) / 2  # between the interval's lower end and the point
    point = run(["check", src, "--max-ece", f"{threshold:.6f}", "--json", tmp_path / "a.json"])
    sig = run(["check", src, "--max-ece", f"{threshold:.6f}", "--significant", "--json", tmp_path / "b.json"])
    assert point.exit_code == 1 and sig.exit_code == 0, (point.stdout, sig.stdout)
    gate = json.loads((tmp_path / "b.json").read_text())["gates"][0]
    assert gate["ci95"] == pytest.approx(list(c.ece_ci95))


def test_the_debiased_l2_calibration_error_equals_the_authors_package():
    """Top label, against uncertainty-calibration's get_calibration_error(debias=True): continuous
    predictions (15 equal-mass bins) and predictions rounded to one decimal (a bin per value)."""
    calibration = pytest.importorskip("calibration")
    rng = np.random.default_rng(3)
    X, y = load_iris(return_X_y=True)
    real = cross_val_predict(LogisticRegression(C=0.05, max_iter=1000), X, y, cv=5, method="predict_proba")
    rounded = np.round(real, 1)
    rounded /= rounded.sum(axis=1, keepdims=True)
    for q, labels in ((real, y), (rounded, y), (softmax(rng.normal(0, 2, (3000, 5)), axis=1), rng.integers(5, size=3000))):
        got = evaluate(labels, q, classes=list(range(q.shape[1])), bootstrap=0)
        want = calibration.get_calibration_error(np.clip(q, EPS, 1 - EPS), labels, debias=True, mode="top-label")
        assert got.calibration.debiased_l2_ce == pytest.approx(want, abs=1e-9)
        assert got.to_dict()["calibration"]["debiased_l2_ce"] == got.calibration.debiased_l2_ce


def test_equal_mass_ece_equals_netcal_and_the_sweep_keeps_accuracies_monotone():
    """Equal-mass ECE (15 bins) equals netcal's ECE(15, equal_intervals=False) on the top label —
    for two classes netcal scores P(class 1) instead, so there it is held to netcal on (confidence,
    right or not), the same question. The sweep's number of bins is the largest that keeps the bins'
    accuracies non-decreasing."""
    netcal = pytest.importorskip("netcal.metrics")
    from evalreport.compute.calibration_error import sweep_ece

    rng = np.random.default_rng(0)
    for _ in range(8):
        n, k = int(rng.integers(300, 4000)), int(rng.integers(2, 6))
        q = softmax(rng.normal(0, 2, (n, k)) * rng.uniform(0.3, 3), axis=1)
        y = np.where(rng.uniform(size=n) < 0.6, q.argmax(axis=1), rng.integers(k, size=n))
        c = evaluate(y, q, classes=list(range(k)), bootstrap=0).calibration
        qc = np.clip(q, EPS, 1 - EPS)
        conf, right = qc.max(axis=1), (qc.argmax(axis=1) == y).astype(int)
        want = netcal.ECE(bins=15, equal_intervals=False).measure(qc if k > 2 else conf, y if k > 2 else right)
        assert c.ece_equal_mass == pytest.approx(want, abs=1e-9)
        ece, bins = sweep_ece(conf, right.astype(float))
        assert (c.ece_sweep, c.sweep_bins) == (pytest.approx(ece, abs=1e-12), bins)
        order = np.argsort(conf, kind="stable")
        accs = [right[order][p].mean() for p in np.array_split(np.arange(n), bins)]
        assert all(a <= b for a, b in zip(accs, accs[1:]))
        if bins < min(100, n):
            accs = [right[order][p].mean() for p in np.array_split(np.arange(n), bins + 1)]
            assert any(a > b for a, b in zip(accs, accs[1:]))


def test_the_corp_diagram_band_holds_a_calibrated_curve_and_not_a_tempered_one():
    from bs4 import BeautifulSoup

    rng = np.random.default_rng(2)

    def outside(t):
        y, q = _calibrated(rng, 4000, t=t)
        r = evaluate(y, q, classes=list(range(4)), bootstrap=0)
        c = r.decomposition.curve
        return np.mean([(v < lo) or (v > hi) for v, lo, hi in zip(c["recalibrated"], c["band_low"], c["band_high"])]), r

    share, _ = outside(1.0)
    assert share < 0.25  # a 90% pointwise band: most points inside
    share, r = outside(3.0)
    assert share > 0.5
    soup = BeautifulSoup(r.to_html(), "html.parser")
    img = soup.select_one("#why figure img")
    assert img is not None and "CORP reliability diagram" in img["alt"]
    assert r.to_dict()["decomposition"]["reliability_curve"]["x"][0] <= r.decomposition.curve["x"][-1]


def test_each_slice_has_its_ece_however_the_rows_are_chunked():
    """Issue 14, item 3: per --group-by value, the top-label ECE over the report's 15 bins — equal to
    the ECE of that slice's rows evaluated alone, the folded '(other)' row included."""
    import pandas as pd

    from evalreport.compute.calibration import CAL_BINS
    from evalreport.compute.slices import SLICE_CAL_BINS

    assert SLICE_CAL_BINS == CAL_BINS
    rng = np.random.default_rng(4)
    y, q = _calibrated(rng, 3000, t=1.0)
    _, q_hot = _calibrated(rng, 3000, t=3.0)
    region = rng.choice(["a", "b", "c", "d"], 3000)
    q = np.where((region == "b")[:, None], q_hot, q)  # one slice badly calibrated
    df = pd.DataFrame({"label": y, "region": region, **{f"p_{j}": q[:, j] for j in range(4)}})
    r = evaluate(df, group_by="region", bootstrap=0, max_slices=3, chunk_rows=701)
    rows = {s.label: s for s in r.groups["region"]}
    for value in "abcd":
        if value in rows:
            alone = evaluate(df[df.region == value], bootstrap=0).calibration.ece
            assert rows[value].ece == pytest.approx(alone, abs=1e-12)
    other = rows["(other)"]
    folded = [v for v in "abcd" if v not in rows]
    assert other.ece == pytest.approx(evaluate(df[df.region.isin(folded)], bootstrap=0).calibration.ece, abs=1e-12)
    assert max(rows.values(), key=lambda s: s.ece or 0).label in ("b", "(other)")
    assert r.to_dict()["groups"]["region"][0]["ece"] is not None


def test_the_reliability_curve_is_scikit_learns_isotonic_fit_and_leaves_rows_of_no_weight_out():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.05, 0.95, 500)
    y = (rng.uniform(size=500) < x).astype(float)
    w = np.where(np.arange(500) % 3 == 0, 0.0, 1.0)
    c = dec.reliability_curve(x, y, w)
    kept = w > 0
    xs = np.sort(x[kept])
    at = xs[np.clip(np.searchsorted(xs, c["x"], side="right") - 1, 0, len(xs) - 1)]  # the forecast at or below
    want = IsotonicRegression().fit(x[kept], y[kept]).predict(at)  # a step: the fit at that forecast
    np.testing.assert_allclose(c["recalibrated"], want, atol=1e-12)
    assert np.all(np.array(c["band_low"]) <= np.array(c["band_high"]))


def test_a_replicate_of_unit_weights_is_the_decomposition_itself(cancer):
    y, proba = cancer
    f = dec.Forecasts(proba[:, 1], y.astype(float))
    w = np.linspace(0.5, 2, len(y))
    point = f.parts(w[f.order])
    draws = dec.replicate_parts(f, w, np.ones((len(y), 3), dtype=np.uint8))
    for name, p in point.items():
        np.testing.assert_allclose(draws[name], np.tile(p[1:], (3, 1)), atol=1e-12)
    # twice the rows (a count of 2 each) is the same decomposition: the parts are means
    doubled = dec.replicate_parts(f, w, np.full((len(y), 1), 2, dtype=np.uint8))
    np.testing.assert_allclose(doubled["log_loss"][0], point["log_loss"][1:], atol=1e-12)


def test_sampled_rows_get_the_replicate_weights_of_their_position():
    from evalreport.compute.bootstrap import Bootstrap, boot_block, replicate_weights, row_replicate_counts
    from evalreport.compute.rows import _splitmix64, _unmix64

    positions = np.r_[np.arange(3000), 2**40 + np.arange(5)].astype(np.uint64)
    keys = _splitmix64(positions)
    assert (_unmix64(keys) == positions).all()
    v = replicate_weights(Bootstrap(200))
    np.testing.assert_array_equal(row_replicate_counts(keys, v), v[boot_block(positions)])


def test_the_parts_have_bootstrap_intervals_the_same_however_chunked(cancer):
    import pandas as pd

    y, proba = cancer
    d = evaluate(y, proba).to_dict()["decomposition"]["log_loss"]
    for which in ("binary", "top_label"):
        p = d[which]
        for part in ("miscalibration", "discrimination", "uncertainty"):
            lo, hi = p["ci95"][part]
            assert 0 <= lo < hi
            assert lo <= p[part] * 1.0001 or part == "miscalibration"  # MCB, fitted in sample, is biased up
            assert p[part] <= hi
        assert p["standard_error"] is None  # every row decomposed: no sampling error to state
    assert all(p["ci95"] is None for p in d["per_class"].values())  # per class: point figures only
    assert evaluate(y, proba, bootstrap=0).to_dict()["decomposition"]["log_loss"]["binary"]["ci95"] is None
    df = pd.DataFrame({"label": y, "p_0": proba[:, 0], "p_1": proba[:, 1]})
    again = evaluate(df, chunk_rows=97).to_dict()["decomposition"]["log_loss"]
    for which in ("binary", "top_label"):
        for part, ci in d[which]["ci95"].items():
            assert again[which]["ci95"][part] == pytest.approx(ci, rel=1e-9)


def test_the_uncertainty_interval_covers_the_true_base_rate_entropy():
    """Binary data sets of 300 rows with a known positive rate 0.3: the interval of UNC (the
    entropy of the base rate) holds the true h(0.3) in about 95% of them."""
    rng = np.random.default_rng(11)
    truth = -(0.3 * np.log(0.3) + 0.7 * np.log(0.7))
    hits = 0
    for _ in range(60):
        y = (rng.uniform(size=300) < 0.3).astype(int)
        x = np.clip(0.3 + rng.normal(0, 0.1, 300), 0.01, 0.99)
        lo, hi = evaluate(y, x).to_dict()["decomposition"]["log_loss"]["binary"]["ci95"]["uncertainty"]
        hits += lo <= truth <= hi
    assert hits >= 52  # 95% of 60 is 57; 52 is the binomial's 0.1% tail


def test_the_compiled_pava_loaded_alone_equals_scipys_public_function_and_the_fallback(monkeypatch):
    import subprocess
    import sys

    from scipy.optimize import isotonic_regression

    from evalreport.compute import pava

    assert pava._compiled() is not None  # loaded on its own here
    rng = np.random.default_rng(5)
    for n in (1, 2, 17, 3000):
        y, w = rng.uniform(size=n), rng.uniform(0.1, 2, n)
        want = isotonic_regression(y, weights=w)
        x, blocks = pava.isotonic_blocks(y, w)
        np.testing.assert_array_equal(x, want.x)
        np.testing.assert_array_equal(blocks, want.blocks)
        monkeypatch.setattr(pava, "_pava", False)  # as when it cannot be loaded: the public function
        x2, blocks2 = pava.isotonic_blocks(y, w)
        np.testing.assert_array_equal(x2, want.x)
        np.testing.assert_array_equal(blocks2, want.blocks)
        monkeypatch.undo()
    # loading it alone imports no scipy.optimize (the point of it), and scipy.optimize still works after
    code = ("import sys; from evalreport.compute.pava import isotonic_blocks; isotonic_blocks([1., 0.], [1., 1.]);"
            "assert 'scipy.optimize' not in sys.modules; from scipy.optimize import isotonic_regression;"
            "print(isotonic_regression([1., 0.]).x)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "[0.5 0.5]" in done.stdout, done.stderr


def test_each_slice_has_its_miscalibration_share_as_if_evaluated_alone(monkeypatch):
    """Issue 14, item 3: per --group-by value, the share of its log loss that is miscalibration —
    equal to the decomposition of that slice's rows alone (the folded '(other)' row too), the same
    however chunked; the badly calibrated slice stands out; too few rows give none."""
    import pandas as pd

    rng = np.random.default_rng(8)
    n = 4000
    y, q = _calibrated(rng, n, t=1.0)
    _, q_hot = _calibrated(rng, n, t=3.0)
    region = rng.choice(["a", "b", "c", "d", "tiny"], n, p=[0.3, 0.3, 0.2, 0.17, 0.03])
    q = np.where((region == "b")[:, None], q_hot, q)  # one slice over-confident
    df = pd.DataFrame({"label": y, "region": region, **{f"p_{j}": q[:, j] for j in range(4)}})

    def share(part):
        p = evaluate(part, bootstrap=0).decomposition.top_label["log_loss"]
        return p.miscalibration / p.score

    r = evaluate(df, group_by="region", bootstrap=0, max_slices=3, chunk_rows=333)
    rows = {s.label: s for s in r.groups["region"]}
    assert set(rows) == {"a", "b", "c", "(other)"}
    for value in "abc":
        assert rows[value].miscalibration_share == pytest.approx(share(df[df.region == value]), abs=1e-12)
    assert rows["(other)"].miscalibration_share == pytest.approx(share(df[df.region.isin(["d", "tiny"])]), abs=1e-12)
    assert rows["b"].miscalibration_share > 2 * max(rows[v].miscalibration_share for v in "ac")
    small = {s.value: s for s in evaluate(df, group_by="region", bootstrap=0).groups["region"]}
    assert small["tiny"].rows < 200 and small["tiny"].miscalibration_share is None
    assert r.to_dict()["groups"]["region"][0]["miscalibration_share"] is not None
    # on a sample of the rows: each slice's sampled rows
    from evalreport.compute import stats as stats_mod

    monkeypatch.setattr(stats_mod, "sample_size", lambda k: 2000)
    sampled = {s.value: s for s in evaluate(df, group_by="region", bootstrap=0).groups["region"]}
    assert sampled["b"].miscalibration_share > 2 * sampled["a"].miscalibration_share


def test_row_figures_take_fewer_replicates_on_many_rows_and_then_a_normal_interval(monkeypatch, cancer):
    from evalreport.compute import bootstrap as b

    assert b.row_replicates(1_797, 200) == 200 and b.row_replicates(1_797, 10_000) == 1_000
    assert b.row_replicates(50_000, 200) == 41 and b.row_replicates(5_000_000, 200) == 40
    draws = np.random.default_rng(0).normal(1.0, 0.1, 300)
    assert b.spread(draws, 1.0) == pytest.approx(tuple(np.percentile(draws, [2.5, 97.5])))
    lo, hi = b.spread(draws[:50], 1.0)
    assert (hi - 1.0) == pytest.approx(1.0 - lo) and (hi - lo) / 2 == pytest.approx(1.96 * draws[:50].std(ddof=1), rel=1e-3)
    assert b.spread(draws[:50], 0.05)[0] == 0.0  # cut at 0: these figures cannot be negative
    # a run whose row sample is "large": 40 replicates, intervals symmetric about each figure
    monkeypatch.setattr(b, "ROW_CELLS", 569 * 40)
    y, proba = cancer
    r = evaluate(y, proba)
    p = r.decomposition.binary["log_loss"]
    lo, hi = p.ci95[1]
    assert hi - p.discrimination == pytest.approx(p.discrimination - lo, rel=1e-9)
    for e in r.calibration.errors[1:]:  # the three row-sample errors: none near 0 here, so none cut
        assert 0.0 < e.ci95[0] < e.value < e.ci95[1], e
        assert e.ci95[1] - e.value == pytest.approx(e.value - e.ci95[0], rel=1e-9), e
