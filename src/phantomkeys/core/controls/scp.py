"""Service Control Policies that block API keys: presets, minification, splitting.

Every surface fact (credential service names, bearer-token actions and their
condition keys, phantom-user prefixes, managed policy names) comes from
:mod:`phantomkeys.surfaces`; nothing here repeats those literals.

Why the statements look the way they do (sources in docs/aws-facts.md
"Controlling keys"):

* A numeric condition on a key that is *absent* from the request is false, so
  ``NumericGreaterThan iam:ServiceSpecificCredentialAgeDays N`` never matches a
  key created without an age (a key that never expires). ``max-age`` therefore
  adds a second Deny with ``"Null": {"iam:ServiceSpecificCredentialAgeDays": "true"}``.
* AWS's own example uses ``NumericGreaterThanEquals 30``, which also blocks
  exactly 30 days. ``max-age N`` means "at most N days": ``NumericGreaterThan N``.
* Each bearer-token action has its *own* type key (``bedrock:BearerTokenType``
  does not exist on ``bedrock-mantle:CallWithBearerToken``), so conditional
  denies are one statement per (action, key) pair.
* Where AWS has not published a type key's values (``bedrock-mantle``, whose
  CloudTrail example records ``bearerTokenType: "ABSK"``; Claude Platform), a
  deny of ``StringEquals LONG_TERM`` is sidestepped by any other spelling. Those
  denies are written ``StringNotEquals SHORT_TERM`` (anything but a short-term
  key), with a second Deny on ``"Null": {key: "true"}`` so a request without the
  key is denied too, whatever the operator evaluation of an absent key.
* Both Claude Platform managed policies (``AnthropicInferenceAccess`` and
  ``AnthropicLimitedAccess``; sources conflict) are covered wherever one is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from phantomkeys.surfaces import SURFACES, Surface

#: AWS Organizations limit on an SCP document, in characters (whitespace counts).
SCP_MAX_CHARS = 5120
#: SCPs attachable to one root, OU or account (one is usually FullAWSAccess).
SCP_MAX_PER_TARGET = 5
#: Allowed ``CredentialAgeDays`` range (IAM API model).
MIN_AGE_DAYS = 1
MAX_AGE_DAYS = 36600
POLICY_VERSION = "2012-10-17"

CREATE_CREDENTIAL = "iam:CreateServiceSpecificCredential"
CREDENTIAL_SERVICE_KEY = "iam:ServiceSpecificCredentialServiceName"
CREDENTIAL_AGE_KEY = "iam:ServiceSpecificCredentialAgeDays"
PRINCIPAL_ARN_KEY = "aws:PrincipalArn"
POLICY_ARN_KEY = "iam:PolicyARN"
LONG_TERM = "LONG_TERM"
SHORT_TERM = "SHORT_TERM"
BEARER_TOKEN_TYPES = (SHORT_TERM, LONG_TERM)

#: Calls that turn a phantom user into a general-purpose identity (DESIGN "pivot").
PIVOT_ACTIONS: tuple[str, ...] = (
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:EnableMFADevice",
    "iam:UploadSSHPublicKey",
    "iam:UploadSigningCertificate",
)
#: Ways to hand a surface's managed policy to an IAM user (directly or by group).
#: Roles are left alone: a role with the policy is the recommended short-term path.
POLICY_ATTACH_ACTIONS: tuple[str, ...] = ("iam:AttachUserPolicy", "iam:AttachGroupPolicy")


class ScpError(ValueError):
    """The requested policy cannot be built (bad option, or too large to split)."""


class Preset(StrEnum):
    BLOCK_ALL = "block-all"
    BLOCK_LONG_TERM = "block-long-term"
    MAX_AGE = "max-age"
    BLOCK_PHANTOM_CREATION = "block-phantom-creation"
    BLOCK_PIVOT = "block-pivot"


PRESET_HELP: dict[Preset, str] = {
    Preset.BLOCK_ALL: "block creating long-term keys and using any key (incl. bedrock-mantle)",
    Preset.BLOCK_LONG_TERM: "block creating and using long-term keys; short-term keys stay",
    Preset.MAX_AGE: "cap new keys at --max-age-days N and deny keys that never expire",
    Preset.BLOCK_PHANTOM_CREATION: "block phantom-user creation and attaching the key policy",
    Preset.BLOCK_PIVOT: "block access keys, passwords, MFA, SSH keys, certificates and other "
    "services' credentials on phantom users",
}


@dataclass(frozen=True, slots=True)
class Condition:
    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)
    conditions: tuple[Condition, ...] = ()
    effect: str = "Deny"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Sid": self.sid,
            "Effect": self.effect,
            "Action": _one_or_list(self.actions),
            "Resource": _one_or_list(self.resources),
        }
        if self.conditions:
            block: dict[str, dict[str, Any]] = {}
            for cond in self.conditions:
                block.setdefault(cond.operator, {})[cond.key] = _one_or_list(cond.values)
            out["Condition"] = block
        return out

    def subsumes(self, other: Statement) -> bool:
        """True when this Deny matches every request ``other`` matches (so ``other`` is moot)."""
        if self.effect != other.effect or self.effect != "Deny":
            return False
        if not set(other.actions) <= set(self.actions):
            return False
        if "*" not in self.resources and not set(other.resources) <= set(self.resources):
            return False
        # Conditions are ANDed: fewer conditions means a broader statement.
        return set(self.conditions) <= set(other.conditions)


def _one_or_list(values: Sequence[str]) -> str | list[str]:
    return values[0] if len(values) == 1 else list(values)


@dataclass(frozen=True, slots=True)
class ScpOptions:
    presets: tuple[Preset, ...]
    surfaces: tuple[Surface, ...] = SURFACES
    max_age_days: int | None = None
    exempt_principals: tuple[str, ...] = ()
    name: str | None = None

    def check(self) -> None:
        if not self.presets:
            raise ScpError("choose at least one --preset")
        if not self.surfaces:
            raise ScpError("choose at least one --surface")
        if Preset.MAX_AGE in self.presets:
            if self.max_age_days is None:
                raise ScpError("--preset max-age needs --max-age-days N")
            if not MIN_AGE_DAYS <= self.max_age_days <= MAX_AGE_DAYS:
                raise ScpError(
                    f"--max-age-days must be between {MIN_AGE_DAYS} and {MAX_AGE_DAYS} "
                    f"(the range IAM accepts), not {self.max_age_days}"
                )
        elif self.max_age_days is not None:
            raise ScpError("--max-age-days only applies to --preset max-age")
        for arn in self.exempt_principals:
            parts = arn.split(":", 5)
            if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam":
                raise ScpError(
                    f"--exempt {arn!r} is not an IAM principal ARN "
                    "(for example arn:aws:iam::111122223333:role/BreakGlass)"
                )

    @property
    def base_name(self) -> str:
        if self.name:
            return self.name
        return ("phantomkeys-" + "-".join(p.value for p in self.presets))[:120]

    @property
    def summary(self) -> str:
        labels = [
            f"max-age({self.max_age_days}d)" if p is Preset.MAX_AGE else p.value
            for p in self.presets
        ]
        surfaces = ", ".join(s.id.value for s in self.surfaces)
        return f"phantomkeys {' + '.join(labels)} for {surfaces}"


@dataclass(frozen=True, slots=True)
class GeneratedPolicy:
    name: str
    description: str
    statements: tuple[Statement, ...]
    document: dict[str, Any] = field(compare=False)

    @property
    def content(self) -> str:
        """The minified document: what is deployed and what counts toward the limit."""
        return minify(self.document)

    @property
    def size(self) -> int:
        return len(self.content)


# ------------------------------------------------------------------ presets


def _services(surfaces: Iterable[Surface]) -> tuple[str, ...]:
    return tuple(s.credential_service for s in surfaces)


def _phantom_user_arns(surfaces: Iterable[Surface]) -> tuple[str, ...]:
    """User ARNs of phantom users, with and without an IAM path."""
    arns: list[str] = []
    for s in surfaces:
        arns.append(f"arn:*:iam::*:user/{s.phantom_user_prefix}*")
        arns.append(f"arn:*:iam::*:user/*/{s.phantom_user_prefix}*")
    return tuple(arns)


def _sid_part(action: str) -> str:
    service = action.split(":", 1)[0]
    return "".join(part.capitalize() for part in service.replace("_", "-").split("-"))


def _creation_condition(surfaces: Sequence[Surface]) -> Condition:
    return Condition("StringEquals", CREDENTIAL_SERVICE_KEY, _services(surfaces))


def _deny_key_creation(surfaces: Sequence[Surface]) -> Statement:
    return Statement(
        "DenyApiKeyCreation", (CREATE_CREDENTIAL,), conditions=(_creation_condition(surfaces),)
    )


def _bearer_actions(surfaces: Sequence[Surface]) -> tuple[str, ...]:
    return tuple(a for s in surfaces for a in s.bearer_token_actions)


def preset_statements(preset: Preset, options: ScpOptions) -> list[Statement]:
    surfaces = options.surfaces
    match preset:
        case Preset.BLOCK_ALL:
            return [
                _deny_key_creation(surfaces),
                Statement("DenyBearerTokenUse", _bearer_actions(surfaces)),
            ]
        case Preset.BLOCK_LONG_TERM:
            out = [_deny_key_creation(surfaces)]
            for s in surfaces:
                for action, type_key in zip(
                    s.bearer_token_actions, s.bearer_token_type_keys, strict=True
                ):
                    sid = _sid_part(action)
                    if type_key in s.unpublished_type_keys:
                        out.append(
                            Statement(
                                f"DenyLongTermKeyUse{sid}",
                                (action,),
                                conditions=(Condition("StringNotEquals", type_key, (SHORT_TERM,)),),
                            )
                        )
                        out.append(
                            Statement(
                                f"DenyUntypedKeyUse{sid}",
                                (action,),
                                conditions=(Condition("Null", type_key, ("true",)),),
                            )
                        )
                        continue
                    out.append(
                        Statement(
                            f"DenyLongTermKeyUse{sid}",
                            (action,),
                            conditions=(Condition("StringEquals", type_key, (LONG_TERM,)),),
                        )
                    )
            return out
        case Preset.MAX_AGE:
            assert options.max_age_days is not None
            n = options.max_age_days
            return [
                Statement(
                    f"DenyApiKeyLongerThan{n}Days",
                    (CREATE_CREDENTIAL,),
                    conditions=(
                        _creation_condition(surfaces),
                        # "at most N days": N is allowed, N+1 is not (not ...GreaterThanEquals).
                        Condition("NumericGreaterThan", CREDENTIAL_AGE_KEY, (str(n),)),
                    ),
                ),
                # A key created without an age never expires, and a missing key never
                # satisfies a numeric condition: deny it explicitly.
                Statement(
                    "DenyApiKeyWithoutExpiry",
                    (CREATE_CREDENTIAL,),
                    conditions=(
                        _creation_condition(surfaces),
                        Condition("Null", CREDENTIAL_AGE_KEY, ("true",)),
                    ),
                ),
            ]
        case Preset.BLOCK_PHANTOM_CREATION:
            return [
                Statement(
                    "DenyPhantomUserCreation",
                    ("iam:CreateUser",),
                    resources=_phantom_user_arns(surfaces),
                ),
                Statement(
                    "DenyKeyPolicyOnUsers",
                    POLICY_ATTACH_ACTIONS,
                    conditions=(
                        Condition(
                            "ArnLike",
                            POLICY_ARN_KEY,
                            tuple(a for s in surfaces for a in s.managed_policy_arns("*")),
                        ),
                    ),
                ),
            ]
        case Preset.BLOCK_PIVOT:
            return [
                Statement(
                    "DenyPhantomUserPivot", PIVOT_ACTIONS, resources=_phantom_user_arns(surfaces)
                ),
                # Another service's credential (CodeCommit, Keyspaces, CloudWatch, ...)
                # on a phantom user is a way in that outlives its API keys.
                Statement(
                    "DenyPhantomUserOtherCredentials",
                    (CREATE_CREDENTIAL,),
                    resources=_phantom_user_arns(surfaces),
                    conditions=(
                        Condition("StringNotEquals", CREDENTIAL_SERVICE_KEY, _services(surfaces)),
                    ),
                ),
            ]
    raise ScpError(f"unknown preset {preset!r}")  # pragma: no cover


def build_statements(options: ScpOptions) -> list[Statement]:
    """All statements of the chosen presets, deduplicated, with exemptions applied."""
    options.check()
    statements: list[Statement] = []
    for preset in dict.fromkeys(options.presets):
        statements.extend(preset_statements(preset, options))
    statements = _drop_subsumed(statements)
    if options.exempt_principals:
        exempt = Condition("ArnNotLike", PRINCIPAL_ARN_KEY, tuple(options.exempt_principals))
        statements = [replace(s, conditions=(*s.conditions, exempt)) for s in statements]
    return statements


def _drop_subsumed(statements: list[Statement]) -> list[Statement]:
    kept: list[Statement] = []
    for i, st in enumerate(statements):
        redundant = any(
            other.subsumes(st) and (not st.subsumes(other) or j < i)
            for j, other in enumerate(statements)
            if j != i
        )
        if not redundant:
            kept.append(st)
    return kept


# ------------------------------------------------------------------ size


def policy_document(statements: Iterable[Statement]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": [s.to_json() for s in statements]}


def minify(document: Any) -> str:
    """Compact JSON: AWS counts every character, whitespace included."""
    return json.dumps(document, separators=(",", ":"))


def document_size(statements: Iterable[Statement]) -> int:
    return len(minify(policy_document(statements)))


def _fit_statement(statement: Statement, limit: int) -> list[Statement]:
    """Split one Deny's action list until each part fits (a Deny of A∪B = Deny A + Deny B)."""
    if document_size([statement]) <= limit:
        return [statement]
    if len(statement.actions) < 2:
        raise ScpError(
            f"statement {statement.sid} alone is {document_size([statement])} characters, "
            f"over the {limit}-character SCP limit (too many --exempt principals?)"
        )
    half = len(statement.actions) // 2
    first = replace(statement, sid=statement.sid + "A", actions=statement.actions[:half])
    second = replace(statement, sid=statement.sid + "B", actions=statement.actions[half:])
    return [*_fit_statement(first, limit), *_fit_statement(second, limit)]


def split_statements(
    statements: Sequence[Statement], limit: int = SCP_MAX_CHARS
) -> list[list[Statement]]:
    """Pack statements, in order, into as few documents of at most ``limit`` characters."""
    pieces = [part for st in statements for part in _fit_statement(st, limit)]
    groups: list[list[Statement]] = []
    for piece in pieces:
        for group in groups:  # first fit keeps related statements together
            if document_size([*group, piece]) <= limit:
                group.append(piece)
                break
        else:
            groups.append([piece])
    return groups


def generate_policies(options: ScpOptions, *, limit: int = SCP_MAX_CHARS) -> list[GeneratedPolicy]:
    """The SCPs for ``options``: one when it fits, otherwise ``<name>-part1..N``."""
    groups = split_statements(build_statements(options), limit)
    total = len(groups)
    policies: list[GeneratedPolicy] = []
    for index, group in enumerate(groups, start=1):
        name = options.base_name if total == 1 else f"{options.base_name}-part{index}"
        description = options.summary if total == 1 else f"{options.summary} ({index}/{total})"
        policies.append(
            GeneratedPolicy(
                name=name,
                description=description[:512],
                statements=tuple(group),
                document=policy_document(group),
            )
        )
    return policies
