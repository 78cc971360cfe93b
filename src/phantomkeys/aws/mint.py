"""AWS adapters for the safer path: ``mint`` and ``least-privilege``.

* :func:`resolve_signer` reads the caller's current credentials through the
  standard chain (profiles, SSO, assumed roles, instance and container roles,
  environment) and says whether they are long-term (``AKIA``) or a session.
* :func:`mint_key` builds a short-term key with AWS's token generator library
  for the surface (``aws-bedrock-token-generator``,
  ``token-generator-for-aws-external-anthropic``) when it is installed, or with
  phantomkeys' own presigner (:func:`phantomkeys.core.keys.mint_short_term`,
  byte-identical, proven in ``tests/core/test_keys.py``).
* :func:`get_principal_events` reads a principal's CloudTrail history with
  ``LookupEvents`` in several regions at once, each under the documented
  2 requests/s; a failed region is a :class:`LookupFailure`, never "no activity".
* :func:`download_s3_logs` fetches CloudTrail log files from S3 for the window.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
from botocore.credentials import Credentials

from phantomkeys.aws.session import (
    LOOKUP_ERRORS,
    SETUP_ERRORS,
    AwsContext,
    AwsSetupError,
    error_code,
    error_message,
    profile_not_found,
)
from phantomkeys.core import keys as keycodec
from phantomkeys.core.model import LookupFailure
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM, Surface, SurfaceId

__all__ = [
    "ActivityFetch",
    "Generator",
    "LookupFailure",
    "MintedKey",
    "Signer",
    "download_s3_logs",
    "get_caller",
    "get_enabled_regions",
    "get_principal_events",
    "mint_key",
    "official_generator",
    "resolve_signer",
]

#: LookupEvents allows 2 requests per second per account and region
#: (docs/aws-facts.md "CloudTrail").
LOOKUP_MIN_INTERVAL = 0.5


# ------------------------------------------------------------------ signer


@dataclass(frozen=True, slots=True)
class Signer:
    """The credentials a short-term key will be signed with. The secret never prints."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    #: botocore's name for where they came from: env, shared-credentials-file,
    #: assume-role, sso, iam-role, container-role, ...
    method: str | None = None
    #: When the session ends, if botocore knows it.
    expires_at: datetime | None = None
    region: str | None = None

    @property
    def long_term(self) -> bool:
        """An IAM user's access key (``AKIA``): never ends on its own."""
        return self.access_key_id.startswith("AKIA") or (
            not self.access_key_id.startswith("ASIA") and not self.session_token
        )

    def credentials(self) -> Credentials:
        return Credentials(self.access_key_id, self.secret_access_key, self.session_token)


def resolve_signer(profile: str | None = None, region: str | None = None) -> Signer:
    """The caller's current credentials, frozen. Raises :class:`AwsSetupError` with a reason."""
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
        creds = session.get_credentials()
        if creds is None:
            raise AwsSetupError(
                "no AWS credentials found (environment, profile, SSO or "
                "instance role); run 'aws sso login' or pass --profile"
            )
        frozen = creds.get_frozen_credentials()
    except botocore.exceptions.ProfileNotFound as exc:
        raise AwsSetupError(profile_not_found(profile, exc)) from None
    except SETUP_ERRORS as exc:
        raise AwsSetupError(f"AWS credentials: {error_message(exc)}") from None
    except LOOKUP_ERRORS as exc:  # an assume-role profile whose AssumeRole failed
        raise AwsSetupError(f"AWS credentials: {error_code(exc)}: {error_message(exc)}") from None
    if not frozen.access_key or not frozen.secret_key:
        raise AwsSetupError("the resolved AWS credentials are incomplete")
    # RefreshableCredentials keep the session's end in a private attribute;
    # botocore has no public accessor (botocore/credentials.py).
    expiry = getattr(creds, "_expiry_time", None)
    expires_at = expiry.astimezone(UTC) if isinstance(expiry, datetime) else None
    return Signer(
        access_key_id=frozen.access_key,
        secret_access_key=frozen.secret_key,
        session_token=frozen.token or None,
        method=getattr(creds, "method", None),
        expires_at=expires_at,
        # botocore reads AWS_DEFAULT_REGION; AWS CLI v2, the other SDKs and AWS's token
        # generators also read AWS_REGION.
        region=session.region_name or os.environ.get("AWS_REGION") or None,
    )


