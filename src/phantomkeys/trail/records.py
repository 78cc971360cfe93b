"""Finding and decoding CloudTrail log files on disk.

Accepted inputs, as files or folders (searched recursively):

* trail delivery files ``{"Records": [...]}``, ``.json`` or ``.json.gz``, in the
  S3 layout ``AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/`` or the
  organization-trail layout ``AWSLogs/<o-id>/<account>/CloudTrail/...``;
* newline-delimited events (one event per line) and JSON arrays of events;
* ``aws cloudtrail lookup-events`` output (``{"Events": [{"CloudTrailEvent": "..."}]}``);
* CloudTrail Lake query results: ``{"QueryResultRows": [[{"col": value}, ...]]}``
  or a list of row objects, with ``SELECT *`` columns.

The fast path (DuckDB reading the files directly) handles the first kind;
:func:`decode_file` handles all of them in Python and is the fallback for
files the fast path cannot read, and the judge of which files are bad.

Input is read exactly once and bounded: folders are walked following links,
but each real folder and file (device and inode) only once, so link loops end;
every file is read in chunks through :func:`iter_content`, which stops at the
:class:`Limits` (gzip bombs, giant files) and makes such a file a bad file.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from phantomkeys.core.logfiles import SourceFile as SourceFile
from phantomkeys.core.logfiles import date_in_range as date_in_range
from phantomkeys.core.logfiles import path_date as path_date

_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".gz")
_DIGEST_RE = re.compile(r"/CloudTrail-Digest/|_CloudTrail-Digest_")

#: Top-level CloudTrail field names, to restore case in CloudTrail Lake results.
_CANONICAL = {
    n.lower(): n
    for n in (
        "eventVersion",
        "userIdentity",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "errorMessage",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "requestID",
        "eventID",
        "readOnly",
        "resources",
        "eventType",
        "apiVersion",
        "managementEvent",
        "recipientAccountId",
        "serviceEventDetails",
        "sharedEventID",
        "vpcEndpointId",
        "eventCategory",
        "tlsDetails",
        "sessionCredentialFromConsole",
    )
}


@dataclass(frozen=True, slots=True)
class BadFile:
    name: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.name, "reason": self.reason}


@dataclass(slots=True)
class Discovery:
    files: list[SourceFile] = field(default_factory=list)
    skipped_by_date: int = 0
    skipped_digest: int = 0
    missing: list[str] = field(default_factory=list)
    #: Folders given as sources that hold no log file at all.
    empty: list[str] = field(default_factory=list)
    #: (path, reason) of folders and entries that could not be listed or followed.
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    #: Paths not listed again: a file or folder already reached by another path or link.
    repeated: int = 0


def _is_log_name(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(_SUFFIXES)


def _walk(
    root: Path, out: Discovery, dirs_seen: set[tuple[int, int]]
) -> list[tuple[Path, int, tuple[int, int]]]:
    """Log files under ``root`` with their sizes and identities, in a stable order.

    Symbolic links are followed, each real folder (device and inode) is entered once,
    so a link back to an ancestor (a loop) is walked once and never again; folders
    that cannot be listed and links that lead nowhere are recorded in ``out``.
    """
    found: list[tuple[str, int, tuple[int, int]]] = []
    try:
        st = root.stat()
    except OSError as exc:
        out.unreadable.append((str(root), _os_reason(exc)))
        return []
    if (st.st_dev, st.st_ino) in dirs_seen:
        out.repeated += 1
        return []
    dirs_seen.add((st.st_dev, st.st_ino))
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=True):
                            ds = entry.stat(follow_symlinks=True)
                            ident = (ds.st_dev, ds.st_ino)
                            if ident in dirs_seen:
                                out.repeated += 1  # a loop, or a second link to a folder
                                continue
                            dirs_seen.add(ident)
                            stack.append(entry.path)
                        elif _is_log_name(entry.name):
                            if not entry.is_file(follow_symlinks=True):
                                # A FIFO or device would block or never end: not read.
                                broken = entry.is_symlink() and not os.path.exists(entry.path)
                                why = "broken symbolic link" if broken else "not a regular file"
                                out.unreadable.append((entry.path, why))
                                continue
                            fs = entry.stat(follow_symlinks=True)
                            found.append((entry.path, fs.st_size, (fs.st_dev, fs.st_ino)))
                    except OSError as exc:
                        out.unreadable.append((entry.path, _os_reason(exc)))
        except OSError as exc:
            out.unreadable.append((folder, _os_reason(exc)))
    return [(Path(path), size, ident) for path, size, ident in sorted(found)]


def _os_reason(exc: OSError) -> str:
    return f"unreadable ({exc.strerror or exc})"


def discover(
    sources: Iterable[str | Path], since: datetime | None = None, until: datetime | None = None
) -> Discovery:
    """Expand files and folders into the log files to read, in a stable order.

    Each real file (device and inode) is listed once, however many paths or links
    lead to it; the others are counted in ``repeated``.
    """
    out = Discovery()
    files_seen: set[tuple[int, int]] = set()
    dirs_seen: set[tuple[int, int]] = set()
    for src in sources:
        root = Path(src)
        candidates: list[tuple[Path, int, tuple[int, int]]]
        try:
            if root.is_file():
                st = root.stat()
                candidates = [(root, st.st_size, (st.st_dev, st.st_ino))]
            elif root.is_dir():
                st = root.stat()
                walked_before = (st.st_dev, st.st_ino) in dirs_seen
                candidates = _walk(root, out, dirs_seen)
                if not candidates and not walked_before:
                    out.empty.append(str(src))
            elif root.exists():
                out.unreadable.append((str(src), "not a regular file or folder"))
                continue
            else:
                out.missing.append(str(src))
                continue
        except OSError as exc:
            out.unreadable.append((str(src), _os_reason(exc)))
            continue
        for p, size, ident in candidates:
            if ident in files_seen:
                out.repeated += 1
                continue
            files_seen.add(ident)
            posix = p.as_posix()
            if _DIGEST_RE.search(posix):
                out.skipped_digest += 1
                continue
            if not date_in_range(path_date(posix), since, until):
                out.skipped_by_date += 1
                continue
            out.files.append(SourceFile(p, str(p), size))
    return out


def batches(
    files: Sequence[SourceFile], *, max_files: int = 512, max_bytes: int = 48 << 20
) -> Iterator[list[SourceFile]]:
    """Group files so a batch stays within a few hundred MB once decompressed.

    Batches are balanced (as many as the limits need, of about equal size), so
    the last one is not a small remainder: DuckDB reads a batch's files in
    parallel, and evenly filled batches keep every core busy to the end.
    """
    total = sum(f.size for f in files)
    count = max(1, -(-len(files) // max_files), -(-total // max(1, max_bytes)))
    batch: list[SourceFile] = []
    size = done_bytes = cuts = 0
    for done_files, f in enumerate(files):
        # Cut at the next of ``count`` evenly spaced boundaries (by files and by bytes).
        due_files = done_files * count >= len(files) * (cuts + 1)
        due_bytes = (done_bytes + f.size / 2) * count > total * (cuts + 1)
        if batch and (
            due_files or due_bytes or len(batch) >= max_files or size + f.size > max_bytes
        ):
            yield batch
            batch, size = [], 0
            cuts += 1
        batch.append(f)
        size += f.size
        done_bytes += f.size
    if batch:
        yield batch


class DecodeError(ValueError):
    """A file that is not usable CloudTrail; the message is the reason shown to users."""


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one log file may expand to once read (gzip bombs, giant files).

    A file's content may be at most ``max_bytes``; a gzip file may in addition
    expand at most ``max_ratio`` times its compressed size (never capped below
    ``RATIO_FLOOR``, so a tiny file of repetitive JSON is not refused). A file
    over either cap is a bad file, named in the report; reading stops at the cap,
    so memory stays bounded whatever the file holds.
    """

    max_bytes: int = 512 << 20
    max_ratio: int = 200

    def cap_for(self, compressed_size: int) -> int:
        return min(self.max_bytes, max(self.max_ratio * compressed_size, RATIO_FLOOR))

    def size_reason(self) -> str:
        return f"over the size cap ({_mib(self.max_bytes)}, --max-file-size)"


