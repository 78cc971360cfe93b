"""Key formats: decode and encode every supported API key, offline and pure.

Formats (``docs/aws-facts.md`` "Key formats"):

* long-term: ``<prefix>`` + base64(``<user>[+N]-at-<account>:<secret>``), prefix
  ``ABSK`` (Bedrock) or ``AEAA`` (Claude Platform). The ``+N`` marker on a
  user's second key is reported by a third party and unconfirmed by AWS, so it
  is accepted whether or not it is present.
* short-term: ``<prefix>`` + base64(SigV4 presigned URL without scheme +
  ``&Version=1``), prefix ``bedrock-api-key-`` or
  ``aws-external-anthropic-api-key-``. ``&Version=1`` sits *inside* the
  base64 payload, after the signature.

The secret never leaves this module except through :meth:`DecodedKey.reveal`:
it is kept out of reprs, ``to_dict`` (unless asked), and every error message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from phantomkeys.surfaces import SURFACES, Surface, SurfaceId, partition_for_region

#: Short-term keys live at most 12 hours (token generators' TOKEN_DURATION).
MAX_SHORT_TERM_SECONDS = 43_200

_ACCOUNT_RE = re.compile(r"^\d{12}$")
# IAM user names: 1-64 of [\w+=,.@-] (IAM API reference, CreateUser).
_IAM_USER_RE = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)
_MARKER_RE = re.compile(r"^(?P<user>.+)\+(?P<n>\d{1,3})$")
_SECRET_RE = re.compile(r"^[\x21-\x7e]+$")
_ACCESS_KEY_RE = re.compile(r"^(AKIA|ASIA)[A-Z2-7]{12,124}$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_AMZ_DATE_FMT = "%Y%m%dT%H%M%SZ"
_ENV_ASSIGN_RE = re.compile(r"^(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*\s*[=:]\s*")
_JSON_PAIR_RE = re.compile(r"^[\"']?[A-Za-z_][\w.-]*[\"']?\s*:\s+(.+)$")
_BEARER_RE = re.compile(r"^(?:authorization\s*[:=]\s*)?bearer\s+", re.IGNORECASE)


class KeyKind(StrEnum):
    LONG_TERM = "long-term"
    SHORT_TERM = "short-term"


class KeyPosition(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


class KeyDecodeError(ValueError):
    """A key could not be decoded. The message never contains key material."""

    def __init__(
        self, reason: str, *, surface: SurfaceId | None = None, kind: KeyKind | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.surface = surface
        self.kind = kind


@dataclass(frozen=True, slots=True)
class DecodedKey:
    """The public facts of a key. ``repr`` and ``to_dict`` never hold the secret."""

    surface: SurfaceId
    kind: KeyKind
    account_id: str | None
    #: sha256 of the whole normalised key: a stable id that reveals nothing.
    token_sha256: str
    # long-term
    username: str | None = None
    iam_user_arn: str | None = None
    key_position: KeyPosition | None = None
    key_marker: str | None = None
    secret_sha256: str | None = None
    # short-term
    access_key_id: str | None = None
    region: str | None = None
    issued_at: datetime | None = None
    expires_at: datetime | None = None
    signed_service: str | None = None
    signed_host: str | None = None
    has_session_token: bool = False
    account_id_source: str | None = None
    _secret: str = field(default="", repr=False, compare=False)

    @property
    def access_key_type(self) -> str | None:
        return self.access_key_id[:4] if self.access_key_id else None

    @property
    def lifetime_seconds(self) -> int | None:
        if self.issued_at is None or self.expires_at is None:
            return None
        return int((self.expires_at - self.issued_at).total_seconds())

    @property
    def partition(self) -> str:
        if self.iam_user_arn:
            return self.iam_user_arn.split(":")[1]
        return partition_for_region(self.region)

    def expired(self, at: datetime) -> bool | None:
        """Expiry relative to ``at``; ``None`` for long-term keys (the key does not say)."""
        if self.expires_at is None:
            return None
        return at >= self.expires_at

    def reveal(self) -> str:
        """The secret part (long-term) or the whole bearer token (short-term)."""
        return self._secret

    def to_dict(self, *, at: datetime, reveal: bool = False) -> dict[str, Any]:
        """JSON fields as in docs/architecture.md ``decode``; the secret only with ``reveal``."""
        out: dict[str, Any] = {
            "valid": True,
            "surface": self.surface.value,
            "kind": self.kind.value,
            "account_id": self.account_id,
        }
        if self.kind is KeyKind.LONG_TERM:
            out.update(
                username=self.username,
                iam_user_arn=self.iam_user_arn,
                key_position=self.key_position.value if self.key_position else None,
                key_marker=self.key_marker,
                secret_sha256=self.secret_sha256,
            )
        else:
            out.update(
                access_key_id=self.access_key_id,
                access_key_type=self.access_key_type,
                region=self.region,
                issued_at=_iso(self.issued_at),
                expires_at=_iso(self.expires_at),
                lifetime_seconds=self.lifetime_seconds,
                expired=self.expired(at),
                signed_service=self.signed_service,
                signed_host=self.signed_host,
                has_session_token=self.has_session_token,
                account_id_source=self.account_id_source,
            )
        out["token_sha256"] = self.token_sha256
        if reveal:
            out["secret"] = self._secret
        return out


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


# ---------------------------------------------------------------- normalising


def normalize(text: str) -> str:
    """Strip what people paste around a key.

    Whitespace, quotes, trailing ``,``/``;``, an ``Authorization: Bearer``
    header, ``AWS_BEARER_TOKEN_BEDROCK=`` or any ``NAME=`` / ``export NAME=``
    assignment, a JSON ``"name": "key"`` pair and escaped ``\\/``.
    """
    s = text.strip()
    for _ in range(4):  # layered wrappers: export X="Bearer ABSK...",
        before = s
        s = s.strip().rstrip(",;").strip()
        pair = _JSON_PAIR_RE.match(s)  # "name": "value" pasted from JSON or YAML
        if pair:
            s = pair.group(1).strip()
        if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'`":
            s = s[1:-1].strip()
        s = _BEARER_RE.sub("", s)
        if not s.startswith(_ALL_PREFIXES):
            s = _ENV_ASSIGN_RE.sub("", s)
        s = s.strip().strip("\"'`").strip()
        if s == before:
            break
    s = s.replace("\\/", "/")
    if s.endswith(("\\n", "\\r")):
        s = s[:-2]
    return s


_ALL_PREFIXES = tuple(
    p for surf in SURFACES for p in (surf.long_term_key_prefix, surf.short_term_key_prefix)
)


def _b64decode(data: str, what: str, surface: Surface, kind: KeyKind) -> bytes:
    body = data.strip()
    if not body:
        raise KeyDecodeError(f"{what} is empty after the prefix", surface=surface.id, kind=kind)
    if re.search(r"\s", body):
        body = re.sub(r"\s+", "", body)
    if "-" in body or "_" in body:  # URL-safe alphabet, e.g. after a web form
        body = body.replace("-", "+").replace("_", "/")
    stripped = body.rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9+/]*", stripped):
        raise KeyDecodeError(
            f"bad base64 in {what}: characters outside the base64 alphabet",
            surface=surface.id,
            kind=kind,
        )
    if len(stripped) % 4 == 1:
        raise KeyDecodeError(
            f"bad base64 in {what}: truncated (length {len(stripped)} is impossible)",
            surface=surface.id,
            kind=kind,
        )
    body = stripped + "=" * (-len(stripped) % 4)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise KeyDecodeError(
            f"bad base64 in {what}: characters outside the base64 alphabet",
            surface=surface.id,
            kind=kind,
        ) from None


def _utf8(raw: bytes, what: str, surface: Surface, kind: KeyKind) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyDecodeError(f"{what} is not UTF-8 text", surface=surface.id, kind=kind) from None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def detect(key: str) -> tuple[Surface, KeyKind] | None:
    """Which surface and kind a (normalised) key claims to be, by prefix."""
    for surface in SURFACES:
        if key.startswith(surface.short_term_key_prefix):
            return surface, KeyKind.SHORT_TERM
    for surface in SURFACES:
        if key.startswith(surface.long_term_key_prefix):
            return surface, KeyKind.LONG_TERM
    return None


# ------------------------------------------------------------------ decoding


def decode(text: str, *, partition: str = "aws") -> DecodedKey:
    """Decode any supported key. Raises :class:`KeyDecodeError` with a precise reason.

    ``partition`` is used for the IAM user ARN of long-term keys, which do not say
    which partition they belong to.
    """
    if not isinstance(text, str):
        raise KeyDecodeError("a key must be text")
    key = normalize(text)
    if not key:
        raise KeyDecodeError("empty input")
    found = detect(key)
    if found is None:
        raise KeyDecodeError(
            "unknown prefix: expected ABSK, AEAA, bedrock-api-key- or "
            "aws-external-anthropic-api-key-"
        )
    surface, kind = found
    if kind is KeyKind.LONG_TERM:
        return _decode_long_term(key, surface, partition)
    return _decode_short_term(key, surface)


def _decode_long_term(key: str, surface: Surface, partition: str) -> DecodedKey:
    kind = KeyKind.LONG_TERM
    raw = _b64decode(key[len(surface.long_term_key_prefix) :], "the key body", surface, kind)
    payload = _utf8(raw, "the decoded key body", surface, kind)
    alias, sep, secret = payload.partition(":")
    if not sep:
        raise KeyDecodeError(
            "missing ':' separator between the user part and the secret",
            surface=surface.id,
            kind=kind,
        )
    if not secret:
        raise KeyDecodeError("the secret part is empty", surface=surface.id, kind=kind)
    if not _SECRET_RE.match(secret):
        raise KeyDecodeError(
            "the secret part holds whitespace or non-printable characters",
            surface=surface.id,
            kind=kind,
        )
    user_part, sep, account = alias.rpartition("-at-")
    if not sep:
        raise KeyDecodeError(
            "missing '-at-' separator between user name and account id",
            surface=surface.id,
            kind=kind,
        )
    if not _ACCOUNT_RE.match(account):
        raise KeyDecodeError("account id is not 12 digits", surface=surface.id, kind=kind)
    marker: str | None = None
    username = user_part
    m = _MARKER_RE.match(user_part)
    if m:
        username, marker = m.group("user"), "+" + m.group("n")
    if not _IAM_USER_RE.match(username):
        raise KeyDecodeError(
            "user name outside IAM's character set ([A-Za-z0-9+=,.@_-], 1-64 characters)",
            surface=surface.id,
            kind=kind,
        )
    if partition not in ("aws", "aws-us-gov", "aws-cn"):
        raise KeyDecodeError(f"unknown partition {partition!r}")
    return DecodedKey(
        surface=surface.id,
        kind=kind,
        account_id=account,
        token_sha256=_sha256(key),
        username=username,
        iam_user_arn=f"arn:{partition}:iam::{account}:user/{username}",
        key_position=KeyPosition.SECONDARY if marker else KeyPosition.PRIMARY,
        key_marker=marker,
        secret_sha256=_sha256(secret),
        _secret=secret,
    )


def _decode_short_term(key: str, surface: Surface) -> DecodedKey:
    kind = KeyKind.SHORT_TERM
    sid = surface.id

    def fail(reason: str) -> KeyDecodeError:
        return KeyDecodeError(reason, surface=sid, kind=kind)

    raw = _b64decode(key[len(surface.short_term_key_prefix) :], "the token body", surface, kind)
    url = _utf8(raw, "the decoded token", surface, kind)
    if "://" in url:
        url = url.split("://", 1)[1]
    try:
        parts = urlsplit("https://" + url)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise fail("the decoded token is not a presigned URL") from None
    if not host:
        raise fail("the decoded token is not a presigned URL (no host)")
    if host != surface.signing_host:
        raise fail(
            f"signed host {host!r} does not match the {surface.short_term_key_prefix!r} "
            f"prefix (expected {surface.signing_host!r})"
        )
    try:
        params = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True))
    except ValueError:
        raise fail("the presigned URL has a malformed query string") from None
    if params.get("Action") != "CallWithBearerToken":
        raise fail("the presigned URL is not for Action=CallWithBearerToken")
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
        raise fail("the presigned URL is not signed with AWS4-HMAC-SHA256")
    credential = params.get("X-Amz-Credential", "")
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise fail("X-Amz-Credential is not '<access key>/<date>/<region>/<service>/aws4_request'")
    access_key_id, scope_date, region, service, _ = scope
    if not _ACCESS_KEY_RE.match(access_key_id):
        raise fail("the signing access key id is not an AKIA or ASIA key id")
    if not _REGION_RE.match(region):
        raise fail("the signing region is not a region name")
    if service != surface.signing_service:
        raise fail(f"signed for service {service!r}, expected {surface.signing_service!r}")
    try:
        issued = datetime.strptime(params.get("X-Amz-Date", ""), _AMZ_DATE_FMT).replace(tzinfo=UTC)
    except ValueError:
        raise fail("X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ") from None
    if issued.strftime("%Y%m%d") != scope_date:
        raise fail("X-Amz-Date does not match the credential scope date")
    expires_raw = params.get("X-Amz-Expires", "")
    if not expires_raw.isdigit():
        raise fail("X-Amz-Expires is missing or not a number of seconds")
    lifetime = int(expires_raw)
    if lifetime < 1:
        raise fail("lifetime is zero")
    if lifetime > MAX_SHORT_TERM_SECONDS:
        raise fail(f"lifetime of {lifetime} s is over 12 hours ({MAX_SHORT_TERM_SECONDS} s)")
    signature = params.get("X-Amz-Signature", "")
    if not re.fullmatch(r"[0-9a-f]{64}", signature):
        raise fail("X-Amz-Signature is missing or not 64 hex digits")
    if params.get("X-Amz-SignedHeaders", "").lower() != "host":
        raise fail("X-Amz-SignedHeaders is not 'host'")
    token = params.get("X-Amz-Security-Token")
    if access_key_id.startswith("ASIA") and not token:
        raise fail("an ASIA (session) signature has no X-Amz-Security-Token")
    account, source = _account_from_session_token(token) if token else (None, None)
    if account is None:
        account = account_id_from_access_key_id(access_key_id)
        source = "access-key-id" if account else None
    return DecodedKey(
        surface=sid,
        kind=kind,
        account_id=account,
        token_sha256=_sha256(key),
        access_key_id=access_key_id,
        region=region,
        issued_at=issued,
        expires_at=issued + timedelta(seconds=lifetime),
        signed_service=service,
        signed_host=host,
        has_session_token=bool(token),
        account_id_source=source,
        _secret=key,
    )


def _account_from_session_token(token: str) -> tuple[str | None, str | None]:
    """STS session tokens carry the account id in clear inside their base64 body."""
    stripped = token.rstrip("=")
    try:
        raw = base64.b64decode(stripped + "=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        return None, None
    m = re.search(rb"(?<!\d)(\d{12})(?!\d)", raw)
    return (m.group(1).decode(), "session-token") if m else (None, None)


def account_id_from_access_key_id(access_key_id: str) -> str | None:
    """The account id encoded in an access key id (keys issued since 2019).

    Characters 5-… of the id are base32; bits 1-40 of the first 6 bytes, shifted
    right by 7, are the account number. Public technique; AWS does not document
    it, so callers label the result with its source.
    """
    body = access_key_id[4:]
    if len(body) < 12:
        return None
    try:
        raw = base64.b32decode(body[:16] + "=" * (-len(body[:16]) % 8))
    except (binascii.Error, ValueError):
        return None
    value = int.from_bytes(raw[:6], "big")
    account = (value & 0x7FFFFFFFFF80) >> 7
    return f"{account:012d}" if 0 < account < 10**12 else None


def access_key_id_for_account(account_id: str, *, session: bool, entropy: bytes) -> str:
    """Build an access key id that encodes ``account_id`` (used by the lab and tests)."""
    value = (int(account_id) << 7) | (entropy[0] & 0x7F)
    raw = value.to_bytes(6, "big") + entropy[1:5].ljust(4, b"\0")
    body = base64.b32encode(raw).decode().rstrip("=")[:16]
    return ("ASIA" if session else "AKIA") + body


# ------------------------------------------------------------------ encoding


def encode_long_term(
    surface: Surface,
    *,
    username: str,
    account_id: str,
    secret: str,
    marker: int | None = None,
) -> str:
    """Build a long-term key in the real format (the lab mints keys with this)."""
    if not _ACCOUNT_RE.match(account_id):
        raise ValueError("account id must be 12 digits")
    if not _IAM_USER_RE.match(username):
        raise ValueError("user name outside IAM's character set")
    if not secret or not _SECRET_RE.match(secret):
        raise ValueError("secret must be printable ASCII without spaces")
    user_part = f"{username}+{marker}" if marker is not None else username
    payload = f"{user_part}-at-{account_id}:{secret}"
    return surface.long_term_key_prefix + base64.b64encode(payload.encode()).decode()


def _sigv4_signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    k = ("AWS4" + secret_key).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def presign_bearer_url(
    surface: Surface,
    *,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    issued_at: datetime,
    lifetime_seconds: int = MAX_SHORT_TERM_SECONDS,
    session_token: str | None = None,
) -> str:
    """SigV4 query-presign ``POST https://<host>/?Action=CallWithBearerToken``.

    The same canonical request AWS's token generators build with botocore's
    ``SigV4QueryAuth`` (checked against ``aws-bedrock-token-generator`` in tests).
    """
    if not 1 <= lifetime_seconds <= MAX_SHORT_TERM_SECONDS:
        raise ValueError("lifetime must be 1..43200 seconds")
    amz_date = issued_at.astimezone(UTC).strftime(_AMZ_DATE_FMT)
    date = amz_date[:8]
    scope = f"{date}/{region}/{surface.signing_service}/aws4_request"
    query: list[tuple[str, str]] = [
        ("Action", "CallWithBearerToken"),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", f"{access_key_id}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(lifetime_seconds)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    if session_token:
        query.append(("X-Amz-Security-Token", session_token))
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query)
    )
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            canonical_query,
            f"host:{surface.signing_host}",
            "",
            "host",
            hashlib.sha256(b"").hexdigest(),
        ]
    )
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    signing_key = _sigv4_signing_key(secret_access_key, date, region, surface.signing_service)
    signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    # botocore keeps insertion order in the URL (the signature covers the sorted form).
    url_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query)
    return f"{surface.signing_host}/?{url_query}&X-Amz-Signature={signature}"


def encode_short_term(surface: Surface, presigned_url: str) -> str:
    """Wrap a presigned URL (with or without scheme) as a short-term key."""
    url = presigned_url.split("://", 1)[1] if "://" in presigned_url else presigned_url
    return surface.short_term_key_prefix + base64.b64encode((url + "&Version=1").encode()).decode()


def mint_short_term(
    surface: Surface,
    *,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    issued_at: datetime,
    lifetime_seconds: int = MAX_SHORT_TERM_SECONDS,
    session_token: str | None = None,
) -> str:
    """Presign and encode a short-term key in one step."""
    return encode_short_term(
        surface,
        presign_bearer_url(
            surface,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            region=region,
            issued_at=issued_at,
            lifetime_seconds=lifetime_seconds,
            session_token=session_token,
        ),
    )


def redact(key: str, keep: int = 8) -> str:
    """A preview safe to print: the prefix and a few characters, never the secret."""
    found = detect(key)
    prefix_len = 0
    if found:
        surface, kind = found
        prefix_len = len(
            surface.long_term_key_prefix
            if kind is KeyKind.LONG_TERM
            else surface.short_term_key_prefix
        )
    head = key[: prefix_len + keep]
    return f"{head}…[{max(len(key) - len(head), 0)} chars redacted]"
