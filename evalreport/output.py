"""Writing outputs, all or nothing, and never over an input.

:func:`plan_outputs` runs before any work: it resolves every output path (through
symbolic links), refuses one that is an input or that two outputs share, one in a
folder that does not exist, or one that names a folder — so a mistyped command
costs nothing. :func:`write_all` then writes every regular file to a temporary
file beside its target, writes the streams (standard output, a FIFO, a device),
and only when all of that succeeded renames the temporary files over their
targets: a failure leaves every file that existed before untouched.

Streams are written through, never replaced: ``-o /dev/stdout`` writes to the
process's standard output, and a FIFO stays a FIFO. A symbolic link to a regular
file is written through as well: the file it points to is replaced, the link stays.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from dataclasses import dataclass

from .errors import OutputError, UsageError, display_path

#: Folders whose entries are devices or process views: written through, never replaced.
_SPECIAL = ("/dev/", "/proc/")
#: The longest name a folder entry may have (bytes), on the file systems we know.
NAME_MAX = 255


@dataclass(frozen=True)
class Target:
    """Where one output goes."""

    option: str  # the option that named it, e.g. "--json"
    given: str  # the path as the user wrote it
    kind: str  # "stdout", "stream" (written through), "append" (appended to) or "file" (replaced by rename)
    path: str | None  # "file": the real file (links followed); "stream": the path to open


def _reason(err: OSError) -> str:
    return os.strerror(err.errno) if err.errno else str(err)


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of what ``path`` points to, or None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


#: What each output option writes, and the file endings that say another format.
_WRITES = {"-o": "an HTML page", "--json": "JSON", "--markdown": "Markdown", "--junit": "JUnit XML"}
_ENDINGS = {".html": ("HTML", "-o"), ".htm": ("HTML", "-o"), ".json": ("JSON", "--json"),
            ".md": ("Markdown", "--markdown"), ".markdown": ("Markdown", "--markdown"), ".xml": ("XML", "--junit"),
            ".pdf": ("PDF", None), ".png": ("PNG", None), ".csv": ("CSV", None), ".parquet": ("Parquet", None)}


def _format_of_name(option: str, given: str) -> None:
    """Refuse a file whose ending names another format (``-o report.json``: a page of HTML where a
    script then expects JSON), saying which option writes that format."""
    ending = os.path.splitext(given)[1].lower()
    if option not in _WRITES or ending not in _ENDINGS or _ENDINGS[ending][1] == option:
        return
    fmt, owner = _ENDINGS[ending]
    if owner == "--junit":
        other = "; JUnit XML is what check --junit writes"
    elif owner:
        other = f"; for {fmt}, pass {owner} {display_path(given)}"
    else:
        other = ""
    raise UsageError(f"{option} {display_path(given)}: {option} writes {_WRITES[option]}, but the name ends in "
                     f"{ending}{other}")


def _target(option: str, given: str) -> Target:
    name = display_path(given)
    if given == "-":
        return Target(option, given, "stdout", None)
    if not given:
        raise UsageError(f"{option}: the path is empty")
    if given.endswith(("/", os.sep)):
        raise OutputError(f"{name}: names a folder (it ends with '/'); give a file name")
    if any(len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in given.split(os.sep)):
        raise OutputError(f"{name}: cannot write ({os.strerror(errno.ENAMETOOLONG)})")
    try:  # stat the path as given: it follows links, /dev/stdout's to a pipe included
        st = os.stat(given)
    except FileNotFoundError:  # a new file, or a link to one
        st = None
    except OSError as err:
        raise OutputError(f"{name}: cannot write ({_reason(err)})") from None
    real = os.path.realpath(given, strict=False)
    special = os.path.abspath(given).startswith(_SPECIAL)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{name}: is a directory; give a file name")
    if special or (st is not None and not stat.S_ISREG(st.st_mode)):
        if st is None:
            raise OutputError(f"{name}: no such device")
        return Target(option, given, "stream", given)
    parent = os.path.dirname(real) or "."
    if not os.path.isdir(parent):
        shown = parent if os.path.islink(given) else (os.path.dirname(given) or ".")  # a link: where it points
        raise OutputError(f"{name}: the folder {display_path(shown)} does not exist")
    if len(os.path.basename(real).encode("utf-8", "surrogateescape")) > NAME_MAX:
        raise OutputError(f"{name}: cannot write ({os.strerror(errno.ENAMETOOLONG)})")
    return Target(option, given, "file", real)


def _stdout_identity() -> tuple[int, int] | None:
    """(device, inode) of what standard output is (a file, a pipe, a terminal)."""
    try:
        st = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file behind it (a test runner's capture)
        return None
    return st.st_dev, st.st_ino


def plan_outputs(outputs: list[tuple[str, str | None]], inputs: list[str | None] = (),
                 append: list[tuple[str, str | None]] = ()) -> list[Target]:
    """Check ``(option, path)`` outputs before any work; return where each goes.

    Refused (exit 2, naming both): an output that is one of ``inputs`` (compared
    as files: the same inode, or the same path once links are resolved), two
    outputs on one file, two outputs on standard output. ``append`` names files
    that are appended to (``GITHUB_STEP_SUMMARY``): they must not be inputs either.
    """
    targets = [_target(option, path) for option, path in outputs if path is not None]
    ins = [(path, _identity(path), os.path.realpath(path)) for path in inputs if path not in (None, "-")]

    def refuse_input(t: Target, ident, real: str | None) -> None:
        for path, in_ident, in_real in ins:
            if (ident is not None and ident == in_ident) or (real is not None and real == in_real):
                where = "standard output" if t.kind == "stdout" else display_path(t.given)
                raise UsageError(f"{t.option} {where}: is the input {display_path(path)}; "
                                 "writing it would destroy the input — choose another output")

    seen: dict = {}
    for t in targets:
        if t.kind == "stdout":
            if sys.stdout is None:  # the program was started with no file descriptor 1 (>&-)
                raise UsageError(f"{t.option} -: standard output is closed; name a file")
            ident = _stdout_identity()
            refuse_input(t, ident, None)
            key = ident or "stdout"  # so that '-' and '/dev/stdout' are seen to be one
        else:
            real = os.path.realpath(t.given) if t.kind == "stream" else t.path
            ident = _identity(t.given)
            refuse_input(t, ident, real)
            if real == os.devnull:
                continue  # any number of outputs may be thrown away
            key = ident or real
        if key in seen:
            where = "standard output" if "stdout" in (t.kind, seen[key].kind) else f"the file {display_path(t.given)}"
            raise UsageError(f"{seen[key].option} and {t.option} both write to {where}; each output needs its own file")
        seen[key] = t
    for option, path in append:
        if path:
            real = os.path.realpath(path)
            appended = Target(option, path, "append", real)
            refuse_input(appended, _identity(real), real)
            targets = _merge_append(targets, appended, seen)
    for t in targets:  # after the collisions: an output over the input is told so first
        if t.kind not in ("stdout", "append"):
            _format_of_name(t.option, t.given)
    return targets


#: The output that may name an appended file (GITHUB_STEP_SUMMARY): it holds the same Markdown.
_APPENDS_AS = "--markdown"


def _merge_append(targets: list[Target], appended: Target, seen: dict) -> list[Target]:
    """``targets`` with ``appended`` (a file appended to: ``GITHUB_STEP_SUMMARY``) added last.

    The same file named by ``--markdown`` (the common ``--markdown "$GITHUB_STEP_SUMMARY"``) is
    appended to once, not replaced: replacing it would destroy what earlier steps wrote, and the
    verdict would stand in it twice. The same file named by any other output is refused: it
    would be replaced, then appended to."""
    ident = _identity(appended.path)
    key = ident or appended.path
    other = seen.get(key)
    if other is None:
        other = next((t for t in targets if t.kind != "stdout" and
                      (t.path == appended.path or (t.kind == "stream" and os.path.realpath(t.given) == appended.path))),
                     None)
    if other is None:
        return [*targets, appended]
    if other.option == _APPENDS_AS:
        return [t for t in targets if t is not other] + [appended]
    raise UsageError(f"{other.option} {display_path(other.given)}: is the step summary ({appended.option}), which is "
                     f"appended to; {other.option} would replace what earlier steps wrote — choose another output")


def write_all(outputs: list[tuple[Target, str]]) -> None:
    """Write each planned target's text, all or nothing for regular files (see the module's notes)."""
    staged: list[tuple[str, Target]] = []
    try:
        for target, text in outputs:
            if target.kind == "file":
                staged.append((_stage(target, text), target))
        for target, text in outputs:
            if target.kind != "file":  # standard output, a stream, a file appended to
                _write_stream(target, text)
        for tmp, target in staged:
            try:
                os.replace(tmp, target.path)
            except OSError as err:
                raise OutputError(f"{display_path(target.given)}: cannot write ({_reason(err)})") from None
    finally:
        for tmp, _ in staged:
            if os.path.lexists(tmp):
                os.unlink(tmp)


def _stage(target: Target, text: str) -> str:
    """The text in a temporary file beside the target, with the target's permissions."""
    folder, name = os.path.split(target.path)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name[:200]}.", suffix=".tmp")
    except OSError as err:
        raise OutputError(f"{display_path(target.given)}: cannot write ({_reason(err)})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n", errors="surrogateescape") as f:
            f.write(text)
        try:
            mode = stat.S_IMODE(os.stat(target.path).st_mode)
        except OSError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
    except OSError as err:
        os.unlink(tmp)
        raise OutputError(f"{display_path(target.given)}: cannot write ({_reason(err)})") from None
    return tmp


