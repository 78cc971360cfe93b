"""issue 18: SCPs that cannot be sidestepped, and both Claude Platform policies,
through ``phantomkeys scp generate`` / ``scp validate`` and the capability evaluation."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from phantomkeys.catalog import default_catalog
from phantomkeys.cli.scp import scp
from phantomkeys.core.capabilities import assess_capabilities
from phantomkeys.core.policy import Policy, PolicyKind
from phantomkeys.surfaces import BEDROCK

MANTLE_KEY = "bedrock-mantle:BearerTokenType"


def _generate(*args: str) -> dict:
    result = CliRunner().invoke(scp, ["generate", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _statements_for(document: dict, action: str) -> list[dict]:
    return [
        s
        for s in document["Statement"]
        if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]


def test_block_long_term_denies_mantle_as_anything_but_short_term() -> None:
    doc = _generate("--preset", "block-long-term", "--surface", "bedrock")
    mantle = _statements_for(doc, "bedrock-mantle:CallWithBearerToken")
    conditions = [s["Condition"] for s in mantle]
    assert {"StringNotEquals": {MANTLE_KEY: "SHORT_TERM"}} in conditions
    assert {"Null": {MANTLE_KEY: "true"}} in conditions  # the Null guard
    assert not any("StringEquals" in c and MANTLE_KEY in c["StringEquals"] for c in conditions)
    # bedrock:BearerTokenType's values are published: StringEquals LONG_TERM stays.
    bedrock = _statements_for(doc, "bedrock:CallWithBearerToken")
    assert bedrock[0]["Condition"] == {"StringEquals": {"bedrock:BearerTokenType": "LONG_TERM"}}


def test_generated_long_term_scp_passes_validation(tmp_path: Path) -> None:
    doc = _generate("--preset", "block-long-term")
    path = tmp_path / "lt.json"
    path.write_text(json.dumps(doc))
    result = CliRunner().invoke(scp, ["validate", str(path), "--format", "json"])
    ids = {f["rule_id"] for f in json.loads(result.stdout)["findings"]}
    assert "scp-long-term-value-unpublished" not in ids, ids


def test_validate_warns_on_the_string_equals_long_term_form_for_mantle(tmp_path: Path) -> None:
    weak = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyLongTermMantle",
                "Effect": "Deny",
                "Action": ["bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken"],
                "Resource": "*",
                "Condition": {"StringEquals": {MANTLE_KEY: "LONG_TERM"}},
            }
        ],
    }
    path = tmp_path / "weak.json"
    path.write_text(json.dumps(weak))
    result = CliRunner().invoke(scp, ["validate", str(path), "--format", "json"])
    assert result.exit_code == 1  # medium fails the default --fail-on
    ids = [f["rule_id"] for f in json.loads(result.stdout)["findings"]]
    assert "scp-long-term-value-unpublished" in ids


def test_block_phantom_creation_covers_both_claude_policies() -> None:
    doc = _generate("--preset", "block-phantom-creation")
    attach = _statements_for(doc, "iam:AttachUserPolicy")[0]
    arns = attach["Condition"]["ArnLike"]["iam:PolicyARN"]
    for name in (
        "AmazonBedrockLimitedAccess",
        "AnthropicLimitedAccess",
        "AnthropicInferenceAccess",
    ):
        assert f"arn:*:iam::aws:policy/{name}" in arns, name


def _scp(statement: dict) -> Policy:
    return Policy.parse(
        {"Version": "2012-10-17", "Statement": [statement]}, name="scp", kind=PolicyKind.SCP
    )


def test_a_string_equals_long_term_scp_does_not_close_mantle() -> None:
    """The key's type may be "ABSK" on Mantle: the evaluation tries it too."""
    catalog = default_catalog()
    allow = Policy.parse(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "bedrock-mantle:CallWithBearerToken",
                        "bedrock-mantle:CreateInference",
                    ],
                    "Resource": "*",
                }
            ],
        },
        name="mantle",
        kind=PolicyKind.MANAGED,
    )
    full = _scp({"Effect": "Allow", "Action": "*", "Resource": "*"})

    def mantle_reachable(deny: dict) -> bool:
        grants = assess_capabilities(
            [allow], scps=[[full, _scp(deny)]], surface=BEDROCK, catalog=catalog
        )
        return any("bedrock-mantle:CreateInference" in g.api_key_actions for g in grants)

    base = {"Effect": "Deny", "Action": "bedrock-mantle:CallWithBearerToken", "Resource": "*"}
    weak = {**base, "Condition": {"StringEquals": {MANTLE_KEY: "LONG_TERM"}}}
    strong = {**base, "Condition": {"StringNotEquals": {MANTLE_KEY: "SHORT_TERM"}}}
    assert mantle_reachable(weak)
    assert not mantle_reachable(strong)
