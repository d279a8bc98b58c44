"""Charts for the HTML report: matplotlib (Agg, no pyplot) → SVG → ``data:`` URI.

Charts are drawn from the aggregated figures in the result, never from rows,
so their cost does not grow with the input. An SVG inside an ``<img>`` cannot
run script, so odd class names are harmless there. Every chart has a title,
axis labels with units and alt text.
"""

from __future__ import annotations

import base64
import io
import math
import os
import pickle
import re
import textwrap
import warnings

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from ..errors import printable  # noqa: E402
from ..ladder import UNITS  # noqa: E402
from .embed import Chart  # noqa: E402
from .fmt import band_colours  # noqa: E402
from .labels import short_labels  # noqa: E402

MAX_BARS = 20
MAX_CONFUSION = 20
#: Fonts for glyphs DejaVu Sans lacks (CJK, other scripts), used when installed: matplotlib falls
#: back glyph by glyph, and with svg.fonttype "none" the browser is told the same list.
FALLBACK_FONTS = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK TC", "Noto Sans CJK KR", "Source Han Sans",
                  "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Droid Sans Fallback", "AR PL UMing CN", "Noto Sans",
                  "Noto Sans Symbols", "Noto Sans Symbols2")


def font_families() -> list[str]:
    """DejaVu Sans (matplotlib's own) and the installed fallback fonts, in FALLBACK_FONTS' order."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return ["DejaVu Sans"] + [f for f in FALLBACK_FONTS if f in installed]


_RC = {
    "font.family": font_families(),
    "svg.fonttype": "none",
    "svg.hashsalt": "evalreport",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    # titles at the top of their axes, where matplotlib's automatic placement puts them on these
    # charts (nothing is drawn above an axes), without its search of every artist on each draw
    "axes.titley": 1.0,
}
_INK = "#222222"
_THRESHOLD_PT = 7  # the band thresholds' labels on the bar charts
_GRID = "#9a9a9a"


def _to_uri(fig: Figure) -> str:
    """The figure drawn once as SVG, cropped to what is drawn (``bbox_inches="tight"`` draws a
    figure twice, to measure it and then at its new size: half the charts' time; here the one draw
    measures it, and the SVG's viewport is set to the same box, padded as matplotlib pads it)."""
    buf, boxes = io.BytesIO(), []
    measure = fig.canvas.mpl_connect("draw_event", lambda event: boxes.append(fig.get_tightbbox(event.renderer)))
    with matplotlib.rc_context(_RC), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a glyph no installed font has is drawn as text, without a word
        fig.savefig(buf, format="svg", metadata=_NO_METADATA)
        pad = matplotlib.rcParams["savefig.pad_inches"]
    fig.canvas.mpl_disconnect(measure)
    svg = _cropped(buf.getvalue(), boxes[-1].padded(pad), fig.get_figheight())
    return "data:image/svg+xml;base64," + base64.b64encode(_trim_svg(svg)).decode("ascii")


_SIZE = re.compile(rb'<svg ([^>]*?)width="[\d.]+pt" height="[\d.]+pt" viewBox="0 0 [\d.]+ [\d.]+"')


def _cropped(svg: bytes, box, fig_height: float) -> bytes:
    """An SVG of a whole figure shown only within ``box`` (inches, from the figure's bottom left,
    as matplotlib measures it): its size and viewBox in points (SVG's y runs down)."""
    x, y, w, h = (round(v * 72, 2) for v in (box.x0, fig_height - box.y1, box.width, box.height))
    new = f'width="{w:g}pt" height="{h:g}pt" viewBox="{x:g} {y:g} {w:g} {h:g}"'.encode()
    out, n = _SIZE.subn(lambda m: b"<svg " + m.group(1) + new, svg, count=1)
    return out if n == 1 else svg  # a matplotlib that writes its size otherwise: the whole figure (tested)


#: No date (the same figures give the same bytes), and no creator block: 500 bytes a chart.
_NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
_INDENT = re.compile(rb"\n +")
_NO_ROTATION = re.compile(rb' transform="rotate\(-0 [-\d.e]+ [-\d.e]+\)"')
_GEOMETRY = re.compile(rb'( (?:d|x|y|width|height)=")([^"]*)(")')
_LONG_NUMBER = re.compile(rb"(\d\.\d\d)\d+")


def _trim_svg(svg: bytes) -> bytes:
    """matplotlib's SVG with what a browser does not draw removed (a quarter of its bytes): the
    indentation between elements, rotations by -0, and the digits of coordinates below 0.01 pt
    (1/7200 inch; matplotlib writes six). Only geometry attributes are rounded — text, class names
    included, is left exactly as it was."""
    svg = _INDENT.sub(b"\n", svg)
    svg = _NO_ROTATION.sub(b"", svg)
    return _GEOMETRY.sub(lambda m: m.group(1) + _LONG_NUMBER.sub(rb"\1", m.group(2)) + m.group(3), svg)


def _chart(fig: Figure, title: str, alt: str, key: tuple = ()) -> Chart:
    """The figure as an embedded chart; its title and alt text printable (they hold names from the data)."""
    return Chart(_to_uri(fig), printable(title), printable(alt), tuple((a, printable(b)) for a, b in key))


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(_RC):
        return Figure(figsize=(width, height))


_PLAIN = FuncFormatter(lambda v, _: f"{v:g}")


def _plain_log(axis) -> None:
    """Log-axis tick labels as plain numbers (0.01, 1, 100): clearer, and no mathtext to typeset;
    unlabelled minor ticks at 2 and 5 of each decade (not all eight: a tick is matplotlib's most
    costly object to draw, and these two are what a reader reads values between labels by)."""
    axis.set_major_formatter(_PLAIN)
    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    axis.set_minor_formatter(NullFormatter())


def _label(text: str, limit: int = 32) -> str:
    """A name safe for a matplotlib label and for the SVG it ends up in: printable (a control
    character would make the SVG malformed XML), no mathtext, not too long."""
    text = printable(str(text))
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _safe(text)


def _safe(text: str) -> str:
    """No mathtext: a $ in a name is a dollar sign."""
    return text.replace("$", r"\$")


def _labels(names, limit: int) -> tuple[list[str], tuple]:
    """Labels for names shown together on one axis (see labels.short_labels), and their key."""
    shown, key = short_labels([printable(str(n)) for n in names], limit)
    return [_safe(t) for t in shown], key


def _factor(r) -> float:
    return UNITS[r.unit]


def _score(r, item) -> float | None:
    return item.kl_divergence if r.soft else item.cross_entropy


def _what(r) -> str:
    return "mean KL(P‖Q)" if r.soft else "mean cross-entropy"


# --------------------------------------------------------------------------- the ladder


def ladder_chart(r) -> Chart:
    """The ladder as equal-width bands; the model's score and each class's as marks."""
    bands = r.ladder.bands
    f = _factor(r)
    uppers = [b.upper for b in bands[:-1]]
    o = r.overall
    prior_nats = max((o.prior_cross_entropy - (o.entropy if r.soft else 0.0)) / f, 0.0)  # the frequencies' own score
    scores_nats = [s / f for s in [o.band_score] + [_score(r, c) for c in r.per_class if c.band]] + [prior_nats]
    top = max([uppers[-1] * 2] + [s * 1.1 for s in scores_nats])
    bounds = [0.0] + uppers + [top]

    def pos(x_nats: float) -> float:
        x = min(max(x_nats, 0.0), top)
        for i in range(len(bounds) - 1):
            if x <= bounds[i + 1]:
                return i + (x - bounds[i]) / (bounds[i + 1] - bounds[i])
        return float(len(bounds) - 1)

    colours = band_colours(r.ladder)
    with matplotlib.rc_context(_RC):
        fig = _figure(8.0, 2.0)
        ax = fig.add_subplot()
        for i, band in enumerate(bands):
            bg, fg = colours[band.id]
            ax.add_patch(Rectangle((i, 0), 1, 1, facecolor=bg, edgecolor="white", linewidth=1.5))
            ax.text(i + 0.5, 0.5, textwrap.fill(band.label.replace(" probabilities", ""), 10), ha="center",
                    va="center", color=fg, fontsize=8)
        class_pos = [pos(_score(r, c) / f) for c in r.per_class if c.band]
        ax.plot(class_pos, [-0.12] * len(class_pos), linestyle="none", marker="|", markersize=12, color=_INK,
                alpha=0.6)
        x = pos(r.overall.band_score_nats)
        px = pos(prior_nats)
        ax.plot([px], [1.12], marker="v", markersize=11, markerfacecolor="white", markeredgecolor=_INK,
                linestyle="none")
        ax.plot([x], [1.12], marker="v", markersize=13, color=_INK, linestyle="none")
        ax.annotate(f"{r.overall.band_score:.3f} {r.unit}", (x, 1.3), ha="center", va="bottom", fontsize=9,
                    fontweight="bold")
        ax.set_xlim(0, len(bands))
        ax.set_ylim(-0.35, 1.6)
        ticks = list(range(1, len(bands)))
        ax.set_xticks(ticks, [f"{u * f:.3g}" for u in uppers])
        ax.set_yticks([])
        ax.spines[["left", "top", "right"]].set_visible(False)
        ax.set_xlabel(f"{_what(r)} ({r.unit}); each band has the same width, thresholds on the axis")
        title = "Where the model sits on the ladder"
        ax.set_title(title, loc="left")
        ax.text(len(bands), 1.45, f"▼ the model    ▽ the class frequencies alone    | a class ({len(class_pos)})",
                ha="right", va="bottom", fontsize=8)
    worst = r.classes_worst_first()[:3]
    alt = (
        f"{title}: the model's {_what(r)} of {r.overall.band_score:.3f} {r.unit} is in the band "
        f"'{r.overall.band_label}'; always predicting the class frequencies would score "
        f"{prior_nats * f:.3f} {r.unit} ('{o.prior_band_label}'). Worst classes: "
        + "; ".join(f"{c.name} {(_score(r, c) or 0):.3f} ({c.band_label})" for c in worst if c.band)
    )
    return _chart(fig, title, alt)


# --------------------------------------------------------------------------- −ln p


def loss_curve(r) -> Chart:
    """−ln p against the probability given to the true class, with the thresholds."""
    f = _factor(r)
    o = r.overall
    p = np.linspace(1e-3, 1.0 - 1e-6, 300)
    colours = band_colours(r.ladder)
    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 3.6)
        ax = fig.add_subplot()
        ax.plot(p, -np.log(p) * f, color=_INK, linewidth=1.6, label=f"loss of one row, −ln p ({r.unit})")
        for band in r.ladder.bands[:-1]:
            y = band.upper * f
            ax.axhline(y, color=colours[band.id][0], linewidth=1.2, linestyle="--")
            ax.text(0.002, y * 1.05, f"{band.label.replace(' probabilities', '')} below {y:.3g}",
                    fontsize=7, color=_INK, va="bottom")
        mean_nats = o.cross_entropy / f
        ax.plot([math.exp(-mean_nats)], [o.cross_entropy], marker="o", markersize=9, color="#d73027",
                linestyle="none", label=f"mean: p = {math.exp(-mean_nats):.3f}, {o.cross_entropy:.3f} {r.unit}")
        med = o.median_row_cross_entropy
        if med is not None and math.isfinite(med) and med > 0:
            ax.plot([math.exp(-med / f)], [med], marker="s", markersize=7, color="#4575b4", linestyle="none",
                    label=f"median row: p ≈ {math.exp(-med / f):.3f}, {med:.3g} {r.unit}")
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
        ax.set_ylim(min(0.002 * f, (med or 1) * 0.5), 8 * f)
        ax.set_xlim(0, 1)
        ax.set_xlabel("probability given to the true class, p")
        ax.set_ylabel(f"cross-entropy ({r.unit}, log scale)")
        title = "How a probability becomes a loss"
        ax.set_title(title, loc="left")
        ax.legend(loc="upper right", frameon=False, fontsize=8)
    alt = (
        f"{title}: the curve −ln p falls from high loss at small p to 0 at p = 1. The model's mean loss "
        f"{o.cross_entropy:.3f} {r.unit} equals always giving the true class p = {math.exp(-mean_nats):.3f}."
    )
    return _chart(fig, title, alt)


