"""The lab server: faults, request counts, reset, CloudTrail recording, loopback, cleanup."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from lab_testkit import client, error_of

from phantomkeys.lab.lab import Lab

pytestmark = pytest.mark.lab


def _outcomes(iam: Any, n: int) -> list[str]:
    out = []
    for _ in range(n):
        try:
            iam.list_users(MaxItems=1)
            out.append("ok")
        except ClientError as exc:
            out.append(exc.response["Error"]["Code"])
    return out


@pytest.mark.phantomkeys_lab(scenario="empty")
def test_faults_fire_at_the_rate_with_a_fixed_seed_and_change_at_runtime(
    phantomkeys_lab: Lab,
) -> None:
    iam = client("iam")
    assert _outcomes(iam, 5) == ["ok"] * 5
    phantomkeys_lab.set_faults("iam:ListUsers=throttle:0.4")
    first = _outcomes(iam, 120)
    phantomkeys_lab.set_faults("iam:ListUsers=throttle:0.4")  # same spec: same sequence
    second = _outcomes(iam, 120)
    assert first == second
    assert set(first) == {"ok", "Throttling"}
    assert 0.25 < first.count("Throttling") / 120 < 0.55
    phantomkeys_lab.set_faults("iam:ListUsers=5xx")
    with pytest.raises(ClientError) as info:
        iam.list_users()
    assert error_of(info) == ("ServiceFailure", 500)
    phantomkeys_lab.set_faults("iam:ListUsers@111111111111=denied")
    with pytest.raises(ClientError) as info:
        iam.list_users()
    assert error_of(info) == ("AccessDenied", 403)
    assert "is not authorized to perform: iam:ListUsers" in info.value.response["Error"]["Message"]
    phantomkeys_lab.set_faults("iam:ListUsers@222222222222=denied")  # another account
    iam.list_users()
    phantomkeys_lab.set_faults("iam:GetAccountAuthorizationDetails=latency:300ms")
    started = time.perf_counter()
    iam.get_account_authorization_details()
    assert time.perf_counter() - started >= 0.3
    phantomkeys_lab.set_faults(None)
    assert phantomkeys_lab.faults is None
    assert _outcomes(iam, 3) == ["ok"] * 3


@pytest.mark.phantomkeys_lab(scenario="empty")
def test_throttling_is_retried_by_sdks(phantomkeys_lab: Lab) -> None:
    import boto3
    from botocore.config import Config

    phantomkeys_lab.set_faults("iam:ListUsers=throttle:0.3")
    iam = boto3.client("iam", config=Config(retries={"total_max_attempts": 10, "mode": "standard"}))
    for _ in range(5):
        iam.list_users()
    stats = phantomkeys_lab.stats()
    assert stats["by_operation"]["iam:ListUsers"] == 5 + stats["faults_injected"]
    assert stats["faults_injected"] > 0


def test_bad_fault_specs_are_refused_before_anything_changes(phantomkeys_lab: Lab) -> None:
    from phantomkeys.lab import FaultSpecError

    with pytest.raises(FaultSpecError):
        phantomkeys_lab.set_faults("iam:ListUsers=sometimes")
    assert phantomkeys_lab.faults is None


def test_stats_count_by_operation_and_account(phantomkeys_lab: Lab) -> None:
    iam = client("iam")
    iam.list_users()
    iam.list_users()
    client("sts").get_caller_identity()
    stats = phantomkeys_lab.stats()
    assert stats["total"] == 3
    assert stats["by_operation"] == {"iam:ListUsers": 2, "sts:GetCallerIdentity": 1}
    assert stats["by_account"] == {"111111111111": 3}
    phantomkeys_lab.reset_stats()
    assert phantomkeys_lab.stats()["total"] == 0


def test_the_environment_is_the_management_admin(phantomkeys_lab: Lab) -> None:
    assert set(phantomkeys_lab.env) >= {
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
    }
    assert phantomkeys_lab.env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert os.environ["AWS_ENDPOINT_URL"] == phantomkeys_lab.endpoint_url
    ident = client("sts").get_caller_identity()
    assert ident["Account"] == "111111111111"
    assert ident["Arn"] == ("arn:aws:sts::111111111111:assumed-role/PhantomkeysLabAdmin/lab-admin")


def test_reset_restores_the_seeded_state(phantomkeys_lab: Lab) -> None:
    iam = client("iam")
    before = {u["UserName"] for u in iam.list_users()["Users"]}
    records_before = len(phantomkeys_lab.cloudtrail_records())
    user = "BedrockAPIKey-0rph"
    iam.detach_user_policy(
        UserName=user,
        PolicyArn=iam.list_attached_user_policies(UserName=user)["AttachedPolicies"][0][
            "PolicyArn"
        ],
    )
    iam.delete_user(UserName=user)
    iam.create_user(UserName="intruder")
    assert len(phantomkeys_lab.cloudtrail_records()) == records_before + 3
    phantomkeys_lab.set_faults("iam:*=denied")
    assert phantomkeys_lab.reset() < 5
    assert {u["UserName"] for u in iam.list_users()["Users"]} == before
    assert len(phantomkeys_lab.cloudtrail_records()) == records_before
    assert phantomkeys_lab.faults is None
    assert phantomkeys_lab.stats()["total"] == 1


def test_iam_writes_are_recorded_for_lookup_events(phantomkeys_lab: Lab) -> None:
    iam = client("iam")
    iam.create_user(UserName="BedrockAPIKey-n3w1")
    cred = iam.create_service_specific_credential(
        UserName="BedrockAPIKey-n3w1", ServiceName="bedrock.amazonaws.com", CredentialAgeDays=5
    )["ServiceSpecificCredential"]
    trail = client("cloudtrail")
    events = trail.lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": "BedrockAPIKey-n3w1"}]
    )["Events"]
    assert [e["EventName"] for e in events] == ["CreateServiceSpecificCredential", "CreateUser"]
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["eventSource"] == "iam.amazonaws.com"
    assert record["awsRegion"] == "us-east-1"
    assert record["requestParameters"] == {
        "userName": "BedrockAPIKey-n3w1",
        "serviceName": "bedrock.amazonaws.com",
        "credentialAgeDays": 5,
    }
    assert (
        record["responseElements"]["serviceSpecificCredential"]["serviceSpecificCredentialId"]
        == cred["ServiceSpecificCredentialId"]
    )
    assert cred["ServiceCredentialSecret"] not in events[0]["CloudTrailEvent"]
    assert events[0]["Username"] == "lab-admin"
    assert record["userIdentity"]["type"] == "AssumedRole"
    # IAM is global: its events are in us-east-1 only
    elsewhere = client("cloudtrail", region_name="eu-west-1").lookup_events(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": "BedrockAPIKey-n3w1"}]
    )
    assert elsewhere["Events"] == []


def test_demo_history_tells_the_attack_story(phantomkeys_lab: Lab) -> None:
    records = phantomkeys_lab.cloudtrail_records()
    victim = [r for r in records if r["userIdentity"].get("userName") == "BedrockAPIKey-p1v0"]
    bearer = [r for r in victim if (r.get("additionalEventData") or {}).get("callWithBearerToken")]
    assert {r["awsRegion"] for r in bearer} >= {"eu-west-3", "ap-southeast-1", "sa-east-1"}
    assert {"UpdateGuardrail", "DeleteGuardrail", "ListFoundationModels"} <= {
        r["eventName"] for r in bearer
    }
    pivot_key = next(
        i
        for i in phantomkeys_lab.manifest["accounts"][0]["identities"]
        if i["username"] == "BedrockAPIKey-p1v0"
    )["access_key_ids"][0]
    create = next(r for r in records if r["eventName"] == "CreateAccessKey")
    assert create["requestParameters"] == {"userName": "BedrockAPIKey-p1v0"}
    assert create["responseElements"]["accessKey"]["accessKeyId"] == pivot_key
    used = client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": pivot_key}]
    )["Events"]
    assert {e["EventName"] for e in used} == {
        "GetUser",
        "ListAttachedUserPolicies",
        "ListRoles",
        "ListUsers",
    }
    # the leaked key is the victim's, and is never in the trail
    key = phantomkeys_lab.leaked_keys["BedrockAPIKey-p1v0"]
    assert key.startswith("ABSK")
    assert key not in json.dumps(records)


def test_cloudtrail_files(phantomkeys_lab: Lab, tmp_path: Path) -> None:
    paths = phantomkeys_lab.write_cloudtrail(tmp_path)
    regions = {p.relative_to(tmp_path).parts[3] for p in paths}
    assert {"us-east-1", "us-west-2", "eu-west-3", "sa-east-1"} <= regions
    assert all(p.relative_to(tmp_path).parts[1] == "111111111111" for p in paths)


def _listening_addresses(port: int) -> set[str]:
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:
                out.add(addr)
    return out


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_the_server_binds_loopback_only(phantomkeys_lab: Lab) -> None:
    assert phantomkeys_lab.endpoint_url.startswith("http://127.0.0.1:")
    assert _listening_addresses(phantomkeys_lab.port) == {"0100007F"}  # 127.0.0.1 only


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def test_stop_leaves_nothing_running() -> None:
    lab = Lab.start(scenario="empty")
    pid, port = lab.pid, lab.port
    assert lab.running
    assert _pid_alive(pid)
    lab.stop()
    lab.stop()  # idempotent
    assert not lab.running
    assert not _pid_alive(pid)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_the_server_dies_with_its_parent(tmp_path: Path) -> None:
    script = (
        "from phantomkeys.lab.lab import Lab\n"
        "import sys, time\n"
        "lab = Lab.start(scenario='empty')\n"
        "print(lab.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    assert parent.stdout is not None
    server_pid = int(parent.stdout.readline())
    assert _pid_alive(server_pid)
    parent.send_signal(signal.SIGKILL)  # no atexit, no cleanup: only the stdin watch
    parent.wait()
    deadline = time.monotonic() + 15
    while _pid_alive(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pid_alive(server_pid)


def test_lookup_events_pages_through_boto3(phantomkeys_lab: Lab) -> None:
    expected = [
        r
        for r in phantomkeys_lab.cloudtrail_records()
        if r["awsRegion"] == "us-east-1"
        and r["userIdentity"].get("userName") == "BedrockAPIKey-a1b2"
    ]
    paginator = client("cloudtrail").get_paginator("lookup_events")
    pages = list(
        paginator.paginate(
            LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "BedrockAPIKey-a1b2"}],
            PaginationConfig={"PageSize": 5},
        )
    )
    events = [e for p in pages for e in p["Events"]]
    assert len(expected) > 10
    assert len(pages) == -(-len(expected) // 5)
    assert {e["EventId"] for e in events} == {r["eventID"] for r in expected}
    times = [e["EventTime"] for e in events]
    assert times == sorted(times, reverse=True)


@pytest.mark.phantomkeys_lab(scenario="empty")
def test_rest_services_are_counted_and_routed(phantomkeys_lab: Lab) -> None:
    bedrock = client("bedrock")
    bedrock.list_custom_models()
    stats = phantomkeys_lab.stats()
    assert stats["by_operation"] == {"bedrock:GET /custom-models": 1}
    assert stats["by_account"] == {"111111111111": 1}
    phantomkeys_lab.set_faults("bedrock:*=throttle")
    with pytest.raises(ClientError) as info:
        bedrock.list_custom_models()
    assert error_of(info) == ("ThrottlingException", 400)


@pytest.mark.phantomkeys_lab(scenario="empty")
def test_what_moto_lacks_is_a_clean_error(phantomkeys_lab: Lab) -> None:
    with pytest.raises(ClientError) as info:
        client("bedrock").list_guardrails()
    assert error_of(info) == ("NotImplemented", 501)
    assert client("sts").get_caller_identity()["Account"] == "111111111111"


def test_a_fixed_port() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with Lab.start(scenario="empty", port=port) as lab:
        assert lab.endpoint_url == f"http://127.0.0.1:{port}"
        assert lab.client("sts").get_caller_identity()["Account"] == "111111111111"


def test_control_failures_are_lab_errors() -> None:
    from phantomkeys.lab import LabError

    lab = Lab.start(scenario="empty")
    lab.stop()
    with pytest.raises(LabError, match="not running"):
        lab.stats()


def test_a_busy_port_is_a_clear_start_error() -> None:
    from phantomkeys.lab import LabError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(LabError, match=r"did not start: OSError: .*(in use|Errno 98)"):
            Lab.start(scenario="empty", port=busy.getsockname()[1])
