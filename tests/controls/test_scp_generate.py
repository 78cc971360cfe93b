"""scp generate: presets, exact semantics, minification and splitting."""

from __future__ import annotations

import itertools
import json

import pytest

from phantomkeys.core.controls.scp import (
    SCP_MAX_CHARS,
    Preset,
    ScpError,
    ScpOptions,
    build_statements,
    document_size,
    generate_policies,
    minify,
    split_statements,
)
from phantomkeys.core.controls.validate import PolicyInput, validate_policies
from phantomkeys.core.policy import Decision, Policy, PolicyKind, Request, evaluate
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM, SURFACES

ALLOW_ALL = Policy.parse(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    name="allow-all",
    kind="managed",
)
PRINCIPAL = "arn:aws:iam::111122223333:role/Developer"


def _scps(options: ScpOptions) -> list[list[Policy]]:
    policies = generate_policies(options)
    return [
        [
            ALLOW_ALL,
            *(
                Policy.parse(p.content, name=p.name, kind=PolicyKind.SCP, strict=True)
                for p in policies
            ),
        ]
    ]


def _decide(
    options: ScpOptions, action: str, context: dict[str, list[str]], resource: str = "*"
) -> Decision:
    request = Request(
        action, resource=resource, context={"aws:PrincipalArn": [PRINCIPAL], **context}
    )
    return evaluate(request, identity=[ALLOW_ALL], scps=_scps(options)).decision


def _create(service: str, age: int | None) -> dict[str, list[str]]:
    ctx = {"iam:ServiceSpecificCredentialServiceName": [service]}
    if age is not None:
        ctx["iam:ServiceSpecificCredentialAgeDays"] = [str(age)]
    return ctx


ALL_COMBINATIONS = [
    combo for n in range(1, len(Preset) + 1) for combo in itertools.combinations(Preset, n)
]


@pytest.mark.parametrize("presets", ALL_COMBINATIONS, ids=lambda c: "+".join(p.value for p in c))
def test_every_preset_combination_validates_clean_and_parses(presets, catalog) -> None:
    options = ScpOptions(
        presets=presets,
        max_age_days=30 if Preset.MAX_AGE in presets else None,
        exempt_principals=("arn:aws:iam::111122223333:role/BreakGlass",),
    )
    policies = generate_policies(options)
    for policy in policies:
        assert policy.size <= SCP_MAX_CHARS
        assert policy.content == minify(json.loads(policy.content))  # minified
        Policy.parse(policy.content, name=policy.name, kind=PolicyKind.SCP, strict=True)
    findings = validate_policies([PolicyInput(p.name, p.content) for p in policies], catalog)
    assert findings == []


@pytest.mark.parametrize("surface", SURFACES, ids=lambda s: s.id.value)
@pytest.mark.parametrize("preset", list(Preset), ids=lambda p: p.value)
def test_single_surface_presets_validate_clean(surface, preset, catalog) -> None:
    options = ScpOptions(
        presets=(preset,), surfaces=(surface,), max_age_days=7 if preset is Preset.MAX_AGE else None
    )
    policies = generate_policies(options)
    text = "".join(p.content for p in policies)
    other = CLAUDE_PLATFORM if surface is BEDROCK else BEDROCK
    assert other.credential_service not in text
    assert other.phantom_user_prefix not in text
    assert validate_policies([PolicyInput(p.name, p.content) for p in policies], catalog) == []


@pytest.mark.parametrize("days", [1, 30, 90, 36600])
def test_max_age_allows_exactly_n_days_and_denies_n_plus_one(days) -> None:
    options = ScpOptions(presets=(Preset.MAX_AGE,), max_age_days=days)
    for surface in SURFACES:
        allowed = _decide(
            options,
            "iam:CreateServiceSpecificCredential",
            _create(surface.credential_service, days),
        )
        assert allowed is Decision.ALLOWED, "N days must be allowed (at most N)"
        if days < 36600:
            over = _decide(
                options,
                "iam:CreateServiceSpecificCredential",
                _create(surface.credential_service, days + 1),
            )
            assert over is Decision.EXPLICIT_DENY