# --------------------------------------------------------------------------- bars


def _bars(r, items, names, title: str, note: str) -> Chart | None:
    """Horizontal bars of the band score, worst first, coloured by band."""
    if not items:
        return None
    colours = band_colours(r.ladder)
    values = [_score(r, it) for it in items]
    f = _factor(r)
    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 1.0 + 0.28 * len(items))
        ax = fig.add_subplot()
        y = list(range(len(items)))[::-1]
        ax.barh(y, values, color=[colours[it.band][0] for it in items], edgecolor="#333333", linewidth=0.4)
        labels, key = _labels(names, 32)
        ax.set_yticks(y, labels)
        for tick, it in zip(ax.get_yticklabels(), items):
            if getattr(it, "kind", "value") != "value":  # "(missing)", "(other)": no value of the data
                tick.set_fontstyle("italic")
        top = max(max(values), r.overall.band_score)
        right = top * 1.08
        ax.set_xlim(0, right)
        per_pt = right / (fig.get_figwidth() * 72 * ax.get_position().width)  # data units per point
        last_end = -math.inf
        for band in r.ladder.bands[:-1]:
            x = band.upper * f
            if x <= top * 1.05:
                ax.axvline(x, color=_GRID, linewidth=0.7, linestyle=":")
                text = f"{x:.3g}"
                half = len(text) * _THRESHOLD_PT * 0.62 / 2 * per_pt  # half the label's width, about
                if x - half >= last_end + 4 * per_pt and x + half <= right:  # only where it has room
                    ax.text(x, len(items) - 0.4, text, fontsize=_THRESHOLD_PT, color=_GRID, ha="center",
                            va="bottom")
                    last_end = x + half
        ax.axvline(r.overall.band_score, color=_INK, linewidth=1.0, linestyle="--", label="overall mean")
        ax.set_xlabel(f"{_what(r)} ({r.unit})")
        ax.set_title(title, loc="left", pad=14)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    alt = f"{title}{note}. " + "; ".join(
        f"{n}: {v:.3f} {r.unit} ({it.band_label})" for n, it, v in zip(names, items, values)
    )
    return _chart(fig, title, alt, key)


