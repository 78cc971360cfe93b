"""Scan history in a local SQLite database.

Every scan is recorded (unless ``--no-history``): the whole report document,
compressed, plus one row per finding, so ``history diff`` compares fingerprints
in SQL-sized pieces and ``history show`` can re-render an old scan in any
format. The database lives in the user's data folder
(``$XDG_DATA_HOME/phantomkeys/history.sqlite`` on Linux, the platform
equivalent elsewhere) or wherever ``--history PATH`` says. It holds what the
reports hold and never a secret; it is still created 0600 in a 0700 folder,
because an inventory of key holders is sensitive.

Scans are compared within a *scope* (command, Organization or account set,
surfaces), so ``--fail-on new`` never compares a production scan with a
sandbox one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import warnings
import zlib
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from phantomkeys.history.diff import HistoryDiff, diff
from phantomkeys.report import document as doc

#: Bumped when the table layout changes; older databases are migrated in place.
DB_VERSION = 1
ENV_VAR = "PHANTOMKEYS_HISTORY"


class HistoryRowWarning(UserWarning):
    """A corrupt history row that was skipped (the message is user-facing)."""


class HistoryError(Exception):
    """The history database cannot be used (shown to the user as one line)."""


@dataclass(frozen=True, slots=True)
class ScanRecord:
    id: int
    recorded_at: str
    scan_time: str | None
    command: str
    scope: str
    tool_version: str
    caller_arn: str | None
    finding_count: int
    severity_counts: Mapping[str, int]
    summary: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"#{self.id} ({self.scan_time or self.recorded_at})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "recorded_at": self.recorded_at,
            "scan_time": self.scan_time,
            "command": self.command,
            "scope": self.scope,
            "tool_version": self.tool_version,
            "caller_arn": self.caller_arn,
            "findings": self.finding_count,
            "severity_counts": dict(self.severity_counts),
            "summary": dict(self.summary),
        }


def default_path() -> Path:
    """``$PHANTOMKEYS_HISTORY``, else the user data folder (platformdirs)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override).expanduser()
    import platformdirs

    return platformdirs.user_data_path("phantomkeys", appauthor=False) / "history.sqlite"


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    return Path(path).expanduser() if path not in (None, "") else default_path()


def scope_of(document: Mapping[str, Any]) -> str:
    """Which earlier scans a scan is comparable with.

    ``scan|org=o-abc|surfaces=bedrock,claude-platform`` for an Organization,
    ``scan|accounts=111111111111|surfaces=…`` for an account scan; hunt and
    leaks are scoped by their sources and paths.
    """
    command = doc.command_of(document)
    meta = doc.metadata(document)
    parts = [command]
    if meta.get("organization_id"):
        parts.append(f"org={meta['organization_id']}")
    elif doc.accounts(document):
        parts.append(
            "accounts=" + ",".join(sorted(str(a.get("account_id")) for a in doc.accounts(document)))
        )
    for key in ("sources", "paths"):
        value = meta.get(key)
        if isinstance(value, (list, tuple)) and value:
            parts.append(f"{key}=" + ",".join(sorted(str(v) for v in value)))
    surfaces = meta.get("surfaces")
    if isinstance(surfaces, (list, tuple)) and surfaces:
        parts.append("surfaces=" + ",".join(sorted(str(s) for s in surfaces)))
    return "|".join(parts)


# ------------------------------------------------------------------ database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at   TEXT NOT NULL,
    scan_time     TEXT,
    command       TEXT NOT NULL,
    scope         TEXT NOT NULL,
    tool_version  TEXT NOT NULL DEFAULT '',
    caller_arn    TEXT,
    finding_count INTEGER NOT NULL,
    severity_json TEXT NOT NULL,
    summary_json  TEXT NOT NULL,
    document_z    BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS scans_scope ON scans (scope, id);
