"""`evalreport check`: every gate passing and failing, exit codes, JUnit, step summary, baselines."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from evalreport import compare
from evalreport.compute import Bootstrap, poisson_weights

from conftest import EXAMPLES, run

DIGITS = EXAMPLES / "digits_predictions.csv"  # random forest: cross-entropy 0.3071, band not_great
LOGREG = EXAMPLES / "digits_predictions_logreg.csv"  # logistic regression on the same rows: 0.1627


def check(*args, **kw):
    return run(["check", DIGITS, *args], **kw)


@pytest.mark.parametrize(
    "args,code",
    [
        (["--max-score", "0.35"], 0),
        (["--max-score", "0.30"], 1),
        (["--max-score", "0.3071"], 0),  # 0.30715 is shown and compared as 0.3071
        (["--max-score", "0.3070"], 1),
        (["--max-band", "not_great"], 0),
        (["--max-band", "could_improve"], 1),
        (["--max-class-score", "0.55"], 0),
        (["--max-class-score", "0.5"], 1),  # class 8 scores 0.537
        (["--max-class-band", "not_great"], 0),
        (["--max-class-band", "could_improve"], 1),
        (["--min-accuracy", "0.97"], 0),
        (["--min-accuracy", "0.98"], 1),
        (["--max-score", "0.35", "--min-accuracy", "0.98"], 1),  # one failing gate fails the check
        (["--max-score", "0.30", "--significant"], 0),  # interval 0.292–0.321 reaches below 0.30
        (["--max-score", "0.28", "--significant"], 1),  # the whole interval is above 0.28
        (["--max-class-band", "could_improve", "--significant"], 1),  # class 8's interval lies above 0.30
        (["--max-score", "0.35", "--unit", "bits"], 1),  # 0.3071 nats = 0.443 bits
        (["--max-score", "0.45", "--unit", "bits"], 0),
    ],
)
def test_gates(args, code):
    out = check(*args)
    assert out.exit_code == code, out.stdout + out.stderr
    assert ("PASSED" if code == 0 else "FAILED") in out.stdout


def test_json_verdicts_are_deterministic(tmp_path):
    args = ["--max-score", "0.3", "--max-class-band", "not_great", "--min-accuracy", "0.9"]
    check(*args, "--json", tmp_path / "a.json", "--group-by", "fold")
    check(*args, "--json", tmp_path / "b.json", "--group-by", "fold")
    a, b = (tmp_path / "a.json").read_bytes(), (tmp_path / "b.json").read_bytes()
    assert a == b
    data = json.loads(a)
    assert data["passed"] is False and data["rule"] == "point"
    gates = {g["gate"]: g for g in data["gates"]}
    assert gates["max-score"]["passed"] is False and gates["max-score"]["value"] == pytest.approx(0.30715, abs=1e-4)
    assert gates["max-score"]["ci95"][0] < 0.3071 < gates["max-score"]["ci95"][1]
    assert data["report"]["overall"]["band"] == "not_great"


def test_junit_has_one_testcase_per_gate(tmp_path):
    out = check("--max-score", "0.3", "--max-band", "terrible", "--min-accuracy", "0.99", "--junit", tmp_path / "j.xml")
    assert out.exit_code == 1
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "2"
    cases = suite.findall("testcase")
    failed = {c.get("name").split(":")[0] for c in cases if c.find("failure") is not None}
    assert failed == {"max-score", "min-accuracy"}
    assert "0.3071" in cases[0].find("failure").get("message")


def test_step_summary_is_appended(tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = check("--max-score", "0.35", "--markdown", tmp_path / "m.md")
    assert out.exit_code == 0
    text = summary.read_text()
    assert text.startswith("# earlier step\n") and "## evalreport check: ✅ passed" in text
    assert "| max-score |" in text and (tmp_path / "m.md").read_text() in text
    assert len((tmp_path / "m.md").read_text().splitlines()) <= 60


def test_gates_from_pyproject(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.evalreport.gates]\nmax_score = 0.30\nmin_accuracy = 0.9\n")
    out = check()
    assert out.exit_code == 1 and "max-score" in out.stdout and "min-accuracy" in out.stdout
    assert check("--max-score", "0.4").exit_code == 0  # the option overrides the file
    (tmp_path / "pyproject.toml").write_text("[tool.evalreport.gates]\nmax_scor = 0.3\n")
    bad = check()
    assert bad.exit_code == 2 and "unknown gate setting(s) max_scor" in bad.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        ([], "no gates to check"),
        (["--max-band", "superb"], "unknown band 'superb'"),
        (["--min-accuracy", "97"], "--min-accuracy is a share between 0 and 1"),
        (["--max-regression", "0.01"], "--max-regression needs --baseline"),
        (["--max-score", "0.3", "--bootstrap", "10"], "--bootstrap must be 0 or a multiple of 4 up to 10,000"),
    ],
)
def test_usage_errors_exit_2(args, message):
    out = check(*args)
    assert out.exit_code == 2 and message in out.stderr and "Traceback" not in out.stderr


def test_bad_predictions_exit_2(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("label,p_a,p_b\na,0.5,0.7\n")
    out = run(["check", bad, "--max-score", "1", "--junit", tmp_path / "j.xml"])
    assert out.exit_code == 2 and "do not sum to 1" in out.stderr
    assert not (tmp_path / "j.xml").exists()


def test_regression_against_a_baseline_model(tmp_path):
    # the forest as candidate against the logistic regression as baseline: +0.144 nats
    worse = run(["check", DIGITS, "--baseline", LOGREG, "--max-regression", "0.05", "--json", tmp_path / "c.json"])
    assert worse.exit_code == 1
    data = json.loads((tmp_path / "c.json").read_text())
    gate = data["gates"][0]
    assert gate["value"] == pytest.approx(0.1444, abs=1e-4) and gate["ci95"][0] > 0.05
    assert "rows matched by id column 'id'" in gate["detail"]
    assert data["comparison"]["difference"]["ci95"] == gate["ci95"]
    assert run(["check", DIGITS, "--baseline", LOGREG, "--max-regression", "0.2"]).exit_code == 0
    better = run(["check", LOGREG, "--baseline", DIGITS, "--max-regression", "0"])
    assert better.exit_code == 0


def test_regression_against_a_json_baseline(tmp_path):
    run(["report", LOGREG, "-o", tmp_path / "r.html", "--json", tmp_path / "base.json"])
    out = run(["check", DIGITS, "--baseline", tmp_path / "base.json", "--max-regression", "0.1", "--json", tmp_path / "c.json"])
    assert out.exit_code == 1
    gate = json.loads((tmp_path / "c.json").read_text())["gates"][0]
    assert gate["value"] == pytest.approx(0.3071 - 0.1627, abs=2e-4) and gate["ci95"] is None
    assert "only the point comparison" in gate["detail"]
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    out = run(["check", DIGITS, "--baseline", broken, "--max-regression", "0.1"])
    assert out.exit_code == 2 and "is not an evalreport JSON report" in out.stderr


def _write(df, path):
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda df: df.iloc[:-1], "1 baseline id(s) are missing from it"),
        (lambda df: df.assign(id=df["id"].where(df.index != 3, "stranger")), "baseline id(s) are missing"),
        (lambda df: df.assign(id=df["id"].where(df.index != 3, df["id"][4])), "ids must be unique"),
        (lambda df: df.assign(label=df["label"].where(df.index != 7, (df["label"] + 1) % 10)), "labels differ from the baseline's"),
        (lambda df: df.drop(columns=["p_9"]).assign(p_0=lambda d: d["p_0"]), None),
    ],
    ids=["fewer-rows", "unknown-id", "duplicate-id", "labels-differ", "classes-differ"],
)
def test_baseline_rows_must_match(tmp_path, mutate, message):
    base = pd.read_csv(LOGREG)
    cand = mutate(pd.read_csv(DIGITS))
    if message is None:  # a class dropped: the rows no longer sum to 1 or the classes differ
        cand = cand.drop(columns=[c for c in cand if c.startswith("p_")][1:]).assign(p_x=0.0)
        message = "its classes differ from the baseline's"
    out = run(["check", _write(cand, tmp_path / "c.csv"), "--baseline", _write(base, tmp_path / "b.csv"),
               "--max-regression", "0.1"])
    assert out.exit_code == 2 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_common_rows_compares_the_ids_both_files_hold(tmp_path):
    """--common-rows: the rows whose id both hold, each side's losses counted; the figures are those
    of the common rows alone (scikit-learn on them), and without the option the mismatch stays an error."""
    from sklearn.metrics import log_loss

    base = pd.read_csv(DIGITS).drop(index=[0, 1, 2])  # the baseline lacks 3 rows
    cand = pd.read_csv(LOGREG).drop(index=range(10, 15)).sample(frac=1.0, random_state=0)  # the candidate 5
    b, c = _write(base, tmp_path / "b.csv"), _write(cand, tmp_path / "c.csv")
    out = run(["compare", b, c, "-o", tmp_path / "x.html"])
    assert out.exit_code == 2 and "--common-rows compares the rows both hold" in out.stderr
    out = run(["compare", b, c, "--common-rows", "--json", tmp_path / "x.json", "--markdown", tmp_path / "x.md",
               "-o", tmp_path / "x.html"])
    assert out.exit_code == 0, out.stderr
    assert "the baseline lost 5 rows, the candidate 3" in out.stderr
    assert "the baseline lost 5 rows\\, the candidate 3" in (tmp_path / "x.md").read_text()
    d = json.loads((tmp_path / "x.json").read_text())
    assert d["dropped_rows"] == {"baseline": 5, "candidate": 3} and d["rows"] == 1797 - 8
    common = set(base["id"]) & set(cand["id"])
    cols = [f"p_{j}" for j in range(10)]
    ref = {name: log_loss(df[df["id"].isin(common)]["label"], df[df["id"].isin(common)][cols].to_numpy(),
                          labels=list(range(10))) for name, df in (("baseline", base), ("candidate", cand))}
    assert d["baseline"]["cross_entropy"] == pytest.approx(ref["baseline"], abs=1e-9)
    assert d["candidate"]["cross_entropy"] == pytest.approx(ref["candidate"], abs=1e-9)
    assert d["difference"]["cross_entropy"] == pytest.approx(ref["candidate"] - ref["baseline"], abs=1e-9)
    # the gate's baseline reads the same way, and from Python
    out = run(["check", c, "--baseline", b, "--common-rows", "--max-regression", "0", "--json", tmp_path / "k.json"])
    assert out.exit_code == 0, out.stdout + out.stderr
    (gate,) = json.loads((tmp_path / "k.json").read_text())["gates"]
    assert "the baseline lost 5 rows, the candidate 3" in gate["detail"]
    assert compare(b, c, common_rows=True).dropped == (5, 3)


@pytest.mark.parametrize("case, message", [
    ("no-ids", "--common-rows matches rows by their ids: both inputs need the id column"),
    ("disjoint", "has no id in common with the baseline"),
    ("labels", "labels differ from the baseline's when rows are matched by id column 'id', the rows both hold"),
    ("json", "--common-rows reads a baseline's predictions; the baseline is a JSON report"),
])
def test_common_rows_refuses_what_it_cannot_match(tmp_path, case, message):
    base, cand = pd.read_csv(DIGITS), pd.read_csv(LOGREG).drop(index=[0])
    if case == "no-ids":
        base, cand = base.drop(columns="id"), cand.drop(columns="id")
    if case == "disjoint":
        cand = cand.assign(id="x" + cand["id"])
    if case == "labels":  # the baseline's row 8 (file row 8) gets another label
        base = base.assign(label=base["label"].where(base.index != 7, (base["label"] + 1) % 10))
    b, c = _write(base, tmp_path / "b.csv"), _write(cand, tmp_path / "c.csv")
    if case == "json":
        run(["report", b, "--json", tmp_path / "b.json", "-o", tmp_path / "b.html"])
        b = tmp_path / "b.json"
    out = run(["check", c, "--baseline", b, "--common-rows", "--max-regression", "0.1"])
    assert out.exit_code == 2 and message in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    if case == "labels":
        assert "rows 8" in out.stderr or "row 8" in out.stderr


def test_rows_without_ids_are_matched_by_position(tmp_path):
    base = pd.read_csv(LOGREG).drop(columns="id")
    cand = pd.read_csv(DIGITS).drop(columns="id")
    c = compare(_write(base, tmp_path / "b.csv"), _write(cand, tmp_path / "c.csv"))
    assert c.matched_by == "row order"
    out = run(["compare", tmp_path / "b.csv", _write(cand.iloc[:-5], tmp_path / "short.csv"), "-o", tmp_path / "x.html"])
    assert out.exit_code == 2 and "has 1792 rows but the baseline has 1797" in out.stderr
    assert not (tmp_path / "x.html").exists()


def test_compare_matches_rows_by_id_whatever_their_order(tmp_path):
    shuffled = pd.read_csv(LOGREG).sample(frac=1.0, random_state=1)
    a = compare(DIGITS, LOGREG, group_by="fold").to_dict()
    b = compare(DIGITS, _write(shuffled, tmp_path / "s.csv"), group_by="fold").to_dict()
    for key in ("baseline", "candidate", "difference", "per_class", "groups", "rising_rows"):
        assert a[key] == b[key], key


def test_paired_interval_against_a_direct_computation():
    base, cand = pd.read_csv(DIGITS), pd.read_csv(LOGREG)
    assert (base["id"] == cand["id"]).all()
    cols = [f"p_{k}" for k in range(10)]
    idx = np.arange(len(base)), base["label"].to_numpy()
    eps = np.finfo(float).eps
    d = (-np.log(np.clip(cand[cols].to_numpy()[idx], eps, 1 - eps))) - (-np.log(np.clip(base[cols].to_numpy()[idx], eps, 1 - eps)))
    from evalreport.compute.bootstrap import HEADLINE_REPLICATES

    # the overall difference's interval is drawn from at least HEADLINE_REPLICATES replicates
    v = poisson_weights(0, len(d), Bootstrap(HEADLINE_REPLICATES, 0)).astype(float)
    replicate_means = (d @ v) / v.sum(axis=0)  # the bootstrap of the mean per-row difference
    c = compare(DIGITS, LOGREG)
    assert c.score.difference == pytest.approx(d.mean(), abs=1e-12)
    assert c.score.ci95 == pytest.approx(tuple(np.percentile(replicate_means, [2.5, 97.5])), abs=1e-12)
    assert c.score.verdict == "better"
    # the rows whose loss rose the most
    top = np.argsort(-d, kind="stable")[:20]
    assert [x.row for x in c.rising] == (top + 1).tolist()
    assert c.rising[0].increase == pytest.approx(d[top[0]])


@pytest.mark.parametrize("chunk_rows", [131_072, 333, 7])
def test_rows_tied_in_their_rise_are_the_first_ones_by_position(tmp_path, chunk_rows):
    """200 rows go from sure and right to sure and wrong (clipped both ways: the same rise): the
    rising rows are the first 20 of them by position, matched by id (the candidate's rows shuffled)
    or by position, in one batch or many (a batch once offered any 20 of its tied rows)."""
    rng = np.random.default_rng(2)
    n = 4000
    q, y = rng.dirichlet(np.ones(3), n), rng.integers(0, 3, n)
    qb, qc = q.copy(), q.copy()
    rise = rng.choice(n, 200, replace=False)
    qb[rise], qc[rise] = 0.0, 0.0
    qb[rise, y[rise]], qc[rise, (y[rise] + 1) % 3] = 1.0, 1.0
    frame = {"label": np.array(list("abc"))[y], "id": [f"r{i}" for i in range(n)]}
    base = pd.DataFrame(qb, columns=["p_a", "p_b", "p_c"]).assign(**frame)
    cand = pd.DataFrame(qc, columns=["p_a", "p_b", "p_c"]).assign(**frame)
    base.to_csv(tmp_path / "b.csv", index=False)
    cand.sample(frac=1, random_state=0).to_csv(tmp_path / "c.csv", index=False)
    base.drop(columns="id").to_csv(tmp_path / "b0.csv", index=False)
    cand.drop(columns="id").to_csv(tmp_path / "c0.csv", index=False)
    d = -np.log(np.clip(qc[np.arange(n), y], 1e-15, 1)) + np.log(np.clip(qb[np.arange(n), y], 1e-15, 1))
    expected = (np.lexsort((np.arange(n), -d))[:20] + 1).tolist()  # largest rise first, ties by row
    assert set(expected) <= set(rise + 1)
    for b, c in (("b.csv", "c.csv"), ("b0.csv", "c0.csv")):
        assert [x.row for x in compare(tmp_path / b, tmp_path / c, chunk_rows=chunk_rows).rising] == expected


def test_compare_cli_outputs(tmp_path):
    from bs4 import BeautifulSoup

    out = run(["compare", DIGITS, LOGREG, "-o", tmp_path / "c.html", "--json", tmp_path / "c.json",
               "--markdown", tmp_path / "c.md", "--group-by", "fold"])
    assert out.exit_code == 0, out.stderr
    assert out.stderr.startswith("the candidate is better: -0.1444")
    data = json.loads((tmp_path / "c.json").read_text())
    assert {"cross_entropy", "log_loss", "band", "band_score"} <= data["baseline"].keys() == data["candidate"].keys()
    assert data["difference"]["cross_entropy"] == pytest.approx(0.1627 - 0.3071, abs=2e-4)
    lo, hi = data["difference"]["ci95"]
    assert lo < data["difference"]["cross_entropy"] < hi < 0
    assert len(data["per_class"]) == 10 and len(data["groups"]["fold"]) == 5
    soup = BeautifulSoup((tmp_path / "c.html").read_text(), "html.parser")
    assert soup.select_one("#verdict .badge")["data-verdict"] == "better"
    assert len(soup.select("#per-class-table tbody tr")) == 10
    assert soup.select_one("#per-class img")["src"].startswith("data:image/svg+xml;base64,")
    assert len(soup.select("#rising-table tbody tr")) == 20
    assert all(t["src"].startswith("data:") for t in soup.find_all(src=True))
    assert len((tmp_path / "c.md").read_text().splitlines()) <= 60


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_ci_examples_run_as_written(name, tmp_path, monkeypatch):
    import shlex

    from conftest import ROOT

    lines = [line.strip() for line in (EXAMPLES / "ci" / name).read_text().splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("evalreport check"))
    command = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("--"):
            break
        command.append(line)
    args = shlex.split(" ".join(command))
    assert args[:2] == ["evalreport", "check"]
    monkeypatch.chdir(ROOT)
    args = [a if not a.endswith((".html", ".json", ".xml")) else str(tmp_path / a) for a in args]
    out = run(args[1:])
    assert out.exit_code == 0, out.stdout + out.stderr
    assert (tmp_path / "report.html").exists() and (tmp_path / "evalreport-junit.xml").exists()


@pytest.mark.parametrize("option", ["--json", "--junit", "--markdown"])
def test_a_verdict_written_to_stdout_is_all_that_stdout_holds(tmp_path, examples, option):
    """`check --json - | jq …`: with a file written to standard output, the gate table and its
    notes go to stderr, so what a pipe reads is the JSON (JUnit, Markdown) alone."""
    src = examples / "digits_predictions.csv"
    result = run(["check", src, "--max-score", "1", option, "-"])
    assert result.exit_code == 0, result.stderr
    assert "evalreport check: PASSED" in result.stderr and "evalreport check: PASSED" not in result.stdout
    if option == "--json":
        assert json.loads(result.stdout)["passed"] is True
    elif option == "--junit":
        assert ET.fromstring(result.stdout).tag == "testsuites"
    else:
        assert result.stdout.startswith("## evalreport check: ✅ passed") and "┏" not in result.stdout
    plain = run(["check", src, "--max-score", "1"])  # no file on stdout: the table is what stdout is for
    assert "evalreport check: PASSED" in plain.stdout


@pytest.mark.parametrize("threshold, code", [("1", 0), ("0.1", 1)])
def test_a_reader_that_goes_away_leaves_the_exit_code_the_verdict(tmp_path, threshold, code):
    """`check … | head -1` under `set -o pipefail`: the table's reader closes the pipe early. The
    exit code stays the gates' verdict (Rich's default made it 1, a failed gate's code, even for a
    pass), and the files asked for are still written."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "evalreport", "check", str(EXAMPLES / "digits_predictions.csv"),
           "--max-score", threshold, "--json", str(tmp_path / "c.json")]
    reader, writer = os.pipe()
    os.close(reader)  # gone before anything is written
    with os.fdopen(writer, "wb") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE, text=True, check=False, timeout=120)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert json.loads((tmp_path / "c.json").read_text())["passed"] is (code == 0)


