"""``revoke``: the plan that stops a leaked key (or a user's keys), applied safely.

A long-term key or a user: the user's deny, API keys, access keys and console
(``core/plans.build_revoke_plan``). A short-term key: the session that signed it, found
in CloudTrail, is denied by its issue time, or the AKIA access key that signed it is
deactivated (``build_session_revoke_plan``). The key's account must be the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from phantomkeys.core.exitcodes import ExitCode
from phantomkeys.core.keys import DecodedKey, KeyKind
from phantomkeys.core.plans import (
    Plan,
    RevokeOptions,
    SessionInfo,
    State,
    UserState,
    build_revoke_plan,
    build_session_revoke_plan,
    combined,
    key_holder_problem,
)
from phantomkeys.respond.base import (
    Aws,
    Console,
    RespondError,
    Target,
    candidates,
    incomplete,
    now_utc,
    plan_or_refuse,
    read_role,
    read_user,
    role_reader,
    user_reader,
)
from phantomkeys.respond.jobs import Job, Response, Session, run_jobs


@dataclass(frozen=True, slots=True)
class RevokeRequest:
    """The options of ``revoke`` (None: the default for the kind of user)."""

    deny: bool | None = None
    api_keys: bool = True
    delete_credentials: bool = False
    access_keys: bool | None = None
    console: bool | None = None
    all_sessions: bool = False
    role_name: str | None = None
    force: bool = False


def revoke(
    aws: Aws,
    tgt: Target,
    request: RevokeRequest,
    *,
    ui: Console,
    yes: bool,
    dry_run: bool,
    backup_dir: str | None,
    now: datetime,
) -> Response:
    """Plan the revocation of ``tgt`` in ``aws``'s account, confirm, apply."""
    suspect = _check_account(tgt, aws)
    session = Session(command="revoke", aws=aws, ui=ui, dry_run=dry_run)
    session.document["target"] = tgt.to_dict(now)
    key = tgt.key
    job: Job | None
    if key is not None and key.kind is KeyKind.SHORT_TERM:
        job = _short_term_job(
            session,
            key,
            now=now,
            deny=request.deny,
            all_sessions=request.all_sessions,
            role_name=request.role_name,
            force=request.force,
            other_account=suspect,
        )
    else:
        assert tgt.username is not None
        job = _long_term_job(
            session,
            tgt,
            now=now,
            force=request.force,
            opts=RevokeOptions(
                deny=True if request.deny is None else request.deny,
                api_keys=request.api_keys,
                delete_credentials=request.delete_credentials,
                access_keys=request.access_keys is not False,
                console=request.console is not False,
            ),
            explicit_access_keys=request.access_keys,
            explicit_console=request.console,
        )
    if job is None:  # nothing to revoke (said why)
        return session.finish(ExitCode.OK)
    job.self_lockout = _self_lockout(aws, key, job.plan)
    return run_jobs(session, [job], yes=yes, backup_dir=backup_dir, now=now)


def _cross_account(key: DecodedKey, aws: Aws) -> RespondError:
    return RespondError(
        f"the key belongs to account {key.account_id}, but your credentials are for "
        f"account {aws.account_id}; refusing (--force does not override this: the same "
        "user name here would be a different user)",
        hint=f"use credentials for account {key.account_id} (--profile)",
    )


def _check_account(target: Target, aws: Aws) -> bool:
    """A key from another account is never acted on here: the same user name in this
    account is a different user (peer defect: revoking any user).

    Long-term keys carry their account: a mismatch is refused at once. A short-term
    key's account is derived heuristically (from the session token or the access key id;
    AWS documents neither), so a mismatch is only a suspicion (True): the caller must then
    prove the key is this account's (IAM owns the access key, or this account's CloudTrail
    saw it) or refuse.
    """
    key = target.key
    if key is None or key.account_id is None or key.account_id == aws.account_id:
        return False
    if key.kind is KeyKind.LONG_TERM:
        raise _cross_account(key, aws)
    return True


def _caller_access_key_id(aws: Aws) -> str | None:
    """The access key id of the credentials this process signs its calls with."""
    from phantomkeys.aws.session import signing_access_key_id

    return signing_access_key_id(aws.ctx)


