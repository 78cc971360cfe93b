"""``--format html``: one self-contained file to read, share and print.

* No network at view time: CSS and the small table script are inline, charts
  are SVG drawn here (:mod:`phantomkeys.report.svg`), and a Content Security
  Policy (``default-src 'none'``, the script allowed by its hash) makes the
  browser refuse any request the page might try.
* Charts: status breakdown, API-key age and expiry, capabilities per identity,
  an accounts × severity heat map, the SCP coverage matrix and the hunt
  timeline, each where the document has the data.
* Tables sort by any column (click the header) and filter by text and by
  severity / status; every table says how many rows are shown.
* Secrets: the document is scrubbed (:func:`phantomkeys.report.redact.scrub`)
  before anything is written, and every value is HTML-escaped.

``render_many`` puts several documents (scan, hunt, coverage, …) in one page;
the demo report is built that way.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from phantomkeys.report import document as doc
from phantomkeys.report import svg
from phantomkeys.report.redact import scrub

_TITLES = {
    "scan": "API-key holders",
    "hunt": "CloudTrail hunt",
    "leaks": "Leaked keys",
    "coverage": "SCP coverage",
}

AGE_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("< 7 d", 7),
    ("7–30 d", 30),
    ("30–90 d", 90),
    ("90–365 d", 365),
    ("> 1 y", None),
)
EXPIRY_BUCKETS: tuple[tuple[str, int | None], ...] = (
    ("< 7 d", 7),
    ("7–30 d", 30),
    ("30–90 d", 90),
    ("> 90 d", None),
)


# ------------------------------------------------------------------ tables


@dataclass(frozen=True, slots=True)
class Cell:
    html: str
    sort: str | float | None = None
    css: str = ""


@dataclass(frozen=True, slots=True)
class Row:
    cells: Sequence[Cell]
    attrs: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    numeric: bool = False


def _e(value: Any) -> str:
    return escape(doc.text(value))


def _pill(value: Any, kind: str) -> str:
    text = doc.text(value) or "—"
    return f'<span class="pill {kind}-{escape(text)}">{escape(text)}</span>'


def _code(value: Any) -> str:
    text = doc.text(value)
    if not text:
        return ""
    short = len(text) <= 24 and " " not in text  # account ids, rule ids: never wrapped
    return f'<code class="id">{escape(text)}</code>' if short else f"<code>{escape(text)}</code>"


def _table(
    table_id: str,
    caption: str,
    columns: Sequence[Column],
    rows: Sequence[Row],
    *,
    filters: Sequence[tuple[str, str, Sequence[str]]] = (),
) -> str:
    """A sortable, filterable table. ``filters``: (row attribute, label, choices)."""
    controls = [
        f'<input type="search" class="filter-text" data-table="{table_id}" '
        f'placeholder="Filter {escape(caption.lower())}…" aria-label="Filter">'
    ]
    for attr, label, choices in filters:
        options = "".join(f'<option value="{escape(c)}">{escape(c)}</option>' for c in choices)
        controls.append(
            f'<label>{escape(label)} <select class="filter-select" '
            f'data-table="{table_id}" data-attr="{escape(attr)}">'
            f'<option value="">all</option>{options}</select></label>'
        )
    controls.append(
        f'<span class="row-count" data-table="{table_id}">{len(rows)} of {len(rows)}</span>'
    )
    head = "".join(
        f'<th scope="col" data-type="{"num" if c.numeric else "text"}" '
        f'aria-sort="none" tabindex="0">{escape(c.title)}</th>'
        for c in columns
    )
    body = []
    for row in rows:
        attrs = "".join(f' data-{escape(k)}="{escape(v)}"' for k, v in row.attrs.items())
        cells = []
        for cell in row.cells:
            sort = "" if cell.sort is None else f' data-sort="{escape(str(cell.sort))}"'
            css = f' class="{cell.css}"' if cell.css else ""
            cells.append(f"<td{css}{sort}>{cell.html}</td>")
        body.append(f"<tr{attrs}>{''.join(cells)}</tr>")
    if not rows:
        body.append(f'<tr class="empty"><td colspan="{len(columns)}">None.</td></tr>')
    return (
        f'<section class="table-block"><h3>{escape(caption)}</h3>'
        f'<div class="controls">{"".join(controls)}</div>'
        f'<div class="table-wrap"><table id="{table_id}" class="sortable">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        f"</section>"
    )


def _findings_table(table_id: str, findings: Sequence[Mapping[str, Any]], command: str) -> str:
    columns = [Column("Severity", numeric=True), Column("Finding"), Column("Account")]
    columns.append(Column("Location" if command == "leaks" else "Subject"))
    if command == "hunt":
        columns += [
            Column("Events", numeric=True),
            Column("First seen"),
            Column("Last seen"),
            Column("Regions"),
            Column("Source IPs"),
        ]
    columns += [Column("Evidence"), Column("Remediation"), Column("Rule")]
    rows = []
    for f in findings:
        sev = str(f.get("severity"))
        evidence = f.get("evidence") if isinstance(f.get("evidence"), Mapping) else {}
        assert isinstance(evidence, Mapping)
        place = _code(doc.location_text(f)) if command == "leaks" else _code(f.get("subject"))
        cells = [
            Cell(_pill(sev, "sev"), doc.severity_rank(sev)),
            Cell(f"<strong>{_e(f.get('title'))}</strong>"),
            Cell(_code(f.get("account_id"))),
            Cell(place),
        ]
        if command == "hunt":
            cells += [
                Cell(_e(evidence.get("count")), _num(evidence.get("count"))),
                Cell(_e(evidence.get("first_seen"))),
                Cell(_e(evidence.get("last_seen"))),
                Cell(_e(evidence.get("regions"))),
                Cell(_e(evidence.get("source_ips"))),
            ]
            shown = {
                k: v
                for k, v in evidence.items()
                if k
                not in ("count", "first_seen", "last_seen", "regions", "source_ips", "principal")
            }
        else:
            shown = dict(evidence)
        cells += [
            Cell(_evidence(shown)),
            Cell(_e(f.get("remediation"))),
            Cell(_code(f.get("rule_id"))),
        ]
        rows.append(Row(cells, {"severity": sev, "fingerprint": str(f.get("fingerprint"))}))
    return _table(
        table_id, "Findings", columns, rows, filters=[("severity", "Severity", doc.SEVERITIES)]
    )


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _evidence(evidence: Mapping[str, Any]) -> str:
    items = [
        f'<li><span class="k">{escape(str(k))}</span> {_e(v)}</li>'
        for k, v in evidence.items()
        if v not in (None, "", [], {})
    ]
    return f'<ul class="evidence">{"".join(items)}</ul>' if items else ""


# ------------------------------------------------------------------ scan


def _credentials(ident: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The identity's API keys (``credentials`` also lists other services' credentials)."""
    return [
        c
        for c in ident.get("credentials") or ()
        if isinstance(c, Mapping) and c.get("api_key", True)
    ]


