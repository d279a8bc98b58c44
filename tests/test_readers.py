"""The readers' fast path (Arrow memory, read in place) against the pandas path they fall back to."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from evalreport import evaluate
from evalreport.load import InputSpec, _Validator, id_text, plan_layout

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
    rows = np.arange(len(fast))
    assert list(fast.groups["g"][rows]) == list(slow.groups["g"][rows])
    assert [id_text(fast.ids, i) for i in rows] == [id_text(slow.ids, i) for i in rows]
    assert fast.row0 == slow.row0 == 50


@pytest.mark.parametrize("ids", [pa.array(range(300), pa.int64()),  # kept in Arrow
                                 pa.array([None if i % 7 == 0 else i for i in range(300)], pa.int32()),
                                 pa.array([None if i % 5 == 0 else f"r{i}" for i in range(300)], pa.large_string()),
                                 pa.array([i + 0.5 for i in range(300)])])  # floats: through pandas, as before
def test_the_arrow_fast_path_names_rows_by_id_as_the_pandas_path(ids):
    """A row's id as text, read from Arrow (text or integers) or from pandas, missing ones None."""
    rng = np.random.default_rng(4)
    df = random_predictions(rng, 300, 3)
    spec = InputSpec(id_col="id")
    layout = plan_layout([*df.columns, "id"], spec, "t.csv")
    v = _Validator("t.csv", layout, spec)
    table = pa.Table.from_pandas(df, preserve_index=False).append_column("id", ids).slice(20, 100)
    fast = v._arrow_batch(table, 20)
    slow = v._frame_batch(table.to_pandas(), 20)
    assert hasattr(fast.ids, "iloc") == pa.types.is_floating(ids.type)  # which reading was tried
    got = [id_text(fast.ids, i) for i in range(len(fast))]
    assert got == [id_text(slow.ids, i) for i in range(len(slow))]
    want = [None if x is None else str(x) for x in ids.slice(20, 100).to_pylist()]
    assert got == want


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


@pytest.mark.parametrize("n, m", [(0, 0), (0, 3), (1, 1), (50, 3), (500, 40), (2000, 5000)])
def test_slice_codes_are_numbered_as_pandas_factorize_numbers_them(n, m):
    """Slices keep their first-seen order: Codes.factorize against pandas.factorize, unused values
    (a chunk's dictionary holds the whole file's) dropped."""
    from evalreport.load.spec import Codes

    rng = np.random.default_rng(n + m)
    codes = rng.integers(0, m, n).astype(np.int32) if m else np.zeros(n, np.int32)
    categories = np.array([f"v{i}" for i in range(m)], dtype=object)
    got_codes, got_values = Codes(codes, categories).factorize()
    want_codes, want_values = pd.factorize(pd.Categorical.from_codes(codes, categories=categories))
    np.testing.assert_array_equal(got_codes, want_codes)
    assert list(got_values) == list(want_values)
