"""Issue 24: a language model's output in a table — sequences, tokens, multiple choice — recognised
by its columns, in CSV, Parquet and JSON lines. Figures against numpy and scikit-learn references;
token and sequence files of the same data agree; the interval resamples sequences (by simulation)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax

from evalreport import InputError, evaluate

from conftest import run
from test_hardening import one_error_line


def _data(seed: int = 0, n: int = 300) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sequences of varied difficulty: one row per token, and one row per sequence of the same data."""
    rng = np.random.default_rng(seed)
    tokens, seqs = [], []
    for s in range(n):
        length, difficulty = int(rng.integers(3, 40)), rng.gamma(2.0, 1.0)
        lp = -rng.exponential(difficulty, length)
        nbytes = rng.integers(1, 7, length)
        part = ("news", "code", "chat")[s % 3]
        tokens += [(f"doc-{s}", lp[i], int(nbytes[i]), part) for i in range(length)]
        seqs.append((f"doc-{s}", lp.sum(), length, int(nbytes.sum()), part))
    return (pd.DataFrame(tokens, columns=["id", "logprob", "bytes", "part"]),
            pd.DataFrame(seqs, columns=["id", "logprob", "tokens", "bytes", "part"]))


def test_sequence_figures_against_a_numpy_reference(tmp_path):
    _, seqs = _data()
    path = tmp_path / "seqs.csv"
    seqs.to_csv(path, index=False)
    r = evaluate(path, group_by="part")
    assert not r.classifier and r.lm.source == "sequences"
    o = r.lm.overall
    ce = -seqs.logprob.sum() / seqs.tokens.sum()
    assert o.cross_entropy == pytest.approx(ce, rel=1e-12)
    assert o.perplexity == pytest.approx(math.exp(ce), rel=1e-12)
    assert o.bits_per_token == pytest.approx(ce / math.log(2), rel=1e-12)
    assert o.bits_per_byte == pytest.approx(-seqs.logprob.sum() / seqs.bytes.sum() / math.log(2), rel=1e-12)
    assert o.ci95[0] < ce < o.ci95[1] and o.perplexity_ci95 == pytest.approx(tuple(map(math.exp, o.ci95)))
    for s in r.lm.groups["part"]:
        part = seqs[seqs.part == s.value]
        assert s.figures.cross_entropy == pytest.approx(-part.logprob.sum() / part.tokens.sum(), rel=1e-12)
        assert s.figures.sequences == len(part)
    worst = (-seqs.logprob / seqs.tokens).max()
    assert r.lm.worst[0].loss == pytest.approx(worst, rel=1e-12) and r.lm.worst_per == "token"
    bits = evaluate(path, unit="bits").lm.overall
    assert bits.cross_entropy == pytest.approx(ce / math.log(2), rel=1e-12) and bits.perplexity == pytest.approx(o.perplexity)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
@pytest.mark.parametrize("chunk_rows", [131_072, 997, 13])
def test_token_and_sequence_files_of_the_same_data_give_the_same_figures(tmp_path, fmt, chunk_rows):
    tokens, seqs = _data(1)
    path = tmp_path / f"tokens.{fmt}"
    if fmt == "parquet":
        tokens.to_parquet(path)
    elif fmt == "csv":
        tokens.to_csv(path, index=False)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in tokens.to_dict("records")))
    seq_path = tmp_path / "seqs.csv"
    seqs.to_csv(seq_path, index=False)
    a = evaluate(path, group_by="part", chunk_rows=chunk_rows).to_dict()["lm"]
    b = evaluate(seq_path, group_by="part").to_dict()["lm"]
    assert a["overall"]["sequences"] == b["overall"]["sequences"] == len(seqs)
    assert a["overall"]["tokens"] == b["overall"]["tokens"] == len(tokens)
    for key in ("cross_entropy", "perplexity", "bits_per_byte"):
        assert a["overall"][key] == pytest.approx(b["overall"][key], rel=1e-12)
        for ci_a, ci_b in ((a["overall"]["ci95"], b["overall"]["ci95"]),):
            assert ci_a == pytest.approx(ci_b, rel=1e-12)
    for sa, sb in zip(a["groups"]["part"], b["groups"]["part"]):
        assert sa["value"] == sb["value"] and sa["ci95"] == pytest.approx(sb["ci95"], rel=1e-12)
    assert [w["id"] for w in a["worst_sequences"]["rows"]] == [w["id"] for w in b["worst_sequences"]["rows"]]


