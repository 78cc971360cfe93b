"""8. STS AssumeRole trust."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from phantomkeys.lab.extensions.base import existing_iam_backend
from phantomkeys.lab.extensions.callers import Caller, caller_for

# =====================================================================
# 8. STS AssumeRole trust
#
# AWS: AssumeRole succeeds only when the role exists and its trust policy trusts
# the caller; otherwise 403 AccessDenied "User: <arn> is not authorized to
# perform: sts:AssumeRole on resource: <role arn>" (IAM user guide, "Granting a
# user permissions to switch roles"). moto 5.2 lets anyone assume any ARN, even a
# role that does not exist, so an account without OrganizationAccountAccessRole
# would look reachable. Checked in the HTTP layer (server.py) before moto runs.
# =====================================================================


def assume_role_denial(access_key: str | None, account_id: str, body: bytes) -> str | None:
    """The AccessDenied message for an AssumeRole request AWS would refuse, else None."""
    params = dict(parse_qsl(body.decode("utf-8", "replace")))
    role_arn = params.get("RoleArn", "")
    caller = caller_for(access_key, account_id)
    if not assume_role_denied(caller, role_arn):
        return None
    return (
        f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )


def assume_role_denied(caller: Caller, role_arn: str) -> bool:
    """AWS: AssumeRole needs the role to exist and its trust policy to trust the caller.

    (IAM user guide, "Granting a user permissions to switch roles"; an account
    joined without ``OrganizationAccountAccessRole`` cannot be entered with it.)
    Only ``Allow`` statements with an AWS principal are evaluated: the account id,
    its root ARN, the caller's ARN, or ``*``.
    """
    parts = role_arn.split(":")
    if len(parts) < 6 or not parts[5].startswith("role/"):
        return True
    account_id, role_name = parts[4], parts[5].rsplit("/", 1)[-1]
    backend = existing_iam_backend(account_id)
    if backend is None:
        return True
    role = next((r for r in backend.roles.values() if r.name == role_name), None)
    if role is None:
        return True
    try:
        trust = json.loads(role.assume_role_policy_document)
    except (TypeError, ValueError):
        return True
    statements = trust.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    trusted = {caller.account_id, f"arn:aws:iam::{caller.account_id}:root", caller.arn, "*"}
    if caller.session_issuer_arn:
        trusted.add(caller.session_issuer_arn)
    for st in statements:
        if st.get("Effect") != "Allow":
            continue
        principals = st.get("Principal", {})
        if principals == "*":
            return False
        aws = principals.get("AWS", []) if isinstance(principals, dict) else []
        aws = [aws] if isinstance(aws, str) else aws
        if trusted & set(aws):
            return False
    return True
