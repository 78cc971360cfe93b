"""The key codec: formats, tolerance, strictness, and that the secret never leaks."""

from __future__ import annotations

import base64
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phantomkeys.core import keys
from phantomkeys.core.keys import KeyDecodeError, KeyKind, KeyPosition
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM, SURFACES

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
SECRET = "Zm9vYmFyQmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6QUJD"

iam_names = st.text(string.ascii_letters + string.digits + "+=,.@_-", min_size=1, max_size=64)
accounts = st.from_regex(r"\A\d{12}\Z")
secrets = st.text(string.ascii_letters + string.digits + "+/=:", min_size=8, max_size=90)
surfaces = st.sampled_from(SURFACES)


def long_key(
    username: str = "BedrockAPIKey-hr8l",
    account: str = "123456789012",
    secret: str = SECRET,
    surface=BEDROCK,
    marker: int | None = None,
) -> str:
    return keys.encode_long_term(
        surface, username=username, account_id=account, secret=secret, marker=marker
    )


def short_key(
    surface=BEDROCK,
    akid: str = "ASIAY34FZKBOKMUTVV7A",
    region: str = "eu-west-1",
    lifetime: int = 43200,
    token: str | None = "IQoJb3JpZ2luX2VjEAAaCXVzLWVhc3QtMSJH",  # noqa: S107
    at: datetime = T0,
) -> str:
    return keys.mint_short_term(
        surface,
        access_key_id=akid,
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region=region,
        issued_at=at,
        lifetime_seconds=lifetime,
        session_token=token if akid.startswith("ASIA") else None,
    )


# --------------------------------------------------------------- long-term


def test_long_term_bedrock_fields():
    d = keys.decode(long_key())
    assert d.surface is BEDROCK.id
    assert d.kind is KeyKind.LONG_TERM
    assert d.account_id == "123456789012"
    assert d.username == "BedrockAPIKey-hr8l"
    assert d.iam_user_arn == "arn:aws:iam::123456789012:user/BedrockAPIKey-hr8l"
    assert d.key_position is KeyPosition.PRIMARY
    assert d.secret_sha256 == __import__("hashlib").sha256(SECRET.encode()).hexdigest()


def test_gitleaks_reference_prefix_decodes_to_bedrock_user():
    # gitleaks' test key starts ABSKQmVkcm9ja0FQSUtleS1 (DOMAIN-FACTS §1).
    assert long_key().startswith("ABSKQmVkcm9ja0FQSUtleS1")


def test_claude_platform_long_term():
    k = long_key("AeaApiKey-x9k2", surface=CLAUDE_PLATFORM)
    assert k.startswith("AEAA")
    d = keys.decode(k)
    assert d.surface is CLAUDE_PLATFORM.id and d.username == "AeaApiKey-x9k2"


@pytest.mark.parametrize("marker", [None, 1, 2])
def test_secondary_marker_handled_with_or_without(marker):
    d = keys.decode(long_key(marker=marker))
    assert d.username == "BedrockAPIKey-hr8l"
    expected = KeyPosition.PRIMARY if marker is None else KeyPosition.SECONDARY
    assert d.key_position is expected
    assert d.key_marker == (None if marker is None else f"+{marker}")


@pytest.mark.parametrize("partition", ["aws", "aws-us-gov", "aws-cn"])
def test_partition_in_arn(partition):
    d = keys.decode(long_key(), partition=partition)
    assert d.iam_user_arn == f"arn:{partition}:iam::123456789012:user/BedrockAPIKey-hr8l"


def test_user_name_containing_at_separator():
    d = keys.decode(long_key("bob-at-home", "210987654321"))
    assert d.username == "bob-at-home" and d.account_id == "210987654321"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    surface=surfaces,
    username=iam_names,
    account=accounts,
    secret=secrets,
    marker=st.one_of(st.none(), st.integers(1, 9)),
)
def test_long_term_round_trip(surface, username, account, secret, marker):
    # A user name that itself ends in "+<digits>" is indistinguishable from a marker.
    if keys._MARKER_RE.match(username):
        return
    d = keys.decode(
        keys.encode_long_term(
            surface, username=username, account_id=account, secret=secret, marker=marker
        )
    )
    assert (d.surface, d.username, d.account_id) == (surface.id, username, account)
    assert d.reveal() == secret
    assert (d.key_marker is not None) == (marker is not None)


