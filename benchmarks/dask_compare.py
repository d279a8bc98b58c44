"""`compare --engine dask` of two models' predictions over Parquet parts, with each worker's peak memory.

    python benchmarks/dask_compare.py [--rows 50000000] [--parts 16] [--dir /tmp/evalreport-shapes]

The inputs are the compare pair of benchmarks/shapes.py (``--make --pairs N`` writes it: two CSV
files with ids, the candidate's rows in another block order, so only the ids match the rows),
cut here once into --parts Parquet files a side. The benchmark starts a LocalCluster of two
worker processes (one thread each, this machine's two cores), runs the command line against its
scheduler as a fresh process, and reports the wall time, the command's own peak resident memory
and each worker's (the kernel's figure, ``ru_maxrss`` of the worker process). Issue 26 asks for
50,000,000 rows over 16 parts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def _parts(csv: Path, folder: Path, rows: int, parts: int) -> None:
    """The CSV cut into ``parts`` Parquet files of about rows/parts rows each, streamed."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if folder.exists() and len(list(folder.glob("*.parquet"))) == parts:
        return
    folder.mkdir(parents=True, exist_ok=True)
    per = -(-rows // parts)
    reader = pcsv.open_csv(csv, read_options=pcsv.ReadOptions(block_size=64 << 20),
                           convert_options=pcsv.ConvertOptions(column_types={"id": pa.string(), "label": pa.string()}))
    index, held, writer = 0, 0, None
    for batch in reader:
        while len(batch):
            if writer is None:
                writer = pq.ParquetWriter(folder / f"part-{index:03d}.parquet", batch.schema)
            take = min(per - held, len(batch))
            writer.write_table(pa.Table.from_batches([batch.slice(0, take)]), row_group_size=1 << 20)
            batch, held = batch.slice(take), held + take
            if held == per:
                writer.close()
                writer, held, index = None, 0, index + 1
    if writer is not None:
        writer.close()


def _worker_peak() -> int:
    """This process's peak resident memory in MiB (the kernel's high-water mark, VmHWM)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) // 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/evalreport-shapes"))
    ap.add_argument("--rows", type=int, default=50_000_000)
    ap.add_argument("--parts", type=int, default=16)
    args = ap.parse_args()
    m = args.rows // 1_000_000
    base_csv, cand_csv = args.dir / f"pair_{m}m_base.csv", args.dir / f"pair_{m}m_cand.csv"
    if not cand_csv.exists():
        raise SystemExit(f"no {cand_csv}: write it with python benchmarks/shapes.py --make --pairs {args.rows}")
    folders = [args.dir / f"pair_{m}m_{side}_{args.parts}parts" for side in ("base", "cand")]
    for csv, folder in zip((base_csv, cand_csv), folders):
        _parts(csv, folder, args.rows, args.parts)

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        out = args.dir / "out"
        out.mkdir(exist_ok=True)
        cmd = [sys.executable, "-m", "evalreport", "compare", str(folders[0]), str(folders[1]), "--engine", "dask",
               "--scheduler", cluster.scheduler_address, "-o", str(out / "dask_compare.html"), "--json",
               str(out / "dask_compare.json")]
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ, CI="1"))
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
        err = child.stderr.read().decode()
        if status != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{err}")
        peaks = client.run(_worker_peak)
        limit = next(iter(cluster.workers.values())).memory_manager.memory_limit
    print(f"{os.cpu_count()} cores; compare --engine dask of {args.rows:,} rows with ids, {args.parts} Parquet parts "
          f"a side, a LocalCluster of 2 workers × 1 thread (memory limit {limit / 2**30:.1f} GiB each)")
    print(err.strip().splitlines()[0] if err.strip() else "")
    print("| run | time (s) | command peak (MiB) | worker peaks (MiB) |\n|---|---:|---:|---|")
    print(f"| compare {m}M rows | {wall:.1f} | {usage.ru_maxrss / 1024:,.0f} | "
          f"{', '.join(f'{p:,}' for p in sorted(peaks.values()))} |")


if __name__ == "__main__":
    main()