def _write_stream(target: Target, text: str) -> None:
    data = text.encode("utf-8", "surrogateescape")
    if target.kind == "stdout":
        where = f"standard output ({target.option} -)"
        try:
            out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
            if out is None:
                sys.stdout.write(text)
                sys.stdout.flush()
            else:
                sys.stdout.flush()
                write_fully(out, data, where)
        except OSError as err:
            _silence_stdout()
            raise OutputError(f"{where}: cannot write ({_reason(err)})") from None
        except OutputError:
            _silence_stdout()
            raise
        return
    where = display_path(target.given) + (f" ({target.option})" if target.kind == "append" else "")
    try:  # appending: a device or FIFO ignores it, and a link to a file is never truncated
        with open(target.given, "ab") as f:
            write_fully(f, data, where)
    except OSError as err:
        raise OutputError(f"{where}: cannot write ({_reason(err)})") from None


def write_fully(f, data: bytes, where: str) -> None:
    """Write all of ``data`` to the binary stream ``f`` and flush it, or raise: a write may take
    only part of what it is given (a file-size limit, a nearly full disk: the 8 KB of a 28 KB
    JSON that fit) and say so only in the count it returns. Each short write is retried with the
    rest, which then fails with the reason (EFBIG, ENOSPC); a write that takes nothing is an
    :class:`OutputError` naming ``where``."""
    view = memoryview(data)
    while len(view):
        n = f.write(view)
        if n is None:  # a non-blocking stream that would block: nothing was taken
            n = 0
        if n <= 0:
            raise OutputError(f"{where}: cannot write (it took {len(data) - len(view):,} of {len(data):,} bytes)")
        view = view[n:]
    f.flush()


def _silence_stdout() -> None:
    """After a failed write to standard output, point it at /dev/null so that the
    interpreter's own flush at exit does not fail again (and change the exit code)."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