def _age_days(created: Any, at: datetime | None) -> int | None:
    when = doc.parse_time(created)
    if when is None or at is None:
        return None
    return max(0, (at - when).days)


def _bucket(days: int, buckets: Sequence[tuple[str, int | None]]) -> str:
    for label, limit in buckets:
        if limit is None or days < limit:
            return label
    return buckets[-1][0]


def _scan_charts(document: Mapping[str, Any], at: datetime | None) -> list[tuple[str, str]]:
    summary = document.get("summary") or {}
    counts = {s: int(summary.get(s, 0) or 0) for s in doc.STATUSES}
    if not any(counts.values()):
        counts = Counter(str(i.get("status")) for _, i in doc.identities(document))
    status_chart = svg.hbar_chart(
        [svg.Bar(s, int(counts.get(s, 0)), svg.STATUS_COLORS[s]) for s in doc.STATUSES],
        name="status",
        label="Key holders by status",
        empty="No API-key holders found",
    )

    ages: Counter[str] = Counter()
    expiry: Counter[str] = Counter()
    for _, ident in doc.identities(document):
        for cred in _credentials(ident):
            days = _age_days(cred.get("created"), at)
            if days is not None:
                ages[_bucket(days, AGE_BUCKETS)] += 1
            if cred.get("status") != "Active":
                expiry["inactive"] += 1
                continue
            expires = doc.parse_time(cred.get("expires"))
            if expires is None:
                expiry["never"] += 1
            elif at is not None and expires <= at:
                expiry["expired"] += 1
            elif at is not None:
                expiry[_bucket((expires - at).days, EXPIRY_BUCKETS)] += 1
    age_chart = svg.column_chart(
        [
            svg.Bar(
                label,
                ages[label],
                "#3b6fd8" if (limit or 999) <= 90 else "#e8590c",
                f"{ages[label]} API keys created {label} ago",
            )
            for label, limit in AGE_BUCKETS
        ],
        name="key-age",
        label="API-key age",
        empty="No API keys",
    )
    expiry_labels = ["expired", *(label for label, _ in EXPIRY_BUCKETS), "never", "inactive"]
    expiry_colors = {"expired": "#8a8f98", "never": "#b3261e", "inactive": "#adb5bd"}
    expiry_chart = svg.column_chart(
        [
            svg.Bar(
                label,
                expiry[label],
                expiry_colors.get(label, "#d4a20b"),
                f"{expiry[label]} API keys: expiry {label}",
            )
            for label in expiry_labels
        ],
        name="key-expiry",
        label="API-key expiry (active keys; time left)",
        empty="No API keys",
    )

    cap_rows = []
    for account, ident in doc.identities(document):
        caps = [c for c in ident.get("capabilities") or () if isinstance(c, Mapping)]
        if not caps:
            continue
        by_sev = Counter(str(c.get("severity")) for c in caps)
        label = str(ident.get("username"))
        if len(doc.accounts(document)) > 1:
            label = f"{label} ({str(account.get('account_id'))[-4:]})"
        cap_rows.append((label, [(s, by_sev.get(s, 0)) for s in doc.SEVERITIES]))
    cap_rows.sort(key=lambda r: (-sum(v * (5 - i) ** 2 for i, (_, v) in enumerate(r[1])), r[0]))
    capabilities = svg.stacked_bars(
        cap_rows[:30],
        colors=svg.SEVERITY_COLORS,
        name="capabilities",
        label="Capabilities per identity",
        empty="No capabilities",
    )
    charts = [
        ("Status breakdown", status_chart),
        ("API-key age", age_chart),
        ("API-key expiry", expiry_chart),
        ("Capabilities per identity" + (" (top 30)" if len(cap_rows) > 30 else ""), capabilities),
    ]
    return charts


