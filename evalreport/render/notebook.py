"""For notebooks: the report inline in a Jupyter cell, and the per-class and per-slice tables as
pandas DataFrames — both from the same dictionaries as the JSON, so every figure is the JSON's."""

from __future__ import annotations

import html

from ..errors import UsageError

#: The inline report's height in a notebook cell; it scrolls inside, and the frame can be resized.
CELL_HEIGHT_PX = 640


def inline(document: str, title: str) -> str:
    """A self-contained HTML page as a notebook cell's output: in an iframe (``srcdoc``), so its
    styles and ids cannot touch the notebook's, as wide as the cell and CELL_HEIGHT_PX high."""
    return (f'<iframe srcdoc="{html.escape(document, quote=True)}" title="{html.escape(title, quote=True)}" '
            f'style="box-sizing:border-box;width:100%;height:{CELL_HEIGHT_PX}px;border:1px solid #ddd;resize:vertical" '
            'loading="lazy"></iframe>')


def flat(row: dict) -> dict:
    """A JSON row as a table row: an interval [low, high] becomes two columns."""
    out = {}
    for key, value in row.items():
        if key == "ci95":
            out["ci95_low"], out["ci95_high"] = value if value is not None else (None, None)
        else:
            out[key] = value
    return out


def frame(data: dict, table: str):
    """``data`` (a result's or a comparison's to_dict()) → the per-class table indexed by class,
    or the per-slice table indexed by (slice column, value)."""
    import pandas as pd

    if table == "classes":
        rows = [flat(r) for r in data["per_class"]]
        return pd.DataFrame(rows).set_index("class")
    if table == "slices":
        if not data["groups"]:
            raise UsageError("this result has no slices: evaluate it with group_by= (or groups=) first")
        rows = [{"slice": column, **flat(r)} for column, values in data["groups"].items() for r in values]
        return pd.DataFrame(rows).set_index(["slice", "value"])
    raise UsageError(f"to_frame() gives 'classes' or 'slices', not {table!r}")
