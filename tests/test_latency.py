"""Issue 12: what a small run waits for. Nothing is imported before it is needed (a check
without HTML imports neither matplotlib nor Jinja nor scipy.optimize), and the report's charts
come from a process started at once — the same bytes as drawn in one process, or drawn here
when that process fails. Speed itself is measured by benchmarks/latency.py, not here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from evalreport import evaluate

from conftest import EXAMPLES


def _imports(*args, cwd) -> set[str]:
    """Top-level packages the evalreport process imported (python -X importtime)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "evalreport", *args], cwd=cwd,
                          capture_output=True, text=True, env=dict(os.environ, CI="1"), check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return {m.group(1).split(".")[0] for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \| +(\S+)$", done.stderr, re.M)}


def test_check_without_html_imports_no_charts_no_templates_no_optimizer(tmp_path):
    mods = _imports("check", str(EXAMPLES / "digits_predictions.csv"), "--max-score", "1",
                    "--json", str(tmp_path / "c.json"), cwd=tmp_path)
    assert {"numpy", "pyarrow", "evalreport"} <= mods  # the probe sees imports at all
    assert not mods & {"matplotlib", "jinja2", "sklearn", "dask", "mlflow", "wandb", "pandas"}, mods
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "evalreport", "check",
                           str(EXAMPLES / "digits_predictions.csv"), "--max-score", "1"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert "scipy.optimize" not in done.stderr  # the temperature fit needs no SciPy solver


def test_the_pipeline_imports_scipy_only_when_a_figure_needs_it():
    """SciPy's special functions (0.15 s to import: SciPy clones numpy's namespace) are imported
    where they are called — soft targets, logits, the temperature fit — so a report's first
    figures, which the drawing process waits for, come without them."""
    code = ("import sys, evalreport.api, evalreport.compute, evalreport.load, evalreport.interpret; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("suffix", [".parquet", ".feather"])
def test_a_file_read_through_arrow_is_checked_without_pandas(tmp_path, suffix):
    """Plainly valid rows (slices and ids included) go from Arrow to numpy; pandas is imported
    only for a DataFrame or a chunk with a problem to name."""
    import pyarrow.csv
    import pyarrow.feather
    import pyarrow.parquet

    table = pyarrow.csv.read_csv(EXAMPLES / "digits_predictions.csv")
    path = tmp_path / f"d{suffix}"
    (pyarrow.parquet.write_table if suffix == ".parquet" else pyarrow.feather.write_feather)(table, path)
    mods = _imports("check", str(path), "--max-score", "1", "--group-by", "fold", cwd=tmp_path)
    assert "pyarrow" in mods and "pandas" not in mods


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="no drawing process here")
def test_report_draws_its_charts_in_the_early_process_with_the_same_bytes(tmp_path):
    """The command line's report: its own process imports no matplotlib (the drawing process
    does), and the page equals the one drawn in one process but for the time stamp."""
    mods = _imports("report", str(EXAMPLES / "digits_predictions.csv"), "--group-by", "fold",
                    "-o", str(tmp_path / "r.html"), cwd=tmp_path)
    assert "matplotlib" not in mods and "jinja2" in mods and "pandas" not in mods
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    want = evaluate(str(EXAMPLES / "digits_predictions.csv"), group_by="fold").to_html(processes=1)

    def stamp(x):
        return re.sub(r"\d{4}-\d\d-\d\dT[\d:]+[+-]\d\d:\d\d", "<time>", x)

    assert stamp(page) == stamp(want)


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="no drawing process here")
def test_a_drawing_process_that_fails_hangs_or_is_not_used_costs_nothing_but_time(monkeypatch):
    from evalreport.render import charts, drawer
    from evalreport.render.html import to_html

    r = evaluate(EXAMPLES / "iris_predictions.csv", group_by="fold", bootstrap=0)
    serial = charts.all_charts(r, processes=1)
    with drawer.Drawer.start() as d:
        assert d.charts(r) == serial
        assert d.charts(r) is None  # one result per process
    parent = os.getpid()
    real = charts.all_charts

    def broken(r_, processes=1, then=None):
        if os.getpid() != parent:
            raise RuntimeError("only in the drawing process")
        return real(r_, processes, then)

    monkeypatch.setattr(charts, "all_charts", broken)
    with drawer.Drawer.start() as d:
        drawn = d.charts(r)
    assert drawn is None
    import datetime as dt

    at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert to_html(r, at, drawn=drawn) == to_html(r, at, drawn=serial)  # the parent drew them itself
    monkeypatch.setattr(drawer, "TIMEOUT", 0.5)
    monkeypatch.setattr(charts, "all_charts", lambda r_, processes=1, then=None: time.sleep(60)
                        if os.getpid() != parent else real(r_, processes, then))
    started = time.monotonic()
    with drawer.Drawer.start() as d:
        assert d.charts(r) is None
    assert time.monotonic() - started < 30
    d = drawer.Drawer.start()  # never used: let go and reaped, no process left behind
    pid = d._pid
    d.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="no drawing process here")
