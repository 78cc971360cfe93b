"""AWS adapters for the safer path: ``mint`` and ``least-privilege``.

* :func:`resolve_signer` reads the caller's current credentials through the
  standard chain (profiles, SSO, assumed roles, instance and container roles,
  environment) and says whether they are long-term (``AKIA``) or a session.
* :func:`mint_key` builds a short-term key with AWS's token generator library
  for the surface (``aws-bedrock-token-generator``,
  ``token-generator-for-aws-external-anthropic``) when it is installed, or with
  phantomkeys' own presigner (:func:`phantomkeys.core.keys.mint_short_term`,
  byte-identical, proven in ``tests/core/test_keys.py``).

least-privilege reads CloudTrail through the one adapter, ``aws/cloudtrail.py``.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
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
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM, Surface, SurfaceId

__all__ = [
    "Generator",
    "MintedKey",
    "Signer",
    "get_caller",
    "mint_key",
    "official_generator",
    "resolve_signer",
]


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


# ------------------------------------------------------------------ caller


def get_caller(ctx: AwsContext) -> tuple[str, str]:
    """(account id, caller ARN) from ``sts:GetCallerIdentity``."""
    ident = ctx.client("sts").get_caller_identity()
    return str(ident["Account"]), str(ident["Arn"])
