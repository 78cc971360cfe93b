"""CloudTrail traffic shapes for the incident tests (slow abuse, benign volume, mediums)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT = "111122223333"
OFFICE = "203.0.113.10"
ATTACKER = "45.148.10.77"
SDK = (
    "Boto3/1.35.10 md/Botocore#1.35.10 ua/2.0 os/linux#5.10.223 md/arch#x86_64 "
    "lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.10"
)
T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)

#: Where each plane records the bearer flag and which operation invokes a model.
PLANES = {
    "bedrock": ("bedrock.amazonaws.com", "InvokeModel"),
    "mantle": ("bedrock-mantle.amazonaws.com", "CreateInference"),
    "claude": ("aws-external-anthropic.amazonaws.com", "CreateInference"),
}


def _id(*parts: Any) -> str:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]
    return str(uuid.UUID(digest, version=4))


def call(
    user: str,
    at: datetime,
    *,
    plane: str = "bedrock",
    ip: str = OFFICE,
    agent: str = SDK,
    region: str = "us-east-1",
    name: str | None = None,
    bearer: bool = True,
) -> dict[str, Any]:
    source, invoke = PLANES[plane]
    params: dict[str, Any] = {"modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0"}
    extra: dict[str, Any] | None = None
    if plane == "bedrock":
        extra = {"callWithBearerToken": True} if bearer else None
    else:
        params = {"model": "claude-sonnet-4-5"}
        if bearer:
            params |= {"callWithBearerToken": True, "bearerTokenType": "ABSK"}
    rec: dict[str, Any] = {
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDA" + hashlib.md5(user.encode()).hexdigest()[:16].upper(),  # noqa: S324
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": ACCOUNT,
            "userName": user,
        },
        "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name or invoke,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
        "requestParameters": params,
        "responseElements": None,
        "requestID": _id("r", user, at, ip, name),
        "eventID": _id("e", user, at, ip, name, plane),
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }
    if extra is not None:
        rec["additionalEventData"] = extra
    return rec


def history(
    user: str, *, plane: str = "bedrock", days: int = 2, every_minutes: int = 30
) -> list[dict[str, Any]]:
    """A key's normal use: an SDK from the office, steadily."""
    n = days * 24 * 60 // every_minutes
    return [call(user, T0 + timedelta(minutes=i * every_minutes), plane=plane) for i in range(n)]


def slow_abuse(user: str, *, plane: str = "bedrock") -> list[dict[str, Any]]:
    """Two days of normal use, then curl from a never-seen IP: 300 calls over 30 minutes.

    50 calls per 5 minutes: below the 100-per-5-minutes spike.
    """
    start = T0 + timedelta(days=2, hours=3)
    abuse = [
        call(user, start + timedelta(seconds=6 * i), plane=plane, ip=ATTACKER, agent="curl/8.5.0")
        for i in range(300)
    ]
    return history(user, plane=plane) + abuse


def benign_volume(user: str) -> list[dict[str, Any]]:
    """An SDK application from one IP: 150 calls every 5 minutes for six hours."""
    return [call(user, T0 + timedelta(seconds=2 * i)) for i in range(6 * 3600 // 2)]


def several_mediums(
    user: str,
    *,
    ip: str = ATTACKER,
    agent: str = "python-requests/2.32.3",
    region: str = "eu-west-3",
) -> list[dict[str, Any]]:
    """A day of normal use, then a few calls from a new IP, tool and region."""
    start = T0 + timedelta(days=1, hours=2)
    odd = [
        call(user, start + timedelta(minutes=i), ip=ip, agent=agent, region=region)
        for i in range(3)
    ]
    return history(user, days=1) + odd