def test_the_entry_point_forks_the_drawing_process_for_a_local_report_only():
    """start_early forks before the options are parsed, for `report` alone and not with --engine;
    the command takes that process (local) or lets it go (dask) — never a second fork."""
    from evalreport import cli
    from evalreport.entry import draws_charts
    from evalreport.render import drawer

    for argv in (["check", "x.csv"], ["compare", "a.csv", "b.csv"], ["--version"], [], ["x.csv", "report"],
                 ["report", "d/", "--engine", "dask"], ["report", "d/", "--engine=local"]):
        assert not draws_charts(argv), argv
    assert draws_charts(["report", "x.csv", "-o", "r.html"]) and draws_charts(["report"])
    drawer.start_early()
    early = drawer._early
    assert early is not None and early._pid > 0
    with cli._drawer(cli.Engine.local) as taken:
        assert taken is early and drawer.take_early() is None
    drawer.start_early()
    pid = drawer._early._pid
    with cli._drawer(cli.Engine.dask) as taken:
        assert taken is None
    with pytest.raises(ChildProcessError):  # let go and reaped
        os.waitpid(pid, os.WNOHANG)


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="no drawing process here")
def test_a_drawing_process_never_handed_a_result_is_killed_not_waited_for(monkeypatch):
    """Letting go of a child still busy (importing matplotlib; here asleep) does not wait for it."""
    from evalreport.render import drawer

    monkeypatch.setattr(drawer, "_serve", lambda request, reply: (time.sleep(60), os._exit(0)))
    started = time.monotonic()
    d = drawer.Drawer.start()
    pid = d._pid
    d.close()
    assert time.monotonic() - started < 30
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="no drawing process here")
@pytest.mark.parametrize("args, code", [(["--help"], 0), (["/no/such/file.csv"], 2), (["{digits}", "--bogus"], 2),
                                        (["{digits}", "-o", "{digits}"], 2)])
def test_a_report_that_stops_before_drawing_leaves_no_process_behind(tmp_path, args, code):
    """The drawing process forked before the options are read is killed and reaped when the
    command stops early (help, a bad option, no such file, an output over its input)."""
    digits = str(EXAMPLES / "digits_predictions.csv")
    child = subprocess.Popen([sys.executable, "-m", "evalreport", "report", *[a.format(digits=digits) for a in args]],
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    _, err = child.communicate(timeout=60)
    assert child.returncode == code, err
    with pytest.raises(ProcessLookupError):  # nobody left in the command's process group
        os.killpg(child.pid, 0)


#: Runs the entry point as the installed script does, the CLI's import interrupted (Ctrl-C while Typer loads).
_INTERRUPTED = """
import sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == "evalreport.cli":
            raise KeyboardInterrupt
sys.meta_path.insert(0, Interrupt())
sys.argv = ["evalreport", "report", sys.argv[1]]
from evalreport.entry import main
main()
"""


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="no drawing process here")
def test_an_interrupt_before_the_command_runs_is_a_quiet_exit_and_leaves_no_process(tmp_path):
    """Ctrl-C while the CLI loads, after the drawing process was forked: exit 130 without a
    traceback, as the command's own handling, and that process killed and reaped."""
    child = subprocess.Popen([sys.executable, "-c", _INTERRUPTED, str(EXAMPLES / "digits_predictions.csv")],
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and b"Traceback" not in err, err
    with pytest.raises(ProcessLookupError):
        os.killpg(child.pid, 0)


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="no drawing process here")
@pytest.mark.parametrize("first", [False, True])
def test_a_drawing_process_that_never_reads_does_not_hold_the_parent(monkeypatch, first):
    """A result larger than the pipe's buffer waits for the child to take it; a child alive but
    stuck (here: asleep) is killed after TIMEOUT, and the parent draws the charts itself."""
    from evalreport.render import drawer

    monkeypatch.setattr(drawer, "TIMEOUT", 0.5)
    monkeypatch.setattr(drawer, "_serve", lambda request, reply: (time.sleep(60), os._exit(0)))
    big = b"x" * (4 << 20)  # far more than a pipe holds (64 KiB on Linux)
    started = time.monotonic()
    d = drawer.Drawer.start()
    pid = d._pid
    if first:
        d.begin(big)
    assert d.charts(big) is None
    d.close()
    assert time.monotonic() - started < 30
    with pytest.raises(ChildProcessError):  # killed and reaped: nothing left behind
        os.waitpid(pid, os.WNOHANG)


