"""Scan bytes, files and streams for keys, in bounded memory.

A file is read with ``os.readv`` straight into the scanner's reusable buffer
(no per-file allocation or buffered-IO object: a source tree is mostly small
files, where that overhead is the cost) and searched in one call when it fits
in a chunk. A larger file or stream goes through the same buffer in chunks
that overlap by more than the longest possible key, so a key straddling a
chunk boundary is still found exactly once. Files are read in
:data:`FILE_CHUNK_SIZE` chunks, small enough to be searched while the CPU cache
still holds them; streams in :data:`CHUNK_SIZE` ones. For files, newlines (and
the columns of lines longer than a chunk) are counted only when a candidate
turns up past the first chunk (by re-reading the file up to there), not for
every chunk that passes. Memory is O(chunk) whatever the input size.

Binary content is skipped by sniffing, like git: a NUL byte in the first
:data:`SNIFF_BYTES` bytes.
"""

from __future__ import annotations

import codecs
import functools
import io
import os
import stat
from collections.abc import Callable, Iterator
from typing import BinaryIO

from phantomkeys.core import keys as keycodec
from phantomkeys.core.keys import KeyDecodeError
from phantomkeys.leaks.model import FileResult, KeyHit, SkipReason
from phantomkeys.leaks.patterns import (
    MAX_CANDIDATE_BYTES,
    Candidate,
    find_candidates,
    trigger_positions,
)

CHUNK_SIZE = 8 << 20
#: Files are read and searched at most this much (plus :data:`OVERLAP`) at a
#: time: the search then reads what ``readv`` just copied from the page cache
#: while the CPU's L2 cache still holds it. With 8 MiB chunks each byte went
#: through main memory three times (page cache, buffer, search) and the same
#: 1 GB tree took 1.7x the CPU time (benchmarks/leaks.py, 2 cores).
FILE_CHUNK_SIZE = 256 << 10
#: Bytes carried from one chunk to the next: longer than any candidate plus the
#: few bytes looked at after it ("..." truncation marks).
OVERLAP = MAX_CANDIDATE_BYTES + 64
#: Bytes before a candidate that :func:`_context` looks at.
_CONTEXT_BYTES = 48
#: Bytes carried before the scan window: the "preceded by base64?" check and the
#: context of a candidate right after a chunk boundary see what a whole buffer shows.
_LOOKBEHIND = _CONTEXT_BYTES
SNIFF_BYTES = 8000

_HEADER_MARKS = (b"bearer ", b"bearer\t")


@functools.lru_cache(maxsize=1024)
def _decode_text(text: str, partition: str) -> tuple[keycodec.DecodedKey, str] | None:
    """The decoded key and its redacted preview, or ``None``: a pure function of its
    arguments, cached because one key sits in many files and in every version of a
    file in git history (decoding a short-term key parses a whole presigned URL)."""
    try:
        key = keycodec.decode(text, partition=partition)
    except KeyDecodeError:
        return None
    return key, keycodec.redact(keycodec.normalize(text))


def clear_decode_cache() -> None:
    """Forget the decoded keys (:func:`phantomkeys.leaks.scan` does, when it ends)."""
    _decode_text.cache_clear()


def is_binary(data: bytes | bytearray) -> bool:
    """Git's heuristic: a NUL byte in the first 8000 bytes (no copy is made)."""
    return data.find(b"\x00", 0, SNIFF_BYTES) != -1


def _context(buf: bytes | bytearray, start: int) -> str:
    before = bytes(buf[max(0, start - _CONTEXT_BYTES) : start]).lower()
    line = before.rsplit(b"\n", 1)[-1]
    if line.rstrip(b"\"' \t").endswith(_HEADER_MARKS) or line.rstrip().endswith(b"bearer"):
        return "authorization-header"
    stripped = line.rstrip(b"\"'` \t")
    if stripped.endswith((b"=", b":", b"=>", b":=")):
        return "assignment"
    if line.endswith((b'"', b"'", b"`")):
        return "string"
    return "bare"


