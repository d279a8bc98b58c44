"""Per-slice gates, and what an interval can tell (issue 25, items 4-5): one verdict per failing
slice value (Holm under --significant) in JSON, JUnit, Markdown and tracker tags; the minimum
detectable difference and the Monte Carlo error of an interval end, each checked by simulation;
a gate whose end is within its Monte Carlo error of the threshold fails closed."""

from __future__ import annotations

import json
import math
from statistics import NormalDist
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from evalreport import compare, evaluate
from evalreport.compute import Bootstrap, poisson_weights
from evalreport.compute.bootstrap import HEADLINE_REPLICATES
from evalreport.compute.power import (MC_END_FACTOR, end_error, holm_walk, minimum_detectable, p_above,
                                      replicates_for)
from evalreport.gates import evaluate_gates, gate_spec_from
from evalreport.render.jsonout import check_to_dict
from evalreport.trackers.figures import result_payload

from conftest import EXAMPLES, run

DIGITS = EXAMPLES / "digits_predictions.csv"  # random forest: 0.3071 nats
LOGREG = EXAMPLES / "digits_predictions_logreg.csv"  # logistic regression on the same rows: 0.1627


def _fold_scores(path) -> dict[str, float]:
    df = pd.read_csv(path)
    cols = [c for c in df.columns if c.startswith("p_")]
    return {str(f): log_loss(g["label"], g[cols].to_numpy(), labels=list(range(10)))
            for f, g in df.groupby("fold")}


def test_max_slice_score_fails_each_slice_value_over_the_threshold(tmp_path):
    folds = _fold_scores(LOGREG)  # the reference: scikit-learn's log loss per fold
    threshold = round(sorted(folds.values())[2], 4) + 0.00005  # two folds above, three at or under
    over = sorted((f for f, s in folds.items() if round(s, 4) > threshold), key=folds.get, reverse=True)
    assert len(over) == 2
    out = run(["check", LOGREG, "--group-by", "fold", "--max-slice-score", threshold, "--json", tmp_path / "c.json",
               "--junit", tmp_path / "j.xml", "--markdown", tmp_path / "c.md"])
    assert out.exit_code == 1, out.stdout + out.stderr
    gates = json.loads((tmp_path / "c.json").read_text())["gates"]
    assert [g["subject"] for g in gates] == [f"fold={f}" for f in over]  # worst first
    for g, f in zip(gates, over):
        assert g["gate"] == "max-slice-score" and not g["passed"]
        assert g["value"] == pytest.approx(folds[f], abs=1e-9)
        assert g["minimum_detectable"] is None and g["too_close"] is False  # the point rule
    cases = ET.parse(tmp_path / "j.xml").getroot().iter("testcase")
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == [f"max-slice-score: fold = {f}: cross-entropy ≤ {threshold:g} nats" for f in over]
    md = (tmp_path / "c.md").read_text()
    assert all(f"fold \\= {f}\\:" in md for f in over)
    # with a threshold above every fold: one passing gate naming the worst
    worst = max(folds, key=folds.get)
    out = run(["check", LOGREG, "--group-by", "fold", "--max-slice-score", "0.5", "--json", tmp_path / "p.json"])
    assert out.exit_code == 0, out.stdout + out.stderr
    (g,) = json.loads((tmp_path / "p.json").read_text())["gates"]
    assert g["passed"] and g["value"] == pytest.approx(folds[worst]) and f"fold = '{worst}'" in g["detail"]


def test_slice_gates_come_from_the_settings_and_need_their_slices(tmp_path, monkeypatch):
    (tmp_path / "evalreport.toml").write_text("[gates]\nmax_slice_score = 0.1\nmax_slice_regression = 0.0\n"
                                              f"baseline = '{DIGITS.as_posix()}'\n")
    monkeypatch.chdir(tmp_path)
    out = run(["check", LOGREG, "--group-by", "fold", "--json", "c.json"])
    assert out.exit_code == 1, out.stdout + out.stderr
    gates = json.loads((tmp_path / "c.json").read_text())["gates"]
    assert {g["gate"] for g in gates} == {"max-slice-score", "max-slice-regression"}
    assert [g["passed"] for g in gates if g["gate"] == "max-slice-regression"] == [True]  # better on every fold
    out = run(["check", LOGREG, "--json", "d.json"])  # no --group-by: nothing to gate per slice
    assert out.exit_code == 2 and "--group-by" in out.stderr and not (tmp_path / "d.json").exists()


