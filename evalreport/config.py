"""Settings from files: ``evalreport.toml`` or ``[tool.evalreport]`` in ``pyproject.toml``.

Looked up in the current directory (``--config FILE`` names one instead). Today
the files may set the band thresholds::

    [tool.evalreport.bands]     # in evalreport.toml: [bands]
    great = 0.01
    fine = 0.10
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from .errors import UsageError
from .ladder import DEFAULT_LADDER, Ladder


def read_settings(explicit: Path | None = None, cwd: Path | None = None) -> tuple[dict, str | None]:
    """The evalreport settings table and a name for where it is, to which a key is
    appended: ``"pyproject.toml [tool.evalreport.{}]"`` (``({}, None)`` when none)."""
    cwd = cwd or Path.cwd()
    if explicit is not None:
        candidates = [Path(explicit)]
        if not candidates[0].is_file():
            raise UsageError(f"{explicit}: no such config file")
    else:
        candidates = [p for p in (cwd / "evalreport.toml", cwd / "pyproject.toml") if p.is_file()]
    for path in candidates:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise UsageError(f"{path}: not valid TOML ({err})") from None
        if path.name == "pyproject.toml" or "tool" in data:
            table = data.get("tool", {}).get("evalreport")
            if table is None:
                if explicit is not None:
                    raise UsageError(f"{path}: has no [tool.evalreport] table")
                continue
            return table, f"{path.name} [tool.evalreport.{{}}]"
        return data, f"{path.name} [{{}}]"
    return {}, None


def parse_bands(text: str) -> dict[str, float]:
    """``"great=0.01,fine=0.1"`` → ``{"great": 0.01, "fine": 0.1}``."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise UsageError(f"--bands: expected BAND=THRESHOLD, got '{part}'")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--bands: '{value.strip()}' is not a number (in '{part}')") from None
    return out


def resolve_ladder(bands_option: str | None = None, config: Path | None = None, cwd: Path | None = None) -> Ladder:
    """The ladder in force: the default, then a config file's thresholds, then ``--bands``."""
    settings, where = read_settings(config, cwd)
    ladder = DEFAULT_LADDER
    bands = settings.get("bands")
    if bands is not None:
        where = where.format("bands")
        if not isinstance(bands, dict):
            raise UsageError(f"{where}: must be a table of band = threshold")
        ladder = ladder.with_thresholds(bands, where)
    if bands_option:
        ladder = ladder.with_thresholds(parse_bands(bands_option), "--bands")
        if bands is not None:
            ladder = Ladder(ladder.bands, f"--bands over {where}")
    return ladder
