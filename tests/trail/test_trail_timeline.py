"""``timeline``: a user's or a key's activity, from LookupEvents (the lab) and from files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from phantomkeys.aws.cloudtrail import RateLimiter
from phantomkeys.cli import cli
from phantomkeys.core import keys
from phantomkeys.surfaces import BEDROCK
from phantomkeys.trail.timeline import TimelineError, resolve_target

VICTIM = "BedrockAPIKey-p1v0"  # the lab demo's leaked phantom user
ATTACK_REGIONS = "us-east-1,eu-west-3,ap-southeast-1,sa-east-1"


def test_targets_resolve_without_exposing_secrets() -> None:
    secret = "xQ3vT9kLmN2pR8sW5yZ1aB4cD7eF0gH6jK"
    long_key = keys.encode_long_term(
        BEDROCK, username="BedrockAPIKey-ab12", account_id="111122223333", secret=secret
    )
    t = resolve_target(long_key)
    assert (t.kind, t.username, t.account_id) == (
        "long-term-key",
        "BedrockAPIKey-ab12",
        "111122223333",
    )
    assert t.lookups() == [
        ("Username", "BedrockAPIKey-ab12"),
        ("ResourceName", "BedrockAPIKey-ab12"),
    ]
    assert secret not in json.dumps(t.to_dict())
    akid = keys.access_key_id_for_account("111122223333", session=True, entropy=b"\x01abcd")
    short = keys.mint_short_term(
        BEDROCK,
        access_key_id=akid,
        secret_access_key=secret,
        region="eu-west-1",
        issued_at=datetime(2026, 11, 20, tzinfo=UTC),
        session_token="IQoJb3JpZ2luX2VjEXAMPLE",
    )
    s = resolve_target(short)
    assert (s.kind, s.access_key_id, s.region) == ("short-term-key", akid, "eu-west-1")
    assert s.lookups() == [("AccessKeyId", akid)]
    assert resolve_target("alice").kind == "user"
    assert resolve_target(akid.replace("ASIA", "AKIA")).kind == "access-key"
    with pytest.raises(TimelineError):
        resolve_target("ABSK" + "A" * 60)
    with pytest.raises(TimelineError):
        resolve_target("not a user!")


def test_rate_limiter_keeps_two_requests_per_second() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    limiter = RateLimiter(2.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert now[0] == pytest.approx(2.0)  # 5 calls: at 0, 0.5, 1.0, 1.5, 2.0 s


def _run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


@pytest.mark.lab
def test_timeline_from_lookup_events(phantomkeys_lab: Any) -> None:
    result = _run("timeline", VICTIM, "--regions", ATTACK_REGIONS, "--format", "json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    meta = doc["metadata"]
    assert meta["source"] == "api"
    assert "90 days" in meta["notes"][-1]
    assert {(lk["region"], lk["attribute"]) for lk in meta["lookups"]} >= {
        ("us-east-1", "Username"),
        ("us-east-1", "ResourceName"),
        ("eu-west-3", "Username"),
    }
    events = doc["events"]
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    names = [e["event_name"] for e in events]
    assert names[0] == "CreateUser"  # done *to* the user, found by ResourceName
    attack = [e for e in events if e["region"] == "eu-west-3"]
    assert attack
    assert all(e["bearer_token"] for e in attack if e["event_source"].startswith("bedrock"))
    assert any(e["source_ip"] == "198.51.100.23" for e in attack)
    assert "CreateAccessKey" in names  # the pivot onto the phantom user
    assert meta["api_calls"]["by_operation"]["cloudtrail:LookupEvents"] >= 8


@pytest.mark.lab
def test_timeline_of_a_key_read_from_stdin(phantomkeys_lab: Any) -> None:
    key = phantomkeys_lab.leaked_keys[VICTIM]
    result = _run(
        "timeline", "-", "--regions", ATTACK_REGIONS, "--format", "json", stdin=key + "\n"
    )
    assert result.exit_code == 0
    assert key not in result.stdout
    assert key not in result.stderr
    doc = json.loads(result.stdout)
    assert doc["metadata"]["target"]["username"] == VICTIM
    assert doc["metadata"]["events"] > 50


@pytest.mark.lab
def test_timeline_from_files_and_hunt_on_the_lab_story(
    phantomkeys_lab: Any, tmp_path: Path
) -> None:
    phantomkeys_lab.write_cloudtrail(tmp_path)
    api = json.loads(
        _run("timeline", VICTIM, "--regions", ATTACK_REGIONS, "--format", "json").stdout
    )
    files = json.loads(_run("timeline", VICTIM, "--from", str(tmp_path), "--format", "json").stdout)
    assert files["metadata"]["source"] == "files"
    api_ids = {e["event_id"] for e in api["events"]}
    file_ids = {e["event_id"] for e in files["events"]}
    assert api_ids <= file_ids  # files also hold what LookupEvents cannot return
    table = _run("timeline", VICTIM, "--from", str(tmp_path), "--format", "csv")
    assert table.stdout.splitlines()[0].startswith("time,region,event_source,event_name")

    hunt = json.loads(_run("hunt", str(tmp_path), "--format", "json", "--fail-on", "never").stdout)
    found = {(f["rule_id"], f["subject"].rsplit("/", 1)[-1]) for f in hunt["findings"]}
    for rule in (
        "model-access-recon",
        "cross-region-burst",
        "bearer-token-guardrail-tampering",
        "bearer-new-source-ip",
        "bearer-token-http-tool",
        "key-logging-tampering",
        "phantom-user-pivot",
    ):
        assert (rule, VICTIM) in found, rule
    assert ("phantom-user-credential-added", VICTIM) in found


def test_optional_user_name_makes_the_caller_the_subject() -> None:
    from phantomkeys.trail.timeline import entry_from_record, target_user

    rec = {
        "eventName": "CreateAccessKey",
        "eventSource": "iam.amazonaws.com",
        "userIdentity": {"type": "IAMUser", "userName": "BedrockAPIKey-hr8l"},
        "requestParameters": None,
    }
    assert entry_from_record(rec, "files")["target_user"] == "BedrockAPIKey-hr8l"
    for name in (
        "ResetServiceSpecificCredential",
        "UpdateServiceSpecificCredential",
        "DeleteServiceSpecificCredential",
    ):
        assert target_user(name, None, "IAMUser", "BedrockAPIKey-hr8l") == "BedrockAPIKey-hr8l"
    assert target_user("CreateAccessKey", "alice", "IAMUser", "BedrockAPIKey-hr8l") == "alice"
    # A role has no user of its own; CreateUser always names its user.
    assert target_user("CreateAccessKey", None, "AssumedRole", None) is None
    assert target_user("CreateUser", None, "IAMUser", "admin") is None