def test_slice_gates_refuse_values_folded_into_other_where_one_could_fail_unseen(tmp_path):
    """300 slice values, one of them 20 confidently wrong rows (4.6 nats): with --max-slices 100 it
    was folded into '(other)', whose pooled score passed "every slice value's cross-entropy ≤ 1"
    with exit 0. Now exit 2 in one line saying how to check each, and nothing written; with
    --max-slices 301 the value fails by name."""
    from test_hardening import one_error_line

    rng = np.random.default_rng(1)
    n = 60_000
    y = rng.integers(0, 2, n)
    p = np.where(y == 1, 0.9, 0.1)
    g = np.array([f"s{i:03d}" for i in rng.integers(0, 300, n)], dtype=object)
    g[:20], p[:20] = "tiny", np.where(y[:20] == 1, 0.01, 0.99)
    path = tmp_path / "slices.csv"
    pd.DataFrame({"label": y, "p_0": 1 - p, "p_1": p, "g": g}).to_csv(path, index=False)
    args = ["check", path, "--group-by", "g", "--max-slice-score", "1", "--json", tmp_path / "c.json"]
    one_error_line(run(args), r"--max-slice-score checks every value of --group-by 'g' one by one, but 201 of its "
                              r"301 values are folded into '\(other\)' by --max-slices, where one could fail unseen: "
                              r"pass --max-slices 301 so that each is checked")
    assert not (tmp_path / "c.json").exists()
    out = run([*args, "--max-slices", "301"])
    assert out.exit_code == 1, out.stdout + out.stderr
    (gate,) = json.loads((tmp_path / "c.json").read_text())["gates"]
    assert gate["subject"] == "g=tiny" and gate["value"] == pytest.approx(-np.log(0.01), abs=1e-9)
    # the regression gate alike: 5 folds, 2 shown
    out = run(["check", LOGREG, "--baseline", DIGITS, "--group-by", "fold", "--max-slices", "2",
               "--max-slice-regression", "0"])
    one_error_line(out, r"--max-slice-regression checks every value of --group-by 'fold' one by one, but 3 of its 5")


def test_max_slice_regression_against_the_paired_difference_per_slice():
    base, cand = _fold_scores(DIGITS), _fold_scores(LOGREG)
    c = compare(DIGITS, LOGREG, group_by="fold")
    r = c.candidate
    # a regression allowed of −0.15 nats: the folds that improved by less fail
    report = evaluate_gates(r, gate_spec_from({}, max_slice_regression=-0.15), c)
    failing = {g.subject for g in report.gates if not g.passed}
    assert failing == {f"fold={f}" for f in base if round(cand[f] - base[f], 4) > -0.15}
    assert 0 < len(failing) < 5
    for g in report.gates:
        f = g.subject.split("=")[1]
        assert g.value == pytest.approx(cand[f] - base[f], abs=1e-9)


def test_holm_step_down_by_hand():
    # m = 3 at family-wise 5%: 0.01 ≤ 0.05/3 is rejected, then 0.03 > 0.05/2 stops the walk
    def holm(pvalues, alpha):  # tests of "above 0" with these p-values: a standard error of 1, value z(1 − p)
        z95 = NormalDist().inv_cdf(0.975)
        tests = [(v, (v - z95, v + z95)) for v in (NormalDist().inv_cdf(1 - p) for p in pvalues)]
        assert [p_above(v, ci, 0.0) for v, ci in tests] == pytest.approx(pvalues)
        return [s.rejected for s in holm_walk(tests, 0.0, None, alpha=alpha)]

    assert holm([0.01, 0.04, 0.03], alpha=0.05) == [True, False, False]
    assert holm([0.01, 0.02, 0.04], alpha=0.05) == [True, True, True]  # 0.01 ≤ .0167, .02 ≤ .025, .04 ≤ .05
    assert holm([0.2, 0.001], alpha=0.05) == [False, True]
    # p < 2.5% exactly when the interval's lower end lies above the threshold
    assert p_above(0.3, (0.2, 0.4), 0.19) < 0.025 < p_above(0.3, (0.2, 0.4), 0.21)


