"""Plans: every write phantomkeys makes, as reviewable, idempotent, undoable data.

Pure (no boto3, no files, no clock): a state read from AWS plus the user's
intent go in, an ordered :class:`Plan` of :class:`Step` values comes out. The
apply layer (``aws/apply.py``) shows it, backs the state up, re-reads the
state just before writing, and journals each step.

How "already done" and "changed since the plan" are decided
-----------------------------------------------------------
A state is reduced to *facts*: a flat ``{key: value}`` map such as
``{"access-key:AKIA…": "Active", "attached:arn:…": "attached", "user": "/"}``.
Every step declares its effect on facts: the keys it ``removes`` and the
``{key: value}`` pairs it ``sets``.

* A step is **already done** when none of its ``removes`` keys is present and
  every ``sets`` pair holds (:func:`step_done`). Steps whose effect a state
  read cannot see (deleting a virtual MFA device) rely on their
  ``done_errors`` (e.g. ``NoSuchEntity``) and the journal instead.
* The state **changed since the plan** (:func:`drift`) when a fresh read holds
  a fact the plan's baseline did not have and no step of the plan sets, or
  lacks a baseline fact no step removes. A resumed run therefore accepts the
  effects of its own earlier steps and nothing else: a key re-activated or a
  policy attached in the meantime stops the run.

Peer defects this module makes impossible (``docs/architecture.md``):
cleanup removes *every* ``DeleteUser`` prerequisite (not only keys and
policies); it never selects ``unknown`` identities, nor live key holders
without ``--user`` + ``--force``; revoking a role session narrows the deny to
that session instead of every session of the role; repeated revocations reuse
one fixed-name policy per principal.

The package, one idea a module: :mod:`.model` (steps, plans, outcomes, errors),
:mod:`.facts` (user and role state, facts, drift), :mod:`.items` (one step factory per
IAM item, with its inverse), :mod:`.revoke`, :mod:`.cleanup` (selection and plan),
:mod:`.backup` (the backup format and the journal), :mod:`.restore`. Every name is
imported from here.
"""

from __future__ import annotations

from phantomkeys.core.plans.backup import (
    BACKUP_FORMAT,
    BACKUP_VERSION,
    Backup,
    journal_complete,
    journal_outcomes,
)
from phantomkeys.core.plans.cleanup import (
    Candidate,
    CleanupSelection,
    Refusal,
    build_cleanup_plan,
    combined,
    key_holder_problem,
    live_items,
    select_for_cleanup,
)
from phantomkeys.core.plans.facts import (
    REVOKE_POLICY_NAME,
    SERVICE_LINKED_PATH_PREFIX,
    SESSION_REVOKE_POLICY_NAME,
    SSO_ROLE_PATH_PREFIX,
    SSO_ROLE_PREFIX,
    FactSource,
    MfaDevice,
    RoleState,
    State,
    UploadedKey,
    UserState,
    describe_fact,
    drift,
    facts_of,
    role_facts,
    user_facts,
)
from phantomkeys.core.plans.model import (
    IAM_NAME_RE,
    Facts,
    Operation,
    Outcome,
    Plan,
    PlanError,
    Step,
    canonical_json,
    document_sha,
    step_done,
    valid_iam_name,
)
from phantomkeys.core.plans.restore import (
    build_restore_plan,
    rederive_run,
    verified_run_steps,
)
from phantomkeys.core.plans.revoke import (
    RevokeOptions,
    SessionInfo,
    bearer_deny_document,
    build_revoke_plan,
    build_session_revoke_plan,
    session_blast_radius,
    session_deny_document,
    session_guidance,
    session_statement_sid,
)

__all__ = [
    "BACKUP_FORMAT",
    "BACKUP_VERSION",
    "IAM_NAME_RE",
    "REVOKE_POLICY_NAME",
    "SERVICE_LINKED_PATH_PREFIX",
    "SESSION_REVOKE_POLICY_NAME",
    "SSO_ROLE_PATH_PREFIX",
    "SSO_ROLE_PREFIX",
    "Backup",
    "Candidate",
    "CleanupSelection",
    "FactSource",
    "Facts",
    "MfaDevice",
    "Operation",
    "Outcome",
    "Plan",
    "PlanError",
    "Refusal",
    "RevokeOptions",
    "RoleState",
    "SessionInfo",
    "State",
    "Step",
    "UploadedKey",
    "UserState",
    "bearer_deny_document",
    "build_cleanup_plan",
    "build_restore_plan",
    "build_revoke_plan",
    "build_session_revoke_plan",
    "canonical_json",
    "combined",
    "describe_fact",
    "document_sha",
    "drift",
    "facts_of",
    "journal_complete",
    "journal_outcomes",
    "key_holder_problem",
    "live_items",
    "rederive_run",
    "role_facts",
    "select_for_cleanup",
    "session_blast_radius",
    "session_deny_document",
    "session_guidance",
    "session_statement_sid",
    "step_done",
    "user_facts",
    "valid_iam_name",
    "verified_run_steps",
]
