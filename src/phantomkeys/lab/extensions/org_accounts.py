"""7. Organizations account ids."""

from __future__ import annotations

import threading
from typing import Any

from phantomkeys.lab.accounts import MANAGEMENT_ACCOUNT_ID, member_account_id
from phantomkeys.lab.extensions.base import iam_backends, org_models, organizations_backends

# =====================================================================
# 7. Organizations account ids
#
# AWS assigns random 12-digit ids; the lab numbers member accounts
# 222222222222, 333333333333, ... so scenarios, fault specs and docs can name
# them. (A lab convenience, not an AWS behaviour.)
# =====================================================================


_PLACEHOLDER_ACCOUNT = "000000000000"
_creating_org = threading.local()


def _next_member_account_id() -> str:
    if getattr(_creating_org, "active", False):
        # moto builds the management account's FakeAccount with a fresh id (and an
        # OrganizationAccountAccessRole in that id's IAM) before overwriting the id.
        return _PLACEHOLDER_ACCOUNT
    used = set(organizations_backends.master_accounts) | {MANAGEMENT_ACCOUNT_ID}
    for backend in _all_org_backends():
        used |= {a.id for a in backend.accounts}
    index = 1
    while member_account_id(index) in used or member_account_id(index) == MANAGEMENT_ACCOUNT_ID:
        index += 1
    return member_account_id(index)


_moto_create_organization = org_models.OrganizationsBackend.create_organization


def _backend_create_organization(self: Any, region: str, **kwargs: Any) -> Any:
    _creating_org.active = True
    try:
        return _moto_create_organization(self, region, **kwargs)
    finally:
        _creating_org.active = False
        if _PLACEHOLDER_ACCOUNT in iam_backends:
            del iam_backends[_PLACEHOLDER_ACCOUNT]


def _all_org_backends() -> list[Any]:
    out = []
    for asb in list(organizations_backends.values()):
        out += [b for b in dict.values(asb) if getattr(b, "org", None) is not None]
    return out
