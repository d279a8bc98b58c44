"""The chart value the templates receive: light to import (no matplotlib), so a process that
only renders charts drawn elsewhere can unpickle them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    """An embedded chart: a data URI, its title, its alt text, and the key to the names it shortened
    ((label, name) pairs, shown under it)."""

    uri: str
    title: str
    alt: str
    key: tuple[tuple[str, str], ...] = ()
