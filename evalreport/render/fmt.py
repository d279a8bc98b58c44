"""Number and text formatting shared by the Markdown and HTML renderers."""

from __future__ import annotations

import math
import re

from ..errors import printable

#: Band colours, best to worst: ColorBrewer RdYlBu (8 classes, colour-blind safe), reversed.
BAND_COLOURS = ("#313695", "#4575b4", "#74add1", "#abd9e9", "#fee090", "#fdae61", "#f46d43", "#d73027")
#: Text colour that reads on each band colour.
BAND_TEXT = ("#ffffff", "#ffffff", "#000000", "#000000", "#000000", "#000000", "#000000", "#ffffff")


def band_colours(ladder) -> dict[str, tuple[str, str]]:
    """Band id → (background, text) colour, spread over the palette when the ladder is longer."""
    n = len(ladder.bands)
    out = {}
    for i, band in enumerate(ladder.bands):
        j = round(i * (len(BAND_COLOURS) - 1) / max(n - 1, 1))
        out[band.id] = (BAND_COLOURS[j], BAND_TEXT[j])
    return out


def num(x: float | None, digits: int = 4) -> str:
    """A figure for display: fixed decimals, '—' for missing, '∞' for infinite; beyond a billion,
    4 significant digits (a perplexity's interval can reach 1e300: not 300 digits)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if abs(x) >= 1e9:
        return f"{x:.4g}"
    return f"{x:z.{digits}f}"  # z: −0.0, or a value that rounds to it, is shown 0.0000


def interval(ci: tuple[float, float] | None, digits: int = 3) -> str:
    """A 95% interval as '0.292 – 0.321' ('—' when there is none)."""
    if ci is None:
        return "—"
    return f"{num(ci[0], digits)} – {num(ci[1], digits)}"


def signed(x: float | None, digits: int = 4) -> str:
    """A difference with its sign: +0.0123, −0.1444 ('—' when there is none)."""
    return "—" if x is None else f"{x:+z.{digits}f}"


def points(x: float | None, digits: int = 2) -> str:
    """A difference of two shares in percentage points: +0.42 pp, −1.10 pp ('—' when there is none)."""
    return "—" if x is None else f"{100 * x:+.{digits}f} pp"


def points_interval(ci: tuple[float, float] | None, digits: int = 2) -> str:
    return "—" if ci is None else f"{points(ci[0], digits)} to {points(ci[1], digits)}"


def pct(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{100 * x:.{digits}f}%"


def count(x: float) -> str:
    """Row counts with thousands separators; fractional supports (soft targets) with one decimal."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"


def ratio(x: float | None) -> str:
    """A figure with no unit that may be large (a perplexity, a share): 4 significant digits below
    1,000, whole numbers with separators up to a billion, 4 significant digits again beyond
    (4.126e+43, not 44 digits)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if math.isinf(x):
        return "∞"
    return f"{x:,.0f}" if 1000 <= abs(x) < 1e9 else f"{x:.4g}"


def threshold(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:g}"


def band_range(row: dict, factor: float = 1.0) -> str:
    """A ladder row (from ``Ladder.rows()``) as ``0.2 ≤ s ≤ 0.3``, scaled to a unit."""
    lo, hi = row["lower"] * factor, row["upper"] * factor
    upper = f"{'≤' if row['upper_inclusive'] else '<'} {hi:.4g}"
    if row["lower"] == 0:
        return f"s {upper}"
    lower = f"{lo:.4g} {'≤' if row['lower_inclusive'] else '<'}"
    if math.isinf(hi):
        return f"s {'≥' if row['lower_inclusive'] else '>'} {lo:.4g}"
    return f"{lower} s {upper}"


#: ASCII punctuation: CommonMark lets a backslash escape any of it, and everything Markdown (and
#: GitHub's extensions: tables, autolinks, e-mail links, strikethrough, math) gives meaning to is here.
_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")


def md_escape(text: str) -> str:
    """Text from the data, safe anywhere in a Markdown document: on one line (control characters
    and line ends shown as escapes) and every ASCII punctuation character backslash-escaped, so no
    link, image, heading, list, emphasis, HTML or table break can come from a class name."""
    return _MD_SPECIAL.sub(r"\\\1", printable(str(text)))


def slice_cell(kind: str, label: str) -> str:
    """A slice's name in a Markdown table: a value of the data escaped (so "(missing)" in the data
    shows as written), the rows without a value and the folded values in italics — never the same."""
    return md_escape(label) if kind == "value" else f"*{label}*"
