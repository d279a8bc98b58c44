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
