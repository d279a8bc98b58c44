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


def debiased_l2_ce(q: np.ndarray, target: np.ndarray) -> float | None:
    """Top-label debiased L2 calibration error of probabilities ``q`` (rows × classes) for the
    true classes ``target``; None without two rows."""
    n = len(target)
    if n < 2:
        return None
    conf = q.max(axis=1)
    correct = (q.argmax(axis=1) == target).astype(float)
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
