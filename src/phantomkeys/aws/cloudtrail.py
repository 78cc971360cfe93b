"""The one CloudTrail adapter: log files in S3, the LookupEvents API, enabled regions.

Every command that reads CloudTrail from AWS (timeline, hunt, report, revoke,
least-privilege) goes through this module; a read that fails is the core's
:class:`~phantomkeys.core.model.LookupFailure`, never "nothing found".

S3: ``s3://bucket/prefix`` is walked down to the ``.../CloudTrail/<region>/``
folders (single-account and organization-trail layouts alike), and only the
day folders between ``--since`` and ``--until`` are listed, so a week's hunt
in a ten-year archive lists a week of keys. Files are downloaded in batches to
a private temporary folder and deleted once the engine has read them.

LookupEvents: management events only, 90 days, one lookup attribute per call,
50 events per page and 2 requests per second per account and region
(docs/aws-facts.md "CloudTrail"); :func:`lookup_events` waits on one pacer per account
and region shared by the whole process, so parallel callers stay under that limit.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from phantomkeys.aws.session import LOOKUP_ERRORS, AwsContext, error_code, error_message
from phantomkeys.core.logfiles import SourceFile, date_in_range, path_date
from phantomkeys.core.model import LookupFailure

_S3_URI_RE = re.compile(r"^s3a?://(?P<bucket>[^/]+)/?(?P<prefix>.*)$", re.DOTALL)
#: S3 bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_REGION_DIR_RE = re.compile(r"/CloudTrail/[a-z]{2}(?:-[a-z]+)+-\d+/$")
_LOG_SUFFIXES = (".json.gz", ".json")
MAX_WALK_DEPTH = 8


class S3SourceError(Exception):
    """Listing or reading the bucket failed (shown to the user; the hunt is incomplete)."""

    def __init__(self, message: str, failure: LookupFailure) -> None:
        super().__init__(message)
        self.failure = failure


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
        where = f"s3://{bucket}/{prefix}"
        raise S3SourceError(
            f"{where}: {error_code(exc)}: {error_message(exc)}",
            LookupFailure("s3:ListObjectsV2", error_code(exc), error_message(exc), where=where),
        ) from None
    return listing


def _download(client: Any, bucket: str, key: str, local: Path) -> LookupFailure | None:
    """Fetch one object to ``local``; the failure, or None."""
    try:
        client.download_file(bucket, key, str(local))
    except LOOKUP_ERRORS as exc:
        return LookupFailure(
            "s3:GetObject", error_code(exc), error_message(exc), where=f"s3://{bucket}/{key}"
        )
    return None


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
        self.failed: list[LookupFailure] = []
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
            failure = _download(client, bucket, key, local)
            if failure is not None:
                with self._lock:
                    self.failed.append(failure)
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


_SAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]")


def download_s3_logs(
    ctx: AwsContext,
    uri: str,
    destination: Path,
    *,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[Path], list[LookupFailure]]:
    """Download the CloudTrail files under ``s3://bucket/prefix`` that can hold the window
    into ``destination`` (kept until the caller removes it), and what failed.

    The same listing as the hunt (:func:`list_cloudtrail_objects`): only the day folders
    of the window, digest files skipped. Each file keeps its object's base name (which
    holds its time) under a numbered folder of ours: an object key is never a path.
    """
    try:
        listing = list_cloudtrail_objects(ctx, uri, since, until)
    except ValueError as exc:
        return [], [LookupFailure("s3:ListObjectsV2", "InvalidUri", str(exc), where=uri)]
    except S3SourceError as exc:
        return [], [exc.failure]
    client = ctx.client("s3")
    written: list[Path] = []
    failures: list[LookupFailure] = []
    for n, (key, _size) in enumerate(listing.keys):
        name = _SAFE_NAME_RE.sub("_", key.rsplit("/", 1)[-1]).lstrip(".") or "log.json"
        folder = destination / str(n)
        folder.mkdir(parents=True, exist_ok=True)
        failure = _download(client, listing.bucket, key, folder / name)
        if failure is not None:
            failures.append(failure)
        else:
            written.append(folder / name)
    return written, failures


# ------------------------------------------------------------ LookupEvents

LOOKUP_PAGE_SIZE = 50
#: LookupEvents allows 2 requests per second per account and region
#: (docs/aws-facts.md "CloudTrail").
LOOKUP_RATE_PER_SECOND = 2.0
LOOKUP_MIN_INTERVAL = 1.0 / LOOKUP_RATE_PER_SECOND
#: How far back LookupEvents reaches (management events of the last 90 days).
LOOKUP_DAYS = 90
LOOKUP_RETENTION = timedelta(days=LOOKUP_DAYS)
#: An error message from AWS is bounded before it is shown or stored.
_MESSAGE_LIMIT = 200


class RateLimiter:
    """At most ``rate`` calls per second (per account and region, as AWS enforces).

    ``rate`` ``inf`` paces nothing (tests over a fake client)."""

    def __init__(
        self,
        rate: float = LOOKUP_RATE_PER_SECOND,
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


#: The process's pacers, one per (account, region): every caller (timeline, report,
#: revoke, least-privilege) shares them, so together they stay under AWS's limit.
_LIMITERS: dict[tuple[str, str], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()
_ACCOUNT_ERRORS: tuple[type[BaseException], ...] = (AttributeError, *LOOKUP_ERRORS)


def _account_key(ctx: Any, account: str | None) -> str:
    """The account a context's calls count against: given, else its credentials' access
    key id (one key belongs to one account), else the context itself."""
    if account:
        return account
    try:
        creds = ctx.session.get_credentials()
        if creds is not None and creds.access_key:
            return str(creds.access_key)
    except _ACCOUNT_ERRORS:
        pass
    return f"context-{id(ctx)}"


def shared_limiter(ctx: Any, region: str, account: str | None = None) -> RateLimiter:
    """The one LookupEvents pacer of ``account`` (or the context's account) in ``region``."""
    key = (_account_key(ctx, account), region)
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = _LIMITERS[key] = RateLimiter(LOOKUP_RATE_PER_SECOND)
        return limiter


@dataclass(frozen=True, slots=True)
class TrailEvent:
    """One LookupEvents event: the envelope's fields and the parsed CloudTrail record."""

    time: datetime | None
    name: str
    source: str
    region: str
    username: str | None
    access_key_id: str | None
    identity_type: str | None
    identity_arn: str | None
    bearer_token: bool
    read_only: bool | None
    error_code: str | None
    source_ip: str | None
    user_identity: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None
    #: The ``CloudTrailEvent`` JSON object; None when it is missing or not an object.
    record: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.strftime("%Y-%m-%dT%H:%M:%SZ") if self.time else None,
            "event_name": self.name,
            "event_source": self.source,
            "region": self.region,
            "username": self.username,
            "access_key_id": self.access_key_id,
            "identity_type": self.identity_type,
            "identity_arn": self.identity_arn,
            "call_with_bearer_token": self.bearer_token,
            "read_only": self.read_only,
            "error_code": self.error_code,
            "source_ip": self.source_ip,
        }

    def record_or_summary(self) -> dict[str, Any]:
        """The CloudTrail record, or (when it could not be parsed) one built from the
        envelope's fields."""
        if self.record is not None:
            return self.record
        return {
            "eventID": self.event_id,
            "eventName": self.name or None,
            "eventSource": self.source or None,
            "eventTime": self.time.strftime("%Y-%m-%dT%H:%M:%SZ") if self.time else None,
            "awsRegion": self.region,
            "userIdentity": {"userName": self.username},
        }


