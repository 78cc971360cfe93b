"""3. DeleteUser prerequisites."""

from __future__ import annotations

from typing import Any

from moto.iam.exceptions import DeleteConflictException

from phantomkeys.lab.extensions.base import IAMBackend
from phantomkeys.lab.extensions.credentials import user_credentials

# =====================================================================
# 3. DeleteUser prerequisites
#
# AWS: DeleteUser fails with DeleteConflict (409) while the user still has a
# login profile, access keys, signing certificates, SSH public keys,
# service-specific credentials, MFA devices, inline policies, attached managed
# policies or group memberships (botocore DeleteUser docs; IAM user guide
# id_users_remove; docs/aws-facts.md "DeleteUser prerequisites"). moto 5.2 checks
# only the two policy kinds.
# A permissions boundary and tags are not prerequisites.
# =====================================================================


def delete_user_blocker(backend: Any, user: Any) -> str | None:
    if user.password:
        return "Cannot delete entity, must delete login profile first."
    if user.access_keys:
        return "Cannot delete entity, must delete access keys first."
    if user.signing_certificates:
        return "Cannot delete entity, must delete signing certificates first."
    if user.ssh_public_keys:
        return "Cannot delete entity, must delete SSH public keys first."
    if user_credentials(user):
        return "Cannot delete entity, must delete service specific credentials first."
    if user.mfa_devices:
        return "Cannot delete entity, must delete MFA device first."
    if user.policies:
        return "Cannot delete entity, must delete policies first."
    if user.managed_policies:
        return "Cannot delete entity, must detach all policies first."
    if backend.get_groups_for_user(user.name):
        return "Cannot delete entity, must remove users from group first."
    return None


def _backend_delete_user(self: IAMBackend, user_name: str) -> None:
    user = self.get_user(user_name)
    blocker = delete_user_blocker(self, user)
    if blocker:
        raise DeleteConflictException(blocker)
    self.tagger.delete_all_tags_for_resource(user.arn)
    del self.users[user_name]
