"""Markdown summary, fit for a pull-request comment (kept under 60 lines)."""

from __future__ import annotations

from .. import __version__
from .fmt import count, interval, md_escape, num, pct, points, points_interval, ratio, signed, slice_cell

MAX_CLASSES = 8
MAX_SLICES = 6  # rows over all slice columns
MAX_SLICE_COLUMNS = 2
MAX_WORST = 3
MAX_LINES = 60


def to_markdown(r) -> str:
    if r.lm is not None:
        return lm_markdown(r)
    lines = [*_headline(r), *_per_class(r), *_by_slice(r), *_calibration(r), *_worst_rows(r)]
    if r.warnings:
        lines += ["", "**Warnings**", ""] + [f"- {md_escape(w)}" for w in r.warnings[:3]]
    sha = (r.source.sha256 or "")[:12]
    lines += [
        "",
        f"<sub>evalreport {__version__} · {md_escape(r.source.name)}{' · sha256 ' + sha if sha else ''} "
        f"· ladder: {md_escape(r.ladder.source)}</sub>",
    ]
    if len(r.groups) > MAX_SLICE_COLUMNS:
        lines.insert(-2, f"\n_{len(r.groups) - MAX_SLICE_COLUMNS} more slice columns are in the HTML report._")
    return "\n".join(lines) + "\n"


def _headline(r) -> list[str]:
    """The band, the verdict and the overall figures."""
    o, u = r.overall, r.unit
    score_name = "mean KL(P‖Q)" if r.soft else "cross-entropy"
    lines = [
        f"## evalreport: **{o.band_label}** — {score_name} {num(o.band_score)} {u}"
        + (f" (95% interval {interval(o.band_score_ci95)})" if o.band_score_ci95 else "")
        + (f" — **{o.skill_words}**" if o.no_skill else ""),
        "",
        *[f"> **Check this first:** {md_escape(a)}\n" for a in r.alerts],
        f"> {r.verdict}",
        "",
        "| figure | value |",
        "|---|---|",
        f"| rows | {count(r.rows)}{' (weighted)' if r.weighted else ''} |",
        f"| cross-entropy | {num(o.cross_entropy)} {u} |",
    ]
    if r.soft:
        lines += [
            f"| entropy of the targets H(P) | {num(o.entropy)} {u} |",
            f"| KL divergence KL(P‖Q) | {num(o.kl_divergence)} {u} |",
        ]
    else:
        lines.append(f"| log loss | {num(o.log_loss)} {u} |")
    skill = pct(o.skill_vs_prior) if o.skill_vs_prior is not None else "—"
    return lines + [
        f"| baselines: uniform / class prior | {num(o.uniform_cross_entropy)} / {num(o.prior_cross_entropy)} {u} |",
        f"| skill over the prior | {skill} |",
        f"| Brier | {num(o.brier)} |",
        f"| accuracy | {pct(o.accuracy)} |",
        f"| rows clipped at eps | {o.clipped_rows} |",
        "",
    ]


def _per_class(r) -> list[str]:
    u = r.unit
    classes = r.classes_worst_first()
    shown = classes[:MAX_CLASSES]
    lines = [
        "### Per class (worst first)" if len(shown) == len(classes) else f"### Worst {len(shown)} of {len(classes)} classes",
        "",
        f"| class | support | CE ({u}) |{f' KL ({u}) |' if r.soft else ''} band | share of loss | accuracy |",
        f"|---|---:|---:|{'---:|' if r.soft else ''}---|---:|---:|",
    ]
    for c in shown:
        kl = f" {num(c.kl_divergence)} |" if r.soft else ""
        lines.append(
            f"| {md_escape(c.name)} | {count(c.support)} | {num(c.cross_entropy)} |{kl} "
            f"{c.band_label or '—'} | {pct(c.loss_share)} | {pct(c.accuracy)} |"
        )
    return lines