#: Inputs of every kind of chart: multiclass with slices, binary (a score column), soft targets, weights.
FIRST_RESULT_CASES = [
    ("digits_predictions.csv", dict(group_by="fold")),
    ("breast_cancer_predictions.csv", dict(score_col="score", group_by="fold")),
    ("iris_soft_targets.csv", dict(target_prefix="t_", group_by="fold")),
    ("iris_predictions.csv", dict(weight_col="fold", group_by="fold", bootstrap=0)),
]


@pytest.mark.parametrize("name, options", FIRST_RESULT_CASES)
def test_charts_drawn_from_the_first_result_are_those_of_the_full_one(name, options):
    """The drawing process starts on the first result (no row-sample fits) while the parent
    fits; every chart but ROW_SAMPLE_CHARTS must come out the same from it, byte for byte."""
    from evalreport.render import charts

    first = []
    full = evaluate(EXAMPLES / name, **options, on_figures=first.append)
    (first,) = first
    assert first.decomposition is None and first.calibration.temperature is None  # it lacks the fits
    early, want = charts.all_charts(first), charts.all_charts(full)
    for chart in want:
        if chart not in charts.ROW_SAMPLE_CHARTS:
            assert early[chart] == want[chart], chart
    if full.decomposition is not None and full.decomposition.curve:
        assert early["corp"] != want["corp"]  # it does need the full result: drawn from it


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="no drawing process here")
def test_the_drawing_process_begins_on_the_first_result_and_ends_on_the_full_one():
    from evalreport.render import charts, drawer

    first = []
    full = evaluate(EXAMPLES / "breast_cancer_predictions.csv", score_col="score", group_by="fold",
                    on_figures=first.append)
    with drawer.Drawer.start() as d:
        d.begin(first[0])
        assert d.charts(full) == charts.all_charts(full, processes=1)
    # which result each chart comes from: a first result of another input shows it
    other = []
    evaluate(EXAMPLES / "digits_predictions.csv", group_by="fold", on_figures=other.append)
    with drawer.Drawer.start() as d:
        d.begin(other[0])
        d.begin(first[0])  # one first result per process: this one is not sent
        drawn = d.charts(full)
    early, late = charts.all_charts(other[0]), charts.all_charts(full)
    assert drawn["confusion"] == early["confusion"] != late["confusion"]
    assert drawn["corp"] == late["corp"]
    started = time.monotonic()
    d = drawer.Drawer.start()  # the parent fails between the two: the child leaves, nothing hangs
    d.begin(first[0])
    pid = d._pid
    d.close()
    assert time.monotonic() - started < 30
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_the_pipes_to_a_drawing_process_work_above_file_descriptor_1024():
    """A program with a thousand files open (a notebook server, a service) gets pipes numbered
    above 1024, where select() fails; the parent's reads and writes must still go through."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip(f"at most {hard} files may be open here")
    limit = 2048 if hard == resource.RLIM_INFINITY else min(2048, hard)
    code = f"""