def per_class_bars(r) -> Chart | None:
    classes = [c for c in r.classes_worst_first() if c.band is not None]
    shown = classes[:MAX_BARS]
    title = f"{_what(r).capitalize()} per class"
    if len(shown) < len(classes):
        title += f": worst {len(shown)} of {len(classes)}"
    return _bars(r, shown, [c.name for c in shown], title, "")


def slice_bars(r, column: str) -> Chart | None:
    slices = [s for s in r.slices_worst_first(column) if s.band is not None]
    shown = slices[:MAX_BARS]
    title = f"{_what(r).capitalize()} by {_label(column, 40)}"
    if len(shown) < len(slices):
        title += f": worst {len(shown)} of {len(slices)}"
    return _bars(r, shown, [s.label for s in shown], title, "")


# --------------------------------------------------------------------------- histogram


def loss_histogram(r) -> Chart:
    """Rows per bin of per-row cross-entropy (log x), with the band thresholds."""
    f = _factor(r)
    edges = [e for e in r.histogram.edges]
    counts = np.asarray(r.histogram.counts, dtype=float)
    # draw the first bin [0, 1e-4) one decade to the left, and close the open last bin
    first = edges[1] / 10
    drawn = np.array([first] + edges[1:-1] + [edges[-2] * 2])
    colours = band_colours(r.ladder)
    o = r.overall
    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 3.2)
        ax = fig.add_subplot()
        ax.stairs(counts, drawn, fill=True, color="#74add1", edgecolor="#313695", linewidth=0.6)
        for band in r.ladder.bands[:-1]:
            ax.axvline(band.upper * f, color=colours[band.id][0], linewidth=1.0, linestyle="--")
        ax.axvline(o.cross_entropy, color=_INK, linewidth=1.2, label=f"mean {o.cross_entropy:.3g} {r.unit}")
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
        if counts.max() > 0 and counts[counts > 0].min() * 100 < counts.max():
            ax.set_yscale("log")
            _plain_log(ax.yaxis)
        ax.set_xlabel(f"cross-entropy of one row ({r.unit}, log scale; leftmost bar: below {edges[1]:.1g})")
        ax.set_ylabel("rows")
        title = "Per-row loss"
        if o.clipped_rows:
            title += f": {o.clipped_rows} row(s) clipped at eps, at the far right"
        ax.set_title(title, loc="left")
        ax.legend(loc="upper right", frameon=False)
    alt = (
        f"Histogram of the per-row cross-entropy of {r.rows} rows, log scale. Mean {o.cross_entropy:.3f} "
        f"{r.unit}, median about {o.median_row_cross_entropy:.3g} {r.unit}; {o.clipped_rows} rows clipped."
    )
    return _chart(fig, title, alt)


