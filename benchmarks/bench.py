"""Throughput and peak memory of `evalreport report` against pandas' and polars' readers.

    python benchmarks/make_data.py --rows 5000000 --out /tmp/bench.csv --parquet
    python benchmarks/bench.py /tmp/bench.csv [/tmp/bench.parquet] [--repeat 3]

Each measurement runs in a fresh process (whole-process wall time, best of
--repeat, and peak resident memory from the kernel), on a warm page cache.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PANDAS_WHOLE = """
import sys, pandas as pd
df = pd.read_csv(sys.argv[1])
"""
PANDAS_CHUNKS = """
import sys, numpy as np, pandas as pd
cols = None; total = 0.0; n = 0
for chunk in pd.read_csv(sys.argv[1], chunksize=500_000):
    if cols is None:
        cols = [c for c in chunk.columns if c.startswith("p_")]
    q = chunk[cols].to_numpy()
    y = chunk["label"].to_numpy()
    total += -np.log(np.clip(q[np.arange(len(y)), y], 1e-15, 1)).sum(); n += len(y)
print(total / n)
"""
POLARS = """
import sys, polars as pl
lf = pl.scan_csv(sys.argv[1])
k = len([c for c in lf.collect_schema().names() if c.startswith("p_")])
p_true = pl.coalesce([pl.when(pl.col("label") == j).then(pl.col(f"p_{j}")) for j in range(k)])
ce = (-p_true.clip(1e-15, 1).log()).alias("ce")
out = lf.select(pl.col("label"), ce).group_by("label").agg(pl.col("ce").mean(), pl.len()).collect(engine="streaming")
print(out.height)
"""


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=dict(os.environ, CI="1"))
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return wall, usage.ru_maxrss / 1024


def best(cmd: list[str], repeat: int) -> tuple[float, float]:
    results = [run(cmd) for _ in range(repeat)]
    return min(r[0] for r in results), max(r[1] for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", type=Path)
    ap.add_argument("parquet", type=Path, nargs="?")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-readers", action="store_true", help="only time evalreport")
    args = ap.parse_args()
    py = sys.executable
    out = Path(tempfile.mkdtemp())
    size = args.csv.stat().st_size / 2**20
    subprocess.run(["cat", str(args.csv)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    rows = []
    if not args.skip_readers:
        rows.append(("pandas read_csv, whole table", *best([py, "-c", PANDAS_WHOLE, str(args.csv)], args.repeat)))
        rows.append(("pandas read_csv in 500k-row chunks + numpy", *best([py, "-c", PANDAS_CHUNKS, str(args.csv)], args.repeat)))
        try:
            import polars  # noqa: F401

            rows.append(("polars scan_csv streaming, per-class mean CE", *best([py, "-c", POLARS, str(args.csv)], args.repeat)))
        except ImportError:
            rows.append(("polars (not installed)", float("nan"), float("nan")))
    report = [py, "-m", "evalreport", "report", "-o", str(out / "r.html"), "--json", str(out / "m.json")]
    rows.append(("evalreport report CSV (HTML + JSON)", *best(report + [str(args.csv)], args.repeat)))
    if args.parquet:
        rows.append(("evalreport report Parquet (HTML + JSON)", *best(report + [str(args.parquet)], args.repeat)))
    n = json.loads((out / "m.json").read_text())["rows"]
    print(f"{args.csv.name}: {n:,} rows, {size:,.0f} MiB; {os.cpu_count()} cores; best of {args.repeat}")
    print("| path | time (s) | rows/s | peak memory (MiB) |\n|---|---:|---:|---:|")
    for name, wall, peak in rows:
        print(f"| {name} | {wall:.2f} | {n / wall:,.0f} | {peak:,.0f} |")


if __name__ == "__main__":
    main()