@pytest.mark.parametrize("chunk_rows", [131_072, 50, 7])
def test_worst_sequences_tied_in_loss_are_the_first_ones_however_the_input_is_cut(tmp_path, chunk_rows):
    """78 sequences lose 5 nats a token each: the worst are the first 20 of them by position (a
    batch once kept its first tied ones while merging kept the last)."""
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 30, 400)
    loss = np.where(rng.uniform(size=400) < 0.2, 5.0, rng.uniform(0.1, 3.0, 400))
    ids = [f"s{i}" for i in range(400)]
    path = tmp_path / "seqs.csv"
    pd.DataFrame({"id": ids, "logprob": -loss * tokens, "tokens": tokens}).to_csv(path, index=False)
    expected = [ids[i] for i in np.flatnonzero(loss == loss.max())[:20]]
    assert [w.id for w in evaluate(path, chunk_rows=chunk_rows).lm.worst] == expected


@pytest.mark.parametrize("rows,where", [
    ("id,logprob,tokens\ns0,-2,4\ns1,-3.4028235e38,5\n", "its tokens' mean"),  # float32's lowest for −inf
    ("id,logprob,tokens\ns0,-2,4\ns1,-1421,2\n", "its tokens' mean"),  # 710.5 nats a token
    ("id,logprob\ns0,-2\ns0,-1e300\ns1,-1\n", "a token's"),
])
def test_a_log_probability_below_any_a_model_gives_is_refused(tmp_path, rows, where):
    """Below −709.78 nats a token (a probability of 5.6e-309) a perplexity passes the largest float:
    such a log-probability stands in for −inf. It was an internal error (OverflowError), exit 3."""
    from test_hardening import one_error_line

    path = tmp_path / "lm.csv"
    path.write_text(rows)
    one_error_line(run(["report", path, "-o", tmp_path / "r.html"]),
                   rf"lm\.csv: column 'logprob': a log-probability of -[\d.e+]+: {where} lies below -709\.78 .* \(rows 2\)")
    assert not (tmp_path / "r.html").exists()
    path.write_text("id,logprob,tokens\ns0,-2,4\ns1,-1419,2\n")  # 709.5 a token: a float
    assert run(["report", path, "-o", tmp_path / "r.html"]).exit_code == 0


def test_a_byte_perplexity_beyond_the_largest_float_is_infinite_not_a_crash(tmp_path):
    """Many unlikely tokens over few bytes: 2,600 nats a byte. The byte perplexity is ∞ on the page,
    null in JSON; the token figures stand (it was an OverflowError, exit 3)."""
    path = tmp_path / "lm.csv"
    path.write_text("id,logprob,tokens,bytes\ns1,-7000,10,2\ns2,-6000,10,3\n")
    out = run(["report", path, "-o", tmp_path / "r.html", "--json", tmp_path / "r.json"])
    assert out.exit_code == 0, out.stdout + out.stderr
    overall = json.loads((tmp_path / "r.json").read_text())["lm"]["overall"]
    assert overall["byte_perplexity"] is None and overall["bits_per_byte"] == pytest.approx(13000 / 5 / math.log(2))
    assert overall["perplexity"] == pytest.approx(math.exp(650.0), rel=1e-12)