# --------------------------------------------------------------------------- confusion


def confusion_chart(r) -> Chart:
    """Row-normalised confusion matrix; beyond 20 classes, the worst 20 and 'other'."""
    names = list(r.classes)
    keep = list(range(len(names)))
    title = "Confusion matrix (each row sums to 100%)"
    if len(names) > MAX_CONFUSION:
        order = {c.name: i for i, c in enumerate(r.classes_worst_first())}
        keep = sorted(range(len(names)), key=lambda i: order[names[i]])[:MAX_CONFUSION]
        title = f"Confusion matrix, worst {MAX_CONFUSION} of {len(names)} classes"
    rows = r.confusion_rows(keep)
    totals = rows.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(totals > 0, rows / np.where(totals > 0, totals, 1), 0.0)
    cols = norm[:, keep]
    col_names = [names[i] for i in keep]
    if len(keep) < len(names):
        cols = np.column_stack([cols, 1.0 - cols.sum(axis=1)])
        col_names.append("(other)")
    n = len(keep)
    size = 2.5 + 0.32 * max(n, 3)
    with matplotlib.rc_context(_RC):
        fig = _figure(size + 1.0, size)
        ax = fig.add_subplot()
        im = ax.imshow(cols, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        labels, key = _labels(col_names[:n], 16)  # the rows' classes; then (other)
        ax.set_xticks(range(len(col_names)), labels + col_names[n:], rotation=60, ha="right")
        ax.set_yticks(range(n), labels)
        if n <= 12:
            for i in range(n):
                for j in range(cols.shape[1]):
                    v = cols[i, j]
                    if v >= 0.005:
                        ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=7,
                                color="white" if v > 0.6 else _INK)
        ax.set_xlabel("predicted class (argmax of Q)")
        ax.set_ylabel("true class")
        ax.set_title(title, loc="left")
        fig.colorbar(im, ax=ax, fraction=0.04, label="share of the true class's rows")
    diag = [(names[i], cols[k, k]) for k, i in enumerate(keep)]
    worst = sorted(diag, key=lambda t: t[1])[:3]
    alt = f"{title}. Lowest recall: " + "; ".join(f"{c} {100 * v:.0f}% predicted correctly" for c, v in worst)
    return _chart(fig, title, alt, key)


