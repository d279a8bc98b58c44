"""The HTML report's structure, parsed and checked with CSS selectors."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from evalreport import evaluate

from conftest import EXAMPLES


@pytest.fixture(scope="module")
def digits_html() -> BeautifulSoup:
    return BeautifulSoup(evaluate(EXAMPLES / "digits_predictions.csv", group_by="fold").to_html(), "html.parser")


def test_verdict_and_overall(digits_html):
    badge = digits_html.select_one("#verdict .badge")
    assert badge["data-band"] == "not_great" and badge.get_text(strip=True) == "Not great"
    assert digits_html.select_one("#verdict .score").get_text(strip=True) == "0.3071 nats"
    assert digits_html.select_one('#overall td[data-key="log_loss"]').get_text(strip=True) == "0.3071 nats"
    assert digits_html.select_one('#overall td[data-key="uniform"]').get_text(strip=True) == "2.3026 nats"


def test_per_class_table_is_worst_first_with_a_chart(digits_html):
    rows = digits_html.select("#per-class-table tbody tr")
    assert len(rows) == 10
    ce = [float(r.select("td")[2].get_text()) for r in rows]
    assert ce == sorted(ce, reverse=True)
    assert rows[0].select_one("td.name").get_text() == "8"
    img = digits_html.select_one("#per-class figure img")
    assert img["src"].startswith("data:image/svg+xml;base64,")
    svg = base64.b64decode(img["src"].split(",", 1)[1]).decode()
    assert "<svg" in svg and "per class" in svg
    assert "8: 0.537" in img["alt"]


def test_slices_ladder_and_metadata(digits_html):
    section = digits_html.select_one('section.slices[data-column="fold"]')
    assert len(section.select("tbody tr")) == 5
    ladder = digits_html.select("#ladder tbody tr")
    assert len(ladder) == 8 and ladder[5].get("aria-current") == "true"  # "not_great" is the 6th band
    meta = digits_html.select_one("#metadata").get_text()
    assert "sha256" in meta and "evalreport 0.1.0" in meta


def test_no_external_resources(digits_html):
    for tag in digits_html.find_all(src=True):
        assert tag["src"].startswith("data:"), tag
    for tag in digits_html.find_all(href=True):
        assert tag["href"].startswith("#"), tag
    assert not digits_html.find("script") and not digits_html.find("link")


def test_hostile_class_name_is_escaped():
    evil = "<script>alert(1)</script>"
    df = pd.DataFrame({"label": [evil, "ok", evil], f"p_{evil}": [.7, .2, .6], "p_ok": [.3, .8, .4],
                       "g": ['"><img src=x onerror=alert(1)>', "b", "b"]})
    r = evaluate(df, group_by="g")
    html = r.to_html()
    assert evil not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None
    assert evil in [td.get_text() for td in soup.select("#per-class-table td.name")]
    md = r.to_markdown()
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("gfm-like").render(md)
    assert evil not in md and "<script" not in rendered and "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered


def test_soft_report_explains_the_decomposition():
    df = pd.DataFrame({"p_a": [.7, .4], "p_b": [.3, .6], "t_a": [.9, .2], "t_b": [.1, .8]})
    soup = BeautifulSoup(evaluate(df, target_prefix="t_").to_html(), "html.parser")
    assert soup.select_one('#overall td[data-key="log_loss"]') is None
    assert "floor no model can go below" in soup.select_one("#verdict").get_text()
    assert re.search(r"mean KL", soup.select_one("#ladder").get_text())


def _chart(soup, section_id):
    img = soup.select_one(f"#{section_id} figure.chart img")
    assert img is not None, section_id
    assert img["src"].startswith("data:image/svg+xml;base64,") and img["alt"] and img["title"]
    return base64.b64decode(img["src"].split(",", 1)[1]).decode()


def test_every_section_has_its_chart(digits_html):
    ladder = _chart(digits_html, "verdict")
    assert "Where the model sits on the ladder" in ladder and "0.307 nats" in ladder
    assert "−ln p" in _chart(digits_html, "curve")
    assert "Per-row loss" in _chart(digits_html, "histogram")
    assert "Confusion matrix" in _chart(digits_html, "confusion")
    assert "by fold" in _chart(digits_html, 'slices section[data-column="fold"]')
    assert digits_html.select_one("#decomposition") is None  # hard labels: no decomposition


def test_worst_rows_table(digits_html):
    rows = digits_html.select("#worst-table tbody tr")
    assert len(rows) == 20
    first = [td.get_text() for td in rows[0].select("td")]
    assert first[:3] == ["6", "digit-0005", "5"]  # row, id, true label
    losses = [float(r.select("td")[-1].get_text()) for r in rows]
    assert losses == sorted(losses, reverse=True)


def test_histogram_text_and_warnings_for_clipped_rows():
    soup = BeautifulSoup(evaluate(EXAMPLES / "breast_cancer_predictions.csv", score_col="score").to_html(),
                         "html.parser")
    assert "5 row(s)" in soup.select_one("#histogram").get_text()
    assert "clipped" in soup.select_one("#warnings").get_text()
    assert soup.select_one("#verdict li#clipped b").get_text() == "5"


def test_many_classes_show_the_worst_and_say_how_many_are_hidden():
    import numpy as np

    rng = np.random.default_rng(0)
    k, n = 120, 2400
    names = [f"class {j} — a rather long name with <b>odd</b> & $math$ characters" for j in range(k)]
    logits = rng.normal(0, 1, size=(n, k))
    q = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    df = pd.DataFrame(q, columns=[f"p_{c}" for c in names]).assign(label=[names[j] for j in rng.integers(0, k, n)])
    r = evaluate(df)
    soup = BeautifulSoup(r.to_html(), "html.parser")
    assert len(soup.select("#per-class-table tbody tr")) == 25
    assert soup.select_one("#hidden-classes").get_text().startswith("95 more classes")
    assert len(soup.select("#all-classes-table tbody tr")) == 120
    assert "worst 20 of 120" in soup.select_one("#per-class figure img")["title"]
    assert "worst 20 of 120 classes" in soup.select_one("#confusion figure img")["title"]
    assert "<b>odd</b>" not in str(soup.select_one("#per-class-table"))  # escaped, shown as text
    assert names[0] in {td.get_text() for td in soup.select("#all-classes-table td.name")}


def test_soft_targets_section():
    df = pd.DataFrame({"p_a": [.7, .4, .5], "p_b": [.3, .6, .5], "t_a": [.9, .2, .5], "t_b": [.1, .8, .5]})
    r = evaluate(df, target_prefix="t_")
    soup = BeautifulSoup(r.to_html(), "html.parser")
    text = soup.select_one("#decomposition").get_text()
    assert f"H(P) = {r.overall.entropy:.4f}" in text and f"KL(P‖Q) = {r.overall.kl_divergence:.4f}" in text
    assert "entropy of the targets + KL divergence" in _chart(soup, "decomposition")


def test_report_size_is_small(digits_html):
    assert len(str(digits_html).encode()) < 3_000_000


def test_markdown_stays_under_60_lines_in_the_worst_case():
    import numpy as np

    rng = np.random.default_rng(2)
    k, n = 40, 800
    q = rng.dirichlet(np.full(k, 0.3), size=n)
    q[:5] = 0.0
    q[:5, 0] = 1.0  # five rows that give their true class 0 → clipped
    df = pd.DataFrame(q, columns=[f"p_c{j}" for j in range(k)])
    df["label"] = [f"c{j}" for j in rng.integers(1, k, n)]
    for g in "abcde":
        df[g] = rng.integers(0, 30, n).astype(str)
    df["p_unused"] = 0.0  # a class with no rows: another warning
    md = evaluate(df, group_by=list("abcde")).to_markdown()
    lines = md.splitlines()
    assert len(lines) <= 60, len(lines)
    assert "Worst 8 of 41 classes" in md and "Highest-loss rows" in md and "**Warnings**" in md
    assert "3 more slice columns are in the HTML report" in md


def test_intervals_are_shown(digits_html):
    r = evaluate(EXAMPLES / "digits_predictions.csv", group_by="fold")
    lo, hi = r.overall.band_score_ci95
    assert digits_html.select_one("#score-ci").get_text() == f"95% interval {lo:.3f} – {hi:.3f} nats"
    first = digits_html.select_one("#per-class-table tbody tr td.ci").get_text()
    worst = r.classes_worst_first()[0]
    assert first == f"{worst.ci95[0]:.3f} – {worst.ci95[1]:.3f}"
    assert "Poisson bootstrap over rows, 200 replicates, seed 0" in digits_html.select_one("#metadata").get_text()


def test_loss_cap_and_concentration_notes():
    import math

    import numpy as np

    bc = evaluate(EXAMPLES / "breast_cancer_predictions.csv", score_col="score")
    assert bc.overall.loss_cap == pytest.approx(-math.log(np.finfo(float).eps))  # 36.04 nats
    assert bc.loss_concentration.dominated and bc.loss_concentration.heavy_tail  # 5 rows at the cap
    soup = BeautifulSoup(bc.to_html(), "html.parser")
    assert "capped at 36.04 nats" in soup.select_one("#histogram").get_text()
    assert "a few confidently wrong rows dominate" in soup.select_one("#loss-sources").get_text()
    df = pd.read_csv(EXAMPLES / "digits_predictions.csv")
    ce = -np.log(np.clip(df[[f"p_{k}" for k in range(10)]].to_numpy()[np.arange(len(df)), df["label"]], 1e-16, 1))
    digits = evaluate(EXAMPLES / "digits_predictions.csv").loss_concentration
    assert digits.heavy_tail == (ce.mean() > 2 * np.median(ce)) and not digits.dominated
    assert "p = 0.5 costs 1.000 bits" in BeautifulSoup(
        evaluate(EXAMPLES / "iris_predictions.csv", unit="bits").to_html(), "html.parser").select_one("#curve").get_text()


def test_charts_drawn_in_a_forked_process_are_the_same(monkeypatch):
    """The forked copy's charts equal those drawn in one process; a child that fails or hangs
    is covered by the parent."""
    import os
    import time

    from evalreport.render import charts
    from evalreport.render.pipes import drawing_processes

    if drawing_processes() < 2:
        pytest.skip("charts are drawn in one process here")
    r = evaluate(EXAMPLES / "digits_predictions.csv", group_by="fold")
    serial = charts.all_charts(r, processes=1)
    assert charts.all_charts(r, processes=2) == serial

    def broken(_r):
        raise RuntimeError("only in the child")

    parent = os.getpid()
    real = charts.loss_histogram
    # fails in the forked child only; the parent then draws the histogram itself
    monkeypatch.setattr(charts, "loss_histogram", lambda r_: broken(r_) if os.getpid() != parent else real(r_))
    assert charts.all_charts(r, processes=2) == serial

    def hang(_r):
        time.sleep(60)

    monkeypatch.setattr(charts._Forked, "TIMEOUT", 0.5)
    monkeypatch.setattr(charts, "loss_histogram", lambda r_: hang(r_) if os.getpid() != parent else real(r_))
    started = time.monotonic()
    assert charts.all_charts(r, processes=2) == serial
    assert time.monotonic() - started < 30


def test_the_readme_states_the_report_size_truly():
    """Issue 11, item 17: the size the README gives for the 10-class digits report holds (within 5%)."""
    import re as re_mod

    from conftest import ROOT

    stated = re_mod.search(r"\((\d+) KB for the 10-class digits report", (ROOT / "docs" / "report.md").read_text())
    assert stated, "docs/report.md no longer states the digits report's size"
    size = len(evaluate(EXAMPLES / "digits_predictions.csv", group_by="fold").to_html().encode())
    assert abs(size / 1000 - int(stated.group(1))) <= 0.05 * int(stated.group(1)), size


def test_charts_are_trimmed_svg_with_the_names_untouched():
    """The SVG is trimmed (no metadata, no indentation, coordinates to 0.01 pt) but text is as written."""
    from evalreport.render import charts

    df = pd.DataFrame({"label": ["3.14159265", "2.71828182"] * 20,
                       "p_3.14159265": [0.9, 0.2] * 20, "p_2.71828182": [0.1, 0.8] * 20})
    drawn = charts.all_charts(evaluate(df, bootstrap=0))
    svg = base64.b64decode(drawn["per_class"].uri.split(",", 1)[1]).decode()
    assert "<metadata>" not in svg and "\n " not in svg
    assert ">3.14159265<" in svg and ">2.71828182<" in svg
    geometry = re.findall(r' (?:d|x|y)="([^"]*)"', svg)
    assert geometry and not any(re.search(r"\d\.\d{3}", g) for g in geometry)


def test_the_templates_compiled_bytecode_is_kept_and_a_bad_cache_is_no_cache(tmp_path, monkeypatch):
    """The report's template is compiled once and kept in Jinja's bytecode cache (0.14 s of every
    report); a damaged entry, a cache that cannot be written and a folder Jinja will not use each
    give the same page, never an error."""
    import datetime as dt
    import tempfile
    from pathlib import Path

    import jinja2

    from evalreport.render import html

    r = evaluate(EXAMPLES / "iris_predictions.csv", bootstrap=0)
    at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    want = html.to_html(r, at)
    make = html.environment.__wrapped__  # a new environment each time (the module keeps one)

    def page(env) -> str:
        monkeypatch.setattr(html, "environment", lambda: env)
        return html.to_html(r, at)

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # Jinja's cache folder goes under it
    env = make()
    assert isinstance(env.bytecode_cache, jinja2.FileSystemBytecodeCache)
    assert page(env) == want
    kept = list(Path(env.bytecode_cache.directory).glob("*.cache"))
    assert kept and Path(env.bytecode_cache.directory).parent == tmp_path  # compiled once, kept
    kept[0].write_bytes(kept[0].read_bytes()[:40] + b"\x00garbage")  # damaged after its header
    assert page(make()) == want
    for entry in kept:
        entry.unlink()

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", full_disk)
    assert page(make()) == want
    monkeypatch.undo()
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(blocked))  # no folder can be made under a file
    env = make()
    assert env.bytecode_cache is None
    assert page(env) == want


def test_a_chart_drawn_once_is_cropped_as_matplotlibs_tight_box():
    """A chart is drawn once and its SVG's viewBox set to the box matplotlib's bbox_inches="tight"
    would crop to (which draws it twice): the same size to 0.01 pt, nothing of it cut off."""
    import matplotlib
    from matplotlib.figure import Figure

    from evalreport.render import charts

    def figure() -> Figure:  # made as the report's charts are, in their style
        with matplotlib.rc_context(charts._RC):
            fig = charts._figure(4, 3)
            ax = fig.add_subplot()
            ax.plot([0, 1], [0, 10])
            ax.set_yscale("log")
            ax.set_title("a long title that reaches out to the left", loc="left")
            ax.set_ylabel("a label far to the left")
            fig.text(1.02, -0.05, "beyond the figure's corner")
        return fig

    def size(svg: bytes) -> tuple[float, float]:
        m = re.search(rb'<svg [^>]*?width="([\d.]+)pt" height="([\d.]+)pt"', svg)
        return float(m.group(1)), float(m.group(2))

    buf = __import__("io").BytesIO()
    with matplotlib.rc_context(charts._RC):
        figure().savefig(buf, format="svg", bbox_inches="tight", metadata=charts._NO_METADATA)
    tight = size(buf.getvalue())
    once = base64.b64decode(charts._to_uri(figure()).split(",", 1)[1])
    assert size(once) == pytest.approx(tight, abs=0.011)
    assert b'viewBox="0 0 ' not in once  # cropped: its origin moved into the figure
    box = matplotlib.transforms.Bbox([[0, 0], [1, 1]])
    assert charts._cropped(b"<svg width='1in'>", box, 3.0) == b"<svg width='1in'>"  # a size written otherwise
