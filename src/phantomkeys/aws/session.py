"""boto3 sessions and clients: AWS CLI conventions, bounded retries, call counting.

Every client phantomkeys creates goes through :class:`AwsContext`, so every
AWS call is counted by operation (``metadata.api_calls``) and retried with
botocore's ``standard`` mode on throttling (bounded attempts, capped backoff)
unless the user chose a retry mode (docs/aws-facts.md "Retries").
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config
from botocore.parsers import DEFAULT_TIMESTAMP_PARSER as _DEFAULT_TIMESTAMP_PARSER

from phantomkeys.surfaces import partition_for_region

#: Retries on throttling: botocore's ``standard`` mode (exponential backoff with
#: jitter, each wait capped at 20 s, throttling codes retried) with 5 attempts,
#: so one call waits at most about 1+2+4+8 s before it fails. ``legacy`` (the
#: botocore default) had a throttled 3,000-user scan still waiting after 500 s;
#: ``adaptive`` adds a client-side rate limiter that can stall a whole scan.
DEFAULT_RETRIES: dict[str, Any] = {"mode": "standard", "max_attempts": 5}
RETRY_MODES = ("legacy", "standard", "adaptive")


def retry_config(session: Any = None) -> dict[str, Any]:
    """The ``retries`` of every client.

    ``standard`` with :data:`DEFAULT_RETRIES` unless the user chose: a mode or
    attempt count set in ``AWS_RETRY_MODE`` / ``AWS_MAX_ATTEMPTS`` or in the
    profile's ``retry_mode`` / ``max_attempts`` (AWS config file) is left to
    botocore, which reads them as the AWS CLI does. ``session``: the botocore
    session whose profile to look at (None: environment only).
    """
    config: dict[str, Any] = dict(DEFAULT_RETRIES)
    scoped: dict[str, Any] = {}
    if session is not None:
        try:
            scoped = dict(session.get_scoped_config())
        except Exception:  # a broken profile is reported where the session is made
            scoped = {}
    mode = os.environ.get("AWS_RETRY_MODE") or scoped.get("retry_mode")
    if mode in RETRY_MODES:
        config["mode"] = mode
    attempts = str(os.environ.get("AWS_MAX_ATTEMPTS") or scoped.get("max_attempts") or "")
    if attempts.isdigit() and int(attempts) >= 1:
        config["max_attempts"] = int(attempts)
    return config


#: Error codes botocore's standard mode retries as throttling.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


class AwsSetupError(Exception):
    """Credentials or profile problems a user can fix (shown as one line, exit 2)."""


def profile_not_found(profile: str | None, exc: BaseException | None = None) -> str:
    """The message for a missing profile, naming it even when it came from
    ``AWS_PROFILE`` (``profile`` is then None)."""
    name = profile or getattr(exc, "kwargs", {}).get("profile") or os.environ.get("AWS_PROFILE")
    where = "" if profile else " (from AWS_PROFILE)" if os.environ.get("AWS_PROFILE") else ""
    return f"AWS profile {name!r}{where} not found in your AWS config"


class CallCounter:
    """Thread-safe count of API calls by operation (retries are not counted twice)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def _on_call(self, model: Any = None, **_: Any) -> None:
        if model is None:
            return
        name = f"{model.service_model.endpoint_prefix}:{model.name}"
        with self._lock:
            self.calls[name] += 1

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call", self._on_call)
        return client

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            by_op = dict(sorted(self.calls.items()))
        return {"total": sum(by_op.values()), "by_operation": by_op}

    def merge(self, other: CallCounter) -> None:
        with self._lock:
            self.calls.update(other.calls)


