"""One step factory per IAM item, next to its inverse.

Every IAM write a revoke, a cleanup or a restore makes is built here, so the effect a step
declares on facts (``removes``/``sets``, see :mod:`phantomkeys.core.plans`) and the step that
undoes it are written once. The builders choose *which* items to touch and in what order;
a factory decides *how*.

An inverse reads one step the backed-up run made (its boto3 parameters), the user state
saved before the run and the facts of the user now, and returns an :class:`Undo`: the steps
that bring the item back, or why it cannot come back (a deleted secret, a password AWS never
returns). :data:`INVERSES` maps each action to its inverse; an action without one (deleting a
virtual MFA device, a re-activation) needs no undo of its own. A deleted user is brought back
by :func:`recreate_user`, which restore applies whenever the user is missing, however it went.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from phantomkeys.core.model import InlinePolicy
from phantomkeys.core.plans.facts import SESSION_REVOKE_POLICY_NAME, UserState
from phantomkeys.core.plans.model import Facts, Step, canonical_json, document_sha

#: The effect of a delete is already there (IAM answers NoSuchEntity).
GONE = ("NoSuchEntity",)


def _u(user: str) -> dict[str, Any]:
    return {"UserName": user}


@dataclass(frozen=True, slots=True)
class Undo:
    """What restoring one step of a run takes: steps, or why the item cannot come back."""

    steps: tuple[Step, ...] = ()
    lost: tuple[str, ...] = ()


#: ``(params of the run's step, user state saved before the run, facts now) -> Undo``.
Inverse = Callable[[Mapping[str, Any], UserState, Facts], Undo]


# ------------------------------------------------------------------ the user


def delete_user(user: str, tags: Sequence[str]) -> Step:
    return Step(
        "delete-user",
        "iam:DeleteUser",
        _u(user),
        f"delete IAM user {user}",
        removes=("user", *sorted(f"tag:{k}" for k in tags)),
        done_errors=GONE,
        undo="re-create the user (new unique id) with its path, "
        "tags, boundary, policies and groups",
    )


def recreate_user(saved: UserState) -> tuple[Step, ...]:
    """The inverse of :func:`delete_user`: the user at its path, with its tags."""
    name = saved.name
    steps = [
        Step(
            "create-user",
            "iam:CreateUser",
            {**_u(name), "Path": saved.path},
            f"re-create IAM user {name} (path {saved.path}; it gets a new unique id)",
            sets={"user": saved.path},
            done_errors=(),
        )
    ]
    if saved.tags:
        steps.append(
            Step(
                "tag-user",
                "iam:TagUser",
                {
                    **_u(name),
                    "Tags": [{"Key": k, "Value": v} for k, v in sorted(saved.tags.items())],
                },
                f"put back {len(saved.tags)} tag(s)",
                sets={f"tag:{k}": v for k, v in saved.tags.items()},
            )
        )
    return tuple(steps)


def update_user_path(user: str, path: str) -> Step:
    return Step(
        "update-path",
        "iam:UpdateUser",
        {**_u(user), "NewPath": path},
        f"move the user back to path {path}",
        sets={"user": path},
    )


# ------------------------------------------------------------------ console password


def delete_login_profile(user: str, *, description: str, undo: str) -> Step:
    return Step(
        "delete-login-profile",
        "iam:DeleteLoginProfile",
        _u(user),
        description,
        removes=("login-profile",),
        done_errors=GONE,
        undo=undo,
        irreversible=True,
    )


def _undo_delete_login_profile(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    return Undo(
        lost=(
            "console password: AWS never returns passwords; set a new one with "
            f"aws iam create-login-profile --user-name {saved.name} if needed",
        )
    )


# ------------------------------------------------------------------ access keys


def deactivate_access_key(user: str, key_id: str) -> Step:
    return Step(
        id=f"deactivate-access-key:{key_id}",
        action="iam:UpdateAccessKey",
        params={"UserName": user, "AccessKeyId": key_id, "Status": "Inactive"},
        description=f"deactivate access key {key_id}",
        sets={f"access-key:{key_id}": "Inactive"},
        undo="re-activate it",
    )


def activate_access_key(user: str, key_id: str) -> Step:
    return Step(
        f"activate-access-key:{key_id}",
        "iam:UpdateAccessKey",
        {**_u(user), "AccessKeyId": key_id, "Status": "Active"},
        f"re-activate access key {key_id}",
        sets={f"access-key:{key_id}": "Active"},
    )


def _undo_update_access_key(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    if p.get("Status") != "Inactive":
        return Undo()
    kid = p["AccessKeyId"]
    key = {k.id: k for k in saved.access_keys}.get(kid)
    if key is None or key.status != "Active":
        return Undo()
    if f"access-key:{kid}" not in facts:
        return Undo(lost=(f"access key {kid} was deleted since; it cannot be re-activated",))
    return Undo(steps=(activate_access_key(saved.name, kid),))


def delete_access_key(user: str, key_id: str, status: str) -> Step:
    return Step(
        f"delete-access-key:{key_id}",
        "iam:DeleteAccessKey",
        {**_u(user), "AccessKeyId": key_id},
        f"delete access key {key_id} ({status})",
        removes=(f"access-key:{key_id}",),
        done_errors=GONE,
        undo="cannot be undone: the secret access key is gone",
        irreversible=True,
    )


def _undo_delete_access_key(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    return Undo(
        lost=(
            f"access key {p['AccessKeyId']}: deleted; its secret cannot come "
            "back (create a new one if needed)",
        )
    )


# ------------------------------------------------------------------ API keys (service credentials)


def deactivate_credential(user: str, credential_id: str, *, description: str) -> Step:
    return Step(
        id=f"deactivate-credential:{credential_id}",
        action="iam:UpdateServiceSpecificCredential",
        params={
            "UserName": user,
            "ServiceSpecificCredentialId": credential_id,
            "Status": "Inactive",
        },
        description=description,
        sets={f"credential:{credential_id}": "Inactive"},
        undo="re-activate it",
    )


def activate_credential(user: str, credential_id: str, service: str) -> Step:
    return Step(
        f"activate-credential:{credential_id}",
        "iam:UpdateServiceSpecificCredential",
        {**_u(user), "ServiceSpecificCredentialId": credential_id, "Status": "Active"},
        f"re-activate API key {credential_id} ({service})",
        sets={f"credential:{credential_id}": "Active"},
    )


def _undo_update_credential(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    if p.get("Status") != "Inactive":
        return Undo()
    cid = p["ServiceSpecificCredentialId"]
    cred = {c.id: c for c in saved.service_credentials}.get(cid)
    if cred is None or cred.status != "Active":
        return Undo()
    if f"credential:{cid}" not in facts:
        return Undo(
            lost=(f"API key {cid} ({cred.service}) was deleted since; it cannot be re-activated",)
        )
    return Undo(steps=(activate_credential(saved.name, cid, cred.service),))


def delete_credential(user: str, credential_id: str, *, description: str) -> Step:
    return Step(
        id=f"delete-credential:{credential_id}",
        action="iam:DeleteServiceSpecificCredential",
        params={"UserName": user, "ServiceSpecificCredentialId": credential_id},
        description=description,
        removes=(f"credential:{credential_id}",),
        done_errors=GONE,
        undo="cannot be undone: the key's secret is gone",
        irreversible=True,
    )


def _undo_delete_credential(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    cid = p["ServiceSpecificCredentialId"]
    cred = {c.id: c for c in saved.service_credentials}.get(cid)
    service = cred.service if cred else "unknown service"
    return Undo(
        lost=(
            f"API key / service credential {cid} ({service}): deleted; its "
            "secret cannot come back (create a new key if it is still needed)",
        )
    )


# ------------------------------------------------------------------ signing certificates


def delete_signing_certificate(user: str, cert_id: str, fingerprint: str, status: str) -> Step:
    return Step(
        f"delete-signing-cert:{cert_id}",
        "iam:DeleteSigningCertificate",
        {**_u(user), "CertificateId": cert_id},
        f"delete signing certificate {cert_id} ({status})",
        removes=(f"signing-cert:{fingerprint}",),
        done_errors=GONE,
        undo="re-upload the certificate body from the backup",
    )


def _undo_delete_signing_certificate(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    cert = {c.id: c for c in saved.signing_certificates}.get(p["CertificateId"])
    if cert is None or not cert.body:
        return Undo(lost=(f"signing certificate {p['CertificateId']}: body not in backup",))
    if cert.status != "Active":
        return Undo(
            lost=(
                f"signing certificate {cert.id} was Inactive; not re-uploaded "
                "(upload it yourself if needed; the body is in the backup)",
            )
        )
    return Undo(
        steps=(
            Step(
                f"upload-signing-cert:{cert.fingerprint}",
                "iam:UploadSigningCertificate",
                {**_u(saved.name), "CertificateBody": cert.body},
                f"re-upload signing certificate {cert.id} (gets a new id)",
                sets={f"signing-cert:{cert.fingerprint}": "Active"},
                done_errors=("DuplicateCertificate",),
            ),
        )
    )


# ------------------------------------------------------------------ SSH public keys


def delete_ssh_public_key(user: str, key_id: str, fingerprint: str, status: str) -> Step:
    return Step(
        f"delete-ssh-key:{key_id}",
        "iam:DeleteSSHPublicKey",
        {**_u(user), "SSHPublicKeyId": key_id},
        f"delete SSH public key {key_id} ({status})",
        removes=(f"ssh-key:{fingerprint}",),
        done_errors=GONE,
        undo="re-upload the public key from the backup",
    )


def _undo_delete_ssh_public_key(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    key = {k.id: k for k in saved.ssh_public_keys}.get(p["SSHPublicKeyId"])
    if key is None or not key.body:
        return Undo(lost=(f"SSH public key {p['SSHPublicKeyId']}: body not in backup",))
    if key.status != "Active":
        return Undo(
            lost=(
                f"SSH public key {key.id} was Inactive; not re-uploaded "
                "(the body is in the backup)",
            )
        )
    return Undo(
        steps=(
            Step(
                f"upload-ssh-key:{key.fingerprint}",
                "iam:UploadSSHPublicKey",
                {**_u(saved.name), "SSHPublicKeyBody": key.body},
                f"re-upload SSH public key {key.id} (gets a new id)",
                sets={f"ssh-key:{key.fingerprint}": "Active"},
                done_errors=("DuplicateSSHPublicKey",),
            ),
        )
    )


# ------------------------------------------------------------------ MFA devices


def deactivate_mfa_device(user: str, serial: str) -> Step:
    return Step(
        f"deactivate-mfa:{serial}",
        "iam:DeactivateMFADevice",
        {**_u(user), "SerialNumber": serial},
        f"deactivate MFA device {serial}",
        removes=(f"mfa:{serial}",),
        done_errors=GONE,
        undo="cannot be undone: the MFA seed cannot be re-used; re-enrol",
        irreversible=True,
    )


def _undo_deactivate_mfa_device(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    return Undo(
        lost=(f"MFA device {p['SerialNumber']}: the seed cannot be re-used; re-enrol a device",)
    )


def delete_virtual_mfa_device(serial: str) -> Step:
    """Not observable in a user's state: ``NoSuchEntity`` and the journal decide."""
    return Step(
        f"delete-virtual-mfa:{serial}",
        "iam:DeleteVirtualMFADevice",
        {"SerialNumber": serial},
        f"delete virtual MFA device {serial}",
        done_errors=GONE,
        observable=False,
        undo="cannot be undone: re-enrol a new device",
        irreversible=True,
    )