#: A gzip file may always expand to this much, whatever its ratio.
RATIO_FLOOR = 1 << 20
DEFAULT_LIMITS = Limits()
#: Bytes read or produced per step while decompressing.
CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"


class OverCap(DecodeError):
    """The file expands beyond :class:`Limits`."""


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def iter_content(
    path: Path, limits: Limits = DEFAULT_LIMITS, *, chunk: int = CHUNK
) -> Iterator[bytes]:
    """The file's bytes (gunzipped when it is gzip), in chunks, within ``limits``.

    Raises :class:`OverCap` as soon as the output passes the cap, and
    :class:`DecodeError` for a truncated or corrupt gzip stream.
    """
    with open(path, "rb") as fh:
        first = fh.read(chunk)
        size = os.fstat(fh.fileno()).st_size
        if first[:2] != _GZIP_MAGIC:
            total = 0
            block = first
            while block:
                total += len(block)
                if total > limits.max_bytes:
                    raise OverCap(limits.size_reason())
                yield block
                block = fh.read(chunk)
            return
        cap = limits.cap_for(size)
        yield from _gunzip(fh, first, cap, size, limits, chunk)


def _gunzip(
    fh: Any, first: bytes, cap: int, size: int, limits: Limits, chunk: int
) -> Iterator[bytes]:
    total = 0
    pending = first
    d: Any = None
    try:
        while True:
            if d is None:  # between gzip members (a file may hold several)
                if not pending:
                    pending = fh.read(chunk)
                    if not pending:
                        return
                pending = pending.lstrip(b"\0")  # zero padding after a member
                if not pending:
                    continue
                if len(pending) < 2:
                    pending += fh.read(chunk)
                if pending[:2] != _GZIP_MAGIC:
                    raise DecodeError("corrupt gzip (data after the end of the stream)")
                d = zlib.decompressobj(31)
            out = d.decompress(pending, chunk)
            pending = d.unconsumed_tail
            if out:
                total += len(out)
                if total > cap:
                    which = (
                        f"{_mib(limits.max_bytes)}, --max-file-size"
                        if cap == limits.max_bytes
                        else f"{limits.max_ratio}x its {_mib(size)}, --max-ratio"
                    )
                    raise OverCap(f"over the decompression cap ({which})")
                yield out
            if d.eof:
                pending = d.unused_data + pending
                d = None
            elif not out and not pending:
                pending = fh.read(chunk)
                if not pending:
                    raise DecodeError(
                        "truncated or corrupt gzip (ends before the end of the stream)"
                    )
    except zlib.error as exc:
        raise DecodeError(f"truncated or corrupt gzip ({exc})") from None