def _heat_map(document: Mapping[str, Any]) -> str:
    findings = doc.findings(document)
    account_ids = [str(a.get("account_id")) for a in doc.accounts(document)]
    account_ids += sorted({str(f.get("account_id") or "—") for f in findings} - set(account_ids))
    names = {str(a.get("account_id")): str(a.get("name") or "") for a in doc.accounts(document)}
    for row in doc.coverage_rows(document):
        if row.get("name"):
            names.setdefault(str(row.get("account_id")), str(row["name"]))
            if str(row.get("account_id")) not in account_ids:
                account_ids.append(str(row.get("account_id")))
    status = {str(a.get("account_id")): str(a.get("status")) for a in doc.accounts(document)}
    values = []
    for acct in account_ids:
        counts = doc.severity_counts(
            [f for f in findings if str(f.get("account_id") or "—") == acct]
        )
        values.append([counts[s] for s in doc.SEVERITIES])
    labels = [f"{a} {names[a]}".strip() if names.get(a) else a for a in account_ids]
    notes = [
        ("⚠ " + status[a]) if status.get(a, "ok") in ("error", "incomplete") else ""
        for a in account_ids
    ]
    return svg.heat_map(
        labels,
        list(doc.SEVERITIES),
        values,
        color=svg.SEVERITY_COLORS,
        name="heat-map",
        label="Findings per account and severity",
        row_notes=notes,
        label_width=280,
        empty="No accounts",
    )


