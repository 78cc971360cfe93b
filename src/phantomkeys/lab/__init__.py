"""The lab: an emulated AWS account or Organization that behaves like AWS where phantomkeys
depends on it (moto in server mode, extended; ``pip install 'phantomkeys[lab]'``).

Python API::

    from phantomkeys.lab import Lab

    with Lab.start(scenario="demo", seed=0) as lab:        # or scenario=None with counts:
        # Lab.start(users=5000, phantoms=1000, accounts=2, seed=0, faults=None, port=0)
        lab.endpoint_url             # "http://127.0.0.1:PORT" (binds 127.0.0.1 only)
        lab.env                      # AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
                                     # AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
                                     # AWS_DEFAULT_REGION=us-east-1, AWS_REGION
                                     # (a session of the management account's admin role)
        lab.management_account_id    # "111111111111"
        lab.member_account_ids       # ["222222222222", ...] (Organization scenarios)
        lab.manifest                 # ground truth of what was seeded (JSON-serialisable)
        lab.session(account_id=None) # boto3.Session: management admin, or a member's
                                     # access-role session
        lab.client("iam", account_id=None)
        lab.set_faults("iam:ListUsers=throttle:0.5")   # or None; changeable at any time
        lab.faults                   # the current spec
        lab.stats()                  # {"total", "by_operation": {"iam:ListUsers": n},
                                     #  "by_account", "by_account_operation",
                                     #  "faults_injected"}
        lab.reset_stats()
        lab.reset()                  # back to the seeded state (snapshot restore, no reseed)
        lab.leaked_keys              # {username: key} the scenario leaks (never print them)
        lab.cloudtrail_records()     # CloudTrail records held (history + recorded IAM calls)
        lab.write_cloudtrail(dir)    # AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz
        lab.inject_events(records)   # add CloudTrail records (LookupEvents sees management ones)
        lab.backdate("BedrockAPIKey-a1b2", "service_credential", 40, id=cred_id)
                                     # time travel: user | password | password_last_used |
                                     # access_key | access_key_last_used | service_credential
        lab.credentials(account_id)  # Credentials(access_key_id, secret_access_key, session_token)
        lab.plan                     # the LabPlan seeded (phantomkeys.lab.scenarios)
        lab.seconds_to_seed, lab.organization_id, lab.scenario_faults, lab.port, lab.pid
        lab.stop()                   # also on leaving the with-block, and at interpreter exit

Scenarios: ``demo`` (one account with every case and a CloudTrail attack story),
``org`` (management + 4 members in 2 OUs; one member without
OrganizationAccountAccessRole, one throttled, an SCP denying Bedrock API keys),
``empty``; or counts. ``phantomkeys lab scenarios`` lists them.

Manifest: ``{"scenario", "description", "seed", "capability_ids",
"management_account_id", "organization",
"faults", "accounts": [{"account_id", "name", "ou", "access_role",
"reachable_with_org_role", "faults", "user_count", "identities": [{"username",
"arn", "surface", "kind", "status", "case", "facts": {...}, "capabilities",
"user_id", "credential_ids", "access_key_ids"}], "not_reported": [...]}],
"leaked_keys": [{"username", "surface", "secret_sha256", "token_sha256"}],
"organization_id", "seeding": {"seconds", "api_calls", "seeded_at"},
"endpoint_url"}``.

Fault specs: see :mod:`phantomkeys.lab.faults`. Pytest fixtures: see
:mod:`phantomkeys.lab.pytest_plugin`. HTTP control endpoints
(``/_phantomkeys/faults``, ``/_phantomkeys/stats``, ``/_phantomkeys/reset``, ...):
see :mod:`phantomkeys.lab.server`. Every moto extension and the AWS behaviour it
reproduces: :mod:`phantomkeys.lab.extensions`.

The lab is deterministic for a seed in what it seeds (users, states, names,
credential ids and secrets, CloudTrail history); IAM user ids and access key ids
come from moto and vary.

Importing this package is cheap and never imports moto; the server process does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from phantomkeys.lab.accounts import MANAGEMENT_ACCOUNT_ID, member_account_id
from phantomkeys.lab.faults import FaultSpecError, parse_spec

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab, LabError

__all__ = [
    "MANAGEMENT_ACCOUNT_ID",
    "FaultSpecError",
    "Lab",
    "LabError",
    "lab_available",
    "member_account_id",
    "parse_spec",
]


def lab_available() -> bool:
    """True when the lab's optional dependencies (moto with its server extras) are installed."""
    import importlib.util

    for module in ("moto", "flask", "boto3"):
        try:
            if importlib.util.find_spec(module) is None:
                return False
        except (ImportError, ValueError):  # ValueError: a module blocked in sys.modules
            return False
    return True


def __getattr__(name: str) -> Any:
    if name in ("Lab", "LabError"):
        from phantomkeys.lab import lab as _lab

        return getattr(_lab, name)
    raise AttributeError(name)