# --------------------------------------------------------------------------- soft targets


def decomposition_chart(r) -> Chart | None:
    """Soft targets: CE = H(P) + KL(P‖Q), overall and for the worst classes."""
    if not r.soft:
        return None
    classes = [c for c in r.classes_worst_first() if c.band is not None][: MAX_BARS - 1]
    names = ["overall"] + [c.name for c in classes]
    kl = [r.overall.kl_divergence] + [c.kl_divergence for c in classes]
    ce = [r.overall.cross_entropy] + [c.cross_entropy for c in classes]
    h = [a - b for a, b in zip(ce, kl)]
    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 1.0 + 0.3 * len(names))
        ax = fig.add_subplot()
        y = list(range(len(names)))[::-1]
        ax.barh(y, h, color="#bdbdbd", edgecolor="#333333", linewidth=0.4, label="H(P): in the targets, irreducible")
        ax.barh(y, kl, left=h, color="#f46d43", edgecolor="#333333", linewidth=0.4,
                label="KL(P‖Q): the model's, removable")
        labels, key = _labels(names, 32)
        ax.set_yticks(y, labels)
        ax.set_xlabel(f"cross-entropy ({r.unit})")
        title = "Cross-entropy = entropy of the targets + KL divergence"
        ax.set_title(title, loc="left")
        ax.legend(loc="lower right", frameon=False, fontsize=8)
    alt = (
        f"{title}. Overall: H(P) {r.overall.entropy:.3f} + KL {r.overall.kl_divergence:.3f} = "
        f"{r.overall.cross_entropy:.3f} {r.unit}."
    )
    return _chart(fig, title, alt, key)