def _identity_table(document: Mapping[str, Any], at: datetime | None, table_id: str) -> str:
    columns = [
        Column("Account"),
        Column("User"),
        Column("Kind"),
        Column("Surface"),
        Column("Status", numeric=True),
        Column("Risk", numeric=True),
        Column("API keys", numeric=True),
        Column("Oldest key (days)", numeric=True),
        Column("Next expiry"),
        Column("Access keys", numeric=True),
        Column("Console"),
        Column("MFA", numeric=True),
        Column("Capabilities"),
    ]
    rows = []
    for account, ident in doc.identities(document):
        creds = _credentials(ident)
        active = [c for c in creds if c.get("status") == "Active"]
        ages = [d for d in (_age_days(c.get("created"), at) for c in creds) if d is not None]
        expiries = [c.get("expires") for c in active]
        if any(e in (None, "") for e in expiries):
            next_expiry, expiry_sort = '<span class="warn">never</span>', "9999"
        elif expiries:
            first = min(str(e) for e in expiries)
            next_expiry, expiry_sort = _e(first), first
        else:
            next_expiry, expiry_sort = "—", ""
        keys = ident.get("access_keys")
        if keys is None:
            keys_cell = Cell('<span class="unknown">unknown</span>', -1)
        else:
            n = sum(1 for k in keys if isinstance(k, Mapping) and k.get("status") == "Active")
            keys_cell = Cell(f'<span class="{"warn" if n else ""}">{n}</span>', n)
        console = ident.get("console_access")
        console_html = (
            '<span class="unknown">unknown</span>'
            if console is None
            else '<span class="warn">yes</span>'
            if console
            else "no"
        )
        mfa = ident.get("mfa_devices")
        mfa_cell = Cell("unknown", -1) if mfa is None else Cell(str(len(mfa)), len(mfa))
        caps = sorted(
            (c for c in ident.get("capabilities") or () if isinstance(c, Mapping)),
            key=lambda c: -doc.severity_rank(c.get("severity")),
        )
        caps_html = " ".join(
            f'<span class="cap sev-{escape(str(c.get("severity")))}" '
            f'title="{escape("granted by " + doc.text(c.get("granted_by")))}'
            f'{" (conditional)" if c.get("conditional") else ""}">'
            f"{_e(c.get('title') or c.get('id'))}"
            f"{' (conditional)' if c.get('conditional') else ''}</span>"
            for c in caps
        )
        status = str(ident.get("status"))
        risk = str((ident.get("risk") or {}).get("severity"))
        rows.append(
            Row(
                [
                    Cell(_code(account.get("account_id"))),
                    Cell(
                        f"<strong>{_e(ident.get('username'))}</strong>"
                        f'<div class="sub">{_e(ident.get("arn"))}</div>',
                        str(ident.get("username")),
                    ),
                    Cell(_e(ident.get("kind"))),
                    Cell(_e(ident.get("surface"))),
                    Cell(
                        _pill(status, "status"),
                        -doc.STATUSES.index(status) if status in doc.STATUSES else -99,
                    ),
                    Cell(_pill(risk, "sev"), doc.severity_rank(risk)),
                    Cell(f"{len(active)} / {len(creds)}", len(active)),
                    Cell(str(max(ages)) if ages else "—", max(ages) if ages else -1),
                    Cell(next_expiry, expiry_sort),
                    keys_cell,
                    Cell(console_html),
                    mfa_cell,
                    Cell(caps_html, len(caps), css="caps"),
                ],
                {
                    "status": status,
                    "severity": risk,
                    "kind": str(ident.get("kind")),
                    "account": str(account.get("account_id")),
                },
            )
        )
    return _table(
        table_id,
        "Identities",
        columns,
        rows,
        filters=[
            ("status", "Status", doc.STATUSES),
            ("severity", "Risk", doc.SEVERITIES),
            ("kind", "Kind", ("phantom", "suspected-phantom", "human")),
        ],
    )


def _accounts_table(document: Mapping[str, Any], table_id: str) -> str:
    columns = [
        Column("Account"),
        Column("Name"),
        Column("Status"),
        Column("Identities", numeric=True),
        Column("Error"),
    ]
    rows = []
    for a in doc.accounts(document):
        status = str(a.get("status"))
        rows.append(
            Row(
                [
                    Cell(_code(a.get("account_id"))),
                    Cell(_e(a.get("name"))),
                    Cell(_pill(status, "acct")),
                    Cell(str(len(a.get("identities") or ())), len(a.get("identities") or ())),
                    Cell(_e(a.get("error"))),
                ],
                {"status": status},
            )
        )
    return _table(
        table_id,
        "Accounts",
        columns,
        rows,
        filters=[("status", "Status", ("ok", "incomplete", "error"))],
    )


# ------------------------------------------------------------------ coverage


