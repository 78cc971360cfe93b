"""The one table of per-surface facts.

A *surface* is an AWS product that issues bearer-token API keys backed by an
auto-created IAM user: Amazon Bedrock and Claude Platform on AWS. Every other
module reads these facts from here instead of repeating string literals, so a
new surface (or a corrected fact) is a one-line change.

Sources for each fact, with a confidence mark, are in ``docs/aws-facts.md``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase


class SurfaceId(StrEnum):
    BEDROCK = "bedrock"
    CLAUDE_PLATFORM = "claude-platform"


@dataclass(frozen=True, slots=True)
class Surface:
    id: SurfaceId
    display_name: str
    #: Long-term key prefix: ``ABSK`` / ``AEAA`` + base64(alias ":" secret).
    long_term_key_prefix: str
    #: Short-term key prefix: prefix + base64(SigV4 presigned URL + "&Version=1").
    short_term_key_prefix: str
    #: Name prefix of the IAM user the console creates for a long-term key.
    phantom_user_prefix: str
    #: ``ServiceName`` of the IAM service-specific credential.
    credential_service: str
    #: The AWS managed policies the console may attach to the phantom user. The
    #: first is the lab's default; where sources conflict every variant is listed
    #: and recognised everywhere (docs/aws-facts.md "Managed policies").
    managed_policy_names: tuple[str, ...]
    #: SigV4 service name and host that short-term keys are presigned for.
    signing_service: str
    signing_host: str
    #: IAM actions that authorise *using* a key (both kinds).
    bearer_token_actions: tuple[str, ...]
    #: Condition keys carrying SHORT_TERM / LONG_TERM on those actions.
    bearer_token_type_keys: tuple[str, ...]
    #: IAM service prefixes a bearer token can reach at all.
    key_service_prefixes: tuple[str, ...]
    #: CloudTrail ``eventSource`` values of calls made with the key.
    event_sources: tuple[str, ...]
    #: Environment variable SDKs read the bearer token from, if any.
    token_env_var: str | None
    #: Actions of those services a key still cannot call (glob patterns).
    key_excluded_actions: tuple[str, ...] = ()
    #: Type keys whose values AWS has not published: a deny of long-term use is
    #: written ``StringNotEquals SHORT_TERM`` for them, never ``StringEquals
    #: LONG_TERM`` (docs/aws-facts.md "Bearer-token type values").
    unpublished_type_keys: tuple[str, ...] = ()

    @property
    def managed_policy_name(self) -> str:
        """The first (default) managed policy name; see :attr:`managed_policy_names`."""
        return self.managed_policy_names[0]

    def managed_policy_arn(self, partition: str = "aws") -> str:
        return f"arn:{partition}:iam::aws:policy/{self.managed_policy_name}"

    def managed_policy_arns(self, partition: str = "aws") -> tuple[str, ...]:
        """Every managed policy of the surface, as ARNs of ``partition``."""
        return tuple(f"arn:{partition}:iam::aws:policy/{n}" for n in self.managed_policy_names)

    def is_phantom_name(self, username: str) -> bool:
        return username.startswith(self.phantom_user_prefix)

    def key_reaches(self, action: str) -> bool:
        """True when a bearer token of this surface can be used for ``action``."""
        prefix = action.split(":", 1)[0].lower()
        if prefix not in self.key_service_prefixes:
            return False
        lowered = action.lower()
        return not any(fnmatchcase(lowered, p.lower()) for p in self.key_excluded_actions)


BEDROCK = Surface(
    id=SurfaceId.BEDROCK,
    display_name="Amazon Bedrock",
    long_term_key_prefix="ABSK",
    short_term_key_prefix="bedrock-api-key-",
    phantom_user_prefix="BedrockAPIKey-",
    credential_service="bedrock.amazonaws.com",
    managed_policy_names=("AmazonBedrockLimitedAccess",),
    signing_service="bedrock",
    signing_host="bedrock.amazonaws.com",
    # bedrock-mantle has its own bearer-token action (docs/aws-facts.md
    # "Bearer-token actions"); the managed policy grants it since v2.
    bearer_token_actions=("bedrock:CallWithBearerToken", "bedrock-mantle:CallWithBearerToken"),
    bearer_token_type_keys=("bedrock:BearerTokenType", "bedrock-mantle:BearerTokenType"),
    key_service_prefixes=("bedrock", "bedrock-mantle"),
    event_sources=("bedrock.amazonaws.com", "bedrock-mantle.amazonaws.com"),
    token_env_var="AWS_BEARER_TOKEN_BEDROCK",  # noqa: S106 - a variable name, not a secret
    # "API keys work only with Amazon Bedrock and Amazon Bedrock Runtime actions"
    # — not Agents (control and runtime, knowledge bases, flows), not Data
    # Automation, not InvokeModelWithBidirectionalStream (docs/aws-facts.md
    # "Where keys work").
    key_excluded_actions=(
        "bedrock:*Agent*",
        "bedrock:*KnowledgeBase*",
        "bedrock:Retrieve*",
        "bedrock:*Flow*",
        "bedrock:*DataAutomation*",
        "bedrock:InvokeBlueprintOptimization*",
        "bedrock:InvokeModelWithBidirectionalStream",
    ),
    # Mantle's CloudTrail example records bearerTokenType "ABSK", and the IAM
    # values of bedrock-mantle:BearerTokenType are unpublished (aws-facts.md).
    unpublished_type_keys=("bedrock-mantle:BearerTokenType",),
)

CLAUDE_PLATFORM = Surface(
    id=SurfaceId.CLAUDE_PLATFORM,
    display_name="Claude Platform on AWS",
    long_term_key_prefix="AEAA",
    short_term_key_prefix="aws-external-anthropic-api-key-",
    phantom_user_prefix="AeaApiKey-",
    credential_service="aws-external-anthropic.amazonaws.com",
    # AWS's IAM User Guide table names AnthropicInferenceAccess; BKS and console
    # write-ups name AnthropicLimitedAccess: a conflict, so both (aws-facts.md).
    managed_policy_names=("AnthropicLimitedAccess", "AnthropicInferenceAccess"),
    signing_service="aws-external-anthropic",
    signing_host="aws-external-anthropic.amazonaws.com",
    bearer_token_actions=("aws-external-anthropic:CallWithBearerToken",),
    bearer_token_type_keys=("aws-external-anthropic:BearerTokenType",),
    key_service_prefixes=("aws-external-anthropic",),
    event_sources=("aws-external-anthropic.amazonaws.com",),
    token_env_var=None,
    # Values of aws-external-anthropic:BearerTokenType are third-party only.
    unpublished_type_keys=("aws-external-anthropic:BearerTokenType",),
)

SURFACES: tuple[Surface, ...] = (BEDROCK, CLAUDE_PLATFORM)

_BY_ID = {s.id: s for s in SURFACES}
_BY_SERVICE = {s.credential_service: s for s in SURFACES}


def get_surface(surface_id: SurfaceId | str) -> Surface:
    return _BY_ID[SurfaceId(surface_id)]


def surface_for_credential_service(service_name: str) -> Surface | None:
    return _BY_SERVICE.get(service_name)


def surface_for_username(username: str) -> Surface | None:
    for surface in SURFACES:
        if surface.is_phantom_name(username):
            return surface
    return None


def surface_for_managed_policy(policy_arn: str) -> Surface | None:
    name = policy_arn.rsplit("/", 1)[-1]
    if not policy_arn.split(":")[-1].startswith("policy/") or ":iam::aws:" not in policy_arn:
        return None
    for surface in SURFACES:
        if name in surface.managed_policy_names:
            return surface
    return None


def surface_for_policy_name(name: str) -> Surface | None:
    """The surface whose managed policy is called ``name`` (any of its variants)."""
    for surface in SURFACES:
        if name in surface.managed_policy_names:
            return surface
    return None


def select_surfaces(choice: str | Iterable[str]) -> tuple[Surface, ...]:
    """Resolve a ``--surface`` value (``bedrock``, ``claude-platform`` or ``all``)."""
    names = [choice] if isinstance(choice, str) else list(choice)
    if "all" in names:
        return SURFACES
    return tuple(get_surface(n) for n in names)


#: Credential services AWS supports for service-specific credentials besides the
#: surfaces (docs/aws-facts.md "Service-specific credentials"). Used by the lab
#: and by validation. The scan does not depend on this list: the ``AllUsers``
#: listing returns every service's credentials, future ones too, and any
#: credential that is not a surface's API key is another way in.
OTHER_CREDENTIAL_SERVICES: tuple[str, ...] = (
    "codecommit.amazonaws.com",
    "cassandra.amazonaws.com",
    "cloudwatch.amazonaws.com",
    # CloudWatch Logs API keys: the lab's earlier name for the same service
    # (unconfirmed which name IAM uses; both are accepted).
    "logs.amazonaws.com",
)

#: ``ServiceName`` values of the surfaces' API keys (every surface, not only the
#: ones a command selected: a key of another surface is still an API key).
API_KEY_SERVICES: frozenset[str] = frozenset(s.credential_service for s in SURFACES)


def is_api_key_service(service_name: str) -> bool:
    return service_name in API_KEY_SERVICES


#: Partitions and how to tell them from a region name.
PARTITIONS: tuple[str, ...] = ("aws", "aws-us-gov", "aws-cn")


def partition_for_region(region: str | None) -> str:
    if not region:
        return "aws"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"
