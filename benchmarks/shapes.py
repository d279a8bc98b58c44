"""Peak memory (and time) of `evalreport report` on the shapes that once exhausted memory.

    python benchmarks/shapes.py [--dir /tmp/evalreport-shapes] [--repeat 3]

The shapes (issue 10), each written once into --dir with a fixed seed:

- 1,000,000 rows whose --group-by column has 1,000,000 distinct values (CSV);
- 300,000 rows × 2,000 classes, a few classes carrying the mass (Parquet, ~75 MB);
- 5,000,000 rows × 10 classes read from standard input (CSV, 485 MB, piped in);
- `compare` of two 10,000,000-row CSV files with ids, the candidate's rows in another order
  (issue 26: matched through partitions spilled to disk), beside `report` of each file;
  with --big, 50,000,000 rows too. Their bound is COMPARE_LIMIT_MIB.

Each run is a fresh process; the table gives the median wall time and the
largest peak resident memory of the --repeat runs (the kernel's own figure for
the process), and whether it stays within the 1 GiB the project promises.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_data import block  # noqa: E402

LIMIT_MIB = 1024
COMPARE_LIMIT_MIB = 1536


def _write_csv(path: Path, rows: int, classes: int, slice_values: int = 0, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    step = 500_000
    with path.open("w", newline="\n") as f:
        for start in range(0, rows, step):
            df = block(rng, min(step, rows - start), classes, start, slice_values)
            df.to_csv(f, index=False, header=start == 0, float_format="%.6g", lineterminator="\n")


def _write_parquet(path: Path, rows: int, classes: int, top: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    step = 5_000_000 // classes
    writer = None
    for start in range(0, rows, step):
        table = pa.Table.from_pandas(block(rng, min(step, rows - start), classes, start, 0, top), preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


FILES = ("slices_1m.csv", "classes_2000.parquet", "rows_5m.csv")


def _write_pair(base: Path, cand: Path, rows: int, seed: int = 0) -> None:
    """Two models' predictions for the same rows, with an id column: the candidate's probabilities
    sharpened (a better model), its blocks of rows written in reverse order, so that only the ids
    match the rows."""
    rng = np.random.default_rng(seed)
    step = 1_000_000
    parts = []
    with base.open("w", newline="\n") as f:
        for start in range(0, rows, step):
            df = block(rng, min(step, rows - start), 10, start)
            df.insert(0, "id", [f"r{i}" for i in range(start, start + len(df))])
            df.to_csv(f, index=False, header=start == 0, float_format="%.6g", lineterminator="\n")
            q = df[[f"p_{j}" for j in range(10)]].to_numpy() ** 1.3
            df[[f"p_{j}" for j in range(10)]] = q / q.sum(axis=1, keepdims=True)
            part = cand.with_suffix(f".part{start // step}")
            df.iloc[::-1].to_csv(part, index=False, header=False, float_format="%.6g", lineterminator="\n")
            parts.append(part)
            header = ",".join(df.columns) + "\n"
    with cand.open("w") as out:
        out.write(header)
        for part in reversed(parts):
            with part.open() as f:
                while chunk := f.read(1 << 24):
                    out.write(chunk)
            part.unlink()


def _pair_files(folder: Path, rows: int) -> tuple[Path, Path]:
    return folder / f"pair_{rows // 1_000_000}m_base.csv", folder / f"pair_{rows // 1_000_000}m_cand.csv"


def make(folder: Path, pairs: tuple[int, ...] = ()) -> None:
    """Write the shapes' files that are missing."""
    folder.mkdir(parents=True, exist_ok=True)
    for rows in pairs:
        base, cand = _pair_files(folder, rows)
        if not cand.exists():
            _write_pair(base, cand, rows)
    slices, classes, big = (folder / name for name in FILES)
    if not slices.exists():
        _write_csv(slices, 1_000_000, 10, slice_values=1_000_000)
    if not classes.exists():
        _write_parquet(classes, 300_000, 2_000, top=5)
    if not big.exists():
        _write_csv(big, 5_000_000, 10)


