"""The report in a real browser: headless Chromium loads it, decodes every chart, and renders a page.

Needs Debian's `chromium` (installed by .ci/run). Skipped where it is missing,
except under CI (CI=true), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import numpy as np
import pytest

from evalreport import evaluate

from conftest import EXAMPLES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if CHROMIUM is None and os.environ.get("CI"):
    pytest.fail("CI needs chromium for the browser test (.ci/run installs it)", pytrace=False)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

# Appended to a copy of the report: once loaded, the title says how many images decoded.
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.title = 'PROBE images=' + imgs.length + ' decoded=' + ok + ' sections=' + document.querySelectorAll('section').length;
});
</script>"""


def chromium(tmp_path, *args) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{time.monotonic_ns()}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser")
    html = evaluate(EXAMPLES / "digits_predictions.csv", group_by="fold").to_html()
    (out / "report.html").write_text(html, encoding="utf-8")
    return out, html


def test_chromium_loads_the_report_and_decodes_every_chart(report, tmp_path):
    out, html = report
    probe = out / "probe.html"
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    t0 = time.perf_counter()
    done = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri())
    elapsed = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr[-2000:]
    m = re.search(r"<title>PROBE images=(\d+) decoded=(\d+) sections=(\d+)</title>", done.stdout)
    assert m, done.stdout[:500]
    images, decoded, sections = map(int, m.groups())
    assert images >= 6 and decoded == images  # ladder, curve, per class, histogram, confusion, slice
    assert sections >= 10
    print(f"chromium load + dump: {elapsed:.2f} s for {len(html.encode()) / 1024:.0f} KB")


def test_chromium_screenshot_is_not_blank(report, tmp_path):
    import matplotlib.image as mpimg

    out, _ = report
    shot = out / "report.png"
    done = chromium(tmp_path, "--window-size=1000,2400", "--hide-scrollbars", f"--screenshot={shot}",
                    (out / "report.html").as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2400, 1000)
    not_white = (pixels < 0.95).any(axis=2).mean()
    assert not_white > 0.05, not_white  # text, tables and charts
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 200  # charts bring many colours; a blank or text-only page has few


def test_the_notebook_display_renders_the_report_inside_a_cell(tmp_path):
    """Item 11 of issue 11: Result._repr_html_ is the report in an iframe (srcdoc) as wide as the
    cell; its charts decode inside it and its styles do not leak into the notebook page."""
    result = evaluate(EXAMPLES / "iris_predictions.csv", group_by="fold", bootstrap=0)
    cell = result._repr_html_()
    page = tmp_path / "notebook.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>nb</title></head><body>"
        f"<h1 id='nb-heading' style='font-family:serif'>notebook</h1><div style='width:800px'>{cell}</div>"
        "<script>window.addEventListener('load', () => {"
        " const f = document.querySelector('iframe'); const d = f.contentDocument;"
        " const imgs = Array.from(d.images); const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;"
        " const font = getComputedStyle(document.getElementById('nb-heading')).fontFamily;"
        " document.title = 'CELL w=' + f.getBoundingClientRect().width + ' h=' + f.getBoundingClientRect().height"
        "   + ' images=' + imgs.length + ' decoded=' + ok + ' sections=' + d.querySelectorAll('section').length"
        "   + ' font=' + font + ' scroll=' + d.documentElement.scrollWidth;"
        "});</script></body></html>", encoding="utf-8")
    done = chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    m = re.search(r"<title>CELL w=([\d.]+) h=([\d.]+) images=(\d+) decoded=(\d+) sections=(\d+) font=(\S+) "
                  r"scroll=(\d+)</title>", done.stdout)
    assert m, done.stdout[:500]
    width, height, images, decoded, sections, font, scroll = m.groups()
    assert float(width) == 800 and 400 <= float(height) <= 800
    assert int(images) >= 5 and decoded == images and int(sections) >= 8
    assert font == "serif"  # the report's stylesheet stays in its frame
    assert int(scroll) <= 800  # no sideways scrolling at a notebook's width


@pytest.mark.parametrize("name", ["lm_eval_step2000.html", "lm_eval_compare.html"])
def test_chromium_loads_the_language_model_example_reports(name, tmp_path):
    """The example harness run's report and its comparison (examples/reports, made by
    examples/lm_eval/make_runs.py), freshly rendered: every chart decodes, the task tables render
    with a row per task (per task and figure in the comparison), no sideways scrolling."""
    from evalreport import compare

    runs = EXAMPLES / "lm_eval" / "runs"
    html = (evaluate(runs / "step2000").to_html() if "compare" not in name
            else compare(runs / "step1000", runs / "step2000").to_html())
    page = tmp_path / name
    page.write_text(html.replace("</body>", """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  const rows = document.querySelectorAll('#lm-tasks tbody tr, #lm-task-differences tbody tr').length;
  document.title = 'PROBE images=' + imgs.length + ' decoded=' + ok + ' rows=' + rows
    + ' scroll=' + document.documentElement.scrollWidth + ' width=' + window.innerWidth;
});
</script></body>"""), encoding="utf-8")
    done = chromium(tmp_path, "--window-size=1100,1600", "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    m = re.search(r"<title>PROBE images=(\d+) decoded=(\d+) rows=(\d+) scroll=(\d+) width=(\d+)</title>", done.stdout)
    assert m, done.stdout[:500]
    images, decoded, rows, scroll, width = map(int, m.groups())
    assert decoded == images and images >= (6 if "compare" not in name else 1)
    assert rows == (3 if "compare" not in name else 4 + 4 + 2)
    assert scroll <= width


def test_chromium_shows_both_models_calibration_in_the_compare_report(tmp_path):
    """Issue 25, item 3: the example comparison (the digits forest against logistic regression),
    freshly rendered: the calibration section's table has the four errors and the three parts of the
    log loss, each with an interval, and the reliability chart of both models decodes."""
    from evalreport import compare

    html = compare(EXAMPLES / "digits_predictions.csv", EXAMPLES / "digits_predictions_logreg.csv",
                   group_by="fold").to_html()
    page = tmp_path / "compare.html"
    page.write_text(html.replace("</body>", """<script>
window.addEventListener('load', () => {
  const sec = document.getElementById('calibration');
  const img = sec.querySelector('img');
  const rows = sec.querySelectorAll('#calibration-differences tbody tr');
  const cis = Array.from(rows).filter(r => /\\d \u2013 -?\\d/.test(r.querySelector('td.ci').textContent)).length;
  document.title = 'PROBE rows=' + rows.length + ' cis=' + cis + ' decoded=' + (img.complete && img.naturalWidth > 0)
    + ' width=' + img.naturalWidth + ' alt=' + img.alt.replace(/\\s+/g, '_');
});
</script></body>"""), encoding="utf-8")
    done = chromium(tmp_path, "--window-size=1100,1600", "--virtual-time-budget=5000", "--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    m = re.search(r"<title>PROBE rows=(\d+) cis=(\d+) decoded=(\w+) width=(\d+) alt=(\S+)</title>", done.stdout)
    assert m, done.stdout[:500]
    rows, cis, decoded, width, alt = m.groups()
    assert int(rows) == 4 + 3 and int(cis) == 7
    assert decoded == "true" and int(width) > 300
    assert "baseline" in alt and "candidate" in alt
