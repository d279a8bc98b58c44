"""Issue 10: no input, option or file shape may destroy data, pass a gate on a bad number,
hang, exhaust memory or crash. One test (or parametrised case) per reported failure."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLES, run
from test_properties import _assert_same

IRIS = EXAMPLES / "iris_predictions.csv"


def evalreport_cmd(*args, stdout=subprocess.PIPE, **kw) -> subprocess.CompletedProcess:
    """The CLI as a separate process (for stdin, stdout and file-descriptor behaviour)."""
    return subprocess.run([sys.executable, "-m", "evalreport", *map(str, args)], stdout=stdout,
                          stderr=subprocess.PIPE, **kw)


def one_error_line(result, pattern: str) -> str:
    """Exit 2, exactly one line on stderr, matching ``pattern``; no traceback."""
    import re

    err = result.stderr if isinstance(result.stderr, str) else result.stderr.decode()
    assert result.exit_code == 2 if hasattr(result, "exit_code") else result.returncode == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evalreport: error: "), err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


# --------------------------------------------------------------------------- data loss


@pytest.fixture
def preds(tmp_path):
    src = tmp_path / "preds.csv"
    shutil.copy(IRIS, src)
    return src


@pytest.mark.parametrize("option", ["-o", "--json", "--markdown"])
@pytest.mark.parametrize("how", ["same", "dot", "dotdot", "symlink", "hardlink"])
def test_an_output_over_the_input_is_refused_before_any_work(tmp_path, preds, option, how, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = preds.read_bytes()
    target = {"same": "preds.csv", "dot": "./preds.csv", "dotdot": f"../{tmp_path.name}/preds.csv",
              "symlink": "link.csv", "hardlink": "hard.csv"}[how]
    if how == "symlink":
        os.symlink("preds.csv", "link.csv")
    if how == "hardlink":
        os.link("preds.csv", "hard.csv")
    args = ["report", "preds.csv", "-o", "r.html", option, target] if option != "-o" else ["report", "preds.csv", "-o", target]
    one_error_line(run(args), r"is the input preds\.csv; writing it would destroy the input")
    assert preds.read_bytes() == before
    assert not (tmp_path / "r.html").exists()


def test_check_outputs_and_the_baseline_are_inputs_too(tmp_path, preds):
    base = tmp_path / "base.csv"
    shutil.copy(IRIS, base)
    one_error_line(run(["check", preds, "--baseline", base, "--max-regression", "1", "--junit", base]),
                   r"--junit .*base\.csv: is the input .*base\.csv")
    one_error_line(run(["compare", base, preds, "-o", preds]), r"-o .*preds\.csv: is the input")


def test_github_step_summary_on_the_input_is_refused(tmp_path, preds, monkeypatch):
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(preds))
    before = preds.read_bytes()
    one_error_line(run(["check", preds, "--max-score", "1"]), r"GITHUB_STEP_SUMMARY .*: is the input")
    assert preds.read_bytes() == before


def test_stdout_redirected_onto_the_input_is_refused(tmp_path, preds):
    before = preds.read_bytes()
    with open(preds, "ab") as out:
        result = evalreport_cmd("report", preds, "-o", tmp_path / "r.html", "--json", "-", stdout=out)
    one_error_line(result, r"--json standard output: is the input")
    assert preds.read_bytes() == before


@pytest.mark.parametrize("second", ["--json", "--markdown"])
def test_two_outputs_on_one_file_are_refused(tmp_path, preds, second):
    one_error_line(run(["report", preds, "-o", tmp_path / "x", second, tmp_path / "x"]),
                   rf"-o and {second} both write to the file")
    assert not (tmp_path / "x").exists()
    one_error_line(run(["report", preds, "-o", tmp_path / "r.html", "--json", "-", "--markdown", "-"]),
                   r"--json and --markdown both write to standard output")


def test_outputs_to_dev_null_are_not_a_collision(tmp_path, preds):
    assert run(["report", preds, "-o", os.devnull, "--json", os.devnull]).exit_code == 0


def test_a_failing_output_leaves_every_existing_output_untouched(tmp_path, preds):
    keep = tmp_path / "keep.html"
    keep.write_text("old report")
    one_error_line(run(["report", preds, "-o", keep, "--json", "/dev/full"]), r"/dev/full: cannot write")
    assert keep.read_text() == "old report"
    one_error_line(run(["check", preds, "--max-score", "1", "-o", keep, "--junit", "/dev/full"]), r"/dev/full")
    assert keep.read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.html", "preds.csv"]  # no temporary left


def test_json_to_a_full_stdout_is_exit_2_and_writes_nothing(tmp_path, preds):
    keep = tmp_path / "keep.html"
    keep.write_text("old report")
    with open("/dev/full", "wb") as full:
        result = evalreport_cmd("report", preds, "-o", keep, "--json", "-", stdout=full)
    one_error_line(result, r"standard output \(--json -\): cannot write \(No space left on device\)")
    assert keep.read_text() == "old report"


@pytest.mark.parametrize("option", ["--json", "--markdown"])
def test_an_output_to_a_closed_stdout_is_refused_before_any_work(tmp_path, preds, option):
    """`evalreport report … --json - >&-`: with no standard output at all, '-' names nothing to
    write to — one line, exit 2, before the input is read; the other outputs are not written."""
    keep = tmp_path / "keep.html"
    keep.write_text("old report")
    result = evalreport_cmd("report", preds, "-o", keep, option, "-", stdout=subprocess.DEVNULL,
                            preexec_fn=lambda: os.close(1))
    one_error_line(result, rf"{option} -: standard output is closed; name a file")
    assert keep.read_text() == "old report"


def test_standard_input_closed_is_one_line(tmp_path, preds):
    """`evalreport report - <&-`: no standard input at all is an input error, not an internal one."""
    result = evalreport_cmd("report", "-", "-o", tmp_path / "r.html", stdin=subprocess.DEVNULL,
                            preexec_fn=lambda: os.close(0))
    one_error_line(result, r"<stdin>: standard input is closed")
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("args", [["compare", "-", "-"], ["check", "-", "--baseline", "-", "--max-regression", "0.1"]])
def test_one_stream_cannot_be_both_models(tmp_path, preds, args):
    """`compare - -`: the baseline would take the whole stream and leave the candidate an empty
    input; refused before reading, naming the cause (one FIFO given twice is refused alike)."""
    result = evalreport_cmd(*args, "-o", tmp_path / "r.html", input=open(preds, "rb").read())
    one_error_line(result, r"the baseline and the candidate are both standard input.*save one of them to a file")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = evalreport_cmd(*[fifo if a == "-" else a for a in args], "-o", tmp_path / "r.html", timeout=60)
    one_error_line(result, r"the baseline and the candidate are both .*fifo.*save one of them to a file")
    assert not (tmp_path / "r.html").exists()
    assert evalreport_cmd("compare", preds, preds, "-o", tmp_path / "r.html").returncode == 0  # one file twice: fine


@pytest.mark.parametrize("args, pattern", [
    (["-o", "out.json"], r"-o out\.json: -o writes an HTML page, but the name ends in \.json; for JSON, pass --json out\.json"),
    (["-o", "r.html", "--json", "r.md"], r"--json r\.md: --json writes JSON, but the name ends in \.md; for Markdown, pass --markdown r\.md"),
    (["-o", "out.PDF"], r"-o out\.PDF: -o writes an HTML page, but the name ends in \.pdf$"),
])
def test_an_output_named_for_another_format_is_refused_before_any_work(tmp_path, monkeypatch, preds, args,
                                                                       pattern):
    """`report … -o report.json` wrote a page of HTML where a script then read JSON: refused, naming
    the option that writes what the name says. Endings of no format (.txt, none) are left alone."""
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    one_error_line(run(["report", preds, *args]), pattern)
    assert set(tmp_path.iterdir()) == before
    assert run(["report", preds, "-o", "r.htm", "--json", "r.txt", "--markdown", "notes"]).exit_code == 0


def test_a_symlinked_output_is_written_through(tmp_path, preds):
    real = tmp_path / "real.html"
    real.write_text("old")
    (tmp_path / "link.html").symlink_to("real.html")
    assert run(["report", preds, "-o", tmp_path / "link.html"]).exit_code == 0
    assert (tmp_path / "link.html").is_symlink()
    assert real.read_text().startswith("<!DOCTYPE html>")


def test_dev_stdout_is_written_through_not_replaced(tmp_path, preds):
    was_link = os.path.islink("/dev/stdout")
    out = tmp_path / "captured.json"
    with open(out, "wb") as f:
        result = evalreport_cmd("report", preds, "-o", tmp_path / "r.html", "--json", "/dev/stdout", stdout=f)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["rows"] == 150
    assert os.path.islink("/dev/stdout") == was_link  # (the old writer, run as root, replaced the link by a file)


def test_dev_stdout_to_a_pipe_and_two_outputs_on_stdout(tmp_path, preds):
    def piped(args: str) -> subprocess.CompletedProcess:
        command = f'set -o pipefail; "{sys.executable}" -m evalreport report "{preds}" {args} | cat'
        return subprocess.run(["bash", "-c", command], capture_output=True)

    result = piped(f'-o /dev/stdout --json "{tmp_path}/m.json"')
    assert result.returncode == 0 and result.stdout.startswith(b"<!DOCTYPE html>"), result.stderr
    both = piped("-o /dev/stdout --json -")
    one_error_line(both, r"-o and --json both write to standard output")


def test_a_link_into_a_missing_folder_names_that_folder(tmp_path, preds):
    (tmp_path / "r.html").symlink_to(tmp_path / "nowhere" / "r.html")
    one_error_line(run(["report", preds, "-o", tmp_path / "r.html"]), r"the folder .*/nowhere does not exist")


def test_an_output_ending_with_a_slash_names_a_folder(tmp_path, preds):
    one_error_line(run(["report", preds, "-o", f"{tmp_path}/x/"]), r"names a folder \(it ends with '/'\)")
    assert not (tmp_path / "x").exists()


def test_a_folder_that_cannot_be_written_names_the_output_not_a_temporary(tmp_path, preds, monkeypatch):
    import tempfile

    def refuse(*a, dir=None, **kw):
        raise PermissionError(13, "Permission denied", os.path.join(dir, ".r.html.abc.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    line = one_error_line(run(["report", preds, "-o", tmp_path / "r.html"]), r"r\.html: cannot write \(Permission denied\)")
    assert ".tmp" not in line


@pytest.mark.parametrize("where", ["-o", "--json", "--config", "--baseline", "input"])
def test_a_path_component_over_255_characters_is_exit_2(tmp_path, preds, where):
    long = str(tmp_path / ("x" * 300 + ".csv"))
    args = {"-o": ["report", preds, "-o", long], "--json": ["report", preds, "-o", tmp_path / "r.html", "--json", long],
            "--config": ["report", preds, "-o", tmp_path / "r.html", "--config", long],
            "--baseline": ["check", preds, "--baseline", long, "--max-regression", "1"],
            "input": ["report", long, "-o", tmp_path / "r.html"]}[where]
    one_error_line(run(args), r"(too long|File name too long)")


def test_a_path_with_a_byte_that_is_not_utf8(tmp_path):
    name = os.fsdecode(b"pr\xe9ds.csv")
    shutil.copy(IRIS, tmp_path / name)
    out = tmp_path / "m.json"
    result = evalreport_cmd("report", tmp_path / name, "-o", tmp_path / "r.html", "--json", out)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_bytes().decode("utf-8"))  # valid UTF-8, the byte escaped
    assert data["input"]["path"].endswith("pr\\xe9ds.csv")
    missing = evalreport_cmd("report", tmp_path / os.fsdecode(b"n\xe9.csv"), "-o", tmp_path / "r.html")
    one_error_line(missing, r"n\\xe9\.csv: no such file")


# --------------------------------------------------------------------------- input shapes


def test_a_symlink_loop_is_named_as_such(tmp_path):
    (tmp_path / "a.csv").symlink_to("b.csv")
    (tmp_path / "b.csv").symlink_to("a.csv")
    one_error_line(run(["report", tmp_path / "a.csv", "-o", tmp_path / "r.html"]), r"a\.csv: a loop of symbolic links")


def test_a_fifo_is_read_as_a_stream(tmp_path):
    fifo = tmp_path / "preds.csv"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(IRIS.read_bytes()))
    writer.start()
    result = run(["report", fifo, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json"])
    writer.join(timeout=30)
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "m.json").read_text())["rows"] == 150


def test_a_process_substitution_of_a_gzip_file(tmp_path):
    gz = tmp_path / "preds.csv.gz"
    gz.write_bytes(gzip.compress(IRIS.read_bytes()))
    result = subprocess.run(["bash", "-c", f'"{sys.executable}" -m evalreport report <(zcat "{gz}") -o "{tmp_path}/r.html"'],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "150 rows" in result.stderr


def test_stdin_is_streamed_not_read_whole(monkeypatch):
    """Standard input is read in pieces as it comes: the reader never asks for all of it at once."""
    import evalreport.load.csv as csv_mod
    from evalreport import evaluate

    reads = []

    class Stdin(io.BytesIO):
        def read(self, n=-1):
            reads.append(n)
            return super().read(n)

    data = IRIS.read_bytes() * 1  # the header once
    monkeypatch.setattr(csv_mod, "PIECE_BYTES", 1024)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(Stdin(data)))
    result = evaluate("-")
    assert result.rows == 150
    assert reads and all(0 < n <= 1 << 20 for n in reads)  # never read(-1): a piece at a time


@pytest.mark.parametrize(
    "content,pattern",
    [
        (b"label,p_a,p_b\ra,0.75,0.25\rb,0.25,0.75\r", None),  # CR-only line ends are read
        (b"\n\nlabel,p_a,p_b\na,0.75,0.25\nb,0.25,0.75\n", None),  # blank lines before the header
        (b'"lab\nel",label,p_a,p_b\nx,a,0.75,0.25\ny,b,0.25,0.75\n', None),  # a newline in a quoted header name
        (b"label,p_a,p_b\na,0.75,0.25,9\nb,0.25,0.75\n", r"row 1 has 4 fields, but the header has 3"),
        (b"label,p_a,p_b\na,0.75,0.25\nb,0.25\n", r"row 2 has 2 fields, but the header has 3"),
        (b"label,p_a,p_a\na,0.5,0.5\n", r"two columns are named 'p_a' \(columns 2 and 3\)"),
        (b"label,p_a,p_b,label\na,0.75,0.25,b\n", r"two columns are named 'label' \(columns 1 and 4\)"),
        (b'label,p_a,p_b\na,0.75,0.25\nb,"0.25,0.75\nb,0.25,0.75\n', r"the quoted field that opens in row 2 is never closed"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(200)), r"cannot be read as gzip-compressed CSV"),
        (b"label,p_a\rx,p_b\na,0.75,0.25\n", r"the header holds a line break \(CR\) outside quotes"),
    ],
    ids=["cr-only", "leading-blank-lines", "newline-in-header", "extra-field", "missing-field", "duplicate-prob",
         "duplicate-label", "unterminated-quote", "corrupt-deflate", "cr-in-header"],
)
def test_csv_shapes(tmp_path, content, pattern):
    src = tmp_path / "preds.csv"
    src.write_bytes(content)
    result = run(["report", src, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json"])
    if pattern is None:
        assert result.exit_code == 0, result.stderr
        data = json.loads((tmp_path / "m.json").read_text())
        assert data["rows"] == 2 and data["classes"] == ["a", "b"]
        assert data["overall"]["log_loss"] == pytest.approx(-np.log(0.75))
    else:
        one_error_line(result, pattern)
        assert not (tmp_path / "r.html").exists()


def test_corrupt_deflate_in_the_middle_of_a_gzip_file(tmp_path):
    """Bytes flipped inside the deflate stream: zlib's own error ("invalid distance too far
    back"), which the old reader did not catch (exit 3)."""
    raw = bytearray(gzip.compress(IRIS.read_bytes() * 20, mtime=0))
    raw[200] ^= 0xFF
    raw[201] ^= 0xFF
    src = tmp_path / "preds.csv.gz"
    src.write_bytes(bytes(raw))
    one_error_line(run(["report", src, "-o", tmp_path / "r.html"]), r"preds\.csv\.gz: cannot be read as gzip-compressed CSV")


