"""CloudTrail from AWS: log files in S3 and the LookupEvents API (boto3 only here).

S3: ``s3://bucket/prefix`` is walked down to the ``.../CloudTrail/<region>/``
folders (single-account and organization-trail layouts alike), and only the
day folders between ``--since`` and ``--until`` are listed, so a week's hunt
in a ten-year archive lists a week of keys. Files are downloaded in batches to
a private temporary folder and deleted once the engine has read them.

LookupEvents: management events only, 90 days, one lookup attribute per call,
50 events per page and 2 requests per second per account and region
(docs/aws-facts.md "CloudTrail"); :func:`lookup_events` paces itself under that limit.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from phantomkeys.aws.session import LOOKUP_ERRORS, AwsContext, error_code, error_message
from phantomkeys.core.logfiles import SourceFile, date_in_range, path_date

_S3_URI_RE = re.compile(r"^s3a?://(?P<bucket>[^/]+)/?(?P<prefix>.*)$", re.DOTALL)
#: S3 bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_REGION_DIR_RE = re.compile(r"/CloudTrail/[a-z]{2}(?:-[a-z]+)+-\d+/$")
_LOG_SUFFIXES = (".json.gz", ".json")
MAX_WALK_DEPTH = 8


class S3SourceError(Exception):
    """Listing or reading the bucket failed (shown to the user; the hunt is incomplete)."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix``; ValueError for anything else: a
    bucket name outside S3's naming rules, or a prefix with control characters."""
    m = _S3_URI_RE.match(uri)
    if not m or not _BUCKET_RE.match(m.group("bucket")):
        raise ValueError(f"{uri!r} is not an s3://bucket/prefix URI")
    if _CONTROL_RE.search(m.group("prefix")) or len(m.group("prefix").encode()) > 1024:
        raise ValueError(f"{uri!r}: the prefix holds control characters or is too long")
    return m.group("bucket"), m.group("prefix")


def _days(since: datetime, until: datetime) -> Iterator[str]:
    day = since.date()
    last = (until + timedelta(days=1)).date()
    while day <= last:
        yield f"{day:%Y/%m/%d}/"
        day += timedelta(days=1)


@dataclass(slots=True)
class S3Listing:
    bucket: str
    keys: list[tuple[str, int]] = field(default_factory=list)
    prefixes_listed: int = 0
    skipped_by_date: int = 0


def _children(client: Any, bucket: str, prefix: str) -> tuple[list[str], bool]:
    """(sub-prefixes, has objects directly under prefix)."""
    subs: list[str] = []
    has_files = False
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, Delimiter="/"
    ):
        subs.extend(p["Prefix"] for p in page.get("CommonPrefixes", ()))
        has_files = has_files or bool(page.get("Contents"))
    return subs, has_files


def plan_prefixes(
    client: Any, bucket: str, prefix: str, since: datetime | None, until: datetime | None
) -> list[str]:
    """The prefixes to list: day folders of every CloudTrail region folder below ``prefix``."""
    out: list[str] = []

    def walk(p: str, depth: int) -> None:
        if "CloudTrail-Digest/" in p or "CloudTrail-Insight/" in p:
            return
        if _REGION_DIR_RE.search("/" + p):
            if since is not None and until is not None:
                out.extend(p + d for d in _days(since, until))
            else:
                out.append(p)
            return
        if depth >= MAX_WALK_DEPTH:
            out.append(p)
            return
        subs, has_files = _children(client, bucket, p)
        if has_files or not subs:
            out.append(p)
            return
        for sub in subs:
            walk(sub, depth + 1)

    if prefix and not prefix.endswith("/"):
        # A partial name ("AWSLogs/1111", one object) is listed as it is.
        return [prefix]
    walk(prefix, 0)
    return out


def list_cloudtrail_objects(
    ctx: AwsContext, uri: str, since: datetime | None = None, until: datetime | None = None
) -> S3Listing:
    bucket, prefix = parse_s3_uri(uri)
    client = ctx.client("s3")
    listing = S3Listing(bucket=bucket)
    try:
        prefixes = plan_prefixes(client, bucket, prefix, since, until)
        for p in prefixes:
            listing.prefixes_listed += 1
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=p):
                for obj in page.get("Contents", ()):
                    key = obj["Key"]
                    if not key.endswith(_LOG_SUFFIXES) or "CloudTrail-Digest" in key:
                        continue
                    if not date_in_range(path_date("/" + key), since, until):
                        listing.skipped_by_date += 1
                        continue
                    listing.keys.append((key, int(obj.get("Size", 0))))
    except LOOKUP_ERRORS as exc:
        raise S3SourceError(
            f"s3://{bucket}/{prefix}: {error_code(exc)}: {error_message(exc)}"
        ) from None
    return listing


