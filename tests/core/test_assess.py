"""Identity classification, fail-closed status, capabilities and risk — on snapshots."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from phantomkeys.catalog import default_catalog
from phantomkeys.core.assess import IdentityKind, Status, assess_account
from phantomkeys.core.model import (
    AccessKey,
    AccountSnapshot,
    Group,
    IamUser,
    InlinePolicy,
    LookupFailure,
    ManagedPolicy,
    ScpLevel,
    ServiceCredential,
)
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ACCT = "111122223333"
BEDROCK_ARN = BEDROCK.managed_policy_arn()
CLAUDE_ARN = CLAUDE_PLATFORM.managed_policy_arn()
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"


def _aws_policy(name: str) -> dict:
    moto_policies = pytest.importorskip("moto.iam.aws_managed_policies")
    return json.loads(moto_policies.aws_managed_policies_data)[name]["Document"]


@pytest.fixture(scope="module")
def managed():
    return {
        BEDROCK_ARN: ManagedPolicy(
            BEDROCK_ARN,
            "AmazonBedrockLimitedAccess",
            _aws_policy("AmazonBedrockLimitedAccess"),
            "v9",
        ),
        CLAUDE_ARN: ManagedPolicy(
            CLAUDE_ARN, "AnthropicLimitedAccess", _aws_policy("AnthropicLimitedAccess"), "v6"
        ),
        ADMIN_ARN: ManagedPolicy(
            ADMIN_ARN, "AdministratorAccess", _aws_policy("AdministratorAccess"), "v1"
        ),
    }


def cred(
    user: str,
    *,
    surface=BEDROCK,
    status="Active",
    age_days=10,
    expires_in: int | None = 20,
    n: int = 1,
) -> ServiceCredential:
    created = NOW - timedelta(days=age_days)
    return ServiceCredential(
        id=f"ACCA{user.upper().replace('-', '')[:10]}{n:06d}",
        username=user,
        service=surface.credential_service,
        status=status,
        created=created,
        expires=None if expires_in is None else NOW + timedelta(days=expires_in),
    )


def user(
    name: str,
    *,
    creds=(),
    policies=(BEDROCK_ARN,),
    keys=(),
    password=False,
    mfa=(),
    groups=(),
    boundary=None,
    inline=(),
) -> IamUser:
    return IamUser(
        name=name,
        arn=f"arn:aws:iam::{ACCT}:user/{name}",
        created=NOW - timedelta(days=200),
        attached_policy_arns=tuple(policies),
        service_credentials=tuple(creds),
        access_keys=tuple(keys),
        password_enabled=password,
        mfa_devices=tuple(mfa),
        group_names=tuple(groups),
        boundary_arn=boundary,
        inline_policies=tuple(inline),
    )


def snapshot(users, managed, *, groups=None, failures=(), scps=None) -> AccountSnapshot:
    return AccountSnapshot(
        account_id=ACCT,
        partition="aws",
        collected_at=NOW,
        users=tuple(users),
        managed_policies=dict(managed),
        groups=groups or {},
        failures=tuple(failures),
        scps=scps,
    )


def assess(snap):
    return {
        (i.username, i.surface.id.value): i
        for i in assess_account(snap, catalog=default_catalog(), at=NOW)
    }


BOUNDARY_ARN = f"arn:aws:iam::{ACCT}:policy/BedrockRuntimeOnly"
S3_READ = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}
    ],
}
PASSROLE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}],
}


@pytest.fixture(scope="module")
def demo(managed):
    m = dict(managed)
    m[BOUNDARY_ARN] = ManagedPolicy(
        BOUNDARY_ARN,
        "BedrockRuntimeOnly",
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "bedrock:InvokeModel",
                        "bedrock:InvokeModelWithResponseStream",
                        "bedrock:CallWithBearerToken",
                    ],
                    "Resource": "*",
                }
            ],
        },
    )
    groups = {
        "data-science": Group(
            "data-science",
            f"arn:aws:iam::{ACCT}:group/data-science",
            inline_policies=(InlinePolicy("s3-read", S3_READ),),
        )
    }
    users = [
        user("BedrockAPIKey-orph"),
        user("BedrockAPIKey-live", creds=[cred("BedrockAPIKey-live")]),
        user(
            "BedrockAPIKey-akey",
            creds=[cred("BedrockAPIKey-akey")],
            keys=[AccessKey("AKIAEXAMPLE", "Active", NOW - timedelta(days=3))],
        ),
        user("BedrockAPIKey-pass", creds=[cred("BedrockAPIKey-pass")], password=True),
        user(
            "BedrockAPIKey-mfaa",
            creds=[cred("BedrockAPIKey-mfaa")],
            mfa=[f"arn:aws:iam::{ACCT}:mfa/x"],
        ),
        user(
            "BedrockAPIKey-admn",
            creds=[cred("BedrockAPIKey-admn")],
            policies=(BEDROCK_ARN, ADMIN_ARN),
        ),
        user(
            "BedrockAPIKey-prol",
            creds=[cred("BedrockAPIKey-prol")],
            inline=[InlinePolicy("passrole", PASSROLE)],
        ),
        user("BedrockAPIKey-grup", creds=[cred("BedrockAPIKey-grup")], groups=["data-science"]),
        user(
            "BedrockAPIKey-bdry",
            creds=[cred("BedrockAPIKey-bdry")],
            policies=(BEDROCK_ARN, ADMIN_ARN),
            boundary=BOUNDARY_ARN,
        ),
        user("ml-inference-bot", creds=[cred("ml-inference-bot")]),
        user(
            "alice",
            creds=[cred("alice")],
            policies=(ADMIN_ARN,),
            password=True,
            keys=[AccessKey("AKIAALICE", "Active")],
        ),
        user("BedrockAPIKey-nevr", creds=[cred("BedrockAPIKey-nevr", expires_in=None)]),
        user("BedrockAPIKey-huge", creds=[cred("BedrockAPIKey-huge", expires_in=36600)]),
        user("BedrockAPIKey-expd", creds=[cred("BedrockAPIKey-expd", age_days=40, expires_in=-10)]),
        user("BedrockAPIKey-inac", creds=[cred("BedrockAPIKey-inac", status="Inactive")]),
        user(
            "BedrockAPIKey-oldk", creds=[cred("BedrockAPIKey-oldk", age_days=200, expires_in=100)]
        ),
        user(
            "AeaApiKey-clde",
            policies=(CLAUDE_ARN,),
            creds=[cred("AeaApiKey-clde", surface=CLAUDE_PLATFORM)],
        ),
        user("bob", policies=(), creds=()),
    ]
    return assess(snapshot(users, m, groups=groups))


EXPECTED = {
    "BedrockAPIKey-orph": (IdentityKind.PHANTOM, Status.ORPHANED),
    "BedrockAPIKey-live": (IdentityKind.PHANTOM, Status.ACTIVE),
    "BedrockAPIKey-akey": (IdentityKind.PHANTOM, Status.AT_RISK),
    "BedrockAPIKey-pass": (IdentityKind.PHANTOM, Status.AT_RISK),
    "BedrockAPIKey-mfaa": (IdentityKind.PHANTOM, Status.ACTIVE),
    "BedrockAPIKey-admn": (IdentityKind.PHANTOM, Status.AT_RISK),
    "BedrockAPIKey-prol": (IdentityKind.PHANTOM, Status.AT_RISK),
    "BedrockAPIKey-grup": (IdentityKind.PHANTOM, Status.AT_RISK),
    "BedrockAPIKey-bdry": (IdentityKind.PHANTOM, Status.ACTIVE),
    "ml-inference-bot": (IdentityKind.SUSPECTED_PHANTOM, Status.ACTIVE),
    "alice": (IdentityKind.HUMAN, Status.AT_RISK),
    "BedrockAPIKey-nevr": (IdentityKind.PHANTOM, Status.ACTIVE),
    "BedrockAPIKey-huge": (IdentityKind.PHANTOM, Status.ACTIVE),
    "BedrockAPIKey-expd": (IdentityKind.PHANTOM, Status.EXPIRED),
    "BedrockAPIKey-inac": (IdentityKind.PHANTOM, Status.EXPIRED),
    "BedrockAPIKey-oldk": (IdentityKind.PHANTOM, Status.ACTIVE),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_classification(demo, name):
    ident = demo[(name, "bedrock")]
    assert (ident.kind, ident.status) == EXPECTED[name], ident.unknown_because


def test_claude_platform_phantom_and_plain_user(demo):
    clde = demo[("AeaApiKey-clde", "claude-platform")]
    assert (clde.kind, clde.status) == (IdentityKind.PHANTOM, Status.ACTIVE)
    assert ("AeaApiKey-clde", "bedrock") not in demo
    assert not any(name == "bob" for name, _ in demo)


def rules(ident):
    return {f.rule_id: f for f in ident.findings}


def test_pivot_findings_are_critical(demo):
    assert rules(demo[("BedrockAPIKey-akey", "bedrock")])["pivot-access-key"].severity == "critical"
    assert "pivot-console-password" in rules(demo[("BedrockAPIKey-pass", "bedrock")])
    assert "mfa-on-api-key-user" in rules(demo[("BedrockAPIKey-mfaa", "bedrock")])


def test_never_expiring_both_variants(demo):
    assert "never-expiring-key" in rules(demo[("BedrockAPIKey-nevr", "bedrock")])
    assert "never-expiring-key" in rules(demo[("BedrockAPIKey-huge", "bedrock")])
    assert "never-expiring-key" not in rules(demo[("BedrockAPIKey-live", "bedrock")])
    assert "old-key" in rules(demo[("BedrockAPIKey-oldk", "bedrock")])


def caps(ident):
    return {g.capability for g in ident.capabilities}


def test_capabilities(demo):
    live = caps(demo[("BedrockAPIKey-live", "bedrock")])
    assert {"invoke-models", "guardrail-tampering", "model-deletion"} <= live
    assert "full-admin" not in live and "pass-role" not in live
    assert "full-admin" in caps(demo[("BedrockAPIKey-admn", "bedrock")])
    assert "pass-role" in caps(demo[("BedrockAPIKey-prol", "bedrock")])
    assert "s3-data-read" in caps(demo[("BedrockAPIKey-grup", "bedrock")])
    bounded = demo[("BedrockAPIKey-bdry", "bedrock")]
    assert "full-admin" not in caps(bounded) and not bounded.beyond_managed


def test_capability_cites_granting_statement(demo):
    admin = demo[("BedrockAPIKey-admn", "bedrock")]
    grant = next(g for g in admin.capabilities if g.capability == "full-admin")
    assert any("AdministratorAccess" in ref for ref in grant.granted_by)
    invoke = next(
        g
        for g in demo[("BedrockAPIKey-live", "bedrock")].capabilities
        if g.capability == "invoke-models"
    )
    assert "api-key" in [r.value for r in invoke.reach]


def test_fingerprints_stable_and_distinct(demo, managed):
    again = assess(
        snapshot(
            [
                user(
                    "BedrockAPIKey-akey",
                    creds=[cred("BedrockAPIKey-akey")],
                    keys=[AccessKey("AKIAEXAMPLE", "Active")],
                )
            ],
            managed,
        )
    )
    a = rules(demo[("BedrockAPIKey-akey", "bedrock")])["pivot-access-key"].fingerprint
    b = rules(again[("BedrockAPIKey-akey", "bedrock")])["pivot-access-key"].fingerprint
    assert a == b
    prints = [f.fingerprint for i in demo.values() for f in i.findings]
    assert len(prints) == len(set(prints))


# ----------------------------------------------------------------- fail closed


@pytest.mark.parametrize(
    "change,why",
    [
        ({"service_credentials": None}, "API keys could not be listed"),
        ({"access_keys": None}, "access keys unknown"),
        ({"password_enabled": None}, "console password unknown"),
    ],
)
def test_unknown_never_orphaned(managed, change, why):
    u = replace(user("BedrockAPIKey-orph"), **change)
    ident = assess(snapshot([u], managed))[("BedrockAPIKey-orph", "bedrock")]
    assert ident.status is Status.UNKNOWN
    assert any(why in reason for reason in ident.unknown_because)
    assert "unknown-state" in rules(ident)


def test_account_wide_failure_makes_everyone_unknown(managed):
    failure = LookupFailure("iam:GetCredentialReport", "Throttling", "Rate exceeded")
    idents = assess(
        snapshot(
            [
                user("BedrockAPIKey-orph"),
                user("BedrockAPIKey-live", creds=[cred("BedrockAPIKey-live")]),
            ],
            managed,
            failures=[failure],
        )
    )
    assert {i.status for i in idents.values()} == {Status.UNKNOWN}


def test_unreadable_policy_makes_unknown(managed):
    m = dict(managed)
    m[ADMIN_ARN] = ManagedPolicy(ADMIN_ARN, "AdministratorAccess", None)
    ident = assess(snapshot([user("BedrockAPIKey-x", policies=(BEDROCK_ARN, ADMIN_ARN))], m))[
        ("BedrockAPIKey-x", "bedrock")
    ]
    assert ident.status is Status.UNKNOWN


def test_scps_limit_capabilities(managed):
    deny = ManagedPolicy(
        "arn:aws:organizations::o:policy/p-deny",
        "DenyBedrock",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": ["bedrock:*", "bedrock-mantle:*"], "Resource": "*"},
            ],
        },
    )
    levels = (ScpLevel("r-root", "Root", (deny,)),)
    u = user("BedrockAPIKey-live", creds=[cred("BedrockAPIKey-live")])
    ident = assess(snapshot([u], managed, scps=levels))[("BedrockAPIKey-live", "bedrock")]
    assert ident.scps_evaluated
    assert "invoke-models" not in caps(ident)
