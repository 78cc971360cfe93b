"""Extension details that a live lab cannot show (e.g. with a moto that has newer data)."""

from __future__ import annotations

from typing import Any

import pytest

from phantomkeys.lab import extensions
from phantomkeys.lab.accounts import member_account_id


def _v(policy: dict[str, Any]) -> int:
    return extensions._version(policy)


def test_older_surface_policies_are_upgraded_newer_ones_kept() -> None:
    v8 = {
        "DefaultVersionId": "v8",
        "CreateDate": "2025-06-29T22:22:06+00:00",
        "UpdateDate": "2026-04-09T04:42:19+00:00",
        "Document": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "BedrockAPIs",
                    "Effect": "Allow",
                    "Action": ["bedrock:InvokeModel"],
                    "Resource": "*",
                }
            ],
        },
    }
    v9 = extensions._bedrock_limited_access_v9(v8)
    assert _v(v9) == 9
    assert {"bedrock-websearch:InvokeSearch", "bedrock-websearch:InvokeFetch"} <= {
        a for st in v9["Document"]["Statement"] for a in st["Action"]
    }
    assert v8["DefaultVersionId"] == "v8"  # the input is not modified
    v4 = {
        "DefaultVersionId": "v4",
        "CreateDate": "2026-04-01T04:57:18+00:00",
        "UpdateDate": "2026-04-02T20:12:08+00:00",
        "Document": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AnthropicLimitedWorkspace",
                    "Effect": "Allow",
                    "Action": ["aws-external-anthropic:CreateInference"],
                    "Resource": "arn:aws:aws-external-anthropic:*:*:workspace/*",
                },
                {
                    "Sid": "AnthropicLimitedResourceless",
                    "Effect": "Allow",
                    "Action": ["aws-external-anthropic:CallWithBearerToken"],
                    "Resource": "*",
                },
            ],
        },
    }
    v6 = extensions._anthropic_limited_access_v6(v4)
    statements = v6["Document"]["Statement"]
    assert _v(v6) == 6
    assert "aws-external-anthropic:CreateAgent" in statements[0]["Action"]
    console = next(
        st for st in statements if st["Action"] == "aws-external-anthropic:AssumeConsole"
    )
    assert console["Condition"] == {
        "StringEquals": {"aws-external-anthropic:Capability": "developer"}
    }
    catalogue = extensions.managed_policy_catalogue()
    assert _v(catalogue["AmazonBedrockLimitedAccess"][0]) >= 9
    assert _v(catalogue["AnthropicLimitedAccess"][0]) >= 6


def test_marker_encoding_rejects_garbage() -> None:
    page, marker = extensions.paginate(list(range(5)), None, 2)
    assert page == [0, 1]
    assert marker
    page, marker = extensions.paginate(list(range(5)), marker, 2)
    assert page == [2, 3]
    with pytest.raises(extensions.ValidationError):
        extensions.paginate([1], "not-a-marker", 1)
    with pytest.raises(extensions.ValidationError):
        extensions.paginate([1], None, 1001)


def test_member_account_numbering() -> None:
    assert [member_account_id(i) for i in (1, 2, 8)] == [
        "222222222222",
        "333333333333",
        "999999999999",
    ]
    assert member_account_id(9) == "200000000009"
    with pytest.raises(ValueError, match="starts at 1"):
        member_account_id(0)


def test_service_credential_status() -> None:
    from datetime import UTC, datetime, timedelta

    created = datetime(2026, 1, 1, tzinfo=UTC)
    cred = extensions.ServiceCredential("ACCAX", "u", "bedrock.amazonaws.com", created, 30)
    assert cred.effective_status(created + timedelta(days=29)) == "Active"
    assert cred.effective_status(created + timedelta(days=30)) == "Expired"
    cred.status = "Inactive"
    assert cred.effective_status(created + timedelta(days=1)) == "Inactive"
    forever = extensions.ServiceCredential("ACCAY", "u", "bedrock.amazonaws.com", created, None)
    assert forever.expiration_date is None
    assert "ExpirationDate" not in forever.metadata(created)
    git = extensions.ServiceCredential("ACCAZ", "u", "codecommit.amazonaws.com", created, 5)
    assert "ExpirationDate" not in git.metadata(created)  # only API-key services show it


def test_surface_policies_are_built_when_moto_lacks_them(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import moto.iam.aws_managed_policies as data_module

    data = json.loads(data_module.aws_managed_policies_data)
    data.pop("AmazonBedrockLimitedAccess")
    data.pop("AnthropicLimitedAccess")
    monkeypatch.setattr(data_module, "aws_managed_policies_data", json.dumps(data))
    extensions.managed_policy_catalogue.cache_clear()
    try:
        catalogue = extensions.managed_policy_catalogue()
        bedrock = catalogue["AmazonBedrockLimitedAccess"][0]
        anthropic = catalogue["AnthropicLimitedAccess"][0]
        assert _v(bedrock) == 9
        assert _v(anthropic) == 6
        actions = {a for st in bedrock["Document"]["Statement"] for a in st["Action"]}
        assert len([a for a in actions if a.startswith("bedrock:")]) == 44  # DOMAIN-FACTS §4
        assert "bedrock-websearch:InvokeFetch" in actions
    finally:
        extensions.managed_policy_catalogue.cache_clear()


def test_stored_policies_are_data_files_listed_and_loadable() -> None:
    """The lab's managed-policy copies are JSON files under lab/policies/, one per version."""
    from importlib import resources

    folder = resources.files("phantomkeys.lab") / "policies"
    on_disk = sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.is_file())
    assert on_disk == sorted(extensions.POLICY_FILES)
    for stem in extensions.POLICY_FILES:
        name, _, version = stem.rpartition("-")
        policy = extensions.stored_policy(name, version)
        assert policy["DefaultVersionId"] == version
        assert policy["Document"]["Version"] == "2012-10-17"
        assert all(st["Effect"] == "Allow" for st in policy["Document"]["Statement"])
        # Each call returns a fresh copy: an upgrade never edits the stored one.
        policy["Document"]["Statement"].clear()
        assert extensions.stored_policy(name, version)["Document"]["Statement"]
    with pytest.raises(KeyError):
        extensions.stored_policy("AdministratorAccess", "v1")
