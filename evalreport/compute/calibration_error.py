"""Calibration errors of the top label that need the rows themselves (computed on the row sample):
the debiased L2 calibration error, and the ECE with equal-mass bins (fixed, and by the sweep rule);
and the ECE's noise floor, from mergeable sums.

The debiased L2 calibration error (Kumar, Liang & Ma, NeurIPS 2019).

The plug-in binned calibration error is biased upwards: with few rows per bin, noise alone makes
accuracy and confidence differ. For the squared (L2) error the bias has a closed form — each bin's
squared gap minus the variance of its accuracy, ȳ(1 − ȳ)/(n_b − 1) — so it can be removed. Bins as
the authors' reference implementation (``uncertainty-calibration``'s ``get_calibration_error``)
chooses them: 15 equal-mass bins of the confidence, or, when the predictions take few distinct
values (fewer than a quarter of the rows, in every class column), one bin per distinct value.
Computed on the row sample (every row up to its size); unweighted, as the reference.
"""

from __future__ import annotations

import numpy as np

EQUAL_MASS_BINS = 15


def _discrete_edges(values: np.ndarray) -> np.ndarray:
    """Upper bin edges between consecutive distinct values, and 1."""
    u = np.unique(values)
    return np.r_[(u[:-1] + u[1:]) / 2.0, 1.0]


def _is_discrete(q: np.ndarray) -> bool:
    n = q.shape[0]
    return all(len(_discrete_edges(q[:, j])) < n / 4.0 for j in range(q.shape[1]))


def _equal_mass_edges(conf: np.ndarray, bins: int = EQUAL_MASS_BINS) -> np.ndarray:
    """Upper edges of ``bins`` bins holding equal numbers of rows (numpy's array_split of the
    sorted values; each edge halfway between neighbouring bins), and 1."""
    s = np.sort(conf)
    parts = np.array_split(s, min(bins, len(s)))
    edges = [(a[-1] + b[0]) / 2.0 for a, b in zip(parts[:-1], parts[1:])] + [1.0]
    return np.array(sorted(set(edges)))


def top_label_forecast(q: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The top label as a forecast: each row's largest probability, and whether its class is the true one."""
    return q.max(axis=1), (q.argmax(axis=1) == target).astype(float)


def debiased_l2_ce(q: np.ndarray, target: np.ndarray) -> float | None:
    """Top-label debiased L2 calibration error of probabilities ``q`` (rows × classes) for the
    true classes ``target``; None without two rows."""
    n = len(target)
    if n < 2:
        return None
    conf, correct = top_label_forecast(q, target)
    edges = _discrete_edges(conf) if _is_discrete(q) else _equal_mass_edges(conf)
    b = np.searchsorted(edges, conf)
    m = len(edges) + 1
    size = np.bincount(b, minlength=m).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(b, weights=conf, minlength=m) / size
        mean_label = np.bincount(b, weights=correct, minlength=m) / size
        error = (mean_conf - mean_label) ** 2 - mean_label * (1.0 - mean_label) / (size - 1.0)
    error = np.where(size >= 2, error, 0.0)
    return float(max(np.dot(size / n, error), 0.0) ** 0.5)


def equal_mass_ece(conf: np.ndarray, correct: np.ndarray, bins: int = EQUAL_MASS_BINS) -> float:
    """ECE over ``bins`` bins holding equal shares of the rows, as netcal's
    ``ECE(bins, equal_intervals=False)`` forms them: edges at the confidences' quantiles (numpy's
    linear interpolation), the first edge 0 and the last 1, bins [e_i, e_i+1) and the last closed."""
    edges = np.quantile(conf, np.linspace(0.0, 1.0, bins + 1))
    edges[0], edges[-1] = 0.0, 1.0
    return _binned_ece(conf, correct, edges)


def _binned_ece(conf: np.ndarray, correct: np.ndarray, edges: np.ndarray) -> float:
    b = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, len(edges) - 2)
    m = len(edges) - 1
    size = np.bincount(b, minlength=m).astype(float)
    gap = np.abs(np.bincount(b, weights=correct, minlength=m) - np.bincount(b, weights=conf, minlength=m))
    return float(gap.sum() / size.sum())