def test_a_text_column_counts_its_utf8_bytes(tmp_path):
    path = tmp_path / "s.csv"
    pd.DataFrame({"id": ["a", "b"], "logprob": [-3.0, -5.0], "tokens": [2, 3], "text": ["héllo", "日本"]}).to_csv(
        path, index=False)
    o = evaluate(path).lm.overall
    assert o.bytes == len("héllo".encode()) + len("日本".encode())
    assert o.bits_per_byte == pytest.approx(8.0 / o.bytes / math.log(2))


@pytest.mark.parametrize("content,pattern", [
    ("id,logprob\na,-1\na,-2\nb,-1\na,-3\n", r"column 'id': the tokens of one sequence do not stand together: rows 1 and 4"),
    ("id,logprob,tokens\na,-1,2\nb,-2,3\na,-3,1\n", r"column 'id': an id is repeated \(rows 1 and 3\)"),
    ("id,logprob,tokens\na,-1,2\nb,0.5,3\n", r"column 'logprob': log-probabilities above 0 .* \(rows 2\)"),
    ("id,logprob,tokens\na,-1,2\nb,-inf,3\n", r"column 'logprob': a log-probability of −inf.* \(rows 2\)"),
    ("id,logprob,tokens\na,-1,2\nb,abc,3\n", r"column 'logprob': not a number: 'abc' \(rows 2\)"),
    ("id,logprob,tokens\na,-1,2\nb,,3\n", r"column 'logprob': missing values \(rows 2\)"),
    ("id,logprob,tokens\na,-1,0\n", r"column 'tokens': must be a whole number of tokens, at least 1, got 0"),
    ("id,logprob,tokens\na,-1,2.5\n", r"column 'tokens': must be a whole number of tokens"),
    ("logprob\n-1\n-2\n", r"needs an id column naming each token's sequence"),
    ("id,logprob,part\na,-1,x\na,-2,y\n", r"column 'part': a slice value changes inside a sequence \(its tokens must "
                                          r"share one\) \(rows 2\)"),
], ids=["tokens-apart", "repeated-id", "positive", "minus-inf", "text", "missing", "zero-tokens", "half-token",
        "no-id", "slice-changes"])
def test_bad_language_model_files_are_one_line(tmp_path, content, pattern):
    path = tmp_path / "lm.csv"
    path.write_text(content)
    args = ["--group-by", "part"] if "part" in content else []
    one_error_line(run(["report", path, "-o", tmp_path / "r.html", *args]), pattern)
    assert not (tmp_path / "r.html").exists()


def test_the_report_command_on_sequences(tmp_path):
    _, seqs = _data(2)
    path = tmp_path / "seqs.parquet"
    seqs.to_parquet(path)
    done = run(["report", path, "-o", tmp_path / "r.html", "--json", tmp_path / "r.json", "--markdown",
                tmp_path / "r.md", "--group-by", "part"])
    assert done.exit_code == 0, done.stderr
    assert done.stderr.startswith("cross-entropy ") and "nats per token, perplexity" in done.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["overall"] is None and data["classes"] == []
    assert set(data["lm"]["overall"]) >= {"cross_entropy", "perplexity", "bits_per_token", "bits_per_byte", "ci95"}
    assert [g["value"] for g in data["lm"]["groups"]["part"]] == ["chat", "code", "news"]
    from bs4 import BeautifulSoup

    soup = BeautifulSoup((tmp_path / "r.html").read_text(), "html.parser")
    assert soup.select_one("#lm [data-key=lm_cross_entropy]").get_text().startswith(f"{data['lm']['overall']['cross_entropy']:.4f}")
    assert soup.select_one("#verdict") is None and "no band" in soup.get_text()
    assert "| cross-entropy per token |" in (tmp_path / "r.md").read_text()
    assert run(["report", path, "--label-col", "y", "-o", tmp_path / "x.html"]).exit_code == 2


# --------------------------------------------------------------------------- the interval resamples sequences


