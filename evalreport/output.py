"""Writing outputs: every file is written to a temporary name, then renamed,
so an error never leaves a half-written report behind."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from .errors import OutputError


def write_all(outputs: list[tuple[str, str]]) -> None:
    """Write ``(path, text)`` pairs, all or nothing for regular files.

    Regular files are written to a temporary name beside the target and renamed
    only once every one of them is ready. ``"-"`` is standard output; an existing
    path that is not a regular file (``/dev/null``, a FIFO) is written to as a
    stream — renaming over it would replace the device.
    """
    files: list[tuple[str, Path]] = []
    streams: list[tuple[str, str]] = []
    for path, text in outputs:
        target = Path(path)
        if path == "-" or (target.exists() and not target.is_file() and not target.is_dir()):
            streams.append((path, text))
        elif target.is_dir():
            raise OutputError(f"{path}: is a directory")
        else:
            parent = target.parent
            if not parent.is_dir():
                raise OutputError(f"{path}: the folder {parent} does not exist")
            files.append((text, target))
    staged: list[tuple[str, Path]] = []
    try:
        for text, target in files:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
            staged.append((tmp, target))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            os.chmod(tmp, 0o666 & ~_umask())
        for tmp, target in staged:
            os.replace(tmp, target)
    except BaseException as err:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if isinstance(err, OSError):
            raise OutputError(f"{err.filename or 'output'}: cannot write ({err.strerror})") from None
        raise
    for path, text in streams:
        if path == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
            continue
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as err:
            raise OutputError(f"{path}: cannot write ({err.strerror})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