def _fast_timestamp(value: Any) -> Any:
    """ISO-8601 timestamps parsed by the C parser; botocore's dateutil path otherwise.

    IAM responses carry thousands of timestamps; dateutil costs ~0.2 ms each.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return _DEFAULT_TIMESTAMP_PARSER(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return _DEFAULT_TIMESTAMP_PARSER(value)


def _install_fast_timestamps(session: boto3.session.Session) -> None:
    try:
        factory = session._session.get_component("response_parser_factory")
        factory.set_parser_defaults(timestamp_parser=_fast_timestamp)
    except Exception:
        return


@dataclass
class AwsContext:
    """A boto3 session plus the conventions every client shares."""

    session: boto3.session.Session
    counter: CallCounter = field(default_factory=CallCounter)
    max_pool: int = 16
    #: Called with the operation name each time AWS throttles a call and the
    #: client waits to retry (progress shows "waiting on throttling").
    on_throttle: Callable[[str], None] | None = None
    _clients: dict[tuple[str, str | None], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        _install_fast_timestamps(self.session)

    @classmethod
    def from_cli(cls, profile: str | None = None, region: str | None = None) -> AwsContext:
        """Standard credential chain, SSO profiles, ``AWS_ENDPOINT_URL`` (the lab)."""
        from phantomkeys.aws.regions import RegionError, validate_region

        try:
            session = boto3.session.Session(profile_name=profile, region_name=region)
        except botocore.exceptions.ProfileNotFound as exc:
            raise AwsSetupError(profile_not_found(profile, exc)) from None
        if session.region_name is not None and region is None:
            # From AWS_REGION / AWS_DEFAULT_REGION or the profile: checked like --region.
            try:
                validate_region(session.region_name, option="configured region")
            except RegionError as exc:
                raise AwsSetupError(str(exc)) from None
        if session.region_name is None:
            session = boto3.session.Session(profile_name=profile, region_name="us-east-1")
        return cls(session=session)

    @property
    def region(self) -> str:
        return self.session.region_name or "us-east-1"

    @property
    def partition(self) -> str:
        return partition_for_region(self.region)

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                config = Config(
                    retries=retry_config(self.session._session),
                    max_pool_connections=self.max_pool,
                    user_agent_extra="phantomkeys",
                )
                kwargs: dict[str, Any] = {"config": config, "region_name": region or self.region}
                endpoint = os.environ.get("AWS_ENDPOINT_URL")
                if endpoint:
                    kwargs["endpoint_url"] = endpoint
                try:
                    client = self.session.client(service, **kwargs)
                except botocore.exceptions.NoRegionError:
                    raise AwsSetupError("no AWS region configured; pass --region") from None
                client.meta.events.register("needs-retry", self._on_retry)
                self._clients[key] = self.counter.attach(client)
            return self._clients[key]

    def _on_retry(self, response: Any = None, operation: Any = None, **_: Any) -> None:
        """Observe (never decide) a retry: report throttling to :attr:`on_throttle`."""
        listener = self.on_throttle
        if listener is None or not response:
            return None
        try:
            code = response[1].get("Error", {}).get("Code")
        except (AttributeError, IndexError, TypeError):
            return None
        if code in THROTTLING_CODES:
            listener(getattr(operation, "name", "a call"))
        return None

    def child(self, session: boto3.session.Session) -> AwsContext:
        """A context for another session (an assumed role) sharing this call counter."""
        return AwsContext(
            session=session,
            counter=self.counter,
            max_pool=self.max_pool,
            on_throttle=self.on_throttle,
        )


def error_code(exc: BaseException) -> str:
    """A short, stable code for any AWS failure (for LookupFailure and messages)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "NoCredentials"
    if isinstance(exc, botocore.exceptions.TokenRetrievalError | botocore.exceptions.SSOError):
        return "SSOTokenExpired"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return "EndpointConnectionError"
    return type(exc).__name__


def error_message(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Message") or exc)
    return str(exc)


#: Exceptions that mean "this lookup failed" (never "nothing there").
LOOKUP_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
)

SETUP_ERRORS: tuple[type[BaseException], ...] = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.ProfileNotFound,
    botocore.exceptions.SSOError,
    botocore.exceptions.TokenRetrievalError,
    botocore.exceptions.NoRegionError,
)


def signing_access_key_id(ctx: AwsContext) -> str | None:
    """The access key id of the credentials ``ctx`` signs its calls with (None when it
    cannot be told without a call)."""
    try:
        creds = ctx.session.get_credentials()
    except botocore.exceptions.BotoCoreError:
        return None
    value = getattr(creds, "access_key", None) if creds is not None else None
    return value if isinstance(value, str) and value else None


@contextlib.contextmanager
def fresh_default_session() -> Iterator[None]:
    """boto3's default session forgotten for the duration, then put back: it caches the
    credentials it resolved first (the demo points the SDK at the lab this way)."""
    saved = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = None
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION = saved