def test_a_stray_quote_in_an_unquoted_field_is_an_ordinary_character_and_cutting_goes_on(tmp_path, monkeypatch):
    """`1",a,…` on row 2: a CSV parser reads the quote as part of the value, so must the cutter;
    the pieces stay the size they should be (the old cutter kept the rest of the file as one
    piece and counted its quotes again and again: quadratic time, memory the size of the file)."""
    import evalreport.load.csv as csv_mod
    from evalreport.load.lines import LineCutter

    df = pd.read_csv(IRIS)
    df = pd.concat([df] * 20, ignore_index=True)
    df["id"] = df["id"].astype(str)
    df.loc[1, "id"] = '1"'
    path = tmp_path / "stray.csv"
    df.to_csv(path, index=False, quoting=3)  # QUOTE_NONE: the quote is written bare, as the file
    assert b'\n1",' in path.read_bytes()
    cutter = LineCutter(open(path, "rb"), "stray.csv", 4096)
    cutter.header()
    sizes = [len(p) for p in cutter.pieces()]
    assert len(sizes) > 20 and max(sizes) < 2 * 4096
    monkeypatch.setattr(csv_mod, "PIECE_BYTES", 4096)
    from evalreport import evaluate

    stray = evaluate(path, id_col="id").to_dict()
    clean = evaluate(df.assign(id=df["id"].str.replace('"', "")), id_col="id").to_dict()
    assert stray["rows"] == 3000


    _assert_same(stray["overall"], clean["overall"], path="overall")  # to 1e-12: sums in another order