def reliability_chart(r) -> Chart | None:
    """Top-label reliability: accuracy against mean confidence per bin, with the rows per bin below."""
    c = r.calibration
    if c is None:
        return None
    bins = [b for b in c.bins if b.weight > 0]
    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 4.6)
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.1], "hspace": 0.08})
        top.plot([0, 1], [0, 1], color=_GRID, linestyle="--", linewidth=1.0, label="perfect calibration")
        width = 1.0 / len(c.bins)
        top.bar([b.lower for b in bins], [b.accuracy for b in bins], width=width, align="edge", color="#74add1",
                edgecolor="#313695", linewidth=0.6, label="accuracy in the bin")
        top.plot([b.confidence for b in bins], [b.accuracy for b in bins], marker="o", color="#d73027",
                 linestyle="none", markersize=5, label="(mean confidence, accuracy)")
        top.set_ylim(0, 1.02)
        top.set_ylabel("accuracy (share of rows right)")
        title = f"Reliability of the top class: ECE {c.ece:.3f}, MCE {c.mce:.3f}"
        top.set_title(title, loc="left")
        top.legend(loc="upper left", frameon=False, fontsize=8)
        bottom.bar([b.lower for b in c.bins], [b.rows for b in c.bins], width=width, align="edge", color="#bdbdbd",
                   edgecolor="#555555", linewidth=0.5)
        for b in c.bins:
            if b.rows:
                bottom.text(b.lower + width / 2, b.rows, f"{b.rows:,}", ha="center", va="bottom", fontsize=6)
        if max(b.rows for b in c.bins) > 50 * max(1, min(b.rows for b in bins)):
            bottom.set_yscale("log")
            _plain_log(bottom.yaxis)
        bottom.set_ylabel("rows")
        bottom.set_xlabel("confidence: the top predicted probability (15 bins)")
        bottom.set_xlim(0, 1)
    alt = (f"{title}. " + "; ".join(f"confidence {b.lower:.2f}–{b.upper:.2f}: {b.rows} rows, accuracy "
                                    f"{b.accuracy:.2f} at mean confidence {b.confidence:.2f}" for b in bins))
    return _chart(fig, title, alt)


