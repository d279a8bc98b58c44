"""Short labels for names that do not fit on a chart's axis, and the key that gives them back.

Cutting every name at its end turns 40 classes named "Category number 001 …"
into 40 identical "Category number…". Names are cut where they do not differ:
the part every name shares at its start and at its end goes first (at word
boundaries, with "…" in its place), then as much of it is put back around the
distinguishing part as the room allows; a part that is still too long loses its
middle, so both ends stay. Labels that would still collide are numbered. Every
label that is not its name is listed in the key shown under the chart.
"""

from __future__ import annotations

import os

ELLIPSIS = "…"
_SEPARATORS = " _-/.:|,;()[]"


def short_labels(names: list[str], limit: int) -> tuple[list[str], tuple[tuple[str, str], ...]]:
    """A label of at most ``limit`` characters for each name, distinct when the names are, and
    the key: (label, name) for each label that is not its name, in the names' order."""
    if all(len(n) <= limit for n in names):
        return list(names), ()
    prefix, suffix = _shared(names)
    labels = [n if len(n) <= limit else _window(n, prefix, suffix, limit) for n in names]
    labels = _distinct(labels, names, limit)
    return labels, tuple((label, name) for label, name in zip(labels, names) if label != name)


def _shared(names: list[str]) -> tuple[int, int]:
    """Lengths of the start and the end every name shares, cut back to word boundaries and never
    the whole of a name (two or more names, and distinct ones, are needed to tell)."""
    if len(set(names)) < 2:
        return 0, 0
    p = len(os.path.commonprefix(names))
    while p > 0 and names[0][p - 1] not in _SEPARATORS:
        p -= 1
    rest = [n[p:] for n in names]
    s = len(os.path.commonprefix([r[::-1] for r in rest]))
    while s > 0 and rest[0][len(rest[0]) - s] not in _SEPARATORS:
        s -= 1
    if any(len(r) - s <= 0 for r in rest):  # a name that is all shared: keep its end
        s = 0
    return p, s


def _window(name: str, prefix: int, suffix: int, limit: int) -> str:
    """The distinguishing middle of ``name``, with as much of the shared start and end around it as
    fits (whole words), "…" where something is left out."""
    core = name[prefix: len(name) - suffix]
    room = limit - len(core) - (prefix > 0) - (suffix > 0)
    if room < 0:
        return _cut_middle(core if (prefix or suffix) else name, limit, lead=prefix > 0, trail=suffix > 0)
    left = name[:prefix]
    right = name[len(name) - suffix:]
    take_left = _tail_words(left, room // 2 + room % 2)
    take_right = _head_words(right, room - len(take_left))
    take_left = _tail_words(left, room - len(take_right))  # what the right side left over
    lead = ELLIPSIS if len(take_left) < len(left) else ""
    trail = ELLIPSIS if len(take_right) < len(right) else ""
    return lead + take_left + core + take_right + trail


def _tail_words(text: str, room: int) -> str:
    """The longest end of ``text`` of at most ``room`` characters that starts at a word."""
    if room >= len(text):
        return text
    for i in range(len(text) - room, len(text)):
        if i > 0 and text[i - 1] in _SEPARATORS:
            return text[i:]
    return ""


def _head_words(text: str, room: int) -> str:
    """The longest start of ``text`` of at most ``room`` characters that ends at a word."""
    if room >= len(text):
        return text
    for i in range(room, 0, -1):
        if i < len(text) and text[i] in _SEPARATORS:
            return text[:i]
    return ""


def _cut_middle(text: str, limit: int, lead: bool = False, trail: bool = False) -> str:
    """``text`` within ``limit`` characters (with the leading and trailing "…" asked for): its
    start and its end, and "…" for its middle."""
    room = limit - lead - trail - 1
    head = room - room // 2
    tail = room - head
    cut = text[:head] + ELLIPSIS + (text[len(text) - tail:] if tail else "")
    return (ELLIPSIS if lead else "") + cut + (ELLIPSIS if trail else "")


def _distinct(labels: list[str], names: list[str], limit: int) -> list[str]:
    """Labels that still collide (their names differ only where they were cut) get a number."""
    seen: dict[str, set[str]] = {}
    for label, name in zip(labels, names):
        seen.setdefault(label, set()).add(name)
    out = []
    number = 0
    for label, name in zip(labels, names):
        if len(seen[label]) > 1:
            number += 1
            tag = f"#{number} "
            label = tag + _cut_middle(name, limit - len(tag)) if len(tag + name) > limit else tag + name
        out.append(label)
    return out
