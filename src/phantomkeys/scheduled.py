"""Scheduled scanning: the AWS Lambda entry point (``deploy/scheduled-scan.yaml``).

Orchestration lives here, in the library; the S3 and SNS calls it makes are in
:mod:`phantomkeys.aws.delivery` (docs/architecture.md: ``aws`` never imports the
façade, reports or history).

Every run (an EventBridge schedule, daily by default):

1. scans the Organization (or the account) read-only with the phantomkeys
   library, under the role built from ``permissions/org-scan.json``;
2. writes the reports to S3 under
   ``<prefix>runs/<YYYY>/<MM>/<DD>/<scan time>/report.<ext>`` (json, html,
   markdown, sarif by default) and the JSON again as ``<prefix>latest.json``;
3. compares the scan with the previous ``latest.json`` (by fingerprint,
   :func:`phantomkeys.history.diff`) and publishes the **new** findings at or
   above ``NOTIFY_SEVERITY`` to the SNS topic, with the report's S3 location;
4. optionally imports the findings into Security Hub.

The scan itself is injected (``scan=``), so the S3/SNS logic is tested without
an Organization, and the library call lives in one place,
:func:`default_scan`.

Configuration (environment variables of the function):

``REPORT_BUCKET`` (required), ``REPORT_PREFIX`` (``phantomkeys/``),
``TOPIC_ARN``, ``REPORT_FORMATS`` (``json,html,markdown,sarif``),
``NOTIFY_SEVERITY`` (``medium``), ``SCAN_ORG`` (``true``), ``MEMBER_ROLE_NAME``
(``OrganizationAccountAccessRole``), ``MEMBER_ROLE_EXTERNAL_ID``,
``SURFACES`` (``all``), ``SECURITY_HUB`` (``false``), ``MAX_WORKERS`` (``8``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from phantomkeys.aws.delivery import publish_message, put_object, read_json_object

ScanFunction = Callable[[Any, datetime, "ScheduledScanConfig"], Mapping[str, Any]]

_CONTENT_TYPES = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "markdown": "text/markdown; charset=utf-8",
    "sarif": "application/sarif+json",
    "csv": "text/csv; charset=utf-8",
    "ocsf": "application/json",
    "asff": "application/json",
}
#: SNS: Subject at most 100 characters; message at most 256 KiB (we stay far below).
_SUBJECT_MAX = 100
_MESSAGE_FINDINGS_MAX = 50


class ConfigurationError(ValueError):
    """A missing or invalid environment variable of the function."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class ScheduledScanConfig:
    bucket: str
    prefix: str = "phantomkeys/"
    topic_arn: str | None = None
    formats: tuple[str, ...] = ("json", "html", "markdown", "sarif")
    notify_severity: str = "medium"
    org: bool = True
    member_role: str = "OrganizationAccountAccessRole"
    external_id: str | None = None
    surfaces: str = "all"
    security_hub: bool = False
    max_workers: int = 8

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ScheduledScanConfig:
        bucket = env.get("REPORT_BUCKET", "").strip()
        if not bucket:
            raise ConfigurationError("REPORT_BUCKET is not set")
        prefix = env.get("REPORT_PREFIX", "phantomkeys/").strip()
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        formats = tuple(
            f.strip().lower()
            for f in env.get("REPORT_FORMATS", "json,html,markdown,sarif").split(",")
            if f.strip()
        )
        if "json" not in formats:
            formats = ("json", *formats)  # latest.json and the diff need it
        severity = env.get("NOTIFY_SEVERITY", "medium").strip().lower()
        from phantomkeys.core.findings import Severity

        try:
            Severity(severity)
        except ValueError:
            raise ConfigurationError(f"NOTIFY_SEVERITY={severity!r} is not a severity") from None
        try:
            workers = int(env.get("MAX_WORKERS", "8"))
        except ValueError:
            raise ConfigurationError("MAX_WORKERS must be a number") from None
        return cls(
            bucket=bucket,
            prefix=prefix,
            topic_arn=env.get("TOPIC_ARN") or None,
            formats=formats,
            notify_severity=severity,
            org=_flag(env.get("SCAN_ORG"), True),
            member_role=env.get("MEMBER_ROLE_NAME") or "OrganizationAccountAccessRole",
            external_id=env.get("MEMBER_ROLE_EXTERNAL_ID") or None,
            surfaces=env.get("SURFACES") or "all",
            security_hub=_flag(env.get("SECURITY_HUB"), False),
            max_workers=workers,
        )


@dataclass(frozen=True, slots=True)
class RunOutcome:
    scan_time: str
    report_keys: Mapping[str, str]
    findings: int
    new: tuple[Mapping[str, Any], ...]
    notified: tuple[Mapping[str, Any], ...]
    resolved: int
    first_run: bool
    incomplete: bool
    message_id: str | None = None
    errors: tuple[str, ...] = field(default=())
    security_hub: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scan_time": self.scan_time,
            "report_keys": dict(self.report_keys),
            "findings": self.findings,
            "new": len(self.new),
            "notified": len(self.notified),
            "resolved": self.resolved,
            "first_run": self.first_run,
            "incomplete": self.incomplete,
            "message_id": self.message_id,
            "errors": list(self.errors),
            "security_hub": self.security_hub,
        }


# ------------------------------------------------------------------ the run


def _run_prefix(config: ScheduledScanConfig, when: datetime) -> str:
    return f"{config.prefix}runs/{when:%Y/%m/%d}/{when:%Y%m%dT%H%M%SZ}/"