def corp_chart(r) -> Chart | None:
    """The CORP reliability diagram: the isotonic recalibration of the main forecast, and the band
    where a calibrated forecaster's curve would lie."""
    d = r.decomposition
    if d is None or not d.curve:
        return None
    c = d.curve
    binary = d.main == "binary"
    what = f"P({r.classes[1]})" if binary else "the top probability"
    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 4.2)
        ax = fig.add_subplot()
        ax.fill_between(c["x"], c["band_low"], c["band_high"], color="#c6dbef", step="post",
                        label="90% consistency band: where a calibrated model's curve would lie")
        ax.plot([0, 1], [0, 1], color=_GRID, linestyle="--", linewidth=1.0, label="perfect calibration")
        ax.step(c["x"], c["recalibrated"], where="post", color="#d73027", linewidth=1.6,
                label="recalibrated (isotonic fit of the outcome)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(f"forecast: {what}")
        ax.set_ylabel("observed frequency (isotonic)")
        title = "CORP reliability diagram" + (" (binary)" if binary else " (top label)")
        ax.set_title(title, loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    outside = sum(1 for y, lo, hi in zip(c["recalibrated"], c["band_low"], c["band_high"]) if y < lo or y > hi)
    alt = (f"{title}: the isotonic recalibration of {what} against the forecast, with a 90% consistency band; "
           f"the curve leaves the band at {outside} of {len(c['x'])} points.")
    return _chart(fig, title, alt)


def ovr_chart(r) -> Chart | None:
    """One-vs-rest reliability for the worst-calibrated classes, side by side."""
    c = r.calibration
    if c is None or not c.class_bins:
        return None
    names = list(c.class_bins)
    errors = dict(c.per_class)
    centres = [(b.lower + b.upper) / 2 for b in c.bins]
    labels, key = _labels(names, 24)  # at 8 pt, 24 characters fit a panel's width
    with matplotlib.rc_context(_RC):
        fig = _figure(2.2 * len(names) + 0.6, 2.8)
        axes = np.atleast_1d(fig.subplots(1, len(names), sharey=True, gridspec_kw={"wspace": 0.12}))
        for ax, name, label in zip(axes, names, labels):
            freq, conf, weight = c.class_bins[name]
            pts = [(x if x is not None else m, y) for x, y, m, wt in zip(conf, freq, centres, weight) if wt > 0]
            ax.plot([0, 1], [0, 1], color=_GRID, linestyle="--", linewidth=0.8)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", markersize=3.5, color="#d73027", linewidth=1)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])  # 0.00 … 1.00 would run into the next panel's
            ax.set_title(f"{label}\ncalibration error {errors[name]:.3f}", fontsize=8, loc="left")
            ax.set_xlabel("predicted P(class)")
        axes[0].set_ylabel("observed share of the class")
        title = f"One-vs-rest reliability, the {len(names)} worst-calibrated classes"
        fig.suptitle(title, x=0.02, y=1.07, ha="left", fontsize=10, fontweight="bold")
    alt = f"{title}: " + "; ".join(f"{n} calibration error {errors[n]:.3f}" for n in names)
    return _chart(fig, title, alt, key)


#: The charts drawn from what is fitted on the row sample; the others read only the reduced sums.
ROW_SAMPLE_CHARTS = frozenset({"corp"})


def all_charts(r, processes: int = 1, then=None) -> dict:
    """Every chart of the report, by name.

    matplotlib draws on one core. With ``processes=2`` the charts are shared
    with a forked copy of this process, which hands its charts back through a
    pipe; should it fail or hang, the charts it owed are drawn here: the report
    is the same either way.

    ``then``: ``r`` is a first result without the row-sample figures
    (``build_result(sample_fits=False)``), and ``then()`` returns the full one (None if
    there is none); it is called once the other charts are drawn here, and the
    ROW_SAMPLE_CHARTS are drawn from what it returns. The other charts are the
    same drawn from either result (tested). Returns None without a full result.
    """
    if not r.classifier:  # sequences alone: their figures are tables
        return {"slices": {}}
    jobs = {
        "reliability": reliability_chart,
        "corp": corp_chart,
        "ovr": ovr_chart,
        "ladder": ladder_chart,
        "curve": loss_curve,
        "per_class": per_class_bars,
        "histogram": loss_histogram,
        "confusion": confusion_chart,
        "decomposition": decomposition_chart,
    } | {("slices", col): (lambda r, col=col: slice_bars(r, col)) for col in r.groups}
    late = ROW_SAMPLE_CHARTS if then is not None else frozenset()
    away = _shared(jobs, late, r.soft) if processes > 1 else set()
    child = _Forked.start(r, {name: jobs[name] for name in away - late})
    try:
        done = {name: draw(r) for name, draw in jobs.items() if not (child and name in away) and name not in late}
        if late:
            r = then()
            if r is None:
                return None
            done |= {name: jobs[name](r) for name in late}
    finally:
        from_child = child.collect() if child else {}
    done |= from_child
    done |= {name: draw(r) for name, draw in jobs.items() if name not in done}  # what the child did not deliver
    charts = {name: done[name] for name in jobs if isinstance(name, str)}
    charts["slices"] = {col: done[("slices", col)] for col in r.groups}
    return charts


#: What each chart takes to draw, relative (measured on the digits example; a slice column's bars
#: as the per-class bars): the forked copy is given about half of the total.
_COST = {"reliability": 25, "confusion": 23, "ovr": 23, "histogram": 21, "curve": 15, "per_class": 13,
         "corp": 11, "ladder": 9, "decomposition": 10}


def _shared(jobs: dict, late: frozenset, soft: bool) -> set:
    """The charts for the forked copy: costliest first, each to the side with less so far; the
    ``late`` ones (drawn once the full result comes) stay here. The same split for the same
    charts, so the same work in each process (the bytes do not depend on where a chart is drawn)."""

    def cost(name) -> int:
        if name == "decomposition" and not soft:
            return 0  # hard labels: no chart
        return _COST.get(name, _COST["per_class"])

    here, there, away = sum(cost(n) for n in late), 0, set()
    for name in sorted((n for n in jobs if n not in late), key=lambda n: (-cost(n), str(n))):
        if there < here:
            away.add(name)
            there += cost(name)
        else:
            here += cost(name)
    return away


class _Forked:
    """Charts drawn by a forked copy of this process, handed back pickled through a pipe."""

    #: Seconds to wait for the child once the parent has drawn its share.
    TIMEOUT = 120.0

    def __init__(self, pid: int, fd: int) -> None:
        self._pid, self._fd = pid, fd

    @classmethod
    def start(cls, r, jobs: dict) -> _Forked | None:
        if not jobs:
            return None
        try:
            read_end, write_end = os.pipe()
        except OSError:
            return None
        try:
            pid = os.fork()
        except OSError:  # no resources: draw everything here
            os.close(read_end), os.close(write_end)
            return None
        if pid == 0:  # the child: draw, send, and leave without running the parent's cleanup
            code = 1
            try:
                os.close(read_end)
                with os.fdopen(write_end, "wb") as out:
                    pickle.dump({name: draw(r) for name, draw in jobs.items()}, out)
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        return cls(pid, read_end)

    def collect(self) -> dict:
        """The child's charts; empty if it failed or timed out (the caller then draws them)."""
        from .pipes import read_within

        data = read_within(self._fd, self._pid, self.TIMEOUT)
        try:
            _, status = os.waitpid(self._pid, 0)
            return pickle.loads(data) if status == 0 and data else {}
        except (OSError, EOFError, pickle.UnpicklingError):
            return {}


def compare_reliability_chart(c) -> Chart | None:
    """Both models' top-label reliability on one set of axes: accuracy against mean confidence per
    bin (each point's size the bin's rows), the diagonal perfect calibration."""
    b, k = c.baseline.calibration, c.candidate.calibration
    if b is None or k is None:
        return None
    with matplotlib.rc_context(_RC):
        fig = _figure(6.5, 5.0)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], color=_GRID, linestyle="--", linewidth=1.0, label="perfect calibration")
        for cal, colour, marker, name in ((b, "#7f7f7f", "s", "baseline"), (k, "#d73027", "o", "candidate")):
            bins = [x for x in cal.bins if x.weight > 0]
            rows = np.array([x.rows for x in bins], dtype=float)
            size = 12 + 120 * rows / max(rows.max(), 1.0)
            ax.plot([x.confidence for x in bins], [x.accuracy for x in bins], color=colour, linewidth=1.0, alpha=0.7)
            ax.scatter([x.confidence for x in bins], [x.accuracy for x in bins], s=size, color=colour, marker=marker,
                       alpha=0.85, label=f"{name}: ECE {cal.ece:.3f}", zorder=3)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("mean confidence in the bin (the top predicted probability; 15 bins)")
        ax.set_ylabel("accuracy in the bin")
        title = "Reliability of the top class, both models"
        ax.set_title(title, loc="left")
        ax.legend(loc="upper left", frameon=False, fontsize=8)
    alt = f"{title}: baseline ECE {b.ece:.3f}, candidate ECE {k.ece:.3f}."
    return _chart(fig, title, alt)