def test_the_sequence_interval_covers_where_a_token_interval_is_too_narrow():
    """Coverage by simulation: sequences of varied difficulty (their tokens are not independent);
    the true per-token cross-entropy is E[difficulty] = 2. The interval that resamples sequences
    covers it about 95% of the time; one that resamples tokens, far less."""
    from evalreport.compute import Bootstrap, intervals, replicate_weights
    from evalreport.compute.lm import reduce_sequences
    from evalreport.load.validate import key_hashes

    v = replicate_weights(Bootstrap(200, 0))
    rng = np.random.default_rng(7)
    hits = {"sequences": 0, "tokens": 0}
    trials = 300
    for trial in range(trials):
        lengths = rng.integers(5, 60, 120)
        difficulty = rng.gamma(2.0, 1.0, len(lengths))
        nll_tokens = [rng.exponential(d, n) for d, n in zip(difficulty, lengths)]
        for how in hits:
            if how == "sequences":
                ids = [f"{trial}-{s}" for s in range(len(lengths))]
                nll, tok = np.array([x.sum() for x in nll_tokens]), lengths.astype(float)
            else:  # every token its own unit: what resampling tokens would do
                ids = [f"{trial}-{i}" for i in range(int(lengths.sum()))]
                nll, tok = np.concatenate(nll_tokens), np.ones(int(lengths.sum()))
            s = reduce_sequences(key_hashes(ids), nll, tok, None, None, {}, ids, np.arange(len(ids)))
            lo, hi = intervals(s.blocks[0], s.blocks[1], v)[0]
            hits[how] += lo <= 2.0 <= hi
    coverage = {k: x / trials for k, x in hits.items()}
    assert 0.90 <= coverage["sequences"] <= 0.99, coverage
    assert coverage["tokens"] < 0.80, coverage


# --------------------------------------------------------------------------- multiple choice


def _choices(seed: int = 3, n: int = 240):
    rng = np.random.default_rng(seed)
    lp = np.log(rng.dirichlet(np.full(4, 0.8), n)) - rng.uniform(0, 3, (n, 1))
    gold = rng.integers(0, 4, n)
    subject = np.array(["math", "bio", "law"])[np.arange(n) % 3]
    return lp, gold, subject


def test_multiple_choice_one_row_per_option_and_as_json_objects(tmp_path):
    from sklearn.metrics import log_loss

    lp, gold, subject = _choices()
    letters = np.array(list("ABCD"))
    rows = [{"id": f"q{i}", "option": o, "logprob": float(lp[i, k]), "label": letters[gold[i]], "subject": subject[i]}
            for i in range(len(gold)) for k, o in enumerate(letters)]
    long = pd.DataFrame(rows)
    long.to_csv(tmp_path / "long.csv", index=False)
    long.sample(frac=1.0, random_state=0).to_parquet(tmp_path / "shuffled.parquet")  # rows in any order
    (tmp_path / "objects.jsonl").write_text("".join(
        json.dumps({"id": f"q{i}", "label": str(letters[gold[i]]), "subject": str(subject[i]),
                    "logprobs": dict(zip(letters.tolist(), lp[i].tolist()))}) + "\n" for i in range(len(gold))))
    marked = long.assign(gold=lambda d: d.option == d.label).drop(columns="label")
    marked.to_json(tmp_path / "marked.jsonl", orient="records", lines=True, double_precision=15)
    expected = log_loss(gold, softmax(lp, axis=1), labels=range(4))
    for name in ("long.csv", "shuffled.parquet", "objects.jsonl", "marked.jsonl"):
        r = evaluate(tmp_path / name, group_by="subject")
        assert r.classes == ("A", "B", "C", "D") and r.rows == len(gold), name
        assert r.overall.log_loss == pytest.approx(expected, rel=1e-12 if name != "marked.jsonl" else 1e-9), name
        assert {s.value for s in r.groups["subject"]} == {"math", "bio", "law"}


