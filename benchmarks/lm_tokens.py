"""A token-level language-model file of 100 million tokens: evalreport against a polars streaming query.

    python benchmarks/lm_tokens.py make --tokens 100000000 --out /tmp/tokens.parquet
    python benchmarks/lm_tokens.py time --file /tmp/tokens.parquet [--repeat 3]

``make`` writes one row per token — ``id`` (its sequence, "doc-<n>"), ``logprob`` (float64),
``bytes`` (int32), ``domain`` (a slice: 4 values) — in row groups of 1,048,576 rows, written a
row group at a time (the writer's memory stays small); sequences of 50–950 tokens (about 200,000
of them for 100M tokens).

``time`` runs, each as a fresh process (median of ``--repeat`` runs after a warm-up):

- ``evalreport report FILE --group-by domain`` (HTML and JSON written): every token read,
  validated and summed into its sequence, the sequences' sums per slice and bootstrap block;
- the yardstick: a polars streaming query computing the same sums on the same file — Σ logprob,
  tokens and Σ bytes per sequence, then their totals per domain.

and prints each one's wall time and peak memory (getrusage of the child), and the ratio. The goal
(issue 24): evalreport within 1 GiB and within 3× the polars query's time.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("evalreport")
ROW_GROUP = 1 << 20

POLARS = """
import sys
import polars as pl
per_seq = (pl.scan_parquet(sys.argv[1])
           .group_by("id").agg(pl.col("logprob").sum().alias("lp"), pl.len().alias("tokens"),
                              pl.col("bytes").sum().alias("bytes"), pl.col("domain").first())
           .group_by("domain").agg(pl.col("lp").sum(), pl.col("tokens").sum(), pl.col("bytes").sum(), pl.len())
           .collect(engine="streaming"))
print(per_seq)
"""


def make(tokens: int, out: Path, seed: int = 0) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    schema = pa.schema([("id", pa.string()), ("logprob", pa.float64()), ("bytes", pa.int32()), ("domain", pa.string())])
    domains = np.array(["news", "code", "chat", "math"])
    written, seq = 0, 0
    carry_ids: list[np.ndarray] = []
    with pq.ParquetWriter(out, schema) as writer:
        while written < tokens:
            n = min(ROW_GROUP, tokens - written)
            lengths = []
            total = 0
            while total < n:
                length = int(rng.integers(50, 950))
                lengths.append(min(length, n - total))
                total += lengths[-1]
            seq_ids = np.arange(seq, seq + len(lengths))
            seq += len(lengths)
            ids = np.repeat(np.char.add("doc-", seq_ids.astype(str)), lengths)
            difficulty = np.repeat(rng.gamma(2.0, 1.0, len(lengths)), lengths)
            table = pa.table({
                "id": pa.array(ids, pa.string()),
                "logprob": -rng.exponential(1.0, n) * difficulty,
                "bytes": rng.integers(1, 8, n).astype(np.int32),
                "domain": pa.array(np.repeat(domains[seq_ids % 4], lengths), pa.string()),
            }, schema=schema)
            writer.write_table(table, row_group_size=ROW_GROUP)
            written += n
    del carry_ids
    print(f"{out}: {tokens:,} tokens, {seq:,} sequences, {out.stat().st_size / 2**20:,.0f} MiB")


def _run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak MiB (the child's max RSS) of one fresh process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def timed(file: Path, repeat: int) -> None:
    out = Path(os.environ.get("TMPDIR", "/tmp"))
    ours = [str(SCRIPT) if SCRIPT.exists() else sys.executable, *([] if SCRIPT.exists() else ["-m", "evalreport"]),
            "report", str(file), "--group-by", "domain", "-o", str(out / "lm_tokens.html"), "--json",
            str(out / "lm_tokens.json")]
    polars = [sys.executable, "-c", POLARS, str(file)]
    rows = {}
    for name, cmd in (("evalreport report", ours), ("polars streaming query", polars)):
        _run(cmd)  # warm-up: the page cache
        walls = []
        for _ in range(repeat):
            wall, _peak = _run(cmd)
            walls.append(wall)
        # peak memory of one more run alone (ru_maxrss of children is a maximum over all of them)
        peak = subprocess.run(["/usr/bin/env", "python3", "-c",
                               "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL,"
                               " stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
                               *cmd], capture_output=True, text=True, check=True).stdout
        rows[name] = (statistics.median(walls), int(peak) / 1024)
        print(f"{name:24s} wall {rows[name][0]:6.2f} s (median of {repeat})   peak {rows[name][1]:7.0f} MiB")
    ratio = rows["evalreport report"][0] / rows["polars streaming query"][0]
    print(f"ratio evalreport / polars: {ratio:.2f} (goal ≤ 3.0); evalreport peak {rows['evalreport report'][1]:.0f} MiB "
          "(goal ≤ 1024)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("--tokens", type=int, default=100_000_000)
    m.add_argument("--out", type=Path, default=Path("/tmp/tokens.parquet"))
    t = sub.add_parser("time")
    t.add_argument("--file", type=Path, default=Path("/tmp/tokens.parquet"))
    t.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.command == "make":
        make(args.tokens, args.out)
    else:
        timed(args.file, args.repeat)


if __name__ == "__main__":
    main()
