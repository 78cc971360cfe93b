"""The one TARGET resolver (core/target.py), used by revoke/report, least-privilege and
timeline; each command keeps its own wording (tests/respond, tests/saferpath, tests/trail)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from phantomkeys.core import keys
from phantomkeys.core.target import TargetKind, TargetProblem, resolve_target
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM

ACCOUNT = "123456789012"
ASIA = "ASIAQ3EGRZ7FEXAMPLEA"
SECRET = "s3cr3t-Value-that-must-not-leak+/="


def test_a_long_term_key_is_its_user_and_never_prints_the_secret() -> None:
    key = keys.encode_long_term(
        BEDROCK, username="BedrockAPIKey-x1", account_id=ACCOUNT, secret=SECRET
    )
    found = resolve_target(f"  Bearer {key}\n")
    assert found.kind is TargetKind.LONG_TERM_KEY
    assert (found.username, found.account_id, found.surface) == (
        "BedrockAPIKey-x1",
        ACCOUNT,
        BEDROCK.id,
    )
    assert found.redacted and SECRET not in found.redacted and SECRET not in repr(found)


def test_a_short_term_key_is_its_signer() -> None:
    key = keys.mint_short_term(
        CLAUDE_PLATFORM,
        access_key_id=ASIA,
        secret_access_key="x" * 40,
        region="us-west-2",
        issued_at=datetime(2026, 11, 1, tzinfo=UTC),
        lifetime_seconds=3600,
        session_token="IQoJb3JpZ2luX2VjEJrtoken",
    )
    found = resolve_target(key)
    assert found.kind is TargetKind.SHORT_TERM_KEY
    assert (found.access_key_id, found.region, found.username) == (ASIA, "us-west-2", None)


def test_names_and_access_key_ids() -> None:
    assert resolve_target(" alice ").username == "alice"
    assert resolve_target(ASIA).kind is TargetKind.USER  # a name unless ids are accepted
    found = resolve_target(ASIA, access_key_ids=True)
    assert (found.kind, found.access_key_id) == (TargetKind.ACCESS_KEY, ASIA)


@pytest.mark.parametrize(
    ("text", "options", "problem"),
    [
        ("   ", {}, TargetProblem.EMPTY),
        ("not a user!", {}, TargetProblem.BAD_NAME),
        ("x" * 65, {}, TargetProblem.BAD_NAME),
        ("ABSKnot-a-key", {"prefix_means_key": True}, TargetProblem.BAD_KEY),
        ("alice", {"key_only": True}, TargetProblem.BAD_KEY),
    ],
)
def test_problems(text: str, options: dict[str, bool], problem: TargetProblem) -> None:
    from phantomkeys.core.target import TargetError

    with pytest.raises(TargetError) as caught:
        resolve_target(text, **options)
    assert caught.value.problem is problem
