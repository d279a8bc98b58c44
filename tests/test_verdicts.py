"""Issue 25: verdicts that agree with the numbers beside them — skill over the class frequencies,
temperature with its uncertainty, calibration in compare, per-slice gates, detectable effects."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evalreport import evaluate

from conftest import EXAMPLES, run


# --------------------------------------------------------------------------- 1. skill in every verdict


@pytest.fixture(scope="module")
def rare(tmp_path_factory):
    """0.5% positives: a constant prediction at the base rate, and a model worse than it."""
    folder = tmp_path_factory.mktemp("rare")
    rng = np.random.default_rng(0)
    n = 20_000
    y = (rng.uniform(size=n) < 0.005).astype(int)
    base = y.mean()
    pd.DataFrame({"label": y, "p_0": 1 - base, "p_1": base}).to_csv(folder / "constant.csv", index=False)
    p = np.clip(base * rng.lognormal(0, 1.0, n), 1e-6, 0.5)
    pd.DataFrame({"label": y, "p_0": 1 - p, "p_1": p}).to_csv(folder / "worse.csv", index=False)
    return folder


def test_a_model_no_better_than_the_class_frequencies_is_said_so_everywhere(rare, tmp_path):
    for name in ("constant.csv", "worse.csv"):
        done = run(["report", rare / name, "-o", tmp_path / "r.html", "--json", tmp_path / "r.json", "--markdown",
                    tmp_path / "r.md"])
        assert done.exit_code == 0, done.stderr
        assert "no better than the class frequencies" in done.stderr.splitlines()[0]
        data = json.loads((tmp_path / "r.json").read_text())
        o = data["overall"]
        assert o["band"] == "on_track" and o["no_skill"] and o["skill_vs_prior_ci95"][0] <= 0
        assert o["baselines"]["prior_band"] == "on_track"  # the frequencies alone score a good band
        assert "no better than the class frequencies" in (tmp_path / "r.md").read_text().splitlines()[0]
        html = (tmp_path / "r.html").read_text()
        assert 'id="no-skill"' in html and "the ladder is absolute, and on rare classes a low loss is easy" in html
    trained = run(["report", EXAMPLES / "digits_predictions.csv", "-o", tmp_path / "d.html"])
    assert "no better" not in trained.stderr


def test_min_skill_fails_the_constant_and_the_worse_model_and_honours_significant(rare, tmp_path):
    assert run(["check", rare / "constant.csv", "--min-skill", "0"]).exit_code == 1
    worse = run(["check", rare / "worse.csv", "--max-band", "fine", "--min-skill", "0", "--junit", tmp_path / "j.xml",
                 "--markdown", tmp_path / "m.md"])
    assert worse.exit_code == 1 and "min-skill" in worse.stdout
    assert "min-skill" in (tmp_path / "j.xml").read_text() and "| min-skill |" in (tmp_path / "m.md").read_text()
    # --significant: fails only when the whole interval is at or below the threshold
    assert run(["check", rare / "constant.csv", "--min-skill", "0", "--significant"]).exit_code == 0
    assert run(["check", EXAMPLES / "digits_predictions.csv", "--min-skill", "0.5", "--significant"]).exit_code == 0
    (tmp_path / "evalreport.toml").write_text("[gates]\nmin_skill = 0\n")
    assert run(["check", rare / "constant.csv", "--config", tmp_path / "evalreport.toml"]).exit_code == 1


def test_the_skill_interval_is_the_band_scores_with_the_prior_held_fixed(rare):
    r = evaluate(rare / "worse.csv")
    o = r.overall
    removable = o.prior_cross_entropy - o.entropy
    assert o.skill_vs_prior_ci95 == pytest.approx((1 - o.band_score_ci95[1] / removable,
                                                   1 - o.band_score_ci95[0] / removable))


# --------------------------------------------------------------------------- 2. temperature with its uncertainty


def _fit(rng, trial: int, n: int = 2000, k: int = 4, tempered: float | None = None):
    """A data set whose outcomes follow softmax(z), scored by that model (calibrated) or by
    softmax(z / tempered); T fitted as a report fits it, with the run's replicate weights."""
    from evalreport.compute import Bootstrap, replicate_weights
    from evalreport.compute.bootstrap import row_replicate_counts
    from evalreport.compute.calibration import RowSample, fit_temperature
    from evalreport.compute.rows import _splitmix64

    z = rng.normal(0, 1.5, (n, k))
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(n, 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    logits = z if tempered is None else z / tempered
    logq = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    keys = _splitmix64(np.arange(trial * n, (trial + 1) * n, dtype=np.uint64))
    sample = RowSample(keys, ((logq, y, np.ones(n), np.empty((n, 0), dtype=object)),), n)
    counts = row_replicate_counts(keys, replicate_weights(Bootstrap(200, 0)))
    return fit_temperature(sample, n, counts)


def test_calibrated_models_are_never_called_over_or_under_confident_and_tempered_ones_are():
    rng = np.random.default_rng(3)
    calibrated = [_fit(rng, t) for t in range(200)]
    assert all(f.within_noise for f in calibrated), sum(not f.within_noise for f in calibrated)
    tempered = [_fit(rng, 1000 + t, tempered=0.7) for t in range(200)]
    told = sum(not f.within_noise and f.temperature > 1 for f in tempered)  # over-confident: softer is better
    assert told >= 0.95 * len(tempered), told


def test_the_temperature_interval_covers_the_true_temperature():
    """A model whose logits are the truth's divided by 0.7 is best scaled by T = 1/0.7."""
    rng = np.random.default_rng(4)
    fits = [_fit(rng, 2000 + t, tempered=0.7) for t in range(200)]
    covered = sum(f.ci95[0] <= 1 / 0.7 <= f.ci95[1] for f in fits) / len(fits)
    assert 0.90 <= covered <= 0.99, covered


def test_the_report_says_within_noise_in_every_output(tmp_path):
    rng = np.random.default_rng(5)
    n, k = 3000, 4
    z = rng.normal(0, 1.5, (n, k))
    q = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(n, 1)) > np.cumsum(q, axis=1)).sum(axis=1)
    df = pd.DataFrame({"label": y, **{f"p_{j}": q[:, j] for j in range(k)}})
    df.to_csv(tmp_path / "calibrated.csv", index=False)
    assert run(["report", tmp_path / "calibrated.csv", "-o", tmp_path / "r.html", "--json", tmp_path / "r.json",
                "--markdown", tmp_path / "r.md"]).exit_code == 0
    cal = json.loads((tmp_path / "r.json").read_text())["calibration"]
    assert cal["temperature_within_noise"] and cal["temperature_ci95"][0] <= 1 <= cal["temperature_ci95"][1]
    assert "within noise" in cal["summary"] and "confident" not in cal["summary"]
    assert "within noise, scaling would remove nothing measurable" in (tmp_path / "r.md").read_text()
    assert "within noise" in (tmp_path / "r.html").read_text()