def test_holm_keeps_a_slice_whose_own_interval_clears_the_threshold_when_many_are_tested():
    """Under --significant, a slice value whose interval alone would fail the gate passes when
    Holm's correction over all slice values does not reject it: m tests, not one."""
    rng = np.random.default_rng(3)
    n, k = 6000, 2
    y = rng.integers(0, k, n)
    p = np.clip(0.75 + rng.normal(0, 0.12, n), 0.02, 0.98)
    df = pd.DataFrame({"label": y, "p_0": np.where(y == 0, p, 1 - p), "p_1": np.where(y == 1, p, 1 - p),
                       "g": rng.integers(0, 30, n)})
    r = evaluate(df, group_by="g", bootstrap=400, max_slices=50)
    scores = {s.label: (s.cross_entropy, s.ci95) for s in r.groups["g"] if s.rows}
    # a threshold just under the worst slice's lower end: its own interval clears it, Holm over 30 does not
    worst = max(scores, key=lambda v: scores[v][0])
    low = scores[worst][1][0]
    threshold = round(low - 0.0002, 4)
    alone = p_above(scores[worst][0], scores[worst][1], threshold)
    assert alone < 0.025 and alone > 0.025 / len(scores)
    report = evaluate_gates(r, gate_spec_from({}, max_slice_score=threshold, significant=True))
    assert all(g.passed for g in report.gates), [g.detail for g in report.gates]
    assert "Holm over 30 slice values" in report.gates[0].detail


def test_holm_walk_fails_closed_on_a_step_too_close_to_call_and_walks_on():
    """Three tests of "above 0", each with a standard error of 1 (p = 1 − Φ(value)); Holm's levels
    are 2.5%/3, 2.5%/2, 2.5%. The second's p (1.39%) misses its level (1.25%) by little."""
    z95 = NormalDist().inv_cdf(0.975)
    tests = [(v, (v - z95, v + z95)) for v in (3.0, 2.2, 2.0)]
    assert [p_above(v, ci, 0.0) for v, ci in tests] == pytest.approx([0.00135, 0.01390, 0.02275], abs=1e-5)
    # a million replicates: every end is settled, and the walk is Holm's
    assert [s.rejected for s in holm_walk(tests, 0.0, 1_000_000)] == [True, False, False]
    assert not any(s.too_close for s in holm_walk(tests, 0.0, 1_000_000))
    # 200 replicates: the second step's end, 2.2 − z(1 − 1.25%) = −0.041, lies within twice its Monte Carlo
    # error (z/1.96 × 0.68/√200 of the width 3.92: ±0.216) of 0, so it fails closed and the walk goes on
    # to the third, whose p (2.28%) is under its level
    steps = holm_walk(tests, 0.0, 200)
    assert [s.rejected for s in steps] == [True, True, True] and [s.too_close for s in steps] == [False, True, True]
    z = NormalDist().inv_cdf(1 - 0.025 / 2)
    assert steps[1].end == pytest.approx(2.2 - z, abs=1e-12)
    assert steps[1].error == pytest.approx(z / z95 * MC_END_FACTOR * 2 * z95 / math.sqrt(200), rel=1e-12)
    assert [s.rejected for s in holm_walk(tests, 0.0, None)] == [True, False, False]


