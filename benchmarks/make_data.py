"""Write a large predictions file for the benchmarks (fixed seed, so anyone can repeat them).

    python benchmarks/make_data.py --rows 5000000 --classes 10 --out /tmp/preds.csv [--parquet]
    python benchmarks/make_data.py --rows 1000000 --slice-values 1000000 --out /tmp/slices.csv

Probabilities are written with 6 significant digits (as CSV exports round), with
an integer label column and a 'fold' slice column (and, with --slice-values N, a
'user' column holding N distinct values, every one of them used). Written in
blocks, in bounded memory.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd


def block(rng: np.random.Generator, n: int, k: int, start: int = 0, slice_values: int = 0,
          top: int = 0) -> pd.DataFrame:
    label = rng.integers(0, k, size=n)
    if top:  # a many-class model: `top` classes share most of the mass, the rest one small value
        q = np.full((n, k), 1e-5)
        picks = np.concatenate([label[:, None], rng.integers(0, k, size=(n, top - 1))], axis=1)
        mass = rng.dirichlet(np.full(top, 0.7), size=n) * (1 - 1e-5 * k)
        mass[:, 0] += 0.3 * (1 - 1e-5 * k) * (rng.uniform(size=n) < 0.8)  # right most of the time
        mass /= mass.sum(axis=1, keepdims=True) / (1 - 1e-5 * k)
        np.add.at(q, (np.arange(n)[:, None], picks), mass)
        q /= q.sum(axis=1, keepdims=True)
    else:
        logits = rng.normal(0.0, 1.0, size=(n, k))
        logits[np.arange(n), label] += 2.5  # an informative model
        q = np.exp(logits - logits.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)
    scale = 10.0 ** (5 - np.floor(np.log10(q)))  # 6 significant digits, so CSV and Parquet hold the same values
    q = np.round(q * scale) / scale
    columns = {"label": label, "fold": rng.integers(0, 5, size=n)}
    if slice_values:
        columns["user"] = [f"u{i % slice_values}" for i in range(start, start + n)]
    probs = pd.DataFrame(q, columns=[f"p_{j}" for j in range(k)])
    return pd.concat([pd.DataFrame(columns), probs], axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("/tmp/evalreport-bench.csv"))
    ap.add_argument("--parquet", action="store_true", help="also write the same rows as Parquet")
    ap.add_argument("--slice-values", type=int, default=0, help="add a 'user' column with this many distinct values")
    ap.add_argument("--top", type=int, default=0,
                    help="many classes: this many carry the mass, the rest share 1e-5 (a small, compressible file)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    writer = None
    step = max(1000, min(500_000, 5_000_000 // args.classes))
    with args.out.open("w", newline="\n") as f:
        for start in range(0, args.rows, step):
            df = block(rng, min(step, args.rows - start), args.classes, start, args.slice_values, args.top)
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
    if args.parquet and args.out.with_suffix(".parquet").exists():
        print(f"wrote {args.out.with_suffix('.parquet')} ({args.out.with_suffix('.parquet').stat().st_size / 2**20:,.0f} MiB)")
    size = args.out.stat().st_size / 2**20
    print(f"wrote {args.out} ({args.rows:,} rows, {size:,.0f} MiB) in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
