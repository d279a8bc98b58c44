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
from typing import NamedTuple

from .errors import UsageError, display_path, printable, quote
from .ladder import DEFAULT_LADDER, Ladder


#: The keys a settings table may hold (a misspelt one is an error, not silently ignored).
SETTINGS_KEYS = ("bands", "gates")


class Settings(NamedTuple):
    """A settings table, a name for where it is (``"pyproject.toml [tool.evalreport.{}]"``, a key to
    be filled in), and the file it came from (paths in it are relative to its folder)."""

    table: dict
    where: str | None
    path: Path | None


def read_settings(explicit: Path | None = None, cwd: Path | None = None) -> Settings:
    """The evalreport settings (``Settings({}, None, None)`` when there are none).

    Every shape is checked: a table that is not a table, an unknown key, a file
    that cannot be read, a folder or a FIFO named as one, a current folder that
    cannot be searched — each is one UsageError naming the file.
    """
    cwd = cwd or Path.cwd()
    if explicit is not None:
        candidates = [Path(explicit)]
        _check_config_file(candidates[0])
    else:
        candidates = []
        for p in (cwd / "evalreport.toml", cwd / "pyproject.toml"):
            try:
                if p.is_file():
                    candidates.append(p)
            except OSError as err:
                raise UsageError(f"cannot look for {p.name} in the current folder ({err.strerror}); run from a folder "
                                 "that can be searched, or name the settings with --config FILE") from None
    for path in candidates:
        name = display_path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise UsageError(f"{name}: not valid TOML ({printable(str(err))[:200]})") from None
        except RecursionError:  # tomllib recurses on nested arrays and tables
            raise UsageError(f"{name}: not valid TOML (arrays or tables nested too deep)") from None
        except OSError as err:
            raise UsageError(f"{name}: cannot read the config file ({err.strerror})") from None
        if path.name == "pyproject.toml" or "tool" in data:
            tool = data.get("tool", {})
            if not isinstance(tool, dict):
                raise UsageError(f"{name}: 'tool' must be a table ([tool.evalreport]), got {_kind(tool)}")
            table = tool.get("evalreport")
            if table is None:
                if explicit is not None:
                    raise UsageError(f"{name}: has no [tool.evalreport] table")
                continue
            where = f"{path.name} [tool.evalreport.{{}}]"
            if not isinstance(table, dict):
                raise UsageError(f"{name}: [tool.evalreport] must be a table, got {_kind(table)}")
        else:
            table, where = data, f"{path.name} [{{}}]"
        unknown = sorted(set(table) - set(SETTINGS_KEYS))
        if unknown:
            raise UsageError(f"{name}: unknown setting(s) {', '.join(map(repr, unknown))}; known: "
                             f"{', '.join(SETTINGS_KEYS)}")
        return Settings(table, where, path)
    return Settings({}, None, None)


def _check_config_file(path: Path) -> None:
    """--config names a settings file: a folder, a FIFO or a device is said to be what it is."""
    import stat

    name = display_path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise UsageError(f"{name}: no such config file") from None
    except OSError as err:
        raise UsageError(f"{name}: cannot read the config file ({err.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"{name}: is a directory, not a config file (evalreport.toml or a pyproject.toml)")
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{name}: is not a regular file (a FIFO or a device); a config file is read from disk")


def _kind(value) -> str:
    """A TOML value's kind in words, for messages."""
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)


def parse_bands(text: str) -> dict[str, float]:
    """``"great=0.01,fine=0.1"`` → ``{"great": 0.01, "fine": 0.1}``."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise UsageError(f"--bands: expected BAND=THRESHOLD, got {quote(part)}")
        if key.strip() in out:
            raise UsageError(f"--bands: the band {quote(key.strip())} is named twice")
        try:
            out[key.strip()] = float(value)
        except ValueError:
            raise UsageError(f"--bands: {quote(value.strip())} is not a number (in {quote(part)})") from None
    return out


def resolve_ladder(bands_option: str | None = None, config: Path | None = None, cwd: Path | None = None) -> Ladder:
    """The ladder in force: the default, then a config file's thresholds, then ``--bands``."""
    settings, where, _ = read_settings(config, cwd)
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
