"""Backdating: move timestamps into the past, as if things had happened earlier."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from moto.iam.exceptions import NotFoundException

from phantomkeys.lab.extensions.base import iam_backend, iam_models, now
from phantomkeys.lab.extensions.credentials import user_credentials

# ---------------------------------------------------------------- backdating


def backdate(account_id: str, item: dict[str, Any]) -> None:
    """Move timestamps into the past, as if things had happened earlier.

    ``item``: ``{"user_name", "what": user|password|access_key|access_key_last_used|
    service_credential|credential_report, "id"?: str, "days": float, "region"?,
    "service"?}`` (``credential_report`` ignores ``user_name``).
    Moving a service credential's CreateDate moves its ExpirationDate with it.
    """
    backend = iam_backend(account_id)
    when = now() - timedelta(days=float(item["days"]))
    naive = when.replace(tzinfo=None)
    what = item["what"]
    if what == "credential_report":
        # The report keeps its content: it now reads as generated ``days`` ago,
        # before any change made since (AWS reuses a report up to 4 hours old).
        if getattr(backend, "lab_report_time", None) is None:
            raise NotFoundException("no credential report generated yet")
        backend.lab_report_time = when
        return
    user = backend.get_user(item["user_name"])
    if what == "user":
        user.create_date = when
    elif what == "password":
        user.lab_password_changed = when
    elif what == "password_last_used":
        user.password_last_used = when
    elif what in ("access_key", "access_key_last_used"):
        key = user.get_access_key_by_id(item["id"])
        if what == "access_key":
            key.create_date = when
        else:
            key.last_used = iam_models.AccessKeyLastUsed(
                timestamp=naive,
                service=item.get("service", "iam"),
                region=item.get("region", "us-east-1"),
            )
    elif what == "service_credential":
        for cred in user_credentials(user):
            if cred.credential_id == item["id"]:
                cred.create_date = when
                break
        else:
            raise NotFoundException(f"no credential {item['id']}")
    else:
        raise ValueError(f"cannot backdate {what!r}")