def _coverage_chart(document: Mapping[str, Any]) -> str:
    goals = doc.coverage_goals(document)
    rows, cells = [], []
    for r in doc.coverage_rows(document):
        name = f"{r.get('account_id')} {r.get('name') or ''}".strip()
        rows.append(name)
        row_cells = doc.coverage_cells(r)
        line = []
        for gid, title in goals:
            c = row_cells.get(gid) or {}
            state = doc.cell_state(c)
            tip = f"{name} · {title}: {state}"
            if doc.cell_policy(c):
                tip += f" — {doc.cell_policy(c)}"
            if doc.cell_detail(c):
                tip += f" ({doc.cell_detail(c)})"
            line.append((state, tip))
        cells.append(line)
    return svg.status_grid(
        rows,
        [t for _, t in goals],
        cells,
        name="scp-coverage",
        label="SCP coverage matrix",
        label_width=230,
    )


# ------------------------------------------------------------------ hunt


def _hunt_timeline(document: Mapping[str, Any]) -> str:
    spans = []
    for f in doc.findings(document):
        ev = f.get("evidence") if isinstance(f.get("evidence"), Mapping) else {}
        assert isinstance(ev, Mapping)
        start = doc.parse_time(ev.get("first_seen"))
        end = doc.parse_time(ev.get("last_seen")) or start
        if start is None or end is None:
            continue
        principal = str(ev.get("principal") or f.get("subject") or "")
        who = principal.rsplit("/", 1)[-1] or principal
        count = ev.get("count") if isinstance(ev.get("count"), int) else 1
        assert isinstance(count, int)
        tip = (
            f"{f.get('title')} — {principal}\n{count} events, "
            f"{ev.get('first_seen')} → {ev.get('last_seen')}\n"
            f"regions: {doc.text(ev.get('regions'))}; IPs: {doc.text(ev.get('source_ips'))}"
        )
        spans.append(
            svg.Span(
                f"{who}: {f.get('title')}",
                start,
                end,
                svg.SEVERITY_COLORS.get(str(f.get("severity")), "#999"),
                max(count, 1),
                tip,
            )
        )
    spans.sort(key=lambda s: s.start)
    return svg.timeline(spans[:60], name="hunt-timeline", label="Hunt timeline", label_width=330)


# ------------------------------------------------------------------ page


def _section(index: int, document: Mapping[str, Any]) -> tuple[str, str]:
    command = doc.command_of(document)
    meta = doc.metadata(document)
    at = doc.reference_time(document)
    findings = sorted(
        doc.findings(document),
        key=lambda f: (
            -doc.severity_rank(f.get("severity")),
            str(f.get("account_id") or ""),
            str(f.get("subject")),
        ),
    )
    prefix = f"{command}-{index}"
    charts: list[tuple[str, str]] = []
    tables: list[str] = []
    if command == "scan":
        charts += _scan_charts(document, at)
        charts.append(("Org heat map: findings per account × severity", _heat_map(document)))
        tables.append(_identity_table(document, at, f"{prefix}-identities"))
        if len(doc.accounts(document)) > 1:
            tables.append(_accounts_table(document, f"{prefix}-accounts"))
    elif command == "hunt":
        charts.append(("Hunt timeline", _hunt_timeline(document)))
        charts.append(("Findings per account × severity", _heat_map(document)))
    elif command == "coverage":
        charts.append(("SCP coverage matrix", _coverage_chart(document)))
        charts.append(("Gaps per account × severity", _heat_map(document)))
    else:
        charts.append(("Findings per account × severity", _heat_map(document)))
    tables.append(_findings_table(f"{prefix}-findings", findings, command))

    counts = doc.severity_counts(findings)
    cards = [("Findings", str(len(findings)), "")]
    cards += [(s, str(n), f"sev-{s}") for s, n in counts.items() if n]
    if command == "scan":
        summary = document.get("summary") or {}
        cards.insert(0, ("Key holders", str(sum(1 for _ in doc.identities(document))), ""))
        if summary.get("at-risk"):
            cards.insert(1, ("At risk", str(summary["at-risk"]), "status-at-risk"))
        bad = [a for a in doc.accounts(document) if a.get("status") != "ok"]
        if bad:
            cards.append(
                ("Accounts not ok", f"{len(bad)} / {len(doc.accounts(document))}", "status-unknown")
            )
    facts = []
    for key, label in (
        ("scan_time", "Time"),
        # Freshness: AWS reuses a credential report up to 4 hours old.
        ("credential_report_generated_at", "Credential report"),
        ("caller_arn", "Caller"),
        ("organization_id", "Organization"),
        ("engine", "Engine"),
        ("records", "Records"),
        ("since", "Since"),
        ("until", "Until"),
        ("files_scanned", "Files"),
        ("commits_scanned", "Commits"),
    ):
        if meta.get(key) not in (None, ""):
            facts.append(f"<dt>{label}</dt><dd>{_e(meta[key])}</dd>")
    api = meta.get("api_calls")
    if isinstance(api, Mapping) and api.get("total") is not None:
        facts.append(f"<dt>AWS calls</dt><dd>{_e(api['total'])}</dd>")
    card_html = "".join(
        f'<div class="card {cls}"><div class="n">{escape(n)}</div>'
        f'<div class="l">{escape(label)}</div></div>'
        for label, n, cls in cards
    )
    chart_html = "".join(
        f'<figure class="chart"><figcaption>{escape(title)}</figcaption>{body}</figure>'
        for title, body in charts
    )
    title = _TITLES.get(command, command)
    section = (
        f'<section class="doc" id="{prefix}"><h2>{escape(title)}</h2>'
        f'<dl class="facts">{"".join(facts)}</dl><div class="cards">{card_html}</div>'
        f'<div class="charts">{chart_html}</div>{"".join(tables)}</section>'
    )
    return title, section