@dataclass(frozen=True, slots=True)
class TrailLookup:
    """One ``LookupEvents`` query: its events, or why it failed (never "nothing")."""

    region: str
    attribute: str
    value: str
    events: tuple[TrailEvent, ...] = ()
    failure: LookupFailure | None = None
    truncated: bool = False
    pages: int = 0

    @property
    def error(self) -> str | None:
        if self.failure is None:
            return None
        return f"{self.failure.error_code}: {self.failure.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "attribute": self.attribute,
            "value": self.value,
            "events": [e.to_dict() for e in self.events],
            "error": self.error,
            "truncated": self.truncated,
        }


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _event(raw: dict[str, Any], region: str) -> TrailEvent:
    record: dict[str, Any] | None = None
    text = raw.get("CloudTrailEvent")
    if isinstance(text, str):
        try:
            parsed = json.loads(text)
            record = parsed if isinstance(parsed, dict) else None
        except ValueError:
            record = None
    fields = record or {}
    ident = fields.get("userIdentity") or {}
    extra = fields.get("additionalEventData") or {}
    params = fields.get("requestParameters") or {}
    bearer = bool(
        (isinstance(extra, dict) and extra.get("callWithBearerToken"))
        or (isinstance(params, dict) and params.get("callWithBearerToken"))
    )
    read_only = raw.get("ReadOnly")
    return TrailEvent(
        time=_aware(raw.get("EventTime")),
        name=str(raw.get("EventName", "")),
        source=str(raw.get("EventSource", fields.get("eventSource", ""))),
        region=str(fields.get("awsRegion", region)),
        username=raw.get("Username"),
        access_key_id=raw.get("AccessKeyId") or ident.get("accessKeyId"),
        identity_type=ident.get("type"),
        identity_arn=ident.get("arn"),
        bearer_token=bearer,
        read_only=None if read_only is None else str(read_only).lower() == "true",
        error_code=fields.get("errorCode"),
        source_ip=fields.get("sourceIPAddress"),
        user_identity=dict(ident) if isinstance(ident, dict) else {},
        event_id=raw.get("EventId"),
        record=record,
    )


