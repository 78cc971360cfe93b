"""Each IAM item's step factory and its inverse (core/plans/items.py) agree.

What a step takes away, its inverse puts back with the values saved before the run; a step
marked irreversible has an inverse that only says what is lost. Checked over every step a
full revoke and a full cleanup of a pivoted phantom user make.
"""

from __future__ import annotations

import pytest
from tests.respond.fixtures import NOW, phantom

from phantomkeys.core.plans import (
    REVOKE_POLICY_NAME,
    RevokeOptions,
    Step,
    build_cleanup_plan,
    build_revoke_plan,
    items,
    user_facts,
)

SAVED = phantom()
FACTS = user_facts(SAVED)
CLEANUP = build_cleanup_plan(SAVED, at=NOW, allow_live=True).steps
REVOKE = build_revoke_plan(SAVED, RevokeOptions(), at=NOW).steps


def _inverse(step: Step) -> items.Undo:
    if step.action == "iam:DeleteUser":
        return items.Undo(steps=items.recreate_user(SAVED))
    return items.INVERSES[step.action](step.params, SAVED, FACTS)


@pytest.mark.parametrize("step", CLEANUP, ids=lambda s: s.id)
def test_a_cleanup_step_is_put_back_by_its_inverse_or_named_lost(step: Step) -> None:
    if step.action == "iam:DeleteVirtualMFADevice":
        assert step.irreversible and step.action not in items.INVERSES
        return
    undo = _inverse(step)
    if step.irreversible:
        assert undo.steps == ()
        assert len(undo.lost) == 1
        return
    assert undo.lost == ()
    restored = {k: v for s in undo.steps for k, v in s.sets.items()}
    assert set(restored) == set(step.removes)
    assert restored == {k: FACTS[k] for k in step.removes}


@pytest.mark.parametrize("step", REVOKE, ids=lambda s: s.id)
def test_a_revoke_step_is_undone_to_the_saved_value(step: Step) -> None:
    undo = _inverse(step)
    if step.irreversible:
        assert undo.steps == () and undo.lost
        return
    (back,) = undo.steps
    for key in step.sets:
        if key in FACTS:
            assert back.sets == {key: FACTS[key]}
        else:  # the deny the revoke added: removed again
            assert key == f"inline:{REVOKE_POLICY_NAME}"
            assert back.removes == (key,)


def test_both_builders_cover_every_inverse() -> None:
    made = {s.action for s in (*CLEANUP, *REVOKE)}
    assert set(items.INVERSES) <= made
