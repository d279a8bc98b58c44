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

import numpy as np
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
    import shutil

    for p in workdir.iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()
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


# --------------------------------------------------------------------------- where evalreport meets other systems (issue 23)

_TOML_VALUE = st.recursive(
    st.one_of(st.integers(min_value=-(10 ** 400), max_value=10 ** 400), st.floats(allow_nan=True), st.booleans(),
              _TEXT, st.sampled_from(["fine", "great", "0.1", "nan"])),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=6)
_TOML_KEY = st.sampled_from(["bands", "gates", "tasks", "baseline", "max_score", "great", "fine", "min_accuracy",
                             "max_band", "significant", "max_regression", "min_acc", "x"])


def _toml(value, depth: int = 0) -> str:
    """A TOML value written out (inline tables and arrays), as a user might write one."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value == float("inf") else "-inf" if value == float("-inf")
                                             else repr(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v, depth + 1) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v, depth + 1)}" for k, v in value.items()) + "}"


@settings(settings.get_profile(PROFILE))
@given(tables=st.dictionaries(_TOML_KEY, st.dictionaries(_TOML_KEY, _TOML_VALUE, max_size=4), max_size=3),
       raw=st.sampled_from(["", "[bands\n", "a = " + "[" * 3000 + "]" * 3000, "\x00", "[gates]\nmax_score = 1\n"]),
       command=st.sampled_from(["report", "check"]))
def test_fuzz_settings_files(workdir, tables, raw, command):
    src, keep = _prepare(workdir, VALID["csv"])
    text = raw + "".join(f"[{k}]\n" + "".join(f"{json.dumps(str(kk))} = {_toml(v)}\n" for kk, v in t.items())
                         for k, t in tables.items())
    (workdir / "evalreport.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
    written = {workdir / "c.json": "json"}
    args = (["report", src, "-o", keep, "--json", workdir / "c.json"] if command == "report"
            else ["check", src, "--json", workdir / "c.json"])
    result = run([*args, "--config", workdir / "evalreport.toml"])
    if command == "check" and result.exit_code == 2 and "no gates to check" in result.stderr:
        return
    _check_outcome(result, workdir, written, {keep: b"an earlier report"})


def _valid_report_json() -> dict:
    from evalreport import evaluate

    return evaluate(_IRIS, bootstrap=0).to_dict()


_REPORT_JSON = _valid_report_json()


@settings(settings.get_profile(PROFILE))
@given(path=st.lists(st.sampled_from(["overall", "band_score", "rows", "classes", "unit", "targets", "eps", "weighted",
                                      "report", 0]),
                     max_size=3),
       value=_TOML_VALUE | st.none(), raw=st.sampled_from([None, b"", b"{", b"[]", b"null", b'{"overall": 1}']))
def test_fuzz_json_baselines(workdir, path, value, raw):
    import copy

    src, keep = _prepare(workdir, VALID["csv"])
    data = copy.deepcopy(_REPORT_JSON)
    target = data
    for key in path[:-1]:
        target = target.get(key) if isinstance(target, dict) and isinstance(key, str) else None
        if not isinstance(target, dict):
            break
    if isinstance(target, dict) and path and isinstance(path[-1], str):
        target[path[-1]] = value
    base = workdir / "base.json"
    base.write_bytes(raw if raw is not None else json.dumps(data, default=str).encode())
    written = {workdir / "c.json": "json"}
    result = run(["check", src, "--baseline", base, "--max-regression", "0.1", "--json", workdir / "c.json"])
    _check_outcome(result, workdir, written, {keep: b"an earlier report"})
    if result.exit_code in (0, 1):  # a gate decided: only on a baseline score that is a JSON number
        score = json.loads(base.read_bytes())
        score = (score.get("report") or score) if isinstance(score, dict) else {}
        assert isinstance((score.get("overall") or {}).get("band_score"), (int, float))


_KINDS = [None, 0, 7, 1.5, "", "label", b"x", ("fold", "x"), ["fold"], {"a": 1}, np.zeros(3), np.zeros((2, 2)),
          np.array([1 + 1j, 2]), [1, 2, 3], object()]


@settings(settings.get_profile(PROFILE))
@given(data=st.sampled_from(_KINDS + ["df", "path"]), proba=st.sampled_from(_KINDS + [None] * 4),
       option=st.sampled_from(["group_by", "label_col", "weight_col", "id_col", "classes", "unit", "eps", "bootstrap",
                               "max_slices", "positive_label", None]),
       value=st.sampled_from(_KINDS), compare_too=st.booleans())
def test_fuzz_python_arguments(data, proba, option, value, compare_too):
    """Whatever evaluate() and compare() are given, they return a result or raise what they document:
    an EvalReportError (InputError, UsageError) or a TypeError naming what they read — never another
    exception from deep inside."""
    from evalreport import EvalReportError, compare, evaluate

    data = _IRIS if isinstance(data, str) and data == "df" else EXAMPLES / "iris_predictions.csv" \
        if isinstance(data, str) and data == "path" else data
    kwargs = {option: value} if option else {}
    try:
        evaluate(data, proba, **kwargs, bootstrap=0)
    except (EvalReportError, TypeError) as err:
        assert "Traceback" not in str(err) and len(str(err)) < 2000
    if compare_too:
        try:
            compare(data, _IRIS, **{k: v for k, v in kwargs.items()}, bootstrap=0)
        except (EvalReportError, TypeError) as err:
            assert len(str(err)) < 2000


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        with distributed.Client(lc) as client:
            yield client


@settings(settings.get_profile(PROFILE), max_examples=min(settings.get_profile(PROFILE).max_examples, 10))
@given(cuts=st.lists(st.integers(1, 29), max_size=4, unique=True), kind=st.sampled_from(["csv", "parquet"]),
       spoil=st.sampled_from([None, "truncate", "drop-column", "empty", "junk", "bad-value"]), which=st.integers(0, 4),
       opts=options(INPUT_OPTIONS))
def test_fuzz_dask_parts(workdir, cluster, cuts, kind, spoil, which, opts):
    """A valid file split into parts at random, one part spoiled at times, under --engine dask: the
    outcomes of one machine (exit 0 or one line, exit 2), never a worker's traceback."""
    import shutil

    src, keep = _prepare(workdir, VALID["csv"])
    parts = workdir / "parts"
    if parts.exists():
        shutil.rmtree(parts)
    parts.mkdir()
    bounds = [0, *sorted(cuts), len(_IRIS)]
    files = []
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        part = _IRIS.iloc[a:b]
        path = parts / f"part-{i}.{kind}"
        part.to_parquet(path, index=False) if kind == "parquet" else part.to_csv(path, index=False)
        files.append(path)
    target = files[which % len(files)]
    if spoil == "truncate":
        target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2])
    elif spoil == "empty":
        target.write_bytes(b"")
    elif spoil == "junk":
        target.write_bytes(b"\x00\xff junk")
    elif spoil == "drop-column":
        part = _IRIS.drop(columns=["p_setosa"]).iloc[:5]
        part.to_parquet(target, index=False) if kind == "parquet" else part.to_csv(target, index=False)
    elif spoil == "bad-value":
        part = _IRIS.iloc[:5].assign(p_setosa=2.0)
        part.to_parquet(target, index=False) if kind == "parquet" else part.to_csv(target, index=False)
    written = {keep: "html", workdir / "m.json": "json"}
    opts = [o for o in opts if o not in ("--bootstrap",)]
    result = run(["report", parts, "--engine", "dask", "--scheduler", cluster.scheduler.address, "-o", keep, "--json",
                  workdir / "m.json", *opts])
    _check_outcome(result, workdir, written, {keep: b"an earlier report"})