def _self_lockout(aws: Aws, key: DecodedKey | None, plan: Plan) -> str | None:
    """Why this revocation would deny the very credentials running phantomkeys (or None)."""
    own = _caller_access_key_id(aws)
    if key is not None and key.kind is KeyKind.SHORT_TERM and own and key.access_key_id == own:
        return (
            f"the key was signed by the credentials you are running phantomkeys with "
            f"(access key {own}): revoking it denies this very session, so anything after "
            "it (and a restore) needs other credentials"
        )
    if own and any(s.params.get("AccessKeyId") == own for s in plan.steps):
        return (
            f"this deactivates access key {own}, the one you are running phantomkeys with: "
            "anything after it (and a restore) needs other credentials"
        )
    if (
        plan.subject_type == "role"
        and plan.intent.get("all_sessions")
        and f":assumed-role/{plan.subject}/" in aws.caller_arn
        and not plan.empty
    ):
        return (
            f"you are running phantomkeys in a session of role {plan.subject}: denying all "
            "its sessions issued before now denies yours too"
        )
    return None


def _long_term_job(
    session: Session,
    tgt: Target,
    *,
    now: datetime,
    force: bool,
    opts: RevokeOptions,
    explicit_access_keys: bool | None,
    explicit_console: bool | None,
) -> Job | None:
    aws = session.aws
    name = tgt.username
    assert name is not None
    by_user, _result = candidates(aws, now, session.ui)
    found = by_user.get(name, [])
    problem = key_holder_problem(found, name)
    state = read_user(aws, name, now)
    if state.complete and not state.exists:
        if tgt.key is None:
            raise RespondError(f"IAM user {name} does not exist in account {aws.account_id}")
        session.say(
            f"IAM user {name} does not exist in account {aws.account_id}: the key "
            "cannot be used any more; nothing to revoke"
        )
        return None
    if problem:
        if not force:
            raise RespondError(
                f"refusing to revoke: {problem}",
                hint="pass --force to revoke it anyway (it is not a known "
                "API-key holder, so check the name first)",
            )
        session.ui.warn(f"--force: {problem}; revoking anyway")
    is_human = not found or combined(found).kind == "human"
    if is_human:
        # A person's access keys and console are not what leaked: only on request.
        opts = replace(opts, access_keys=bool(explicit_access_keys), console=bool(explicit_console))
    if not state.complete:
        raise RespondError(
            f"cannot read {name} completely ({incomplete(state)}); nothing was written",
            code=ExitCode.INCOMPLETE,
        )
    alias = None
    if tgt.key is not None and tgt.key.username:
        # the credential's public alias is "<user>[+N]-at-<account>" (key_marker is "+N")
        alias = f"{tgt.key.username}{tgt.key.key_marker or ''}-at-{tgt.key.account_id}"
    plan = plan_or_refuse(lambda: build_revoke_plan(state, opts, at=now, leaked_alias=alias))
    if is_human:
        plan = replace(
            plan,
            notes=(
                *plan.notes,
                f"{name} is a human user: its access keys and "
                "console stay untouched unless you pass --access-keys / "
                "--console",
            ),
        )

    def rebuild(fresh: State) -> Plan:
        assert isinstance(fresh, UserState)
        return build_revoke_plan(fresh, opts, at=now_utc(), leaked_alias=alias)

    return Job(plan=plan, read_state=lambda: read_user(aws, name, now_utc()), rebuild=rebuild)


