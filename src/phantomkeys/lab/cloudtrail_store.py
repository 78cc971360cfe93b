"""The lab's CloudTrail: an event store with ``LookupEvents`` semantics and a log-file writer.

Record shapes follow CloudTrail's (docs/aws-facts.md "CloudTrail"; AWS "CloudTrail record
contents"): ``eventVersion``, ``userIdentity``, ``eventTime``, ``eventSource``,
``eventName``, ``awsRegion``, ``sourceIPAddress``, ``userAgent``,
``requestParameters``, ``responseElements``, ``additionalEventData``,
``requestID``, ``eventID``, ``readOnly``, ``eventType``, ``managementEvent``,
``recipientAccountId``, ``eventCategory``, ``tlsDetails``.

``LookupEvents`` (botocore ``cloudtrail`` model; docs/aws-facts.md "CloudTrail"): one lookup
attribute per call (EventId, EventName, ReadOnly, Username, ResourceType,
ResourceName, EventSource, AccessKeyId); StartTime/EndTime; newest first;
MaxResults 1..50 (default 50) with NextToken; management events of the last 90
days, in the region they were recorded in (IAM's in us-east-1).

Nothing here imports moto or boto3: the server, the seeder and tests share it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from phantomkeys.core.timeparse import parse_iso

LOOKUP_ATTRIBUTES = (
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
)
MAX_RESULTS = 50
RETENTION = timedelta(days=90)
EVENT_VERSION = "1.09"


class LookupError_(Exception):
    """A LookupEvents request AWS would refuse: ``code`` is the CloudTrail error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ records

_IAM_RESOURCE_PARAMS = (
    ("userName", "AWS::IAM::User"),
    ("groupName", "AWS::IAM::Group"),
    ("roleName", "AWS::IAM::Role"),
    ("policyArn", "AWS::IAM::Policy"),
    ("accessKeyId", "AWS::IAM::AccessKey"),
    ("serviceSpecificCredentialId", "AWS::IAM::ServiceSpecificCredential"),
)


def resources_for(record: dict[str, Any]) -> list[dict[str, str]]:
    """The ``Resources`` LookupEvents shows, from the record's parameters and response."""
    explicit = record.get("resources")
    if explicit:
        out = []
        for res in explicit:
            name = res.get("ARN") or res.get("resourceName") or ""
            out.append({"ResourceType": res.get("type", ""), "ResourceName": name})
        return out
    found: list[dict[str, str]] = []
    params = record.get("requestParameters") or {}
    response = record.get("responseElements") or {}
    flat_response: dict[str, Any] = {}
    if isinstance(response, dict):
        for value in response.values():
            if isinstance(value, dict):
                flat_response.update(value)
    for key, rtype in _IAM_RESOURCE_PARAMS:
        value = params.get(key) if isinstance(params, dict) else None
        value = value or flat_response.get(key)
        if isinstance(value, str) and value:
            found.append({"ResourceType": rtype, "ResourceName": value})
    return found


def username_for(record: dict[str, Any]) -> str | None:
    """LookupEvents' ``Username``: the IAM user, the role session, or root."""
    ident = record.get("userIdentity") or {}
    match ident.get("type"):
        case "IAMUser":
            return str(ident.get("userName") or ident.get("arn", "").rsplit("/", 1)[-1])
        case "AssumedRole":
            return str(ident.get("arn", "").rsplit("/", 1)[-1])
        case "Root":
            return "root"
        case _:
            return ident.get("userName")


def make_record(
    *,
    event_name: str,
    event_source: str,
    event_time: datetime,
    account_id: str,
    region: str,
    user_identity: dict[str, Any],
    source_ip: str = "127.0.0.1",
    user_agent: str = "aws-cli/2.22.0 md/Botocore#1.35.0 ua/2.0 os/linux",
    request_parameters: dict[str, Any] | None = None,
    response_elements: dict[str, Any] | None = None,
    additional_event_data: dict[str, Any] | None = None,
    read_only: bool = False,
    error_code: str | None = None,
    error_message: str | None = None,
    event_id: str | None = None,
    host: str | None = None,
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": user_identity,
        "eventTime": iso(event_time),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": request_parameters,
        "responseElements": response_elements,
    }
    if additional_event_data is not None:
        record["additionalEventData"] = additional_event_data
    if error_code:
        record["errorCode"] = error_code
        record["errorMessage"] = error_message or ""
    record.update(
        {
            "requestID": str(
                uuid.UUID(
                    bytes=hashlib.md5(  # noqa: S324 - an id, not security
                        f"req|{event_id or ''}|{event_name}|{event_time.isoformat()}".encode()
                    ).digest()
                )
            ),
            "eventID": event_id or str(uuid.uuid4()),
            "readOnly": read_only,
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": account_id,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": host or _default_host(event_source, region),
            },
        }
    )
    return record


