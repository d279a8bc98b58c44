"""Beyond one machine: a dask DataFrame on a LocalCluster gives the single-machine figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from evalreport import InputError, evaluate

from conftest import EXAMPLES, random_predictions, run
from test_properties import _assert_same

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        with distributed.Client(lc) as client:
            yield client


def _same(a: dict, b: dict) -> None:
    a, b = dict(a), dict(b)
    a.pop("input"), b.pop("input")
    _assert_same(a, b)  # to 1e-12: partitions add their sums in another order


def test_partitions_on_a_cluster_give_the_single_machine_report(cluster):
    df = pd.read_csv(EXAMPLES / "digits_predictions.csv")
    whole = evaluate(df, group_by="fold").to_dict()
    parts = evaluate(dd.from_pandas(df, npartitions=5), group_by="fold").to_dict()
    _same(whole, parts)
    assert parts["input"]["format"] == "dask"


def test_hashed_bootstrap_blocks_weights_soft_targets_across_partitions(cluster):
    rng = np.random.default_rng(9)
    df = random_predictions(rng, 5000, 4, soft=True, weights=True, groups=6)  # > 2048 rows: hashed blocks
    kw = dict(target_prefix="t_", weight_col="w", group_by="g")
    _same(evaluate(df, **kw).to_dict(), evaluate(dd.from_pandas(df, npartitions=7), **kw).to_dict())


def test_an_error_on_a_worker_names_the_global_row(cluster):
    df = pd.read_csv(EXAMPLES / "iris_predictions.csv")
    df.loc[140, "p_setosa"] = 0.9  # row 141 does not sum to 1; it sits in the last partition
    with pytest.raises(InputError, match=r"probabilities do not sum to 1 .*\(rows 141\)"):
        evaluate(dd.from_pandas(df, npartitions=4))


def test_binary_labels_are_checked_across_partitions(cluster):
    df = pd.DataFrame({"label": ["no"] * 50 + ["yes"] * 50 + ["maybe"] * 10, "s": 0.5})
    with pytest.raises(InputError, match="more than two values"):
        evaluate(dd.from_pandas(df, npartitions=3, sort=False), score_col="s", positive_label="yes")
    ok = evaluate(dd.from_pandas(df.iloc[:100], npartitions=3, sort=False), score_col="s", positive_label="yes")
    assert ok.classes == ("no", "yes")


def test_cli_on_a_directory_of_parquet_files(cluster, tmp_path):
    df = pd.read_csv(EXAMPLES / "digits_predictions.csv")
    folder = tmp_path / "parts"
    folder.mkdir()
    for i, start in enumerate(range(0, len(df), 600)):
        df.iloc[start:start + 600].to_parquet(folder / f"part-{i:02d}.parquet", index=False)
    out = run(["report", folder, "--engine", "dask", "--scheduler", cluster.scheduler.address,
               "-o", tmp_path / "r.html", "--json", tmp_path / "d.json", "--group-by", "fold"])
    assert out.exit_code == 0, out.stderr
    run(["report", EXAMPLES / "digits_predictions.csv", "-o", tmp_path / "r1.html", "--json", tmp_path / "s.json",
         "--group-by", "fold"])
    _same(json.loads((tmp_path / "s.json").read_text()), json.loads((tmp_path / "d.json").read_text()))
    bad = run(["report", EXAMPLES / "digits_predictions.csv", "--scheduler", "tcp://127.0.0.1:1"])
    assert bad.exit_code == 2 and "--scheduler goes with --engine dask" in bad.stderr


# --------------------------------------------------------------------------- compare and check on the cluster
# Issue 26: rows matched by id with dask's own shuffle (an outer merge), each joined partition reduced on a
# worker; the figures are the single machine's to 1e-12, the errors its one lines.

def _same_comparison(a: dict, b: dict) -> None:
    a, b = dict(a), dict(b)
    a.pop("inputs"), b.pop("inputs")
    _assert_same(a, b)


def _pair(rng, n: int, k: int = 3, **kw) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A baseline and a sharper candidate for the same rows, the candidate's rows in another order."""
    base = random_predictions(rng, n, k, **kw)
    base.insert(0, "id", [f"r{i}" for i in range(n)])
    cand = base.copy()
    cols = [c for c in base.columns if c.startswith("p_")]
    q = cand[cols].to_numpy() ** 1.3
    cand[cols] = q / q.sum(axis=1, keepdims=True)
    return base, cand.iloc[rng.permutation(n)].reset_index(drop=True)