@pytest.mark.parametrize("mutate,pattern", [
    (lambda d: d.drop(index=5), r"question 'q1' has no log-probability for option 'B' \(absent from the returned top "
                                r"log-probabilities\?\).*write -inf"),
    (lambda d: pd.concat([d, d.iloc[[2]]]), r"question 'q0' has option 'C' twice"),
    (lambda d: d.assign(label=d.label.where(d.index != 1, "Z")), r"question 'q0' has different values on its rows"),
    (lambda d: d.assign(label="E"), r"question 'q0': the gold option 'E' has no row"),
    (lambda d: d.assign(logprob=d.logprob.where(d.index != 3, 0.5)), r"column 'logprob': log-probabilities must be "
                                                                       r"numbers at most 0 .* \(rows 4\)"),
], ids=["gap", "twice", "label-differs", "gold-not-an-option", "positive"])
def test_bad_multiple_choice_files_are_one_line(tmp_path, mutate, pattern):
    lp, gold, _ = _choices(n=30)
    rows = [{"id": f"q{i}", "option": o, "logprob": float(lp[i, k]), "label": "ABCD"[gold[i]]}
            for i in range(len(gold)) for k, o in enumerate("ABCD")]
    path = tmp_path / "mc.csv"
    mutate(pd.DataFrame(rows)).to_csv(path, index=False)
    one_error_line(run(["report", path, "-o", tmp_path / "r.html"]), pattern)


def test_an_option_the_model_gave_no_log_probability_is_minus_inf(tmp_path):
    from sklearn.metrics import log_loss

    path = tmp_path / "mc.csv"
    path.write_text("id,option,logprob,label\nq0,A,-0.1,A\nq0,B,-inf,A\nq1,A,-2.0,B\nq1,B,-0.2,B\nq2,A,-1,A\nq2,B,-1,A\n")
    r = evaluate(path)
    q = np.array([[1.0, 0.0], softmax([-2.0, -0.2]), [0.5, 0.5]])
    assert r.overall.log_loss == pytest.approx(log_loss([0, 1, 0], q), rel=1e-12)


def test_json_lines_are_a_first_class_input_for_a_classifier_too(tmp_path, examples):
    df = pd.read_csv(examples / "iris_predictions.csv")
    path = tmp_path / "iris.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in df.to_dict("records")))
    a = evaluate(path, group_by="fold").to_dict()
    b = evaluate(examples / "iris_predictions.csv", group_by="fold").to_dict()
    a.pop("input"), b.pop("input")
    assert a == b
    bad = tmp_path / "bad.jsonl"
    bad.write_text(path.read_text().replace('"label": "setosa"', '"label": [1]', 1))
    one_error_line(run(["report", bad, "-o", tmp_path / "r.html"]), r"bad\.jsonl: line 1: field 'label': \[1\] where one value belongs")
    cut = tmp_path / "cut.jsonl"
    cut.write_text(path.read_text()[:-40])
    one_error_line(run(["report", cut, "-o", tmp_path / "r.html"]), r"cut\.jsonl: line 150: not valid JSON \(the line is cut short")


# --------------------------------------------------------------------------- two models on the same sequences


