"""``leaks --verify``: does IAM still hold the user and an active credential of a key?

The leaked key itself is NEVER used to call anything: every lookup runs with
the caller's own credentials, through IAM's read-only APIs:

* long-term key: ``GetUser`` on the key's user, then
  ``ListServiceSpecificCredentials`` for that user and the surface's service;
* short-term key signed with an IAM user's access key (AKIA):
  ``GetAccessKeyLastUsed`` (which names the owning user) and ``ListAccessKeys``;
* short-term key signed by a session (ASIA): IAM cannot tell whether a session
  still exists, so the answer is ``unknown`` until the key expires.

Fail closed: a throttled, denied or failed lookup makes the key ``unknown``,
never ``dead``; ``dead`` needs a positive answer (``NoSuchEntity``, no
credential left, or the clock past the key's expiry). Keys of accounts other
than the caller's are ``unknown`` ("not the caller's account").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from phantomkeys.aws.session import LOOKUP_ERRORS, AwsContext, error_code, error_message
from phantomkeys.core.keys import DecodedKey, KeyKind
from phantomkeys.core.verification import Verification, VerifyStatus
from phantomkeys.surfaces import get_surface

_NO_SUCH_ENTITY = "NoSuchEntity"


@dataclass
class VerifyReport:
    """Verifications by ``token_sha256`` plus what the caller was."""

    verifications: dict[str, Verification] = field(default_factory=dict)
    caller_account: str | None = None
    caller_arn: str | None = None
    error: str | None = None

    @property
    def failed_lookups(self) -> int:
        return sum(1 for v in self.verifications.values() if v.failed_lookup)

    def to_dict(self, api_calls: dict[str, Any] | None = None) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for v in self.verifications.values():
            counts[v.status.value] = counts.get(v.status.value, 0) + 1
        out: dict[str, Any] = {
            "caller_account": self.caller_account,
            "caller_arn": self.caller_arn,
            "by_status": counts,
            "failed_lookups": self.failed_lookups,
        }
        if self.error:
            out["error"] = self.error
        if api_calls is not None:
            out["api_calls"] = api_calls
        return out


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _failed(what: str, exc: BaseException) -> Verification:
    code = error_code(exc)
    return Verification(
        VerifyStatus.UNKNOWN, f"{what} failed: {code}: {error_message(exc)}", error=code
    )


def verify_keys(ctx: AwsContext, keys: Iterable[DecodedKey], *, at: datetime) -> VerifyReport:
    """Check each distinct key once; never raises for an AWS failure."""
    report = VerifyReport()
    pending: list[DecodedKey] = []
    for key in {k.token_sha256: k for k in keys}.values():
        if key.expired(at):
            report.verifications[key.token_sha256] = Verification(
                VerifyStatus.DEAD, f"expired at {_iso(key.expires_at)}"
            )
        else:
            pending.append(key)
    if not pending:
        return report
    try:
        ident = ctx.client("sts").get_caller_identity()
    except LOOKUP_ERRORS as exc:
        report.error = f"{error_code(exc)}: {error_message(exc)}"
        for key in pending:
            report.verifications[key.token_sha256] = _failed("sts:GetCallerIdentity", exc)
        return report
    report.caller_account = str(ident.get("Account") or "")
    report.caller_arn = str(ident.get("Arn") or "")
    iam = ctx.client("iam")
    for key in pending:
        if key.account_id != report.caller_account:
            report.verifications[key.token_sha256] = Verification(
                VerifyStatus.UNKNOWN,
                f"the key belongs to account {key.account_id or 'unknown'}, the caller is in "
                f"{report.caller_account}; verify with credentials of that account",
            )
        elif key.kind is KeyKind.LONG_TERM:
            report.verifications[key.token_sha256] = _verify_long_term(iam, key, at)
        elif key.access_key_type == "AKIA":
            report.verifications[key.token_sha256] = _verify_access_key(iam, key)
        else:
            report.verifications[key.token_sha256] = Verification(
                VerifyStatus.UNKNOWN,
                "signed with temporary session credentials (ASIA): IAM cannot tell whether "
                f"the session is still valid; the key works until {_iso(key.expires_at)} "
                "unless the session is revoked",
            )
    return report


def _verify_long_term(iam: Any, key: DecodedKey, at: datetime) -> Verification:
    user = key.username or ""
    surface = get_surface(key.surface)
    try:
        iam.get_user(UserName=user)
    except LOOKUP_ERRORS as exc:
        if error_code(exc) == _NO_SUCH_ENTITY:
            return Verification(
                VerifyStatus.DEAD,
                f"IAM user {user} no longer exists",
                details={"user_exists": False},
            )
        return _failed("iam:GetUser", exc)
    credentials: list[dict[str, Any]] = []
    marker: str | None = None
    try:
        while True:
            kwargs: dict[str, Any] = {"UserName": user, "ServiceName": surface.credential_service}
            if marker:
                kwargs["Marker"] = marker
            page = iam.list_service_specific_credentials(**kwargs)
            credentials.extend(page.get("ServiceSpecificCredentials") or ())
            marker = page.get("Marker")
            if not page.get("IsTruncated") or not marker:
                break
    except LOOKUP_ERRORS as exc:
        if error_code(exc) == _NO_SUCH_ENTITY:
            return Verification(
                VerifyStatus.DEAD,
                f"IAM user {user} no longer exists",
                details={"user_exists": False},
            )
        return _failed("iam:ListServiceSpecificCredentials", exc)
    alias = f"{user}{key.key_marker or ''}-at-{key.account_id}"
    matched = [c for c in credentials if c.get("ServiceCredentialAlias") == alias]
    # Without the secret a key cannot be tied to one credential unless the alias
    # matches; then every credential of the user counts (fail closed).
    candidates = matched or credentials
    summary = [
        {
            "id": c.get("ServiceSpecificCredentialId"),
            "status": c.get("Status"),
            "expires": _iso(c.get("ExpirationDate"))
            if isinstance(c.get("ExpirationDate"), datetime)
            else None,
        }
        for c in candidates
    ]
    details: dict[str, Any] = {
        "user_exists": True,
        "credentials": summary,
        "matched_by_alias": bool(matched),
    }
    if not candidates:
        return Verification(
            VerifyStatus.DEAD,
            f"IAM user {user} has no {surface.credential_service} credential any more",
            details=details,
        )
    active = [
        c
        for c in candidates
        if c.get("Status") == "Active" and not _expired(c.get("ExpirationDate"), at)
    ]
    if active:
        which = (
            "the key's credential"
            if matched
            else f"{len(active)} active {surface.credential_service} credential(s) of the user"
        )
        return Verification(VerifyStatus.LIVE, f"{which} is active", details=details)
    if any(c.get("Status") == "Inactive" for c in candidates):
        return Verification(
            VerifyStatus.INACTIVE,
            "the credential exists but is Inactive (can be re-activated)",
            details=details,
        )
    return Verification(VerifyStatus.DEAD, "every matching credential has expired", details=details)


def _expired(value: Any, at: datetime) -> bool:
    if not isinstance(value, datetime):
        return False
    when = value if value.tzinfo else value.replace(tzinfo=UTC)
    return at >= when


def _verify_access_key(iam: Any, key: DecodedKey) -> Verification:
    akid = key.access_key_id or ""
    try:
        last = iam.get_access_key_last_used(AccessKeyId=akid)
    except LOOKUP_ERRORS as exc:
        if error_code(exc) == _NO_SUCH_ENTITY:
            return Verification(VerifyStatus.DEAD, f"access key {akid} no longer exists")
        return _failed("iam:GetAccessKeyLastUsed", exc)
    user = last.get("UserName")
    if not user:
        return Verification(VerifyStatus.UNKNOWN, f"IAM did not name the owner of {akid}")
    found: dict[str, Any] | None = None
    marker: str | None = None
    try:
        while found is None:
            kwargs: dict[str, Any] = {"UserName": user}
            if marker:
                kwargs["Marker"] = marker
            page = iam.list_access_keys(**kwargs)
            found = next(
                (k for k in page.get("AccessKeyMetadata") or () if k.get("AccessKeyId") == akid),
                None,
            )
            marker = page.get("Marker")
            if not page.get("IsTruncated") or not marker:
                break
    except LOOKUP_ERRORS as exc:
        if error_code(exc) == _NO_SUCH_ENTITY:
            return Verification(VerifyStatus.DEAD, f"IAM user {user} no longer exists")
        return _failed("iam:ListAccessKeys", exc)
    details = {"signing_user": user}
    if found is None:
        return Verification(
            VerifyStatus.DEAD, f"access key {akid} is no longer on user {user}", details=details
        )
    if found.get("Status") == "Active":
        return Verification(
            VerifyStatus.LIVE,
            f"signing access key {akid} of user {user} is active",
            details=details,
        )
    return Verification(
        VerifyStatus.INACTIVE, f"signing access key {akid} is Inactive", details=details
    )
