"""Every change the lab makes to moto, in one place.

moto 5.2 emulates IAM, STS and Organizations well enough for most tools, but
phantomkeys depends on AWS behaviour moto does not have. Each extension below
names the AWS behaviour it reproduces and its source (sections of
``docs/aws-facts.md``, the botocore API model, or the IAM user
guide). :func:`install` applies them; it runs only inside the lab's server
process, never in a test process, so moto users elsewhere are unaffected.

Sections 8-10 (AssumeRole trust, CloudTrail ``LookupEvents``, CloudTrail records
of IAM calls) are called from the HTTP layer in ``server.py``, which also does
what is not AWS behaviour: account routing, faults, request counting, control.

One module per section: :mod:`.credentials` (1), :mod:`.paging` (2),
:mod:`.delete_user` (3), :mod:`.boundaries` (4), :mod:`.credential_report` (5),
:mod:`.managed_policies` (6), :mod:`.org_accounts` (7), :mod:`.sts_trust` (8),
:mod:`.lookup_events` (9), :mod:`.iam_records` (10); :mod:`.callers`, :mod:`.backdate`,
:mod:`.snapshots` and :mod:`.base` serve them and the HTTP layer. Every name is
imported from here.
"""

from __future__ import annotations

import functools
import threading

from moto.core.serialize import never_return
from moto.iam.exceptions import ValidationError

from phantomkeys.lab.extensions.backdate import backdate
from phantomkeys.lab.extensions.base import (
    IAMBackend,
    IamResponse,
    User,
    existing_iam_backend,
    iam_backend,
    iam_backends,
    iam_models,
    moto_responses,
    now,
    org_models,
    org_utils,
    organizations_backends,
    set_seed,
    sts_backends,
    user_for_access_key,
)
from phantomkeys.lab.extensions.boundaries import (
    _iam_create_user,
    _iam_delete_user_permissions_boundary,
    _iam_put_user_permissions_boundary,
    _user_permissions_boundary,
)
from phantomkeys.lab.extensions.callers import Caller, account_for_access_key, caller_for
from phantomkeys.lab.extensions.credential_report import (
    REPORT_COLUMNS,
    REPORT_MAX_AGE,
    _backend_create_login_profile,
    _backend_update_login_profile,
    _iam_generate_credential_report,
    _iam_get_credential_report,
    build_credential_report,
)
from phantomkeys.lab.extensions.credentials import (
    API_KEY_SERVICES,
    CLOUDWATCH_SERVICE,
    LOGS_SERVICE,
    MAX_CREDENTIAL_AGE_DAYS,
    MAX_CREDENTIALS_PER_SERVICE,
    SUPPORTED_CREDENTIAL_SERVICES,
    ServiceCredential,
    ServiceNotSupported,
    _iam_create_service_specific_credential,
    _iam_delete_service_specific_credential,
    _iam_list_service_specific_credentials,
    _iam_reset_service_specific_credential,
    _iam_update_service_specific_credential,
    create_service_credential,
    user_credentials,
)
from phantomkeys.lab.extensions.delete_user import _backend_delete_user, delete_user_blocker
from phantomkeys.lab.extensions.iam_records import iam_call_record
from phantomkeys.lab.extensions.lookup_events import lookup_events
from phantomkeys.lab.extensions.managed_policies import (
    POLICY_FILES,
    _anthropic_limited_access_v6,
    _backend_init_aws_policies,
    _bedrock_limited_access_v9,
    _version,
    managed_policy_catalogue,
    stored_policy,
)
from phantomkeys.lab.extensions.org_accounts import (
    _backend_create_organization,
    _next_member_account_id,
)
from phantomkeys.lab.extensions.paging import (
    DEFAULT_MAX_ITEMS,
    _iam_get_account_authorization_details,
    _iam_list_access_keys,
    _iam_list_users,
    paginate,
)
from phantomkeys.lab.extensions.snapshots import restore_state, snapshot_state
from phantomkeys.lab.extensions.sts_trust import assume_role_denial, assume_role_denied

