"""Named capabilities on the real AWS managed policies and realistic extras.

The managed policy documents come from moto's bundled copy of the AWS managed
policies (AmazonBedrockLimitedAccess v9, AnthropicLimitedAccess, …); core never
imports moto, only these tests do.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from phantomkeys.catalog import IamCatalog, default_catalog
from phantomkeys.core.capabilities import (
    CAPABILITIES,
    Grant,
    Reach,
    assess_capabilities,
    beyond_managed_policy,
    capability,
    capability_actions,
)
from phantomkeys.core.findings import Severity
from phantomkeys.core.policy import Policy, PolicyKind, parse_policy
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM

DATA = Path(__file__).parent / "data"


@cache
def _moto_managed() -> dict[str, Any]:
    managed = pytest.importorskip("moto.iam.aws_managed_policies")
    return dict(json.loads(managed.aws_managed_policies_data))


def managed(name: str, kind: PolicyKind = PolicyKind.MANAGED, via: str | None = None) -> Policy:
    data = _moto_managed()
    if name not in data:
        pytest.skip(f"moto's bundled managed policies lack {name}")
    return parse_policy(
        data[name]["Document"], name=f"arn:aws:iam::aws:policy/{name}", kind=kind, via=via
    )


def load(name: str, kind: str = "inline", via: str | None = None) -> Policy:
    return parse_policy(
        json.loads((DATA / name).read_text()),
        name=f"inline:BedrockAPIKey-hr8l/{name.removesuffix('.json')}",
        kind=kind,
        via=via,
    )


@pytest.fixture(scope="module")
def catalog() -> IamCatalog:
    return default_catalog()


@pytest.fixture(scope="module")
def bedrock_limited() -> Policy:
    return managed("AmazonBedrockLimitedAccess")


@pytest.fixture(scope="module")
def anthropic_limited() -> Policy:
    return managed("AnthropicLimitedAccess")


def by_id(grants: tuple[Grant, ...]) -> dict[str, Grant]:
    return {g.capability: g for g in grants}


# ------------------------------------------------------------- definitions


def test_capability_definitions_are_complete(catalog: IamCatalog) -> None:
    ids = [c.id for c in CAPABILITIES]
    assert len(ids) == len(set(ids))
    required = {
        "invoke-models", "provisioned-throughput", "guardrail-tampering", "model-deletion",
        "data-exfiltration", "invocation-logging-tampering", "pass-role", "iam-write",
        "kms-decrypt", "s3-data-read", "reconnaissance", "full-admin",
        "claude-platform-agents",
    }  # fmt: skip
    assert required <= set(ids)
    for cap in CAPABILITIES:
        assert cap.title
        assert cap.description
        assert cap.rationale
        assert cap.remediation
        assert isinstance(cap.severity, Severity)
        assert cap.to_dict()["id"] == cap.id
        # Every pattern names real actions (a typo would silently match nothing).
        for pattern in cap.actions:
            assert catalog.expand(pattern), f"{cap.id}: {pattern} matches no action"
        for excluded in cap.exclude:
            assert catalog.action_exists(excluded), f"{cap.id}: {excluded}"
        assert capability_actions(cap.id, catalog)
    assert capability("pass-role").actions == ("iam:PassRole",)
    iam_write = capability_actions("iam-write", catalog)
    assert "iam:CreateAccessKey" in iam_write
    assert "iam:CreateServiceSpecificCredential" in iam_write
    assert "iam:CreateServiceLinkedRole" not in iam_write


# --------------------------------------------------- the real managed policies


def test_bedrock_limited_access(bedrock_limited: Policy, catalog: IamCatalog) -> None:
    grants = by_id(assess_capabilities([bedrock_limited], surface=BEDROCK, catalog=catalog))
    for cap_id in (
        "invoke-models",
        "guardrail-tampering",
        "model-deletion",
        "provisioned-throughput",
        "reconnaissance",
    ):
        grant = grants[cap_id]
        assert grant.reach == (Reach.API_KEY, Reach.OTHER_CREDENTIALS), cap_id
        assert not grant.conditional
        assert grant.api_key_actions
        assert grant.granted_by
    for cap_id in ("pass-role", "invocation-logging-tampering", "full-admin", "iam-write",
                   "s3-data-read", "kms-decrypt", "claude-platform-agents"):  # fmt: skip
        assert cap_id not in grants, cap_id

    invoke = grants["invoke-models"]
    assert {"bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream",
            "bedrock-mantle:CreateInference"} <= set(invoke.actions)  # fmt: skip
    assert invoke.actions == tuple(sorted(invoke.actions))
    assert "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess#BedrockAPIs" in invoke.granted_by
    assert "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess#BedrockMantleAPIs" in (
        invoke.granted_by
    )
    assert set(grants["guardrail-tampering"].actions) == {
        "bedrock:UpdateGuardrail", "bedrock:DeleteGuardrail", "bedrock:CreateGuardrailVersion",
    }  # fmt: skip
    assert "bedrock:DeleteCustomModel" in grants["model-deletion"].actions
    assert "bedrock:DeleteImportedModel" in grants["model-deletion"].actions

    # The marketplace statement only applies via Bedrock (aws:CalledViaLast): conditional,
    # and a bearer token cannot call aws-marketplace itself.
    throughput = grants["provisioned-throughput"]
    assert throughput.conditional_actions == ("aws-marketplace:Subscribe",)
    assert "aws-marketplace:Subscribe" not in throughput.api_key_actions
    assert "bedrock:CreateProvisionedModelThroughput" in throughput.api_key_actions

    recon = grants["reconnaissance"]
    assert {"iam:ListRoles", "ec2:DescribeVpcs",
            "bedrock:GetModelInvocationLoggingConfiguration"} <= set(recon.actions)  # fmt: skip
    # DOMAIN-FACTS §4: the DescribeKey statement's ARN (arn:*:kms:*:::*) matches no key.
    assert "kms:DescribeKey" not in recon.actions
    assert "iam:ListRoles" not in recon.api_key_actions  # IAM is not a key service


def test_anthropic_limited_access(anthropic_limited: Policy, catalog: IamCatalog) -> None:
    grants = by_id(
        assess_capabilities([anthropic_limited], surface=CLAUDE_PLATFORM, catalog=catalog)
    )
    agents = grants["claude-platform-agents"]
    assert {"aws-external-anthropic:GetFile", "aws-external-anthropic:GetMemoryStore",
            "aws-external-anthropic:CreateWebhook"} <= set(agents.actions)  # fmt: skip
    # Workspace-scoped; newer revisions of the policy also grant the user-profile
    # actions on "*" (its resourceless statement), which must then be listed too.
    assert agents.resources[0] == "arn:aws:aws-external-anthropic:*:*:workspace/*"
    assert set(agents.resources) <= {"arn:aws:aws-external-anthropic:*:*:workspace/*", "*"}
    assert ("*" in agents.resources) == any("Resourceless" in label for label in agents.granted_by)
    assert Reach.API_KEY in agents.reach
    invoke = grants["invoke-models"]
    assert set(invoke.actions) == {
        "aws-external-anthropic:CreateInference", "aws-external-anthropic:CreateBatchInference",
    }  # fmt: skip
    for cap_id in ("full-admin", "iam-write", "pass-role", "invocation-logging-tampering"):
        assert cap_id not in grants
    # The Bedrock surface's key does not reach Claude Platform actions.
    other = by_id(assess_capabilities([anthropic_limited], surface=BEDROCK, catalog=catalog))
    assert other["claude-platform-agents"].reach == (Reach.OTHER_CREDENTIALS,)


def test_administrator_access_is_full_admin(bedrock_limited: Policy, catalog: IamCatalog) -> None:
    admin = managed("AdministratorAccess")
    grants = by_id(assess_capabilities([bedrock_limited, admin], surface=BEDROCK,
                                       catalog=catalog))  # fmt: skip
    full = grants["full-admin"]
    assert full.severity is Severity.CRITICAL
    assert full.reach == (Reach.OTHER_CREDENTIALS,)  # the key itself cannot reach IAM
    assert "arn:aws:iam::aws:policy/AdministratorAccess#statement-1" in full.granted_by
    assert full.statements[0].resources == ("*",)
    for cap_id in ("iam-write", "pass-role", "invocation-logging-tampering", "s3-data-read",
                   "kms-decrypt", "data-exfiltration"):  # fmt: skip
        assert cap_id in grants
    # The key still reaches the Bedrock part of the admin's powers.
    logging = grants["invocation-logging-tampering"]
    assert logging.reach == (Reach.API_KEY, Reach.OTHER_CREDENTIALS)
    assert set(logging.api_key_actions) == {
        "bedrock:PutModelInvocationLoggingConfiguration",
        "bedrock:DeleteModelInvocationLoggingConfiguration",
    }
    # Worst first.
    ranks = [g.severity.rank for g in grants.values()]
    assert ranks == sorted(ranks, reverse=True)


def test_power_user_is_not_full_admin_but_exfiltrates(catalog: IamCatalog) -> None:
    grants = by_id(assess_capabilities([managed("PowerUserAccess")], surface=BEDROCK,
                                       catalog=catalog))  # fmt: skip
    assert "full-admin" not in grants
    assert "iam-write" not in grants  # only iam:CreateServiceLinkedRole, excluded
    assert "pass-role" not in grants
    assert "data-exfiltration" in grants
    assert "s3-data-read" in grants


# -------------------------------------------- boundaries, SCPs, groups, denies


def test_boundary_confines_an_admin_to_bedrock(
    bedrock_limited: Policy, catalog: IamCatalog
) -> None:
    admin = managed("AdministratorAccess")
    boundary = managed("AmazonBedrockLimitedAccess", kind=PolicyKind.BOUNDARY)
    grants = by_id(assess_capabilities([bedrock_limited, admin], boundary=boundary,
                                       surface=BEDROCK, catalog=catalog))  # fmt: skip
    assert "full-admin" not in grants
    assert "iam-write" not in grants
    assert "guardrail-tampering" in grants
    assert beyond_managed_policy([bedrock_limited, admin], boundary, (), bedrock_limited,
                                 catalog) == ()  # fmt: skip


def test_scp_blocking_keys_leaves_only_other_credentials(
    bedrock_limited: Policy, catalog: IamCatalog
) -> None:
    full = load("scp_full_aws_access.json", kind="scp")
    block = load("scp_deny_bedrock_api_keys.json", kind="scp")
    grants = by_id(assess_capabilities([bedrock_limited], scps=[[full], [full, block]],
                                       surface=BEDROCK, catalog=catalog))  # fmt: skip
    assert grants["invoke-models"].reach == (Reach.OTHER_CREDENTIALS,)
    assert grants["invoke-models"].api_key_actions == ()


def test_scp_blocking_long_term_keys_knows_the_key_kind(
    bedrock_limited: Policy, catalog: IamCatalog
) -> None:
    full = load("scp_full_aws_access.json", kind="scp")
    long_term = load("scp_deny_bedrock_long_term_keys.json", kind="scp")
    grants = by_id(assess_capabilities([bedrock_limited], scps=[[full, long_term]],
                                       surface=BEDROCK, catalog=catalog))  # fmt: skip
    invoke = grants["invoke-models"]
    # bedrock: is blocked for a long-term key; bedrock-mantle is not covered by that SCP
    # (DOMAIN-FACTS §5), so the key still reaches mantle inference.
    assert invoke.api_key_actions == ("bedrock-mantle:CreateInference",)
    short = by_id(assess_capabilities([bedrock_limited], scps=[[full, long_term]],
                                      surface=BEDROCK, catalog=catalog,
                                      bearer_token_type="SHORT_TERM"))  # fmt: skip
    assert "bedrock:InvokeModel" in short["invoke-models"].api_key_actions


def test_conditional_bearer_deny_is_reported_as_conditional_key_reach(
    bedrock_limited: Policy, catalog: IamCatalog
) -> None:
    vpc_only = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "KeysOnlyFromTheVpc",
                    "Effect": "Deny",
                    "Action": "bedrock:CallWithBearerToken",
                    "Resource": "*",
                    "Condition": {"StringNotEquals": {"aws:SourceVpc": "vpc-0a1b2c3d"}},
                }
            ],
        },
        name="inline:BedrockAPIKey-hr8l/vpc-only",
        kind="inline",
    )
    grants = by_id(assess_capabilities([bedrock_limited, vpc_only], surface=BEDROCK,
                                       catalog=catalog))  # fmt: skip
    invoke = grants["invoke-models"]
    assert invoke.api_key_conditional
    assert "bedrock:InvokeModel" in invoke.api_key_actions


def test_group_policies_and_pass_role_with_conditions(
    bedrock_limited: Policy, catalog: IamCatalog
) -> None:
    group = load("group_data_science.json", kind="group-inline", via="DataScientists")
    extra = load("inline_bedrock_admin.json")
    identity = [bedrock_limited, group, extra]
    grants = by_id(assess_capabilities(identity, surface=BEDROCK, catalog=catalog))
    s3 = grants["s3-data-read"]
    assert set(s3.actions) == {"s3:GetObject", "s3:ListBucket"}
    assert s3.reach == (Reach.OTHER_CREDENTIALS,)
    assert set(s3.resources) == {
        "arn:aws:s3:::acme-training-data",
        "arn:aws:s3:::acme-training-data/*",
    }
    assert s3.statements[0].via == "DataScientists"
    kms = grants["kms-decrypt"]
    assert kms.conditional  # kms:ViaService
    assert kms.actions == ("kms:Decrypt",)
    pass_role = grants["pass-role"]
    assert pass_role.conditional  # iam:PassedToService
    assert pass_role.granted_by == (
        "inline:BedrockAPIKey-hr8l/inline_bedrock_admin#PassBedrockServiceRole",
    )
    logging = grants["invocation-logging-tampering"]  # bedrock:* includes Put/Delete
    assert set(logging.actions) == {
        "bedrock:PutModelInvocationLoggingConfiguration",
        "bedrock:DeleteModelInvocationLoggingConfiguration",
    }
    beyond = beyond_managed_policy(identity, None, (), bedrock_limited, catalog)
    assert "iam:PassRole" in beyond
    assert "s3:GetObject" in beyond
    assert "bedrock:PutModelInvocationLoggingConfiguration" in beyond
    assert "bedrock:InvokeModel" not in beyond
    assert beyond == tuple(sorted(beyond))


def test_explicit_denies_remove_capabilities(bedrock_limited: Policy, catalog: IamCatalog) -> None:
    guard = load("inline_deny_guardrail_changes.json")
    grants = by_id(assess_capabilities([bedrock_limited, guard], surface=BEDROCK,
                                       catalog=catalog))  # fmt: skip
    assert grants["guardrail-tampering"].actions == ("bedrock:CreateGuardrailVersion",)
    model = grants["model-deletion"]
    assert "bedrock:DeleteCustomModel" not in model.actions
    assert "bedrock:DeleteImportedModel" not in model.actions
    assert "bedrock:DeleteProvisionedModelThroughput" not in model.actions  # Delete*Model*
    assert model.actions == ("bedrock:DeleteInferenceProfile", "bedrock:DeletePromptRouter")


def test_self_service_credentials_are_iam_write(catalog: IamCatalog) -> None:
    p = load("inline_self_service_escalation.json")
    grant = by_id(assess_capabilities([p], surface=BEDROCK, catalog=catalog))["iam-write"]
    assert set(grant.actions) == {
        "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateAccessKey",
    }  # fmt: skip
    assert not grant.conditional  # an IAM user always has its own user name
    assert grant.resources == ("arn:aws:iam::*:user/${aws:username}",)


def test_no_surface_means_no_api_key_reach(bedrock_limited: Policy, catalog: IamCatalog) -> None:
    grants = assess_capabilities([bedrock_limited], surface=None, catalog=catalog)
    assert grants
    assert all(g.reach == (Reach.OTHER_CREDENTIALS,) for g in grants)
    assert all(not g.api_key_actions for g in grants)


def test_no_policies_no_capabilities(catalog: IamCatalog) -> None:
    assert assess_capabilities([], surface=BEDROCK, catalog=catalog) == ()


# ------------------------------------------------------------ beyond managed


def test_beyond_managed_policy(bedrock_limited: Policy, catalog: IamCatalog) -> None:
    assert beyond_managed_policy([bedrock_limited], None, (), bedrock_limited, catalog) == ()
    # The same policy attached through a group is nothing extra.
    via_group = managed("AmazonBedrockLimitedAccess", kind=PolicyKind.GROUP_MANAGED, via="g")
    assert beyond_managed_policy([bedrock_limited, via_group], None, (), bedrock_limited,
                                 catalog) == ()  # fmt: skip
    # A policy that grants a subset is nothing extra either.
    subset = parse_policy(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "*"}]},
        name="inline:u/subset", kind="inline",
    )  # fmt: skip
    assert beyond_managed_policy([bedrock_limited, subset], None, (), bedrock_limited,
                                 catalog) == ()  # fmt: skip
    # Unconditional marketplace subscribe is more than the managed policy's conditional one.
    market = parse_policy(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "aws-marketplace:Subscribe",
                        "Resource": "*"}]},
        name="inline:u/market", kind="inline",
    )  # fmt: skip
    assert beyond_managed_policy([bedrock_limited, market], None, (), bedrock_limited,
                                 catalog) == ("aws-marketplace:Subscribe",)  # fmt: skip
    # An SCP that blocks the extra takes it away again.
    full = load("scp_full_aws_access.json", kind="scp")
    no_market = parse_policy(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Deny", "Action": "aws-marketplace:*", "Resource": "*"}]},
        name="scp-no-marketplace", kind="scp",
    )  # fmt: skip
    assert beyond_managed_policy([bedrock_limited, market], None, [[full, no_market]],
                                 bedrock_limited, catalog) == ()  # fmt: skip


def test_grant_to_dict_is_json(bedrock_limited: Policy, catalog: IamCatalog) -> None:
    grants = assess_capabilities([bedrock_limited], surface=BEDROCK, catalog=catalog)
    doc = json.loads(json.dumps([g.to_dict() for g in grants]))
    invoke = next(d for d in doc if d["id"] == "invoke-models")
    assert invoke["reach"] == ["api-key", "other-credentials"]
    assert invoke["severity"] == "medium"
    assert invoke["granted_by"][0].startswith("arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess#")


def test_assessment_is_memoised(bedrock_limited: Policy, catalog: IamCatalog) -> None:
    first = assess_capabilities([bedrock_limited], surface=BEDROCK, catalog=catalog)
    assert assess_capabilities((bedrock_limited,), surface=BEDROCK, catalog=catalog) is first
