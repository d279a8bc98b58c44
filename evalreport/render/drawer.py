"""A process that draws the report's charts, started before the figures are computed.

Every report pays two fixed costs: importing numpy, SciPy and pyarrow and reading
the file, then importing matplotlib and drawing. Added up they are most of a small
run. The command line forks this process first thing (:func:`start_early`, before
it parses its options), while it has no threads yet: the child imports matplotlib
while the parent imports the rest and reads, then waits for the result (pickled
through a pipe), draws the charts — half of them in a forked copy of itself, see
:func:`charts.all_charts` — and sends them back. Given a first result
(:meth:`Drawer.begin`: the figures before the row sample's fits), it draws the
charts that need no more while the parent fits.
The parent never imports matplotlib unless the child fails or takes longer than
``TIMEOUT``; then it draws them itself, and the report is the same either way
(the same code draws the same bytes in any process).
"""

from __future__ import annotations

import os
import pickle

from .pipes import _ready, drawing_processes, read_within

#: Seconds to wait for the drawing process: to take a result, and for the charts once the full
#: result is sent.
TIMEOUT = 120.0


def write_within(fd: int, data: bytes, pid: int, timeout: float) -> bool:
    """Write all of ``data`` to the pipe ``fd`` within ``timeout`` seconds; past that the child is
    killed. False when it was not all written: timed out, or the child left. (A result larger than
    the pipe's buffer waits for the child to read it: a child alive but stuck must not hold the
    parent for ever.)"""
    import select
    import signal
    import time

    deadline, view = time.monotonic() + timeout, memoryview(data)
    try:
        os.set_blocking(fd, False)
        while view:
            if not _ready(fd, select.POLLOUT, deadline):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
                return False
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                continue
    except OSError:  # the child left (a broken pipe)
        return False
    return True


#: The drawing process forked by :func:`start_early`, until the command takes it (or lets it go).
_early: Drawer | None = None


def start_early() -> None:
    """Fork the drawing process before the command line is parsed (the entry point does, for a
    report: see entry.draws_charts): the child then imports matplotlib while this process imports
    Typer and Rich and reads the options, 0.15 s sooner than from inside the command."""
    global _early
    _early = Drawer.start()


def take_early() -> Drawer | None:
    """The process :func:`start_early` forked, handed over once (None if there is none)."""
    global _early
    drawer, _early = _early, None
    return drawer


class Drawer:
    """The parent's handle: :meth:`charts` hands over a result and takes the charts back;
    :meth:`close` (or leaving the ``with`` block) lets an unused child go and reaps it."""

    def __init__(self, pid: int, request: int, reply: int) -> None:
        self._pid, self._request, self._reply = pid, request, reply
        self._begun = False  # a first result went through the request pipe

    @classmethod
    def start(cls) -> Drawer | None:
        """Fork the drawing process now, or None where forking does not pay or fails."""
        if drawing_processes() < 2:
            return None
        fds = []
        try:
            fds = [*os.pipe(), *os.pipe()]
            pid = os.fork()
        except OSError:
            for fd in fds:
                os.close(fd)
            return None
        request_r, request_w, reply_r, reply_w = fds
        if pid == 0:
            os.close(request_w)
            os.close(reply_r)
            _serve(request_r, reply_w)  # never returns
        os.close(request_r)
        os.close(reply_w)
        return cls(pid, request_w, reply_r)

    def begin(self, first) -> None:
        """Hand over a first result (``build_result(sample_fits=False)``): the child draws the charts it
        can from it while this process fits the rest (see charts.all_charts' ``then``)."""
        if self._request < 0 or self._begun:
            return
        self._begun = True
        if not self._send(("first", first)):
            self.close()

    def charts(self, r) -> dict | None:
        """The report's charts for ``r`` (see charts.all_charts), or None if the child failed or
        took longer than TIMEOUT to take the result."""
        if self._request < 0:
            return None
        sent = self._send(("full", r))
        fd, self._request = self._request, -1
        os.close(fd)  # the end of the requests: the child reads no more
        if not sent:
            self.close()
            return None
        return self._collect()

    def _send(self, message: tuple) -> bool:
        return write_within(self._request, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL), self._pid,
                            TIMEOUT)

    def _collect(self) -> dict | None:
        fd, self._reply = self._reply, -1
        data = read_within(fd, self._pid, TIMEOUT)
        status = self._reap()
        try:
            return pickle.loads(data) if status == 0 and data else None
        except (EOFError, pickle.UnpicklingError):
            return None

    def _reap(self) -> int | None:
        if self._pid <= 0:
            return None
        pid, self._pid = self._pid, -1
        try:
            return os.waitpid(pid, 0)[1]
        except ChildProcessError:
            return None

    def close(self) -> None:
        """Let the child go (it exits on the closed pipe) and reap it. A child that was never
        handed a result is killed first: it may still be importing matplotlib, and a command that
        failed on its options or input must not wait for that."""
        if not self._begun and self._request >= 0 and self._pid > 0:
            import signal

            try:
                os.kill(self._pid, signal.SIGKILL)
            except OSError:
                pass
        for name in ("_request", "_reply"):
            fd = getattr(self, name)
            if fd >= 0:
                setattr(self, name, -1)
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._reap()

    def __enter__(self) -> Drawer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _serve(request: int, reply: int) -> None:
    """The child: import matplotlib, wait for a result, draw, reply; always leave with os._exit,
    never running the parent's cleanup or printing on its streams."""
    code = 1
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # hold none of the parent's streams open: a pipe reader sees its end on time
            os.dup2(devnull, fd)
        from . import charts  # matplotlib: the import this process exists to take off the parent's path

        with os.fdopen(request, "rb") as src:
            kind, r = _next(src)
            if r is not None:
                # a first result without the row-sample fits (the full one follows), or the full one alone
                drawn = charts.all_charts(r, processes=2, then=(lambda: _next(src)[1]) if kind == "first" else None)
                if drawn is None:
                    return  # the parent left before the full result: exit 1
                with os.fdopen(reply, "wb") as out:
                    pickle.dump(drawn, out, protocol=pickle.HIGHEST_PROTOCOL)
        code = 0
    except BaseException:  # noqa: BLE001 — the parent draws what this process did not deliver
        pass
    finally:
        os._exit(code)


def _next(src) -> tuple:
    """The next (kind, result) from the parent — kind "first" or "full" — or (None, None) at the
    end of the pipe (the parent left without one)."""
    try:
        return pickle.load(src)
    except EOFError:
        return None, None