import os, resource, sys
from evalreport.render.drawer import read_within, write_within
resource.setrlimit(resource.RLIMIT_NOFILE, ({limit}, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
null = os.open(os.devnull, os.O_RDONLY)
held = [os.dup(null) for _ in range(1030)]
data = bytes(range(256)) * 1024  # more than a pipe holds: both ends wait on each other

r, w = os.pipe()
assert r > 1024 and w > 1024, (r, w)
pid = os.fork()
if pid == 0:
    os.close(r); os.write(w, data); os._exit(0)
os.close(w)
got = read_within(r, pid, 30)
os.waitpid(pid, 0)

r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w)
    back = b"".join(iter(lambda: os.read(r, 1 << 16), b""))
    os._exit(0 if back == data else 1)
os.close(r)
sent = write_within(w, data, pid, 30)
os.close(w)
_, status = os.waitpid(pid, 0)
print(got == data, sent, os.waitstatus_to_exitcode(status))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "0"]


def test_a_bare_check_skips_the_row_sample_fits_and_gates_the_same(tmp_path, monkeypatch):
    """A check that writes nothing shows nothing fitted on the row sample (the decomposition, the
    temperature, the row-sample errors): it skips those fits — and SciPy, which only they need on
    hard labels — yet its gates are those of a check that writes its JSON (where the fits show)."""
    digits = str(EXAMPLES / "digits_predictions.csv")
    gates = ["--max-score", "1", "--max-ece", "0.1", "--min-skill", "0", "--max-class-score", "2",
             "--min-accuracy", "0.9", "--significant"]
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "evalreport", "check", digits, *gates],
                          cwd=tmp_path, capture_output=True, text=True, env=dict(os.environ, CI="1", COLUMNS="200"),
                          check=False)
    assert done.returncode == 1, done.stderr[-2000:]  # the ECE gate fails
    assert "scipy" not in done.stderr
    bare = [line for line in done.stdout.splitlines() if "│" in line]
    written = subprocess.run([sys.executable, "-m", "evalreport", "check", digits, *gates, "--json", "c.json"],
                             cwd=tmp_path, capture_output=True, text=True,
                             env=dict(os.environ, CI="1", COLUMNS="200"), check=False)
    assert written.returncode == 1
    assert [line for line in written.stdout.splitlines() if "│" in line] == bare
    import json

    report = json.loads((tmp_path / "c.json").read_text())
    assert report["report"]["decomposition"] is not None  # the fits are there where they show
    summary = tmp_path / "summary.md"
    with_summary = subprocess.run([sys.executable, "-m", "evalreport", "check", digits, *gates], cwd=tmp_path,
                                  capture_output=True, text=True, check=False,
                                  env=dict(os.environ, CI="1", GITHUB_STEP_SUMMARY=str(summary)))
    assert with_summary.returncode == 1
    assert "temperature T =" in summary.read_text()  # the step summary shows a fit: it was made


@pytest.mark.parametrize("status, code, err", [(None, 0, ""), (3, 3, ""), ("a message", 1, "a message\n")])
def test_the_command_leaves_without_teardown_but_as_python_would(status, code, err):
    """entry.leave skips the interpreter's teardown (a fifth of a second of every command) but not
    what teardown does that matters: atexit functions run, buffered output is flushed, the status
    is sys.exit's; a thread that is not a daemon is waited for."""
    script = ("import atexit, sys; atexit.register(lambda: print('atexit ran')); sys.stdout.write('buffered|'); "
              f"from evalreport.entry import leave; leave({status!r})")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (code, "buffered|atexit ran\n", err)
    waits = ("import threading, time; threading.Thread(target=lambda: (time.sleep(0.5), print('thread done'))).start(); "
             "from evalreport.entry import leave; leave(4)")
    done = subprocess.run([sys.executable, "-c", waits], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (4, "thread done\n")


def test_a_profiled_command_exits_as_python_does_so_the_profile_is_written(tmp_path):
    """Under a profiler (python -m cProfile), which writes its output after the program, the
    command leaves through Python's own exit."""
    out = tmp_path / "check.prof"
    done = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "evalreport", "check",
                           str(EXAMPLES / "iris_predictions.csv"), "--max-score", "5"], cwd=tmp_path,
                          capture_output=True, text=True, env=dict(os.environ, CI="1"), check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.stat().st_size > 0