def test_an_unterminated_quote_names_its_row_past_closed_multiline_fields(tmp_path, monkeypatch):
    import evalreport.load.csv as csv_mod

    monkeypatch.setattr(csv_mod, "PIECE_BYTES", 64)  # rows handed out before the error are counted too
    rows = ["a,0.5,0.5,x"] * 20 + ['b,0.5,0.5,"two\nlines"', "", "a,0.5,0.5,x", 'a,0.5,0.5,"open', "a,0.5,0.5,x"]
    src = tmp_path / "preds.csv"
    src.write_text("label,p_a,p_b,note\n" + "\n".join(rows) + "\n")
    one_error_line(run(["report", src, "-o", tmp_path / "r.html"]), r"the quoted field that opens in row 23 is never closed")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["1", "abc", "", '"a,b"', '"x\ny"', '"say ""hi"""', '""', '1"', 'a"b', '"q"",\n"']),
                         min_size=3, max_size=3), max_size=25),
       st.sampled_from(["\n", "\r\n"]), st.sampled_from([1, 2, 3, 7, 64]))
def test_the_cutter_cuts_where_a_csv_parser_ends_rows(rows, eol, size):
    """Pieces concatenate to the input, each piece parses to whole records, and together they
    are the records Python's csv module reads from the whole text — at any block size."""
    import csv as csvmod

    from evalreport.load.lines import LineCutter

    text = eol.join(["h1,h2,h3"] + [",".join(r) for r in rows]) + eol
    whole = [r for r in csvmod.reader(io.StringIO(text, newline=""))][1:]
    cutter = LineCutter(io.BytesIO(text.encode()), "t", size)
    header = cutter.header()
    pieces = [bytes(p) for p in cutter.pieces()]
    assert header.decode() == "h1,h2,h3"
    got = [r for p in pieces for r in csvmod.reader(io.StringIO(p.decode(), newline=""))]
    assert [r for r in got if r] == [r for r in whole if r]


