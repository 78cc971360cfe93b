"""The org scenario: member accounts with their own IAM, OrganizationAccountAccessRole, SCPs."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from lab_testkit import NO_RETRY, client, error_of

from phantomkeys.lab.lab import Lab

pytestmark = [pytest.mark.lab, pytest.mark.phantomkeys_lab(scenario="org")]

MGMT, PROD, DATA, SANDBOX, RESEARCH = (
    "111111111111",
    "222222222222",
    "333333333333",
    "444444444444",
    "555555555555",
)


def _assume(sts: Any, account: str, role: str = "OrganizationAccountAccessRole") -> Any:
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="phantomkeys-test"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


def _users(session: Any, lab: Lab) -> set[str]:
    iam = session.client("iam", endpoint_url=lab.endpoint_url, config=NO_RETRY)
    return {u["UserName"] for u in iam.list_users()["Users"]}


def test_organization_layout(phantomkeys_lab: Lab) -> None:
    org = client("organizations")
    accounts = {a["Id"]: a["Name"] for a in org.list_accounts()["Accounts"]}
    assert set(accounts) == {MGMT, PROD, DATA, SANDBOX, RESEARCH}
    assert phantomkeys_lab.member_account_ids == [PROD, DATA, SANDBOX, RESEARCH]
    root = org.list_roots()["Roots"][0]["Id"]
    ous = {
        o["Name"]: o["Id"]
        for o in org.list_organizational_units_for_parent(ParentId=root)["OrganizationalUnits"]
    }
    assert set(ous) == {"Production", "Sandbox"}
    in_prod = {
        a["Id"] for a in org.list_accounts_for_parent(ParentId=ous["Production"])["Accounts"]
    }
    assert in_prod == {PROD, DATA}
    scps = org.list_policies_for_target(
        TargetId=ous["Production"], Filter="SERVICE_CONTROL_POLICY"
    )["Policies"]
    deny = next(p for p in scps if p["Name"] == "DenyBedrockApiKeys")
    content = json.loads(org.describe_policy(PolicyId=deny["Id"])["Policy"]["Content"])
    assert any(
        st["Effect"] == "Deny" and "bedrock:CallWithBearerToken" in st["Action"]
        for st in content["Statement"]
    )
    sandbox_scps = org.list_policies_for_target(
        TargetId=ous["Sandbox"], Filter="SERVICE_CONTROL_POLICY"
    )["Policies"]
    assert "DenyBedrockApiKeys" not in {p["Name"] for p in sandbox_scps}


def test_each_account_has_its_own_iam(phantomkeys_lab: Lab) -> None:
    sts = client("sts")
    assert sts.get_caller_identity()["Account"] == MGMT
    prod = _assume(sts, PROD)
    research = _assume(sts, RESEARCH)
    ident = prod.client("sts", endpoint_url=phantomkeys_lab.endpoint_url).get_caller_identity()
    assert ident["Account"] == PROD
    assert ident["Arn"] == (
        f"arn:aws:sts::{PROD}:assumed-role/OrganizationAccountAccessRole/phantomkeys-test"
    )
    manifest = {
        a["account_id"]: {i["username"] for i in a["identities"]} | set(a["not_reported"])
        for a in phantomkeys_lab.manifest["accounts"]
    }
    assert _users(prod, phantomkeys_lab) == manifest[PROD]
    assert _users(research, phantomkeys_lab) == manifest[RESEARCH]
    assert {u["UserName"] for u in client("iam").list_users()["Users"]} == manifest[MGMT]
    prod.client("iam", endpoint_url=phantomkeys_lab.endpoint_url).create_user(UserName="only-prod")
    assert "only-prod" in _users(prod, phantomkeys_lab)
    assert "only-prod" not in _users(research, phantomkeys_lab)
    assert "only-prod" not in {u["UserName"] for u in client("iam").list_users()["Users"]}


def test_assume_role_fails_where_the_role_does_not_exist(phantomkeys_lab: Lab) -> None:
    sts = client("sts")
    with pytest.raises(ClientError) as info:
        _assume(sts, DATA)
    assert error_of(info) == ("AccessDenied", 403)
    assert "sts:AssumeRole" in info.value.response["Error"]["Message"]
    # the account was created with another role name, which works
    data = _assume(sts, DATA, "AWSControlTowerExecution")
    assert "BedrockAPIKey-dt01" in _users(data, phantomkeys_lab)


def test_assume_role_respects_the_trust_policy(phantomkeys_lab: Lab) -> None:
    sts = client("sts")
    prod = _assume(sts, PROD)
    iam = prod.client("iam", endpoint_url=phantomkeys_lab.endpoint_url)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            }
        ],
    }
    iam.create_role(RoleName="ThirdPartyAudit", AssumeRolePolicyDocument=json.dumps(trust))
    with pytest.raises(ClientError) as info:
        _assume(sts, PROD, "ThirdPartyAudit")
    assert error_of(info) == ("AccessDenied", 403)
    with pytest.raises(ClientError):
        _assume(sts, "999999999999")  # an account outside the Organization


def test_the_throttled_member_fails_closed_calls(phantomkeys_lab: Lab) -> None:
    sandbox = _assume(client("sts"), SANDBOX)
    iam = sandbox.client("iam", endpoint_url=phantomkeys_lab.endpoint_url, config=NO_RETRY)
    users = {u["UserName"] for u in iam.list_users()["Users"]}
    assert "BedrockAPIKey-sb01" in users
    with pytest.raises(ClientError) as info:
        iam.list_service_specific_credentials(UserName="BedrockAPIKey-sb01")
    assert error_of(info) == ("Throttling", 400)
    # the same call in another member is fine
    prod = _assume(client("sts"), PROD).client("iam", endpoint_url=phantomkeys_lab.endpoint_url)
    assert prod.list_service_specific_credentials(UserName="BedrockAPIKey-pr0d")[
        "ServiceSpecificCredentials"
    ]
    stats = phantomkeys_lab.stats()
    assert stats["faults_injected"] == 1, stats
    assert stats["by_account_operation"][f"{SANDBOX}/iam:ListServiceSpecificCredentials"] == 1


def test_manifest_marks_the_unreachable_and_throttled_accounts(phantomkeys_lab: Lab) -> None:
    accounts = {a["account_id"]: a for a in phantomkeys_lab.manifest["accounts"]}
    assert accounts[DATA]["reachable_with_org_role"] is False
    assert accounts[SANDBOX]["faults"]
    assert "throttle" in accounts[SANDBOX]["faults"]
    assert phantomkeys_lab.manifest["organization"]["scps"] == [
        {"name": "DenyBedrockApiKeys", "targets": ["Production"]}
    ]


def test_an_assume_role_fault_names_the_target_account(phantomkeys_lab: Lab) -> None:
    phantomkeys_lab.set_faults(f"sts:AssumeRole@{RESEARCH}=denied")
    sts = client("sts")
    with pytest.raises(ClientError) as info:
        _assume(sts, RESEARCH)
    assert error_of(info) == ("AccessDenied", 403)
    _assume(sts, PROD)  # other members stay reachable
