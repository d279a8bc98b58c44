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
    wins; see the same line in cli.py, which covers a program that imports the CLI itself); and a
    report's drawing process, forked before the options are parsed."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if draws_charts(argv):
        from .render.drawer import start_early

        start_early()


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
