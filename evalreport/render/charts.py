"""Charts for the HTML report: matplotlib (Agg, no pyplot) → SVG → ``data:`` URI.

Charts are drawn from the aggregated figures in the result, never from rows,
so their cost does not grow with the input. An SVG inside an ``<img>`` cannot
run script, so odd class names are harmless there.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

from .fmt import band_colours  # noqa: E402

MAX_BARS = 20
_RC = {"svg.fonttype": "none", "svg.hashsalt": "evalreport", "font.size": 9, "axes.spines.top": False,
       "axes.spines.right": False}


@dataclass(frozen=True)
class Chart:
    """An embedded chart: a data URI, its title and its alt text."""

    uri: str
    title: str
    alt: str


def _to_uri(fig: Figure) -> str:
    buf = io.BytesIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _label(text: str, limit: int = 32) -> str:
    """A class name safe for a matplotlib tick label: no mathtext, not too long."""
    text = str(text).replace("\n", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def per_class_bars(r) -> Chart | None:
    """Mean cross-entropy (KL for soft targets) per class, worst first, coloured by band."""
    classes = [c for c in r.classes_worst_first() if c.band is not None]
    if not classes:
        return None
    shown = classes[:MAX_BARS]
    colours = band_colours(r.ladder)
    values = [(c.kl_divergence if r.soft else c.cross_entropy) for c in shown]
    what = "mean KL(P‖Q)" if r.soft else "mean cross-entropy"
    title = f"{what.capitalize()} per class" + (
        f" — worst {len(shown)} of {len(classes)}" if len(shown) < len(classes) else ""
    )
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.0, 0.9 + 0.28 * len(shown)))
        ax = fig.add_subplot()
        y = list(range(len(shown)))[::-1]
        ax.barh(y, values, color=[colours[c.band][0] for c in shown], edgecolor="#333333", linewidth=0.4)
        ax.set_yticks(y, [_label(c.name) for c in shown])
        factor = 1.0 if r.unit == "nats" else 1.0 / math.log(2.0)
        top = max(values) if values else 0.0
        for band in r.ladder.bands[:-1]:
            x = band.upper * factor
            if x <= top * 1.05:
                ax.axvline(x, color="#888888", linewidth=0.6, linestyle=":")
        ax.axvline(r.overall.band_score, color="#000000", linewidth=1.0, linestyle="--", label="overall mean")
        ax.set_xlabel(f"{what} ({r.unit})")
        ax.set_title(title, loc="left")
        ax.legend(loc="lower right", frameon=False)
    alt = f"{title}. " + "; ".join(f"{c.name}: {v:.3f} {r.unit} ({c.band_label})" for c, v in zip(shown, values))
    return Chart(_to_uri(fig), title, alt)