# ------------------------------------------------------------------ inline policies


def put_user_policy(
    user: str,
    policy_name: str,
    document: Mapping[str, Any],
    *,
    step_id: str,
    description: str,
    undo: str = "",
) -> Step:
    return Step(
        id=step_id,
        action="iam:PutUserPolicy",
        params={
            "UserName": user,
            "PolicyName": policy_name,
            "PolicyDocument": canonical_json(document),
        },
        description=description,
        sets={f"inline:{policy_name}": document_sha(document)},
        undo=undo,
    )


def put_back_inline_policy(user: str, policy: InlinePolicy) -> Step:
    return put_user_policy(
        user,
        policy.name,
        policy.document,
        step_id=f"put-inline-policy:{policy.name}",
        description=f"put back inline policy {policy.name}",
    )


def delete_user_policy(
    user: str,
    policy_name: str,
    *,
    description: str | None = None,
    undo: str = "put the document back from the backup",
) -> Step:
    return Step(
        f"delete-inline-policy:{policy_name}",
        "iam:DeleteUserPolicy",
        {**_u(user), "PolicyName": policy_name},
        description or f"delete inline policy {policy_name}",
        removes=(f"inline:{policy_name}",),
        done_errors=GONE,
        undo=undo,
    )


def _undo_delete_user_policy(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    before = saved.inline(p["PolicyName"])
    return Undo(steps=(put_back_inline_policy(saved.name, before),) if before else ())


def _undo_put_user_policy(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    """A revocation's deny: put the earlier document back, or remove the deny it added."""
    name = p["PolicyName"]
    before = saved.inline(name)
    if before is not None:
        return Undo(steps=(put_back_inline_policy(saved.name, before),))
    return Undo(
        steps=(
            delete_user_policy(
                saved.name,
                name,
                description=f"remove the deny {name} the revocation added",
                undo="",
            ),
        )
    )


# ------------------------------------------------------------------ attached policies


def detach_user_policy(user: str, arn: str) -> Step:
    return Step(
        f"detach-policy:{arn}",
        "iam:DetachUserPolicy",
        {**_u(user), "PolicyArn": arn},
        f"detach policy {arn}",
        removes=(f"attached:{arn}",),
        done_errors=GONE,
        undo="attach it again",
    )


def _undo_detach_user_policy(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    arn = p["PolicyArn"]
    return Undo(
        steps=(
            Step(
                f"attach-policy:{arn}",
                "iam:AttachUserPolicy",
                {**_u(saved.name), "PolicyArn": arn},
                f"attach policy {arn}",
                sets={f"attached:{arn}": "attached"},
            ),
        )
    )


# ------------------------------------------------------------------ group memberships


def remove_user_from_group(user: str, group: str) -> Step:
    return Step(
        f"remove-from-group:{group}",
        "iam:RemoveUserFromGroup",
        {"GroupName": group, **_u(user)},
        f"remove from group {group}",
        removes=(f"group:{group}",),
        done_errors=GONE,
        undo="add it back",
    )


def _undo_remove_user_from_group(p: Mapping[str, Any], saved: UserState, facts: Facts) -> Undo:
    group = p["GroupName"]
    return Undo(
        steps=(
            Step(
                f"add-to-group:{group}",
                "iam:AddUserToGroup",
                {"GroupName": group, **_u(saved.name)},
                f"add back to group {group}",
                sets={f"group:{group}": "member"},
            ),
        )
    )


# ------------------------------------------------------------------ permissions boundary


def delete_user_permissions_boundary(user: str, arn: str) -> Step:
    return Step(
        "delete-boundary",
        "iam:DeleteUserPermissionsBoundary",
        _u(user),
        f"remove permissions boundary {arn}",
        removes=("boundary",),
        done_errors=GONE,
        undo="put it back",
    )


def _undo_delete_user_permissions_boundary(
    p: Mapping[str, Any], saved: UserState, facts: Facts
) -> Undo:
    arn = saved.boundary_arn
    if not arn:
        return Undo()
    return Undo(
        steps=(
            Step(
                "put-boundary",
                "iam:PutUserPermissionsBoundary",
                {**_u(saved.name), "PermissionsBoundary": arn},
                f"put back permissions boundary {arn}",
                sets={"boundary": arn},
            ),
        )
    )


# ------------------------------------------------------------------ session denies


def put_session_policy(
    principal_type: str,
    principal: str,
    document: Mapping[str, Any],
    *,
    description: str,
    undo: str = "",
) -> Step:
    """The one session-deny policy of a user or a role (``aws:TokenIssueTime``). Restoring a
    role's is not one inverse per step: ``restore`` keeps statements added since."""
    action, param = (
        ("iam:PutRolePolicy", "RoleName")
        if principal_type == "role"
        else ("iam:PutUserPolicy", "UserName")
    )
    return Step(
        id="put-session-deny",
        action=action,
        params={
            param: principal,
            "PolicyName": SESSION_REVOKE_POLICY_NAME,
            "PolicyDocument": canonical_json(document),
        },
        description=description,
        sets={f"inline:{SESSION_REVOKE_POLICY_NAME}": document_sha(document)},
        undo=undo,
    )


def delete_role_session_policy(role: str) -> Step:
    return Step(
        "delete-session-deny",
        "iam:DeleteRolePolicy",
        {"RoleName": role, "PolicyName": SESSION_REVOKE_POLICY_NAME},
        f"remove the session deny {SESSION_REVOKE_POLICY_NAME} from {role}",
        removes=(f"inline:{SESSION_REVOKE_POLICY_NAME}",),
        done_errors=GONE,
    )


#: The inverse of each user write a run can make (see the module docstring for the rest).
INVERSES: Mapping[str, Inverse] = {
    "iam:DeleteUserPermissionsBoundary": _undo_delete_user_permissions_boundary,
    "iam:RemoveUserFromGroup": _undo_remove_user_from_group,
    "iam:DetachUserPolicy": _undo_detach_user_policy,
    "iam:DeleteUserPolicy": _undo_delete_user_policy,
    "iam:PutUserPolicy": _undo_put_user_policy,
    "iam:UpdateServiceSpecificCredential": _undo_update_credential,
    "iam:UpdateAccessKey": _undo_update_access_key,
    "iam:DeleteSigningCertificate": _undo_delete_signing_certificate,
    "iam:DeleteSSHPublicKey": _undo_delete_ssh_public_key,
    "iam:DeleteServiceSpecificCredential": _undo_delete_credential,
    "iam:DeleteAccessKey": _undo_delete_access_key,
    "iam:DeleteLoginProfile": _undo_delete_login_profile,
    "iam:DeactivateMFADevice": _undo_deactivate_mfa_device,
}