def test_a_slice_value_whose_holm_step_is_too_close_to_call_fails_closed(tmp_path):
    """The data of the test above: the threshold set at the worst slice value's end at Holm's first
    level (2.5%/30) — another draw of 400 replicates could decide it either way."""
    rng = np.random.default_rng(3)
    n = 6000
    y = rng.integers(0, 2, n)
    p = np.clip(0.75 + rng.normal(0, 0.12, n), 0.02, 0.98)
    df = pd.DataFrame({"label": y, "p_0": np.where(y == 0, p, 1 - p), "p_1": np.where(y == 1, p, 1 - p),
                       "g": rng.integers(0, 30, n)})
    path = tmp_path / "g.csv"
    df.to_csv(path, index=False)
    r = evaluate(path, group_by="g", bootstrap=400, max_slices=50)
    scores = {s.label: (s.cross_entropy, s.ci95) for s in r.groups["g"] if s.rows}
    first = min(scores, key=lambda v: p_above(*scores[v], 0.3))  # the first step of the walk
    value, (low, high) = scores[first]
    end = value - NormalDist().inv_cdf(1 - 0.025 / 30) * (value - low) / NormalDist().inv_cdf(0.975)
    error = NormalDist().inv_cdf(1 - 0.025 / 30) / 1.959964 * MC_END_FACTOR * (high - low) / math.sqrt(400)
    assert error > 0.001  # the threshold, rounded to 4 decimals, is well within it
    for threshold, close in ((round(end, 4), True), (round(end - 4 * error, 4), False)):
        out = run(["check", path, "--group-by", "g", "--max-slices", "50", "--bootstrap", "400", "--significant",
                   "--max-slice-score", f"{threshold}", "--json", tmp_path / "c.json"])
        assert out.exit_code == 1, out.stdout + out.stderr
        gates = {g["subject"]: g for g in json.loads((tmp_path / "c.json").read_text())["gates"]}
        g = gates[f"g={first}"]
        assert not g["passed"] and g["too_close"] is close, g["detail"]
        if close:
            assert "too close to call at 400 replicates: the Holm-adjusted end" in g["detail"]
            assert "would settle it" in g["detail"] or "the end is at the threshold" in g["detail"]


def test_an_interval_end_within_its_monte_carlo_error_of_the_threshold_fails_closed(tmp_path):
    r = evaluate(DIGITS)
    low = r.overall.band_score_ci95[0]
    out = run(["check", DIGITS, "--significant", "--max-score", f"{low:.4f}", "--json", tmp_path / "c.json"])
    assert out.exit_code == 1, out.stdout + out.stderr  # the point rule on the end alone would pass (it is not above)
    (g,) = json.loads((tmp_path / "c.json").read_text())["gates"]
    assert g["too_close"] is True and not g["passed"]
    assert "too close to call at 1,200 replicates" in g["detail"] and "the end is at the threshold" in g["detail"]
    assert g["minimum_detectable"] == pytest.approx(minimum_detectable(tuple(g["ci95"])))
    # 0.0008 above the end (its Monte Carlo error is ±0.0006): more replicates would settle it
    out = run(["check", DIGITS, "--significant", "--max-score", f"{low + 0.0008:.4f}", "--json", tmp_path / "e.json"])
    (g,) = json.loads((tmp_path / "e.json").read_text())["gates"]
    assert out.exit_code == 1 and g["too_close"] is True
    need = int(g["detail"].split("--bootstrap ")[1].split()[0].replace(",", ""))
    assert 1200 < need <= 10_000 and "would settle it" in g["detail"]
    # a threshold well away from the end is decided as before
    out = run(["check", DIGITS, "--significant", "--max-score", f"{low - 0.01:.4f}", "--json", tmp_path / "d.json"])
    (g,) = json.loads((tmp_path / "d.json").read_text())["gates"]
    assert out.exit_code == 1 and g["too_close"] is False and "detectable distance" in g["detail"]


def test_every_gate_with_a_subject_gets_its_own_tracker_tag():
    c = compare(DIGITS, LOGREG, group_by="fold")
    report = evaluate_gates(c.candidate, gate_spec_from({}, max_slice_score=0.15, min_skill=0.5), c)
    tags = result_payload(c.candidate, {}, check=check_to_dict(report)).tags
    gate_tags = {k: v for k, v in tags.items() if k.startswith("evalreport.gate.")}
    failing = [g for g in report.gates if not g.passed]
    assert failing and all(f"evalreport.gate.max-slice-score.{g.subject.replace('=', '_')}" in gate_tags
                           for g in failing)
    assert gate_tags["evalreport.gate.min-skill"] == "passed"
    assert len(gate_tags) == len(report.gates)


