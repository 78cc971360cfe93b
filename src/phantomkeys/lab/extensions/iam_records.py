"""10. CloudTrail records of IAM calls."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from phantomkeys.lab.accounts import DEFAULT_REGION
from phantomkeys.lab.cloudtrail_store import make_record
from phantomkeys.lab.extensions.base import now
from phantomkeys.lab.extensions.callers import caller_for

# =====================================================================
# 10. CloudTrail records of IAM calls
#
# AWS: every IAM write call is a management event with eventSource
# iam.amazonaws.com, recorded in us-east-1 (IAM is global; docs/aws-facts.md "CloudTrail"),
# with the request's parameters in lowerCamelCase, passwords left out, and the
# secret of a new credential never logged. Failed calls carry errorCode.
# =====================================================================

_HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
_TAG_RE_CACHE: dict[str, re.Pattern[str]] = {}


def iam_call_record(
    access_key: str | None,
    account_id: str,
    operation: str,
    body: bytes,
    status: str,
    response: bytes,
) -> dict[str, Any]:
    params = dict(parse_qsl(body.decode("utf-8", "replace")))
    caller = caller_for(access_key, account_id)
    error_code = error_message = None
    if not status.startswith("2"):
        text = response.decode("utf-8", "replace")
        error_code = _xml_tag(text, "Code")
        error_message = _xml_tag(text, "Message")
    return make_record(
        event_name=operation,
        event_source="iam.amazonaws.com",
        event_time=now(),
        account_id=account_id,
        region=DEFAULT_REGION,
        user_identity=caller.user_identity(),
        source_ip="127.0.0.1",
        user_agent="phantomkeys-lab",
        request_parameters=_request_parameters(params) or None,
        response_elements=None if error_code else _response_elements(operation, response),
        read_only=False,
        error_code=error_code,
        error_message=error_message,
    )


def _xml_tag(text: str, tag: str) -> str | None:
    pattern = _TAG_RE_CACHE.get(tag)
    if pattern is None:
        pattern = _TAG_RE_CACHE[tag] = re.compile(f"<{tag}>([^<]*)</{tag}>")
    m = pattern.search(text)
    return m.group(1) if m else None


_HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"


def _request_parameters(params: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in ("Action", "Version") or "." in key:
            continue
        name = key[0].lower() + key[1:]
        if "password" in name.lower():
            continue  # CloudTrail never logs passwords
        typed: Any = value
        if value.isdigit() and name in ("credentialAgeDays", "maxItems", "maxSessionDuration"):
            typed = int(value)
        elif value in ("true", "false"):
            typed = value == "true"
        out[name] = typed
    return out


def _response_elements(operation: str, response: bytes) -> dict[str, Any] | None:
    text = response.decode("utf-8", "replace")
    fields: tuple[str, ...]
    match operation:
        case "CreateUser":
            wrapper, fields = "user", ("Path", "UserName", "UserId", "Arn", "CreateDate")
        case "CreateAccessKey":
            wrapper, fields = "accessKey", ("UserName", "AccessKeyId", "Status", "CreateDate")
        case "CreateServiceSpecificCredential" | "ResetServiceSpecificCredential":
            wrapper, fields = (
                "serviceSpecificCredential",
                (
                    "CreateDate",
                    "ExpirationDate",
                    "ServiceName",
                    "ServiceCredentialAlias",
                    "ServiceSpecificCredentialId",
                    "UserName",
                    "Status",
                ),
            )
        case "CreateLoginProfile":
            wrapper, fields = "loginProfile", ("UserName", "CreateDate", "PasswordResetRequired")
        case _:
            return None
    inner: dict[str, Any] = {}
    for f in fields:
        value = _xml_tag(text, f)
        if value is not None:
            inner[f[0].lower() + f[1:]] = value
    if operation.endswith("ServiceSpecificCredential"):
        inner["serviceCredentialSecret"] = _HIDDEN
    return {wrapper: inner}
