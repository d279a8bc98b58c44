"""Write a large predictions file for the benchmarks (fixed seed, so anyone can repeat them).

    python benchmarks/make_data.py --rows 5000000 --classes 10 --out /tmp/preds.csv [--parquet]

Probabilities are written with 6 significant digits (as CSV exports round), with
an integer label column and a 'fold' slice column. Written in blocks, in bounded memory.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd


def block(rng: np.random.Generator, n: int, k: int) -> pd.DataFrame:
    logits = rng.normal(0.0, 1.0, size=(n, k))
    label = rng.integers(0, k, size=n)
    logits[np.arange(n), label] += 2.5  # an informative model
    q = np.exp(logits - logits.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    scale = 10.0 ** (5 - np.floor(np.log10(q)))  # 6 significant digits, so CSV and Parquet hold the same values
    q = np.round(q * scale) / scale
    df = pd.DataFrame({"label": label, "fold": rng.integers(0, 5, size=n)})
    for j in range(k):
        df[f"p_{j}"] = q[:, j]
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("/tmp/evalreport-bench.csv"))
    ap.add_argument("--parquet", action="store_true", help="also write the same rows as Parquet")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    writer = None
    step = 500_000
    with args.out.open("w", newline="\n") as f:
        for start in range(0, args.rows, step):
            df = block(rng, min(step, args.rows - start), args.classes)
            df.to_csv(f, index=False, header=start == 0, float_format="%.6g", lineterminator="\n")
            if args.parquet:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(df, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(args.out.with_suffix(".parquet"), table.schema)
                writer.write_table(table)
    if writer is not None:
        writer.close()
    size = args.out.stat().st_size / 2**20
    print(f"wrote {args.out} ({args.rows:,} rows, {size:,.0f} MiB) in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