# ------------------------------------------------------------------ minting


class Generator(StrEnum):
    #: AWS's library for the surface when installed, else phantomkeys' presigner.
    AUTO = "auto"
    #: AWS's token generator library (fails if it is not installed).
    AWS = "aws"
    #: phantomkeys' own presigner (core/keys.py), byte-identical to AWS's.
    BUILTIN = "builtin"


#: The official generator package of each surface: (import name, distribution name).
_OFFICIAL: dict[SurfaceId, tuple[str, str]] = {
    BEDROCK.id: ("aws_bedrock_token_generator", "aws-bedrock-token-generator"),
    CLAUDE_PLATFORM.id: (
        "token_generator_for_aws_external_anthropic",
        "token-generator-for-aws-external-anthropic",
    ),
}


@dataclass(frozen=True, slots=True)
class MintedKey:
    token: str = field(repr=False)
    #: ``aws-bedrock-token-generator 1.1.0`` or ``phantomkeys``.
    generator: str


def official_generator(surface: Surface) -> tuple[Any, str] | None:
    """The surface's AWS generator module and ``name version``, or None when not installed."""
    module_name, dist = _OFFICIAL[surface.id]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = str(getattr(module, "__version__", "?"))
    return module, f"{dist} {version}"


class _FixedProvider:
    """A botocore credential provider that returns the given credentials."""

    METHOD = "phantomkeys"

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def load(self) -> Credentials:
        return self._credentials


def mint_key(
    surface: Surface,
    signer: Signer,
    *,
    region: str,
    lifetime_seconds: int,
    generator: Generator = Generator.AUTO,
    clock: Callable[[], datetime] | None = None,
) -> MintedKey:
    """A short-term key for ``surface`` signed with ``signer``.

    AWS's libraries read the time through botocore; the builtin presigner uses
    ``clock`` (the wall clock by default), which is what tests freeze.
    """
    if not 1 <= lifetime_seconds <= keycodec.MAX_SHORT_TERM_SECONDS:
        raise ValueError("lifetime must be 1..43200 seconds")
    official = official_generator(surface) if generator is not Generator.BUILTIN else None
    if generator is Generator.AWS and official is None:
        raise AwsSetupError(
            f"{_OFFICIAL[surface.id][1]} is not installed (pip install {_OFFICIAL[surface.id][1]})"
        )
    if official is not None:
        module, name = official
        expiry = timedelta(seconds=lifetime_seconds)
        if surface.id is SurfaceId.BEDROCK:
            token = module.provide_token(
                region=region,
                expiry=expiry,
                aws_credentials_provider=_FixedProvider(signer.credentials()),
            )
        else:
            token = module.get_token(credentials=signer.credentials(), region=region, expiry=expiry)
        return MintedKey(str(token), name)
    now = (clock or (lambda: datetime.now(UTC)))()
    token = keycodec.mint_short_term(
        surface,
        access_key_id=signer.access_key_id,
        secret_access_key=signer.secret_access_key,
        region=region,
        issued_at=now,
        lifetime_seconds=lifetime_seconds,
        session_token=signer.session_token,
    )
    return MintedKey(token, "phantomkeys")


# ------------------------------------------------------------------ CloudTrail


@dataclass(slots=True)
class ActivityFetch:
    records: list[dict[str, Any]] = field(default_factory=list)
    failures: list[LookupFailure] = field(default_factory=list)
    regions: tuple[str, ...] = ()
    pages: int = 0

    @property
    def complete(self) -> bool:
        return not self.failures


def get_caller(ctx: AwsContext) -> tuple[str, str]:
    """(account id, caller ARN) from ``sts:GetCallerIdentity``."""
    ident = ctx.client("sts").get_caller_identity()
    return str(ident["Account"]), str(ident["Arn"])