def test_compare_two_sequence_files_with_a_numpy_paired_bootstrap(tmp_path):
    from evalreport import compare
    from evalreport.compute import Bootstrap, replicate_weights
    from evalreport.compute.lm import sequence_blocks
    from evalreport.load.validate import key_hashes

    _, a = _data(4)
    rng = np.random.default_rng(5)
    b = a.assign(logprob=a.logprob * rng.uniform(0.8, 1.05, len(a)))
    a.to_csv(tmp_path / "a.csv", index=False)
    b.sample(frac=1.0, random_state=1).to_parquet(tmp_path / "b.parquet")  # another order, another format
    c = compare(tmp_path / "a.csv", tmp_path / "b.parquet", group_by="part")
    d = c.lm.overall["cross_entropy"]
    ce = lambda df: -df.logprob.sum() / df.tokens.sum()  # noqa: E731
    assert d.difference == pytest.approx(ce(b) - ce(a), rel=1e-12) and c.score is d
    w = replicate_weights(Bootstrap(200, 0))[sequence_blocks(key_hashes(a.id.tolist()))].astype(float)
    diff = (w.T @ -b.logprob.to_numpy()) / (w.T @ b.tokens.to_numpy()) - (w.T @ -a.logprob.to_numpy()) / (
        w.T @ a.tokens.to_numpy())
    assert d.ci95 == pytest.approx(tuple(np.percentile(diff, [2.5, 97.5])), rel=1e-12)
    assert {x.name for x in c.lm.groups["part"]} == {"news", "code", "chat"}
    done = run(["compare", tmp_path / "a.csv", tmp_path / "b.parquet", "-o", tmp_path / "c.html", "--json",
                tmp_path / "c.json", "--markdown", tmp_path / "c.md"])
    assert done.exit_code == 0, done.stderr
    data = json.loads((tmp_path / "c.json").read_text())
    assert data["lm"]["overall"]["cross_entropy"]["ci95"] == pytest.approx(list(d.ci95))
    assert data["difference"]["of"] == "cross_entropy"
    gate = run(["check", tmp_path / "b.parquet", "--baseline", tmp_path / "a.csv", "--max-regression", "0",
                "--significant"])
    assert gate.exit_code == (1 if d.ci95[0] > 0 else 0), gate.stdout
    b.iloc[1:].to_csv(tmp_path / "fewer.csv", index=False)
    one_error_line(run(["compare", tmp_path / "a.csv", tmp_path / "fewer.csv", "-o", tmp_path / "c.html"]),
                   r"fewer\.csv: its sequences differ from the baseline's \(299 here, 300 there, matched by id\)")


def test_the_paired_interval_covers_the_true_difference():
    """Coverage by simulation: a candidate whose tokens cost 0.1 nats more on average, with an offset
    per sequence (its tokens move together) — the paired interval covers 0.1 about 95% of the time."""
    from evalreport.compute import Bootstrap, paired_intervals, replicate_weights
    from evalreport.compute.lm import reduce_sequences
    from evalreport.load.validate import key_hashes

    v = replicate_weights(Bootstrap(200, 0))
    rng = np.random.default_rng(11)
    hits, trials = 0, 300
    for trial in range(trials):
        lengths = rng.integers(5, 60, 120)
        base = [rng.exponential(d, n) for d, n in zip(rng.gamma(2.0, 1.0, len(lengths)), lengths)]
        cand = [x + 0.1 + u + rng.normal(0, 0.3, len(x)) for x, u in zip(base, rng.normal(0, 0.3, len(lengths)))]
        ids = [f"{trial}-{s}" for s in range(len(lengths))]
        sa, sb = (reduce_sequences(key_hashes(ids), np.array([x.sum() for x in side]), lengths.astype(float), None,
                                   None, {}, ids, np.arange(len(ids))) for side in (base, cand))
        lo, hi = paired_intervals(sa.blocks[0], sa.blocks[1], sb.blocks[0], sb.blocks[1], v)[0]
        hits += lo <= 0.1 <= hi
    assert 0.90 <= hits / trials <= 0.99, hits / trials