def test_a_row_longer_than_the_bound_is_one_error(tmp_path, monkeypatch):
    import evalreport.load.csv as csv_mod
    import evalreport.load.lines as lines

    monkeypatch.setattr(lines, "MAX_ROW_BYTES", 10_000)
    monkeypatch.setattr(csv_mod, "PIECE_BYTES", 4096)
    src = tmp_path / "preds.csv"
    src.write_bytes(b'label,p_a,p_b\na,0.5,0.5\nb,"' + b"x" * 50_000 + b"\n")
    one_error_line(run(["report", src, "-o", tmp_path / "r.html"]),
                   r"a quoted field that opens in row 2 runs on for more than 10,000 bytes")
    src.write_bytes(b"label,p_a,p_b\n" + b"a" * 50_000)
    one_error_line(run(["report", src, "-o", tmp_path / "r.html"]), r"row 1 is longer than 10,000 bytes without a line end")


# --------------------------------------------------------------------------- Parquet shapes


def _zstd_parquet(tmp_path):
    import pyarrow.parquet as pq

    path = tmp_path / "preds.parquet"
    pd.read_csv(IRIS).to_parquet(path, compression="zstd")
    return path, pq.ParquetFile(path).metadata.row_group(0).column(3)


def test_a_corrupt_parquet_page_is_one_line(tmp_path):
    path, col = _zstd_parquet(tmp_path)
    raw = bytearray(path.read_bytes())
    for i in range(col.data_page_offset, col.data_page_offset + 6):  # the page header
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    one_error_line(run(["report", path, "-o", tmp_path / "r.html"]), r"preds\.parquet: is not a readable Parquet file \(")


def test_parquet_written_by_pandas_with_the_label_as_index(tmp_path):
    df = pd.read_csv(IRIS)
    probs = [c for c in df if c.startswith("p_")]
    path = tmp_path / "indexed.parquet"
    df.astype({c: "float32" for c in probs}).set_index("label").to_parquet(path)
    result = run(["report", path, "-o", tmp_path / "r.html", "--json", tmp_path / "m.json", "--group-by", "fold"])
    assert result.exit_code == 0, result.stderr
    data = json.loads((tmp_path / "m.json").read_text())
    from sklearn.metrics import log_loss

    q = df[probs].astype("float32").to_numpy(dtype=float)
    assert data["overall"]["log_loss"] == pytest.approx(
        log_loss(df["label"], q, labels=[c[2:] for c in probs]), abs=1e-9)


@pytest.mark.parametrize("column,arrow_type,pattern", [
    ("label", "list", r"column 'label': values that are lists, not one value per row \(rows 1, 2\)"),
    ("g", "struct", r"column 'g': values that are dicts \(structs\), not one value per row"),
    ("p_a", "list", r"column 'p_a': values that are not numbers \(rows 1, 2\); e\.g\. '\[0\.5\]'"),
])
def test_parquet_nested_columns_are_one_error(tmp_path, column, arrow_type, pattern):
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {"label": pa.array(["a", "b"]), "g": pa.array(["x", "y"]), "p_a": pa.array([0.5, 0.5]), "p_b": pa.array([0.5, 0.5])}
    cols[column] = pa.array([[v] for v in cols[column].to_pylist()]) if arrow_type == "list" else \
        pa.array([{"x": v} for v in cols[column].to_pylist()])
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table(cols), path)
    one_error_line(run(["report", path, "-o", tmp_path / "r.html", "--group-by", "g"]), pattern)


def test_parquet_on_stdin_is_copied_to_disk_not_memory(tmp_path, monkeypatch):
    import hashlib
    import tempfile

    from evalreport import evaluate

    path = tmp_path / "p.parquet"
    pd.read_csv(IRIS).to_parquet(path)
    spooled = []
    real = tempfile.TemporaryFile
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda *a, **k: spooled.append(1) or real(*a, **k))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    result = evaluate("-")
    assert spooled == [1]  # Parquet needs to seek: a temporary file, not the whole input in memory
    assert result.rows == 150 and result.source.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- options and settings


@pytest.mark.parametrize("args,pattern", [
    (["--seed", "-1"], r"--seed must be a whole number from 0 to 2\*\*64 - 1, got -1"),
    (["--seed", str(2**64)], r"--seed must be a whole number"),
    (["--bootstrap", "1000000"], r"--bootstrap must be 0 or a multiple of 4 up to 10,000, got 1000000"),
    (["--bootstrap", "10004"], r"up to 10,000"),
])
def test_option_bounds(tmp_path, args, pattern):
    one_error_line(run(["report", IRIS, "-o", tmp_path / "r.html", *args]), pattern)


@pytest.mark.parametrize("toml,args,pattern", [
    ("tool = 5\n", ["report"], r"'tool' must be a table"),
    ("[tool]\nevalreport = 5\n", ["report"], r"\[tool\.evalreport\] must be a table, got a number"),
    ("[gates]\nbaseline = 5\nmax_score = 1\n", ["check"], r"\[gates\]: baseline must be a path, got 5"),
    ('[gates]\nsignificant = "false"\nmax_score = 1\n', ["check"],
     r"significant must be a boolean, got 'false' \(write true or false, without quotes\)"),
    ('[gates]\nmax_score = "0.3"\n', ["check"], r"max_score must be a number, got '0\.3'"),
    ("[gates]\nmax_band = 3\n", ["check"], r"max_band must be a band id"),
    ("[bandz]\ngreat = 0.01\n", ["report"], r"unknown setting\(s\) 'bandz'; known: bands, gates"),
    ("[bands]\ngreat = true\n", ["report"], r"the threshold of 'great' must be a number"),
])
def test_settings_of_the_wrong_shape_are_one_error(tmp_path, toml, args, pattern):
    cfg = tmp_path / "evalreport.toml"
    cfg.write_text(toml)
    one_error_line(run([*args, IRIS, "-o", tmp_path / "r.html", "--config", cfg]), pattern)