def _by_slice(r) -> list[str]:
    lines = []
    per_column = max(2, MAX_SLICES // max(len(r.groups), 1))
    for col in list(r.groups)[:MAX_SLICE_COLUMNS]:
        worst = r.slices_worst_first(col)
        head = f"### By {md_escape(col)} (worst first)"
        if len(worst) > per_column:
            head = f"### By {md_escape(col)}: worst {per_column} of {len(worst)} values"
        lines += ["", head, "", f"| value | rows | CE ({r.unit}) | band |", "|---|---:|---:|---|"]
        for s in worst[:per_column]:
            lines.append(f"| {slice_cell(s.kind, s.label)} | {count(s.rows)} | {num(s.cross_entropy)} | {s.band_label or '—'} |")
    return lines


def _calibration(r) -> list[str]:
    if not r.calibration:
        return []
    c, lc, u = r.calibration, r.loss_concentration, r.unit
    t = "∞" if c.temperature == float("inf") else f"{c.temperature:.3f}"
    if c.temperature_ci95:
        t += f" [95% {c.temperature_ci95[0]:.3f}–{c.temperature_ci95[1]:.3f}]"
    scaling = (f"temperature T = {t}: within noise, scaling would remove nothing measurable"
               if c.temperature_within_noise else
               f"temperature T = {t} would remove {num(c.loss_removed)} {u} ({pct(c.loss_removed_share)})")
    return [
        "",
        f"**Calibration**: ECE {num(c.ece)}, MCE {num(c.mce)}; {scaling}. "
        f"**Loss concentration**: the worst 1% of rows carry {pct(lc.worst_1pct_share)} of the loss, "
        f"the worst 10% {pct(lc.worst_10pct_share)}; {lc.thresholds[0]['rows']} row(s) gave the true class "
        f"below 0.01 ({pct(lc.thresholds[0]['loss_share'])} of the loss).",
    ]


def _worst_rows(r) -> list[str]:
    if not r.worst:
        return []
    lines = ["", f"**Highest-loss rows** (of {count(r.rows)})", "",
             f"| row | true | p(true) | predicted | loss ({r.unit}) |", "|---:|---|---:|---|---:|"]
    for w in r.worst[:MAX_WORST]:
        name = f"{w.row} ({md_escape(w.id)})" if w.id is not None else str(w.row)
        lines.append(f"| {name} | {md_escape(w.true_class)} | {w.true_prob:.3g} | {md_escape(w.pred_class)} "
                     f"| {num(w.cross_entropy, 3)} |")
    if any(w.id_length for w in r.worst[:MAX_WORST]):
        lines.append("\n_Ids longer than 200 characters are cut (…); the JSON gives each one's length._")
    return lines


def _harness_figures(t) -> str:
    parts = []
    for name, value in t.harness.items():
        if value is not None:
            se = t.stderr.get(name)
            parts.append(f"`{name}` {ratio(value)}" + (f" ± {num(se)}" if se is not None else ""))
    return ", ".join(parts)


def lm_markdown(r) -> str:
    """A language-model evaluation in Markdown: the tasks (the harness's figures and ours), the
    sequences' figures, the worst sequences."""
    lm, u = r.lm, r.unit
    if lm.tasks:
        title = f"## evalreport: lm-eval run{' ' + md_escape(lm.model) if lm.model else ''} — {len(lm.tasks)} task(s)"
    else:
        o = lm.overall
        title = (f"## evalreport: cross-entropy {num(o.cross_entropy)} {u} per token, perplexity {ratio(o.perplexity)}"
                 if o.cross_entropy is not None else f"## evalreport: {num(o.bits_per_byte)} bits per byte")
    lines = [title, ""]
    if lm.tasks:
        lines += ["| task | documents | the harness's figures | cross-entropy | 95% interval | band |",
                  "|---|---:|---|---:|---|---|"]
        for t in lm.tasks[:20]:
            per = "per byte" if t.per == "byte" else "over options"
            lines.append(f"| {md_escape(t.task)} | {count(t.documents)} | {_harness_figures(t)} | "
                         f"{num(t.cross_entropy)} {u} {per} | {interval(t.ci95)} | {t.band_label or 'no band'} |")
        if len(lm.tasks) > 20:
            lines.append(f"\n_{len(lm.tasks) - 20} more tasks are in the HTML report and the JSON._")
        lines.append("")
        if r.classifier:
            o = r.overall
            lines += [f"All {count(r.rows)} multiple-choice documents as a classifier over their options: **{o.band_label}**, "
                      f"cross-entropy {num(o.cross_entropy)} {u} ({interval(o.band_score_ci95)}), accuracy "
                      f"{pct(o.accuracy)}, ECE {num(r.calibration.ece, 3) if r.calibration else '—'}.", ""]
    o = lm.overall
    if o is not None:
        lines += ["| sequences | figure | value | 95% interval |", "|---|---|---:|---|"]
        if o.cross_entropy is not None:
            lines += [f"| {count(o.sequences)} | cross-entropy per token | {num(o.cross_entropy)} {u} | {interval(o.ci95)} |",
                      f"| | perplexity | {ratio(o.perplexity)} | {interval(o.perplexity_ci95, 2)} |",
                      f"| | bits per token | {num(o.bits_per_token)} | |"]
        if o.bits_per_byte is not None:
            lines.append(f"| {'' if o.cross_entropy is not None else count(o.sequences)} | bits per byte | "
                         f"{num(o.bits_per_byte)} | {interval(o.bits_per_byte_ci95)} |")
        lines += ["", f"> {lm.note}", ""]
        for w in lm.worst[:MAX_WORST]:
            lines.append(f"- worst: {md_escape(w.id)} ({num(w.loss, 3)} {u} per {lm.worst_per})")
    if r.warnings:
        lines += ["", "**Warnings**", ""] + [f"- {md_escape(w)}" for w in r.warnings[:3]]
    sha = (r.source.sha256 or "")[:12]
    lines += ["", f"<sub>evalreport {__version__} · {md_escape(r.source.name)}{' · sha256 ' + sha if sha else ''}</sub>"]
    return "\n".join(lines) + "\n"


def _signed_interval(ci) -> str:
    return "—" if ci is None else f"{signed(ci[0])} to {signed(ci[1])}"


def _lm_cells(name: str, d) -> str:
    if name in ("acc", "acc_norm"):
        return f"{pct(d.baseline)} | {pct(d.candidate)} | {points(d.difference)} | {points_interval(d.ci95)}"
    return f"{num(d.baseline)} | {num(d.candidate)} | {signed(d.difference)} | {_signed_interval(d.ci95)}"


def lm_comparison_markdown(c) -> str:
    """Two language-model evaluations in Markdown: per task and figure, candidate − baseline with
    its paired interval; then the multiple-choice documents as a classifier, in one line."""
    lm, u = c.lm, c.unit
    d = c.score
    lines = [f"## evalreport compare: {d.headline} — {md_escape(c.baseline.source.name)} → "
             f"{md_escape(c.candidate.source.name)}", ""]
    if lm.tasks:
        lines += ["| task | figure | baseline | candidate | difference | 95% interval | verdict |",
                  "|---|---|---:|---:|---:|---|---|"]
        rows = [(t, name, x) for t in lm.tasks for name, x in t.differences.items()]
        for t, name, x in rows[:40]:
            lines.append(f"| {md_escape(t.task)} | `{name}` | {_lm_cells(name, x)} | {x.verdict} |")
        if len(rows) > 40:
            lines.append(f"\n_{len(rows) - 40} more rows are in the HTML report and the JSON._")
        lines.append("")
    if lm.overall:
        lines += ["| sequences | baseline | candidate | difference | 95% interval | verdict |",
                  "|---|---:|---:|---:|---|---|"]
        for name, x in lm.overall.items():
            what = f"cross-entropy per token ({u})" if name == "cross_entropy" else "bits per byte"
            lines.append(f"| {what} | {_lm_cells(name, x)} | {x.verdict} |")
        lines.append("")
    if c.classifier:
        lines += [f"The multiple-choice documents as a classifier over their options: cross-entropy "
                  f"{num(d.baseline)} → {num(d.candidate)} {u}, {signed(d.difference)} ({_signed_interval(d.ci95)}): "
                  f"{d.verdict}.", ""]
    if c.detectable_words:
        lines += [f"{c.detectable_words[0].upper() + c.detectable_words[1:]}.", ""]
    lines.append(f"<sub>evalreport {__version__} · matched by {md_escape(lm.matched_by)} · paired bootstrap over "
                 "documents and sequences</sub>")
    return "\n".join(lines) + "\n"


def comparison_to_markdown(c) -> str:
    if c.lm is not None:
        return lm_comparison_markdown(c)
    u, d = c.unit, c.score
    b, k = c.baseline.overall, c.candidate.overall
    what = "mean KL(P‖Q)" if c.candidate.soft else "cross-entropy"
    lines = [
        f"## evalreport compare: **{d.headline}** — {what} {signed(d.difference)} {u}"
        + (f" (95% interval {signed(d.ci95[0])} to {signed(d.ci95[1])})" if d.ci95 else ""),
        "",
        f"Baseline **{md_escape(c.baseline.source.name)}** → candidate **{md_escape(c.candidate.source.name)}**.",
        *[f"> **Check this first ({side}):** {md_escape(a)}" for side, res in (("baseline", c.baseline),
                                                                                ("candidate", c.candidate))
          for a in res.alerts],
        "",
        f"{count(c.candidate.rows)} rows matched by {md_escape(c.matched_by)}; differences are candidate − baseline "
        "with paired bootstrap intervals; lower loss is better."
        + (f" {md_escape(c.detectable_words[0].upper() + c.detectable_words[1:])}." if c.detectable_words else ""),
        "",
        "| figure | baseline | candidate | difference | 95% interval |",
        "|---|---:|---:|---:|---|",
        f"| {what} ({u}) | {num(d.baseline)} | {num(d.candidate)} | {signed(d.difference)} | {_signed_interval(d.ci95)} |",
        f"| band | {b.band_label} | {k.band_label} | | |",
        f"| accuracy | {pct(b.accuracy)} | {pct(k.accuracy)} | {points(c.accuracy.difference)} | {points_interval(c.accuracy.ci95)} |",
        f"| Brier | {num(b.brier)} | {num(k.brier)} | {signed(c.brier.difference)} | |",
        "",
    ]
    moved = [x for x in c.classes_by_rise() if x.difference is not None]
    lines += [f"### Per class, largest rise first ({min(len(moved), MAX_CLASSES)} of {len(moved)})", "",
              "| class | baseline | candidate | difference | 95% interval | |", "|---|---:|---:|---:|---|---|"]
    for x in moved[:MAX_CLASSES]:
        lines.append(f"| {md_escape(x.name)} | {num(x.baseline)} | {num(x.candidate)} | {signed(x.difference)} "
                     f"| {_signed_interval(x.ci95)} | {x.verdict} |")
    for col in list(c.groups)[:MAX_SLICE_COLUMNS]:
        moved = [x for x in c.slices_by_rise(col) if x.difference is not None]
        lines += ["", f"### By {md_escape(col)}, largest rise first", "",
                  "| value | rows | difference | 95% interval | |", "|---|---:|---:|---|---|"]
        for x in moved[:MAX_SLICES // 2]:
            lines.append(f"| {slice_cell(x.kind, x.name)} | {count(x.rows)} | {signed(x.difference)} | {_signed_interval(x.ci95)} | {x.verdict} |")
    if c.calibration is not None:
        lines += ["", "### Calibration", "", "| | baseline | candidate | difference | 95% interval | |",
                  "|---|---:|---:|---:|---|---|"]
        for x in [*c.calibration.errors.values(), *c.calibration.parts.values()]:
            lines.append(f"| {x.name} | {num(x.baseline)} | {num(x.candidate)} | {signed(x.difference)} "
                         f"| {_signed_interval(x.ci95)} | {x.verdict} |")
    if c.rising:
        lines += ["", "**Rows whose loss rose the most**", "", f"| row | true | baseline | candidate ({u}) |",
                  "|---:|---|---:|---:|"]
        for x in c.rising[:MAX_WORST]:
            name = f"{x.row} ({md_escape(x.id)})" if x.id is not None else str(x.row)
            lines.append(f"| {name} | {md_escape(x.true_class)} | {num(x.baseline, 3)} | {num(x.candidate, 3)} |")
    lines += ["", f"<sub>evalreport {__version__} · baseline {md_escape(c.baseline.source.name)} · "
                  f"candidate {md_escape(c.candidate.source.name)}</sub>"]
    return "\n".join(lines) + "\n"


def _gate_value(g, unit: str) -> str:
    if isinstance(g.value, str) or g.value is None:
        return md_escape(g.value or "—")
    return f"{g.value:.4f}"


def check_to_markdown(report) -> str:
    r = report.result
    mark = "✅ passed" if report.passed else "❌ failed"
    lines = [
        f"## evalreport check: {mark}",
        "",
        "| gate | condition | value | 95% interval | result |",
        "|---|---|---:|---|---|",
    ]
    for g in report.gates:
        detail = f" — {md_escape(g.detail)}" if g.detail else ""
        lines.append(f"| {g.gate} | {md_escape(g.condition)}{detail} | {_gate_value(g, r.unit)} | "
                     f"{interval(g.ci95, 4)} | {'pass' if g.passed else '**FAIL**'} |")
    lines += [""] + [f"_{md_escape(n)}_" for n in report.notes]
    summary = to_markdown(r).splitlines()
    lines += ["", *(["#" + summary[0]] + summary[1:])[: MAX_LINES - len(lines) - 2]]
    return "\n".join(lines) + "\n"
