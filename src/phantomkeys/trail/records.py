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
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

_SUFFIXES = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".gz")
_DATE_DIR_RE = re.compile(r"/CloudTrail/[a-z0-9-]+/(\d{4})/(\d{2})/(\d{2})/")
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
class SourceFile:
    """A log file to read: where it is on disk and how to name it in reports."""

    path: Path
    name: str
    size: int


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


def path_date(name: str) -> date | None:
    """The delivery date encoded in an S3-layout path, if any."""
    m = _DATE_DIR_RE.search(name.replace("\\", "/"))
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def date_in_range(day: date | None, since: datetime | None, until: datetime | None) -> bool:
    """Could a file delivered on ``day`` hold records in [since, until)?

    A file only holds records from before its delivery, and CloudTrail delivers
    within minutes, so a day folder before ``since``'s day cannot match; one day
    of slack after ``until`` covers records delivered after midnight.
    """
    if day is None:
        return True
    if since is not None and day < since.date():
        return False
    return not (until is not None and day > (until + timedelta(days=1)).date())


def _is_log_name(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(_SUFFIXES)


def _walk(root: Path) -> Iterator[tuple[Path, int]]:
    """Log files under ``root`` with their sizes, in a stable order (os.scandir: one stat each)."""
    stack = [str(root)]
    found: list[tuple[str, int]] = []
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=True):
                        stack.append(entry.path)
                    elif _is_log_name(entry.name) and entry.is_file(follow_symlinks=True):
                        found.append((entry.path, entry.stat().st_size))
        except OSError:
            continue
    for path, size in sorted(found):
        yield Path(path), size


def discover(
    sources: Iterable[str | Path], since: datetime | None = None, until: datetime | None = None
) -> Discovery:
    """Expand files and folders into the log files to read, in a stable order."""
    out = Discovery()
    seen: set[str] = set()
    for src in sources:
        root = Path(src)
        if root.is_file():
            candidates: Iterable[tuple[Path, int]] = [(root, root.stat().st_size)]
        elif root.is_dir():
            candidates = _walk(root)
        else:
            out.missing.append(str(src))
            continue
        base = os.path.realpath(root)
        for p, size in candidates:
            key = os.path.join(base, os.path.relpath(p, root)) if p != root else base
            if key in seen:
                continue
            seen.add(key)
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


def read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise DecodeError(f"truncated or corrupt gzip ({exc})") from None
    return raw


def decode_file(path: Path) -> list[dict[str, Any]]:
    """All CloudTrail events in one file, whatever its shape (see module docstring)."""
    data = read_bytes(path)
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
