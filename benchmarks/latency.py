"""What users wait for: whole-process wall time of the runs people make, median of fresh processes.

    python benchmarks/make_data.py --rows 5000000 --out /tmp/bench.csv --parquet
    python benchmarks/make_data.py --rows 1000000 --out /tmp/bench1m.csv
    python benchmarks/latency.py [--big /tmp/bench.csv] [--million /tmp/bench1m.csv] [--repeat 5]

Rows of the table (each a fresh process, whole-process wall time and peak memory, the
median of --repeat runs after one warm-up run, on a warm page cache):

- the import floor: ``python -c "import numpy, pandas, matplotlib.figure,
  matplotlib.backends.backend_svg, jinja2, pyarrow"``, what any report must import;
- ``report`` on the digits example (1,797 rows, HTML + JSON) — goal ≤ 1.3× the import floor;
- ``check --max-score 1`` on it (no HTML) — goal ≤ 0.8× the import floor;
- ``report`` on 1,000,000 rows × 10 classes (CSV) — a regression guard;
- ``report`` on 5,000,000 rows × 10 classes, CSV and Parquet; a polars streaming query of the
  per-class mean cross-entropy on the same CSV (when polars is installed) and pyarrow's
  ``read_table`` of the Parquet file: the goals (issue 26) are the CSV report within 2.5× the polars
  query, and the Parquet report's time beyond the digits report's (its fixed costs: imports, fits,
  charts, writing) within 2× pyarrow's read of the same file.

With ``--floors`` (and ``--big``), parts of the big runs alone, to show what bounds them: the
loader alone (every batch parsed or decoded, validated and hashed; nothing reduced), and the
loader with the reduction (the sums of the first result; no fits, no charts, no output). After the
table come the ratios the goals name, all from the one run (absolute times on a 2-core machine swing
by a third from run to run; ratios in one run do not).

Speed is measured here, never in the unit tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import POLARS  # noqa: E402 — the same yardstick query as bench.py
#: The command users run: the ``evalreport`` script installed beside this interpreter (``python -m``
#: measured about 25 ms slower on a small check); ``python -m evalreport`` where there is none.
SCRIPT = Path(sys.executable).with_name("evalreport")

#: What every report imports, whatever its input (issue 26's floor for small runs).
IMPORT_FLOOR = "import numpy, pandas, matplotlib.figure, matplotlib.backends.backend_svg, jinja2, pyarrow"

#: The fastest well-kept reader of the Parquet file: the yardstick of a big Parquet run.
ARROW_READ = "import sys, pyarrow.parquet as pq; print(pq.read_table(sys.argv[1]).num_rows)"

#: The loader alone: every batch read, validated and hashed, nothing reduced.
READ_ONLY = """
import sys
from evalreport.load import InputSpec, LoadedInput
print(sum(len(b) for b in LoadedInput(sys.argv[1], InputSpec.from_options({})).batches()))
"""

#: The loader and the reduction to the first result's sums (the report's defaults, bootstrap
#: included), without the row-sample fits, the charts or any output.
REDUCED = """
import sys
from evalreport.compute import BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED, Bootstrap, reduce_batches
from evalreport.load import InputSpec, LoadedInput
spec = InputSpec.from_options({})
loaded = LoadedInput(sys.argv[1], spec)
print(reduce_batches(loaded.batches(), len(loaded.layout.classes), spec.eps,
                     Bootstrap(BOOTSTRAP_REPLICATES, BOOTSTRAP_SEED)).rows)
