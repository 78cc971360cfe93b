"""Text renderers of response runs (plans, outcomes) and of the incident report."""

from __future__ import annotations

from typing import Any

from phantomkeys.core.plans import Outcome, Plan

_OUTCOME_MARK = {
    Outcome.APPLIED: "applied",
    Outcome.ALREADY_DONE: "already-done",
    Outcome.SKIPPED: "skipped",
    Outcome.FAILED: "FAILED",
}


def render_plan(plan: Plan, *, resumed: str | None = None) -> str:
    lines = []
    what = f"{plan.operation.value} {plan.subject_type} {plan.subject} in account {plan.account_id}"
    if resumed:
        lines.append(f"{what}: resuming {resumed}")
    if plan.empty:
        lines.append(f"{what}: nothing to do")
    else:
        lines.append(f"{what}: {len(plan.steps)} step(s)")
        width = max(len(s.action) for s in plan.steps)
        for n, s in enumerate(plan.steps, 1):
            lines.append(f"  {n:>2}. {s.action:<{width}}  {s.description}")
    for note in plan.notes:
        lines.append(f"  note: {note}")
    for item in plan.cannot_undo:
        lines.append(f"  cannot be undone: {item}")
    for item in plan.not_restorable:
        lines.append(f"  cannot come back: {item}")
    return "\n".join(lines)


def render_run(run: Any) -> str:
    from phantomkeys.aws.apply import RunStatus

    lines = []
    if run.status is RunStatus.DRIFT:
        lines.append(
            f"STOPPED {run.plan.subject}: the state changed since the plan; nothing "
            "more was written:"
        )
        lines += [f"  - {d}" for d in run.drift]
        if run.fresh_plan is not None:
            lines.append("fresh plan (review it, then run the command again):")
            lines.append(render_plan(run.fresh_plan))
        if run.message:
            lines.append(f"  {run.message}")
        return "\n".join(lines)
    if run.status is RunStatus.UNREADABLE:
        return f"STOPPED {run.plan.subject}: {run.message}"
    if run.status is RunStatus.NOTHING:
        return f"{run.plan.subject}: nothing to do"
    width = max((len(r.step.action) for r in run.results), default=10)
    lines.append(
        f"{run.plan.operation.value} {run.plan.subject}: {run.status.value}"
        + (" (resumed)" if run.resumed else "")
    )
    for n, r in enumerate(run.results, 1):
        tail = f" — {r.error_code}: {r.message}" if r.outcome is Outcome.FAILED else ""
        lines.append(
            f"  {_OUTCOME_MARK[r.outcome]:<12} {n:>2}. {r.step.action:<{width}}  "
            f"{r.step.description}{tail}"
        )
    if run.backup_path:
        lines.append(f"  backup:  {run.backup_path}")
        lines.append(f"  journal: {run.journal_path}")
    if any(r.outcome is Outcome.FAILED for r in run.results):
        lines.append(
            "  fix the cause and run the same command again: it continues from the journal"
        )
    return "\n".join(lines)


# ================================================================ incident report


def _event_line(e: dict[str, Any]) -> str:
    bearer = " [bearer token]" if e.get("call_with_bearer_token") else ""
    err = f" ({e['error_code']})" if e.get("error_code") else ""
    return (
        f"{e.get('time') or '?'}  {e.get('region')}  {e.get('event_source')} "
        f"{e.get('event_name')}{err}{bearer}  by {e.get('identity_arn') or e.get('username')}"
        f"  from {e.get('source_ip') or '?'}"
    )