def test_max_age_denies_keys_created_without_an_age() -> None:
    """A never-expiring key has no age key at all: the Null guard must catch it."""
    options = ScpOptions(presets=(Preset.MAX_AGE,), max_age_days=30)
    for surface in SURFACES:
        decision = _decide(
            options,
            "iam:CreateServiceSpecificCredential",
            _create(surface.credential_service, None),
        )
        assert decision is Decision.EXPLICIT_DENY
    # ...but other services' credentials (CodeCommit) are untouched.
    assert (
        _decide(
            options,
            "iam:CreateServiceSpecificCredential",
            _create("codecommit.amazonaws.com", None),
        )
        is Decision.ALLOWED
    )
    document = generate_policies(options)[0].document
    null_guards = [s for s in document["Statement"] if "Null" in s.get("Condition", {})]
    assert null_guards[0]["Condition"]["Null"] == {"iam:ServiceSpecificCredentialAgeDays": "true"}
    caps = [s for s in document["Statement"] if "NumericGreaterThan" in s.get("Condition", {})]
    assert caps
    assert not any("NumericGreaterThanEquals" in s["Condition"] for s in document["Statement"])


def test_block_all_blocks_every_bearer_action_including_mantle() -> None:
    options = ScpOptions(presets=(Preset.BLOCK_ALL,))
    text = generate_policies(options)[0].content
    assert "bedrock-mantle:CallWithBearerToken" in text
    for surface in SURFACES:
        for action, type_key in zip(
            surface.bearer_token_actions, surface.bearer_token_type_keys, strict=True
        ):
            for token_type in ("SHORT_TERM", "LONG_TERM"):
                assert (
                    _decide(options, action, {type_key: [token_type]}) is Decision.EXPLICIT_DENY
                ), (action, token_type)
        assert (
            _decide(
                options,
                "iam:CreateServiceSpecificCredential",
                _create(surface.credential_service, 1),
            )
            is Decision.EXPLICIT_DENY
        )


def test_block_long_term_keeps_short_term_keys_working_on_every_endpoint() -> None:
    options = ScpOptions(presets=(Preset.BLOCK_LONG_TERM,))
    for surface in SURFACES:
        for action, type_key in zip(
            surface.bearer_token_actions, surface.bearer_token_type_keys, strict=True
        ):
            assert _decide(options, action, {type_key: ["LONG_TERM"]}) is Decision.EXPLICIT_DENY
            assert _decide(options, action, {type_key: ["SHORT_TERM"]}) is Decision.ALLOWED
    # One statement per (action, type key): bedrock:BearerTokenType never reaches mantle.
    statements = build_statements(options)
    mantle = [s for s in statements if s.actions == ("bedrock-mantle:CallWithBearerToken",)]
    assert mantle[0].conditions[0].key == "bedrock-mantle:BearerTokenType"


def test_phantom_presets_block_creation_pivot_and_policy_attachment() -> None:
    options = ScpOptions(presets=(Preset.BLOCK_PHANTOM_CREATION, Preset.BLOCK_PIVOT))
    for surface in SURFACES:
        for path in ("", "keys/"):
            phantom = f"arn:aws:iam::111122223333:user/{path}{surface.phantom_user_prefix}ab12"
            assert _decide(options, "iam:CreateUser", {}, phantom) is Decision.EXPLICIT_DENY
            for action in ("iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:EnableMFADevice"):
                assert _decide(options, action, {}, phantom) is Decision.EXPLICIT_DENY
        assert (
            _decide(
                options,
                "iam:AttachUserPolicy",
                {"iam:PolicyARN": [surface.managed_policy_arn()]},
                "arn:aws:iam::111122223333:user/alice",
            )
            is Decision.EXPLICIT_DENY
        )
    alice = "arn:aws:iam::111122223333:user/alice"
    assert _decide(options, "iam:CreateUser", {}, alice) is Decision.ALLOWED
    assert _decide(options, "iam:CreateAccessKey", {}, alice) is Decision.ALLOWED
    assert (
        _decide(
            options,
            "iam:AttachUserPolicy",
            {"iam:PolicyARN": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
            alice,
        )
        is Decision.ALLOWED
    )


def test_exempt_principal_is_not_denied() -> None:
    breakglass = "arn:aws:iam::111122223333:role/BreakGlass"
    options = ScpOptions(presets=(Preset.BLOCK_ALL,), exempt_principals=(breakglass,))
    request = Request(
        "bedrock:CallWithBearerToken",
        context={"aws:PrincipalArn": [breakglass], "bedrock:BearerTokenType": ["LONG_TERM"]},
    )
    assert evaluate(request, identity=[ALLOW_ALL], scps=_scps(options)).decision is Decision.ALLOWED
    assert (
        _decide(options, "bedrock:CallWithBearerToken", {"bedrock:BearerTokenType": ["LONG_TERM"]})
        is Decision.EXPLICIT_DENY
    )
    for statement in generate_policies(options)[0].document["Statement"]:
        assert statement["Condition"]["ArnNotLike"] == {"aws:PrincipalArn": breakglass}


def test_combined_presets_drop_statements_made_redundant() -> None:
    both = build_statements(
        ScpOptions(
            presets=(Preset.BLOCK_ALL, Preset.BLOCK_LONG_TERM, Preset.MAX_AGE), max_age_days=30
        )
    )
    sids = [s.sid for s in both]
    assert sids == ["DenyApiKeyCreation", "DenyBearerTokenUse"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ScpOptions(presets=(Preset.MAX_AGE,)), "needs --max-age-days"),
        (ScpOptions(presets=(Preset.MAX_AGE,), max_age_days=0), "between 1 and 36600"),
        (ScpOptions(presets=(Preset.MAX_AGE,), max_age_days=36601), "between 1 and 36600"),
        (ScpOptions(presets=(Preset.BLOCK_ALL,), max_age_days=3), "only applies to"),
        (
            ScpOptions(presets=(Preset.BLOCK_ALL,), exempt_principals=("BreakGlass",)),
            "not an IAM principal ARN",
        ),
        (ScpOptions(presets=()), "at least one --preset"),
    ],
)
def test_bad_options_are_one_line_errors(options, message) -> None:
    with pytest.raises(ScpError, match=message):
        generate_policies(options)