# --------------------------------------------------------------------------- 3. calibration in compare

DIGITS, LOGREG = EXAMPLES / "digits_predictions.csv", EXAMPLES / "digits_predictions_logreg.csv"


def test_compare_shows_both_models_calibration_with_paired_intervals(tmp_path):
    from evalreport import compare

    c = compare(DIGITS, LOGREG)
    base, cand = evaluate(DIGITS), evaluate(LOGREG)
    ece = c.calibration.errors["ece"]
    assert ece.baseline == pytest.approx(base.calibration.ece) and ece.candidate == pytest.approx(cand.calibration.ece)
    for key in ("debiased_l2_ce", "ece_equal_mass", "ece_sweep"):
        d = c.calibration.errors[key]
        assert d.baseline == pytest.approx(base.calibration.error(key).value, rel=1e-12)
        assert d.candidate == pytest.approx(cand.calibration.error(key).value, rel=1e-12)
        assert d.ci95[0] < d.difference < d.ci95[1]
    mcb = c.calibration.parts["miscalibration"]
    assert mcb.baseline == pytest.approx(base.decomposition.top_label["log_loss"].miscalibration, rel=1e-12)
    assert mcb.verdict == "better" and ece.verdict == "better"  # the regression is calibrated far better
    done = run(["compare", DIGITS, LOGREG, "-o", tmp_path / "c.html", "--json", tmp_path / "c.json", "--markdown",
                tmp_path / "c.md"])
    assert done.exit_code == 0
    data = json.loads((tmp_path / "c.json").read_text())["calibration"]
    assert set(data["errors"]) == {"ece", "debiased_l2_ce", "ece_equal_mass", "ece_sweep"}
    assert set(data["decomposition"]) == {"forecast", "miscalibration", "discrimination", "uncertainty"}
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((tmp_path / "c.html").read_text(), "html.parser")
    assert len(soup.select("#calibration-differences tbody tr")) == 7
    assert "both models" in soup.select_one("#calibration figure img")["title"]
    assert "| ECE, 15 equal-width bins |" in (tmp_path / "c.md").read_text()


