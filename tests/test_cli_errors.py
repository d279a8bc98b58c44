"""Every bad input: exit code 2, one clear line (file, column, rows), no output file left."""

from __future__ import annotations

import gzip
import re

import pandas as pd
import pytest

from evalreport import InputError, evaluate

from conftest import run

HEADER = "label,p_a,p_b\n"
GOOD = "a,0.5,0.5\n"

# id, file bytes (None: no file), extra CLI args, regex the one-line message must match
CASES = [
    ("missing-file", None, [], r"preds\.csv: no such file"),
    ("empty-file", b"", [], r"preds\.csv: the file is empty"),
    ("header-only", HEADER.encode(), [], r"preds\.csv: has a header but no rows"),
    ("blank-lines-only", b"\n\n", [], r"preds\.csv: the file is empty"),
    ("no-label-column", b"y,p_a,p_b\na,0.5,0.5\n", [], r"preds\.csv: no label column 'label'; the columns are 'y', 'p_a', 'p_b'; name the right one with --label-col"),
    ("no-prob-columns", b"label,a,b\na,0.5,0.5\n", [], r"preds\.csv: no probability columns \(no column name starts with 'p_'\)"),
    ("one-prob-column", b"label,p_a\na,1\n", [], r"column 'p_a': only one probability column"),
    ("missing-probability", (HEADER + GOOD + "b,,0.5\n").encode(), [], r"preds\.csv: column 'p_a': missing values \(rows 2\)"),
    ("NA-probability", (HEADER + GOOD + GOOD + "b,0.5,NA\n").encode(), [], r"column 'p_b': missing values \(rows 3\)"),
    ("non-numeric", (HEADER + GOOD + "b,abc,0.5\nb,x,0.5\n").encode(), [], r"column 'p_a': values that are not numbers \(rows 2, 3\); e\.g\. 'abc'"),
    ("above-one", (HEADER + GOOD + "b,1.2,-0.2\n").encode(), [], r"column 'p_a': probabilities outside \[0, 1\] \(rows 2\); e\.g\. 1\.2"),
    ("negative", (HEADER + "b,0.5,-0.1\n").encode(), [], r"column 'p_b': probabilities outside \[0, 1\] \(rows 1\)"),
    ("infinite-probability", (HEADER + GOOD + "b,inf,0\n").encode(), [], r"column 'p_a': probabilities outside \[0, 1\] \(rows 2\); e\.g\. inf\s*$"),
    ("rounding-noise", (HEADER + GOOD + "b,1.0000000000000002,0\n").encode(), [], r"column 'p_a': probabilities outside \[0, 1\] \(rows 2\); e\.g\. 1\.0000000000000002; only a hair outside, as arithmetic leaves it .*: clip them to \[0, 1\] first, e\.g\. numpy\.clip\(p, 0, 1\)"),
    ("rounding-noise-target", b"p_a,p_b,t_a,t_b\n0.5,0.5,1,-2e-16\n", ["--target-prefix", "t_"], r"column 't_b': targets outside \[0, 1\] \(rows 1\); e\.g\. -2e-16; only a hair outside"),
    ("percentages", (HEADER + "a,20,80\nb,70,30\n").encode(), [], r"column 'p_a': probabilities outside \[0, 1\] \(rows 1, 2\); e\.g\. 20; these look like percentages \(from 0 to 100, each row summing to 100\): divide them by 100"),
    ("not-summing", (HEADER + GOOD + "a,0.5,0.4\n" + "b,0.6,0.6\n").encode(), [], r"column 'p_\*': probabilities do not sum to 1 \(within 0\.001\) \(rows 2, 3\); the first sums to 0\.9; pass --renormalize"),
    ("unknown-label", (HEADER + GOOD + "c,0.5,0.5\nd,0.5,0.5\n").encode(), [], r"column 'label': labels that have no probability column \(rows 2, 3\); found 'c', 'd'; the classes \(from the 'p_\*' columns\) are 'a', 'b'"),
    ("float-labels", b"label,p_0,p_1\n1.0,0.5,0.5\n", [], r"labels that have no probability column \(rows 1\).*written as floats"),
    ("labels-in-another-case", b"label,p_true,p_false\nTrue,0.8,0.2\nFalse,0.1,0.9\n", [], r"labels that have no probability column \(rows 1, 2\); found 'True', 'False'.* — they differ from the class names only in case \('True' against 'true'\): rename"),
    ("labels-as-positions", b"label,p_setosa,p_versicolor\n0,0.8,0.2\n1,0.1,0.9\n", [], r"found '0', '1'; the classes .* are 'setosa', 'versicolor' — the labels look like class positions \(0 to 1\): write the class names instead"),
    ("labels-with-spaces", b"label,p_a,p_b\n a,0.8,0.2\nb ,0.1,0.9\n", [], r"found ' a', 'b '.* — the labels have spaces around them; strip them"),
    ("class-read-as-slice", b"label,p_a,p_b,p_c\na,0.5,0.3,0.2\nc,0.1,0.1,0.8\n", ["--group-by", "p_c"], r"column 'p_\*': probabilities do not sum to 1, but would with column 'p_c', read as the --group-by column \(rows 1, 2\); it looks like the probability column of class 'c'; a column cannot be both"),
    ("class-read-as-weight", b"label,p_a,p_b,p_c\na,0.5,0.3,0.2\nb,0.1,0.1,0.8\n", ["--weight-col", "p_c", "--renormalize"], r"but would with column 'p_c', read as the --weight-col column"),
    ("percent-signs", (HEADER + "a,80%,20%\n").encode(), [], r"column 'p_a': values that are not numbers \(rows 1\); e\.g\. '80%'; percentages with a % sign: write each as a number \(80% is 0\.8\)"),
    ("excel-sep-line", b"sep=;\nlabel;p_a;p_b\na;0,8;0,2\n", [], r"preds\.csv: the first line, 'sep=;', is Excel's note of the delimiter; delete that line, and pass --delimiter ';'"),
    ("excel-sep-line-same", b"sep=,\n" + (HEADER + GOOD).encode(), [], r"the first line, 'sep=,', is Excel's note of the delimiter; delete that line\s*$"),
    ("header-repeated", (HEADER + GOOD + HEADER + GOOD).encode(), [], r"column 'p_a': values that are not numbers \(rows 2\); e\.g\. 'p_a'; that row repeats the header: were files joined with cat\?"),
    ("missing-label", (HEADER + GOOD + ",0.5,0.5\n").encode(), [], r"column 'label': missing labels \(rows 2\)"),
    ("non-finite-logits", (HEADER + "a,1.5,-2\nb,inf,0\n").encode(), ["--logits"], r"column 'p_a': logits of \+∞ or NaN \(rows 2\); −∞ \(a probability of 0\) is read as such"),
    ("all-logits-minus-infinity", (HEADER + "a,1.5,-2\nb,-inf,-inf\n").encode(), ["--logits"], r"column 'p_\*': every logit of the row is −∞ \(rows 2\)"),
    ("not-utf8", (HEADER + GOOD + "\xe9,0.5,0.5\n").encode("latin-1"), [], r"preds\.csv: is not UTF-8 text \(first bad byte at offset 24, row 2\); re-save it as UTF-8"),
    ("negative-weight", b"label,p_a,p_b,w\na,0.5,0.5,1\nb,0.5,0.5,-1\n", ["--weight-col", "w"], r"column 'w': weights must be finite and not negative \(rows 2\)"),
    ("missing-weight", b"label,p_a,p_b,w\na,0.5,0.5,\nb,0.5,0.5,1\n", ["--weight-col", "w"], r"column 'w': missing values \(rows 1\)"),
    ("zero-weights", b"label,p_a,p_b,w\na,0.5,0.5,0\n", ["--weight-col", "w"], r"column 'w': the weights sum to 0"),
    ("no-weight-column", (HEADER + GOOD).encode(), ["--weight-col", "w"], r"no weight column 'w'"),
    ("no-group-column", (HEADER + GOOD).encode(), ["--group-by", "fold"], r"preds\.csv: no --group-by column 'fold'"),
    ("group-by-two-in-one", b"label,fold,site,p_a,p_b\na,1,x,0.5,0.5\n", ["--group-by", "fold,site"], r"no --group-by column 'fold,site'; to slice by several columns, name each: --group-by fold --group-by site"),
    ("no-id-column", (HEADER + GOOD).encode(), ["--id-col", "key"], r"no id column 'key'"),
    ("no-score-column", (HEADER + GOOD).encode(), ["--score-col", "s"], r"no score column 's'"),
    ("score-outside", b"label,s\n1,0.5\n0,1.5\n", ["--score-col", "s"], r"column 's': probabilities outside \[0, 1\] \(rows 2\)"),
    ("score-three-labels", b"label,s\n1,0.5\n0,0.5\n2,0.1\n", ["--score-col", "s"], r"column 'label': --score-col needs a binary label.*\(rows 3\); values seen: '1', '0', '2'"),
    ("score-wrong-positive", b"label,s\nyes,0.5\nno,0.5\n", ["--score-col", "s"], r"the positive label '1' does not occur; the labels are 'yes', 'no' \(rows 1, 2\); pass --positive-label yes"),
    ("soft-target-sum", b"p_a,p_b,t_a,t_b\n0.5,0.5,0.5,0.4\n", ["--target-prefix", "t_"], r"column 't_\*': targets do not sum to 1"),
    ("soft-unknown-target", b"p_a,p_b,t_a,t_c\n0.5,0.5,0.5,0.5\n", ["--target-prefix", "t_"], r"column 't_c': target column for a class that has no probability column"),
    ("soft-no-targets", b"p_a,p_b\n0.5,0.5\n", ["--target-prefix", "t_"], r"no target columns"),
    ("broken-gzip", b"\x1f\x8b\x08\x00garbage", [], r"preds\.csv: cannot be read as gzip-compressed CSV"),
    ("gzip-parquet", gzip.compress(b"PAR1" + bytes(32)), [], r"preds\.csv: is a gzip-compressed Parquet file; decompress it \(gunzip\)"),
    ("gzip-feather", gzip.compress(b"ARROW1" + bytes(32)), [], r"preds\.csv: is a gzip-compressed Arrow IPC \(Feather\) file"),
    ("broken-parquet", b"PAR1 this is not parquet", [], r"preds\.csv: is not a readable Parquet file"),
    ("bad-unit", (HEADER + GOOD).encode(), ["--unit", "furlongs"], r"furlongs"),
    ("bad-eps", (HEADER + GOOD).encode(), ["--eps", "0"], r"--eps must lie in \(0, 0\.5\)"),
    ("bad-bands", (HEADER + GOOD).encode(), ["--bands", "great=0.5"], r"--bands: band thresholds must increase"),
    ("unknown-band", (HEADER + GOOD).encode(), ["--bands", "superb=0.001"], r"--bands: unknown band 'superb'"),
]