def test_an_unreadable_settings_file(tmp_path, monkeypatch):
    import pathlib

    cfg = tmp_path / "evalreport.toml"
    cfg.write_text("[bands]\ngreat = 0.01\n")
    real = pathlib.Path.read_text

    def refuse(self, *a, **k):
        if self.name == "evalreport.toml":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "read_text", refuse)  # as root, no file is unreadable: pretend
    one_error_line(run(["report", IRIS, "-o", tmp_path / "r.html", "--config", cfg]),
                   r"evalreport\.toml: cannot read the config file \(Permission denied\)")
    monkeypatch.chdir(tmp_path)  # found by itself, not named
    one_error_line(run(["report", IRIS, "-o", tmp_path / "r.html"]), r"cannot read the config file")
    monkeypatch.setattr(pathlib.Path, "read_text", real)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"[bands]\ngreat = \xff\n")
    one_error_line(run(["report", IRIS, "-o", tmp_path / "r.html", "--config", bad]), r"bad\.toml: not valid TOML")


def test_a_json_baseline_nested_100k_levels_deep(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    one_error_line(run(["check", IRIS, "--baseline", deep, "--max-regression", "0.1"]),
                   r"deep\.json: is not an evalreport JSON report \(RecursionError")


def test_a_json_baseline_of_other_rows_or_classes_fails_closed(tmp_path):
    base = tmp_path / "base.json"
    assert run(["report", IRIS, "-o", tmp_path / "r.html", "--json", base]).exit_code == 0
    digits = EXAMPLES / "digits_predictions.csv"
    one_error_line(run(["check", digits, "--baseline", base, "--max-regression", "0.5"]),
                   r"base\.json: is a report of 150 rows, hard targets and classes 'setosa', 'versicolor', 'virginica'; "
                   r"this run has 1,797 rows")
    shuffled = tmp_path / "fewer.csv"
    pd.read_csv(IRIS).iloc[:149].to_csv(shuffled, index=False)
    one_error_line(run(["check", shuffled, "--baseline", base, "--max-regression", "0.5"]), r"is a report of 150 rows")
    # the same rows pass, and the JSON of 'check' is read as well as that of 'report'
    assert run(["check", IRIS, "--baseline", base, "--max-regression", "0.5"]).exit_code == 0
    check_json = tmp_path / "check.json"
    assert run(["check", IRIS, "--max-score", "1", "--json", check_json]).exit_code == 0
    assert run(["check", IRIS, "--baseline", check_json, "--max-regression", "0.5"]).exit_code == 0


def test_a_json_baseline_clipped_or_weighted_otherwise_fails_closed(tmp_path):
    """A baseline clipped at another eps (which caps each row's loss elsewhere), or weighted where
    this run is not, scored other figures: the regression gate once compared them and passed."""
    base = tmp_path / "base.json"
    assert run(["report", IRIS, "--eps", "0.001", "-o", tmp_path / "r.html", "--json", base]).exit_code == 0
    one_error_line(run(["check", IRIS, "--baseline", base, "--max-regression", "0"]),
                   r"base\.json: is a report with eps=0\.001; this run clips at eps=2\.22045e-16, which caps a row's "
                   r"loss elsewhere; pass --eps 0\.001")
    assert run(["check", IRIS, "--baseline", base, "--max-regression", "0.5", "--eps", "0.001"]).exit_code == 0
    weighted = tmp_path / "weighted.csv"
    pd.read_csv(IRIS).assign(w=1.0).to_csv(weighted, index=False)
    assert run(["report", weighted, "--weight-col", "w", "-o", tmp_path / "r.html", "--json", base]).exit_code == 0
    one_error_line(run(["check", weighted, "--baseline", base, "--max-regression", "0.5"]),
                   r"base\.json: is a report with its rows weighted, this run's not \(--weight-col\)")
    assert run(["check", weighted, "--weight-col", "w", "--baseline", base, "--max-regression", "0.5"]).exit_code == 0


def test_a_json_baseline_of_language_model_sequences_is_named_as_such(tmp_path):
    seqs = tmp_path / "seqs.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "logprob": [-3.0, -5.0, -2.0], "tokens": [2, 4, 1]}).to_csv(seqs, index=False)
    base = tmp_path / "lm.json"
    assert run(["report", seqs, "-o", tmp_path / "r.html", "--json", base]).exit_code == 0
    one_error_line(run(["check", seqs, "--baseline", base, "--max-regression", "0.1"]),
                   r"lm\.json: is the JSON report of language-model sequences, which has no classifier score to compare "
                   r"with; pass the baseline run's own files")
    assert run(["check", seqs, "--baseline", seqs, "--max-regression", "0.1"]).exit_code == 0


# --------------------------------------------------------------------------- messages


def test_a_50mb_label_gives_a_short_error_line(tmp_path):
    src = tmp_path / "preds.csv"
    src.write_bytes(b"label,p_a,p_b\na,0.5,0.5\n" + b"x" * 50_000_000 + b",0.5,0.5\n")
    line = one_error_line(run(["report", src, "-o", tmp_path / "r.html"]), r"labels that have no probability column")
    assert len(line) < 400 and "(50,000,000 characters)" in line


def test_control_characters_in_values_stay_on_one_line(tmp_path):
    src = tmp_path / "preds.csv"
    src.write_bytes(b'label,p_a,p_b\na,0.5,0.5\n"evil\r\nlabel\x1b[31m",0.5,0.5\n')
    line = one_error_line(run(["report", src, "-o", tmp_path / "r.html"]), r"labels that have no probability column")
    assert "\\r\\n" in line and "\\x1b" in line


# --------------------------------------------------------------------------- numbers that are not numbers


def _weighted_frame(seed: int, n: int = 300) -> pd.DataFrame:
    from conftest import random_predictions

    return random_predictions(np.random.default_rng(seed), n, 4, weights=True, groups=5)


def _figures(d: dict) -> dict:
    """A report's figures without the absolute weights (which scale with the weights by design)."""
    d = json.loads(json.dumps(d))
    d.pop("total_weight")
    d["confusion"] = None
    for c in d["per_class"]:
        c.pop("weight")
    for rows in d["groups"].values():
        for s in rows:
            s.pop("weight")
    d["calibration"]["bins"].pop("weight")
    d["calibration"].pop("summary")  # prose quoting the temperature (compared as a number, to 1e-5)
    d["warnings"] = [w for w in d["warnings"] if "largest float" not in w]
    return d




@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(-300, 307))
@example(seed=0, k=307)  # 300 weights of up to 3e307: their sum is beyond the largest float
@example(seed=1, k=-300)
def test_scaling_the_weights_changes_no_figure(seed, k):
    """Weights × 10^k for k in −300…307 give the same figures (the issue's property test, up to
    the largest k whose weights are finite)."""
    from evalreport import evaluate


    df = _weighted_frame(seed)
    base = evaluate(df, weight_col="w", group_by="g").to_dict()
    scaled = evaluate(df.assign(w=df["w"] * 10.0**k), weight_col="w", group_by="g").to_dict()
    _assert_same(_figures(scaled), _figures(base), tol=1e-11, path="report")