# -------------------------------------------------------------- short-term


@pytest.mark.parametrize("surface", SURFACES)
@pytest.mark.parametrize("akid", ["ASIAY34FZKBOKMUTVV7A", "AKIAY34FZKBOKMUTVV7A"])
@pytest.mark.parametrize("region", ["us-east-1", "eu-central-1", "us-gov-west-1"])
def test_short_term_fields(surface, akid, region):
    d = keys.decode(short_key(surface, akid=akid, region=region, lifetime=3600))
    assert d.kind is KeyKind.SHORT_TERM and d.surface is surface.id
    assert d.access_key_id == akid and d.access_key_type == akid[:4]
    assert d.region == region
    assert d.issued_at == T0 and d.expires_at == T0 + timedelta(hours=1)
    assert d.signed_service == surface.signing_service and d.signed_host == surface.signing_host
    assert d.has_session_token == akid.startswith("ASIA")
    assert d.expired(T0 + timedelta(minutes=59)) is False
    assert d.expired(T0 + timedelta(hours=1)) is True


def test_account_from_access_key_id_encoding():
    akid = keys.access_key_id_for_account("210987654321", session=True, entropy=b"\x05abcd")
    assert akid.startswith("ASIA")
    assert keys.account_id_from_access_key_id(akid) == "210987654321"
    d = keys.decode(short_key(akid=akid, token="opaque-token"))
    assert d.account_id == "210987654321" and d.account_id_source == "access-key-id"


def test_account_from_session_token_wins():
    token = base64.b64encode(b"\x01\x02 arn:aws:sts::444455556666:assumed-role/x").decode()
    d = keys.decode(short_key(token=token))
    assert d.account_id == "444455556666" and d.account_id_source == "session-token"


def test_short_term_encoded_prefix_matches_reference():
    assert short_key().startswith(
        "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbFdpdGhCZWFyZXJUb2tl"
    )
    assert short_key(CLAUDE_PLATFORM).startswith(
        "aws-external-anthropic-api-key-YXdzLWV4dGVybmFsLWFudGhyb3BpYy5hbWF6b25hd3MuY29tLz9BY3Rpb249"
    )


@settings(max_examples=150)
@given(
    surface=surfaces,
    region=st.sampled_from(["us-east-1", "eu-west-3", "ap-south-1", "cn-north-1"]),
    lifetime=st.integers(1, 43200),
    minutes=st.integers(0, 10**6),
    session=st.booleans(),
)
def test_short_term_round_trip(surface, region, lifetime, minutes, session):
    at = T0 + timedelta(minutes=minutes)
    akid = ("ASIA" if session else "AKIA") + "Y34FZKBOKMUTVV7A"
    d = keys.decode(short_key(surface, akid=akid, region=region, lifetime=lifetime, at=at))
    assert (d.region, d.issued_at, d.lifetime_seconds) == (region, at, lifetime)
    assert d.partition == ("aws-cn" if region.startswith("cn-") else "aws")


# ------------------------------------------------------------- real signer