CREATE TABLE IF NOT EXISTS findings (
    scan_id     INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    severity    TEXT NOT NULL,
    account_id  TEXT,
    subject     TEXT NOT NULL,
    title       TEXT NOT NULL,
    PRIMARY KEY (scan_id, fingerprint)
);
CREATE INDEX IF NOT EXISTS findings_fingerprint ON findings (fingerprint);
"""


@contextmanager
def connect(
    path: str | os.PathLike[str] | None, *, create: bool = True
) -> Iterator[sqlite3.Connection]:
    """An open, migrated database; created 0600 (folder 0700) when ``create``."""
    target = resolve_path(path)
    if not target.exists():
        if not create:
            raise HistoryError(
                f"no scan history at {target} (run a scan first, or pass --history PATH)"
            )
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    try:
        conn = sqlite3.connect(target, timeout=30)
    except sqlite3.Error as exc:
        raise HistoryError(f"cannot open scan history {target}: {exc}") from None
    with closing(conn):
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn, target)
            yield conn
            conn.commit()
        except sqlite3.DatabaseError as exc:
            conn.rollback()
            raise HistoryError(f"scan history {target} is not usable: {exc}") from None


def _migrate(conn: sqlite3.Connection, target: Path) -> None:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > DB_VERSION:
        raise HistoryError(
            f"scan history {target} was written by a newer phantomkeys "
            f"(format {version}); upgrade phantomkeys or use another --history"
        )
    if version < DB_VERSION:
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version = {DB_VERSION}")


def _records(rows: list[Any]) -> list[ScanRecord]:
    """Rows as records; a corrupt row is skipped with a :class:`HistoryRowWarning`, so one
    bad row never breaks every ``history`` command."""
    out = []
    for row in rows:
        try:
            out.append(_row_to_record(row))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            ident = row[0] if isinstance(row, tuple | sqlite3.Row) and len(row) else "?"
            warnings.warn(
                f"scan #{ident} is not a valid history row: {type(exc).__name__}: "
                f"{str(exc)[:120]}; skipped",
                HistoryRowWarning,
                stacklevel=2,
            )
    return out


def _row_to_record(row: sqlite3.Row | tuple[Any, ...]) -> ScanRecord:
    (
        id_,
        recorded_at,
        scan_time,
        command,
        scope,
        version,
        caller,
        count,
        sev_json,
        summary_json,
    ) = row
    return ScanRecord(
        id=int(id_),
        recorded_at=recorded_at,
        scan_time=scan_time,
        command=command,
        scope=scope,
        tool_version=version,
        caller_arn=caller,
        finding_count=int(count),
        severity_counts=_json_object(sev_json, "severity_json"),
        summary=_json_object(summary_json, "summary_json"),
    )


def _json_object(text: Any, column: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"{column} is not a JSON object")
    return value


_RECORD_COLUMNS = (
    "id, recorded_at, scan_time, command, scope, tool_version, caller_arn, "
    "finding_count, severity_json, summary_json"
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _insert(
    conn: sqlite3.Connection, document: Mapping[str, Any], recorded_at: str | None
) -> ScanRecord:
    meta = doc.metadata(document)
    findings = doc.findings(document)
    summary = document.get("summary") if isinstance(document.get("summary"), Mapping) else {}
    blob = zlib.compress(json.dumps(document, separators=(",", ":"), default=str).encode(), 6)
    tool = document.get("tool") if isinstance(document.get("tool"), Mapping) else {}
    assert isinstance(tool, Mapping)
    assert isinstance(summary, Mapping)
    values = (
        recorded_at or _now(),
        meta.get("scan_time") or meta.get("generated_at"),
        doc.command_of(document),
        scope_of(document),
        str(tool.get("version") or ""),
        meta.get("caller_arn"),
        len(findings),
        json.dumps(doc.severity_counts(findings)),
        json.dumps(dict(summary), default=str),
        blob,
    )
    cur = conn.execute(
        "INSERT INTO scans (recorded_at, scan_time, command, scope, tool_version, caller_arn, "
        "finding_count, severity_json, summary_json, document_z) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        values,
    )
    scan_id = int(cur.lastrowid or 0)
    conn.executemany(
        "INSERT OR IGNORE INTO findings (scan_id, fingerprint, rule_id, severity, account_id, "
        "subject, title) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                scan_id,
                str(f.get("fingerprint")),
                str(f.get("rule_id")),
                str(f.get("severity")),
                f.get("account_id"),
                str(f.get("subject")),
                str(f.get("title")),
            )
            for f in findings
            if f.get("fingerprint")
        ],
    )
    row = conn.execute(
        f"SELECT {_RECORD_COLUMNS} FROM scans WHERE id = ?",  # noqa: S608
        (scan_id,),
    ).fetchone()
    return _row_to_record(row)


def record(
    document: Mapping[str, Any],
    path: str | os.PathLike[str] | None = None,
    *,
    recorded_at: str | None = None,
) -> ScanRecord:
    """Store a report document; returns its record (``id`` for ``history diff``)."""
    with connect(path) as conn:
        return _insert(conn, document, recorded_at)


def list_scans(
    path: str | os.PathLike[str] | None = None,
    *,
    scope: str | None = None,
    command: str | None = None,
    limit: int | None = None,
) -> list[ScanRecord]:
    """Recorded scans, oldest first (the newest ``limit`` when given)."""
    query = f"SELECT {_RECORD_COLUMNS} FROM scans"  # noqa: S608
    where, args = [], []
    if scope is not None:
        where.append("scope = ?")
        args.append(scope)
    if command is not None:
        where.append("command = ?")
        args.append(command)
    if where:
        query += " WHERE " + " AND ".join(where)
    query += " ORDER BY id DESC"
    if limit is not None:
        query += " LIMIT ?"
        args.append(str(int(limit)))
    with connect(path, create=False) as conn:
        rows = conn.execute(query, args).fetchall()
    return _records(list(reversed(rows)))


def load_document(path: str | os.PathLike[str] | None, scan_id: int) -> dict[str, Any]:
    """The full report document of a recorded scan."""
    with connect(path, create=False) as conn:
        row = conn.execute("SELECT document_z FROM scans WHERE id = ?", (scan_id,)).fetchone()
    if row is None:
        raise HistoryError(f"no scan #{scan_id} in the history")
    try:
        loaded = json.loads(zlib.decompress(row[0]))
    except (zlib.error, TypeError, ValueError) as exc:
        raise HistoryError(
            f"scan #{scan_id} is not a valid history row: its document cannot be read "
            f"({type(exc).__name__})"
        ) from None
    if not isinstance(loaded, dict):
        raise HistoryError(
            f"scan #{scan_id} is not a valid history row: its document is not an object"
        )
    return loaded


def get_scan(path: str | os.PathLike[str] | None, ref: str | int) -> ScanRecord:
    """A scan by id, or ``latest`` / ``previous`` (the one before the latest, same scope)."""
    scans = list_scans(path)
    if not scans:
        raise HistoryError("the scan history is empty")
    text = str(ref).strip().lower().lstrip("#")
    if text == "latest":
        return scans[-1]
    if text == "previous":
        before = previous_of(scans, scans[-1])
        if before is None:
            raise HistoryError(f"no earlier scan with the scope of {scans[-1].label}")
        return before
    try:
        wanted = int(text)
    except ValueError:
        raise HistoryError(
            f"{ref!r} is not a scan id (a number from `phantomkeys history "
            "list`, latest or previous)"
        ) from None
    for scan in scans:
        if scan.id == wanted:
            return scan
    raise HistoryError(f"no scan #{wanted} in the history")


def previous_of(scans: list[ScanRecord], scan: ScanRecord) -> ScanRecord | None:
    earlier = [s for s in scans if s.scope == scan.scope and s.id < scan.id]
    return earlier[-1] if earlier else None


def diff_scans(
    path: str | os.PathLike[str] | None, a: str | int | None = None, b: str | int | None = None
) -> HistoryDiff:
    """``history diff [A] [B]``: B defaults to the latest scan, A to the one before B
    with the same scope."""
    after = get_scan(path, b if b is not None else "latest")
    if a is None:
        before = previous_of(list_scans(path), after)
        if before is None:
            raise HistoryError(
                f"no earlier scan with the scope of {after.label} to compare "
                "with; name two scans: phantomkeys history diff A B"
            )
    else:
        before = get_scan(path, a)
    result = diff(
        load_document(path, before.id),
        load_document(path, after.id),
        before_label=before.label,
        after_label=after.label,
    )
    if before.scope != after.scope:
        notes = (
            *result.notes,
            f"the scans have different scopes ({before.scope} vs "
            f"{after.scope}): findings outside both show as new or resolved",
        )
        result = HistoryDiff(
            new=result.new,
            resolved=result.resolved,
            unverified=result.unverified,
            changed=result.changed,
            unchanged=result.unchanged,
            before_label=result.before_label,
            after_label=result.after_label,
            notes=notes,
        )
    return result


def record_and_diff_new(
    document: Mapping[str, Any], path: str | os.PathLike[str] | None = None
) -> set[str] | None:
    """Record a scan and return the fingerprints new since the previous scan of its scope.

    ``None`` when there is no earlier scan of that scope (nothing to compare with:
    ``--fail-on new`` then passes, and says so). This is what ``scan --fail-on
    new`` calls.
    """
    scope = scope_of(document)
    with connect(path) as conn:
        row = conn.execute(
            "SELECT id FROM scans WHERE scope = ? ORDER BY id DESC LIMIT 1", (scope,)
        ).fetchone()
        previous = (
            None
            if row is None
            else {
                r[0]
                for r in conn.execute(
                    "SELECT fingerprint FROM findings WHERE scan_id = ?", (row[0],)
                )
            }
        )
        _insert(conn, document, None)
    if previous is None:
        return None
    return {
        str(f.get("fingerprint"))
        for f in doc.findings(document)
        if f.get("fingerprint") and str(f.get("fingerprint")) not in previous
    }