@pytest.mark.parametrize("case_id,content,args,pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_line_and_no_output(tmp_path, case_id, content, args, pattern):
    src = tmp_path / "preds.csv"
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    result = run(["report", src, "-o", out / "r.html", "--json", out / "m.json", "--markdown", out / "s.md", *args])
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()  # the option parser's usage errors too
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("evalreport: error: ")
    assert re.search(pattern, result.stderr.replace("\n", " ")), result.stderr
    assert list(out.iterdir()) == []


def test_error_rows_count_across_chunks(tmp_path):
    df = pd.DataFrame({"label": ["a"] * 7, "p_a": [0.5] * 7, "p_b": [0.5] * 7})
    df.loc[5, "p_b"] = 0.7  # row 6 (1-based), in the third chunk of two rows
    with pytest.raises(InputError, match=r"rows 6\)") as err:
        evaluate(df, chunk_rows=2)
    assert err.value.column == "p_*" and err.value.rows == [6]


def test_long_row_lists_are_cut(tmp_path):
    src = tmp_path / "preds.csv"
    src.write_text(HEADER + "".join("c,0.5,0.5\n" for _ in range(9)))
    result = run(["report", src, "-o", tmp_path / "r.html"])
    assert "(rows 1, 2, 3, 4, 5, …)" in result.stderr


def test_unwritable_output_leaves_nothing(tmp_path, examples):
    good = tmp_path / "report.html"
    result = run(["report", examples / "iris_predictions.csv", "-o", good, "--json", tmp_path / "nope" / "m.json"])
    assert result.exit_code == 2
    assert "the folder" in result.stderr and "does not exist" in result.stderr
    assert list(tmp_path.iterdir()) == []  # the HTML that could have been written was not


@pytest.mark.parametrize(
    "content",
    [
        "\ufefflabel,p_a,p_b\r\na,0.75,0.25\r\nb,0.25,0.75\r\n",  # UTF-8 BOM and CRLF
        'label,p_a,p_b,note\na,0.75,0.25,"x, y"\nb,0.25,0.75,"say ""hi"", ok"\n',  # quoted commas
    ],
    ids=["bom-crlf", "quoted-commas"],
)
def test_valid_awkward_csv(tmp_path, content):
    src = tmp_path / "preds.csv"
    src.write_bytes(content.encode("utf-8"))
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json"])
    assert result.exit_code == 0, result.stderr
    import json

    data = json.loads((tmp_path / "m.json").read_text())
    assert data["classes"] == ["a", "b"] and data["rows"] == 2
    assert data["overall"]["log_loss"] == pytest.approx(-__import__("math").log(0.75))


def test_gzip_with_error_names_the_file(tmp_path):
    src = tmp_path / "preds.csv.gz"
    src.write_bytes(gzip.compress((HEADER + "a,0.5,0.7\n").encode()))
    result = run(["report", src, "-o", tmp_path / "r.html"])
    assert result.exit_code == 2 and "preds.csv.gz: column 'p_*'" in result.stderr


def test_output_to_a_device_writes_through_and_keeps_the_device(tmp_path, examples):
    import os
    import stat

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    import threading

    received = []
    reader = threading.Thread(target=lambda: received.append(open(fifo).read()))
    reader.start()
    result = run(["report", examples / "iris_predictions.csv", "-o", tmp_path / "r.html", "--json", fifo])
    reader.join(timeout=30)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # not replaced by a regular file
    assert received and '"schema_version": 1' in received[0]
    assert run(["report", examples / "iris_predictions.csv", "-o", os.devnull]).exit_code == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_csv_pieces_cut_only_at_line_ends_outside_quotes(tmp_path, monkeypatch, examples):
    import gzip as gz
    import hashlib

    import evalreport.load.csv as load  # where PIECE_BYTES lives
    from evalreport import evaluate

    df = pd.read_csv(examples / "iris_predictions.csv")
    df["id"] = [f'row "{i}",\nsecond line' for i in range(len(df))]  # quotes, a comma, a line end
    path = tmp_path / "p.csv"
    df.to_csv(path, index=False)
    (tmp_path / "p.csv.gz").write_bytes(gz.compress(path.read_bytes()))
    whole = evaluate(path, group_by="fold").to_dict()
    monkeypatch.setattr(load, "PIECE_BYTES", 97)  # pieces of a line or two
    for source in (path, tmp_path / "p.csv.gz"):
        pieces = evaluate(source, group_by="fold").to_dict()
        assert pieces["input"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
        from test_properties import _assert_same

        for key in ("rows", "overall", "per_class", "groups", "worst_examples"):
            _assert_same(pieces[key], whole[key], path=key)  # to 1e-12: sums in another order
        assert pieces["rows"] == 150
        # the quoted ids came through whole, at the right rows
        assert [w["id"] for w in pieces["worst_examples"]] == [df["id"][w["row"] - 1] for w in pieces["worst_examples"]]
        assert all("\nsecond line" in w["id"] for w in pieces["worst_examples"])
