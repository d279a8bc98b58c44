"""The readers' fast path (Arrow memory, read in place) against the pandas path they fall back to."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from evalreport import evaluate
from evalreport.load import InputSpec, _Validator, plan_layout

from conftest import random_predictions
from test_properties import _assert_same


def _table(df: pd.DataFrame, dictionary: bool) -> pa.Table:
    t = pa.Table.from_pandas(df, preserve_index=False)
    if dictionary:  # as the CSV reader reads labels and slices
        for name in ("label", "g"):
            i = t.schema.get_field_index(name)
            t = t.set_column(i, name, t.column(name).dictionary_encode())
    return t


@pytest.mark.parametrize("dictionary", [False, True])
def test_arrow_fast_path_gives_the_pandas_batch(dictionary):
    rng = np.random.default_rng(3)
    df = random_predictions(rng, 300, 4, weights=True, groups=3)
    df["id"] = [f"row{i}" for i in range(len(df))]
    spec = InputSpec(weight_col="w", group_by=("g",), id_col="id")
    layout = plan_layout(list(df.columns), spec, "t.csv")
    v = _Validator("t.csv", layout, spec)
    table = _table(df, dictionary).slice(50, 200)  # a slice keeps the whole dictionary
    fast = v._arrow_batch(table, 50)
    assert fast is not None, "plainly valid rows must take the fast path"
    slow = v._frame_batch(table.to_pandas(), 50)
    np.testing.assert_array_equal(fast.q, slow.q)
    np.testing.assert_array_equal(fast.y, slow.y)
    np.testing.assert_array_equal(fast.w, slow.w)
    assert list(np.asarray(fast.groups["g"])) == list(np.asarray(slow.groups["g"]))
    assert list(fast.ids) == list(slow.ids) and fast.row0 == slow.row0 == 50


@pytest.mark.parametrize(
    "spoil",
    [
        lambda df: df.assign(p_c0=df["p_c0"].where(df.index != 7)),  # a missing probability
        lambda df: df.assign(p_c0=df["p_c0"] * 0.5),  # rows that do not sum to 1 (all within [0, 1])
        lambda df: df.assign(p_c0=df["p_c0"].where(df.index != 2, 1.2),
                             p_c1=df["p_c1"].where(df.index != 2, -0.2 - df["p_c2"])),  # sums to 1, outside [0, 1]
        lambda df: df.assign(label=df["label"].where(df.index != 3, "nope")),  # an unknown label
        lambda df: df.assign(w=df["w"].where(df.index != 5, -1.0)),  # a negative weight
        lambda df: df.assign(g=df["g"].where(df.index != 9)),  # a missing slice value
    ],
)
def test_anything_odd_leaves_the_fast_path(spoil):
    rng = np.random.default_rng(4)
    df = spoil(random_predictions(rng, 40, 3, weights=True, groups=2))
    spec = InputSpec(weight_col="w", group_by=("g",))
    v = _Validator("t.csv", plan_layout(list(df.columns), spec, "t.csv"), spec)
    assert v._arrow_batch(_table(df, False), 0) is None


@pytest.mark.parametrize("soft", [False, True])
def test_csv_parquet_and_dataframe_give_the_same_report(tmp_path, soft):
    rng = np.random.default_rng(8)
    df = random_predictions(rng, 2000, 5, soft=soft, weights=True, groups=4)
    df.to_csv(tmp_path / "p.csv", index=False, float_format="%.17g")
    df.to_parquet(tmp_path / "p.parquet", index=False)
    kw = dict(target_prefix="t_" if soft else None, weight_col="w", group_by="g", bootstrap=8)
    results = [evaluate(x, **kw).to_dict() for x in (df, tmp_path / "p.csv", tmp_path / "p.parquet")]
    for r in results:
        r.pop("input")
    _assert_same(results[0], results[1])
    _assert_same(results[0], results[2])


def test_chunks_with_different_dictionaries():
    """Arrow's CSV reader gives each block its own dictionary: labels and slices are unified."""
    from evalreport.load import _arrow_categories, _class_codes

    chunked = pa.chunked_array([pa.array(["x", "y", "x"]).dictionary_encode(), pa.array(["z", "x"]).dictionary_encode()])
    values = _arrow_categories(chunked)
    assert list(values) == ["x", "y", "x", "z", "x"]
    assert _class_codes(values, ("z", "y", "x")).tolist() == [2, 1, 2, 0, 2]
    assert _class_codes(values, ("x", "y")).tolist() == [0, 1, 0, -1, 0]  # 'z' is no class
    integers = _arrow_categories(pa.chunked_array([pa.array([3, 1]), pa.array([3])]))
    assert list(integers) == ["3", "1", "3"]  # as text, as the pandas path writes them
    assert _arrow_categories(pa.chunked_array([pa.array(["a", None])])) is None  # missing: the pandas path
    assert _arrow_categories(pa.chunked_array([pa.array([1.0, 2.0])])) is None  # floats: the pandas path