class Scanner:
    """Decodes candidates found in buffers; holds a reusable streaming buffer."""

    def __init__(self, *, partition: str = "aws", chunk_size: int = CHUNK_SIZE) -> None:
        if chunk_size < OVERLAP:
            raise ValueError(f"chunk_size must be at least {OVERLAP} bytes")
        self.partition = partition
        self.chunk_size = chunk_size
        self._buffer: bytearray | None = None
        #: A view of ``_buffer`` kept for the reads (one per file otherwise).
        self._view: memoryview | None = None
        #: The start of ``_view`` that files are read into.
        self._file_window: memoryview | None = None

    # ---------------------------------------------------------------- decoding

    def _decode(
        self, buf: bytes | bytearray, cand: Candidate, line: int, column: int, offset: int
    ) -> KeyHit | None:
        decoded = _decode_text(cand.text, self.partition)
        if decoded is None:
            return None
        key, preview = decoded
        return KeyHit(
            key=key,
            line=line,
            column=column,
            offset=offset,
            encoding=cand.encoding,
            preview=preview,
            context=_context(buf, cand.start),
        )

    def scan_buffer(
        self, data: bytes | bytearray, end: int | None = None
    ) -> tuple[list[KeyHit], int]:
        """Hits in a whole in-memory buffer (``data[:end]``), and how many candidates
        did not decode."""
        hits: list[KeyHit] = []
        rejected = 0
        stop = len(data) if end is None else end
        for cand in find_candidates(data, 0, stop, stop):
            line_start = data.rfind(b"\n", 0, cand.start) + 1
            line = data.count(b"\n", 0, cand.start) + 1
            column = _column(data, line_start, cand.start)
            hit = self._decode(data, cand, line, column, cand.start)
            if hit is None:
                rejected += 1
            else:
                hits.append(hit)
        return hits, rejected

    # --------------------------------------------------------------- streaming

    def _chunk_buffer(self) -> bytearray:
        size = self.chunk_size + OVERLAP
        if self._buffer is None or len(self._buffer) != size:
            self._buffer = bytearray(size)
            self._view = memoryview(self._buffer)
            self._file_window = None
        return self._buffer

    def scan_stream(
        self, read_into: Callable[[memoryview], int], *, first: bytes = b"", label: str = "<stream>"
    ) -> FileResult:
        """Stream from ``read_into`` (``file.readinto``): bounded memory, any size.

        ``first`` is data already read from the stream (for example by a sniff).
        """
        buf = self._chunk_buffer()
        have = len(first)
        buf[:have] = first
        with memoryview(buf) as view:
            have += _fill(read_into, view, have)
            return self._scan_filled(read_into, view, have, label)

    def _scan_filled(
        self,
        read_into: Callable[[memoryview], int],
        view: memoryview,
        have: int,
        label: str,
        reread: _Reread | None = None,
    ) -> FileResult:
        """Scan the stream whose first ``have`` bytes are already in ``view`` (the
        chunk buffer, or the start of it for a file).

        ``reread`` (for files, which can be read again) counts the newlines
        before an offset, and the columns of a line longer than a chunk: then
        chunks are not counted as they pass, only when a candidate turns up past
        the first chunk (most large files have none).
        """
        buf = self._chunk_buffer()
        size = len(view)
        if buf.find(b"\x00", 0, min(have, SNIFF_BYTES)) != -1:
            return FileResult(path=label, size=have, skipped=SkipReason.BINARY)
        if have < size:  # the whole input fits: the common case, no bookkeeping
            found, bad = self.scan_buffer(buf, have)
            return FileResult(path=label, size=have, hits=tuple(found), rejected=bad)
        hits: list[KeyHit] = []
        rejected = 0
        total = have
        eof = False
        base = 0  # stream offset of buf[0]
        lines_before: int | None = 0  # newlines before buf[0] (None: not counted yet)
        line_start_abs = 0  # stream offset where the line holding buf[0] starts
        scan_from = 0
        while True:
            stop = have if eof else have - OVERLAP
            for cand in find_candidates(buf, scan_from, stop, have):
                if lines_before is None:
                    assert reread is not None
                    lines_before = reread.newlines(base)
                nl = buf.rfind(b"\n", 0, cand.start)
                line = lines_before + buf.count(b"\n", 0, cand.start) + 1
                if nl >= 0:
                    column = _column(buf, nl + 1, cand.start)
                elif reread is not None:  # the line started in an earlier chunk
                    column = reread.column(line_start_abs, base + cand.start)
                else:  # ... of a stream, gone: count bytes
                    column = base + cand.start - line_start_abs + 1
                hit = self._decode(buf, cand, line, column, base + cand.start)
                if hit is None:
                    rejected += 1
                else:
                    hits.append(hit)
            if eof:
                break
            keep_from = stop - _LOOKBEHIND
            if reread is None:
                assert lines_before is not None
                lines_before += buf.count(b"\n", 0, keep_from)
            else:
                lines_before = None
            nl = buf.rfind(b"\n", 0, keep_from)
            if nl >= 0:
                line_start_abs = base + nl + 1
            base += keep_from
            tail = have - keep_from
            buf[:tail] = bytes(view[keep_from:have])  # copy: the regions overlap
            got = _fill(read_into, view, tail)
            total += got
            have = tail + got
            eof = have < size
            scan_from = _LOOKBEHIND
        return FileResult(path=label, size=total, hits=tuple(hits), rejected=rejected)

    # ------------------------------------------------------------------- files

    def _file_view(self) -> memoryview:
        """The start of the chunk buffer that files are read into (see
        :data:`FILE_CHUNK_SIZE`)."""
        if self._file_window is None:
            self._chunk_buffer()
            assert self._view is not None
            self._file_window = self._view[: min(self.chunk_size, FILE_CHUNK_SIZE) + OVERLAP]
        return self._file_window

    def scan_file(self, path: str, *, label: str | None = None) -> FileResult:
        """Scan one file; errors and skips come back as values, never raised.

        The file is opened without following a symlink and checked with
        ``fstat`` (a symlink, FIFO or device swapped in after listing is skipped,
        never read), then read straight into the reusable chunk buffer with
        ``os.readv``: no per-file allocation, no buffered-IO object. A file
        larger than a chunk continues as a stream from there.
        """
        name = label or path
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            return _open_failure(path, name, exc)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return FileResult(path=name, skipped=SkipReason.NOT_A_FILE)
            view = self._file_view()
            have = _read_into(fd, view)
            if have == st.st_size and have < len(view):  # the whole file in one read
                buf = self._buffer
                assert buf is not None
                if buf.find(b"\x00", 0, min(have, SNIFF_BYTES)) != -1:
                    return FileResult(path=name, size=have, skipped=SkipReason.BINARY)
                if not trigger_positions(buf, 0, have, have):  # no key prefix: done
                    return FileResult(path=name, size=have)
            elif have:
                have = _fill_file(fd, view, st.st_size, have)

            def read_into(v: memoryview) -> int:
                return _read_into(fd, v)

            return self._scan_filled(read_into, view, have, name, _Reread(fd))
        except OSError as exc:
            return FileResult(path=name, error=_os_error(exc))
        finally:
            os.close(fd)

    def scan_open_file(self, fh: BinaryIO, label: str, size_hint: int | None = None) -> FileResult:
        """Scan an already open binary file object (any size, bounded memory)."""
        return self.scan_stream(fh.readinto, label=label)  # type: ignore[attr-defined]