@pytest.mark.parametrize("kw", [dict(groups=4), dict(soft=True, weights=True, groups=3)], ids=["hard", "soft"])
def test_compare_on_a_cluster_gives_the_single_machine_comparison(cluster, kw):
    """Rows matched by id across partitions that do not line up (3 against 5), > 2,048 rows so the
    bootstrap blocks are hashed from positions: every figure of the comparison as one machine's."""
    from evalreport import compare

    base, cand = _pair(np.random.default_rng(3), 4000, **kw)
    opts = dict(group_by="g") | (dict(target_prefix="t_", weight_col="w") if kw.get("soft") else {})
    local = compare(base, cand, **opts).to_dict()
    spread = compare(dd.from_pandas(base, npartitions=3, sort=False), dd.from_pandas(cand, npartitions=5, sort=False),
                     **opts).to_dict()
    _same_comparison(local, spread)
    assert spread["inputs"]["candidate"]["format"] == "dask" and spread["matched_by"] == local["matched_by"]
    assert spread["rising_rows"] == local["rising_rows"] and spread["rising_rows"][0]["id"].startswith("r")


def test_compare_on_a_cluster_by_position_and_on_common_rows(cluster):
    from evalreport import compare

    rng = np.random.default_rng(4)
    base, cand = _pair(rng, 3000)
    in_order = cand.set_index("id").loc[base["id"]].reset_index().drop(columns="id")
    local = compare(base.drop(columns="id"), in_order).to_dict()
    spread = compare(dd.from_pandas(base.drop(columns="id"), npartitions=4, sort=False),
                     dd.from_pandas(in_order, npartitions=2, sort=False)).to_dict()
    _same_comparison(local, spread)
    assert spread["matched_by"] == "row order"
    # the ids both hold: 100 rows only in the baseline, 40 only in the candidate
    b, c = base.iloc[100:], pd.concat([cand, cand.iloc[:40].assign(id=[f"x{i}" for i in range(40)])])
    local = compare(base.iloc[100:], c, common_rows=True)
    spread = compare(dd.from_pandas(b, npartitions=3, sort=False), dd.from_pandas(c, npartitions=2, sort=False),
                     common_rows=True)
    assert spread.dropped == local.dropped == (0, 140)
    _same_comparison(local.to_dict(), spread.to_dict())


@pytest.mark.parametrize("spoil, pattern", [
    ("duplicate", r"column 'id': ids must be unique to match rows \(rows 7, 8\)"),
    ("missing", r"its rows do not match the baseline's: 1 baseline id\(s\) are missing from it, e\.g\. 'r5'"),
    ("extra", r"1 of its id\(s\) are not in the baseline, e\.g\. 'zz'"),
    ("label", r"labels differ from the baseline's when rows are matched by id column 'id' .*rows 13\)"),
])
def test_a_match_problem_on_a_cluster_is_the_local_one_line(cluster, spoil, pattern):
    from evalreport import compare

    base, cand = _pair(np.random.default_rng(5), 600)
    if spoil == "duplicate":
        cand.loc[cand["id"] == "r7", "id"] = "r6"
        base.loc[7, "id"] = "r6"
    elif spoil == "missing":
        cand = cand[cand["id"] != "r5"]
    elif spoil == "extra":
        cand = pd.concat([cand, cand.iloc[:1].assign(id="zz")])
    else:
        row = cand.index[cand["id"] == "r12"][0]
        cand.loc[row, "label"] = "c2" if base.loc[12, "label"] != "c2" else "c1"
    errors = []
    for b, c in ((base, cand), (dd.from_pandas(base, npartitions=3, sort=False),
                                dd.from_pandas(cand, npartitions=2, sort=False))):
        with pytest.raises(InputError, match=pattern) as err:
            compare(b, c)
        errors.append(str(err.value).split(":", 1)[1])  # the name differs: 'DataFrame' / 'dask DataFrame'
    assert errors[0] == errors[1]