def shapes(folder: Path, pairs: tuple[int, ...] = ()) -> list[tuple[str, list[str], Path | None]]:
    """(name, command, file piped to stdin) for each shape. The files are made by a process of
    their own: a child forked from a large parent would count the parent's pages until it execs."""
    subprocess.run([sys.executable, __file__, "--make", "--dir", str(folder),
                    *(["--pairs", ",".join(map(str, pairs))] if pairs else [])], check=True)
    slices, classes, big = (folder / name for name in FILES)
    out = folder / "out"
    out.mkdir(exist_ok=True)
    report = [sys.executable, "-m", "evalreport", "report", "-o", str(out / "r.html"), "--json", str(out / "m.json")]
    compare = [sys.executable, "-m", "evalreport", "compare", "-o", str(out / "c.html"), "--json", str(out / "c.json")]
    out_pairs = []
    for rows in pairs:
        base, cand = _pair_files(folder, rows)
        m = rows // 1_000_000
        out_pairs += [(f"compare: {m}M rows with ids, two CSV files", compare + [str(base), str(cand)], None),
                      (f"report of the {m}M-row baseline", report + [str(base)], None),
                      (f"report of the {m}M-row candidate", report + [str(cand)], None)]
    return [
        ("1M rows, 1M distinct --group-by values (CSV)", report + [str(slices), "--group-by", "user"], None),
        ("300k rows × 2,000 classes (Parquet)", report + [str(classes)], None),
        ("5M rows × 10 classes on standard input (CSV)", report + ["-"], big),
        *out_pairs,
    ]


def run(cmd: list[str], stdin: Path | None) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of one fresh process."""
    t0 = time.perf_counter()
    with open(stdin, "rb") if stdin else open(os.devnull, "rb") as inp:
        child = subprocess.Popen(cmd, stdin=inp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 env=dict(os.environ, CI="1"))
        _, status, usage = os.wait4(child.pid, 0)
        err = child.stderr.read().decode()
    if status != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/evalreport-shapes"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--make", action="store_true", help="only write the files")
    ap.add_argument("--pairs", default="10000000", help="row counts of the compare pairs, comma-separated")
    ap.add_argument("--big", action="store_true", help="also compare 50,000,000 rows (two 5 GB files)")
    ap.add_argument("--only-compare", action="store_true", help="only the compare shapes")
    args = ap.parse_args()
    pairs = tuple(int(x) for x in args.pairs.split(",") if x) + ((50_000_000,) if args.big else ())
    if args.make:
        make(args.dir, pairs)
        return
    rows = []
    for name, cmd, stdin in shapes(args.dir, pairs):
        if args.only_compare and not ("compare" in name or "-row " in name):
            continue
        if stdin:
            subprocess.run(["cat", str(stdin)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache
        results = [run(cmd, stdin) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in results)
        peak = max(r[1] for r in results)
        rows.append((name, wall, peak))
    print(f"{os.cpu_count()} cores; median wall of {args.repeat} fresh processes, largest peak")
    limit = {name: COMPARE_LIMIT_MIB if name.startswith("compare") else LIMIT_MIB for name, _, _ in rows}
    print("| shape | time (s) | peak memory (MiB) | within its bound |\n|---|---:|---:|---|")
    for name, wall, peak in rows:
        print(f"| {name} | {wall:.1f} | {peak:,.0f} | {'yes' if peak <= limit[name] else 'NO'} "
              f"({limit[name]:,} MiB) |")
    for m in sorted({n.split(": ")[1].split("M")[0] for n, _, _ in rows if n.startswith("compare")}):
        t = {n: w for n, w, _ in rows if f" {m}M" in n or f": {m}M" in n}
        both = sum(w for n, w in t.items() if n.startswith("report"))
        c = next(w for n, w in t.items() if n.startswith("compare"))
        print(f"compare of {m}M rows: {c / both:.2f}× the time of reporting both files (goal ≤ 2×)")
    if any(peak > limit[name] for name, _, peak in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