def read_bytes(path: Path, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The whole content of one file, within ``limits`` (see :func:`iter_content`)."""
    return b"".join(iter_content(path, limits))


def decode_file(path: Path, limits: Limits = DEFAULT_LIMITS) -> list[dict[str, Any]]:
    """All CloudTrail events in one file, whatever its shape (see module docstring)."""
    data = read_bytes(path, limits)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("not UTF-8 text") from None
    stripped = text.strip()
    if not stripped:
        raise DecodeError("empty file")
    try:
        doc = json.loads(stripped)
    except json.JSONDecodeError as whole_error:
        events = _ndjson(stripped)
        if events is None:
            raise DecodeError(
                f"invalid JSON ({whole_error.msg} at line {whole_error.lineno})"
            ) from None
        return events
    return _events_from_document(doc)


def _ndjson(text: str) -> list[dict[str, Any]] | None:
    events: list[dict[str, Any]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(obj, dict):
            return None
        events.extend(_events_from_document(obj))
    return events


def _events_from_document(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, dict):
        if "Records" in doc:
            records = doc["Records"]
            if not isinstance(records, list):
                raise DecodeError("'Records' is not a list")
            return [r for r in records if isinstance(r, dict)]
        if "Events" in doc and isinstance(doc["Events"], list):
            return [_lookup_event(e) for e in doc["Events"] if isinstance(e, dict)]
        if "QueryResultRows" in doc and isinstance(doc["QueryResultRows"], list):
            return [_lake_row(r) for r in doc["QueryResultRows"]]
        if "eventTime" in doc or "eventtime" in doc:
            return [_lake_row(doc)]
        raise DecodeError("no Records (not a CloudTrail log file)")
    if isinstance(doc, list):
        return [_lake_row(r) for r in doc if isinstance(r, (dict, list))]
    raise DecodeError("no Records (not a CloudTrail log file)")


def _lookup_event(entry: dict[str, Any]) -> dict[str, Any]:
    raw = entry.get("CloudTrailEvent")
    if isinstance(raw, str):
        try:
            event = json.loads(raw)
        except json.JSONDecodeError:
            raise DecodeError("CloudTrailEvent is not JSON") from None
        if isinstance(event, dict):
            return event
    return {
        "eventID": entry.get("EventId"),
        "eventName": entry.get("EventName"),
        "eventSource": entry.get("EventSource"),
        "eventTime": _iso(entry.get("EventTime")),
        "userIdentity": {"userName": entry.get("Username")},
    }


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _lake_row(row: Any) -> dict[str, Any]:
    """A CloudTrail Lake result row (list of one-key dicts, or a dict) as an event."""
    if isinstance(row, list):
        merged: dict[str, Any] = {}
        for cell in row:
            if isinstance(cell, dict):
                merged.update(cell)
        row = merged
    event: dict[str, Any] = {}
    for key, value in row.items():
        name = _CANONICAL.get(str(key).lower(), str(key))
        if isinstance(value, str) and value[:1] in "{[" and name not in ("userAgent",):
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        event[name] = value
    t = event.get("eventTime")
    if isinstance(t, str) and " " in t and "T" not in t:
        # Lake renders eventTime as "2026-11-29 10:00:00.000".
        event["eventTime"] = t.replace(" ", "T")[:19] + "Z"
    return event