def test_lm_gates_on_a_sequence_file(tmp_path):
    _, seqs = _data(6)
    path = tmp_path / "s.csv"
    seqs.to_csv(path, index=False)
    o = evaluate(path).lm.overall
    assert run(["check", path, "--max-perplexity", f"{o.perplexity + 0.01:.4f}"]).exit_code == 0
    assert run(["check", path, "--max-perplexity", f"{o.perplexity - 0.01:.4f}"]).exit_code == 1
    assert run(["check", path, "--max-bits-per-byte", f"{o.bits_per_byte - 0.01:.4f}"]).exit_code == 1
    # below the point, above the interval's lower end by far more than its Monte Carlo error: passes
    assert run(["check", path, "--max-bits-per-byte", f"{(o.bits_per_byte_ci95[0] + o.bits_per_byte) / 2:.4f}",
                "--significant"]).exit_code == 0
    # at the lower end itself: another seed could flip it, so it fails closed as too close to call
    close = run(["check", path, "--max-bits-per-byte", f"{o.bits_per_byte_ci95[0]:.4f}", "--significant",
                 "--json", tmp_path / "close.json"])
    (gate,) = json.loads((tmp_path / "close.json").read_text())["gates"]
    assert close.exit_code == 1 and gate["too_close"] and "too close to call" in gate["detail"]
    one_error_line(run(["check", path, "--max-band", "fine"]), r"--max-band grades a distribution over classes")
    one_error_line(run(["check", path, "--min-acc", "0.5"]), r"--min-acc gates multiple-choice tasks")
    mc = tmp_path / "mc.csv"
    mc.write_text("id,option,logprob,label\nq0,A,-0.1,A\nq0,B,-3,A\nq1,A,-2.0,B\nq1,B,-0.2,B\nq2,A,-1,B\nq2,B,-2,B\n")
    assert run(["check", mc, "--min-acc", "0.6"]).exit_code == 0 and run(["check", mc, "--min-acc", "0.7"]).exit_code == 1


def test_sequence_sums_merge_the_same_however_the_sequences_are_split():
    """The sums of sequences add up: two parts (two partitions, two chunks) merged equal the whole,
    figures and intervals to 1e-12."""
    from evalreport.compute import Bootstrap
    from evalreport.compute.lm import SequenceStats, reduce_sequences
    from evalreport.interpret_lm import sequence_section
    from evalreport.load.validate import key_hashes

    _, seqs = _data(8)
    codes = pd.factorize(seqs.part)[0]
    values = list(pd.factorize(seqs.part)[1])

    def reduce(rows):
        part = seqs.iloc[rows]
        c = codes[rows]
        used = sorted(set(c))
        remap = {old: new for new, old in enumerate(used)}
        return reduce_sequences(key_hashes(part.id.tolist()), -part.logprob.to_numpy(), part.tokens.to_numpy(float),
                                part.bytes.to_numpy(float), None,
                                {"part": (np.array([remap[x] for x in c]), [values[u] for u in used])},
                                part.id.tolist(), np.arange(len(part)))

    whole = reduce(np.arange(len(seqs)))
    for cut in (1, 77, 250):
        merged = SequenceStats()
        merged += reduce(np.arange(cut))
        merged += reduce(np.arange(cut, len(seqs)))
        a = sequence_section(whole, "sequences", Bootstrap(200, 0), "nats", 100, [])
        b = sequence_section(merged, "sequences", Bootstrap(200, 0), "nats", 100, [])
        assert b.overall.cross_entropy == pytest.approx(a.overall.cross_entropy, rel=1e-12)
        assert b.overall.ci95 == pytest.approx(a.overall.ci95, rel=1e-12)
        ours = {s.value: s.figures.ci95 for s in b.groups["part"]}
        for s in a.groups["part"]:
            assert ours[s.value] == pytest.approx(s.figures.ci95, rel=1e-12)
        assert [w.id for w in b.worst] == [w.id for w in a.worst]


def test_log_probability_columns_under_other_names_get_a_hint(tmp_path):
    path = tmp_path / "lm.csv"
    path.write_text("id,task,sum_logprob,n_tokens,n_bytes\na,x,-3,2,5\n")
    one_error_line(run(["report", path, "-o", tmp_path / "r.html"]),
                   r"a language model's log-probabilities\? name the column 'logprob' .* 'sum_logprob' is not read by "
                   r"its name")
