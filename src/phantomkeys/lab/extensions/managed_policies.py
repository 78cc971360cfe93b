"""6. AWS managed policies (documents: ``lab/policies/*.json``)."""

from __future__ import annotations

import functools
import json
from datetime import datetime
from importlib import resources
from typing import Any

from phantomkeys.lab.extensions.base import IAMBackend, iam_models
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM

# =====================================================================
# 6. AWS managed policies
#
# AWS: the managed-policy catalogue exists in every account. moto ships it but
# loads it only when MOTO_IAM_LOAD_MANAGED_POLICIES is set, and parses 4 MB of
# JSON for each account. Its copies of the two surface policies are older than
# AWS's current versions: AmazonBedrockLimitedAccess v8 (v9 of 2026-08-04 adds
# the BedrockWebSearch statement) and AnthropicLimitedAccess v4 (v6 of 2026-06-12
# adds Managed Agents, AssumeConsole). docs/aws-facts.md "Managed policies" (zoph-io/IAMTrail
# history). The Managed Agents action names below are rebuilt from that summary.
# Older copies are upgraded; a moto with newer copies keeps them.
# =====================================================================


#: The lab's own copies of AWS managed policies, one JSON file each in ``lab/policies/``
#: (``NAME-VERSION.json``: the catalogue entry, metadata and ``Document``), used when moto
#: does not ship the policy (docs/aws-facts.md "Managed policies"):
#:
#: * AmazonBedrockLimitedAccess v8 (2026-04-09): the base for v9.
#: * AnthropicLimitedAccess v4 (2026-04): the base for v6.
#: * AnthropicInferenceAccess v2 (2026-04-01), as the AWS managed policy reference publishes
#:   it (docs.aws.amazon.com/aws-managed-policy/latest/reference/AnthropicInferenceAccess.html):
#:   workspace read + inference, the resourceless bearer-token actions, GetWebIdentityToken
#:   for Anthropic audiences. The last statement (TagGetWebIdentityToken) mirrors
#:   AnthropicLimitedAccess and is unconfirmed for this policy.
POLICY_FILES = (
    "AmazonBedrockLimitedAccess-v8",
    "AnthropicLimitedAccess-v4",
    "AnthropicInferenceAccess-v2",
)


def stored_policy(name: str, version: str) -> dict[str, Any]:
    """An AWS managed policy as the lab stores it (``lab/policies/NAME-VERSION.json``)."""
    if f"{name}-{version}" not in POLICY_FILES:
        raise KeyError(f"the lab stores no {name} {version}")
    text = (resources.files("phantomkeys.lab") / "policies" / f"{name}-{version}.json").read_text(
        encoding="utf-8"
    )
    policy: dict[str, Any] = json.loads(text)
    return policy


_AMAZON_BEDROCK_WEBSEARCH_STATEMENT = {
    "Sid": "BedrockWebSearch",
    "Effect": "Allow",
    "Action": ["bedrock-websearch:InvokeSearch", "bedrock-websearch:InvokeFetch"],
    "Resource": "arn:aws:bedrock-websearch:*:*:*",
}

_ANTHROPIC_AGENT_RESOURCES = ("Agent", "Session", "Environment", "Vault", "MemoryStore", "Webhook")


def _anthropic_limited_access_v6(v4: dict[str, Any]) -> dict[str, Any]:
    workspace_actions = list(v4["Document"]["Statement"][0]["Action"])
    for resource in _ANTHROPIC_AGENT_RESOURCES:
        for verb in ("Create", "Update", "Delete", "Archive"):
            if resource == "Webhook" and verb == "Archive":
                continue
            workspace_actions.append(f"aws-external-anthropic:{verb}{resource}")
    statements = [dict(s) for s in v4["Document"]["Statement"]]
    statements[0]["Action"] = workspace_actions
    statements.append(
        {
            "Sid": "AnthropicLimitedConsole",
            "Effect": "Allow",
            "Action": "aws-external-anthropic:AssumeConsole",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws-external-anthropic:Capability": "developer"}},
        }
    )
    doc = dict(v4)
    doc.update(
        DefaultVersionId="v6",
        UpdateDate="2026-06-12T00:00:00+00:00",
        Document={"Version": "2012-10-17", "Statement": statements},
    )
    return doc


def _bedrock_limited_access_v9(v8: dict[str, Any]) -> dict[str, Any]:
    statements = [*v8["Document"]["Statement"], _AMAZON_BEDROCK_WEBSEARCH_STATEMENT]
    doc = dict(v8)
    doc.update(
        DefaultVersionId="v9",
        UpdateDate="2026-08-04T00:00:00+00:00",
        Document={"Version": "2012-10-17", "Statement": statements},
    )
    return doc


def _version(policy: dict[str, Any] | None) -> int:
    try:
        return int(str((policy or {}).get("DefaultVersionId", "v0")).lstrip("v"))
    except ValueError:
        return 0


@functools.cache
def managed_policy_catalogue() -> dict[str, tuple[dict[str, Any], str]]:
    """name -> (metadata, document JSON); parsed once, documents shared by every account."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    data: dict[str, Any] = json.loads(aws_managed_policies_data)
    bedrock = "AmazonBedrockLimitedAccess"
    anthropic = "AnthropicLimitedAccess"
    inference = "AnthropicInferenceAccess"
    assert {bedrock} == set(BEDROCK.managed_policy_names)
    assert {anthropic, inference} == set(CLAUDE_PLATFORM.managed_policy_names)
    # Only ever upgrade: a moto release with a newer copy keeps its own; an older
    # moto without them gets them built from docs/aws-facts.md's description.
    if _version(data.get(bedrock)) < 9:
        data[bedrock] = _bedrock_limited_access_v9(
            data.get(bedrock) or stored_policy(bedrock, "v8")
        )
    if _version(data.get(anthropic)) < 6:
        data[anthropic] = _anthropic_limited_access_v6(
            data.get(anthropic) or stored_policy(anthropic, "v4")
        )
    if _version(data.get(inference)) < 2:
        data[inference] = stored_policy(inference, "v2")
    return {name: (d, json.dumps(d["Document"])) for name, d in data.items()}


def _backend_init_aws_policies(self: IAMBackend) -> list[Any]:
    out = []
    for name, (d, document) in managed_policy_catalogue().items():
        out.append(
            iam_models.AWSManagedPolicy(
                name,
                account_id=self.account_id,
                region=self.region_name,
                default_version_id=d.get("DefaultVersionId"),
                path=d.get("Path"),
                document=document,
                create_date=datetime.fromisoformat(d["CreateDate"]),
                update_date=datetime.fromisoformat(d["UpdateDate"]),
            )
        )
    return out