def test_huge_finite_weights_give_exact_figures_and_gates_decide_on_them(tmp_path):
    df = _weighted_frame(1, 40).assign(w=1e307)
    src = tmp_path / "w.csv"
    df.to_csv(src, index=False)
    result = run(["check", src, "--weight-col", "w", "--max-score", "0.01", "--min-accuracy", "0.999",
                  "--max-ece", "0.001", "--json", tmp_path / "c.json"])
    assert result.exit_code == 1, result.stderr  # every gate fails, as it must: nothing is NaN
    data = json.loads((tmp_path / "c.json").read_text())
    assert [g["passed"] for g in data["gates"]] == [False, False, False]
    from sklearn.metrics import log_loss

    probs = [c for c in df if c.startswith("p_")]
    assert data["report"]["overall"]["log_loss"] == pytest.approx(
        log_loss(df["label"], df[probs].to_numpy(), labels=[c[2:] for c in probs]), rel=1e-12)
    assert data["report"]["total_weight"] is None  # 40 × 1e307 is beyond the largest float
    assert any("largest float" in w for w in data["report"]["warnings"])


@pytest.mark.parametrize("gate,args", [
    ("max-score", ["--max-score", "1"]),
    ("max-band", ["--max-band", "broken"]),
    ("max-class-score", ["--max-class-score", "100"]),
    ("max-class-band", ["--max-class-band", "broken"]),
    ("min-accuracy", ["--min-accuracy", "0"]),
    ("max-ece", ["--max-ece", "1"]),
])
@pytest.mark.parametrize("significant", [False, True])
def test_a_gate_fails_on_a_value_that_is_not_a_number(gate, args, significant):
    """Fail closed: whatever produced it, a NaN reaching a gate fails that gate (the most lenient
    thresholds here would pass any number)."""
    from dataclasses import replace

    from evalreport import evaluate
    from evalreport.config import read_settings  # noqa: F401
    from evalreport.gates import evaluate_gates, gate_spec_from

    r = evaluate(IRIS)
    nan = float("nan")
    o = replace(r.overall, band_score=nan, band_score_nats=nan, accuracy=nan, band=None, band_label=None,
                band_score_ci95=(nan, nan), accuracy_ci95=(nan, nan))
    classes = tuple(replace(c, cross_entropy=nan, kl_divergence=nan, band=None, band_label=None, ci95=(nan, nan))
                    for c in r.per_class)
    bad = replace(r, overall=o, per_class=classes, calibration=replace(r.calibration, ece=nan))
    options = dict(zip(args[0::2], args[1::2]))
    spec = gate_spec_from({}, significant=significant, **{k.lstrip("-").replace("-", "_"):
                                                          (v if "band" in k else float(v)) for k, v in options.items()})
    report = evaluate_gates(bad, spec)
    assert [g.passed for g in report.gates] == [False] and report.return_code == 1
    assert evaluate_gates(r, spec).return_code == 0  # the same gate passes on the real numbers


def test_a_figure_that_is_not_a_number_is_exit_3_never_a_pass(monkeypatch):
    import evalreport.interpret as interpret

    monkeypatch.setattr(interpret, "histogram_quantile", lambda *a, **k: float("nan"))
    result = run(["check", IRIS, "--max-score", "10"])
    assert result.exit_code == 3
    assert "a figure is not a number: overall.median_row_cross_entropy is nan" in result.stderr
    assert "PASSED" not in result.stdout


# --------------------------------------------------------------------------- bounds: classes, slices, replicates


