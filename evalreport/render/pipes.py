"""Child processes that draw charts: how many may draw, and reading what one sends back through
a pipe within a time limit (for the drawing process, :mod:`.drawer`, and the forked copy that
draws half the charts, :func:`.charts.all_charts`)."""

from __future__ import annotations

import os
import sys


def drawing_processes() -> int:
    """2 where a forked copy of the process can draw half the charts (Linux, more than one
    core), else 1. The command line uses it; library calls draw in their own process unless
    asked, as forking a program's other threads' state is the program's call."""
    return 2 if (os.cpu_count() or 1) > 1 and sys.platform.startswith("linux") and hasattr(os, "fork") else 1


def _ready(fd: int, event: int, deadline: float) -> bool:
    """Whether the pipe ``fd`` is ready for ``event`` (``select.POLLIN``, ``POLLOUT``) — or closed
    at the other end — before the ``time.monotonic()`` deadline. poll(), not select(): select()
    takes no descriptor above 1024, which a program with many files open hands out."""
    import math
    import select
    import time

    poller = select.poll()
    poller.register(fd, event)
    return bool(poller.poll(max(0, math.ceil((deadline - time.monotonic()) * 1000))))


def read_within(fd: int, pid: int, timeout: float) -> bytes:
    """All a child writes to the pipe ``fd`` until it closes it, within ``timeout`` seconds; past
    that the child is killed and nothing is returned. Closes ``fd``; the caller reaps the child."""
    import select
    import signal
    import time

    chunks, deadline = [], time.monotonic() + timeout
    try:
        with os.fdopen(fd, "rb", buffering=0) as src:
            while _ready(fd, select.POLLIN, deadline):
                chunk = src.read(1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
            else:  # timed out
                os.kill(pid, signal.SIGKILL)
                return b""
    except OSError:
        return b""
    return b"".join(chunks)