def test_headline_replicates_hold_the_monte_carlo_error_under_two_percent_of_the_width():
    assert HEADLINE_REPLICATES >= replicates_for(0.02) == 1164
    assert end_error((0.0, 1.0), HEADLINE_REPLICATES) <= 0.02
    # the JSON says which replicates drew the overall intervals; more asked for are used as asked
    assert json.loads(evaluate(DIGITS).to_json())["bootstrap"] == {"replicates": 200, "seed": 0,
                                                                   "overall_replicates": 1200}
    assert json.loads(evaluate(DIGITS, bootstrap=2000).to_json())["bootstrap"]["overall_replicates"] == 2000


def test_the_monte_carlo_error_of_an_end_by_simulation():
    """Many bootstraps of one sample with different seeds: the spread of the lower end is what
    end_error states (within the sampling error of 150 seeds)."""
    rng = np.random.default_rng(0)
    n, b = 800, 200
    x = rng.gamma(2.0, 0.15, n)  # per-row losses, skewed as losses are

    def lower_end(seed: int) -> float:
        w = poisson_weights(0, n, Bootstrap(b, seed)).astype(float)
        return float(np.percentile((x @ w) / w.sum(axis=0), 2.5))

    ends = np.array([lower_end(s) for s in range(1, 151)])
    w = poisson_weights(0, n, Bootstrap(4000, 9999)).astype(float)
    ci = tuple(np.percentile((x @ w) / w.sum(axis=0), [2.5, 97.5]))
    stated = end_error(ci, b)
    assert stated == pytest.approx(MC_END_FACTOR * (ci[1] - ci[0]) / math.sqrt(b))
    assert ends.std(ddof=1) == pytest.approx(stated, rel=0.2)


def test_a_true_difference_of_the_detectable_size_is_detected_four_times_in_five():
    """Simulated pairs of models on the same rows whose true mean difference is the stated
    minimum detectable difference: the paired bootstrap interval leaves out 0 in about 80%."""
    rng = np.random.default_rng(1)
    n, b, sims, sd = 500, 200, 300, 0.4
    se = sd / math.sqrt(n)
    ci_width = 2 * 1.959964 * se
    mdd = minimum_detectable((0.0, ci_width))
    w = poisson_weights(0, n, Bootstrap(b, 0)).astype(float)
    stated, detected = [], 0
    for _ in range(sims):
        d = rng.normal(mdd, sd, n)  # per-row loss differences, candidate − baseline
        reps = (d @ w) / w.sum(axis=0)
        lo, hi = np.percentile(reps, [2.5, 97.5])
        stated.append(minimum_detectable((lo, hi)))
        detected += lo > 0
    assert np.mean(stated) == pytest.approx(mdd, rel=0.05)  # what a run states is the size simulated
    assert 0.72 <= detected / sims <= 0.88


def test_compare_says_how_small_a_difference_its_rows_can_tell(tmp_path):
    out = run(["compare", DIGITS, LOGREG, "--json", tmp_path / "c.json", "--markdown", tmp_path / "c.md",
               "-o", tmp_path / "c.html"])
    assert out.exit_code == 0, out.stdout + out.stderr
    d = json.loads((tmp_path / "c.json").read_text())["difference"]
    mdd = d["minimum_detectable"]
    assert mdd == pytest.approx(2.8016 * (d["ci95"][1] - d["ci95"][0]) / (2 * 1.95996), rel=1e-4)
    words = f"with 1,797 rows a difference under {mdd:.4f} nats cannot be told from noise"
    assert words.capitalize() in out.stderr
    assert words.capitalize() in (tmp_path / "c.md").read_text().replace("\\", "")  # Markdown escapes . and ,
    assert words.capitalize() in (tmp_path / "c.html").read_text()