def get_enabled_regions(ctx: AwsContext) -> tuple[tuple[str, ...], LookupFailure | None]:
    """Regions enabled for the account (``ec2:DescribeRegions``)."""
    try:
        answer = ctx.client("ec2").describe_regions(AllRegions=False)
    except LOOKUP_ERRORS as exc:
        return (), LookupFailure(
            "ec2:DescribeRegions", error_code(exc), error_message(exc), where=ctx.region
        )
    names = sorted(str(r["RegionName"]) for r in answer.get("Regions", []) if r.get("RegionName"))
    return tuple(names), None


class _Pacer:
    """At most one call per ``interval`` seconds (LookupEvents' 2 requests/s per region)."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self._interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self._interval
        if delay > 0:
            time.sleep(delay)


def _lookup_region(
    ctx: AwsContext,
    region: str,
    attribute: str,
    value: str,
    since: datetime | None,
    until: datetime | None,
    interval: float,
) -> tuple[list[dict[str, Any]], int, LookupFailure | None]:
    client = ctx.client("cloudtrail", region)
    pacer = _Pacer(interval)
    request: dict[str, Any] = {
        "LookupAttributes": [{"AttributeKey": attribute, "AttributeValue": value}],
        "MaxResults": 50,
    }
    if since is not None:
        request["StartTime"] = since
    if until is not None:
        request["EndTime"] = until
    records: list[dict[str, Any]] = []
    pages = 0
    token: str | None = None
    try:
        while True:
            pacer.wait()
            answer = client.lookup_events(**request, **({"NextToken": token} if token else {}))
            pages += 1
            for event in answer.get("Events", []):
                raw = event.get("CloudTrailEvent")
                if not isinstance(raw, str):
                    continue
                try:
                    record = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
            token = answer.get("NextToken")
            if not token:
                return records, pages, None
    except LOOKUP_ERRORS as exc:
        return (
            records,
            pages,
            LookupFailure(
                "cloudtrail:LookupEvents", error_code(exc), error_message(exc), where=region
            ),
        )


def get_principal_events(
    ctx: AwsContext,
    *,
    regions: Sequence[str],
    attribute: str,
    value: str,
    since: datetime | None,
    until: datetime | None,
    max_workers: int = 8,
    min_interval: float = LOOKUP_MIN_INTERVAL,
) -> ActivityFetch:
    """``LookupEvents`` by one attribute (``Username`` or ``AccessKeyId``) in every region."""
    fetch = ActivityFetch(regions=tuple(regions))
    if not regions:
        return fetch
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(regions)))) as pool:
        results = list(
            pool.map(
                lambda r: _lookup_region(ctx, r, attribute, value, since, until, min_interval),
                regions,
            )
        )
    for records, pages, failure in results:
        fetch.records.extend(records)
        fetch.pages += pages
        if failure is not None:
            fetch.failures.append(failure)
    return fetch


def download_s3_logs(
    ctx: AwsContext,
    uri: str,
    destination: Path,
    *,
    since: datetime | None,
    until: datetime | None,
) -> tuple[list[Path], list[LookupFailure]]:
    """Download the CloudTrail files under ``s3://bucket/prefix`` that can hold the window.

    Files are chosen by their S3-layout date folder (``…/YYYY/MM/DD/``), so a
    90-day window does not list or fetch a year of logs. Digest files are skipped.
    """
    from phantomkeys.core.logfiles import date_in_range, path_date

    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not bucket:
        problem = "expected s3://bucket/prefix"
        return [], [LookupFailure("s3:ListObjectsV2", "InvalidUri", problem, where=uri)]
    client = ctx.client("s3")
    written: list[Path] = []
    failures: list[LookupFailure] = []
    try:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = str(obj["Key"])
                if "CloudTrail-Digest" in key or not key.endswith((".json", ".json.gz", ".gz")):
                    continue
                if not date_in_range(path_date("/" + key), since, until):
                    continue
                target = destination / key
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    client.download_file(bucket, key, str(target))
                except LOOKUP_ERRORS as exc:
                    failures.append(
                        LookupFailure(
                            "s3:GetObject",
                            error_code(exc),
                            error_message(exc),
                            where=f"s3://{bucket}/{key}",
                        )
                    )
                    continue
                written.append(target)
    except LOOKUP_ERRORS as exc:
        failures.append(
            LookupFailure("s3:ListObjectsV2", error_code(exc), error_message(exc), where=uri)
        )
    return written, failures
