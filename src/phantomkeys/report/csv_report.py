"""``--format csv``: spreadsheet-ready rows with stable columns.

* ``scan``: one row per identity (the inventory people sort and filter).
* ``hunt``: one row per finding, with the evidence spread into columns.
* ``leaks`` / ``coverage``: one row per finding.

Columns never move between releases (new ones are appended), so spreadsheets
and scripts that read them by position keep working.

Formula injection (CWE-1236): IAM user names may contain ``=``, ``+``, ``-``
and ``@`` (``[\\w+=,.@-]``), and CloudTrail user agents or file paths are
attacker-controlled, so any cell starting with ``= + - @``, a tab or a carriage
return is prefixed with a single quote, as OWASP recommends; so is a cell where
whitespace comes before one of them (`` =cmd``: spreadsheets trim it and run the
formula). Other control and bidi characters are shown as escapes (``\\x1b``,
``\\u202e``; see :mod:`phantomkeys.report.safetext`), so a CSV shown on a terminal
cannot drive it; tabs and line breaks inside a (quoted) cell stay as they are.
This is the one CSV cell guard: every CSV phantomkeys writes goes through
:func:`safe_cell`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from phantomkeys.report import document as doc
from phantomkeys.report.safetext import visible

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str | int | float:
    """One cell: numbers stay numbers; text that a spreadsheet would execute is defused."""
    if isinstance(value, bool) or value is None or not isinstance(value, (int, float)):
        raw = doc.text(value)
        text = visible(raw, keep="\t\r\n")
        if raw.startswith(_FORMULA_START) or raw.lstrip().startswith(_FORMULA_START):
            return "'" + text
        return text
    return value


Column = tuple[str, Callable[..., Any]]


def _ident_credentials(ident: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The identity's API keys (``credentials`` also lists other services' credentials)."""
    return [
        c
        for c in ident.get("credentials") or ()
        if isinstance(c, Mapping) and c.get("api_key", True)
    ]


def _active(items: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [i for i in items if i.get("status") == "Active"]


def _oldest_created(ident: Mapping[str, Any]) -> str:
    times = [str(c["created"]) for c in _ident_credentials(ident) if c.get("created")]
    return min(times) if times else ""


def _next_expiry(ident: Mapping[str, Any]) -> str:
    times = [str(c["expires"]) for c in _active(_ident_credentials(ident)) if c.get("expires")]
    return min(times) if times else ""


def _never_expires(ident: Mapping[str, Any]) -> bool:
    return any(c.get("expires") in (None, "") for c in _active(_ident_credentials(ident)))


def _access_keys(ident: Mapping[str, Any]) -> str:
    keys = ident.get("access_keys")
    if keys is None:
        return "unknown"
    return str(len(_active(k for k in keys if isinstance(k, Mapping))))


def _capabilities(ident: Mapping[str, Any]) -> str:
    caps = [c for c in ident.get("capabilities") or () if isinstance(c, Mapping)]
    caps.sort(key=lambda c: -doc.severity_rank(c.get("severity")))
    return "; ".join(str(c.get("id") or c.get("title")) for c in caps)


def _policies(ident: Mapping[str, Any]) -> str:
    out = []
    for p in ident.get("policies") or ():
        out.append(str(p.get("name") or p.get("arn")) if isinstance(p, Mapping) else str(p))
    return "; ".join(out)


def _reasons(ident: Mapping[str, Any]) -> str:
    risk = ident.get("risk") or {}
    reasons = risk.get("reasons") or () if isinstance(risk, Mapping) else ()
    return "; ".join(str(r.get("title", r)) if isinstance(r, Mapping) else str(r) for r in reasons)


def _unknown_bool(value: Any) -> Any:
    return "unknown" if value is None else value


SCAN_COLUMNS: tuple[Column, ...] = (
    ("account_id", lambda a, i: a.get("account_id")),
    ("account_name", lambda a, i: a.get("name")),
    ("account_status", lambda a, i: a.get("status")),
    ("username", lambda a, i: i.get("username")),
    ("arn", lambda a, i: i.get("arn")),
    ("kind", lambda a, i: i.get("kind")),
    ("surface", lambda a, i: i.get("surface")),
    ("status", lambda a, i: i.get("status")),
    ("risk_severity", lambda a, i: (i.get("risk") or {}).get("severity")),
    ("risk_reasons", lambda a, i: _reasons(i)),
    ("api_keys_active", lambda a, i: len(_active(_ident_credentials(i)))),
    ("api_keys_total", lambda a, i: len(_ident_credentials(i))),
    ("api_key_ids", lambda a, i: "; ".join(str(c.get("id")) for c in _ident_credentials(i))),
    ("oldest_key_created", lambda a, i: _oldest_created(i)),
    ("next_key_expiry", lambda a, i: _next_expiry(i)),
    ("never_expiring_key", lambda a, i: _never_expires(i)),
    ("access_keys_active", lambda a, i: _access_keys(i)),
    ("console_access", lambda a, i: _unknown_bool(i.get("console_access"))),
    (
        "mfa_devices",
        lambda a, i: "unknown" if i.get("mfa_devices") is None else len(i.get("mfa_devices") or ()),
    ),
    ("capabilities", lambda a, i: _capabilities(i)),
    ("policies", lambda a, i: _policies(i)),
)

_EVIDENCE = (
    "principal",
    "count",
    "first_seen",
    "last_seen",
    "regions",
    "source_ips",
    "user_agents",
    "models",
    "event_ids",
    # incidents (hunt): the risk score and its parts
    "score_summary",
)

FINDING_COLUMNS: tuple[Column, ...] = (
    ("severity", lambda f: f.get("severity")),
    ("rule_id", lambda f: f.get("rule_id")),
    ("title", lambda f: f.get("title")),
    ("account_id", lambda f: f.get("account_id")),
    ("subject", lambda f: f.get("subject")),
    ("location", lambda f: doc.location_text(f)),
    ("remediation", lambda f: f.get("remediation")),
    ("fingerprint", lambda f: f.get("fingerprint")),
    ("evidence", lambda f: doc.text(f.get("evidence"))),
)

HUNT_COLUMNS: tuple[Column, ...] = (
    ("severity", lambda f: f.get("severity")),
    ("rule_id", lambda f: f.get("rule_id")),
    ("title", lambda f: f.get("title")),
    ("account_id", lambda f: f.get("account_id")),
    ("subject", lambda f: f.get("subject")),
    *(
        (name, (lambda key: lambda f: (f.get("evidence") or {}).get(key))(name))
        for name in _EVIDENCE
    ),
    ("fingerprint", lambda f: f.get("fingerprint")),
)


def _write(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buffer.getvalue()


def render(document: Mapping[str, Any]) -> str:
    command = doc.command_of(document)
    if command == "scan":
        return _write(
            [c[0] for c in SCAN_COLUMNS],
            ([fn(a, i) for _, fn in SCAN_COLUMNS] for a, i in doc.identities(document)),
        )
    columns = HUNT_COLUMNS if command == "hunt" else FINDING_COLUMNS
    return _write(
        [c[0] for c in columns], ([fn(f) for _, fn in columns] for f in doc.findings(document))
    )
