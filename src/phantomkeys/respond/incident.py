"""The incident report of one user or key: a document, and what could not be read.

The decoded key (never its secret), the identity behind it, its status, credentials
and capabilities from a fresh scan, recent activity from CloudTrail LookupEvents, and
the commands to run next. Rendered by :mod:`phantomkeys.respond.render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from phantomkeys._meta import envelope
from phantomkeys.core.keys import KeyKind
from phantomkeys.core.plans import combined
from phantomkeys.respond.base import (
    Aws,
    Console,
    RespondError,
    Target,
    candidates,
    incomplete,
    read_user,
)


@dataclass
class Incident:
    """The report document; ``problems``: what could not be read (empty when complete)."""

    document: dict[str, Any]
    problems: list[str] = field(default_factory=list)


def incident_report(
    aws: Aws,
    tgt: Target,
    *,
    ui: Console,
    now: datetime,
    trail_regions: Sequence[str] = (),
    max_events: int = 50,
    activity: bool = True,
) -> Incident:
    """The incident report of ``tgt``. A user that is not there and left no DeleteUser
    event is refused (:class:`RespondError`, exit 2): it is a typo, not an incident."""
    doc, problems = build_incident(
        aws,
        tgt,
        now=now,
        trail_regions=trail_regions,
        max_events=max_events,
        activity=activity,
        ui=ui,
    )
    if doc.get("status") == "not-found":
        raise not_found(doc, tgt)
    return Incident(document=doc, problems=problems)


def build_incident(
    aws: Aws,
    tgt: Target,
    *,
    now: datetime,
    trail_regions: Sequence[str],
    max_events: int,
    activity: bool,
    ui: Console,
) -> tuple[dict[str, Any], list[str]]:
    """The report document, and what could not be read (empty when complete)."""
    from phantomkeys.aws.state import (
        LOOKUP_RETENTION,
        access_key_owner,
        lookup_events,
        session_from_events,
    )

    problems: list[str] = []
    key = tgt.key
    doc: dict[str, Any] = {"target": tgt.to_dict(now)}
    lookups: list[dict[str, Any]] = []
    recommended: list[str] = []
    username = tgt.username
    key_in_stdin = "phantomkeys revoke -   (paste the key on stdin)"
    if key is not None and key.account_id and key.account_id != aws.account_id:
        problems.append(
            f"the key belongs to account {key.account_id}; your credentials are for "
            f"account {aws.account_id}, so nothing was read from AWS"
        )
        recommended.append(f"rerun with credentials for account {key.account_id} (--profile)")
        doc.update(status=None, identity=None)
        return _incident_envelope(aws, doc, lookups, recommended, problems, now), problems

    if key is not None and key.kind is KeyKind.SHORT_TERM:
        akid = key.access_key_id or ""
        expired = key.expired(now)
        doc["short_term"] = {
            "access_key_id": akid,
            "access_key_type": key.access_key_type,
            "region": key.region,
            "expired": expired,
            "expires_at": key.to_dict(at=now).get("expires_at"),
        }
        trail = None
        if activity and key.region:
            trail = lookup_events(
                aws.ctx,
                region=key.region,
                attribute="AccessKeyId",
                value=akid,
                start=now - LOOKUP_RETENTION,
                end=now,
                max_events=max_events,
            )
            lookups.append(trail.to_dict())
            if trail.error:
                problems.append(f"CloudTrail {key.region}: {trail.error}")
        if key.access_key_type == "AKIA":
            owner, err = access_key_owner(aws.ctx, akid)
            if owner is None:
                problems.append(f"owner of access key {akid} could not be read ({err})")
            username = owner
            doc["signer"] = {"type": "IAMUser", "name": owner, "access_key_id": akid}
            if not expired and owner:
                recommended.append(f"{key_in_stdin}  # deactivates access key {akid} of {owner}")
        else:
            found = session_from_events(trail.events, akid) if trail else None
            doc["signer"] = found.to_dict() if found else None
            if found is None and trail is not None and not trail.error:
                problems.append(
                    f"no CloudTrail event names the session of {akid} in "
                    f"{key.region}; its issuer is unknown"
                )
            if not expired:
                recommended.append(
                    f"{key_in_stdin}  # denies the issuing session (aws:TokenIssueTime)"
                )
            username = None
        if expired:
            recommended.append("the key has expired: nothing to revoke; review its activity")

    identities: list[Any] = []
    if username:
        by_user, result = candidates(aws, now, ui)
        identities = [i for i in result.identities if i.username == username]
        found_c = by_user.get(username, [])
        state = read_user(aws, username, now, last_used=True)
        deletions: list[Any] = []
        if not state.complete:
            problems.append(f"{username}: {incomplete(state)}")
        status = combined(found_c).status if found_c else None
        if not state.exists and state.complete:
            status = "deleted"
        for i in identities:
            problems += [f"{username}: {r}" for r in i.unknown_because]
        doc["identity"] = {
            "username": username,
            "exists": state.exists,
            "arn": state.arn or None,
            "created": state.to_dict()["created"],
            "kind": (combined(found_c).kind if found_c else None),
            "found_by_scan": bool(found_c),
            "status": status,
            "scan": [i.to_dict(now) for i in identities],
            "state": {
                k: v
                for k, v in state.to_dict().items()
                if k not in ("signing_certificates", "ssh_public_keys")
            },
            "ssh_public_keys": len(state.ssh_public_keys),
            "signing_certificates": len(state.signing_certificates),
        }
        doc["status"] = status
        doc["findings"] = [f.to_dict() for i in identities for f in i.findings]
        if activity:
            # Calls the user made (in each region), and IAM changes made to it (IAM
            # events are recorded in us-east-1): who added an access key or a password.
            regions = list(dict.fromkeys(["us-east-1", aws.ctx.region, *trail_regions]))
            queries = [(r, "Username") for r in regions] + [("us-east-1", "ResourceName")]
            for r, attribute in queries:
                trail_u = lookup_events(
                    aws.ctx,
                    region=r,
                    attribute=attribute,
                    value=username,
                    start=now - LOOKUP_RETENTION,
                    end=now,
                    max_events=max_events,
                )
                lookups.append(trail_u.to_dict())
                if trail_u.error:
                    problems.append(f"CloudTrail {r} ({attribute}): {trail_u.error}")
                elif attribute == "ResourceName":
                    deletions += [e for e in trail_u.events if _is_deletion(e, username)]
        if status == "deleted":
            # IAM says the user is not there; it is "deleted" only when CloudTrail
            # shows the DeleteUser call (a typo or a wrong-case name never existed).
            if deletions:
                newest = max(deletions, key=lambda e: e.time or now)
                doc["identity"]["deleted"] = {
                    "event_time": newest.to_dict()["time"],
                    "by": newest.identity_arn or newest.username,
                    "source_ip": newest.source_ip,
                    "event_name": newest.name,
                }
            else:
                status = "not-found"
                doc["identity"]["status"] = doc["status"] = status
                doc["identity"]["similar"] = sorted(
                    {n for n in by_user if n.lower() == username.lower() and n != username}
                )
                doc["identity"]["deletion_searched"] = activity
        recommended += _recommend(username, status, tgt)
    else:
        doc.setdefault("identity", None)
        doc.setdefault(
            "status",
            "expired"
            if key is not None and key.expired(now)
            else ("valid" if key is not None else None),
        )
    return _incident_envelope(aws, doc, lookups, recommended, problems, now), problems


def _is_deletion(event: Any, username: str) -> bool:
    """A successful DeleteUser of ``username`` (found by ResourceName)."""
    return bool(event.name == "DeleteUser" and not event.error_code)


def not_found(doc: dict[str, Any], tgt: Target) -> RespondError:
    """``report``/``timeline`` on a user that is not there and left no DeleteUser event."""
    ident = doc.get("identity") or {}
    username = ident.get("username")
    account = (doc.get("metadata") or {}).get("account_id") or "this account"
    what = f"IAM user {username!r} not found in account {account}"
    if tgt.key is not None:
        what = f"the key names IAM user {username!r}, which is not found in account {account}"
    if ident.get("deletion_searched"):
        what += " (and CloudTrail shows no DeleteUser of it in the last 90 days)"
    similar = ident.get("similar") or []
    if similar:
        hint = f"did you mean {similar[0]}? (the name differs in case)"
    elif ident.get("deletion_searched"):
        hint = "check the name and the account (--profile); phantomkeys scan lists key holders"
    else:
        hint = "without --no-activity, CloudTrail is searched for its deletion"
    return RespondError(what, hint=hint)


def _recommend(username: str, status: str | None, tgt: Target) -> list[str]:
    revoke = (
        "phantomkeys revoke -   (paste the key on stdin)"
        if tgt.key is not None and tgt.key.kind is KeyKind.LONG_TERM
        else f"phantomkeys revoke {username}"
    )
    match status:
        case "at-risk" | "active":
            return [
                revoke,
                f"phantomkeys timeline {username}",
                f"phantomkeys cleanup --user {username} --force   (once nothing needs it)",
            ]
        case "expired":
            return [f"phantomkeys cleanup --user {username}", f"phantomkeys timeline {username}"]
        case "orphaned":
            return [f"phantomkeys cleanup --user {username}"]
        case "unknown":
            return [
                "rerun with permissions for the failed lookups (see incomplete), or "
                "phantomkeys scan --verify-credentials",
                revoke,
            ]
        case "deleted":
            return [
                f"the user is deleted: its keys no longer work; review activity with "
                f"phantomkeys timeline {username}"
            ]
        case None:
            return [f"{username} is not an API-key holder found by the scan"]
    return []


def _incident_envelope(
    aws: Aws,
    doc: dict[str, Any],
    lookups: list[dict[str, Any]],
    recommended: list[str],
    problems: list[str],
    now: datetime,
) -> dict[str, Any]:
    return envelope(
        metadata={
            "command": "report",
            "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "account_id": aws.account_id,
            "caller_arn": aws.caller_arn,
            "api_calls": aws.ctx.counter.snapshot(),
            # Access keys, password, MFA, SSH keys and signing certificates are
            # read live for a report, never taken from the credential report.
            "credentials_read": "live",
        },
        **doc,
        activity={
            "source": "CloudTrail LookupEvents",
            "limits": "management events only, last 90 days, 2 requests/s per account "
            "and region; data events (e.g. Claude Platform inference, Bedrock "
            "agents runtime) are not included",
            "lookups": lookups,
        },
        recommended=recommended,
        complete=not problems,
        incomplete=list(problems),
    )