def _many_classes(n: int, k: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), label] += 4
    q = np.exp(logits - logits.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    df = pd.DataFrame(q, columns=[f"p_c{j:05d}" for j in range(k)])  # names in lexical order, as sklearn sorts
    df.insert(0, "label", [f"c{j:05d}" for j in label])
    return df


def test_many_classes_sparse_confusion_figures_chart_and_json(tmp_path):
    """1,100 classes: the confusion matrix is sparse (beyond 256), class bootstrap blocks shrink
    (beyond 1,024), and every figure still agrees with scikit-learn."""
    from sklearn.metrics import accuracy_score, log_loss

    from evalreport import evaluate
    from evalreport.compute import class_blocks

    df = _many_classes(4000, 1100)
    assert (class_blocks(300), class_blocks(1100), class_blocks(10_000)) == (2048, 1024, 128)  # ≤ 2**21 cells
    r = evaluate(df, chunk_rows=700)
    probs = [c for c in df if c.startswith("p_")]
    assert r.overall.log_loss == pytest.approx(log_loss(df["label"], df[probs].to_numpy(), labels=[c[2:] for c in probs]),
                                               rel=1e-12)
    assert r.overall.accuracy == pytest.approx(accuracy_score(df["label"], [probs[i][2:] for i in
                                                                            df[probs].to_numpy().argmax(axis=1)]))
    assert not isinstance(r.confusion, np.ndarray)
    assert all(c.ci95 is not None for c in r.per_class if c.support >= 5)
    d = r.to_dict()
    assert d["confusion"]["matrix"] is None and len(d["confusion"]["largest"]) == 20
    top = d["confusion"]["largest"][0]
    wrong = df["label"] != [p[2:] for p in df[probs].idxmax(axis=1)]
    pairs = pd.Series(list(zip(df["label"][wrong], df[probs].idxmax(axis=1)[wrong].str[2:]))).value_counts()
    assert top["weight"] == pairs.iloc[0]
    whole = evaluate(df).to_dict()  # chunking changes nothing
    _assert_same(d["overall"], whole["overall"], path="overall")
    _assert_same(d["per_class"], whole["per_class"], path="per_class")
    assert "Confusion matrix, worst 20 of 1100 classes" in r.to_html()


def test_more_than_10000_classes_is_one_error(tmp_path):
    src = tmp_path / "wide.csv"
    header = "label," + ",".join(f"p_{j}" for j in range(10_001))
    src.write_text(header + "\n0," + ",".join(["0"] * 10_001) + "\n")
    one_error_line(run(["report", src, "-o", tmp_path / "r.html"]),
                   r"10,001 probability columns: evalreport reads models of at most 10,000 classes")


def test_slices_beyond_max_slices_are_folded_into_other(tmp_path):
    from evalreport import evaluate

    df = pd.read_csv(IRIS)
    df["user"] = [f"u{i % 30}" for i in range(len(df))]
    df.loc[df.index < 40, "user"] = "big"  # the slice with the most rows
    full = evaluate(df, group_by="user", max_slices=100)
    folded = evaluate(df, group_by="user", max_slices=5, chunk_rows=17)
    rows = folded.groups["user"]
    assert rows[-1].kind == "other" and rows[-1].label == "(other)" and len(rows) == 6
    assert "big" in [s.value for s in rows]
    other = rows[-1]
    shown = {s.value for s in rows[:-1]}
    rest = [s for s in full.groups["user"] if s.value not in shown]
    assert other.rows == sum(s.rows for s in rest) and other.folded == len(rest)
    ce = sum(s.cross_entropy * s.weight for s in rest) / sum(s.weight for s in rest)
    assert other.cross_entropy == pytest.approx(ce, rel=1e-12)
    assert any("folded into '(other)'" in w for w in folded.warnings)
    last = folded.to_dict()["groups"]["user"][-1]
    assert last["value"] is None and last["kind"] == "other" and last["folded_values"] == len(rest)
    assert "folded_values" not in folded.to_dict()["groups"]["user"][0]


def test_a_slice_column_with_too_many_values_is_one_error(tmp_path, monkeypatch):
    import evalreport.compute.slices as slices

    monkeypatch.setattr(slices, "MAX_SLICE_VALUES", 50)
    df = pd.read_csv(IRIS)
    src = tmp_path / "p.csv"
    df.to_csv(src, index=False)
    one_error_line(run(["report", src, "-o", tmp_path / "r.html", "--group-by", "id"]),
                   r"column 'id': more than 50 distinct values; --group-by is for slices")


def test_per_slice_intervals_stop_beyond_the_block_budget_the_same_way_however_chunked(monkeypatch):
    import evalreport.compute.slices as slices
    from evalreport import evaluate

    df = pd.read_csv(IRIS)
    df["few"] = df["id"] % 8
    df["many"] = df["id"] % 40
    monkeypatch.setattr(slices, "MAX_BOOT_SLICES", 16)
    for chunk in (150, 7):
        r = evaluate(df, group_by=["few", "many"], chunk_rows=chunk)
        assert all(s.ci95 is not None for s in r.groups["few"])
        assert all(s.ci95 is None for s in r.groups["many"])
        assert any("'many' (group_by=): 40 values, so no per-slice intervals" in w for w in r.warnings)


def test_max_slices_and_bootstrap_bounds_are_usage_errors(tmp_path):
    one_error_line(run(["report", IRIS, "-o", tmp_path / "r.html", "--max-slices", "0"]),
                   r"--max-slices must be a whole number from 1 to 10,000")
    one_error_line(run(["report", IRIS, "-o", tmp_path / "r.html", "--max-slices", "10001"]), r"--max-slices")


def test_ten_thousand_replicates_over_many_classes_stay_in_chunks(monkeypatch):
    """Replicate sums are formed a few items at a time: items × replicates never all at once."""
    import evalreport.compute.bootstrap as bootstrap
    from evalreport import evaluate

    seen = []
    real = bootstrap._replicate_sums
    monkeypatch.setattr(bootstrap, "_replicate_sums", lambda sums, v: (seen.append(sums.shape[0] * v.shape[1]),
                                                                          real(sums, v))[1])
    r = evaluate(_many_classes(600, 500), bootstrap=10_000)
    assert r.overall.band_score_ci95 is not None
    assert max(seen) <= bootstrap._REPLICATE_CELLS


# --------------------------------------------------------------------------- the same bytes


def test_the_json_is_the_same_bytes_whatever_the_threads(tmp_path):
    """BLAS's sums depend on its number of threads in the last bits; the JSON must not (the old
    code changed values on 300k rows with one BLAS thread, and more under taskset -c 0)."""
    sys.path.insert(0, str(EXAMPLES.parent / "benchmarks"))
    from make_data import block

    src = tmp_path / "big.csv"
    block(np.random.default_rng(0), 300_000, 10).to_csv(src, index=False, float_format="%.6g")
    runs = {"default": {}, "one BLAS thread": {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
            "four BLAS threads": {"OPENBLAS_NUM_THREADS": "4", "OMP_NUM_THREADS": "4"}}
    outputs = {}
    for name, env in runs.items():
        out = tmp_path / f"{len(outputs)}.json"
        result = evalreport_cmd("check", src, "--group-by", "fold", "--max-score", "100", "--json", out,
                                env={**os.environ, **env})
        assert result.returncode == 0, result.stderr
        outputs[name] = out.read_bytes()
    if shutil.which("taskset"):
        out = tmp_path / "taskset.json"
        result = subprocess.run(["taskset", "-c", "0", sys.executable, "-m", "evalreport", "check", str(src),
                                 "--group-by", "fold", "--max-score", "100", "--json", str(out)], capture_output=True)
        assert result.returncode == 0, result.stderr
        outputs["one core"] = out.read_bytes()
    first = outputs["default"]
    assert all(data == first for data in outputs.values()), [name for name, d in outputs.items() if d != first]


# --------------------------------------------------------------------------- outputs other tools parse

#: Class names that mean something to Markdown, HTML, XML or a terminal.
HOSTILE = ["![x](https://host/x.png)", "[a](javascript:alert(1))", "a\rb # head", "www.example.com",
           "<b>bold</b>", "x|y", "*em* _u_", "a@b.com", "$x$ ~~s~~", "evil\x1b[31mred", "日本語"]


@pytest.fixture
def hostile(tmp_path):
    """Predictions whose class names are HOSTILE, with a slice column and ids of the same kind."""
    rng = np.random.default_rng(5)
    n, k = 400, len(HOSTILE)
    q = rng.dirichlet(np.ones(k) * 0.5, size=n)
    df = pd.DataFrame({f"p_{c}": q[:, j] for j, c in enumerate(HOSTILE)})
    df.insert(0, "label", [HOSTILE[j] for j in rng.integers(0, k, n)])
    df.insert(0, "id", [HOSTILE[j % k] + str(j) for j in range(n)])
    df["g"] = [HOSTILE[j % 3] for j in range(n)]
    src = tmp_path / "hostile.csv"
    df.to_csv(src, index=False, quoting=2)  # QUOTE_NONNUMERIC: pandas leaves a lone CR unquoted otherwise
    return src


def _markdown_elements(text: str) -> dict:
    """Render as GitHub would (tables, autolinks, strikethrough) and count what came out."""
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("gfm-like").parse(text)
    kinds: dict = {}

    def walk(ts):
        for t in ts:
            kinds[t.type] = kinds.get(t.type, 0) + 1
            if t.type in ("html_inline", "html_block"):
                kinds.setdefault("html", []).append(t.content.strip())
            if t.children:
                walk(t.children)

    walk(tokens)
    rows = []  # cells per table row
    for t in tokens:
        if t.type == "tr_open":
            rows.append(0)
        elif t.type in ("th_open", "td_open"):
            rows[-1] += 1
    kinds["rows"] = rows
    return kinds


def _assert_no_element_from_data(md: str) -> None:
    kinds = _markdown_elements(md)
    for kind in ("link_open", "image", "s_open", "code_inline", "html_block", "blockquote_open"):
        if kind == "blockquote_open":
            continue  # the verdict is a quote of ours
        assert kind not in kinds, (kind, md)
    assert set(kinds.get("html", [])) <= {"<sub>", "</sub>"}, kinds.get("html")
    assert kinds.get("heading_open", 0) == sum(1 for line in md.splitlines() if line.startswith("#")), md
    assert "\r" not in md and "\x1b" not in md


def test_markdown_escapes_everything_markdown_gives_meaning_to(tmp_path, hostile, monkeypatch):
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    cand = tmp_path / "cand.csv"
    cand.write_bytes(hostile.read_bytes())
    assert run(["report", hostile, "-o", tmp_path / "r.html", "--markdown", tmp_path / "r.md", "--group-by", "g",
                "--id-col", "id"]).exit_code == 0
    assert run(["check", hostile, "--max-class-score", "0.1", "--markdown", tmp_path / "c.md",
                "--group-by", "g"]).exit_code == 1
    assert run(["compare", hostile, cand, "-o", tmp_path / "cmp.html", "--markdown", tmp_path / "cmp.md",
                "--group-by", "g"]).exit_code == 0
    for name in ("r.md", "c.md", "cmp.md", "step-summary.md"):
        md = (tmp_path / name).read_text()
        _assert_no_element_from_data(md)
        tables = _markdown_elements(md)["rows"]
        assert tables  # and every row of a table has its header's cells (a '|' in a name breaks none)
    rendered = _markdown_to_text((tmp_path / "r.md").read_text())
    for name in ("![x](https://host/x.png)", "[a](javascript:alert(1))", "x|y", "<b>bold</b>"):
        assert name in rendered  # shown as the text it is


def _markdown_to_text(md: str) -> str:
    from markdown_it import MarkdownIt
    import html

    out = MarkdownIt("gfm-like").render(md)
    import re

    return html.unescape(re.sub(r"<[^>]+>", " ", out))


def test_markdown_tables_keep_their_shape(tmp_path, hostile):
    assert run(["report", hostile, "-o", tmp_path / "r.html", "--markdown", tmp_path / "r.md",
                "--group-by", "g"]).exit_code == 0
    md = (tmp_path / "r.md").read_text()
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("gfm-like").parse(md)
    header = None
    for t in tokens:
        if t.type == "thead_open":
            header, count = 0, None
        if t.type == "tr_open":
            count = 0
        if t.type in ("th_open", "td_open"):
            count += 1
        if t.type == "tr_close":
            header = count if header == 0 else header
            assert count == header
    assert header


def _svgs(html_text: str) -> list[bytes]:
    import base64
    import re

    return [base64.b64decode(m) for m in re.findall(r"data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)", html_text)]


def test_every_xml_output_parses(tmp_path, hostile):
    import xml.etree.ElementTree as ET

    weird = tmp_path / "pre\x01ds.csv"
    weird.write_bytes(hostile.read_bytes())
    result = run(["check", weird, "--max-class-score", "0.1", "--junit", tmp_path / "j.xml", "-o", tmp_path / "r.html",
                  "--group-by", "g"])
    assert result.exit_code == 1, result.stderr
    root = ET.fromstring((tmp_path / "j.xml").read_bytes())
    assert root.find(".//failure") is not None
    svgs = _svgs((tmp_path / "r.html").read_text())
    assert len(svgs) == 9  # ladder, curve, per class, histogram, confusion, slices, reliability, one-vs-rest, CORP
    for svg in svgs:
        ET.fromstring(svg)  # well-formed, so the browser draws it


def test_no_python_warning_reaches_stderr(tmp_path, hostile):
    """The real command (not the test runner's app): glyphs no font has, odd names — stderr
    holds the summary line and evalreport's own warnings, nothing from Python."""
    result = evalreport_cmd("report", hostile, "-o", tmp_path / "r.html", "--group-by", "g")
    assert result.returncode == 0, result.stderr
    err = result.stderr.decode()
    assert "Warning" not in err and "Glyph" not in err and "site-packages" not in err, err
    assert all(line.startswith(("Fine", "Not great", "Terrible", "Something", "Could", "On the", "Great", "Perfect",
                                "warning: ")) for line in err.splitlines()), err


def test_charts_have_no_warnings_in_the_library_either(hostile):
    import warnings

    from evalreport import evaluate

    r = evaluate(hostile, group_by="g")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        html_text = r.to_html()
    assert "日本語" in html_text


def test_fallback_fonts_are_used_when_installed(monkeypatch):
    from matplotlib import font_manager

    from evalreport.render import charts

    class Font:
        def __init__(self, name):
            self.name = name

    monkeypatch.setattr(font_manager.fontManager, "ttflist", [Font("DejaVu Sans"), Font("Noto Sans CJK JP")])
    assert charts.font_families() == ["DejaVu Sans", "Noto Sans CJK JP"]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", [Font("DejaVu Sans")])
    assert charts.font_families() == ["DejaVu Sans"]