def _default_host(event_source: str, region: str) -> str:
    service = event_source.split(".", 1)[0]
    if service == "iam":
        return "iam.amazonaws.com"
    if service == "bedrock":
        return f"bedrock-runtime.{region}.amazonaws.com"
    return f"{service}.{region}.amazonaws.com"


# ------------------------------------------------------------------ store


@dataclass(frozen=True, slots=True)
class StoredEvent:
    time: datetime
    seq: int
    record: dict[str, Any]

    @property
    def account_id(self) -> str:
        return str(self.record.get("recipientAccountId", ""))

    @property
    def region(self) -> str:
        return str(self.record.get("awsRegion", ""))


class EventStore:
    """Thread-safe, picklable store of CloudTrail records across accounts and regions."""

    def __init__(self) -> None:
        self._events: list[StoredEvent] = []
        self._seq = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            return {"events": list(self._events), "seq": self._seq}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._events = state["events"]
        self._seq = state["seq"]
        self._lock = threading.Lock()

    def add(self, record: dict[str, Any]) -> None:
        time = parse_iso(record["eventTime"])
        with self._lock:
            self._seq += 1
            self._events.append(StoredEvent(time, self._seq, record))

    def extend(self, records: Iterable[dict[str, Any]]) -> int:
        count = 0
        for record in records:
            self.add(record)
            count += 1
        return count

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e.record for e in sorted(self._events, key=lambda e: (e.time, e.seq))]

    def __len__(self) -> int:
        return len(self._events)

    def lookup(
        self, *, account_id: str, region: str, request: dict[str, Any], at: datetime
    ) -> dict[str, Any]:
        """Answer a LookupEvents request body (already JSON-decoded) like AWS does."""
        attrs = request.get("LookupAttributes") or []
        if len(attrs) > 1:
            raise LookupError_(
                "InvalidLookupAttributesException",
                "You cannot specify more than one lookup attribute.",
            )
        key = value = None
        if attrs:
            key, value = attrs[0].get("AttributeKey"), attrs[0].get("AttributeValue")
            if key not in LOOKUP_ATTRIBUTES:
                raise LookupError_(
                    "InvalidLookupAttributesException", f"Lookup attribute key {key} is not valid."
                )
        max_results = request.get("MaxResults", MAX_RESULTS)
        if not isinstance(max_results, int) or not 1 <= max_results <= MAX_RESULTS:
            raise LookupError_(
                "InvalidMaxResultsException", "MaxResults must be a number between 1 and 50."
            )
        start = _epoch(request.get("StartTime"))
        end = _epoch(request.get("EndTime"))
        if start and end and start > end:
            raise LookupError_("InvalidTimeRangeException", "Start time must be before end time.")
        if request.get("EventCategory") not in (None, "insight"):
            raise LookupError_("InvalidEventCategoryException", "Invalid EventCategory.")
        if request.get("EventCategory") == "insight":
            return {"Events": []}
        oldest = at - RETENTION
        with self._lock:
            candidates = [
                e
                for e in self._events
                if e.account_id == account_id
                and e.region == region
                and e.record.get("managementEvent", True)
                and e.time >= oldest
                and e.time <= at
                and (start is None or e.time >= start)
                and (end is None or e.time <= end)
                and (key is None or _matches(e.record, key, value))
            ]
        candidates.sort(key=lambda e: (e.time, e.seq), reverse=True)
        offset = 0
        token = request.get("NextToken")
        if token:
            offset = _decode_token(token, account_id, region)
        page = candidates[offset : offset + max_results]
        out: dict[str, Any] = {"Events": [to_lookup_event(e.record) for e in page]}
        if offset + len(page) < len(candidates):
            out["NextToken"] = _encode_token(offset + len(page), account_id, region)
        return out


