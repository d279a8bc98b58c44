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
    """Around the command line: :func:`prepare` first; at the end, :func:`let_go`, then
    :func:`leave` with the command's exit status; Ctrl-C before the CLI handles it itself (while
    Typer loads) is the same quiet exit 130. Any other exception (a bug) propagates as Python's
    own traceback."""
    prepare(sys.argv[1:])
    status = None
    try:
        yield
    except KeyboardInterrupt:
        status = 130
    except SystemExit as done:
        status = done.code
    finally:
        let_go()
    leave(status)


def leave(status) -> None:
    """Exit with ``status`` (as ``sys.exit`` takes it) without tearing the interpreter down:
    freeing every module and object of numpy, pyarrow, SciPy and Typer took a fifth of a second at
    the end of every command (0.19 s of a 1.1 s import-and-exit, measured). What teardown does that
    matters is done first, as Python does it: the ``atexit`` functions (temporary folders'
    finalizers, logging, a tracker's own), then the standard streams flushed (a flush that fails
    is exit 120, Python's status for it). While a thread that is not a daemon still runs, Python
    would wait for it, and a profiler or tracer (``python -m cProfile``, a debugger) writes its
    output after the program: then the exit is Python's own."""
    import atexit
    import threading

    if isinstance(status, int) or status is None:
        code = status or 0
    else:  # sys.exit("message"): the message on stderr, status 1
        print(status, file=sys.stderr)
        code = 1
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)  # CPython's, as its own exit calls it
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if run_exit_functions is None or others or sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    run_exit_functions()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            code = code or 120
    os._exit(code)


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
