"""The command line's entry point (``evalreport``; ``python -m evalreport`` takes the same
steps): what must happen before the command-line module, Typer and Rich load, then
:func:`evalreport.cli.main`."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


def main() -> None:
    with command():
        from .cli import main as cli_main

        cli_main()


@contextmanager
def command():
    """Around the command line: :func:`prepare` first; at the end, :func:`let_go`; Ctrl-C before the
    CLI handles it itself (while Typer loads) is the same quiet exit 130."""
    prepare(sys.argv[1:])
    try:
        yield
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        let_go()


def prepare(argv: list[str]) -> None:
    """One BLAS thread, set before numpy loads here or in the drawing process (a user's own setting
    wins; see the same line in cli.py, which covers a program that imports the CLI itself); memory
    reserved as it is used (below); and a report's drawing process, forked before the options are
    parsed."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    reserve_less()
    if draws_charts(argv):
        from .render.drawer import start_early

        start_early()


def reserve_less() -> None:
    """Address space reserved as it is used, so that the documented bounds run under an
    address-space limit (``ulimit -v``) of 2 GiB: Arrow allocates through the system's malloc
    (its default pool, jemalloc, reserves far more than it uses), and glibc keeps two arenas, not
    eight per core for the threads that read and hash (64 MiB reserved each). Measured on 3,000
    rows × 2,000 classes: 2.2 GB of address space at 711 MB resident before, 0.98 GB at 602 MB after.
    A user's own ARROW_DEFAULT_MEMORY_POOL or MALLOC_ARENA_MAX wins."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc (musl has no arenas to cap)
        pass


def let_go() -> None:
    """Kill and reap a drawing process forked early that the command did not take (help, an error
    on the options, an interrupt): nothing outlives the command."""
    drawer = sys.modules.get("evalreport.render.drawer")  # not imported: nothing was forked
    if drawer is not None and (early := drawer.take_early()) is not None:
        early.close()


def draws_charts(argv: list[str]) -> bool:
    """Whether the command line is ``report`` (which always draws its charts) on the local engine:
    any ``--engine`` given forks nothing early (dask draws in its own way)."""
    return argv[:1] == ["report"] and not any(a == "--engine" or a.startswith("--engine=") for a in argv)
