"""The lab's moto handles (typed as Any: the extensions patch them), its clock, its
seeded secrets, and IAM lookups every extension uses."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import moto.core.responses as _moto_responses
import moto.iam.models as _iam_models
import moto.iam.responses as _iam_responses
import moto.organizations.models as _org_models
import moto.organizations.utils as _org_utils
import moto.sts.models as _sts_models
from moto.iam.exceptions import ValidationError

# moto's classes are patched below; typed as Any so mypy allows it.
moto_responses: Any = _moto_responses
iam_models: Any = _iam_models
org_models: Any = _org_models
org_utils: Any = _org_utils
IAMBackend: Any = _iam_models.IAMBackend
User: Any = _iam_models.User
IamResponse: Any = _iam_responses.IamResponse
iam_backends: Any = _iam_models.iam_backends
organizations_backends: Any = _org_models.organizations_backends
sts_backends: Any = _sts_models.sts_backends

#: Secret material of the lab (credential secrets, ids) derives from this seed, so a
#: seeded lab hands out the same keys for the same users whatever the request order.
_secret_seed = b"phantomkeys-lab:0"


def set_seed(seed: int) -> None:
    global _secret_seed
    _secret_seed = f"phantomkeys-lab:{seed}".encode()


def _derive(*parts: str, size: int = 32) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        msg = "\x1f".join((*parts, str(counter))).encode()
        out += hmac.new(_secret_seed, msg, hashlib.sha256).digest()
        counter += 1
    return out[:size]


def now() -> datetime:
    """The lab's clock (moto stores naive-UTC or aware datetimes; we compare aware)."""
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iam_backend(account_id: str) -> Any:
    return iam_backends[account_id]["aws"]


def existing_iam_backend(account_id: str) -> Any | None:
    asb = dict.get(iam_backends, account_id)
    if asb is None:
        return None
    return dict.get(asb, "aws")


def user_for_access_key(backend: Any, access_key_id: str | None) -> Any | None:
    """O(1) where moto's get_user_from_access_key_id scans every user."""
    key = backend.access_keys.get(access_key_id) if access_key_id else None
    if key is None or not key.user_name:
        return None
    return backend.users.get(key.user_name)


def _target_user(backend: Any, user_name: str | None, caller_key: str) -> Any:
    if user_name:
        return backend.get_user(user_name)
    user = user_for_access_key(backend, caller_key)
    if user is None:
        raise ValidationError("Must specify userName when calling with non-User credentials")
    return user
