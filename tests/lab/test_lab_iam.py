"""IAM extensions of the lab match AWS behaviour (DOMAIN-FACTS §1, §9, §10)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError
from lab_testkit import client, error_of

from phantomkeys.core import keys
from phantomkeys.lab.lab import Lab
from phantomkeys.lab.seed import IAM_VERSION
from phantomkeys.lab.wire import QueryClient, QueryError
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM

pytestmark = [pytest.mark.lab, pytest.mark.phantomkeys_lab(scenario="empty")]

ACCOUNT = "111111111111"
BEDROCK_SERVICE = BEDROCK.credential_service


@pytest.fixture
def iam(phantomkeys_lab: Lab) -> Any:
    return client("iam")


@pytest.fixture
def raw_iam(phantomkeys_lab: Lab) -> QueryClient:
    creds = phantomkeys_lab.credentials()
    return QueryClient(
        phantomkeys_lab.endpoint_url,
        service="iam",
        version=IAM_VERSION,
        region="us-east-1",
        access_key_id=creds.access_key_id,
        secret_access_key=creds.secret_access_key,
        session_token=creds.session_token,
    )


def _user(iam: Any, name: str = "BedrockAPIKey-t3st") -> str:
    iam.create_user(UserName=name)
    return name


# ---------------------------------------------------------------- service credentials


def test_create_returns_a_real_format_key(iam: Any, raw_iam: QueryClient) -> None:
    user = _user(iam)
    cred = iam.create_service_specific_credential(
        UserName=user,
        ServiceName=BEDROCK_SERVICE,
        CredentialAgeDays=30,
    )["ServiceSpecificCredential"]
    key = cred["ServiceCredentialSecret"]
    decoded = keys.decode(key)
    assert key.startswith("ABSK")
    assert decoded.surface.value == "bedrock"
    assert (decoded.username, decoded.account_id) == (user, ACCOUNT)
    assert decoded.key_position is keys.KeyPosition.PRIMARY
    assert cred["ServiceCredentialAlias"] == f"{user}-at-{ACCOUNT}"
    assert cred["Status"] == "Active"
    assert cred["ServiceName"] == BEDROCK_SERVICE
    assert cred["ExpirationDate"] - cred["CreateDate"] == timedelta(days=30)
    assert cred["ServiceSpecificCredentialId"].startswith("ACCA")
    # the Bedrock guide's field name carries the same key (not in the API model)
    text = raw_iam.call(
        "CreateServiceSpecificCredential",
        {"UserName": _user(iam, "BedrockAPIKey-raw1"), "ServiceName": BEDROCK_SERVICE},
    )
    secret = text.split("<ServiceCredentialSecret>")[1].split("<")[0]
    assert f"<ServiceApiKeyValue>{secret}</ServiceApiKeyValue>" in text


def test_without_age_the_key_never_expires(iam: Any) -> None:
    user = _user(iam)
    cred = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK_SERVICE)[
        "ServiceSpecificCredential"
    ]
    assert "ExpirationDate" not in cred
    listed = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    assert "ExpirationDate" not in listed[0]
    assert "ServiceCredentialSecret" not in listed[0]


@pytest.mark.parametrize(("age", "ok"), [(0, False), (1, True), (36600, True), (36601, False)])
def test_credential_age_bounds(iam: Any, raw_iam: QueryClient, age: int, ok: bool) -> None:
    user = _user(iam)
    params = {"UserName": user, "ServiceName": BEDROCK_SERVICE, "CredentialAgeDays": age}
    if ok:
        raw_iam.call("CreateServiceSpecificCredential", params)
    else:
        with pytest.raises(QueryError) as info:
            raw_iam.call("CreateServiceSpecificCredential", params)
        assert info.value.code == "ValidationError"
        assert info.value.status == 400


def test_two_per_user_per_service_then_limit_exceeded(iam: Any) -> None:
    user = _user(iam)
    first = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK_SERVICE)
    second = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK_SERVICE)
    with pytest.raises(ClientError) as info:
        iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK_SERVICE)
    assert error_of(info) == ("LimitExceeded", 409)
    # the second key carries the +1 marker in its alias and inside the key
    cred2 = second["ServiceSpecificCredential"]
    assert cred2["ServiceCredentialAlias"] == f"{user}+1-at-{ACCOUNT}"
    decoded = keys.decode(cred2["ServiceCredentialSecret"])
    assert decoded.key_position is keys.KeyPosition.SECONDARY
    assert decoded.key_marker == "+1"
    assert (
        keys.decode(first["ServiceSpecificCredential"]["ServiceCredentialSecret"]).key_position
        is keys.KeyPosition.PRIMARY
    )
    # the limit is per service: a CodeCommit credential is still allowed, with a password
    git = iam.create_service_specific_credential(
        UserName=user, ServiceName="codecommit.amazonaws.com"
    )["ServiceSpecificCredential"]
    assert git["ServiceUserName"] == f"{user}-at-{ACCOUNT}"
    assert git["ServicePassword"]
    assert "ServiceCredentialSecret" not in git


def test_claude_platform_keys(iam: Any) -> None:
    user = _user(iam, "AeaApiKey-t3st")
    cred = iam.create_service_specific_credential(
        UserName=user, ServiceName=CLAUDE_PLATFORM.credential_service, CredentialAgeDays=1
    )["ServiceSpecificCredential"]
    assert cred["ServiceCredentialSecret"].startswith("AEAA")
    assert keys.decode(cred["ServiceCredentialSecret"]).surface.value == "claude-platform"


def test_unsupported_service_is_refused(iam: Any) -> None:
    user = _user(iam)
    for call in (
        lambda: iam.create_service_specific_credential(
            UserName=user, ServiceName="s3.amazonaws.com"
        ),
        lambda: iam.list_service_specific_credentials(
            UserName=user, ServiceName="s3.amazonaws.com"
        ),
    ):
        with pytest.raises(iam.exceptions.ServiceNotSupportedException) as info:
            call()
        assert error_of(info) == ("NotSupportedService", 404)


def test_unknown_user(iam: Any) -> None:
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.create_service_specific_credential(UserName="ghost", ServiceName=BEDROCK_SERVICE)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.list_service_specific_credentials(UserName="ghost")


def _seed_keys(iam: Any, n_users: int) -> dict[str, list[str]]:
    made: dict[str, list[str]] = {}
    for i in range(n_users):
        user = _user(iam, f"BedrockAPIKey-u{i:03d}")
        ids = [
            iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK_SERVICE)[
                "ServiceSpecificCredential"
            ]["ServiceSpecificCredentialId"]
        ]
        if i % 2 == 0:
            ids.append(
                iam.create_service_specific_credential(
                    UserName=user, ServiceName=CLAUDE_PLATFORM.credential_service
                )["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]
            )
        made[user] = ids
    return made


def _all_pages(
    call: Callable[..., dict[str, Any]], key: str, **kwargs: Any
) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    marker = None
    while True:
        page = call(**kwargs, **({"Marker": marker} if marker else {}))
        pages += 1
        items += page[key]
        assert page["IsTruncated"] == ("Marker" in page)
        if not page["IsTruncated"]:
            return items, pages
        marker = page["Marker"]


def test_list_all_users_filter_and_paging(iam: Any) -> None:
    made = _seed_keys(iam, 7)
    everything, pages = _all_pages(
        iam.list_service_specific_credentials,
        "ServiceSpecificCredentials",
        AllUsers=True,
        MaxItems=3,
    )
    assert pages == 4  # 11 credentials, 3 a page
    ids = [c["ServiceSpecificCredentialId"] for c in everything]
    assert sorted(ids) == sorted(i for v in made.values() for i in v)
    assert len(set(ids)) == len(ids)
    bedrock_only, _ = _all_pages(
        iam.list_service_specific_credentials,
        "ServiceSpecificCredentials",
        AllUsers=True,
        ServiceName=BEDROCK_SERVICE,
        MaxItems=2,
    )
    assert len(bedrock_only) == 7
    assert {c["ServiceName"] for c in bedrock_only} == {BEDROCK_SERVICE}
    one = iam.list_service_specific_credentials(UserName="BedrockAPIKey-u002")
    assert len(one["ServiceSpecificCredentials"]) == 2
    assert not one["IsTruncated"]


def test_all_users_with_user_name_is_a_validation_error(iam: Any) -> None:
    user = _user(iam)
    with pytest.raises(ClientError) as info:
        iam.list_service_specific_credentials(UserName=user, AllUsers=True)
    assert error_of(info) == ("ValidationError", 400)


def test_update_reset_delete(iam: Any) -> None:
    user = _user(iam)
    created = iam.create_service_specific_credential(
        UserName=user,
        ServiceName=BEDROCK_SERVICE,
        CredentialAgeDays=90,
    )["ServiceSpecificCredential"]
    cred_id = created["ServiceSpecificCredentialId"]
    iam.update_service_specific_credential(
        UserName=user, ServiceSpecificCredentialId=cred_id, Status="Inactive"
    )
    listed = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    assert listed[0]["Status"] == "Inactive"
    reset = iam.reset_service_specific_credential(
        UserName=user, ServiceSpecificCredentialId=cred_id
    )["ServiceSpecificCredential"]
    old, new = (
        keys.decode(created["ServiceCredentialSecret"]),
        keys.decode(reset["ServiceCredentialSecret"]),
    )
    assert new.secret_sha256 != old.secret_sha256
    assert new.username == user
    assert reset["ServiceSpecificCredentialId"] == cred_id
    assert reset["ServiceCredentialAlias"] == created["ServiceCredentialAlias"]
    iam.delete_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cred_id)
    assert iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"] == []
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.delete_service_specific_credential(UserName=user, ServiceSpecificCredentialId=cred_id)


def test_status_becomes_expired_after_the_expiration_date(iam: Any, phantomkeys_lab: Lab) -> None:
    user = _user(iam)
    short = iam.create_service_specific_credential(
        UserName=user,
        ServiceName=BEDROCK_SERVICE,
        CredentialAgeDays=1,
    )["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]
    forever = iam.create_service_specific_credential(UserName=user, ServiceName=BEDROCK_SERVICE)[
        "ServiceSpecificCredential"
    ]["ServiceSpecificCredentialId"]
    phantomkeys_lab.backdate(user, "service_credential", 0.5, id=short)
    status = {
        c["ServiceSpecificCredentialId"]: c["Status"]
        for c in iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    }
    assert status == {short: "Active", forever: "Active"}
    phantomkeys_lab.backdate(user, "service_credential", 1.01, id=short)
    phantomkeys_lab.backdate(user, "service_credential", 5000, id=forever)
    creds = iam.list_service_specific_credentials(UserName=user)["ServiceSpecificCredentials"]
    status = {c["ServiceSpecificCredentialId"]: c["Status"] for c in creds}
    assert status == {short: "Expired", forever: "Active"}
    expired = next(c for c in creds if c["ServiceSpecificCredentialId"] == short)
    assert expired["ExpirationDate"] < datetime.now(UTC)


# ---------------------------------------------------------------- paging


def test_list_users_pages(iam: Any) -> None:
    names = [_user(iam, f"user-{i:02d}") for i in range(25)]
    users, pages = _all_pages(iam.list_users, "Users", MaxItems=10)
    assert pages == 3
    assert [u["UserName"] for u in users] == sorted(names)
    paginated = [
        u["UserName"]
        for page in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 7})
        for u in page["Users"]
    ]
    assert paginated == sorted(names)


def test_list_access_keys_pages(iam: Any) -> None:
    user = _user(iam, "bob")
    made = {iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"] for _ in range(2)}
    found, pages = _all_pages(iam.list_access_keys, "AccessKeyMetadata", UserName=user, MaxItems=1)
    assert pages == 2
    assert {k["AccessKeyId"] for k in found} == made
    with pytest.raises(ClientError) as info:
        iam.create_access_key(UserName=user)
    assert error_of(info) == ("LimitExceeded", 409)


def test_get_account_authorization_details_pages_and_lists_policies_in_use(iam: Any) -> None:
    for i in range(6):
        _user(iam, f"BedrockAPIKey-g{i:03d}")
        iam.attach_user_policy(
            UserName=f"BedrockAPIKey-g{i:03d}", PolicyArn=BEDROCK.managed_policy_arn()
        )
    iam.create_group(GroupName="data-science")
    iam.create_policy(
        PolicyName="local-one",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    found: dict[str, list[Any]] = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": [],
        "Policies": [],
    }
    pages = 0
    for page in iam.get_paginator("get_account_authorization_details").paginate(
        PaginationConfig={"PageSize": 2}
    ):
        pages += 1
        for key in found:
            found[key] += page[key]
    assert len(found["UserDetailList"]) == 6
    assert len(found["GroupDetailList"]) == 1
    assert pages >= 5
    names = {p["PolicyName"] for p in found["Policies"]}
    # AWS managed policies appear only when in use; the catalogue is not dumped
    assert BEDROCK.managed_policy_name in names
    assert "local-one" in names
    assert CLAUDE_PLATFORM.managed_policy_name not in names
    assert len(names) < 20
    user = found["UserDetailList"][0]
    assert user["AttachedManagedPolicies"][0]["PolicyArn"] == BEDROCK.managed_policy_arn()


# ---------------------------------------------------------------- DeleteUser


def _certificate() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _ssh_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "bedrock:InvokeModel", "Resource": "*"}],
    }
)


def _add_and_remove(iam: Any, user: str, prerequisite: str) -> Callable[[], None]:
    """Give ``user`` one prerequisite; return how to remove it again."""
    match prerequisite:
        case "login profile":
            iam.create_login_profile(UserName=user, Password="Lab-passw0rd!x")
            return lambda: iam.delete_login_profile(UserName=user)
        case "access key":
            key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
            return lambda: iam.delete_access_key(UserName=user, AccessKeyId=key)
        case "signing certificate":
            cert = iam.upload_signing_certificate(UserName=user, CertificateBody=_certificate())
            cert_id = cert["Certificate"]["CertificateId"]
            return lambda: iam.delete_signing_certificate(UserName=user, CertificateId=cert_id)
        case "SSH public key":
            ssh = iam.upload_ssh_public_key(UserName=user, SSHPublicKeyBody=_ssh_key())
            ssh_id = ssh["SSHPublicKey"]["SSHPublicKeyId"]
            return lambda: iam.delete_ssh_public_key(UserName=user, SSHPublicKeyId=ssh_id)
        case "service-specific credential":
            cred = iam.create_service_specific_credential(
                UserName=user, ServiceName=BEDROCK_SERVICE
            )
            cred_id = cred["ServiceSpecificCredential"]["ServiceSpecificCredentialId"]
            return lambda: iam.delete_service_specific_credential(
                UserName=user, ServiceSpecificCredentialId=cred_id
            )
        case "MFA device":
            serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=user)["VirtualMFADevice"][
                "SerialNumber"
            ]
            iam.enable_mfa_device(
                UserName=user,
                SerialNumber=serial,
                AuthenticationCode1="123456",
                AuthenticationCode2="654321",
            )

            def remove_mfa() -> None:
                iam.deactivate_mfa_device(UserName=user, SerialNumber=serial)
                iam.delete_virtual_mfa_device(SerialNumber=serial)

            return remove_mfa
        case "inline policy":
            iam.put_user_policy(UserName=user, PolicyName="inline", PolicyDocument=POLICY)
            return lambda: iam.delete_user_policy(UserName=user, PolicyName="inline")
        case "attached policy":
            iam.attach_user_policy(UserName=user, PolicyArn=BEDROCK.managed_policy_arn())
            return lambda: iam.detach_user_policy(
                UserName=user, PolicyArn=BEDROCK.managed_policy_arn()
            )
        case "group membership":
            iam.create_group(GroupName="team")
            iam.add_user_to_group(UserName=user, GroupName="team")
            return lambda: iam.remove_user_from_group(UserName=user, GroupName="team")
    raise AssertionError(prerequisite)


@pytest.mark.parametrize(
    "prerequisite",
    [
        "login profile",
        "access key",
        "signing certificate",
        "SSH public key",
        "service-specific credential",
        "MFA device",
        "inline policy",
        "attached policy",
        "group membership",
    ],
)
def test_delete_user_refuses_while_a_prerequisite_remains(iam: Any, prerequisite: str) -> None:
    user = _user(iam)
    remove = _add_and_remove(iam, user, prerequisite)
    with pytest.raises(iam.exceptions.DeleteConflictException) as info:
        iam.delete_user(UserName=user)
    assert error_of(info) == ("DeleteConflict", 409)
    iam.get_user(UserName=user)  # still there
    remove()
    iam.delete_user(UserName=user)
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_user(UserName=user)


def test_a_permissions_boundary_does_not_block_deletion(iam: Any) -> None:
    iam.create_user(UserName="bounded", PermissionsBoundary=BEDROCK.managed_policy_arn())
    assert iam.get_user(UserName="bounded")["User"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "Policy",
        "PermissionsBoundaryArn": BEDROCK.managed_policy_arn(),
    }
    assert "PermissionsBoundary" not in iam.list_users()["Users"][0]
    iam.delete_user(UserName="bounded")


def test_user_permissions_boundary_put_and_delete(iam: Any) -> None:
    user = _user(iam)
    iam.put_user_permissions_boundary(
        UserName=user, PermissionsBoundary=BEDROCK.managed_policy_arn()
    )
    details = iam.get_account_authorization_details(Filter=["User"])["UserDetailList"]
    assert (
        details[0]["PermissionsBoundary"]["PermissionsBoundaryArn"] == BEDROCK.managed_policy_arn()
    )
    iam.delete_user_permissions_boundary(UserName=user)
    assert "PermissionsBoundary" not in iam.get_user(UserName=user)["User"]


# ---------------------------------------------------------------- credential report


def test_credential_report_reflects_every_credential(iam: Any, phantomkeys_lab: Lab) -> None:
    with pytest.raises(ClientError) as info:
        iam.get_credential_report()
    assert error_of(info)[0] == "ReportNotPresent"
    user = _user(iam, "alice")
    iam.create_login_profile(UserName=user, Password="Lab-passw0rd!x")
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    phantomkeys_lab.backdate(
        user, "access_key_last_used", 2, id=key, service="bedrock", region="us-west-2"
    )
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=user)["VirtualMFADevice"][
        "SerialNumber"
    ]
    iam.enable_mfa_device(
        UserName=user,
        SerialNumber=serial,
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    iam.upload_signing_certificate(UserName=user, CertificateBody=_certificate())
    _user(iam, "BedrockAPIKey-r3pt")
    assert iam.generate_credential_report()["State"] == "STARTED"
    report = iam.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    assert datetime.now(UTC) - report["GeneratedTime"] < timedelta(minutes=5)
    rows = list(csv.DictReader(io.StringIO(report["Content"].decode())))
    assert rows[0]["user"] == "<root_account>"
    assert rows[0]["arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    alice = next(r for r in rows if r["user"] == "alice")
    assert alice["password_enabled"] == "true"
    assert alice["password_last_used"] == "no_information"
    assert alice["password_last_changed"] != "N/A"
    assert alice["mfa_active"] == "true"
    assert alice["access_key_1_active"] == "true"
    assert alice["access_key_1_last_used_region"] == "us-west-2"
    assert alice["access_key_1_last_used_service"] == "bedrock"
    used = datetime.fromisoformat(alice["access_key_1_last_used_date"])
    assert timedelta(days=1.9) < datetime.now(UTC) - used < timedelta(days=2.1)
    assert alice["access_key_2_active"] == "false"
    assert alice["access_key_2_last_rotated"] == "N/A"
    assert alice["cert_1_active"] == "true"
    assert alice["cert_1_last_rotated"] != "N/A"
    phantom = next(r for r in rows if r["user"] == "BedrockAPIKey-r3pt")
    assert phantom["password_enabled"] == "false"
    assert phantom["password_last_used"] == "N/A"
    assert phantom["password_last_changed"] == "N/A"
    assert phantom["access_key_1_active"] == "false"
    # a report younger than four hours is served as it was, like AWS does
    iam.delete_login_profile(UserName=user)
    assert iam.generate_credential_report()["State"] == "COMPLETE"
    again = iam.get_credential_report()["Content"].decode()
    assert (
        hashlib.sha256(again.encode()).hexdigest() == hashlib.sha256(report["Content"]).hexdigest()
    )


# ---------------------------------------------------------------- managed policies


def _policy_document(iam: Any, arn: str) -> tuple[str, dict[str, Any]]:
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])
    doc = version["PolicyVersion"]["Document"]
    return policy["DefaultVersionId"], doc if isinstance(doc, dict) else json.loads(doc)


def test_surface_managed_policies_are_current(iam: Any) -> None:
    version, doc = _policy_document(iam, BEDROCK.managed_policy_arn())
    actions = {
        a
        for st in doc["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert int(version.lstrip("v")) >= 9  # v9 of 2026-08-04 or newer
    assert {
        "bedrock:CallWithBearerToken",
        "bedrock:InvokeModel",
        "iam:ListRoles",
        "bedrock-websearch:InvokeSearch",
    } <= actions
    assert "iam:PassRole" not in actions
    assert "bedrock:*" not in actions
    version, doc = _policy_document(iam, CLAUDE_PLATFORM.managed_policy_arn())
    actions = {
        a
        for st in doc["Statement"]
        for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    }
    assert int(version.lstrip("v")) >= 6  # v6 of 2026-06-12 or newer
    assert {
        "aws-external-anthropic:CallWithBearerToken",
        "aws-external-anthropic:AssumeConsole",
        "aws-external-anthropic:CreateAgent",
    } <= actions


def test_common_aws_managed_policies_exist(iam: Any) -> None:
    for name in (
        "AdministratorAccess",
        "PowerUserAccess",
        "AmazonS3ReadOnlyAccess",
        "IAMFullAccess",
        "AmazonBedrockFullAccess",
    ):
        assert (
            iam.get_policy(PolicyArn=f"arn:aws:iam::aws:policy/{name}")["Policy"]["PolicyName"]
            == name
        )


def test_content_is_base64_csv(iam: Any) -> None:
    iam.generate_credential_report()
    raw = iam.get_credential_report()["Content"]
    assert raw.startswith(b"user,arn,user_creation_time,")
    assert base64.b64encode(raw)  # boto3 decoded the base64 blob for us
