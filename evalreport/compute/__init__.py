"""Compute: pure functions from validated arrays to additive statistics.

No I/O here. Every figure evalreport reports is a ratio of sums over rows, so a
batch of rows reduces to a :class:`Stats` of sums and counts (overall, per
class, per slice value, per histogram bin) and two ``Stats`` add up with ``+``.
A chunk of a file, a partition on a cluster and a whole DataFrame therefore
give the same figures; the means are derived only at the end.

All sums are in nats (natural log). ``*_loss`` figures are lower-is-better.

Definitions, per row *i* with target distribution P_i (one-hot for a hard
label) and prediction Q_i clipped to [eps, 1 − eps] as
``sklearn.metrics.log_loss`` does:

- cross-entropy  CE_i = −Σ_k P_ik ln Q_ik
- entropy        H_i  = −Σ_k P_ik ln P_ik  (0 ln 0 = 0)
- KL divergence  KL_i = Σ_k P_ik ln(P_ik / Q_ik) = CE_i − H_i
"""

from .bootstrap import (
    BOOT_BLOCKS,
    BOOTSTRAP_REPLICATES,
    BOOTSTRAP_SEED,
    MAX_REPLICATES,
    Bootstrap,
    BootSums,
    boot_block,
    class_blocks,
    intervals,
    paired_intervals,
    poisson_weights,
    replicate_weights,
)
from .calibration import CAL_BINS, CAL_EDGES, TEMPERATURE_SAMPLE, RowSample, calibration_bin, fit_temperature, sample_size
from .compare import RisingRow, merge_rising, reduce_pair, rising_rows
from .parallel import in_order, reduce_batches
from .rows import WORST_ROWS, RowFigures, WorstRow, _pick, _row_entropy, _top, distribution_figures, row_figures
from .slices import GROUP_FIELDS, MAX_BOOT_SLICES, MAX_SLICE_VALUES, SliceSums, TooManySlices
from .stats import CONFIDENTLY_WRONG, FINE_EDGES, HIST_EDGES, Stats, accumulate, hist_bin, histogram_quantile, top_rows_loss_share

__all__ = [
    "BOOT_BLOCKS", "BOOTSTRAP_REPLICATES", "BOOTSTRAP_SEED", "CAL_BINS", "CAL_EDGES", "CONFIDENTLY_WRONG", "GROUP_FIELDS",
    "FINE_EDGES", "HIST_EDGES", "MAX_BOOT_SLICES", "MAX_REPLICATES", "MAX_SLICE_VALUES", "TEMPERATURE_SAMPLE", "WORST_ROWS",
    "BootSums", "Bootstrap", "RisingRow", "RowFigures", "RowSample", "SliceSums", "Stats", "TooManySlices", "WorstRow",
    "accumulate", "boot_block", "calibration_bin", "class_blocks", "distribution_figures", "fit_temperature",
    "hist_bin", "histogram_quantile", "in_order", "intervals", "merge_rising", "paired_intervals", "poisson_weights",
    "reduce_batches", "reduce_pair", "replicate_weights", "rising_rows", "row_figures", "sample_size", "top_rows_loss_share",
    "_pick", "_row_entropy", "_top",
]