def test_an_output_encoding_without_the_tables_characters_is_no_failure(tmp_path):
    """A console that cannot encode '≤' or '–' (PYTHONIOENCODING=ascii, a legacy code page) gets
    them escaped, as stderr does — it used to end a passed check with an internal error (exit 3)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "evalreport", "check", str(EXAMPLES / "digits_predictions.csv"),
                           "--max-score", "1"], capture_output=True, check=False, timeout=120,
                          env=dict(os.environ, PYTHONIOENCODING="ascii"))
    assert done.returncode == 0, done.stderr
    assert b"PASSED" in done.stdout and b"cross-entropy \\u2264 1 nats" in done.stdout
    assert b"internal error" not in done.stderr


@pytest.mark.parametrize("given, band", [("Not great", "not_great"), ("not great", "not_great"),
                                         ("On the right track", "on_track"), ("COULD-IMPROVE", "could_improve")])
def test_a_band_is_named_by_its_id_or_by_the_label_the_report_prints(tmp_path, given, band):
    """--max-band 'Not great' (as the report prints it) is the band not_great: the same verdict, and
    the JSON names the band by its id."""
    by_label = check("--max-band", given, "--max-class-band", given, "--json", tmp_path / "a.json")
    by_id = check("--max-band", band, "--max-class-band", band, "--json", tmp_path / "b.json")
    assert by_label.exit_code == by_id.exit_code, by_label.stderr
    gates = {g["gate"]: g for g in json.loads((tmp_path / "a.json").read_text())["gates"]}
    assert gates["max-band"]["threshold"] == band and gates["max-class-band"]["threshold"] == band
    assert (json.loads((tmp_path / "a.json").read_text())["gates"]
            == json.loads((tmp_path / "b.json").read_text())["gates"])


@pytest.mark.parametrize("option", ["--max-band", "--max-class-band"])
def test_an_unknown_band_is_refused_before_the_input_is_read(tmp_path, option):
    """A typo in a band gate is a usage error at once, not after reading a file of millions of rows:
    with an input that does not exist, the band is what the error names."""
    from test_hardening import one_error_line

    one_error_line(run(["check", tmp_path / "no-such.csv", option, "superb"]), r"unknown band 'superb'")
