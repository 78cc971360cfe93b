"""4. User permissions boundaries."""

from __future__ import annotations

from typing import Any

from moto.core.responses import EmptyResult
from moto.iam.exceptions import ValidationError

from phantomkeys.lab.extensions.base import IamResponse, User

# =====================================================================
# 4. User permissions boundaries
#
# AWS: CreateUser(PermissionsBoundary), PutUserPermissionsBoundary,
# DeleteUserPermissionsBoundary; GetUser and GetAccountAuthorizationDetails
# return PermissionsBoundary {PermissionsBoundaryType: Policy, ...}; ListUsers
# does not (IAM API reference). moto 5.2 has boundaries for roles only.
# =====================================================================


def _user_permissions_boundary(self: User) -> dict[str, str] | None:
    arn = getattr(self, "lab_permissions_boundary_arn", None)
    if not arn:
        return None
    return {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": arn}


def _set_user_boundary(backend: Any, user_name: str, arn: str | None) -> None:
    user = backend.get_user(user_name)
    if arn is not None and not backend.policy_arn_regex.match(arn):
        raise ValidationError(f"Value ({arn}) for parameter PermissionsBoundary is invalid.")
    user.lab_permissions_boundary_arn = arn


def _iam_put_user_permissions_boundary(self: IamResponse) -> Any:
    _set_user_boundary(
        self.backend, self._get_param("UserName"), self._get_param("PermissionsBoundary")
    )
    return EmptyResult()


def _iam_delete_user_permissions_boundary(self: IamResponse) -> Any:
    _set_user_boundary(self.backend, self._get_param("UserName"), None)
    return EmptyResult()


_moto_create_user = IamResponse.create_user


def _iam_create_user(self: IamResponse) -> Any:
    result = _moto_create_user(self)
    boundary = self._get_param("PermissionsBoundary")
    if boundary:
        _set_user_boundary(self.backend, self._get_param("UserName"), boundary)
    return result
