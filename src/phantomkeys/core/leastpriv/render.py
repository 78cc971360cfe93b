"""The built role as shell commands (switch over, then revoke and clean up),
Terraform, CloudFormation and the JSON document. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from phantomkeys.core.controls.iac import hcl_string, hcl_value
from phantomkeys.core.findings import Finding, Severity
from phantomkeys.core.leastpriv.build import (
    EXTERNAL_ID_PLACEHOLDER,
    LeastPrivilege,
    TrustKind,
)
from phantomkeys.core.leastpriv.observe import (
    Target,
    TargetKind,
    _iso,
)
from phantomkeys.core.leastpriv.verify import (
    Check,
    CheckKind,
)
from phantomkeys.surfaces import SURFACES, SurfaceId

# ------------------------------------------------------------------ commands


@dataclass(frozen=True, slots=True)
class CommandStep:
    step: int
    title: str
    commands: tuple[str, ...]
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "step": self.step,
            "title": self.title,
            "commands": list(self.commands),
        }
        if self.note:
            out["note"] = self.note
        return out


def _shell_quote(text: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]+", text):
        return text
    return "'" + text.replace("'", "'\"'\"'") + "'"


def switch_over_commands(
    result: LeastPrivilege, fmt: str, *, output_name: str | None = None, rerun: str | None = None
) -> tuple[CommandStep, ...]:
    """Deploy the role, move the workload to it, then revoke and clean up the old key holder."""
    role = result.role_name
    region = result.primary_region or "us-east-1"
    q = _shell_quote
    steps: list[CommandStep] = []
    external = result.trust.external_id
    deploy: tuple[str, ...]
    match fmt:
        case "terraform":
            file = output_name or "least-privilege.tf"
            apply = "terraform apply"
            if external:
                apply += " -var external_id=" + q("<your-external-id>")
            deploy = ("terraform init", f"{apply}   # in the folder holding {file}")
        case "cloudformation":
            file = output_name or "least-privilege.yaml"
            overrides = (
                " --parameter-overrides ExternalId=" + q("<your-external-id>") if external else ""
            )
            deploy = (
                f"aws cloudformation deploy --template-file {q(file)} "
                f"--stack-name {q(role)} --capabilities CAPABILITY_NAMED_IAM{overrides}",
            )
        case _:
            file = output_name if fmt == "json" and output_name else "least-privilege.json"
            produce: tuple[str, ...] = ()
            if not (fmt == "json" and output_name):
                base = rerun or f"phantomkeys least-privilege {q(result.target.cli_reference)}"
                produce = (f"{base} --format json -o {q(file)}",)
            deploy = (
                *produce,
                f"jq .role.trust_policy {q(file)} > trust-policy.json",
                f"jq .policy {q(file)} > policy.json",
                *(
                    ("# replace the ExternalId placeholder in trust-policy.json",)
                    if external
                    else ()
                ),
                f"aws iam create-role --role-name {q(role)} "
                "--assume-role-policy-document file://trust-policy.json "
                f"--max-session-duration {result.max_session_seconds}",
                f"aws iam put-role-policy --role-name {q(role)} "
                f"--policy-name {q(result.policy_name)} --policy-document file://policy.json",
            )
    steps.append(
        CommandStep(
            1,
            "Create the least-privilege role",
            deploy,
            "Review the policy first: it allows exactly what the records show.",
        )
    )

    use: list[str] = []
    if result.trust.kind is TrustKind.SERVICE:
        use.append(
            f"# make {result.role_arn} the execution role of the "
            f"{result.trust.value.split('.', 1)[0]} workload, for example:"
        )
        use.append(
            f"aws lambda update-function-configuration --function-name <function> "
            f"--role {result.role_arn}"
        )
    else:
        use.append(f"aws configure set profile.{role}.role_arn {result.role_arn}")
        use.append(f"aws configure set profile.{role}.source_profile <the workload's profile>")
        if external:
            use.append(f"aws configure set profile.{role}.external_id <your-external-id>")
    for surface_id in result.surfaces or (SurfaceId.BEDROCK,):
        surface = next(s for s in SURFACES if s.id is surface_id)
        mint = (
            f"phantomkeys mint --profile {q(role)} --surface {surface.id.value} "
            f"--region {region} --duration 12h"
        )
        if surface.token_env_var:
            use.append(f'export {surface.token_env_var}="$({mint})"')
        else:
            use.append(f"{mint} -o {surface.id.value}-key.txt   # pass it as the API key")
    steps.append(
        CommandStep(
            2,
            "Move the workload to the role",
            tuple(use),
            "Best: let the SDK sign with the role's credentials (SigV4) and drop API keys. If the "
            "client needs a bearer token, mint a short-term key from the role (at most 12 hours; "
            "it dies with the session).",
        )
    )

    ref = result.target.cli_reference
    steps.append(
        CommandStep(
            3,
            "Confirm the old key is no longer used",
            (f"phantomkeys timeline {q(ref)} --days 1",),
            "Wait until the workload has run on the role for a full cycle.",
        )
    )
    if result.target.kind is TargetKind.SHORT_TERM_KEY:
        steps.append(
            CommandStep(
                4,
                "Revoke the short-term key and retire its signer",
                ("phantomkeys revoke -   # paste the key on stdin",),
                "A short-term key dies within 12 hours; revoke it now if it leaked. If it was "
                "signed with an AKIA access key, deactivate that key: it can mint more.",
            )
        )
        return tuple(steps)
    steps.append(
        CommandStep(
            4,
            "Revoke the phantom user's keys (reversible)",
            (f"phantomkeys revoke {q(ref)}",),
            "Deactivates the keys and denies bearer-token use; 'phantomkeys restore' undoes it.",
        )
    )
    steps.append(
        CommandStep(
            5,
            "Delete the phantom user, with a backup",
            (f"phantomkeys cleanup --user {q(ref)} --include-expired",),
            "After a quiet period with the keys revoked (revoked keys are inactive, hence "
            "--include-expired); cleanup shows its plan and backs the user up first.",
        )
    )
    return tuple(steps)


# ------------------------------------------------------------------ rendering


def _comment_block(prefix: str, lines: Iterable[str]) -> str:
    return "".join(f"{prefix} {line}".rstrip() + "\n" for line in lines)


def _summary_lines(result: LeastPrivilege, steps: Sequence[CommandStep]) -> list[str]:
    lines = [
        f"Least-privilege role for {result.target.label} (account {result.account_id}),",
        f"generated by phantomkeys from {result.calls_used} CloudTrail calls "
        f"({_iso(result.since) or 'start'} to {_iso(result.until) or 'now'}).",
    ]
    if result.trust.external_id:
        lines.append("The trust policy requires an external id: set it before deploying.")
    if result.review:
        lines.append("REVIEW before deploying (recorded, but destructive or unexpected):")
        lines.extend(
            f"  - {r.action} ({r.calls} calls){' [excluded]' if r.excluded else ''}"
            for r in result.review
        )
    lines.append("")
    lines.append("Switch-over:")
    for step in steps:
        lines.append(f"{step.step}. {step.title}")
        lines.extend(f"     {c}" for c in step.commands)
    return lines


def _tag_value(target: Target) -> str:
    """IAM tag values allow letters, digits, spaces and ``_.:/=+-@`` (IAM API reference, Tag)."""
    return re.sub(r"[^\w .:/=+@-]", "-", target.username or target.access_key_id or "key")[:256]


def _tf_label(name: str) -> str:
    label = re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "workload"
    return label if label[0].isalpha() else f"r_{label}"


def render_terraform(result: LeastPrivilege, steps: Sequence[CommandStep] = ()) -> str:
    """``aws_iam_role`` + ``aws_iam_role_policy``; the external id is a sensitive variable."""
    label = _tf_label(result.role_name)
    trust = hcl_value(result.trust_policy, 1)
    if result.trust.external_id:
        trust = trust.replace(hcl_string(EXTERNAL_ID_PLACEHOLDER), "var.external_id")
    out = [_comment_block("#", _summary_lines(result, steps)), "\n"]
    if result.trust.external_id:
        out.append(
            'variable "external_id" {\n'
            '  description = "Secret the workload presents when assuming the role '
            '(sts:ExternalId)."\n'
            "  type        = string\n"
            "  sensitive   = true\n"
            "}\n\n"
        )
    out.append(
        f'resource "aws_iam_role" "{label}" {{\n'
        f"  name                 = {hcl_string(result.role_name)}\n"
        f"  description          = {hcl_string(result.role_description)}\n"
        f"  max_session_duration = {result.max_session_seconds}\n"
        f"  assume_role_policy   = jsonencode({trust})\n"
        "  tags = {\n"
        f"    {hcl_string('phantomkeys:replaces')} = {hcl_string(_tag_value(result.target))}\n"
        "  }\n"
        "}\n\n"
        f'resource "aws_iam_role_policy" "{label}" {{\n'
        f"  name   = {hcl_string(result.policy_name)}\n"
        f"  role   = aws_iam_role.{label}.id\n"
        f"  policy = jsonencode({hcl_value(result.policy, 1)})\n"
        "}\n\n"
        'output "role_arn" {\n'
        f"  value = aws_iam_role.{label}.arn\n"
        "}\n"
    )
    return "".join(out)


class _NoAliasDumper(yaml.SafeDumper):
    """CloudFormation rejects YAML aliases (&id001)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _cfn_logical_id(name: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", name)
    logical = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return logical if logical[:1].isalpha() else f"R{logical}"


def _replace_placeholder(value: Any) -> Any:
    if value == EXTERNAL_ID_PLACEHOLDER:
        return {"Ref": "ExternalId"}
    if isinstance(value, dict):
        return {k: _replace_placeholder(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_placeholder(v) for v in value]
    return value


def render_cloudformation(result: LeastPrivilege, steps: Sequence[CommandStep] = ()) -> str:
    """An ``AWS::IAM::Role`` with the policy inline; the external id is a NoEcho parameter."""
    logical = _cfn_logical_id(result.role_name) + "Role"
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": result.role_description,
    }
    if result.trust.external_id:
        template["Parameters"] = {
            "ExternalId": {
                "Type": "String",
                "NoEcho": True,
                "MinLength": 2,
                "MaxLength": 1224,
                "AllowedPattern": "[\\w+=,.@:/-]*",
                "Description": "Secret the workload presents when assuming the role "
                "(sts:ExternalId).",
            }
        }
    template["Resources"] = {
        logical: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": result.role_name,
                "Description": result.role_description,
                "MaxSessionDuration": result.max_session_seconds,
                "AssumeRolePolicyDocument": _replace_placeholder(result.trust_policy),
                "Policies": [{"PolicyName": result.policy_name, "PolicyDocument": result.policy}],
                "Tags": [{"Key": "phantomkeys:replaces", "Value": _tag_value(result.target)}],
            },
        }
    }
    template["Outputs"] = {
        "RoleArn": {
            "Description": "ARN of the least-privilege role",
            "Value": {"Fn::GetAtt": [logical, "Arn"]},
        }
    }
    body = yaml.dump(
        template, Dumper=_NoAliasDumper, sort_keys=False, width=1_000_000, allow_unicode=False
    )
    return _comment_block("#", _summary_lines(result, steps)) + body


