"""What users wait for: whole-process wall time of the runs people make, median of fresh processes.

    python benchmarks/make_data.py --rows 5000000 --out /tmp/bench.csv --parquet
    python benchmarks/make_data.py --rows 1000000 --out /tmp/bench1m.csv
    python benchmarks/latency.py [--big /tmp/bench.csv] [--million /tmp/bench1m.csv] [--repeat 5]

Rows of the table (each a fresh process, whole-process wall time and peak memory, the
median of --repeat runs after one warm-up run, on a warm page cache):

- ``report`` on the digits example (1,797 rows, HTML + JSON) — goal 1.5 s on a 2-core machine;
- ``check --max-score 1`` on it (no HTML) — goal 0.9 s;
- ``report`` on 1,000,000 rows × 10 classes (CSV) — a regression guard;
- ``report`` on 5,000,000 rows × 10 classes, CSV and Parquet, and a polars streaming query of the
  per-class mean cross-entropy on the same CSV (when polars is installed): the goals are CSV within
  2.5× the polars query and Parquet within 0.6× the CSV report.

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


def run(cmd: list[str], cwd: str) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one fresh child process."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, CI="1"))
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024


def median_of(cmd: list[str], repeat: int, cwd: str) -> tuple[float, float]:
    run(cmd, cwd)  # warm-up: page cache, .pyc files
    results = [run(cmd, cwd) for _ in range(repeat)]
    return statistics.median(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--big", type=Path, help="the 5M-row CSV (its Parquet copy beside it, same stem)")
    ap.add_argument("--million", type=Path, help="a 1M-row CSV")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--module", action="store_true", help="run python -m evalreport, not the installed script")
    args = ap.parse_args()
    evalreport = [sys.executable, "-m", "evalreport"] if args.module or not SCRIPT.exists() else [str(SCRIPT)]
    print(f"(running {' '.join(evalreport)})", file=sys.stderr)
    digits = str(ROOT / "examples" / "digits_predictions.csv")
    rows: list[tuple[str, list[str]]] = [
        ("report, digits example (1,797 rows) → HTML + JSON", [*evalreport, "report", digits, "-o", "r.html",
                                                              "--json", "r.json"]),
        ("check --max-score 1, digits example (no HTML)", [*evalreport, "check", digits, "--max-score", "1"]),
    ]
    if args.million:
        rows.append(("report, 1,000,000 rows × 10 classes, CSV", [*evalreport, "report", str(args.million),
                                                                   "-o", "r.html", "--json", "r.json"]))
    if args.big:
        rows.append(("report, 5,000,000 rows × 10 classes, CSV", [*evalreport, "report", str(args.big),
                                                                   "-o", "r.html", "--json", "r.json"]))
        parquet = args.big.with_suffix(".parquet")
        if parquet.exists():
            rows.append(("report, the same rows as Parquet", [*evalreport, "report", str(parquet), "-o", "r.html",
                                                             "--json", "r.json"]))
        try:
            import polars  # noqa: F401
        except ImportError:
            print("(polars is not installed: no yardstick row)", file=sys.stderr)
        else:
            rows.append(("polars streaming query, per-class mean CE, same CSV", [sys.executable, "-c", POLARS,
                                                                                   str(args.big)]))
    print(f"| run | wall s (median of {args.repeat}) | peak MiB |")
    print("|---|---:|---:|")
    with tempfile.TemporaryDirectory() as cwd:
        for name, cmd in rows:
            wall, peak = median_of(cmd, args.repeat, cwd)
            print(f"| {name} | {wall:.2f} | {peak:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