@pytest.mark.parametrize(
    "akid,token",
    [
        ("AKIAIOSFODNN7EXAMPLE", None),
        ("ASIAIOSFODNN7EXAMPLE", "IQoJb3JpZ2luX2VjEM//////////wEaCXVzLWVhc3QtMSJHMEUCIQ=="),
    ],
)
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-northeast-1"])
def test_matches_aws_bedrock_token_generator(akid, token, region, monkeypatch):
    """Our presigner produces byte-identical tokens to AWS's own generator."""
    generator = pytest.importorskip("aws_bedrock_token_generator")
    from botocore.credentials import Credentials

    creds = Credentials(akid, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", token)

    class Provider:
        def load(self):
            return creds

    official = generator.provide_token(region=region, aws_credentials_provider=Provider())
    decoded = keys.decode(official)
    assert decoded.region == region and decoded.access_key_id == akid
    assert decoded.lifetime_seconds == keys.MAX_SHORT_TERM_SECONDS
    ours = keys.mint_short_term(
        BEDROCK,
        access_key_id=akid,
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region=region,
        issued_at=decoded.issued_at,
        session_token=token,
    )
    assert ours == official


@pytest.mark.parametrize("lifetime", [900, 3600, 43200])
def test_claude_platform_presign_equals_botocore_sigv4(lifetime):
    """The Claude Platform signer uses botocore's SigV4QueryAuth like AWS's generator."""
    from botocore.auth import SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    creds = Credentials("ASIAIOSFODNN7EXAMPLE", "secretkey", "sessiontoken==")
    request = AWSRequest(
        method="POST",
        url="https://aws-external-anthropic.amazonaws.com/",
        headers={"host": "aws-external-anthropic.amazonaws.com"},
        params={"Action": "CallWithBearerToken"},
    )
    SigV4QueryAuth(creds, "aws-external-anthropic", "us-west-2", expires=lifetime).add_auth(request)
    url = request.url.replace("https://", "")
    official = keys.encode_short_term(CLAUDE_PLATFORM, url)
    issued = keys.decode(official).issued_at
    ours = keys.mint_short_term(
        CLAUDE_PLATFORM,
        access_key_id="ASIAIOSFODNN7EXAMPLE",
        secret_access_key="secretkey",
        region="us-west-2",
        issued_at=issued,
        lifetime_seconds=lifetime,
        session_token="sessiontoken==",
    )
    assert ours == official
    assert keys.decode(official).lifetime_seconds == lifetime


# --------------------------------------------------------------- tolerance


@pytest.mark.parametrize(
    "wrap",
    [
        "{k}",
        "  {k}\n",
        '"{k}"',
        "'{k}',",
        "{k},",
        "{k};",
        "`{k}`",
        "Authorization: Bearer {k}",
        "authorization: bearer {k}\r\n",
        "Bearer {k}",
        "AWS_BEARER_TOKEN_BEDROCK={k}",
        'export AWS_BEARER_TOKEN_BEDROCK="{k}"',
        '"api_key": "{k}",',
        "{k}\\n",
    ],
)
def test_tolerates_paste_noise(wrap):
    key = long_key()
    assert keys.decode(wrap.format(k=key)).username == "BedrockAPIKey-hr8l"
    skey = short_key()
    assert keys.decode(wrap.format(k=skey)).region == "eu-west-1"


def test_missing_padding_and_json_escaped_slashes():
    key = long_key(secret="a/b/c+d=")
    unpadded = key.rstrip("=")
    assert unpadded != key or "=" not in key
    assert keys.decode(unpadded).reveal() == "a/b/c+d="
    assert keys.decode(key.replace("/", "\\/")).reveal() == "a/b/c+d="
    st_key = short_key().rstrip("=")
    assert keys.decode(st_key).region == "eu-west-1"


# ------------------------------------------------------------- strictness


def _b64(prefix: str, payload: bytes) -> str:
    return prefix + base64.b64encode(payload).decode()


@pytest.mark.parametrize(
    "text,reason",
    [
        ("", "empty input"),
        ("   ", "empty input"),
        ("AKIAIOSFODNN7EXAMPLE", "unknown prefix"),
        ("ABSK", "empty after the prefix"),
        ("ABSK!!!notbase64", "outside the base64 alphabet"),
        ("ABSKQmVkc", "truncated"),
        (_b64("ABSK", b"\xff\xfe\xfd\xfc"), "not UTF-8"),
        (_b64("ABSK", b"BedrockAPIKey-abcd-at-123456789012"), "missing ':'"),
        (_b64("ABSK", b"BedrockAPIKey-abcd-at-123456789012:"), "secret part is empty"),
        (_b64("ABSK", b"BedrockAPIKey-abcd-123456789012:secret"), "missing '-at-'"),
        (_b64("ABSK", b"BedrockAPIKey-abcd-at-12345:secret"), "not 12 digits"),
        (_b64("ABSK", b"Bedrock API Key-at-123456789012:secret"), "IAM's character set"),
        (_b64("ABSK", b"BedrockAPIKey-abcd-at-123456789012:sec ret"), "whitespace"),
        (_b64("bedrock-api-key-", b"example.com/?Action=CallWithBearerToken"), "signed host"),
        (_b64("bedrock-api-key-", b"bedrock.amazonaws.com/?Action=Other"), "Action="),
    ],
)
def test_rejects_with_precise_reason(text, reason):
    with pytest.raises(KeyDecodeError) as exc:
        keys.decode(text)
    assert reason in exc.value.reason


def _tamper(key: str, old: str, new: str) -> str:
    body = base64.b64decode(key[len(BEDROCK.short_term_key_prefix) :]).decode()
    assert old in body
    return (
        BEDROCK.short_term_key_prefix + base64.b64encode(body.replace(old, new).encode()).decode()
    )


@pytest.mark.parametrize(
    "old,new,reason",
    [
        ("X-Amz-Expires=43200", "X-Amz-Expires=43201", "over 12 hours"),
        ("X-Amz-Expires=43200", "X-Amz-Expires=0", "zero"),
        ("X-Amz-Expires=43200", "X-Amz-Expires=soon", "not a number"),
        ("%2Fbedrock%2F", "%2Fs3%2F", "signed for service"),
        ("%2Feu-west-1%2F", "%2FEU_WEST%2F", "region"),
        ("X-Amz-Date=20261129T100000Z", "X-Amz-Date=20261130T100000Z", "scope date"),
        ("AWS4-HMAC-SHA256", "HMAC-MD5", "AWS4-HMAC-SHA256"),
        ("ASIAY34FZKBOKMUTVV7A", "XXXXY34FZKBOKMUTVV7A", "AKIA or ASIA"),
    ],
)
def test_short_term_rejections(old, new, reason):
    with pytest.raises(KeyDecodeError) as exc:
        keys.decode(_tamper(short_key(), old, new))
    assert reason in exc.value.reason


def test_asia_without_session_token_rejected():
    key = short_key(akid="ASIAY34FZKBOKMUTVV7A", token=None)
    with pytest.raises(KeyDecodeError, match="no X-Amz-Security-Token"):
        keys.decode(key)


# ------------------------------------------------------------ secret hygiene


def _surfaces_of_leak(d: keys.DecodedKey, secret: str) -> list[str]:
    texts = [repr(d), str(d), str(d.to_dict(at=T0))]
    return [t for t in texts if secret in t]


def test_secret_absent_from_repr_and_dict():
    d = keys.decode(long_key())
    assert not _surfaces_of_leak(d, SECRET)
    assert d.to_dict(at=T0, reveal=True)["secret"] == SECRET


def test_short_term_signature_and_token_absent():
    token = "IQoJb3JpZ2luX2VjEAAaCXVzLWVhc3QtMSJHsecrettokenmaterial"
    k = short_key(token=token)
    d = keys.decode(k)
    out = repr(d) + str(d.to_dict(at=T0))
    assert token not in out and k not in out
    sig = base64.b64decode(k[len("bedrock-api-key-") :]).decode().split("X-Amz-Signature=")[1][:64]
    assert sig not in out


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=300),
        st.builds(
            lambda p, s: p + s,
            st.sampled_from(
                ["ABSK", "AEAA", "bedrock-api-key-", "aws-external-anthropic-api-key-"]
            ),
            st.text(max_size=200),
        ),
        st.builds(
            lambda p, b: p + base64.b64encode(b).decode(),
            st.sampled_from(
                ["ABSK", "AEAA", "bedrock-api-key-", "aws-external-anthropic-api-key-"]
            ),
            st.binary(max_size=200),
        ),
    )
)
def test_fuzz_only_own_error_and_no_leak(text):
    """Any input either decodes or raises KeyDecodeError, whose message never echoes it."""
    try:
        d = keys.decode(text)
    except KeyDecodeError as exc:
        message = str(exc)
    else:
        assert not _surfaces_of_leak(d, d.reveal()) or len(d.reveal()) < 8
        return
    secret_part = text.split(":", 1)[1] if ":" in text else ""
    if len(secret_part) >= 12:
        assert secret_part not in message


@settings(max_examples=1000, deadline=None)
@given(
    username=iam_names,
    account=accounts,
    secret=st.text(string.ascii_letters + string.digits + "+/", min_size=16, max_size=80),
)
def test_fuzz_secret_never_in_outputs(username, account, secret):
    if keys._MARKER_RE.match(username) or secret in username or secret in account:
        return
    d = keys.decode(
        keys.encode_long_term(BEDROCK, username=username, account_id=account, secret=secret)
    )
    assert secret not in repr(d)
    assert secret not in str(d.to_dict(at=T0))
    assert secret not in keys.redact(
        keys.encode_long_term(BEDROCK, username=username, account_id=account, secret=secret)
    )


def test_redact_keeps_only_a_preview():
    k = long_key()
    r = keys.redact(k)
    assert r.startswith("ABSK") and "redacted" in r and SECRET not in r