def lookup_events(
    ctx: Any,
    *,
    region: str,
    attribute: str,
    value: str,
    start: datetime | None = None,
    end: datetime | None = None,
    max_events: int | None = None,
    limiter: RateLimiter | None = None,
    account: str | None = None,
) -> TrailLookup:
    """The one LookupEvents reader: events matching one attribute in one region, newest
    first, paced by the process's shared pacer of the account and region.

    A failed call is a :class:`LookupFailure` in the result (with the events read before
    it), never "nothing found". ``max_events`` stops early (``truncated``)."""
    client = ctx.client("cloudtrail", region)
    limiter = limiter or shared_limiter(ctx, region, account)
    request: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": attribute, "AttributeValue": value}],
        "MaxResults": min(LOOKUP_PAGE_SIZE, max_events or LOOKUP_PAGE_SIZE),
    }
    if start is not None:
        request["StartTime"] = start
    if end is not None:
        request["EndTime"] = end
    events: list[TrailEvent] = []
    pages = 0
    token: str | None = None
    try:
        while True:
            limiter.wait()
            page = client.lookup_events(**request, **({"NextToken": token} if token else {}))
            pages += 1
            events.extend(_event(e, region) for e in page.get("Events", ()))
            token = page.get("NextToken")
            if not token or (max_events is not None and len(events) >= max_events):
                break
    except LOOKUP_ERRORS as exc:
        failure = LookupFailure(
            "cloudtrail:LookupEvents",
            error_code(exc),
            error_message(exc)[:_MESSAGE_LIMIT],
            where=region,
        )
        return TrailLookup(region, attribute, value, tuple(events), failure, pages=pages)
    if max_events is not None:
        events = events[:max_events]
    return TrailLookup(region, attribute, value, tuple(events), truncated=bool(token), pages=pages)


@dataclass(slots=True)
class ActivityFetch:
    """One principal's records from every region searched, and the regions that failed."""

    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[LookupFailure] = field(default_factory=list)
    regions: tuple[str, ...] = ()
    pages: int = 0

    @property
    def complete(self) -> bool:
        return not self.failures


def get_principal_events(
    ctx: Any,
    *,
    regions: Sequence[str],
    attribute: str,
    value: str,
    since: datetime | None,
    until: datetime | None,
    max_workers: int = 8,
    min_interval: float = LOOKUP_MIN_INTERVAL,
    account: str | None = None,
) -> ActivityFetch:
    """``LookupEvents`` by one attribute (``Username`` or ``AccessKeyId``) in every region
    at once (each region under the shared pacer); a failed region is a failure, never
    "no activity". Events whose CloudTrail record cannot be parsed are left out."""
    fetch = ActivityFetch(regions=tuple(regions))
    if not regions:
        return fetch
    limiter = (
        None
        if min_interval == LOOKUP_MIN_INTERVAL
        else RateLimiter(1.0 / min_interval if min_interval > 0 else float("inf"))
    )

    def one(region: str) -> TrailLookup:
        return lookup_events(
            ctx,
            region=region,
            attribute=attribute,
            value=value,
            start=since,
            end=until,
            limiter=limiter,
            account=account,
        )

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(regions)))) as pool:
        results = list(pool.map(one, regions))
    for result in results:
        fetch.records.extend(e.record for e in result.events if e.record is not None)
        fetch.pages += result.pages
        if result.failure is not None:
            fetch.failures.append(result.failure)
    return fetch


# ------------------------------------------------------------ regions


def enabled_regions(ctx: Any) -> tuple[tuple[str, ...], LookupFailure | None]:
    """The one region lister: regions enabled for the account (``ec2:DescribeRegions``),
    or the failure."""
    try:
        answer = ctx.client("ec2").describe_regions(AllRegions=False)
    except LOOKUP_ERRORS as exc:
        return (), LookupFailure(
            "ec2:DescribeRegions", error_code(exc), error_message(exc), where=ctx.region
        )
    names = sorted(str(r["RegionName"]) for r in answer.get("Regions", []) if r.get("RegionName"))
    return tuple(names), None
