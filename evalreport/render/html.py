"""HTML report: one self-contained file from the Jinja2 templates in ``templates/``."""

from __future__ import annotations

import datetime as _dt
import math
from functools import lru_cache
from pathlib import Path

import jinja2

from .. import __version__
from ..ladder import UNITS
from . import fmt

_PACKAGE = Path(__file__).resolve().parent.parent
#: Beyond this many classes the table shows the worst ones and folds the rest away.
MAX_CLASS_ROWS = 25


def template_dir() -> Path:
    """Where the templates are: inside the package in a wheel install, the repo's
    top-level ``templates/`` in a source checkout or editable install."""
    for candidate in (_PACKAGE / "templates", _PACKAGE.parent / "templates"):
        if (candidate / "report.html.j2").is_file():
            return candidate
    raise RuntimeError(f"evalreport's templates are missing (looked in {_PACKAGE}); reinstall evalreport")


class _KeptTemplates(jinja2.FileSystemBytecodeCache):
    """Jinja's own bytecode cache: a template compiled once per user and template source, not in
    every run (the report's took 0.14–0.17 s of every report, after its charts or its fits). Jinja
    keeps it in a folder only this user may write (``$TMPDIR/_jinja2-cache-UID``), checks each
    entry against its template's source and Python's version, and replaces an entry atomically.
    A cache that cannot be read or written is no cache: the template is compiled, never a
    failed report."""

    def load_bytecode(self, bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # noqa: BLE001 — an unreadable or damaged entry: compile the template
            bucket.reset()

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:  # a full or read-only disk: the next run compiles again
            pass


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """The cache, or None where Jinja finds no folder it may safely use (then every run compiles)."""
    try:
        return _KeptTemplates()
    except (OSError, RuntimeError):
        return None


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_bytecode_cache(),
    )
    env.filters.update(num=fmt.num, pct=fmt.pct, count=fmt.count, threshold=fmt.threshold, interval=fmt.interval,
                       points=fmt.points, points_interval=fmt.points_interval, ratio=fmt.ratio)
    env.globals["reserved_title"] = RESERVED_TITLES
    return env


#: The hover text of the slice rows that are no value of the data (shown in italics).
RESERVED_TITLES = {"missing": "the rows without a value in this column (not a value of the data)",
                   "other": "the values beyond --max-slices, folded together (not a value of the data)"}


def prepare_templates() -> None:
    """Load and compile the report's template now (Jinja keeps it): 0.14 s of a small report,
    done while something else is awaited."""
    environment().get_template("report.html.j2")


def to_html(r, created: _dt.datetime | None = None, processes: int = 1, drawn: dict | None = None) -> str:
    """The report page; ``processes``: see :func:`charts.all_charts`; ``drawn``: its charts, when a
    drawing process (render.drawer) has drawn them already."""
    if drawn is None:
        from . import charts  # matplotlib: only where the charts are drawn in this process

        drawn = charts.all_charts(r, processes)
    created = created or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    factor = UNITS[r.unit]
    ladder_rows = [dict(row, range=fmt.band_range(row, factor)) for row in r.ladder.rows()]
    return environment().get_template("report.html.j2").render(
        **_lm_context(r),
        r=r,
        o=r.overall,
        version=__version__,
        created=created.isoformat(),
        colours=fmt.band_colours(r.ladder),
        ladder_rows=ladder_rows,
        classes=r.classes_worst_first(),
        max_class_rows=MAX_CLASS_ROWS,
        charts=drawn,
        score_name="mean KL(P‖Q)" if r.soft else "cross-entropy",
        loss_at={p: -math.log(p) * factor for p in (0.5, 0.01)},  # the curve's two worked examples
        has_ids=any(w.id is not None for w in r.worst),
        decomposition_text=r.decomposition_text,
        title=_title(r),
    )


def _title(r) -> str:
    if r.classifier:
        return f"evalreport — {r.overall.band_label} ({fmt.num(r.overall.band_score)} {r.unit}) — {r.source.name}"
    o = r.lm.overall
    if o is not None and o.cross_entropy is not None:
        return f"evalreport — {fmt.num(o.cross_entropy)} {r.unit} per token — {r.source.name}"
    if o is not None and o.bits_per_byte is not None:
        return f"evalreport — {fmt.num(o.bits_per_byte)} bits per byte — {r.source.name}"
    return f"evalreport — {r.source.name}"


def _lm_context(r) -> dict:
    """What the language-model section reads beside the result: the harness's figures in words."""
    return {"relations": dict(r.lm.relations) if r.lm else {}, "no_band": r.lm.note if r.lm else ""}


def comparison_to_html(c, created: _dt.datetime | None = None) -> str:
    from . import charts

    created = created or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    d = c.score
    title = f"evalreport compare — {d.headline} ({fmt.num(d.difference)} {c.unit})"
    if not c.classifier:
        return environment().get_template("compare.html.j2").render(
            c=c, b=c.baseline, k=c.candidate, version=__version__, created=created.isoformat(), title=title,
            colours=fmt.band_colours(c.candidate.ladder), signed=fmt.signed, per_class=[], groups={}, chart=None,
            score_name=d.name)
    return environment().get_template("compare.html.j2").render(
        c=c,
        b=c.baseline,
        k=c.candidate,
        version=__version__,
        created=created.isoformat(),
        colours=fmt.band_colours(c.candidate.ladder),
        title=title,
        per_class=c.classes_by_rise(),
        groups={col: c.slices_by_rise(col) for col in c.groups},
        chart=charts.difference_chart(c),
        reliability=charts.compare_reliability_chart(c) if c.calibration is not None else None,
        score_name="mean KL(P‖Q)" if c.candidate.soft else "cross-entropy",
        signed=fmt.signed,
    )