def difference_chart(c) -> Chart | None:
    """Per class: candidate − baseline with its paired 95% interval, largest rise first."""
    items = [d for d in c.classes_by_rise() if d.difference is not None][:MAX_BARS]
    if not items:
        return None
    colour = {"worse": "#d73027", "better": "#4575b4"}
    with matplotlib.rc_context(_RC):
        fig = _figure(7.5, 1.1 + 0.3 * len(items))
        ax = fig.add_subplot()
        y = np.arange(len(items))[::-1]
        for yi, d in zip(y, items):
            col = colour.get(d.verdict, "#777777")
            if d.ci95:
                ax.plot(d.ci95, [yi, yi], color=col, linewidth=2.0, solid_capstyle="butt")
            ax.plot([d.difference], [yi], marker="o", color=col, markersize=6)
        ax.axvline(0, color=_INK, linewidth=0.8)
        labels, key = _labels([d.name for d in items], 32)
        ax.set_yticks(y, labels)
        ax.set_xlabel(f"candidate − baseline, {_what(c.candidate)} ({c.unit}); right of 0 is worse")
        title = "Change per class, with paired 95% intervals"
        if len(items) < len(c.per_class):
            title += f": largest {len(items)} of {len(c.per_class)} rises"
        ax.set_title(title, loc="left")
    alt = f"{title}. " + "; ".join(
        f"{d.name}: {d.difference:+.3f} {c.unit} ({d.verdict})" for d in items
    )
    return _chart(fig, title, alt, key)
