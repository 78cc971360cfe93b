"""5. The credential report."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult
from moto.iam.exceptions import ReportNotPresentException

from phantomkeys.lab.extensions.base import IAMBackend, IamResponse, _aware, now

# =====================================================================
# 5. Credential report
#
# AWS: GenerateCredentialReport returns STARTED the first time and COMPLETE while
# a report younger than four hours exists (which it does not regenerate);
# GetCredentialReport returns the CSV as generated and its GeneratedTime, or
# ReportNotPresent (docs/aws-facts.md "Credential report"; IAM user guide
# id_credentials_getting-report).
# Columns per the user guide. moto 5.2 regenerates on every read, returns a fixed
# GeneratedTime, dates the password with the user's creation time, prints
# ``not_supported`` for the access keys' last-used region/service and N/A for
# certificate rotation dates, and has no ``<root_account>`` row. Fixed here.
# The report has no service-specific-credential columns (so it cannot show API keys).
# =====================================================================

REPORT_COLUMNS = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
    "access_key_1_last_used_date,access_key_1_last_used_region,"
    "access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,"
    "access_key_2_last_used_date,access_key_2_last_used_region,"
    "access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,"
    "cert_2_last_rotated"
)
REPORT_MAX_AGE = timedelta(hours=4)


def _fmt(value: datetime | None) -> str:
    if value is None:
        return "N/A"
    return _aware(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _last_used_time(key: Any) -> datetime | None:
    used = key.last_used
    if used is None:
        return None
    when = used if isinstance(used, datetime) else used.timestamp
    return when if isinstance(when, datetime) else None


def _report_row(backend: Any, user: Any) -> str:
    has_password = bool(user.password)
    changed = getattr(user, "lab_password_changed", None) if has_password else None
    if has_password and changed is None:
        changed = user.create_date
    policy = backend.account_password_policy
    next_rotation = "N/A"
    if has_password and policy is not None and policy.expire_passwords and changed:
        next_rotation = _fmt(_aware(changed) + timedelta(days=policy.max_password_age))
    if not has_password:
        pw_last_used = "N/A"
    elif user.password_last_used:
        pw_last_used = _fmt(user.password_last_used)
    else:
        pw_last_used = "no_information"
    fields = [
        user.name,
        user.arn,
        _fmt(user.create_date),
        "true" if has_password else "false",
        pw_last_used,
        _fmt(changed) if has_password else "N/A",
        next_rotation,
        "true" if user.mfa_devices else "false",
    ]
    for i in range(2):
        if i < len(user.access_keys):
            key = user.access_keys[i]
            used_at = _last_used_time(key)
            used = key.last_used if used_at else None
            fields += [
                "true" if key.status == "Active" else "false",
                _fmt(key.create_date),
                _fmt(used_at),
                getattr(used, "region", None) or "N/A",
                getattr(used, "service", None) or "N/A",
            ]
        else:
            fields += ["false", "N/A", "N/A", "N/A", "N/A"]
    certs = list(user.signing_certificates.values())
    for i in range(2):
        if i < len(certs):
            fields += [
                "true" if certs[i].status == "Active" else "false",
                _fmt(certs[i].upload_date),
            ]
        else:
            fields += ["false", "N/A"]
    return ",".join(fields)


def build_credential_report(backend: Any) -> str:
    account = backend.account_id
    created = min((_aware(u.create_date) for u in backend.users.values()), default=now())
    root = [
        "<root_account>",
        f"arn:aws:iam::{account}:root",
        _fmt(created),
        "not_supported",
        "no_information",
        "not_supported",
        "not_supported",
        "false",
        "false",
        "N/A",
        "N/A",
        "N/A",
        "N/A",
        "false",
        "N/A",
        "N/A",
        "N/A",
        "N/A",
        "false",
        "N/A",
        "false",
        "N/A",
    ]
    rows = [REPORT_COLUMNS, ",".join(root)]
    rows += [_report_row(backend, u) for u in sorted(backend.users.values(), key=lambda u: u.name)]
    return "\n".join(rows) + "\n"


def _iam_generate_credential_report(self: IamResponse) -> Any:
    backend = self.backend
    generated: datetime | None = getattr(backend, "lab_report_time", None)
    if generated is not None and now() - generated < REPORT_MAX_AGE:
        return ActionResult({"State": "COMPLETE"})
    backend.lab_report_time = now()
    backend.lab_report_csv = build_credential_report(backend)
    backend.credential_report = True
    return ActionResult(
        {
            "State": "STARTED",
            "Description": "No report exists. Starting a new report generation task",
        }
    )


def _iam_get_credential_report(self: IamResponse) -> Any:
    backend = self.backend
    generated: datetime | None = getattr(backend, "lab_report_time", None)
    if generated is None:
        raise ReportNotPresentException(
            "Unknown: Credential report not present. Use GenerateCredentialReport first."
        )
    content = base64.b64encode(backend.lab_report_csv.encode()).decode()
    # The serializer base64-encodes blobs itself: hand it bytes.
    return ActionResult(
        {
            "Content": base64.b64decode(content),
            "ReportFormat": "text/csv",
            "GeneratedTime": generated,
        }
    )


_moto_create_login_profile = IAMBackend.create_login_profile
_moto_update_login_profile = IAMBackend.update_login_profile


def _backend_create_login_profile(self: IAMBackend, user_name: str, password: str) -> Any:
    user = _moto_create_login_profile(self, user_name, password)
    user.lab_password_changed = now()
    return user


def _backend_update_login_profile(
    self: IAMBackend, user_name: str, password: str, password_reset_required: bool
) -> Any:
    user = _moto_update_login_profile(self, user_name, password, password_reset_required)
    if password:
        user.lab_password_changed = now()
    return user
