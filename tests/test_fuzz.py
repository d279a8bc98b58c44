"""Fuzzing the command line over files and options (issue 10).

Whatever the input bytes and option values, every run must end in one of the
documented ways: exit 0 (done), 1 (check: a gate failed) or 2 (bad input or
usage) — never 3, never a traceback; on exit 2 exactly one line on stderr, no
output file written and every pre-existing output untouched; on success every
output parses (JSON, JUnit XML, each SVG chart of the HTML, Markdown).

In CI the examples are derandomised, so the suite is the same every run (a CI
gate must not flake); ``HYPOTHESIS_PROFILE=fuzz pytest tests/test_fuzz.py``
explores far more, at random.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import xml.etree.ElementTree as ET

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES, run
from test_hardening import _svgs

settings.register_profile("ci", max_examples=50, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("fuzz-short", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")

_IRIS = pd.read_csv(EXAMPLES / "iris_predictions.csv").iloc[::5].reset_index(drop=True)  # 30 rows
_SOFT = pd.read_csv(EXAMPLES / "iris_soft_targets.csv").iloc[::5].reset_index(drop=True)
_SCORE = pd.read_csv(EXAMPLES / "breast_cancer_predictions.csv").iloc[::19].reset_index(drop=True)


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def _parquet(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf)
    return buf.getvalue()


def _jsonl(df: pd.DataFrame) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in df.to_dict("records")).encode()


#: A language model's output: sequences, tokens, options (one row each, and as JSON objects), and the
#: first lines of a samples file lm-eval wrote (examples/lm_eval).
_SEQUENCES = pd.DataFrame({"id": [f"s{i}" for i in range(12)], "logprob": [-3.5 * (i + 1) for i in range(12)],
                           "tokens": [i + 2 for i in range(12)], "bytes": [4 * i + 9 for i in range(12)],
                           "part": ["a", "b", "c"] * 4})
_TOKENS = pd.DataFrame({"id": [f"s{i // 4}" for i in range(40)], "logprob": [-0.1 - (i % 7) / 3 for i in range(40)],
                        "bytes": [1 + i % 5 for i in range(40)]})
_OPTIONS = pd.DataFrame({"id": [f"q{i // 4}" for i in range(40)], "option": list("ABCD") * 10,
                         "logprob": [-0.2 - (i % 5) for i in range(40)], "label": [("ABCD")[(i // 4) % 4] for i in range(40)]})
_OBJECTS = b"".join(json.dumps({"id": f"q{q}", "label": "AB"[q % 2], "logprobs": {"A": -0.3 - q / 10, "B": -1.5}}).encode()
                    + b"\n" for q in range(10))
_SAMPLES = b"".join(next((EXAMPLES / "lm_eval" / "runs" / "step2000" / "char-ngram").glob("samples_nextword4_*.jsonl"))
                    .read_bytes().splitlines(keepends=True)[:8])

VALID = {
    "csv": _csv(_IRIS),
    "soft": _csv(_SOFT),
    "score": _csv(_SCORE),
    "gzip": gzip.compress(_csv(_IRIS), mtime=0),
    "parquet": _parquet(_IRIS),
    "jsonl": _jsonl(_IRIS),
    "sequences": _csv(_SEQUENCES),
    "tokens": _jsonl(_TOKENS),
    "options": _csv(_OPTIONS),
    "objects": _OBJECTS,
    "lm-eval samples": _SAMPLES,
}


@st.composite
def file_bytes(draw) -> bytes:
    """Random bytes, or a valid file truncated, overwritten in places, or with bytes inserted."""
    kind = draw(st.sampled_from(["random", "truncate", "overwrite", "insert", "valid", "valid", "valid"]))
    if kind == "random":
        return draw(st.binary(max_size=2048))
    base = VALID[draw(st.sampled_from(sorted(VALID)))]
    if kind == "valid":
        return base
    at = draw(st.integers(0, len(base)))
    if kind == "truncate":
        return base[:at]
    junk = draw(st.binary(min_size=1, max_size=64) | st.sampled_from([b'"', b"\n", b",", b"\r", b"\x00", b"\xff",
                                                                         b"nan", b"-1", b"1e309", b'""', b"\r\n"]))
    if kind == "overwrite":
        return base[:at] + junk + base[at + len(junk):]
    return base[:at] + junk + base[at:]


_TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)
_NUMBER = st.sampled_from(["0", "1e-300", "1e307", "nan", "inf", "-inf", "-1", "0.5", "2", "abc", ""])
_INT = st.sampled_from(["0", "4", "-4", "200", "10000", "10004", "3", "abc", str(2**64)])
_NAME = st.sampled_from(["label", "fold", "id", "w", "score", "p_setosa", "t_", "p_", ""]) | _TEXT

#: option → strategy of its value (None: a flag)
INPUT_OPTIONS = {
    "--label-col": _NAME, "--prob-prefix": st.sampled_from(["p_", "t_", "p", ""]) | _TEXT, "--score-col": _NAME,
    "--positive-label": st.sampled_from(["1", "0", "True", "x"]), "--target-prefix": st.sampled_from(["t_", "p_"]),
    "--logits": None, "--weight-col": _NAME, "--group-by": _NAME, "--id-col": _NAME,
    "--unit": st.sampled_from(["nats", "bits", "furlongs"]), "--eps": _NUMBER, "--renormalize": None,
    "--bootstrap": _INT, "--seed": _INT, "--max-slices": _INT, "--filter": st.sampled_from(["none", "strict", ""]), "--bands": st.sampled_from(
        ["great=0.01", "fine=0.1,great=0.5", "x=1", "great=nan", "great=", "="]) | _TEXT,
}
GATES = {
    "--max-score": _NUMBER, "--max-band": st.sampled_from(["fine", "broken", "perfect", "nope"]),
    "--max-class-score": _NUMBER, "--max-class-band": st.sampled_from(["fine", "x"]), "--min-accuracy": _NUMBER,
    "--max-ece": _NUMBER, "--significant": None, "--max-bits-per-byte": _NUMBER, "--max-perplexity": _NUMBER,
    "--min-acc": _NUMBER,
}


@st.composite
def options(draw, pool: dict) -> list[str]:
    out = []
    if draw(st.booleans()):
        return out  # half the runs with the defaults, so that valid files reach their outputs
    for name in draw(st.lists(st.sampled_from(sorted(pool)), max_size=3, unique=True)):
        out.append(name)
        if pool[name] is not None:
            out.append(draw(pool[name]))
    return out


def _check_outcome(result, out_dir, written: dict, before: dict) -> None:
    """The invariants of every run (see the module's notes)."""
    err = result.stderr
    assert result.exit_code in (0, 1, 2), (result.exit_code, err)
    assert "Traceback" not in err + result.stdout, err
    leftovers = [p.name for p in out_dir.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, leftovers
    if result.exit_code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("evalreport: error: "), err
        for path, content in before.items():
            assert path.read_bytes() == content, path  # untouched
        for path in written:
            assert not path.exists() or path in before, path
        return
    for path, kind in written.items():
        data = path.read_bytes()
        if kind == "json":
            json.loads(data)
        elif kind == "xml":
            ET.fromstring(data)
        elif kind == "markdown":
            from markdown_it import MarkdownIt

            MarkdownIt("gfm-like").parse(data.decode("utf-8"))
        elif kind == "html":
            text = data.decode("utf-8")
            assert text.startswith("<!DOCTYPE html>")
            for svg in _svgs(text):
                ET.fromstring(svg)


@pytest.fixture
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _prepare(workdir, content: bytes, name: str = "preds.csv"):
    for p in workdir.iterdir():
        p.unlink()
    src = workdir / name
    src.write_bytes(content)
    keep = workdir / "report.html"
    keep.write_bytes(b"an earlier report")
    return src, keep


@settings(settings.get_profile(PROFILE))
@given(content=file_bytes(), opts=options(INPUT_OPTIONS), name=st.sampled_from(["preds.csv", "preds.csv.gz",
                                                                                  "preds.parquet", "preds.jsonl"]))
def test_fuzz_report(workdir, content, opts, name):
    src, keep = _prepare(workdir, content, name)
    written = {keep: "html", workdir / "m.json": "json", workdir / "s.md": "markdown"}
    result = run(["report", src, "-o", keep, "--json", workdir / "m.json", "--markdown", workdir / "s.md", *opts])
    _check_outcome(result, workdir, written, {keep: b"an earlier report"})


@settings(settings.get_profile(PROFILE))
@given(content=file_bytes(), opts=options(INPUT_OPTIONS), gates=options(GATES))
def test_fuzz_check(workdir, content, opts, gates):
    src, keep = _prepare(workdir, content)
    written = {workdir / "c.json": "json", workdir / "c.md": "markdown", workdir / "j.xml": "xml"}
    result = run(["check", src, "--json", workdir / "c.json", "--markdown", workdir / "c.md", "--junit",
                  workdir / "j.xml", *(gates or ["--max-score", "1"]), *opts])
    _check_outcome(result, workdir, written, {keep: b"an earlier report"})
    if result.exit_code in (0, 1):
        assert json.loads((workdir / "c.json").read_text())["passed"] == (result.exit_code == 0)


@settings(settings.get_profile(PROFILE))
@given(base=file_bytes(), cand=file_bytes(), same=st.booleans(), opts=options(INPUT_OPTIONS))
def test_fuzz_compare(workdir, base, cand, same, opts):
    cand = base if same else cand
    src, keep = _prepare(workdir, base)
    other = workdir / "cand.csv"
    other.write_bytes(cand)
    written = {keep: "html", workdir / "c.json": "json"}
    result = run(["compare", src, other, "-o", keep, "--json", workdir / "c.json", *opts])
    _check_outcome(result, workdir, written, {keep: b"an earlier report"})
