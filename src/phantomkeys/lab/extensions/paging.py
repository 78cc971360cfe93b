"""2. Paging of IAM List calls (MaxItems / Marker)."""

from __future__ import annotations

import base64
import json
from typing import Any

from moto.core.responses import ActionResult
from moto.iam.exceptions import ValidationError

from phantomkeys.lab.extensions.base import IamResponse, _target_user

# =====================================================================
# 2. Paging (MaxItems / Marker)
#
# AWS: every IAM List* call and GetAccountAuthorizationDetails return at most
# MaxItems (1..1000, default 100) items with IsTruncated and an opaque Marker
# (botocore model; docs/aws-facts.md "Paging and authorization details"). moto 5.2
# returns everything at once for
# ListUsers, ListAccessKeys and GetAccountAuthorizationDetails.
# =====================================================================

DEFAULT_MAX_ITEMS = 100


def _encode_marker(offset: int) -> str:
    return base64.b64encode(json.dumps({"lab-offset": offset}).encode()).decode()


def _decode_marker(marker: str) -> int:
    try:
        offset = json.loads(base64.b64decode(marker.encode()))["lab-offset"]
    except (ValueError, KeyError, TypeError):
        raise ValidationError("Invalid Marker") from None
    if not isinstance(offset, int) or offset < 0:
        raise ValidationError("Invalid Marker")
    return offset


def paginate(items: list[Any], marker: str | None, max_items: Any) -> tuple[list[Any], str | None]:
    limit = DEFAULT_MAX_ITEMS if max_items in (None, "") else int(max_items)
    if not 1 <= limit <= 1000:
        raise ValidationError(
            f"1 validation error detected: Value '{limit}' at 'maxItems' failed to satisfy "
            "constraint: Member must have value between 1 and 1000"
        )
    start = _decode_marker(marker) if marker else 0
    page = items[start : start + limit]
    end = start + len(page)
    return page, (_encode_marker(end) if end < len(items) else None)


def _iam_list_users(self: IamResponse) -> Any:
    users = sorted(
        self.backend.list_users(self._get_param("PathPrefix"), None, None), key=lambda u: u.name
    )
    page, marker = paginate(users, self._get_param("Marker"), self._get_param("MaxItems"))
    result: dict[str, Any] = {"Users": page, "IsTruncated": bool(marker)}
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


def _iam_list_access_keys(self: IamResponse) -> Any:
    user = _target_user(self.backend, self._get_param("UserName"), self.get_access_key())
    page, marker = paginate(
        list(user.access_keys), self._get_param("Marker"), self._get_param("MaxItems")
    )
    result: dict[str, Any] = {
        "UserName": user.name,
        "AccessKeyMetadata": page,
        "IsTruncated": bool(marker),
    }
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


def _iam_get_account_authorization_details(self: IamResponse) -> Any:
    wanted = set(self._get_param("Filter", []) or [])
    backend = self.backend

    def want(kind: str) -> bool:
        return not wanted or kind in wanted

    entries: list[tuple[str, Any]] = []
    if want("User"):
        entries += [("u", u) for u in sorted(backend.users.values(), key=lambda u: u.name)]
    if want("Group"):
        entries += [("g", g) for g in sorted(backend.groups.values(), key=lambda g: g.name)]
    if want("Role"):
        entries += [("r", r) for r in sorted(backend.roles.values(), key=lambda r: r.name)]
    aws_ids = {id(p) for p in backend.aws_managed_policies}
    boundaries = _boundary_arns(backend)
    policies = []
    for policy in backend.managed_policies.values():
        if id(policy) in aws_ids:
            # Real accounts list only the AWS managed policies in use (attached, or a
            # boundary), not the whole catalogue [OBS: GetAccountAuthorizationDetails
            # output of real accounts, e.g. cloudsplaining fixtures].
            if want("AWSManagedPolicy") and (
                policy.attachment_count > 0 or policy.arn in boundaries
            ):
                policies.append(policy)
        elif want("LocalManagedPolicy"):
            policies.append(policy)
    entries += [("p", _policy_detail(p, backend)) for p in sorted(policies, key=lambda p: p.arn)]
    page, marker = paginate(entries, self._get_param("Marker"), self._get_param("MaxItems"))
    result: dict[str, Any] = {
        "UserDetailList": [x for k, x in page if k == "u"],
        "GroupDetailList": [x for k, x in page if k == "g"],
        "RoleDetailList": [x for k, x in page if k == "r"],
        "Policies": [x for k, x in page if k == "p"],
        "IsTruncated": bool(marker),
    }
    if marker:
        result["Marker"] = marker
    return ActionResult(result)


def _policy_detail(policy: Any, backend: Any) -> dict[str, Any]:
    """ManagedPolicyDetail (moto's serializer cannot find PolicyName on its objects).

    Policy documents are URL-encoded, as AWS returns them (docs/aws-facts.md
    "Paging and authorization details").
    """
    boundary_uses = sum(
        1
        for u in backend.users.values()
        if getattr(u, "lab_permissions_boundary_arn", None) == policy.arn
    ) + sum(1 for r in backend.roles.values() if r.permissions_boundary_arn == policy.arn)
    detail: dict[str, Any] = {
        "PolicyName": policy.name,
        "PolicyId": policy.id,
        "Arn": policy.arn,
        "Path": policy.path,
        "DefaultVersionId": policy.default_version_id,
        "AttachmentCount": policy.attachment_count,
        "PermissionsBoundaryUsageCount": boundary_uses,
        "IsAttachable": True,
        "CreateDate": policy.create_date,
        "UpdateDate": policy.update_date,
        "PolicyVersionList": policy.policy_version_list,
    }
    if policy.description:
        detail["Description"] = policy.description
    return detail


def _boundary_arns(backend: Any) -> set[str]:
    arns = {getattr(u, "lab_permissions_boundary_arn", None) for u in backend.users.values()}
    arns |= {r.permissions_boundary_arn for r in backend.roles.values()}
    return {a for a in arns if a}
