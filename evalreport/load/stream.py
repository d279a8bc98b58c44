"""What every file reader shares: the reader interface, hashing while reading, prefetching."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from ..errors import InputError
from .spec import Layout, SourceInfo

# --------------------------------------------------------------------------- sources


class _Reader:
    """A table source that yields chunks of the columns asked for: pandas DataFrames, or Arrow
    tables / record batches (which the validator reads in place when they are plainly valid)."""

    info: SourceInfo
    columns: list[str]

    def frames(self, layout: Layout, chunk_rows: int) -> Iterator:
        raise NotImplementedError

    def close(self) -> None:
        """Let go of the file (after an error, before the frames were read); frames() closes it too."""


def _sha256_file(path: Path, stop: threading.Event | None = None) -> str | None:
    """The file's sha256 (hex); None if ``stop`` was set before the end."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            if stop is not None and stop.is_set():
                return None
            h.update(block)
    return h.hexdigest()


@contextmanager
def _hashed_meanwhile(path: Path | None):
    """Hash a file on a thread of its own while the caller reads it — for Parquet, whose
    reader reads only the columns it needs, so the hash needs a read of its own. Yields a
    function that waits for the sha256 (None without a file); a caller that leaves early
    (an input error) stops the hashing instead of waiting for it."""
    if path is None:
        yield lambda: None
        return
    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="evalreport-hash") as pool:
        future = pool.submit(_sha256_file, path, stop)
        try:
            yield future.result
        finally:
            stop.set()  # once the digest was taken, this changes nothing


class _Hashing:
    """A binary stream that hashes what is read through it, in order, on a thread of its own
    (hashlib releases the GIL), so the file is read once and the hash costs the reader nothing.
    ``owned``: close the stream with this one (not so for standard input)."""

    def __init__(self, stream, owned: bool = True) -> None:
        self._stream = stream
        self._owned = owned
        self._sha = hashlib.sha256()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="evalreport-hash")  # one thread: in order
        self._closed = False

    def _hashed(self, data: bytes) -> bytes:
        if data:
            self._pool.submit(self._sha.update, data)
        return data

    def read(self, n: int = -1) -> bytes:
        return self._hashed(self._stream.read(n))

    def readline(self) -> bytes:
        return self._hashed(self._stream.readline())

    def drain(self) -> None:
        """Read (and hash) what is left: a compressed stream's reader may stop before the end."""
        while self.read(1 << 20):
            pass

    def hexdigest(self) -> str:
        self._pool.shutdown(wait=True)
        return self._sha.hexdigest()

    def close(self) -> None:
        """Stop: hashing not yet done is dropped (an input error does not wait for it)."""
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._owned:
            self._stream.close()


def _prefetch(items: Iterator, depth: int = 1) -> Iterator:
    """Iterate ``items`` on a background thread, up to ``depth`` items ahead; errors are re-raised here."""
    import queue
    import threading

    done = object()
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as err:  # handed to the consumer
            put((done, err))

    thread = threading.Thread(target=produce, name="evalreport-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, err = box.get()
            if err is not None:
                raise err
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _arrow_batches(reader, batches, layout: Layout, what: str) -> Iterator:
    """The decoding loop of a binary source (Parquet, Arrow IPC): ``batches()`` yields Arrow
    record batches of the columns read; a file's pandas metadata is dropped (a column pandas wrote
    from its index stays a column); a file with no rows yields one empty frame; a broken file is one
    InputError naming ``what`` it is not; the sha256 is taken meanwhile unless known. Closes
    ``reader`` at the end."""
    import pyarrow as pa

    try:
        with _hashed_meanwhile(reader._fs_path if reader.info.sha256 is None else None) as digest:
            got_any = False
            try:
                for batch in batches():
                    got_any = True
                    yield batch.replace_schema_metadata(None)
            except (OSError, pa.ArrowException) as err:  # a broken page, a codec it cannot read
                raise InputError(reader.info.name, f"is not a readable {what} ({_first_line(err)})") from None
            if not got_any:
                import pandas as pd

                yield pd.DataFrame(columns=layout.usecols)
            if (sha := digest()) is not None:
                reader.info = SourceInfo(reader.info.name, reader.info.path, sha, reader.info.format)
    finally:
        reader.close()


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(4)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
