"""``phantomkeys least-privilege`` end to end: log files, S3 layout, stdin keys, API, lab."""

from __future__ import annotations

import gzip
import json
import os
import stat
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.exceptions
import pytest
import yaml
from click.testing import CliRunner, Result

from phantomkeys.aws.cloudtrail import get_principal_events
from phantomkeys.cli import cli
from phantomkeys.core import keys
from phantomkeys.core.policy import Decision, Policy, PolicyKind, Request, evaluate
from phantomkeys.surfaces import BEDROCK

from .helpers import ACCOUNT, ACTIVITY, AT, SONNET, USER, load_activity, running_lab

FROM = ["--from", str(ACTIVITY), "--at", AT, "--days", "30"]


def run(
    args: list[str], stdin: str | None = None, env: dict[str, str | None] | None = None
) -> Result:
    return CliRunner().invoke(cli, args, input=stdin, env=env, catch_exceptions=False)


def allowed(
    policy: dict[str, Any],
    action: str,
    resource: str = "*",
    context: dict[str, list[str]] | None = None,
) -> Decision:
    parsed = Policy.parse(json.dumps(policy), name="p", kind=PolicyKind.INLINE)
    return evaluate(Request(action, resource, context=context), identity=[parsed]).decision


def test_json_document_from_log_files():
    result = run(["least-privilege", USER, *FROM, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema_version"]
    assert doc["tool"]["name"] == "phantomkeys"
    assert doc["target"] == {**doc["target"], "kind": "user", "username": USER}
    assert doc["account_id"] == ACCOUNT
    assert doc["records"] == {"matched": 83, "used": 81, "denied": 2, "unmapped": 0}
    assert doc["metadata"]["complete"] is True
    assert doc["metadata"]["source"]["kind"] == "files"
    assert doc["checks"]["passed"] is True
    assert doc["checks"]["recorded_calls_allowed"] >= 8
    assert doc["checks"]["unrecorded_actions_denied"] > 300
    assert doc["validation"] == {"passed": True, "findings": []}
    assert doc["role"]["name"] == f"{USER}-workload"
    assert doc["role"]["trust_policy"]["Statement"][0]["Principal"] == {
        "AWS": f"arn:aws:iam::{ACCOUNT}:root"
    }
    assert doc["placeholders"][0]["where"] == "role.trust_policy"
    commands = [c for step in doc["commands"] for c in step["commands"]]
    assert f"phantomkeys revoke {USER}" in commands
    assert any(c.startswith(f"phantomkeys least-privilege {USER} --from") for c in commands)
    policy = doc["policy"]
    fm = f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}"
    assert (
        allowed(policy, "bedrock:InvokeModel", fm, {"aws:RequestedRegion": ["us-east-1"]})
        is Decision.ALLOWED
    )
    assert allowed(policy, "bedrock:DeleteGuardrail") is Decision.IMPLICIT_DENY


def test_policy_format_is_the_bare_document():
    result = run(["least-privilege", USER, *FROM, "--format", "policy"])
    assert result.exit_code == 0, result.stderr
    policy = json.loads(result.stdout)
    assert set(policy) == {"Version", "Statement"}


def test_terraform_to_a_private_file(tmp_path):
    hcl2 = pytest.importorskip("hcl2")
    out = tmp_path / "role.tf"
    result = run(["least-privilege", USER, *FROM, "--format", "terraform", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    parsed = hcl2.loads(out.read_text())
    kinds = {next(iter(r)) for r in parsed["resource"]}
    assert kinds == {'"aws_iam_role"', '"aws_iam_role_policy"'}
    assert "in the folder holding role.tf" in out.read_text()


def test_cloudformation_with_a_service_principal():
    result = run(
        [
            "least-privilege",
            USER,
            *FROM,
            "--format",
            "cloudformation",
            "--trust-principal",
            "lambda.amazonaws.com",
            "--role-name",
            "chatbot-bedrock",
        ]
    )
    assert result.exit_code == 0, result.stderr
    template = yaml.safe_load(result.stdout)
    role = template["Resources"]["ChatbotBedrockRole"]["Properties"]
    assert role["RoleName"] == "chatbot-bedrock"
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "lambda.amazonaws.com"
    }
    assert "Parameters" not in template
    assert "aws lambda update-function-configuration" in result.stdout


def test_table_on_a_terminal_shows_policy_and_steps():
    result = run(["least-privilege", USER, *FROM, "--format", "table"])
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "bedrock:InvokeModel" in text
    assert "checks passed" in text
    assert "Switch-over" in text
    assert f"phantomkeys cleanup --user {USER} --include-expired" in text


def test_a_long_term_key_on_stdin_finds_its_user_and_never_echoes_it():
    secret = "Zm9vYmFyLXNlY3JldC1kby1ub3QtcHJpbnQtMTIzNDU2Nzg5MA=="
    key = keys.encode_long_term(BEDROCK, username=USER, account_id=ACCOUNT, secret=secret)
    by_key = run(["least-privilege", "-", *FROM, "--format", "json"], stdin=key + "\n")
    by_user = run(["least-privilege", USER, *FROM, "--format", "json"])
    assert by_key.exit_code == 0, by_key.stderr
    assert json.loads(by_key.stdout)["policy"] == json.loads(by_user.stdout)["policy"]
    everything = by_key.stdout + by_key.stderr
    assert key not in everything
    assert secret not in everything
    assert "shell history" not in by_key.stderr


def test_a_key_as_argument_warns_about_shell_history():
    key = keys.encode_long_term(BEDROCK, username=USER, account_id=ACCOUNT, secret="s" * 40)
    result = run(["least-privilege", key, *FROM, "--format", "json"])
    assert result.exit_code == 0
    assert "shell history" in result.stderr


def test_s3_layout_gzip_files_with_a_bad_file(tmp_path):
    records = load_activity()
    folder = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail" / "us-east-1" / "2026" / "11" / "03"
    folder.mkdir(parents=True)
    half = len(records) // 2
    for n, chunk in enumerate((records[:half], records[half:])):
        name = f"{ACCOUNT}_CloudTrail_us-east-1_20261103T00{n}0Z_ABCDEFGHIJKLMNO{n}.json.gz"
        (folder / name).write_bytes(gzip.compress(json.dumps({"Records": chunk}).encode()))
    (
        folder / f"{ACCOUNT}_CloudTrail_us-east-1_20261103T0020Z_TRUNCATEDTRUNCAT.json.gz"
    ).write_bytes(gzip.compress(b'{"Records": [')[:-6])
    result = run(
        [
            "least-privilege",
            USER,
            "--from",
            str(tmp_path / "AWSLogs"),
            "--at",
            AT,
            "--days",
            "30",
            "--format",
            "json",
        ]
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["records"]["used"] == 81
    assert len(doc["metadata"]["source"]["bad_files"]) == 1
    assert "TRUNCATED" in result.stderr


def test_exclude_and_review_warnings(tmp_path):
    records = load_activity()
    evil = dict(next(r for r in records if r["userIdentity"].get("userName") == USER))
    evil.update(
        eventName="DeleteGuardrail",
        eventID="evil-1",
        eventTime="2026-11-20T03:00:00Z",
        requestParameters={"guardrailIdentifier": "gr7x2k9q1abc"},
    )
    path = tmp_path / "trail.json"
    path.write_text(json.dumps({"Records": [*records, evil]}))
    base = [
        "least-privilege",
        USER,
        "--from",
        str(path),
        "--at",
        AT,
        "--days",
        "30",
        "--format",
        "json",
    ]
    flagged = run(base)
    assert flagged.exit_code == 0
    assert "review bedrock:DeleteGuardrail" in flagged.stderr
    assert (
        allowed(
            json.loads(flagged.stdout)["policy"],
            "bedrock:DeleteGuardrail",
            "*",
            {"aws:RequestedRegion": ["us-east-1"]},
        )
        is Decision.ALLOWED
    )
    excluded = run([*base, "--exclude", "bedrock:DeleteGuardrail"])
    assert excluded.exit_code == 0
    doc = json.loads(excluded.stdout)
    assert doc["excluded"] == ["bedrock:DeleteGuardrail"]
    assert allowed(doc["policy"], "bedrock:DeleteGuardrail") is Decision.IMPLICIT_DENY
    assert "review bedrock:DeleteGuardrail" not in excluded.stderr


def test_no_activity_is_a_clear_message():
    result = run(["least-privilege", "BedrockAPIKey-none", *FROM])
    assert result.exit_code == 2
    assert "no CloudTrail activity" in result.stderr
    assert "phantomkeys revoke BedrockAPIKey-none" in result.stderr
    assert result.stdout == ""


def test_only_refused_calls_build_nothing(tmp_path):
    records = [r for r in load_activity() if r.get("errorCode") == "AccessDenied"]
    path = tmp_path / "denied.json"
    path.write_text(json.dumps({"Records": records}))
    result = run(["least-privilege", USER, "--from", str(path), "--at", AT])
    assert result.exit_code == 2
    assert "none of its 1 recorded calls" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not a user!"], "not a key"),
        (["ABSKnotbase64!!"], "does not decode"),
        ([USER, "--from", "/nonexistent/trail"], "no such file"),
        ([USER, "--from", str(ACTIVITY), "--regions", "us-east-1"], "--regions"),
        (
            [USER, "--from", str(ACTIVITY), "--at", AT, "--trust-principal", "lambda"],
            "--trust-principal",
        ),
        ([USER, "--from", str(ACTIVITY), "--at", AT, "--role-name", "bad name"], "--role-name"),
    ],
)
def test_usage_errors(args, message):
    result = run(["least-privilege", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------ the API adapter


class _FakeCloudTrail:
    """LookupEvents over a list of records, newest first, ``page`` per page; one region fails."""

    def __init__(
        self, region: str, records: list[dict[str, Any]], page: int, fail: str | None
    ) -> None:
        self.region = region
        self.records = [r for r in records if r["awsRegion"] == region]
        self.page = page
        self.fail = fail
        self.calls: list[dict[str, Any]] = []

    def lookup_events(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        if self.fail:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": self.fail, "Message": "Rate exceeded"}}, "LookupEvents"
            )
        ((attr,),) = [request["LookupAttributes"]]
        assert attr["AttributeKey"] == "Username"
        start = request["StartTime"]
        end = request["EndTime"]
        matches = sorted(
            (
                r
                for r in self.records
                if r["userIdentity"].get("userName") == attr["AttributeValue"]
                and start <= datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00")) <= end
            ),
            key=lambda r: r["eventTime"],
            reverse=True,
        )
        offset = int(request.get("NextToken", 0))
        out: dict[str, Any] = {
            "Events": [
                {"EventId": r["eventID"], "CloudTrailEvent": json.dumps(r)}
                for r in matches[offset : offset + self.page]
            ]
        }
        if offset + self.page < len(matches):
            out["NextToken"] = str(offset + self.page)
        return out


class _FakeContext:
    def __init__(self, records: list[dict[str, Any]], fail: dict[str, str]) -> None:
        self.clients: dict[str, _FakeCloudTrail] = {}
        self.records = records
        self.fail = fail

    def client(self, service: str, region: str | None = None) -> _FakeCloudTrail:
        assert service == "cloudtrail"
        assert region
        if region not in self.clients:
            self.clients[region] = _FakeCloudTrail(region, self.records, 7, self.fail.get(region))
        return self.clients[region]


def test_lookup_pages_every_region_and_a_failed_region_is_a_failure_not_silence():
    ctx = _FakeContext(load_activity(), {"eu-west-1": "ThrottlingException"})
    until = datetime(2026, 11, 29, tzinfo=UTC)
    fetch = get_principal_events(
        ctx,
        regions=["us-east-1", "us-west-2", "eu-west-1"],  # type: ignore[arg-type]
        attribute="Username",
        value=USER,
        since=until - timedelta(days=30),
        until=until,
        min_interval=0,
    )
    assert not fetch.complete
    failed = [(f.where, f.error_code) for f in fetch.failures]
    assert failed == [("eu-west-1", "ThrottlingException")]
    assert len(fetch.records) == 82  # every call of the user in the window, both regions
    assert fetch.pages == len(ctx.clients["us-east-1"].calls) + len(ctx.clients["us-west-2"].calls)
    assert len(ctx.clients["us-east-1"].calls) > 5  # it followed NextToken
    assert all(c["MaxResults"] == 50 for c in ctx.clients["us-east-1"].calls)


# ------------------------------------------------------------------ against the lab


def _shift_to_lab(records: list[dict[str, Any]], account: str, user: str) -> list[dict[str, Any]]:
    """The fixture, re-homed in the lab's account and moved to the last few days."""
    newest = max(datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00")) for r in records)
    shift = datetime.now(UTC) - timedelta(hours=1) - newest
    out = []
    for record in records:
        text = json.dumps(record).replace(ACCOUNT, account).replace(USER, user)
        moved = json.loads(text)
        when = datetime.fromisoformat(moved["eventTime"].replace("Z", "+00:00")) + shift
        moved["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        moved["eventID"] = "lab-" + moved["eventID"]
        out.append(moved)
    return out


@pytest.mark.lab
def test_least_privilege_from_the_labs_cloudtrail() -> None:
    """LookupEvents on the lab: the fixture injected, and the demo scenario's phantom users."""
    import urllib.request

    with running_lab() as env:
        endpoint = str(env["AWS_ENDPOINT_URL"]).rstrip("/")
        with urllib.request.urlopen(f"{endpoint}/_phantomkeys/health") as answer:  # noqa: S310
            account = json.load(answer)["management_account_id"]
        user = "BedrockAPIKey-lp01"
        body = json.dumps({"records": _shift_to_lab(load_activity(), account, user)}).encode()
        request = urllib.request.Request(  # noqa: S310 - the lab's loopback endpoint
            f"{endpoint}/_phantomkeys/trail",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as answer:  # noqa: S310
            assert json.load(answer)["added"] > 80
        result = run(
            [
                "least-privilege",
                user,
                "--days",
                "30",
                "--regions",
                "us-east-1,us-west-2,eu-west-1",
                "--format",
                "json",
            ],
            env=env,
        )
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        assert doc["metadata"]["source"]["kind"] == "cloudtrail-lookup-events"
        assert doc["metadata"]["complete"] is True
        assert doc["account_id"] == account
        assert doc["records"]["used"] == 81
        assert doc["checks"]["passed"] is True
        policy = doc["policy"]
        fm = f"arn:aws:bedrock:us-east-1::foundation-model/{SONNET}"
        assert (
            allowed(policy, "bedrock:InvokeModel", fm, {"aws:RequestedRegion": ["us-east-1"]})
            is Decision.ALLOWED
        )
        for action in (
            "bedrock:DeleteGuardrail",
            "bedrock:CreateProvisionedModelThroughput",
            "iam:CreateAccessKey",
        ):
            assert allowed(policy, action) is Decision.IMPLICIT_DENY

        # The demo scenario's own history: every phantom user with Bedrock calls.
        with urllib.request.urlopen(f"{endpoint}/_phantomkeys/trail") as answer:  # noqa: S310
            trail = json.load(answer)["records"]
        users = sorted(
            {
                r["userIdentity"].get("userName")
                for r in trail
                if r.get("eventSource") == "bedrock.amazonaws.com"
                and r["userIdentity"].get("type") == "IAMUser"
                and str(r["userIdentity"].get("userName", "")).startswith("BedrockAPIKey-")
                and r["userIdentity"].get("userName") != user
                and not r.get("errorCode")
            }
        )
        for name in users:
            regions = sorted(
                {r["awsRegion"] for r in trail if r["userIdentity"].get("userName") == name}
            )
            out = run(
                [
                    "least-privilege",
                    name,
                    "--days",
                    "90",
                    "--regions",
                    ",".join(regions),
                    "--format",
                    "json",
                ],
                env=env,
            )
            if out.exit_code == 2:  # only calls the IAM catalog has no action for
                assert "none of its" in out.stderr, out.stderr
                continue
            assert out.exit_code == 0, out.stderr
            scenario = json.loads(out.stdout)
            assert scenario["checks"]["passed"] is True, scenario["checks"]["failures"]


# ------------------------------------------------------------------ S3


def test_s3_source_downloads_only_the_window(isolated_aws, tmp_path):
    """``--from s3://…``: files chosen by their date folder; digests and old days skipped."""
    moto = pytest.importorskip("moto")
    import boto3

    from phantomkeys.aws.cloudtrail import download_s3_logs
    from phantomkeys.aws.session import AwsContext

    records = load_activity()
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="org-trail")
        base = f"trail/AWSLogs/{ACCOUNT}/CloudTrail/us-east-1"
        body = gzip.compress(json.dumps({"Records": records}).encode())
        s3.put_object(
            Bucket="org-trail",
            Key=f"{base}/2026/11/03/{ACCOUNT}_CloudTrail_us-east-1_"
            "20261103T0000Z_AAAAAAAAAAAAAAAA.json.gz",
            Body=body,
        )
        s3.put_object(
            Bucket="org-trail",
            Key=f"{base}/2026/08/01/{ACCOUNT}_CloudTrail_us-east-1_"
            "20260801T0000Z_BBBBBBBBBBBBBBBB.json.gz",
            Body=b"not even gzip",
        )
        s3.put_object(
            Bucket="org-trail",
            Key=f"trail/AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/11/03/digest.json.gz",
            Body=b"{}",
        )
        until = datetime(2026, 11, 29, tzinfo=UTC)
        paths, failures = download_s3_logs(
            AwsContext.from_cli(None, "us-east-1"),
            "s3://org-trail/trail/",
            tmp_path / "dl",
            since=until - timedelta(days=30),
            until=until,
        )
        assert failures == []
        assert [p.name for p in paths] == [
            f"{ACCOUNT}_CloudTrail_us-east-1_20261103T0000Z_AAAAAAAAAAAAAAAA.json.gz"
        ]

        result = run(
            [
                "least-privilege",
                USER,
                "--from",
                "s3://org-trail/trail/",
                "--at",
                AT,
                "--days",
                "30",
                "--format",
                "json",
            ]
        )
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["records"]["used"] == 81

        missing = run(["least-privilege", USER, "--from", "s3://no-such-bucket/x", "--at", AT])
        assert missing.exit_code == 3
        assert "NoSuchBucket" in missing.stderr
