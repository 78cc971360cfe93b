"""The CloudTrail field catalog shared by every engine and export target.

Rules name fields the way CloudTrail records spell them (``eventSource``,
``userIdentity.userName``, ``additionalEventData.callWithBearerToken``), which
is also how the SigmaHQ AWS rules and Splunk's ``aws:cloudtrail`` sourcetype
spell them. Each engine sees the records through a different schema:

* **flat** (DuckDB, Spark): the local engines flatten every record into one
  row whose columns are named by these field paths; ``requestParameters`` and
  ``additionalEventData`` stay JSON text so a rule can reach any nested key.
* **athena**: the documented CloudTrail table (docs/aws-facts.md "CloudTrail"), lower-case
  struct columns, with ``requestparameters``/``additionaleventdata`` as JSON
  strings.
* **lake**: CloudTrail Lake event data stores, where ``requestParameters`` and
  ``additionalEventData`` are ``map(varchar, varchar)``.
"""

from __future__ import annotations

from dataclasses import dataclass

EVENT_TIME = "eventTime"
EVENT_ID = "eventID"
ACCOUNT = "recipientAccountId"
PRINCIPAL = "principal"
MODEL = "model"

#: Top-level fields kept as JSON text in the flat schema.
JSON_FIELDS: tuple[str, ...] = ("requestParameters", "additionalEventData")


@dataclass(frozen=True, slots=True)
class FlatField:
    """One column of the flat schema and how each other schema spells it."""

    name: str
    athena: str
    lake: str

    @property
    def json_path(self) -> str:
        return "$." + self.name


def _nested(root: str, key: str) -> FlatField:
    name = f"{root}.{key}"
    return FlatField(
        name,
        athena=f"json_extract_scalar({root.lower()}, '$.{key}')",
        lake=f"element_at({root}, '{key}')",
    )


def _plain(name: str, athena: str | None = None, lake: str | None = None) -> FlatField:
    return FlatField(name, athena or name.lower(), lake or name)


#: Columns of the flat schema, in table order. ``eventTime`` is a timestamp,
#: everything else text (JSON booleans become ``'true'``/``'false'``).
FLAT_FIELDS: tuple[FlatField, ...] = (
    _plain(EVENT_TIME),
    _plain(EVENT_ID),
    _plain("eventSource"),
    _plain("eventName"),
    _plain("awsRegion"),
    _plain("sourceIPAddress"),
    _plain("userAgent"),
    _plain("errorCode"),
    _plain("errorMessage"),
    _plain("readOnly"),
    _plain("eventType"),
    _plain("eventCategory"),
    _plain(ACCOUNT),
    _plain("userIdentity.type", "useridentity.type"),
    _plain("userIdentity.principalId", "useridentity.principalid"),
    _plain("userIdentity.arn", "useridentity.arn"),
    _plain("userIdentity.accountId", "useridentity.accountid"),
    _plain("userIdentity.accessKeyId", "useridentity.accesskeyid"),
    _plain("userIdentity.userName", "useridentity.username"),
    _plain("userIdentity.invokedBy", "useridentity.invokedby"),
    _plain(
        "userIdentity.sessionContext.sessionIssuer.type",
        "useridentity.sessioncontext.sessionissuer.type",
    ),
    _plain(
        "userIdentity.sessionContext.sessionIssuer.arn",
        "useridentity.sessioncontext.sessionissuer.arn",
    ),
    _plain(
        "userIdentity.sessionContext.sessionIssuer.userName",
        "useridentity.sessioncontext.sessionissuer.username",
    ),
    _plain("tlsDetails.clientProvidedHostHeader", "tlsdetails.clientprovidedhostheader"),
    # Bearer-token markers: additionalEventData for Bedrock (AWS sample
    # detections); requestParameters for Claude Platform per a third party
    # (docs/aws-facts.md "CloudTrail", unconfirmed), so both are kept.
    _nested("additionalEventData", "callWithBearerToken"),
    _nested("additionalEventData", "bearerTokenType"),
    _nested("requestParameters", "callWithBearerToken"),
    _nested("requestParameters", "bearerTokenType"),
    _nested("requestParameters", "userName"),
    _nested("requestParameters", "serviceName"),
    _nested("requestParameters", "credentialAgeDays"),
    _nested("requestParameters", "policyArn"),
    _nested("requestParameters", "modelId"),
    _nested("requestParameters", "model"),
)

FLAT_BY_NAME: dict[str, FlatField] = {f.name: f for f in FLAT_FIELDS}

#: Fields derived from others when a record is flattened.
DERIVED_FIELDS: tuple[str, ...] = (PRINCIPAL, MODEL)

PRINCIPAL_SOURCES: tuple[str, ...] = (
    "userIdentity.arn",
    "userIdentity.userName",
    "userIdentity.principalId",
    "userIdentity.invokedBy",
)
MODEL_SOURCES: tuple[str, ...] = ("requestParameters.modelId", "requestParameters.model")


def split_json_field(name: str) -> tuple[str, str] | None:
    """``requestParameters.roleArn`` -> (``requestParameters``, ``$.roleArn``)."""
    root, _, rest = name.partition(".")
    if root in JSON_FIELDS and rest:
        return root, "$." + rest
    return None


def known_field(name: str) -> bool:
    """True when every engine can evaluate ``name`` (flat, derived or inside JSON)."""
    return (
        name in FLAT_BY_NAME
        or name in DERIVED_FIELDS
        or name in JSON_FIELDS
        or (split_json_field(name) is not None)
    )