_CSS = """
:root{--fg:#1d2125;--muted:#5f6b76;--line:#e3e6ea;--bg:#f7f8fa;--accent:#3b6fd8}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
 color:var(--fg);background:var(--bg)}
header{background:#16202a;color:#fff;padding:18px 28px}
header h1{margin:0;font-size:20px}
header .meta{color:#c7d0d9;font-size:12px;margin-top:4px}
nav{padding:6px 28px;background:#fff;border-bottom:1px solid var(--line)}
nav a{margin-right:16px;color:var(--accent);text-decoration:none}
main{padding:8px 28px 40px}
section.doc{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;
 margin:18px 0}
h2{margin:0 0 8px;font-size:18px}h3{font-size:15px;margin:18px 0 6px}
dl.facts{display:flex;flex-wrap:wrap;gap:4px 18px;margin:0 0 12px;color:var(--muted);
 font-size:12px}
dl.facts dt{font-weight:600}dl.facts dd{margin:0 0 0 4px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:12px}
.card{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:96px}
.card .n{font-size:22px;font-weight:700}.card .l{color:var(--muted);font-size:12px}
.card[class*=" sev-"] .l,.card[class*=" status-"] .l{color:rgba(255,255,255,.9)}
.charts{display:flex;flex-wrap:wrap;gap:14px}
figure.chart{margin:0;border:1px solid var(--line);border-radius:8px;padding:10px;
 background:#fff;max-width:100%;overflow-x:auto}
figure.chart figcaption{font-weight:600;margin-bottom:6px}
.controls{display:flex;flex-wrap:wrap;gap:10px;align-items:center;margin:6px 0}
.controls input{padding:5px 8px;border:1px solid #c9ced4;border-radius:6px;min-width:240px}
.controls select{padding:4px;border:1px solid #c9ced4;border-radius:6px}
.row-count{color:var(--muted);font-size:12px}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5;cursor:pointer;white-space:nowrap;user-select:none;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
tr[hidden]{display:none}
td .sub{color:var(--muted);font-size:11px;word-break:break-all}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f1f3f5;padding:1px 4px;
 border-radius:4px;overflow-wrap:anywhere}
code.id{white-space:nowrap}
ul.evidence{margin:0;padding-left:16px;font-size:12px}ul.evidence .k{color:var(--muted)}
.pill,.cap{display:inline-block;border-radius:10px;padding:1px 8px;font-size:12px;
 font-weight:600;color:#fff;background:#8a8f98;margin:1px 2px 1px 0;white-space:nowrap}
.cap{font-weight:500;white-space:normal}
td.caps{min-width:260px}
.sev-critical{background:#b3261e}.sev-high{background:#e8590c}.sev-medium{background:#d4a20b}
.sev-low{background:#3b6fd8}.sev-info{background:#8a8f98}
.card.sev-critical,.card.sev-high,.card.sev-medium,.card.sev-low,.card.sev-info,
.card.status-at-risk,.card.status-unknown{color:#fff;border:0}
.status-at-risk{background:#b3261e}.status-active{background:#e8590c}
.status-expired{background:#8a8f98}.status-orphaned{background:#7b4bd1}
.status-unknown{background:#0c8599}
.acct-ok{background:#2f9e44}.acct-incomplete{background:#f08c00}.acct-error{background:#c92a2a}
.warn{color:#b3261e;font-weight:600}.unknown{color:#0c8599;font-weight:600}
footer{color:var(--muted);font-size:12px;padding:0 28px 24px}
@media print{nav,.controls{display:none}th{position:static}section.doc{break-inside:avoid}}
"""