"""


#: The children's environment: CI (no progress bar), and bytecode cached as an installed package has it
#: (pip compiles on install; with PYTHONDONTWRITEBYTECODE set, an editable checkout would compile every
#: module of evalreport in every run while the libraries it is measured against load theirs compiled).
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"CI": "1"}


def run(cmd: list[str], cwd: str) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak resident memory (MiB) of one fresh
    child process."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=_ENV)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def median_of(cmd: list[str], repeat: int, cwd: str) -> tuple[float, float, float]:
    """Median wall and CPU seconds of ``repeat`` runs after a warm-up run, and the largest peak."""
    run(cmd, cwd)  # warm-up: page cache, .pyc files
    results = [run(cmd, cwd) for _ in range(repeat)]
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results),
            max(r[2] for r in results))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--big", type=Path, help="the 5M-row CSV (its Parquet copy beside it, same stem)")
    ap.add_argument("--million", type=Path, help="a 1M-row CSV")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--module", action="store_true", help="run python -m evalreport, not the installed script")
    ap.add_argument("--floors", action="store_true", help="also time the loader alone, and with the reduction")
    args = ap.parse_args()
    evalreport = [sys.executable, "-m", "evalreport"] if args.module or not SCRIPT.exists() else [str(SCRIPT)]
    print(f"(running {' '.join(evalreport)})", file=sys.stderr)
    digits = str(ROOT / "examples" / "digits_predictions.csv")
    rows: list[tuple[str, str, list[str]]] = [
        ("floor", "import floor (numpy, pandas, matplotlib's figure and SVG backend, jinja2, pyarrow)",
         [sys.executable, "-c", IMPORT_FLOOR]),
        ("digits", "report, digits example (1,797 rows) → HTML + JSON",
         [*evalreport, "report", digits, "-o", "r.html", "--json", "r.json"]),
        ("check", "check --max-score 1, digits example (no HTML)",
         [*evalreport, "check", digits, "--max-score", "1"]),
    ]
    if args.million:
        rows.append(("1M", "report, 1,000,000 rows × 10 classes, CSV",
                     [*evalreport, "report", str(args.million), "-o", "r.html", "--json", "r.json"]))
    if args.big:
        rows.append(("csv", "report, 5,000,000 rows × 10 classes, CSV",
                     [*evalreport, "report", str(args.big), "-o", "r.html", "--json", "r.json"]))
        parquet = args.big.with_suffix(".parquet")
        if parquet.exists():
            rows.append(("parquet", "report, the same rows as Parquet",
                         [*evalreport, "report", str(parquet), "-o", "r.html", "--json", "r.json"]))
            rows.append(("arrow", "pyarrow read_table of the same Parquet file",
                         [sys.executable, "-c", ARROW_READ, str(parquet)]))
        try:
            import polars  # noqa: F401
        except ImportError:
            print("(polars is not installed: no yardstick row)", file=sys.stderr)
        else:
            rows.append(("polars", "polars streaming query, per-class mean CE, same CSV",
                         [sys.executable, "-c", POLARS, str(args.big)]))
        if args.floors:
            for path, kind in ((args.big, "CSV"), (parquet, "Parquet")):
                if path.exists():
                    rows.append((f"read {kind}", f"loader alone (read, validate, hash), the same {kind}",
                                 [sys.executable, "-c", READ_ONLY, str(path)]))
                    rows.append((f"reduce {kind}",
                                 f"loader and reduction (no fits, charts, output), the same {kind}",
                                 [sys.executable, "-c", REDUCED, str(path)]))
    print(f"| run | wall s (median of {args.repeat}) | CPU s | peak MiB |")
    print("|---|---:|---:|---:|")
    wall: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as cwd:
        for key, name, cmd in rows:
            wall[key], cpu, peak = median_of(cmd, args.repeat, cwd)
            print(f"| {name} | {wall[key]:.2f} | {cpu:.2f} | {peak:,.0f} |", flush=True)
    print()
    goals = [("digits report / import floor", "digits", "floor", 1.3),
             ("check / import floor", "check", "floor", 0.8),
             ("5M CSV report / polars query", "csv", "polars", 2.5)]
    for name, a, b, goal in goals:
        if a in wall and b in wall:
            ratio = wall[a] / wall[b]
            print(f"{name}: {ratio:.2f} (goal ≤ {goal}: {'met' if ratio <= goal else 'NOT met'})")
    if {"parquet", "digits", "arrow"} <= wall.keys():
        beyond = wall["parquet"] - wall["digits"]
        ratio = beyond / wall["arrow"]
        print(f"5M Parquet report beyond the digits report / pyarrow read_table: ({wall['parquet']:.2f} − "
              f"{wall['digits']:.2f}) / {wall['arrow']:.2f} = {ratio:.2f} (goal ≤ 2: {'met' if ratio <= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