def test_the_paired_ece_interval_is_a_paired_bootstrap_of_the_bins():
    """The ECE difference's replicates are those of each side's per-(bin, block) sums under the same
    replicate weights, written out in numpy from the rows."""
    from evalreport import compare
    from evalreport.compute import Bootstrap, CAL_EDGES, replicate_weights
    from evalreport.compute.bootstrap import boot_block
    from evalreport.compute.rows import _splitmix64

    a, b = pd.read_csv(DIGITS), pd.read_csv(LOGREG).set_index("id").loc[pd.read_csv(DIGITS)["id"]].reset_index()
    cols = [f"p_{j}" for j in range(10)]
    from evalreport.compute.bootstrap import HEADLINE_REPLICATES

    v = replicate_weights(Bootstrap(HEADLINE_REPLICATES, 0)).astype(float)  # the overall figures' replicates
    pos = np.arange(len(a), dtype=np.uint64)
    w = v[boot_block(pos, _splitmix64(pos))]  # each row's weight in each replicate
    eces = []
    for df in (a, b):
        q = df[cols].to_numpy()
        conf, right = q.max(axis=1), (q.argmax(axis=1) == df["label"].to_numpy()).astype(float)
        bins = np.clip(np.searchsorted(CAL_EDGES, conf, side="right") - 1, 0, len(CAL_EDGES) - 2)
        total = w.sum(axis=0)
        gap = np.zeros(w.shape[1])
        for k in range(len(CAL_EDGES) - 1):
            at = bins == k
            gap += np.abs((w[at] * right[at, None]).sum(axis=0) - (w[at] * conf[at, None]).sum(axis=0))
        eces.append(gap / total)
    expected = tuple(np.percentile(eces[1] - eces[0], [2.5, 97.5]))
    assert compare(DIGITS, LOGREG).calibration.errors["ece"].ci95 == pytest.approx(expected, rel=1e-9)


def test_max_ece_regression_gates_on_the_paired_difference(tmp_path):
    worse = run(["check", DIGITS, "--baseline", LOGREG, "--max-ece-regression", "0.05", "--significant", "--junit",
                 tmp_path / "j.xml"])
    assert worse.exit_code == 1 and "max-ece-regression" in (tmp_path / "j.xml").read_text()
    assert run(["check", LOGREG, "--baseline", DIGITS, "--max-ece-regression", "0"]).exit_code == 0
    done = run(["check", LOGREG, "--baseline", tmp_path / "b.json", "--max-ece-regression", "0"])
    assert done.exit_code == 2 and "needs --baseline FILE with the baseline model's predictions" in done.stderr