def test_too_large_policy_is_split_and_every_part_fits(catalog) -> None:
    exempt = tuple(f"arn:aws:iam::{n:012d}:role/BreakGlassAdministrator" for n in range(40))
    options = ScpOptions(presets=tuple(Preset), max_age_days=30, exempt_principals=exempt)
    whole = build_statements(options)
    policies = generate_policies(options)
    assert len(policies) > 1
    assert [p.name for p in policies] == [
        f"{options.base_name}-part{i}" for i in range(1, len(policies) + 1)
    ]
    assert all(p.size <= SCP_MAX_CHARS for p in policies)
    # Nothing lost: every action of every statement is still denied somewhere.
    denied = {(a, s.resources, s.conditions) for s in whole for a in s.actions}
    parts = {
        (a, s.resources, s.conditions) for p in policies for s in p.statements for a in s.actions
    }
    assert parts == denied
    sids = [s.sid for p in policies for s in p.statements]
    assert len(sids) == len(set(sids))
    assert validate_policies([PolicyInput(p.name, p.content) for p in policies], catalog) == []


def test_small_limit_splits_an_action_list() -> None:
    options = ScpOptions(presets=(Preset.BLOCK_PIVOT,))
    pivot = build_statements(options)[0]
    assert pivot.sid == "DenyPhantomUserPivot"
    groups = split_statements([pivot], limit=300)
    assert len(groups) > 1
    actions = [a for g in groups for st in g for a in st.actions]
    assert sorted(actions) == sorted(pivot.actions)
    assert all(document_size(g) <= 300 for g in groups)
    # The whole preset still fits a small limit: one statement per document.
    policies = generate_policies(options, limit=440)
    assert all(p.size <= 440 for p in policies)


def test_statement_that_cannot_fit_is_an_error() -> None:
    exempt = tuple(f"arn:aws:iam::{n:012d}:role/BreakGlassAdministrator" for n in range(200))
    with pytest.raises(ScpError, match="over the 5120-character SCP limit"):
        generate_policies(ScpOptions(presets=(Preset.BLOCK_ALL,), exempt_principals=exempt))


def test_block_pivot_denies_other_services_credentials_on_phantom_users() -> None:
    """issue 18: a CodeCommit/Keyspaces/CloudWatch credential on a phantom user is a
    way in that outlives its API keys; the phantom's own API key stays allowed."""
    options = ScpOptions(presets=(Preset.BLOCK_PIVOT,))
    phantom = "arn:aws:iam::111122223333:user/BedrockAPIKey-hr8l"
    for service in (
        "codecommit.amazonaws.com",
        "cassandra.amazonaws.com",
        "cloudwatch.amazonaws.com",
    ):
        decision = _decide(
            options, "iam:CreateServiceSpecificCredential", _create(service, None), phantom
        )
        assert decision is Decision.EXPLICIT_DENY, service
    own = _decide(
        options,
        "iam:CreateServiceSpecificCredential",
        _create("bedrock.amazonaws.com", 30),
        phantom,
    )
    assert own is Decision.ALLOWED
    other_user = "arn:aws:iam::111122223333:user/alice"
    assert (
        _decide(
            options,
            "iam:CreateServiceSpecificCredential",
            _create("codecommit.amazonaws.com", None),
            other_user,
        )
        is Decision.ALLOWED
    )