_JS = """
(function () {
  "use strict";
  function bodyRows(table) { return Array.prototype.slice.call(table.tBodies[0].rows)
    .filter(function (r) { return !r.classList.contains("empty"); }); }
  function applyFilters(id) {
    var table = document.getElementById(id);
    if (!table) { return; }
    var box = document.querySelector('input.filter-text[data-table="' + id + '"]');
    var query = box ? box.value.trim().toLowerCase() : "";
    var selects = document.querySelectorAll('select.filter-select[data-table="' + id + '"]');
    var rows = bodyRows(table), shown = 0;
    rows.forEach(function (row) {
      var keep = !query || row.textContent.toLowerCase().indexOf(query) !== -1;
      Array.prototype.forEach.call(selects, function (sel) {
        if (sel.value && row.getAttribute("data-" + sel.getAttribute("data-attr")) !== sel.value) {
          keep = false;
        }
      });
      row.hidden = !keep;
      if (keep) { shown += 1; }
    });
    var counter = document.querySelector('.row-count[data-table="' + id + '"]');
    if (counter) { counter.textContent = shown + " of " + rows.length; }
  }
  function cellKey(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) { return numeric ? -Infinity : ""; }
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
    if (numeric) { var n = parseFloat(raw); return isNaN(n) ? -Infinity : n; }
    return raw.trim().toLowerCase();
  }
  function sortBy(th) {
    var table = th.closest("table"), index = th.cellIndex;
    var numeric = th.getAttribute("data-type") === "num";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(th.parentNode.cells, function (other) {
      other.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = bodyRows(table);
    rows.sort(function (a, b) {
      var x = cellKey(a, index, numeric), y = cellKey(b, index, numeric);
      var order = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? order : -order;
    });
    var body = table.tBodies[0];
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.querySelectorAll("input.filter-text, select.filter-select").forEach(function (el) {
    var handler = function () { applyFilters(el.getAttribute("data-table")); };
    el.addEventListener("input", handler);
    el.addEventListener("change", handler);
  });
  document.querySelectorAll("table.sortable th").forEach(function (th) {
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); sortBy(th); }
    });
  });
  document.querySelectorAll("table.sortable").forEach(function (t) { applyFilters(t.id); });
  document.documentElement.setAttribute("data-ready", "1");
})();
"""


def _script_hash(script: str) -> str:
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def render_many(documents: Sequence[Mapping[str, Any]], *, title: str | None = None) -> str:
    """One page holding every document (e.g. scan, hunt and coverage of the demo)."""
    clean = [scrub(d) for d in documents]
    sections = [_section(i, d) for i, d in enumerate(clean)]
    tools = [d.get("tool") or {} for d in clean]
    version = next((str(t.get("version")) for t in tools if t.get("version")), "")
    when = next(
        (doc.metadata(d).get("scan_time") for d in clean if doc.metadata(d).get("scan_time")), None
    )
    page_title = title or "phantomkeys report: " + ", ".join(t for t, _ in sections)
    csp = (
        f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src '{_script_hash(_JS)}'; base-uri 'none'; form-action 'none'"
    )
    nav = "".join(
        f'<a href="#{escape(doc.command_of(d))}-{i}">{escape(t)}</a>'
        for i, ((t, _), d) in enumerate(zip(sections, clean, strict=True))
    )
    meta_line = " · ".join(
        x
        for x in (
            f"generated for {escape(str(when))}" if when else "",
            f"phantomkeys {escape(version)}" if version else "",
            "secrets redacted",
        )
        if x
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(page_title)}</title><style>{_CSS}</style></head><body>"
        f'<header><h1>{escape(page_title)}</h1><div class="meta">{meta_line}</div></header>'
        f"<nav>{nav}</nav><main>{''.join(s for _, s in sections)}</main>"
        "<footer>Produced by phantomkeys. Values come from AWS and scanned files; every key "
        "secret is redacted. Sort by clicking a column header; filter with the boxes above "
        f"each table.</footer><script>{_JS}</script></body></html>\n"
    )


def render(document: Mapping[str, Any]) -> str:
    return render_many([document])
