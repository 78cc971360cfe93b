"""--verify: IAM lookups with the caller's credentials; fail closed; never the leaked key."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from leakfixtures import ACCOUNT, KEYS, NOW

from phantomkeys.aws.verify import verify_keys
from phantomkeys.core import keys
from phantomkeys.core.findings import Severity
from phantomkeys.leaks import build_findings
from phantomkeys.leaks.model import KeyHit, LocatedHit, VerifyStatus
from phantomkeys.leaks.patterns import Encoding


def _error(code: str, op: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{code} on {op}"}}, op)


class FakeIam:
    """IAM as a dict of users; ``fail`` maps an operation to an error code."""

    def __init__(
        self,
        users: dict[str, list[dict[str, Any]]],
        access_keys: dict[str, list[dict[str, Any]]] | None = None,
        fail: dict[str, str] | None = None,
    ) -> None:
        self.users = users
        self.access_keys = access_keys or {}
        self.fail = fail or {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _call(self, op: str, kwargs: dict[str, Any]) -> None:
        self.calls.append((op, kwargs))
        if op in self.fail:
            raise _error(self.fail[op], op)

    def get_user(self, **kw: Any) -> dict[str, Any]:
        self._call("GetUser", kw)
        if kw["UserName"] not in self.users:
            raise _error("NoSuchEntity", "GetUser")
        return {"User": {"UserName": kw["UserName"]}}

    def list_service_specific_credentials(self, **kw: Any) -> dict[str, Any]:
        self._call("ListServiceSpecificCredentials", kw)
        creds = [
            c for c in self.users.get(kw["UserName"], []) if c["ServiceName"] == kw["ServiceName"]
        ]
        return {"ServiceSpecificCredentials": creds, "IsTruncated": False}

    def get_access_key_last_used(self, **kw: Any) -> dict[str, Any]:
        self._call("GetAccessKeyLastUsed", kw)
        for user, ak in self.access_keys.items():
            if any(k["AccessKeyId"] == kw["AccessKeyId"] for k in ak):
                return {"UserName": user, "AccessKeyLastUsed": {}}
        raise _error("NoSuchEntity", "GetAccessKeyLastUsed")

    def list_access_keys(self, **kw: Any) -> dict[str, Any]:
        self._call("ListAccessKeys", kw)
        return {"AccessKeyMetadata": self.access_keys.get(kw["UserName"], []), "IsTruncated": False}


class FakeSts:
    def __init__(self, account: str = ACCOUNT, fail: str | None = None) -> None:
        self.account = account
        self.fail = fail

    def get_caller_identity(self) -> dict[str, Any]:
        if self.fail:
            raise _error(self.fail, "GetCallerIdentity")
        return {"Account": self.account, "Arn": f"arn:aws:iam::{self.account}:user/auditor"}


class FakeCtx:
    def __init__(self, iam: FakeIam, sts: FakeSts | None = None) -> None:
        self.clients = {"iam": iam, "sts": sts or FakeSts()}

    def client(self, name: str, region: str | None = None) -> Any:
        return self.clients[name]


def _cred(
    service: str = "bedrock.amazonaws.com",
    status: str = "Active",
    alias: str | None = None,
    expires: Any = None,
) -> dict[str, Any]:
    c = {
        "ServiceName": service,
        "Status": status,
        "ServiceSpecificCredentialId": "ACCAEXAMPLE1",
        "UserName": "BedrockAPIKey-hr8l",
    }
    if alias:
        c["ServiceCredentialAlias"] = alias
    if expires:
        c["ExpirationDate"] = expires
    return c


LT = keys.decode(KEYS["lt_bedrock"].key)
ST_AKIA = keys.decode(KEYS["st_bedrock"].key)
ST_ASIA = keys.decode(KEYS["st_claude"].key)
ST_EXPIRED = keys.decode(KEYS["st_expired"].key)
OTHER = keys.decode(KEYS["lt_second"].key)


def _status(ctx: FakeCtx, key: keys.DecodedKey) -> Any:
    return verify_keys(ctx, [key], at=NOW).verifications[key.token_sha256]  # type: ignore[arg-type]


def test_live_user_with_active_credential() -> None:
    v = _status(FakeCtx(FakeIam({"BedrockAPIKey-hr8l": [_cred()]})), LT)
    assert v.status is VerifyStatus.LIVE


def test_alias_match_picks_the_keys_own_credential() -> None:
    alias = f"BedrockAPIKey-hr8l-at-{ACCOUNT}"
    iam = FakeIam(
        {
            "BedrockAPIKey-hr8l": [
                _cred(status="Inactive", alias=alias),
                _cred(alias="BedrockAPIKey-hr8l+2-at-x"),
            ]
        }
    )
    v = _status(FakeCtx(iam), LT)
    assert v.status is VerifyStatus.INACTIVE
    assert v.details["matched_by_alias"] is True


def test_deleted_user_is_dead() -> None:
    v = _status(FakeCtx(FakeIam({})), LT)
    assert v.status is VerifyStatus.DEAD
    assert "no longer exists" in v.reason


def test_user_without_credentials_is_dead_and_expired_credential_is_dead() -> None:
    assert _status(FakeCtx(FakeIam({"BedrockAPIKey-hr8l": []})), LT).status is VerifyStatus.DEAD
    old = _cred(expires=NOW - timedelta(days=1))
    assert _status(FakeCtx(FakeIam({"BedrockAPIKey-hr8l": [old]})), LT).status is VerifyStatus.DEAD
    # a credential of another service does not keep a Bedrock key alive
    other = _cred(service="codecommit.amazonaws.com")
    assert (
        _status(FakeCtx(FakeIam({"BedrockAPIKey-hr8l": [other]})), LT).status is VerifyStatus.DEAD
    )


@pytest.mark.parametrize("op", ["GetUser", "ListServiceSpecificCredentials"])
@pytest.mark.parametrize("code", ["AccessDenied", "Throttling", "ServiceFailure"])
def test_failed_lookup_is_unknown_never_dead(op: str, code: str) -> None:
    v = _status(FakeCtx(FakeIam({"BedrockAPIKey-hr8l": []}, fail={op: code})), LT)
    assert v.status is VerifyStatus.UNKNOWN
    assert v.error == code
    assert v.failed_lookup


def test_caller_identity_failure_makes_everything_unknown() -> None:
    ctx = FakeCtx(FakeIam({}), FakeSts(fail="ExpiredToken"))
    report = verify_keys(ctx, [LT, ST_AKIA], at=NOW)  # type: ignore[arg-type]
    assert {v.status for v in report.verifications.values()} == {VerifyStatus.UNKNOWN}
    assert report.failed_lookups == 2
    assert "ExpiredToken" in (report.error or "")


def test_other_accounts_keys_are_unknown_without_any_call() -> None:
    iam = FakeIam({})
    v = _status(FakeCtx(iam), OTHER)
    assert v.status is VerifyStatus.UNKNOWN
    assert not v.failed_lookup
    assert OTHER.account_id in v.reason
    assert iam.calls == []


def test_short_term_keys() -> None:
    akid = ST_AKIA.access_key_id
    iam = FakeIam({}, access_keys={"ci-bot": [{"AccessKeyId": akid, "Status": "Active"}]})
    assert _status(FakeCtx(iam), ST_AKIA).status is VerifyStatus.LIVE
    iam = FakeIam({}, access_keys={"ci-bot": [{"AccessKeyId": akid, "Status": "Inactive"}]})
    assert _status(FakeCtx(iam), ST_AKIA).status is VerifyStatus.INACTIVE
    assert _status(FakeCtx(FakeIam({})), ST_AKIA).status is VerifyStatus.DEAD
    # sessions cannot be looked up in IAM
    asia = _status(FakeCtx(FakeIam({})), ST_ASIA)
    assert asia.status is VerifyStatus.UNKNOWN
    assert not asia.failed_lookup
    # expiry is decided by the clock, with no call at all
    iam = FakeIam({})
    assert _status(FakeCtx(iam), ST_EXPIRED).status is VerifyStatus.DEAD
    assert iam.calls == []


def test_the_leaked_key_is_never_sent() -> None:
    iam = FakeIam(
        {"BedrockAPIKey-hr8l": [_cred()]},
        access_keys={"ci-bot": [{"AccessKeyId": ST_AKIA.access_key_id, "Status": "Active"}]},
    )
    verify_keys(FakeCtx(iam), [LT, ST_AKIA, ST_ASIA], at=NOW)  # type: ignore[arg-type]
    sent = json.dumps([kw for _, kw in iam.calls])
    for name in ("lt_bedrock", "st_bedrock", "st_claude"):
        assert KEYS[name].secret not in sent
        assert KEYS[name].key not in sent


def _hit(key: keys.DecodedKey) -> LocatedHit:
    return LocatedHit(
        path="a.py",
        hit=KeyHit(key=key, line=1, column=1, offset=0, encoding=Encoding.PLAIN, preview="ABSK…"),
    )


def test_verification_lowers_severity_only_on_positive_answers() -> None:
    ctx = FakeCtx(FakeIam({}))
    report = verify_keys(ctx, [LT], at=NOW)  # type: ignore[arg-type]
    (dead,) = build_findings([_hit(LT)], at=NOW, verifications=report.verifications)
    assert dead.severity is Severity.LOW
    assert dead.evidence["verification"]["status"] == "dead"
    ctx = FakeCtx(FakeIam({}, fail={"GetUser": "AccessDenied"}))
    report = verify_keys(ctx, [LT], at=NOW)  # type: ignore[arg-type]
    (unknown,) = build_findings([_hit(LT)], at=NOW, verifications=report.verifications)
    assert unknown.severity is Severity.CRITICAL
    # the fingerprint does not depend on the verification
    assert unknown.fingerprint == dead.fingerprint


def _lab_ready() -> bool:
    try:
        from phantomkeys import lab
    except ImportError:
        return False
    return hasattr(lab, "Lab")


@pytest.mark.lab
@pytest.mark.skipif(
    not _lab_ready(),
    reason="phantomkeys.lab does not provide Lab yet "
    "(another helper is building it); this end-to-end test runs once it does",
)
def test_verify_against_the_lab(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A key minted by the lab is live; after deleting its credential, dead."""
    import boto3
    from click.testing import CliRunner

    from phantomkeys.cli import cli
    from phantomkeys.lab import Lab
    from phantomkeys.surfaces import BEDROCK

    with Lab.start(scenario="demo") as lab:
        for name, value in lab.env.items():
            monkeypatch.setenv(name, value)
        iam = boto3.client("iam", region_name="us-east-1")
        user = "BedrockAPIKey-lk01"
        iam.create_user(UserName=user)
        created = iam.create_service_specific_credential(
            UserName=user, ServiceName=BEDROCK.credential_service
        )["ServiceSpecificCredential"]
        secret = next(
            v
            for v in (created.get("ServiceCredentialSecret"), created.get("ServiceApiKeyValue"))
            if isinstance(v, str) and v.startswith("ABSK")
        )
        (tmp_path / "app.py").write_text(f"KEY = '{secret}'\n")

        def verify() -> dict[str, Any]:
            result = CliRunner().invoke(
                cli,
                ["leaks", str(tmp_path), "--verify", "--format", "json"],
                catch_exceptions=False,
            )
            (finding,) = json.loads(result.stdout)["findings"]
            return finding

        live = verify()
        assert live["evidence"]["verification"]["status"] == "live"
        assert live["severity"] == "critical"
        iam.delete_service_specific_credential(
            UserName=user, ServiceSpecificCredentialId=created["ServiceSpecificCredentialId"]
        )
        dead = verify()
        assert dead["evidence"]["verification"]["status"] == "dead"
        assert dead["severity"] == "low"

        # fail closed: a failed (denied) lookup is "unknown", never "dead", and the
        # run exits 3 (incomplete) rather than 0
        for fault in ("iam:GetUser=denied", "iam:ListServiceSpecificCredentials=denied"):
            lab.set_faults(fault)
            result = CliRunner().invoke(
                cli,
                ["leaks", str(tmp_path), "--verify", "--format", "json", "--fail-on", "never"],
                catch_exceptions=False,
            )
            assert result.exit_code == 3, fault
            (finding,) = json.loads(result.stdout)["findings"]
            assert finding["evidence"]["verification"]["status"] == "unknown", fault
            assert finding["severity"] == "critical"
        lab.set_faults(None)

        # the scenario's own leaked keys: found, decoded, verified without a crash
        leaked = tmp_path / "leaked"
        leaked.mkdir()
        (leaked / ".env").write_text(
            "".join(f"KEY_{n}={key}\n" for n, key in enumerate(lab.leaked_keys.values()))
        )
        result = CliRunner().invoke(
            cli,
            ["leaks", str(leaked), "--verify", "--format", "json", "--fail-on", "never"],
            catch_exceptions=False,
        )
        doc = json.loads(result.stdout)
        assert len(doc["findings"]) == len(lab.leaked_keys)
        statuses = {f["evidence"]["verification"]["status"] for f in doc["findings"]}
        assert statuses <= {"live", "inactive", "dead", "unknown"}
        for key in lab.leaked_keys.values():
            assert key not in result.stdout