class S3Downloader:
    """Download listed objects batch by batch into a private temporary folder."""

    def __init__(
        self,
        ctx: AwsContext,
        listing: S3Listing,
        *,
        workers: int = 8,
        max_files: int = 512,
        max_bytes: int = 48 << 20,
    ) -> None:
        self.ctx = ctx
        self.listing = listing
        self.workers = workers
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.failed: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._root: Path | None = None

    def close(self) -> None:
        """Delete the last downloads: call once the engine has read every batch."""
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def _batches(self) -> Iterator[list[tuple[str, int]]]:
        batch: list[tuple[str, int]] = []
        size = 0
        for key, n in self.listing.keys:
            if batch and (len(batch) >= self.max_files or size + n > self.max_bytes):
                yield batch
                batch, size = [], 0
            batch.append((key, n))
            size += n
        if batch:
            yield batch

    def __iter__(self) -> Iterator[list[SourceFile]]:
        client = self.ctx.client("s3")
        bucket = self.listing.bucket
        root = self._root = Path(tempfile.mkdtemp(prefix="phantomkeys-s3-"))
        kept: list[Path] = []

        def fetch(item: tuple[str, int], folder: Path, n: int) -> SourceFile | None:
            key, size = item
            # A name we choose: an object key may be long, hold "..", or a glob pattern.
            local = folder / f"{n}{'.json.gz' if key.endswith('.gz') else '.json'}"
            try:
                client.download_file(bucket, key, str(local))
            except LOOKUP_ERRORS as exc:
                with self._lock:
                    self.failed.append((f"s3://{bucket}/{key}", error_code(exc)))
                return None
            return SourceFile(local, f"s3://{bucket}/{key}", size)

        try:
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                for n, batch in enumerate(self._batches()):
                    folder = root / f"b{n}"
                    folder.mkdir()
                    folders = [folder] * len(batch)
                    files = [f for f in pool.map(fetch, batch, folders, range(len(batch))) if f]
                    kept.append(folder)
                    # The engine may still read batch n-1 while staging batch n.
                    while len(kept) > 2:
                        shutil.rmtree(kept.pop(0), ignore_errors=True)
                    yield files
        except BaseException:
            self.close()
            raise
        # Done listing, but the engine is still reading the last batch (it asks for
        # the next one before loading the current): the caller closes us afterwards.


# ------------------------------------------------------------ LookupEvents

LOOKUP_PAGE_SIZE = 50
LOOKUP_RATE_PER_SECOND = 2.0


class RateLimiter:
    """At most ``rate`` calls per second (per account and region, as AWS enforces)."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self.clock()
            if now < self._next:
                self.sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


@dataclass(slots=True)
class LookupResult:
    region: str
    attribute: str
    value: str
    events: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    error: str | None = None


def lookup_events(
    ctx: AwsContext,
    region: str,
    attribute: str,
    value: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limiter: RateLimiter | None = None,
    max_pages: int | None = None,
) -> LookupResult:
    """All events for one lookup attribute in one region, parsed from CloudTrailEvent."""
    import json

    result = LookupResult(region=region, attribute=attribute, value=value)
    client = ctx.client("cloudtrail", region)
    kwargs: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": attribute, "AttributeValue": value}],
        "MaxResults": LOOKUP_PAGE_SIZE,
    }
    if start is not None:
        kwargs["StartTime"] = start
    if end is not None:
        kwargs["EndTime"] = end
    limiter = limiter or RateLimiter(LOOKUP_RATE_PER_SECOND)
    try:
        while True:
            limiter.wait()
            page = client.lookup_events(**kwargs)
            result.pages += 1
            for ev in page.get("Events", ()):
                raw = ev.get("CloudTrailEvent")
                try:
                    parsed = json.loads(raw) if isinstance(raw, str) else None
                except json.JSONDecodeError:
                    parsed = None
                if not isinstance(parsed, dict):
                    parsed = {
                        "eventID": ev.get("EventId"),
                        "eventName": ev.get("EventName"),
                        "eventSource": ev.get("EventSource"),
                        "eventTime": _iso(ev.get("EventTime")),
                        "awsRegion": region,
                        "userIdentity": {"userName": ev.get("Username")},
                    }
                result.events.append(parsed)
            token = page.get("NextToken")
            if not token or (max_pages is not None and result.pages >= max_pages):
                break
            kwargs["NextToken"] = token
    except LOOKUP_ERRORS as exc:
        result.error = f"{error_code(exc)}: {error_message(exc)}"
    return result


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def enabled_regions(ctx: AwsContext) -> tuple[list[str], str | None]:
    """Regions enabled for the account (EC2 DescribeRegions), or an error."""
    try:
        resp = ctx.client("ec2").describe_regions(AllRegions=False)
    except LOOKUP_ERRORS as exc:
        return [], f"{error_code(exc)}: {error_message(exc)}"
    return sorted(r["RegionName"] for r in resp.get("Regions", ())), None
