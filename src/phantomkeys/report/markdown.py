"""``--format markdown``: a report to paste into a ticket or a pull request.

GitHub-flavoured Markdown: a headline, counts, tables of what matters, then one
collapsible section per finding with its evidence and remediation. Every value
from AWS or from scanned files is escaped, so a user name or a file path can
neither break the tables nor inject links or HTML into the ticket.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from phantomkeys.report import document as doc
from phantomkeys.report.safetext import visible

_SEVERITY_BADGE = {
    "critical": "🟥 critical",
    "high": "🟧 high",
    "medium": "🟨 medium",
    "low": "🟦 low",
    "info": "⬜ info",
}
_STATE_BADGE = {
    "blocked": "✅ blocked",
    "gap": "❌ gap",
    "conditional": "⚠️ conditional",
    "not-enforceable": "➖ n/a (management)",
    "unknown": "❔ unknown",
}
#: Characters with an inline meaning (links, images, emphasis, code, tables,
#: strikethrough, escapes); a backslash makes them literal. ``<``, ``>`` and ``&``
#: become entities instead, so no raw HTML or autolink can form.
_MD_INLINE = re.compile(r"([\\`*_\[\]!|~])")
_HTML_ENTITIES = str.maketrans({"<": "&lt;", ">": "&gt;", "&": "&amp;"})
#: What starts a block when it opens a line: an ATX heading, a list item, a
#: setext underline or thematic break (``*`` and ``_`` are escaped already).
_LINE_START = re.compile(
    r"^(\s*)(?:(#{1,6}|[+\-])(?=\s|$)|(\d{1,9})([.)])(?=\s|$)|([=\-])(?=[=\-\s]*$))"
)
#: CommonMark line endings (a lone ``\r`` too) and other vertical breaks.
_LINE_BREAK = re.compile(r"\r\n|[\r\n\v\f\u0085\u2028\u2029]")
_MAX_FINDING_SECTIONS = 200
#: Characters GitHub may still read as Markdown inside ``<summary>``.
_SUMMARY_ENTITIES = str.maketrans(
    {"[": "&#91;", "]": "&#93;", "*": "&#42;", "_": "&#95;", "`": "&#96;", "|": "&#124;"}
)


def _flat(value: Any) -> str:
    """One line of plain text: line breaks (``\\r`` alone too) flattened to spaces,
    controls and bidi characters shown as escapes (:mod:`phantomkeys.report.safetext`)."""
    return visible(_LINE_BREAK.sub(" ", doc.text(value)))


def esc(value: Any) -> str:
    """Inline-safe text: Markdown punctuation escaped, HTML as entities, one line.

    No link, image, emphasis, heading, autolink or raw HTML can come out of it.
    """
    text = _MD_INLINE.sub(r"\\\1", _flat(value))
    text = _LINE_START.sub(_block_start, text)
    return text.translate(_HTML_ENTITIES)


def _block_start(m: re.Match[str]) -> str:
    lead, marker, number, delimiter, rule = m.groups()
    if number:
        return f"{lead}{number}\\{delimiter}"
    return f"{lead}\\{marker or rule}"


def code(value: Any) -> str:
    """Inline code that survives any backticks in the value (and stays on one line)."""
    # GFM splits table cells on "|" even inside code spans, unless it is escaped.
    text = _flat(value).replace("|", "\\|")
    if not text:
        return ""
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _severity(value: Any) -> str:
    return _SEVERITY_BADGE.get(str(value), esc(value))


def _headline(document: Mapping[str, Any], command: str) -> list[str]:
    meta = doc.metadata(document)
    tool = document.get("tool") or {}
    titles = {
        "scan": "API-key scan",
        "hunt": "CloudTrail hunt",
        "leaks": "Leaked API keys",
        "coverage": "SCP coverage",
    }
    lines = [f"## phantomkeys: {titles.get(command, esc(command))}", ""]
    facts = []
    if meta.get("scan_time"):
        facts.append(f"**When:** {esc(meta['scan_time'])}")
    if meta.get("credential_report_generated_at"):
        # Freshness: AWS reuses a credential report up to 4 hours old.
        facts.append(f"**Credential report:** {esc(meta['credential_report_generated_at'])}")
    if meta.get("caller_arn"):
        facts.append(f"**Caller:** {code(meta['caller_arn'])}")
    if meta.get("organization_id"):
        facts.append(f"**Organization:** {code(meta['organization_id'])}")
    if tool.get("version"):
        facts.append(f"**phantomkeys** {esc(tool['version'])}")
    if facts:
        lines += [" · ".join(facts), ""]
    counts = doc.severity_counts(doc.findings(document))
    total = sum(counts.values())
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    lines += [
        f"**{total} finding{'s' if total != 1 else ''}**" + (f" ({summary})" if summary else ""),
        "",
    ]
    return lines


def _scan_sections(document: Mapping[str, Any]) -> list[str]:
    summary = document.get("summary") or {}
    lines = ["### Key holders by status", ""]
    lines += _table(
        [esc(s) for s in doc.STATUSES], [[str(summary.get(s, 0)) for s in doc.STATUSES]]
    )
    lines.append("")
    accounts = doc.accounts(document)
    if len(accounts) > 1 or any(a.get("status") != "ok" for a in accounts):
        lines += ["### Accounts", ""]
        rows = []
        for a in accounts:
            idents = a.get("identities") or []
            status = str(a.get("status"))
            mark = "✅" if status == "ok" else "⚠️" if status == "incomplete" else "❌"
            rows.append(
                [
                    code(a.get("account_id")),
                    esc(a.get("name")),
                    f"{mark} {esc(status)}",
                    str(len(idents)),
                    esc(a.get("error")),
                ]
            )
        lines += _table(["account", "name", "status", "identities", "error"], rows)
        lines.append("")
    idents = sorted(
        doc.identities(document),
        key=lambda ai: (
            -doc.severity_rank((ai[1].get("risk") or {}).get("severity")),
            doc.STATUSES.index(ai[1].get("status")) if ai[1].get("status") in doc.STATUSES else 99,
            str(ai[1].get("username")),
        ),
    )
    if idents:
        lines += ["### Identities", ""]
        rows = []
        for account, ident in idents:
            risk = ident.get("risk") or {}
            caps = [
                str(c.get("title") or c.get("id"))
                for c in ident.get("capabilities") or ()
                if isinstance(c, Mapping)
            ]
            rows.append(
                [
                    code(account.get("account_id")),
                    code(ident.get("username")),
                    esc(ident.get("kind")),
                    esc(ident.get("surface")),
                    f"**{esc(ident.get('status'))}**",
                    _severity(risk.get("severity")),
                    esc(", ".join(caps[:4]) + (" …" if len(caps) > 4 else "")),
                ]
            )
        lines += _table(
            ["account", "user", "kind", "surface", "status", "risk", "capabilities"], rows
        )
        lines.append("")
    return lines


def _coverage_sections(document: Mapping[str, Any]) -> list[str]:
    goals = doc.coverage_goals(document)
    lines = ["### Coverage matrix", ""]
    rows = []
    for r in doc.coverage_rows(document):
        cells = doc.coverage_cells(r)
        row = [code(r.get("account_id")), esc(r.get("name"))]
        for gid, _title in goals:
            cell = cells.get(gid) or {}
            state = doc.cell_state(cell)
            badge = _STATE_BADGE.get(state, esc(state))
            policy = doc.cell_policy(cell)
            row.append(badge + (f" ({esc(policy)})" if policy else ""))
        rows.append(row)
    lines += _table(["account", "name", *[esc(title) for _, title in goals]], rows)
    lines.append("")
    return lines


def _findings_sections(document: Mapping[str, Any], command: str) -> list[str]:
    findings = sorted(
        doc.findings(document),
        key=lambda f: (
            -doc.severity_rank(f.get("severity")),
            str(f.get("account_id") or ""),
            str(f.get("subject") or ""),
        ),
    )
    if not findings:
        return ["No findings. ✅", ""]
    lines = ["### Findings", ""]
    where = "location" if command == "leaks" else "subject"
    rows = []
    for f in findings:
        place = code(doc.location_text(f)) if where == "location" else code(f.get("subject"))
        rows.append(
            [
                _severity(f.get("severity")),
                esc(f.get("title")),
                code(f.get("account_id")),
                place,
                code(f.get("rule_id")),
            ]
        )
    lines += _table(["severity", "finding", "account", where, "rule"], rows)
    lines.append("")
    rules = doc.rules_by_id(document)
    for f in findings[:_MAX_FINDING_SECTIONS]:
        lines += _finding_details(f, rules.get(str(f.get("rule_id"))) or {})
    if len(findings) > _MAX_FINDING_SECTIONS:
        lines += [
            f"*… {len(findings) - _MAX_FINDING_SECTIONS} more findings: see the JSON report.*",
            "",
        ]
    return lines


def _finding_details(f: Mapping[str, Any], rule: Mapping[str, Any]) -> list[str]:
    # Inside an HTML block Markdown escapes do not apply: escape as HTML instead.
    # One line: a blank line would end the HTML block and let Markdown back in.
    summary = html.escape(
        f"{_SEVERITY_BADGE.get(str(f.get('severity')), _flat(f.get('severity')))} "
        f"{_flat(f.get('title'))} — {_flat(f.get('subject'))}"
    ).translate(_SUMMARY_ENTITIES)
    lines = ["<details>", f"<summary>{summary}</summary>", ""]
    rationale = f.get("rationale") or rule.get("rationale")
    if rationale:
        lines += [esc(rationale), ""]
    evidence = f.get("evidence") or {}
    if isinstance(evidence, Mapping) and evidence:
        for key, value in evidence.items():
            if value in (None, "", [], {}):
                continue
            lines.append(f"- **{esc(key)}:** {code(value)}")
        lines.append("")
    if doc.location_text(f):
        lines += [f"- **location:** {code(doc.location_text(f))}", ""]
    if f.get("remediation"):
        lines += [f"**Remediation:** {esc(f['remediation'])}", ""]
    refs = [
        r for r in rule.get("references") or () if isinstance(r, str) and r.startswith("https://")
    ]
    if refs:
        lines += ["**References:** " + ", ".join(f"<{r}>" for r in refs), ""]
    attack = rule.get("attack") or ()
    if attack:
        lines += ["**ATT&CK:** " + ", ".join(code(a) for a in attack), ""]
    lines += [f"<sub>fingerprint {code(f.get('fingerprint'))}</sub>", "", "</details>", ""]
    return lines


def render(document: Mapping[str, Any]) -> str:
    command = doc.command_of(document)
    lines = _headline(document, command)
    if command == "scan":
        lines += _scan_sections(document)
    elif command == "coverage":
        lines += _coverage_sections(document)
    lines += _findings_sections(document, command)
    return "\n".join(lines).rstrip() + "\n"
