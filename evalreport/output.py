"""Writing outputs: every file is written to a temporary name, then renamed,
so an error never leaves a half-written report behind."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .errors import OutputError


def write_all(outputs: list[tuple[str, str]]) -> None:
    """Write ``(path, text)`` pairs; ``"-"`` is standard output. All or nothing on disk."""
    staged: list[tuple[str, Path]] = []
    to_stdout = [text for path, text in outputs if path == "-"]
    try:
        for path, text in outputs:
            if path == "-":
                continue
            target = Path(path)
            if target.is_dir():
                raise OutputError(f"{path}: is a directory")
            parent = target.parent if str(target.parent) else Path(".")
            if not parent.is_dir():
                raise OutputError(f"{path}: the folder {parent} does not exist")
            fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp")
            staged.append((tmp, target))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            os.chmod(tmp, 0o666 & ~_umask())
        for tmp, target in staged:
            os.replace(tmp, target)
    except OSError as err:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise OutputError(f"{err.filename or 'output'}: cannot write ({err.strerror})") from None
    except BaseException:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    for text in to_stdout:
        sys.stdout.write(text)
        sys.stdout.flush()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