def sweep_ece(conf: np.ndarray, correct: np.ndarray, most: int = 100) -> tuple[float, int]:
    """The ECE by the sweep rule (Roelofs et al., AISTATS 2022): equal-mass bins (numpy's
    array_split of the rows sorted by confidence), as many as keep the bins' accuracies
    non-decreasing (at most ``most``); the ECE at that number, and the number."""
    order = np.argsort(conf, kind="stable")
    c, y = conf[order], correct[order]
    n = len(c)

    def starts(bins: int) -> np.ndarray:
        sizes = np.full(bins, n // bins)
        sizes[: n % bins] += 1
        return np.r_[0, np.cumsum(sizes)[:-1]]

    chosen = 1
    for bins in range(2, min(most, n) + 1):
        s = starts(bins)
        acc = np.add.reduceat(y, s) / np.diff(np.r_[s, n])
        if (np.diff(acc) < 0).any():
            break
        chosen = bins
    s = starts(chosen)
    return float(np.abs(np.add.reduceat(y, s) - np.add.reduceat(c, s)).sum() / n), chosen


#: Draws of a perfectly calibrated model's ECE behind the noise floor (a fixed seed: the same bytes).
FLOOR_DRAWS = 2000


def ece_noise_floor(w: np.ndarray, var: np.ndarray) -> tuple[float, float]:
    """What a perfectly calibrated model with these confidences and rows would show as ECE: its
    mean and 95th percentile. In a bin, the right answers of such a model minus its confidences
    sum to about N(0, Σ w²·c·(1 − c)) (one Bernoulli(c) per row); the ECE is Σ |that| / Σ w."""
    total = w.sum()
    if total <= 0:
        return 0.0, 0.0
    z = np.random.default_rng(0).standard_normal((FLOOR_DRAWS, len(var))) * np.sqrt(np.maximum(var, 0.0))
    draws = np.abs(z).sum(axis=1) / total
    return float(draws.mean()), float(np.percentile(draws, 95))


# --------------------------------------------------------------------------- under resampling
# The three errors above, for many resamplings of the same rows at once: the bootstrap (each row
# counted as often as its replicate weight says) and draws from a calibrated model (each row's
# outcome drawn from its own confidence). The rows are sorted by confidence once; a resample is
# then cumulative sums over them, and "the first p rows of the resample, sorted" is a cumulative
# sum read at a row plus a part of the next — so each error is a few binary searches a resample.

#: Draws of a calibrated model behind the noise floors of the debiased, equal-mass and sweep errors.
ROW_FLOOR_DRAWS = 200
#: The sweep tries these numbers of bins a stage at a time (resamples whose accuracies fell stop).
_SWEEP_STAGES = ((2, 12), (13, 40), (41, 100))
#: Resamples whose cumulative sums are held at once: at most 32, and at most _CELLS rows × resamples
#: (so a 50,000-row sample holds 10 at a time: a few arrays of 4 MB, not of 13 MB).
_COLUMNS, _CELLS = 32, 1 << 19


class SortedTop:
    """The top-label confidences of the row sample, sorted (stable), with whether each was right;
    ``discrete_edges``: the debiased error's bins when it uses one per distinct value (else None)."""

    def __init__(self, conf: np.ndarray, correct: np.ndarray, discrete_edges: np.ndarray | None) -> None:
        self.order = np.argsort(conf, kind="stable")
        self.c = conf[self.order]
        self.y = correct[self.order]
        self.discrete_edges = discrete_edges

    @classmethod
    def of(cls, q: np.ndarray, target: np.ndarray) -> SortedTop:
        conf, correct = top_label_forecast(q, target)
        return cls(conf, correct, _discrete_edges(conf) if _is_discrete(q) else None)

    def errors(self, counts: np.ndarray | None = None, outcomes: np.ndarray | None = None,
               most: int = 100) -> np.ndarray:
        """(resamples, 3): the debiased L2 error, the equal-mass ECE and the sweep ECE of each
        resample (NaN for one of fewer than 2 rows). Either ``counts`` (rows × R, in the rows'
        original order): how often each row is taken; or ``outcomes`` (sorted rows × R): each
        row taken once, with these outcomes instead of the real ones."""
        n = len(self.c)
        R = (counts if counts is not None else outcomes).shape[1]
        out = np.full((R, 3), np.nan)
        step = max(1, min(_COLUMNS, _CELLS // (n + 1)))
        for start in range(0, R, step):
            stop = min(R, start + step)
            r = stop - start
            # one resample a row (contiguous), so each binary search reads one array in place
            if counts is not None:
                m = np.ascontiguousarray(counts[self.order, start:stop].T, dtype=np.float64)
                y = np.broadcast_to(self.y, (r, n))
                cw, cy, cc = _prefix(m), _prefix(m * self.y), _prefix(m * self.c)
            else:
                y = np.ascontiguousarray(outcomes[:, start:stop].T)
                cw = np.broadcast_to(np.arange(n + 1.0), (r, n + 1))
                cy, cc = _prefix(y), np.broadcast_to(_prefix(self.c[None, :]), (r, n + 1))
            N = cw[:, -1]
            if N.min() > max(most, EQUAL_MASS_BINS):  # all at once
                out[start:stop] = _errors_at_once(self.c, y, cw, cy, cc, self.discrete_edges, most)
                continue
            for j in np.flatnonzero(N >= 2):  # small resamples (of inputs of about a hundred rows): each alone
                one = slice(j, j + 1)
                out[start + j] = _errors_at_once(self.c, y[one], cw[one], cy[one], cc[one], self.discrete_edges,
                                                 min(most, int(N[j])))[0]
        return out

    def floor_draws(self, draws: int | None = None, seed: int = 0) -> np.ndarray:
        """:meth:`errors` of calibrated models, each row right with its own confidence:
        ROW_FLOOR_DRAWS of them, fewer on many rows (see bootstrap.row_replicates)."""
        from .bootstrap import row_replicates

        draws = row_replicates(len(self.c), ROW_FLOOR_DRAWS) if draws is None else draws
        rng = np.random.default_rng(seed)
        return self.errors(outcomes=(rng.uniform(size=(len(self.c), draws)) < self.c[:, None]).astype(np.float64))


def _prefix(x: np.ndarray) -> np.ndarray:
    """Cumulative sums along each row, with a 0 in front: (r, n) → (r, n + 1)."""
    out = np.zeros((x.shape[0], x.shape[1] + 1))
    np.cumsum(x, axis=1, out=out[:, 1:])
    return out


def _errors_at_once(c, y, cw, cy, cc, discrete_edges, most) -> np.ndarray:
    """The three errors of r resamples at once: sorted confidences ``c``; per resample (a row of
    each array) the outcomes ``y`` and the cumulative count ``cw``, count × outcome ``cy`` and count ×
    confidence ``cc`` (n + 1 each); every resample of at least ``most`` and EQUAL_MASS_BINS
    entries, or one resample. "The first p entries of a resample, sorted" are a cumulative sum at
    a row plus a part of the next row; the binary searches of all resamples are one call (each
    resample's cumulative counts shifted past the previous one's), the rest 2-D arrays."""
    r, n = y.shape
    N = cw[:, -1]
    shift = np.arange(r) * (N.max() + 2.0)
    flat = (cw + shift[:, None]).ravel()

    def row_of(p, which=None):  # positions (r, m) of resamples ``which`` → the rows holding them (n at the end)
        which = np.arange(r) if which is None else which
        i = np.searchsorted(flat, (p + shift[which, None]).ravel(), side="right").reshape(p.shape)
        return i - which[:, None] * (n + 1) - 1

    def value(p):
        return c[np.minimum(row_of(p), n - 1)]

    def sums(bounds):  # count, Σ outcome, Σ confidence between row bounds (r, m + 1)
        return (np.diff(np.take_along_axis(a, bounds, axis=1), axis=1) for a in (cw, cy, cc))

    def edges_to_bounds(edges, side):
        inner = np.searchsorted(c, edges.ravel(), side=side).reshape(edges.shape)
        return np.concatenate([np.zeros((r, 1), dtype=np.intp), inner, np.full((r, 1), n)], axis=1)

    # debiased L2: equal-count bins (numpy's array_split of the sorted resample), or one per value
    if discrete_edges is None:
        parts = min(EQUAL_MASS_BINS, int(N.min()))
        size = (N // parts)[:, None] + (np.arange(parts) < (N % parts)[:, None])
        ends = np.cumsum(size, axis=1)[:, :-1]
        edges = np.concatenate([(value(ends - 1) + value(ends)) / 2.0, np.ones((r, 1))], axis=1)
    else:
        edges = np.broadcast_to(discrete_edges, (r, len(discrete_edges)))
    size, s_y, s_c = sums(edges_to_bounds(edges, "right"))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c, mean_y = s_c / size, s_y / size
        err = (mean_c - mean_y) ** 2 - mean_y * (1.0 - mean_y) / (size - 1.0)
    debiased = np.sqrt(np.maximum((size / N[:, None] * np.where(size >= 2, err, 0.0)).sum(axis=1), 0.0))

    # equal-mass ECE (netcal's bins): quantile edges, numpy's linear interpolation
    virtual = (N - 1)[:, None] * np.linspace(0.0, 1.0, EQUAL_MASS_BINS + 1)
    lo = np.floor(virtual)
    a, b = value(lo), value(np.minimum(lo + 1, (N - 1)[:, None]))
    gamma = virtual - lo
    qe = np.where(gamma >= 0.5, b - (b - a) * (1 - gamma), a + (b - a) * gamma)
    _, s_y, s_c = sums(edges_to_bounds(qe[:, 1:-1], "left"))
    equal_mass = np.abs(s_y - s_c).sum(axis=1) / N

    # sweep, in stages of bin numbers: a resample whose accuracies fell is done (most are, early)
    ece = np.full((r, most + 1), np.nan)  # Σ |outcomes − confidences| over the bins, by number of bins
    ece[:, 1] = np.abs(cy[:, -1] - cc[:, -1])
    chosen = np.full(r, most)
    active = np.arange(r)
    for low, high in _SWEEP_STAGES:
        high = min(high, most)
        if low > high or not len(active):
            break
        counts = np.arange(low, high + 1)
        group = np.repeat(counts, counts + 1)
        t = np.arange(len(group)) - np.repeat(np.cumsum(counts + 1) - (counts + 1), counts + 1)
        Na = N[active][:, None]
        pos = t * (Na // group) + np.minimum(t, Na % group)
        i = row_of(pos, active)
        k = np.minimum(i, n - 1)
        part = pos - np.take_along_axis(cw[active], i, axis=1)
        py = np.take_along_axis(cy[active], i, axis=1) + part * np.take_along_axis(y[active], k, axis=1)
        pc = np.take_along_axis(cc[active], i, axis=1) + part * c[k]
        inner = t[1:] > 0
        d_n, d_y, d_c = np.diff(pos, axis=1)[:, inner], np.diff(py, axis=1)[:, inner], np.diff(pc, axis=1)[:, inner]
        g = group[1:][inner]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        ece[active[:, None], counts] = np.add.reduceat(np.abs(d_y - d_c), starts, axis=1)
        acc = d_y / d_n
        falls = (acc[:, 1:] < acc[:, :-1]) & (g[1:] == g[:-1])
        first_fall = np.where(falls, g[1:], most + 1).min(axis=1)
        done = first_fall <= high
        chosen[active[done]] = first_fall[done] - 1
        active = active[~done]
    sweep = ece[np.arange(r), chosen] / N
    return np.column_stack([debiased, equal_mass, sweep])
