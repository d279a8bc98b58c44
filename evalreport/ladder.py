"""The interpretation ladder: bands of the mean score, in nats (no numerical imports here,
so `evalreport bands` starts quickly)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .errors import UsageError, quote

#: Figures are computed in nats; multiply by this to show them in a unit (bits = nats / ln 2).
UNITS = {"nats": 1.0, "bits": 1.0 / math.log(2.0)}


def _plain(name: str) -> str:
    """A band's name as an id would spell it: 'Not great' → 'not_great'."""
    return "_".join(name.replace("-", " ").lower().split())


@dataclass(frozen=True)
class Band:
    """One rung of the ladder: scores up to ``upper`` nats (``inclusive`` or not)."""

    id: str
    label: str
    upper: float
    inclusive: bool

    def contains_below(self, score: float) -> bool:
        return score < self.upper or (self.inclusive and score == self.upper)


@dataclass(frozen=True)
class Ladder:
    """The interpretation ladder: bands from best to worst, and where it came from."""

    bands: tuple[Band, ...]
    source: str = "default"

    def band_for(self, score_nats: float) -> Band | None:
        if score_nats is None or math.isnan(score_nats):
            return None
        for band in self.bands:
            if band.contains_below(score_nats):
                return band
        return self.bands[-1]

    def by_id(self, band_id: str) -> Band:
        """The band of that id — or of that label, as the report prints it ('Not great',
        'On the right track'), in any case."""
        for band in self.bands:
            if band.id == band_id:
                return band
        key = _plain(band_id)
        for band in self.bands:
            if key in (band.id, _plain(band.label)):
                return band
        raise UsageError(f"unknown band {quote(band_id)}; the bands are {', '.join(b.id for b in self.bands)}")

    def with_thresholds(self, thresholds: dict[str, float], source: str) -> Ladder:
        """Replace some bands' upper bounds (in nats); the last band has none."""
        ids = [b.id for b in self.bands]
        bands = list(self.bands)
        for key, value in thresholds.items():
            if key not in ids[:-1]:
                raise UsageError(
                    f"{source}: unknown band {quote(key)} (thresholds can be set for {', '.join(ids[:-1])})"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)):  # a string is no number
                raise UsageError(f"{source}: the threshold of '{key}' must be a number, got {quote(value)}")
            try:
                value = float(value)
            except OverflowError:
                raise UsageError(f"{source}: the threshold of '{key}' is beyond the largest float "
                                 f"({len(str(value)):,} digits)") from None
            if not (math.isfinite(value) and value > 0):
                raise UsageError(f"{source}: the threshold of '{key}' must be a positive number, got {value}")
            bands[ids.index(key)] = replace(bands[ids.index(key)], upper=value)
        uppers = [b.upper for b in bands[:-1]]
        if any(a >= b for a, b in zip(uppers, uppers[1:])):
            pairs = ", ".join(f"{b.id}={b.upper:g}" for b in bands[:-1])
            raise UsageError(f"{source}: band thresholds must increase from best to worst, got {pairs}")
        return Ladder(tuple(bands), source)

    def rows(self) -> list[dict]:
        """Each band with its lower and upper bound (nats), for display."""
        out, lower, lower_incl = [], 0.0, True
        for band in self.bands:
            out.append(
                {
                    "id": band.id,
                    "label": band.label,
                    "lower": lower,
                    "lower_inclusive": lower_incl,
                    "upper": band.upper,
                    "upper_inclusive": band.inclusive,
                }
            )
            lower, lower_incl = band.upper, not band.inclusive
        return out


#: The contract's ladder (nats, on the mean band score).
DEFAULT_LADDER = Ladder(
    (
        Band("perfect", "Perfect probabilities", 0.005, False),
        Band("great", "Great probabilities", 0.02, False),
        Band("on_track", "On the right track", 0.05, False),
        Band("fine", "Fine", 0.20, False),
        Band("could_improve", "Could improve", 0.30, True),
        Band("not_great", "Not great", 1.00, True),
        Band("terrible", "Terrible", 2.00, True),
        Band("broken", "Something is broken", math.inf, False),
    )
)
