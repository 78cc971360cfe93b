"""Lab fixtures for the response commands: a strict-DeleteUser IAM, faults, call counts."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from phantomkeys.surfaces import BEDROCK

if TYPE_CHECKING:
    from phantomkeys.lab.lab import Lab

BEDROCK_POLICY = BEDROCK.managed_policy_arn()
WRITE_PREFIXES = (
    "Put",
    "Delete",
    "Update",
    "Create",
    "Attach",
    "Detach",
    "Remove",
    "Add",
    "Tag",
    "Untag",
    "Upload",
    "Deactivate",
    "Enable",
    "Reset",
)


def write_calls(stats: dict[str, Any]) -> dict[str, int]:
    """Calls that change something, from ``lab.stats()`` (reads are Get/List/Generate...)."""
    return {
        op: n
        for op, n in stats["by_operation"].items()
        if op.split(":", 1)[-1].startswith(WRITE_PREFIXES)
    }


@pytest.fixture
def lab(phantomkeys_lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    """The lab (scenario from the module's ``phantomkeys_lab`` marker), reset, env applied."""
    # A permanent fault should exhaust the retries in seconds, not minutes.
    import phantomkeys.aws.session as session

    monkeypatch.setattr(session, "DEFAULT_RETRIES", {"mode": "adaptive", "max_attempts": 2})
    phantomkeys_lab.set_faults(None)
    phantomkeys_lab.reset_stats()
    yield phantomkeys_lab
    phantomkeys_lab.set_faults(None)


@pytest.fixture
def iam(lab: Lab) -> Any:
    return lab.client("iam")


def self_signed_cert(name: str) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


SSH_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC6F1hSWvfgx4Bn0rbpo7rQ3JxB0m0hqWlRWDHp7m attacker@laptop"
)


def seed_boundary(iam: Any) -> str:
    doc = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["bedrock:*", "s3:GetObject"], "Resource": "*"}
        ],
    }
    try:
        return str(
            iam.create_policy(PolicyName="phantom-boundary", PolicyDocument=json.dumps(doc))[
                "Policy"
            ]["Arn"]
        )
    except iam.exceptions.EntityAlreadyExistsException:
        account = boto3.client(
            "sts", endpoint_url=iam.meta.endpoint_url, region_name="us-east-1"
        ).get_caller_identity()["Account"]
        return f"arn:aws:iam::{account}:policy/phantom-boundary"


#: An AWS managed policy as boundary, for tests that also scan: the lab's
#: GetAccountAuthorizationDetails omits PolicyName for customer managed policies, which the
#: collector needs (reported to the lead).
AWS_BOUNDARY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def seed_pivoted_phantom(
    iam: Any, name: str = "BedrockAPIKey-hr8l", *, customer_boundary: bool = True
) -> dict[str, Any]:
    """A phantom user after an attacker pivoted: every DeleteUser prerequisite present."""
    boundary = seed_boundary(iam) if customer_boundary else AWS_BOUNDARY
    iam.create_user(
        UserName=name,
        Tags=[{"Key": "team", "Value": "ml"}, {"Key": "created-by", "Value": "console"}],
        PermissionsBoundary=boundary,
    )
    iam.attach_user_policy(UserName=name, PolicyArn=BEDROCK_POLICY)
    iam.put_user_policy(
        UserName=name,
        PolicyName="extra-s3",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_group(GroupName="ml-readers")
    iam.add_user_to_group(GroupName="ml-readers", UserName=name)
    cred = iam.create_service_specific_credential(
        UserName=name, ServiceName=BEDROCK.credential_service, CredentialAgeDays=365
    )["ServiceSpecificCredential"]
    iam.create_service_specific_credential(UserName=name, ServiceName="codecommit.amazonaws.com")
    live = iam.create_access_key(UserName=name)["AccessKey"]
    old = iam.create_access_key(UserName=name)["AccessKey"]
    iam.update_access_key(UserName=name, AccessKeyId=old["AccessKeyId"], Status="Inactive")
    iam.create_login_profile(UserName=name, Password="Correct-Horse-42!")
    mfa = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-phone")["VirtualMFADevice"]
    iam.enable_mfa_device(
        UserName=name,
        SerialNumber=mfa["SerialNumber"],
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=SSH_KEY)
    iam.upload_signing_certificate(UserName=name, CertificateBody=self_signed_cert(name))
    return {
        "credential": cred,
        "access_key": live["AccessKeyId"],
        "inactive_key": old["AccessKeyId"],
        "mfa": mfa["SerialNumber"],
        "boundary": boundary,
    }


def seed_orphan(iam: Any, name: str) -> None:
    """What the console leaves once the key is deleted: the user and the managed policy."""
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn=BEDROCK_POLICY)


def seed_active(iam: Any, name: str) -> dict[str, Any]:
    iam.create_user(UserName=name)
    iam.attach_user_policy(UserName=name, PolicyArn=BEDROCK_POLICY)
    return dict(
        iam.create_service_specific_credential(
            UserName=name, ServiceName=BEDROCK.credential_service, CredentialAgeDays=30
        )["ServiceSpecificCredential"]
    )


def user_exists(iam: Any, name: str) -> bool:
    try:
        iam.get_user(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


@pytest.fixture
def cli_env(lab: Lab) -> dict[str, str]:
    return dict(lab.env)
