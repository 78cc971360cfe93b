"""Realistic user states: what aws/state.py reads for a console-created phantom user."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from phantomkeys.core.model import AccessKey, InlinePolicy, ServiceCredential
from phantomkeys.core.plans import MfaDevice, UploadedKey, UserState

ACCOUNT = "123456789012"
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
CREATED = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
BEDROCK_POLICY = "arn:aws:iam::aws:policy/AmazonBedrockLimitedAccess"
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/phantom-boundary"
SSH_BODY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDkQ9v0mOQy0mfb3Jx2Xh0uZ3E1fK0bBq3mYp5d attacker@laptop"
)
CERT_BODY = "-----BEGIN CERTIFICATE-----\nMIIBszCCARwCCQDZ3lab\n-----END CERTIFICATE-----"


def phantom(name: str = "BedrockAPIKey-hr8l", **changes: object) -> UserState:
    """A phantom user after an attacker pivoted: every DeleteUser prerequisite present."""
    state = UserState(
        account_id=ACCOUNT,
        partition="aws",
        name=name,
        exists=True,
        read_at=NOW,
        arn=f"arn:aws:iam::{ACCOUNT}:user/{name}",
        user_id="AIDAEXAMPLEPHANTOM01",
        path="/",
        created=CREATED,
        tags={"team": "ml", "created-by": "console"},
        boundary_arn=BOUNDARY,
        inline_policies=(
            InlinePolicy(
                "extra-s3",
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
                },
            ),
        ),
        attached_policy_arns=(BEDROCK_POLICY,),
        group_names=("ml-readers",),
        service_credentials=(
            ServiceCredential(
                id="ACCAEXAMPLEBEDROCK01",
                username=name,
                service="bedrock.amazonaws.com",
                status="Active",
                created=CREATED,
                expires=None,
                alias=f"{name}-at-{ACCOUNT}",
            ),
            ServiceCredential(
                id="ACCAEXAMPLECODECOM01",
                username=name,
                service="codecommit.amazonaws.com",
                status="Active",
                created=CREATED,
            ),
        ),
        access_keys=(
            AccessKey(id="AKIAEXAMPLEPIVOT0001", status="Active", created=CREATED),
            AccessKey(id="AKIAEXAMPLEOLDKEY002", status="Inactive", created=CREATED),
        ),
        login_profile=True,
        login_profile_created=CREATED,
        mfa_devices=(
            MfaDevice(f"arn:aws:iam::{ACCOUNT}:mfa/{name}-phone", CREATED),
            MfaDevice("GAHT12345678", CREATED),
        ),
        signing_certificates=(UploadedKey("CERTIDEXAMPLE0000001", "Active", CERT_BODY),),
        ssh_public_keys=(UploadedKey("APKAEXAMPLESSHKEY001", "Active", SSH_BODY),),
    )
    return replace(state, **changes)  # type: ignore[arg-type]


def orphan(name: str = "BedrockAPIKey-0dfl") -> UserState:
    """What the console leaves behind once the key is deleted: the user and its policy."""
    return UserState(
        account_id=ACCOUNT,
        partition="aws",
        name=name,
        exists=True,
        read_at=NOW,
        arn=f"arn:aws:iam::{ACCOUNT}:user/{name}",
        path="/",
        created=CREATED,
        attached_policy_arns=(BEDROCK_POLICY,),
    )