__all__ = [
    "API_KEY_SERVICES",
    "CLOUDWATCH_SERVICE",
    "DEFAULT_MAX_ITEMS",
    "LOGS_SERVICE",
    "MAX_CREDENTIALS_PER_SERVICE",
    "MAX_CREDENTIAL_AGE_DAYS",
    "POLICY_FILES",
    "REPORT_COLUMNS",
    "REPORT_MAX_AGE",
    "SUPPORTED_CREDENTIAL_SERVICES",
    "Caller",
    "IAMBackend",
    "IamResponse",
    "ServiceCredential",
    "ServiceNotSupported",
    "User",
    "ValidationError",
    "_anthropic_limited_access_v6",
    "_bedrock_limited_access_v9",
    "_version",
    "account_for_access_key",
    "assume_role_denial",
    "assume_role_denied",
    "backdate",
    "build_credential_report",
    "caller_for",
    "create_service_credential",
    "delete_user_blocker",
    "existing_iam_backend",
    "iam_backend",
    "iam_backends",
    "iam_call_record",
    "iam_models",
    "lookup_events",
    "managed_policy_catalogue",
    "moto_responses",
    "now",
    "org_models",
    "org_utils",
    "organizations_backends",
    "paginate",
    "restore_state",
    "set_seed",
    "snapshot_state",
    "stored_policy",
    "sts_backends",
    "user_credentials",
    "user_for_access_key",
]


_installed = False
_install_lock = threading.Lock()


# =====================================================================
# Installation
# =====================================================================


def install() -> None:
    """Apply every extension (idempotent). Call once in the server process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        _installed = True

        # moto computes the method list of a response class per request with
        # inspect.getmembers (0.5 ms); the classes do not change once installed.
        moto_responses.method_names_from_class = functools.cache(
            moto_responses.method_names_from_class
        )

        iam_models.load_iam_aws_managed_policies = lambda: True
        IAMBackend._init_aws_policies = _backend_init_aws_policies
        IAMBackend.delete_user = _backend_delete_user
        IAMBackend.create_login_profile = _backend_create_login_profile
        IAMBackend.update_login_profile = _backend_update_login_profile
        User.permissions_boundary = property(_user_permissions_boundary)

        patches = {
            "create_service_specific_credential": _iam_create_service_specific_credential,
            "reset_service_specific_credential": _iam_reset_service_specific_credential,
            "update_service_specific_credential": _iam_update_service_specific_credential,
            "delete_service_specific_credential": _iam_delete_service_specific_credential,
            "list_service_specific_credentials": _iam_list_service_specific_credentials,
            "list_users": _iam_list_users,
            "list_access_keys": _iam_list_access_keys,
            "get_account_authorization_details": _iam_get_account_authorization_details,
            "put_user_permissions_boundary": _iam_put_user_permissions_boundary,
            "delete_user_permissions_boundary": _iam_delete_user_permissions_boundary,
            "create_user": _iam_create_user,
            "generate_credential_report": _iam_generate_credential_report,
            "get_credential_report": _iam_get_credential_report,
        }
        for name, func in patches.items():
            setattr(IamResponse, name, func)
        IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER = {
            **IamResponse.RESPONSE_KEY_PATH_TO_TRANSFORMER,
            "ListUsersResponse.Users.User.PermissionsBoundary": never_return,
        }
        org_utils.make_random_account_id = _next_member_account_id
        org_models.utils.make_random_account_id = _next_member_account_id
        org_models.OrganizationsBackend.create_organization = _backend_create_organization
        route_every_athena_path()


def route_every_athena_path() -> None:
    """Athena over botocore's current protocol (idempotent; also for ``mock_aws`` tests).

    botocore 1.44 moved Athena from the json protocol (``POST /`` with ``X-Amz-Target``)
    to rest-json (``POST /query-executions``, ``GET /query-executions/{id}/results``).
    moto parses a request with the installed botocore's model of the service, so it reads
    either protocol, but its Athena URL table routes only ``/``: route every path to the
    same handler, as moto does for Bedrock.
    """
    from moto.athena import urls as athena_urls
    from moto.athena.responses import AthenaResponse

    athena_urls.url_paths.setdefault("{0}/.*$", AthenaResponse.dispatch)
