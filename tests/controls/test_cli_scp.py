"""The scp / alerts command line: formats, files, exit codes, one-line errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import hcl2
import pytest
from click.testing import CliRunner

from phantomkeys.cli.scp import alerts, scp

from .samples import AWS_SAMPLE_30_DAYS, AWS_SAMPLE_LONG_TERM


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_generate_prints_one_minified_scp(runner) -> None:
    result = runner.invoke(
        scp, ["generate", "--preset", "max-age", "--max-age-days", "30", "--surface", "bedrock"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert result.stdout.strip() == json.dumps(document, separators=(",", ":"))
    assert [s["Sid"] for s in document["Statement"]] == [
        "DenyApiKeyLongerThan30Days",
        "DenyApiKeyWithoutExpiry",
    ]
    assert "phantomkeys-max-age: 2 statements" in result.stderr


def test_generate_split_goes_to_json_lines_or_one_file_each(runner, tmp_path) -> None:
    args = [
        "generate",
        *[
            a
            for p in ("block-all", "block-pivot", "block-phantom-creation")
            for a in ("--preset", p)
        ],
    ]
    for n in range(45):
        args += ["--exempt", f"arn:aws:iam::{n:012d}:role/BreakGlassAdministrator"]
    lines = runner.invoke(scp, args)
    assert lines.exit_code == 0, lines.output
    documents = [json.loads(line) for line in lines.stdout.splitlines()]
    assert len(documents) > 1
    assert "split into" in lines.stderr
    out_dir = tmp_path / "scps"
    files = runner.invoke(scp, [*args, "--output-dir", str(out_dir)])
    assert files.exit_code == 0, files.output
    written = sorted(out_dir.glob("*.json"))
    assert len(written) == len(documents)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in written)
    check = runner.invoke(scp, ["validate", *map(str, written), "--format", "json"])
    assert check.exit_code == 0, check.output
    assert json.loads(check.stdout)["findings"] == []
    jsonl = tmp_path / "split.jsonl"
    jsonl.write_text(lines.stdout)
    assert runner.invoke(scp, ["validate", str(jsonl)]).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "max-age"], "needs --max-age-days"),
        (["--preset", "block-all", "--exempt", "BreakGlass"], "not an IAM principal ARN"),
        (["--preset", "nope"], "Invalid value for '--preset'"),
        (["--preset", "block-all", "--format", "terraform", "--target", "prod"], "is not a root"),
    ],
)
def test_generate_usage_errors_exit_2_without_traceback(runner, args, message) -> None:
    result = runner.invoke(scp, ["generate", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_generate_terraform_and_cloudformation(runner) -> None:
    tf = runner.invoke(
        scp,
        [
            "generate",
            "--preset",
            "block-all",
            "--format",
            "terraform",
            "--target",
            "ou-ab12-34567890",
        ],
    )
    assert tf.exit_code == 0, tf.output
    parsed = hcl2.loads(tf.stdout)
    kinds = {json.loads(k) for block in parsed["resource"] for k in block}
    assert kinds == {"aws_organizations_policy", "aws_organizations_policy_attachment"}
    cfn = runner.invoke(scp, ["generate", "--preset", "block-all", "--format", "cloudformation"])
    assert cfn.exit_code == 0, cfn.output
    assert "AWS::Organizations::Policy" in cfn.stdout


def _write(tmp_path: Path, name: str, document: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=2))
    return str(path)


def test_validate_exit_codes_follow_fail_on(runner, tmp_path) -> None:
    sample = _write(tmp_path, "aws-30.json", AWS_SAMPLE_30_DAYS)
    failing = runner.invoke(scp, ["validate", sample, "--format", "json"])
    assert failing.exit_code == 1
    document = json.loads(failing.stdout)
    assert set(document) == {"schema_version", "tool", "metadata", "findings"}
    assert document["metadata"]["valid"] is False
    # Only low findings (the lower-case key) would pass a --fail-on high gate...
    lower = _write(tmp_path, "lt.json", AWS_SAMPLE_LONG_TERM)
    assert runner.invoke(scp, ["validate", lower, "--fail-on", "high"]).exit_code == 0
    # ...but not the default (medium): mantle is left open.
    assert runner.invoke(scp, ["validate", lower]).exit_code == 1
    assert runner.invoke(scp, ["validate", sample, "--fail-on", "never"]).exit_code == 0


def test_validate_table_names_the_rule_and_suggestion(runner, tmp_path) -> None:
    typo = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Cap",
                "Effect": "Deny",
                "Action": "iam:CreateServiceSpecificCredential",
                "Resource": "*",
                "Condition": {"NumericGreaterThan": {"iam:ServiceSpecificCredentialAge": "30"}},
            }
        ],
    }
    result = runner.invoke(
        scp, ["validate", _write(tmp_path, "typo.json", typo), "--format", "table"]
    )
    assert result.exit_code == 1
    assert "scp-unknown-condition-key" in result.stdout
    assert "iam:ServiceSpecificCredentialAgeDays" in result.stdout


def test_validate_reads_stdin_and_rejects_missing_files(runner) -> None:
    result = runner.invoke(
        scp, ["validate", "-", "--format", "json"], input=json.dumps(AWS_SAMPLE_30_DAYS)
    )
    assert result.exit_code == 1
    assert json.loads(result.stdout)["findings"][0]["location"]["path"] == "<stdin>"
    missing = runner.invoke(scp, ["validate", "/nonexistent/scp.json"])
    assert missing.exit_code == 2
    assert "cannot read /nonexistent/scp.json" in missing.output


def test_offline_coverage_of_policy_files(runner, tmp_path) -> None:
    generated = runner.invoke(scp, ["generate", "--preset", "max-age", "--max-age-days", "30"])
    mine = tmp_path / "mine.json"
    mine.write_text(generated.stdout)
    ok = runner.invoke(scp, ["coverage", "--policy", str(mine), "--format", "json"])
    assert ok.exit_code == 0, ok.output
    goals = json.loads(ok.stdout)["accounts"][0]["goals"]
    assert goals["never-expiring-keys-blocked"]["state"] == "blocked"
    assert goals["never-expiring-keys-blocked"]["achieved_by"] == [
        "mine#DenyApiKeyWithoutExpiry",
        "mine#DenyApiKeyLongerThan30Days",
    ]
    sample = _write(tmp_path, "aws-30.json", AWS_SAMPLE_30_DAYS)
    gap = runner.invoke(
        scp,
        [
            "coverage",
            "--policy",
            sample,
            "--surface",
            "bedrock",
            "--format",
            "json",
            "--fail-on",
            "high",
        ],
    )
    assert gap.exit_code == 1
    rules = {f["rule_id"] for f in json.loads(gap.stdout)["findings"]}
    assert "scp-gap-never-expiring-keys" in rules
    table = runner.invoke(scp, ["coverage", "--policy", sample, "--format", "table"])
    assert "GAP" in table.stdout


def test_coverage_rejects_conflicting_sources(runner, tmp_path) -> None:
    sample = _write(tmp_path, "aws-30.json", AWS_SAMPLE_30_DAYS)
    result = runner.invoke(scp, ["coverage", "--policy", sample, "--org"])
    assert result.exit_code == 2


def test_alerts_generate_formats(runner) -> None:
    patterns = runner.invoke(alerts, ["generate", "--surface", "bedrock"])
    assert patterns.exit_code == 0, patterns.output
    document = json.loads(patterns.stdout)
    assert document["iam_event_region"] == "us-east-1"
    by_name = {r["name"]: r for r in document["rules"]}
    assert by_name["phantomkeys-api-key-created"]["regions"] == ["us-east-1"]
    assert by_name["phantomkeys-bearer-token-used"]["regions"] == ["*"]
    assert "aws-external-anthropic" not in patterns.stdout
    gov = runner.invoke(alerts, ["generate", "--partition", "aws-us-gov"])
    assert json.loads(gov.stdout)["iam_event_region"] == "us-gov-west-1"
    tf = runner.invoke(alerts, ["generate", "--format", "terraform"])
    assert "aws_cloudwatch_event_rule" in json.dumps(hcl2.loads(tf.stdout))
    bad = runner.invoke(alerts, ["generate", "--topic-arn", "security-alerts"])
    assert bad.exit_code == 2
    assert "not an SNS topic ARN" in bad.output