def document(
    result: LeastPrivilege,
    *,
    checks: Sequence[Check],
    findings: Sequence[Finding],
    steps: Sequence[CommandStep],
) -> dict[str, Any]:
    """The JSON body of ``least-privilege --format json`` (the CLI adds the envelope)."""
    failed = [c for c in checks if not c.ok]
    return {
        "target": result.target.to_dict(),
        "account_id": result.account_id,
        "window": {"since": _iso(result.since), "until": _iso(result.until)},
        "records": {
            "matched": result.records_matched,
            "used": result.calls_used,
            "denied": sum(s.calls for s in result.denied),
            "unmapped": sum(s.calls for s in result.unmapped),
        },
        "regions": list(result.regions),
        "policy_name": result.policy_name,
        "policy": result.policy,
        "role": {
            "name": result.role_name,
            "arn": result.role_arn,
            "description": result.role_description,
            "max_session_duration": result.max_session_seconds,
            "trust_principal": result.trust.to_dict(),
            "trust_policy": result.trust_policy,
        },
        "placeholders": (
            [
                {
                    "value": EXTERNAL_ID_PLACEHOLDER,
                    "where": "role.trust_policy",
                    "meaning": "a secret external id the workload presents on "
                    "sts:AssumeRole; replace it before deploying",
                }
            ]
            if result.trust.external_id
            else []
        ),
        "actions": [a.to_dict() for a in result.actions],
        "review": [r.to_dict() for r in result.review],
        "excluded": list(result.excluded),
        "denied_calls": [s.to_dict() for s in result.denied],
        "unmapped_calls": [s.to_dict() for s in result.unmapped],
        "checks": {
            "passed": not failed,
            "total": len(checks),
            "recorded_calls_allowed": sum(
                1 for c in checks if c.kind is CheckKind.RECORDED_ALLOWED and c.ok
            ),
            "unrecorded_actions_denied": sum(
                1 for c in checks if c.kind is CheckKind.UNRECORDED_DENIED and c.ok
            ),
            "failures": [c.to_dict() for c in failed],
        },
        "validation": {
            "passed": not any(f.severity.at_least(Severity.HIGH) for f in findings),
            "findings": [f.to_dict() for f in findings],
        },
        "commands": [s.to_dict() for s in steps],
        "notes": list(result.notes),
    }