def _message(
    document: Mapping[str, Any],
    notify: list[Mapping[str, Any]],
    resolved: int,
    config: ScheduledScanConfig,
    keys: Mapping[str, str],
    incomplete: bool,
) -> tuple[str, str]:
    from phantomkeys.report import document as doc

    total = len(doc.findings(document))
    worst = notify[0].get("severity") if notify else "info"
    scope = doc.metadata(document).get("organization_id") or ", ".join(
        str(a.get("account_id")) for a in doc.accounts(document)[:3]
    )
    subject = (f"phantomkeys: {len(notify)} new finding(s), worst {worst}, in {scope}")[
        :_SUBJECT_MAX
    ]
    lines = [
        f"phantomkeys scheduled scan of {scope} at "
        f"{doc.metadata(document).get('scan_time')}: {len(notify)} new finding(s) at or "
        f"above {config.notify_severity}, {resolved} resolved, {total} open in total.",
        "",
    ]
    if incomplete:
        lines += ["WARNING: some accounts could not be read completely; see the report.", ""]
    for f in notify[:_MESSAGE_FINDINGS_MAX]:
        lines.append(
            f"- [{str(f.get('severity')).upper()}] {f.get('title')} — "
            f"{f.get('subject')} (account {f.get('account_id')}, "
            f"rule {f.get('rule_id')})"
        )
    if len(notify) > _MESSAGE_FINDINGS_MAX:
        lines.append(f"- … and {len(notify) - _MESSAGE_FINDINGS_MAX} more")
    lines += ["", "Reports:"]
    lines += [f"  {fmt}: s3://{config.bucket}/{key}" for fmt, key in keys.items()]
    return subject, "\n".join(lines) + "\n"


def run_scheduled_scan(
    config: ScheduledScanConfig, *, clients: Any, scan: ScanFunction, now: datetime
) -> RunOutcome:
    """One scheduled run; ``clients`` has ``.client(service)`` (an AwsContext or a session)."""
    from phantomkeys.core.findings import Severity
    from phantomkeys.history.diff import diff
    from phantomkeys.report import document as doc
    from phantomkeys.report.formats import EXTENSIONS, UnknownFormat, render

    document = scan(clients, now, config)
    s3 = clients.client("s3")
    latest_key = f"{config.prefix}latest.json"
    previous = read_json_object(s3, config.bucket, latest_key)

    when = doc.reference_time(document) or now
    run_prefix = _run_prefix(config, when)
    keys: dict[str, str] = {}
    errors: list[str] = []
    for fmt in config.formats:
        try:
            body = render(document, fmt)
        except (UnknownFormat, ImportError) as exc:
            errors.append(f"{fmt}: {exc}")
            continue
        key = f"{run_prefix}report.{EXTENSIONS.get(fmt, fmt)}"
        put_object(
            s3,
            config.bucket,
            key,
            body.encode("utf-8"),
            _CONTENT_TYPES.get(fmt, "application/octet-stream"),
        )
        keys[fmt] = key
    # latest.json last: a run that died half-way leaves the previous baseline in place.
    put_object(
        s3,
        config.bucket,
        latest_key,
        render(document, "json").encode("utf-8"),
        _CONTENT_TYPES["json"],
    )

    changes = diff(previous or {"findings": []}, document)
    threshold = Severity(config.notify_severity)
    notify = [f for f in changes.new if Severity(str(f.get("severity"))).at_least(threshold)]
    incomplete = any(a.get("status") != "ok" for a in doc.accounts(document))
    message_id = None
    if config.topic_arn and notify:
        subject, message = _message(
            document, notify, len(changes.resolved), config, keys, incomplete
        )
        message_id = publish_message(
            clients.client("sns"),
            config.topic_arn,
            subject,
            message,
            {"severity": str(notify[0].get("severity")), "new_findings": len(notify)},
        )

    hub: Mapping[str, Any] | None = None
    if config.security_hub:
        from phantomkeys.hub import import_document

        hub = import_document(clients, document).to_dict()
    return RunOutcome(
        scan_time=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        report_keys=keys,
        findings=len(doc.findings(document)),
        new=changes.new,
        notified=tuple(notify),
        resolved=len(changes.resolved),
        first_run=previous is None,
        incomplete=incomplete,
        message_id=message_id,
        errors=tuple(errors),
        security_hub=hub,
    )


# ------------------------------------------------------------------ the library call


def default_scan(ctx: Any, at: datetime, config: ScheduledScanConfig) -> Mapping[str, Any]:
    """The Organization (or account) scan through the phantomkeys library."""
    from phantomkeys.scan import ScanResult, assess_org_snapshot, scan_account
    from phantomkeys.surfaces import select_surfaces

    surfaces = select_surfaces(config.surfaces)
    if config.org:
        from phantomkeys.aws.org import OrgScanOptions, scan_organization

        opts = OrgScanOptions(
            surfaces=surfaces,
            role=config.member_role,
            external_id=config.external_id,
            role_session_name="phantomkeys-scheduled",
            max_workers=config.max_workers,
        )
        org = scan_organization(ctx, opts, now=at)
        result = ScanResult(
            at=at,
            accounts=assess_org_snapshot(org, at=at, surfaces=surfaces),
            api_calls=dict(org.api_calls),
        )
        result.metadata["organization_id"] = org.organization_id
    else:
        result, _snapshot = scan_account(
            ctx, at=at, surfaces=surfaces, max_workers=config.max_workers
        )
    result.metadata["surfaces"] = [s.id.value for s in surfaces]
    result.metadata["trigger"] = "scheduled"
    return result.to_document()


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point: ``phantomkeys.scheduled.handler``."""
    from phantomkeys.aws.session import AwsContext

    config = ScheduledScanConfig.from_env(os.environ)
    ctx = AwsContext.from_cli()
    outcome = run_scheduled_scan(config, clients=ctx, scan=default_scan, now=datetime.now(UTC))
    result = outcome.to_dict()
    print(json.dumps({"phantomkeys": result}))
    return result