def _short_term_job(
    session: Session,
    key: DecodedKey,
    *,
    now: datetime,
    deny: bool | None,
    all_sessions: bool,
    role_name: str | None,
    force: bool,
    other_account: bool = False,
) -> Job | None:
    from phantomkeys.aws.state import (
        LOOKUP_RETENTION,
        access_key_owner,
        lookup_events,
        role_path_from_arn,
        session_from_events,
    )
    from phantomkeys.core.plans import session_guidance

    aws = session.aws
    akid = key.access_key_id
    assert akid is not None
    if key.expired(now) and not force:
        session.say(
            f"the key expired at {key.expires_at:%Y-%m-%dT%H:%M:%SZ}: it no longer "
            "works and there is nothing to revoke (pass --force to act anyway)"
        )
        return None
    if key.access_key_type == "AKIA":
        # Signed with an IAM user's long-term access key (peer defect: rejected).
        owner, err = access_key_owner(aws.ctx, akid)
        if owner is None:
            if other_account:
                raise _cross_account(key, aws)
            raise RespondError(
                f"access key {akid} that signed the key is not an access key of "
                f"account {aws.account_id} ({err})",
                code=ExitCode.INCOMPLETE if err not in ("NoSuchEntity",) else ExitCode.USAGE,
            )
        if other_account:
            session.ui.warn(
                f"the account derived from {akid} ({key.account_id}) is wrong: IAM user "
                f"{owner} of this account owns the access key"
            )
        opts = RevokeOptions(
            deny=bool(deny),
            api_keys=False,
            console=False,
            access_keys=True,
            only_access_key_ids=(akid,),
        )
        state = read_user(aws, owner, now)
        if not state.complete:
            raise RespondError(
                f"cannot read {owner} completely ({incomplete(state)})", code=ExitCode.INCOMPLETE
            )
        plan = plan_or_refuse(lambda: build_revoke_plan(state, opts, at=now))
        extra = (
            f"The key was signed with access key {akid} of IAM user {owner}: deactivating "
            "it invalidates every token and request signed with it."
        )
        if not deny:
            extra += (
                " A deny on bearer-token use by this user is available with --deny "
                f"(it stops every API key of {owner})."
            )
        plan = replace(plan, notes=(extra, *plan.notes))

        def rebuild_user(fresh: State) -> Plan:
            assert isinstance(fresh, UserState)
            return build_revoke_plan(fresh, opts, at=now_utc())

        return Job(
            plan=plan, read_state=lambda: read_user(aws, owner, now_utc()), rebuild=rebuild_user
        )

    region = key.region or aws.ctx.region
    session.ui.info(
        f"looking up {akid} in CloudTrail ({region}, management events of the last 90 days; "
        "LookupEvents allows 2 requests/s)…"
    )
    lookup = lookup_events(
        aws.ctx,
        region=region,
        attribute="AccessKeyId",
        value=akid,
        start=now - LOOKUP_RETENTION,
        end=now,
        max_events=50,
    )
    found = session_from_events(lookup.events, akid)
    if found is None and other_account:
        raise _cross_account(key, aws)
    if found is not None and other_account:
        session.ui.warn(
            f"the account derived from {akid} ({key.account_id}) is wrong: this account's "
            "CloudTrail saw the key"
        )
    if found is None:
        where = (
            f"CloudTrail lookup failed in {region} ({lookup.error})"
            if lookup.error
            else f"CloudTrail has no event for {akid} in {region} in the last 90 days"
        )
        if role_name is None:
            raise RespondError(
                f"{where}: cannot tell which role session signed the key",
                hint="if you know the role: --role ROLE --all-sessions (denies every session "
                "of that role issued before now)",
                code=ExitCode.INCOMPLETE,
            )
        session.ui.warn(f"{where}; using --role {role_name}")
        found = SessionInfo(
            principal_type="AssumedRole",
            principal_name=role_name,
            access_key_id=akid,
            source="--role",
        )
    elif role_name is not None and role_name != found.principal_name:
        raise RespondError(
            f"CloudTrail says {akid} belongs to {found.principal_type} "
            f"{found.principal_name}, not --role {role_name}"
        )
    session.document["session"] = found.to_dict()
    if found.principal_type == "AssumedRole":
        guidance = session_guidance(
            found.principal_name, role_path_from_arn(found.principal_arn), expires_at=key.expires_at
        )
        if guidance:
            raise RespondError(f"not revoking: {guidance}")
        principal: State = read_role(aws, found.principal_name, now)
        read = role_reader(aws, found.principal_name)
    else:
        if found.principal_id is None and not all_sessions:
            raise RespondError(
                f"the key was issued by {found.principal_type} {found.principal_name} "
                "(GetSessionToken/GetFederationToken): its sessions cannot be told apart in a "
                "policy, so the deny would end every temporary session of the user issued before "
                "now (its long-term access keys keep working)",
                hint="pass --all-sessions to do that",
            )
        principal = read_user(aws, found.principal_name, now)
        read = user_reader(aws, found.principal_name)
    if not principal.complete:
        raise RespondError(
            f"cannot read {found.principal_name} completely "
            f"({incomplete(principal)}); nothing was written",
            code=ExitCode.INCOMPLETE,
        )
    session_info = found
    plan = plan_or_refuse(
        lambda: build_session_revoke_plan(
            principal, session_info, at=now, all_sessions=all_sessions, expires_at=key.expires_at
        )
    )

    def rebuild(fresh: State) -> Plan:
        return build_session_revoke_plan(
            fresh, session_info, at=now_utc(), all_sessions=all_sessions, expires_at=key.expires_at
        )

    return Job(plan=plan, read_state=read, rebuild=rebuild)
