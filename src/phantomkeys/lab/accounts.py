"""Account numbering of the lab, shared by the server and the seeder.

Pure and import-light: the pytest plugin and the CLI read it without moto.
"""

from __future__ import annotations

#: The Organization's management account (the lab's own credentials live here).
MANAGEMENT_ACCOUNT_ID = "111111111111"

#: The region the lab announces; IAM events are recorded here (docs/aws-facts.md "CloudTrail").
DEFAULT_REGION = "us-east-1"

#: The IAM role whose session the lab hands out as the management admin.
ADMIN_ROLE_NAME = "PhantomkeysLabAdmin"
ADMIN_SESSION_NAME = "lab-admin"

#: The role AWS Organizations creates in every account it creates.
ORG_ACCESS_ROLE = "OrganizationAccountAccessRole"


def member_account_id(index: int) -> str:
    """The id of the ``index``-th (1-based) member account: 222222222222, 333333333333, ...

    Readable ids for the first eight members; after that ``2000000000NN``-style ids
    that stay unique and 12 digits long.
    """
    if index < 1:
        raise ValueError("member index starts at 1")
    if index <= 8:
        return str(index + 1) * 12
    return f"{200000000000 + index:012d}"