def _incident_sections(doc: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Format-neutral sections: (title, lines)."""
    sections: list[tuple[str, list[str]]] = []
    tgt = doc.get("target") or {}
    key = tgt.get("key")
    if key:
        rows = [f"{k}: {v}" for k, v in key.items() if v is not None and k != "valid"]
        sections.append(("Decoded key (the secret is never shown)", rows))
    short = doc.get("short_term")
    if short:
        signer = doc.get("signer") or {}
        rows = [
            f"signed by: {short['access_key_id']} ({short['access_key_type']})",
            f"expires: {short.get('expires_at')} ({'expired' if short['expired'] else 'valid'})",
        ]
        if signer:
            who = signer.get("principal_id") or signer.get("name") or signer.get("principal_name")
            rows.append(f"issuer: {signer.get('principal_type') or signer.get('type')} {who}")
        sections.append(("Short-term key", rows))
    ident = doc.get("identity")
    if ident:
        st = ident.get("state") or {}
        rows = [
            f"user: {ident['username']} ({ident.get('kind') or 'not in scan'})",
            f"status: {doc.get('status')}",
            f"arn: {ident.get('arn')}",
            f"created: {ident.get('created')}",
        ]
        gone = ident.get("deleted")
        if gone:
            rows.append(
                f"deleted: {gone['event_time']} by {gone['by']} (CloudTrail DeleteUser"
                + (f" from {gone['source_ip']})" if gone.get("source_ip") else ")")
            )
        if ident.get("exists"):
            for c in st.get("service_credentials", []):
                rows.append(
                    f"API key/credential {c['id']}: {c['service']} {c['status']}, "
                    f"created {c.get('created')}, expires {c.get('expires') or 'never'}"
                )
            for k in st.get("access_keys", []):
                rows.append(
                    f"access key {k['id']}: {k['status']}, last used "
                    f"{k.get('last_used') or 'never'}"
                )
            rows.append(f"console password: {'yes' if st.get('login_profile') else 'no'}")
            rows.append(
                f"MFA devices: {len(st.get('mfa_devices', []))}; SSH keys: "
                f"{ident.get('ssh_public_keys')}; signing certificates: "
                f"{ident.get('signing_certificates')}"
            )
            attached = ", ".join(st.get("attached_policy_arns", [])) or "-"
            inline = ", ".join(p["name"] for p in st.get("inline_policies", [])) or "-"
            groups = ", ".join(st.get("group_names", [])) or "-"
            rows.append(
                f"policies: attached {attached}; inline {inline}; groups {groups}; "
                f"boundary {st.get('permissions_boundary') or '-'}"
            )
        sections.append(("Identity", rows))
        caps = [c for s in ident.get("scan", []) for c in s.get("capabilities", [])]
        if caps:
            sections.append(
                (
                    "Capabilities",
                    [
                        f"{c.get('title') or c.get('capability')} [{c.get('severity')}]"
                        + (f" via {', '.join(c['granted_by'])}" if c.get("granted_by") else "")
                        for c in caps
                    ],
                )
            )
        findings = doc.get("findings") or []
        if findings:
            sections.append(("Findings", [f"[{f['severity']}] {f['title']}" for f in findings]))
    act = doc.get("activity") or {}
    rows = [f"({act.get('limits')})"]
    for lk in act.get("lookups", []):
        head = f"{lk['attribute']}={lk['value']} in {lk['region']}: "
        if lk.get("error"):
            rows.append(head + f"NOT READ ({lk['error']})")
            continue
        rows.append(
            head
            + f"{len(lk['events'])} event(s)"
            + (" (more not shown)" if lk.get("truncated") else "")
        )
        rows += ["  " + _event_line(e) for e in lk["events"][:20]]
    if not act.get("lookups"):
        rows.append("not looked up")
    sections.append(("Recent activity (CloudTrail)", rows))
    sections.append(("Recommended", list(doc.get("recommended") or ["nothing"])))
    if doc.get("incomplete"):
        sections.append(("Incomplete: could not be read", list(doc["incomplete"])))
    return sections


def render_incident_text(doc: dict[str, Any]) -> str:
    from phantomkeys.report.safetext import visible

    # Log fields and names reach a terminal: every control shown as an escape.
    lines = [
        f"phantomkeys incident report — account {visible(doc['metadata']['account_id'])}, "
        f"{doc['metadata']['generated_at']}"
    ]
    for title, rows in _incident_sections(doc):
        lines.append("")
        lines.append(title)
        lines += [f"  {visible(r)}" for r in rows]
    return "\n".join(lines) + "\n"


def render_incident_markdown(doc: dict[str, Any]) -> str:
    from phantomkeys.report.markdown import code, esc

    lines = [
        f"# Incident report — account {esc(doc['metadata']['account_id'])}",
        "",
        f"Generated {esc(doc['metadata']['generated_at'])} by phantomkeys "
        f"{esc(doc['tool']['version'])}.",
    ]
    for title, rows in _incident_sections(doc):
        lines += ["", f"## {title}", ""]
        as_code = title == "Recommended"
        lines += ["- " + (code(r) if as_code else esc(r)) for r in rows]
    return "\n".join(lines) + "\n"
