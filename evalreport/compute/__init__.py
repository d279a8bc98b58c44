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

# The modules, one job each, in pipeline order; every name keeps its old import path.
from .rows import (  # noqa: F401
    distribution_figures,
    _pick,
    _positions,
    _row_entropy,
    row_figures,
    RowFigures,
    _splitmix64,
    _top,
    _top_rows,
    _worst_of_batch,
    WORST_ROWS,
    WorstRow,
)
from .bootstrap import (  # noqa: F401
    boot_block,
    BOOT_BLOCKS,
    Bootstrap,
    BOOTSTRAP_REPLICATES,
    BOOTSTRAP_SEED,
    MAX_REPLICATES,
    bootstrap_sums,
    BootSums,
    _by_block,
    _merge_groups,
    paired_interval,
    percentile_interval,
    _POISSON_THRESHOLDS,
    poisson_weights,
)
from .calibration import (  # noqa: F401
    CAL_BINS,
    CAL_EDGES,
    calibration_bin,
    fit_temperature,
    one_vs_rest_bins,
    row_sample,
    RowSample,
    _temperature_loss,
    TEMPERATURE_SAMPLE,
    TemperatureFit,
)
from .stats import (  # noqa: F401
    accumulate,
    CONFIDENTLY_WRONG,
    GROUP_FIELDS,
    hist_bin,
    HIST_EDGES,
    _HIST_LOG_LO,
    _HIST_STEP,
    histogram_quantile,
    Stats,
    top_rows_loss_share,
)
from .parallel import (  # noqa: F401
    _bound,
    in_order,
    MAX_WORKERS,
    reduce_batches,
)
from .compare import (  # noqa: F401
    merge_rising,
    rising_rows,
    RisingRow,
)