def test_compare_and_check_on_folders_of_parts_from_the_command_line(cluster, tmp_path):
    base, cand = _pair(np.random.default_rng(6), 2500, groups=3)
    for name, df, parts in (("b", base, 3), ("c", cand, 4)):
        (tmp_path / name).mkdir()
        size = -(-len(df) // parts)
        for i in range(parts):
            df.iloc[i * size:(i + 1) * size].to_parquet(tmp_path / name / f"part-{i}.parquet", index=False)
        df.to_csv(tmp_path / f"{name}.csv", index=False)
    address = ["--engine", "dask", "--scheduler", cluster.scheduler.address]
    local = run(["compare", tmp_path / "b.csv", tmp_path / "c.csv", "-o", tmp_path / "l.html", "--json",
                 tmp_path / "l.json", "--group-by", "g"])
    spread = run(["compare", tmp_path / "b", tmp_path / "c", *address, "-o", tmp_path / "d.html", "--json",
                  tmp_path / "d.json", "--group-by", "g"])
    assert local.exit_code == spread.exit_code == 0, spread.stderr
    _same_comparison(json.loads((tmp_path / "l.json").read_text()), json.loads((tmp_path / "d.json").read_text()))
    gates = ["--baseline", None, "--max-regression", "0", "--significant", "--max-slice-regression", "0.01",
             "--max-score", "5"]
    codes = []
    for folder, extra, out in ((tmp_path, [], "lc.json"), (tmp_path, address, "dc.json")):
        gates[1] = folder / ("b" if extra else "b.csv")
        done = run(["check", folder / ("c" if extra else "c.csv"), *gates, *extra, "--json", tmp_path / out,
                    "--group-by", "g"])
        codes.append(done.exit_code)
    assert codes == [1, 1]  # random labels: the sharper candidate is worse, the regression gate fails
    lc, dc = (json.loads((tmp_path / f).read_text()) for f in ("lc.json", "dc.json"))
    assert [g["gate"] for g in lc["gates"]] == [g["gate"] for g in dc["gates"]]
    _assert_same([{k: v for k, v in g.items()} for g in lc["gates"]], [{k: v for k, v in g.items()} for g in dc["gates"]])
    alone = run(["check", tmp_path / "c", *address, "--max-score", "0.0001"])
    assert alone.exit_code == 1 and "FAILED" in alone.stdout
    # a JSON report as the baseline: the point gate on the cluster's figures, the same as locally
    run(["report", tmp_path / "c.csv", "-o", tmp_path / "r.html", "--json", tmp_path / "rc.json"])
    for target, extra in ((tmp_path / "c.csv", []), (tmp_path / "c", address)):
        done = run(["check", target, *extra, "--baseline", tmp_path / "rc.json", "--max-regression", "0"])
        assert done.exit_code == 0 and "max-regression" in done.stdout, done.stderr


def test_compare_on_a_cluster_fails_closed_in_one_line(cluster, tmp_path):
    from test_hardening import one_error_line

    base, cand = _pair(np.random.default_rng(7), 300)
    for name, df in (("b", base), ("c", cand)):
        (tmp_path / name).mkdir()
        df.iloc[:150].to_parquet(tmp_path / name / "part-0.parquet", index=False)
        df.iloc[150:].drop(columns="p_c1" if name == "c" else []).to_parquet(tmp_path / name / "part-1.parquet",
                                                                            index=False)
    address = ["--engine", "dask", "--scheduler", cluster.scheduler.address]
    one_error_line(run(["compare", tmp_path / "b", tmp_path / "c", *address, "-o", tmp_path / "o.html"]),
                   r"part-1\.parquet: a part of .* has no column 'p_c1'")
    (tmp_path / "c" / "part-1.parquet").write_bytes(b"")
    one_error_line(run(["check", tmp_path / "c", "--baseline", tmp_path / "b", "--max-regression", "0", *address]),
                   r"part-1\.parquet: a part of .* cannot be read")
    one_error_line(run(["compare", tmp_path / "b", tmp_path / "b", "--engine", "dask", "--scheduler",
                        "tcp://127.0.0.1:1", "-o", tmp_path / "o.html"]),
                   r"--scheduler 'tcp://127\.0\.0\.1:1': no scheduler reached within 10 s")
    one_error_line(run(["compare", tmp_path / "b.csv", tmp_path / "b.csv", "--scheduler", "tcp://127.0.0.1:1",
                        "-o", tmp_path / "o.html"]), r"--scheduler goes with --engine dask")
    assert not (tmp_path / "o.html").exists()


def test_csv_parts_on_a_cluster_are_read_as_one_machine_reads_a_file(cluster, tmp_path):
    """CSV parts are read on the workers by the local engine's own reader: a row with a field too
    many (pandas, given the columns to read, dropped it without a word: the check passed) is refused
    in one line naming the part and its row; a value that is no number is named with its row in the
    whole input, as one machine names it; a --delimiter is honoured; the figures equal the local run's."""
    from test_hardening import one_error_line

    df = random_predictions(np.random.default_rng(8), 400, 3)
    address = ["--engine", "dask", "--scheduler", cluster.scheduler.address]
    good = tmp_path / "good"
    good.mkdir()
    df.iloc[:200].to_csv(good / "part-0.csv", index=False, sep=";")
    df.iloc[200:].to_csv(good / "part-1.csv", index=False, sep=";")
    df.to_csv(tmp_path / "whole.csv", index=False, sep=";")
    local = run(["report", tmp_path / "whole.csv", "--delimiter", ";", "-o", tmp_path / "l.html", "--json",
                 tmp_path / "l.json"])
    spread = run(["report", good, "--delimiter", ";", *address, "-o", tmp_path / "d.html", "--json",
                  tmp_path / "d.json"])
    assert local.exit_code == spread.exit_code == 0, spread.stderr
    _same(json.loads((tmp_path / "l.json").read_text()), json.loads((tmp_path / "d.json").read_text()))

    lines = (good / "part-1.csv").read_text().splitlines()  # the header, then the part's rows 1, 2, …
    fields = lines[7].split(";")
    for name, row, pattern in (
            ("fields", (5, lines[5] + ";extra"),
             r"part-1\.csv: row 5 has \d+ fields, but the header has \d+; a value with the delimiter in it must be quoted"),
            ("value", (7, ";".join([fields[0], "abc", *fields[2:]])),
             r"bad-value: column 'p_c0': values that are not numbers \(rows 207\); e\.g\. 'abc'")):
        folder = tmp_path / f"bad-{name}"
        folder.mkdir()
        (folder / "part-0.csv").write_text((good / "part-0.csv").read_text())
        rows = list(lines)
        rows[row[0]] = row[1]
        (folder / "part-1.csv").write_text("\n".join(rows) + "\n")
        one_error_line(run(["check", folder, "--delimiter", ";", "--max-score", "5", *address]), pattern)


@pytest.mark.parametrize("command", ["report", "compare"])
@pytest.mark.parametrize("cut", ["count", "rows"])
def test_partitions_cut_otherwise_between_the_two_passes_fail_closed(cluster, tmp_path, monkeypatch, command, cut):
    """Rows are placed by a first pass that counts each partition's rows. Counted on another frame —
    the first column alone — dask's optimiser fuses 8 Parquet parts into 3 partitions: the rows of 5
    parts were then left out without a word (a report of 1,500 rows of 4,000, exit 0). Now: one line,
    exit 2, and no output, when the two passes see another number of partitions ("count") or a
    partition another number of rows ("rows", checked where it is read)."""
    import evalreport.dask_engine
    import evalreport.dask_pair

    df = random_predictions(np.random.default_rng(4), 4000, 3)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(8):
        df.iloc[500 * i: 500 * (i + 1)].to_parquet(folder / f"part-{i}.parquet")
    fused = dd.read_parquet(sorted(str(f) for f in folder.iterdir()))
    assert len(fused[["label"]].map_partitions(len).compute()) < 8 == len(fused.map_partitions(len).compute())

    def counts(ddf):
        if cut == "count":
            return ddf[[ddf.columns[0]]].map_partitions(len)
        return ddf.map_partitions(len).map_partitions(lambda n: n + 1)  # one row more in each

    monkeypatch.setattr(evalreport.dask_engine, "row_counts", counts)
    monkeypatch.setattr(evalreport.dask_pair, "row_counts", counts)
    inputs = [folder] if command == "report" else [folder, folder]
    out = run([command, *inputs, "--engine", "dask", "--scheduler", cluster.scheduler.address,
               "-o", tmp_path / "o.html", "--json", tmp_path / "o.json"])
    expected = {"count": r"the cluster cut it into \d+ partitions to count their rows and 8 to read them",
                "rows": r"the partition from row [\d,]+ held 501 rows when they were counted and 500 when they were read"}
    from test_hardening import one_error_line

    one_error_line(out, expected[cut])
    assert not (tmp_path / "o.html").exists() and not (tmp_path / "o.json").exists()
