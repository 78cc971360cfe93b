"""Least privilege from real activity: CloudTrail records -> a minimal role. Pure.

A phantom user carries a broad managed policy (``AmazonBedrockLimitedAccess``:
44 Bedrock actions including guardrail and model deletion, provisioned
throughput, recon). What the workload behind its key really does is usually
two or three inference calls on one or two models in one region. This module
turns the principal's CloudTrail records into:

* the **minimal identity policy** covering every successful recorded call:
  IAM actions mapped from ``eventSource`` + ``eventName`` (Converse is
  authorised as ``bedrock:InvokeModel``, ConverseStream as
  ``bedrock:InvokeModelWithResponseStream``, per the Bedrock API reference),
  resources where the records name them (``requestParameters.modelId`` ->
  foundation-model / inference-profile ARNs, guardrails, ``resources[]``),
  and the regions used (``aws:RequestedRegion``);
* a **role** with a trust policy for the workload that will assume it;
* the **commands** to switch the workload over and then revoke and clean up
  the phantom user;
* **checks** run with the scan's policy engine (:mod:`phantomkeys.core.policy`):
  every recorded call is allowed, and nothing destructive that was not
  recorded is;
* Terraform and CloudFormation renderings.

Calls that were refused (``AccessDenied``) are never granted: the principal
did not really do them. Recorded calls that are destructive or outside the
key's surface (an attacker's ``DeleteGuardrail`` or ``iam:CreateAccessKey``
through a leaked key look exactly like the workload's calls) are granted,
because they *were* made, but listed for review; ``exclude`` drops them.

Nothing here reads the clock, the environment or files: records, time and
the IAM catalog are passed in.
"""

# One idea per module: catalog (the IAM catalog seam), observe (target, records, the
# actions each call needed), build (grants, trust, the role), verify (checks with the
# policy engine, validation), render (commands, Terraform, CloudFormation, the document).
# Every name other modules and tests use is exported here.

from __future__ import annotations

from phantomkeys.core.leastpriv.build import (
    DEFAULT_MAX_SESSION_SECONDS,
    DESTRUCTIVE_PROBES,
    EXTERNAL_ID_PLACEHOLDER,
    ActionUse,
    BuildOptions,
    Grant,
    GrantKind,
    LeastPrivilege,
    ModelRef,
    Review,
    Skipped,
    TrustKind,
    TrustPrincipal,
    build_least_privilege,
    default_role_name,
    guardrail_arn,
    model_resources,
    parse_trust_principal,
)
from phantomkeys.core.leastpriv.catalog import (
    LeastPrivilegeCatalog,
)
from phantomkeys.core.leastpriv.observe import (
    ObservedCall,
    Target,
    TargetError,
    TargetKind,
    account_of,
    bearer_flag,
    map_actions,
    observe,
    partition_of,
    resolve_target,
    select_records,
    service_prefix,
)
from phantomkeys.core.leastpriv.render import (
    CommandStep,
    document,
    render_cloudformation,
    render_terraform,
    switch_over_commands,
)
from phantomkeys.core.leastpriv.verify import (
    ROLE_INLINE_POLICY_MAX_CHARS,
    RULE_POLICY_TOO_LARGE,
    RULE_UNKNOWN_ACTION,
    Check,
    CheckKind,
    validate_policy,
    verify_policy,
)

__all__ = [
    "DEFAULT_MAX_SESSION_SECONDS",
    "DESTRUCTIVE_PROBES",
    "EXTERNAL_ID_PLACEHOLDER",
    "ROLE_INLINE_POLICY_MAX_CHARS",
    "RULE_POLICY_TOO_LARGE",
    "RULE_UNKNOWN_ACTION",
    "ActionUse",
    "BuildOptions",
    "Check",
    "CheckKind",
    "CommandStep",
    "Grant",
    "GrantKind",
    "LeastPrivilege",
    "LeastPrivilegeCatalog",
    "ModelRef",
    "ObservedCall",
    "Review",
    "Skipped",
    "Target",
    "TargetError",
    "TargetKind",
    "TrustKind",
    "TrustPrincipal",
    "account_of",
    "bearer_flag",
    "build_least_privilege",
    "default_role_name",
    "document",
    "guardrail_arn",
    "map_actions",
    "model_resources",
    "observe",
    "parse_trust_principal",
    "partition_of",
    "render_cloudformation",
    "render_terraform",
    "resolve_target",
    "select_records",
    "service_prefix",
    "switch_over_commands",
    "validate_policy",
    "verify_policy",
]