#: Never follow a symlink (one swapped in after listing fails with ELOOP), never
#: block on a FIFO, never make a terminal the controlling one.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def _open_failure(path: str, name: str, exc: OSError) -> FileResult:
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            return FileResult(path=name, skipped=SkipReason.SYMLINK)
    except OSError:
        pass
    return FileResult(path=name, error=_os_error(exc))


def _fill_file(fd: int, view: memoryview, size: int, got: int = 0) -> int:
    """Read a regular file of ``size`` bytes (per ``fstat``) into ``view``, whose
    first ``got`` bytes are already read.

    Reading stops at end of file, when ``view`` is full, or once ``size`` bytes
    arrived: a file that grows while it is read is scanned as it was when
    opened (plus what the reads caught).
    """
    end = len(view)
    while got < end and not (size and got >= size):
        if got:
            with view[got:end] as part:
                n = _read_into(fd, part)
        else:
            n = _read_into(fd, view)
        if not n:
            break
        got += n
    return got


def _read_into(fd: int, view: memoryview) -> int:
    """One read into ``view`` (``os.readv``; where it is missing, a FileIO over ``fd``)."""
    if _HAVE_READV:
        return os.readv(fd, [view])
    with io.FileIO(fd, "rb", closefd=False) as fh:
        return fh.readinto(view) or 0


_HAVE_READV = hasattr(os, "readv")


class _Reread:
    """What a file scan counts only when a candidate needs it, by reading the file
    again (``pread``, or seek and seek back where it is missing): the file
    position is left where it was."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def _pieces(self, start: int, end: int) -> Iterator[bytes]:
        pos = start
        saved = None if hasattr(os, "pread") else os.lseek(self.fd, 0, os.SEEK_CUR)
        try:
            while pos < end:
                size = min(1 << 20, end - pos)
                if saved is None:
                    data = os.pread(self.fd, size, pos)
                else:
                    os.lseek(self.fd, pos, os.SEEK_SET)
                    data = os.read(self.fd, size)
                if not data:
                    return
                yield data
                pos += len(data)
        finally:
            if saved is not None:
                os.lseek(self.fd, saved, os.SEEK_SET)

    def newlines(self, offset: int) -> int:
        """Newlines in the first ``offset`` bytes of the file."""
        return sum(piece.count(b"\n") for piece in self._pieces(0, offset))

    def column(self, line_start: int, offset: int) -> int:
        """1-based column in code points of ``offset``, in the line starting at
        ``line_start`` (what :func:`_column` gives for a line within a buffer)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        count = sum(len(decoder.decode(p)) for p in self._pieces(line_start, offset))
        return count + len(decoder.decode(b"", final=True)) + 1


def _fill(read_into: Callable[[memoryview], int], view: memoryview, start: int) -> int:
    """Read until ``view`` is full from ``start`` or the stream ends; bytes read."""
    got = 0
    end = len(view)
    while start + got < end:
        n = read_into(view[start + got : end])
        if not n:
            break
        got += n
    return got


def _column(buf: bytes | bytearray, line_start: int, pos: int) -> int:
    """1-based column in Unicode code points (SARIF ``columnKind``)."""
    prefix = bytes(buf[line_start:pos])
    if prefix.isascii():
        return len(prefix) + 1
    return len(prefix.decode("utf-8", errors="replace")) + 1


def _os_error(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