def _epoch(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return parse_iso(str(value))


def _matches(record: dict[str, Any], key: str, value: Any) -> bool:
    match key:
        case "EventId":
            return bool(record.get("eventID") == value)
        case "EventName":
            return bool(record.get("eventName") == value)
        case "EventSource":
            return bool(record.get("eventSource") == value)
        case "ReadOnly":
            return str(bool(record.get("readOnly"))).lower() == str(value).lower()
        case "Username":
            return bool(username_for(record) == value)
        case "AccessKeyId":
            return bool((record.get("userIdentity") or {}).get("accessKeyId") == value)
        case "ResourceType":
            return any(r["ResourceType"] == value for r in resources_for(record))
        case "ResourceName":
            return any(r["ResourceName"] == value for r in resources_for(record))
    return False


def _encode_token(offset: int, account_id: str, region: str) -> str:
    raw = json.dumps({"o": offset, "a": account_id, "r": region}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: str, account_id: str, region: str) -> int:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        if data["a"] != account_id or data["r"] != region:
            raise ValueError
        offset = int(data["o"])
    except (ValueError, KeyError, TypeError):
        raise LookupError_("InvalidNextTokenException", "Invalid NextToken.") from None
    return offset


def to_lookup_event(record: dict[str, Any]) -> dict[str, Any]:
    """A record as LookupEvents returns it (CloudTrailEvent is the JSON text)."""
    out: dict[str, Any] = {
        "EventId": record.get("eventID"),
        "EventName": record.get("eventName"),
        "ReadOnly": str(bool(record.get("readOnly"))).lower(),
        "EventTime": parse_iso(record["eventTime"]).timestamp(),
        "EventSource": record.get("eventSource"),
        "Resources": resources_for(record),
        "CloudTrailEvent": json.dumps(record, separators=(",", ":")),
    }
    access_key = (record.get("userIdentity") or {}).get("accessKeyId")
    if access_key:
        out["AccessKeyId"] = access_key
    username = username_for(record)
    if username:
        out["Username"] = username
    return out


# ------------------------------------------------------------------ log files


def write_log_files(
    records: Iterable[dict[str, Any]],
    directory: Path,
    *,
    per_file: int = 50,
    org_id: str | None = None,
) -> list[Path]:
    """Write records as CloudTrail delivers them to S3.

    ``AWSLogs/[<org-id>/]<acct>/CloudTrail/<region>/YYYY/MM/DD/
    <acct>_CloudTrail_<region>_YYYYMMDDTHHmmZ_<16 chars>.json.gz``, each a gzip JSON
    ``{"Records": [...]}`` (docs/aws-facts.md "CloudTrail"). Files are grouped by account, region
    and 5-minute delivery window; file names are deterministic.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for record in records:
        when = parse_iso(record["eventTime"])
        window = when.replace(minute=when.minute - when.minute % 5, second=0, microsecond=0)
        key = (
            str(record.get("recipientAccountId")),
            str(record.get("awsRegion")),
            window.strftime("%Y%m%dT%H%MZ"),
        )
        groups.setdefault(key, []).append(record)
    written: list[Path] = []
    for (account, region, stamp), recs in sorted(groups.items()):
        day = datetime.strptime(stamp, "%Y%m%dT%H%MZ")
        folder = directory / "AWSLogs"
        if org_id:
            folder = folder / org_id
        folder = folder / account / "CloudTrail" / region / day.strftime("%Y/%m/%d")
        folder.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(recs), per_file):
            chunk = recs[start : start + per_file]
            digest = hashlib.sha256(
                "".join(r.get("eventID", "") for r in chunk).encode()
            ).hexdigest()
            suffix = base64.b32encode(bytes.fromhex(digest[:20])).decode()[:16]
            path = folder / f"{account}_CloudTrail_{region}_{stamp}_{suffix}.json.gz"
            payload = json.dumps({"Records": chunk}, separators=(",", ":")).encode()
            path.write_bytes(gzip.compress(payload, mtime=0))
            written.append(path)
    return written
