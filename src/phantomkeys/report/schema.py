"""The published JSON Schemas of every JSON output (draft 2020-12).

The schemas are defined here once, as data, and written to
``phantomkeys/schemas/<command>.schema.json`` so each published file stands alone
(consumers need no resolver). A test checks the files are up to date;
regenerate them with::

    python -m phantomkeys.report.schema --write

Versioning: ``schema_version`` is ``MAJOR.MINOR`` (``phantomkeys._meta``). New
optional fields bump the minor version and keep validating under the same
schema (objects allow additional properties); a removed or renamed field, or a
changed type, bumps the major version and the schema ``$id``.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Mapping
from importlib import resources
from typing import Any

from phantomkeys._meta import SCHEMA_VERSION

#: Outputs with a published schema (``phantomkeys schema NAME``).
SCHEMA_NAMES: tuple[str, ...] = ("scan", "hunt", "leaks", "coverage", "decode")

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_MAJOR = SCHEMA_VERSION.split(".", 1)[0]

_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"


class SchemaValidationError(ValueError):
    """A document does not match its published schema."""


def schema_id(name: str) -> str:
    return f"urn:phantomkeys:schema:{name}:{_MAJOR}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


def _strings() -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}}


# ----------------------------------------------------------------- shared $defs

_NO_SECRETS = {
    "not": {
        "enum": [
            "secret",
            "ServiceCredentialSecret",
            "ServicePassword",
            "ServiceApiKeyValue",
            "SecretAccessKey",
            "SessionToken",
        ]
    },
}

_COMMON_DEFS: dict[str, Any] = {
    "timestamp": {
        "type": "string",
        "pattern": _TIMESTAMP,
        "description": "ISO-8601 time in UTC, e.g. 2026-11-29T10:00:00Z.",
    },
    "account_id": {"type": "string", "pattern": r"^\d{12}$"},
    "severity": {"enum": ["critical", "high", "medium", "low", "info"]},
    "surface": {"enum": ["bedrock", "claude-platform"]},
    "tool": {
        "type": "object",
        "required": ["name", "version"],
        "properties": {"name": {"const": "phantomkeys"}, "version": {"type": "string"}},
    },
    "location": {
        "type": "object",
        "required": ["path"],
        "properties": {
            "path": {"type": "string", "minLength": 1},
            "line": {"type": "integer", "minimum": 1},
            "column": {"type": "integer", "minimum": 1},
            "commit": {"type": "string", "pattern": "^[0-9a-f]{7,64}$"},
        },
    },
    "finding": {
        "type": "object",
        "description": "One finding; the same shape for scan, hunt, leaks and coverage.",
        "required": [
            "rule_id",
            "title",
            "severity",
            "subject",
            "account_id",
            "evidence",
            "remediation",
            "fingerprint",
        ],
        "properties": {
            "rule_id": {"type": "string", "minLength": 1},
            "title": {"type": "string", "minLength": 1},
            "severity": _ref("severity"),
            "subject": {
                "type": "string",
                "description": "The user, role session or key (never a secret).",
            },
            "account_id": _nullable(_ref("account_id")),
            "evidence": {"type": "object", "propertyNames": _NO_SECRETS},
            "remediation": {"type": "string"},
            "rationale": {"type": "string"},
            "fingerprint": {
                "type": "string",
                "pattern": "^[0-9a-f]{16,64}$",
                "description": "Stable across runs: same fact, same value.",
            },
            "location": _ref("location"),
        },
    },
    "rule": {
        "type": "object",
        "required": ["id", "title", "severity"],
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "title": {"type": "string"},
            "severity": _ref("severity"),
            "rationale": {"type": "string"},
            "remediation": {"type": "string"},
            "references": _strings(),
            "attack": {"type": "array", "items": {"type": "string", "pattern": r"^T\d{4}"}},
            "tags": _strings(),
        },
    },
}


def _envelope(
    name: str,
    *,
    title: str,
    description: str,
    required: list[str],
    properties: dict[str, Any],
    defs: dict[str, Any],
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {
        "schema_version": {"type": "string", "pattern": rf"^{_MAJOR}\.\d+$"},
        "tool": _ref("tool"),
    }
    # Every document says when it was made: metadata.generated_at (ISO 8601 UTC).
    meta: dict[str, Any] = metadata if metadata is not None else {"type": "object"}
    props["metadata"] = {
        **meta,
        "required": ["generated_at", *meta.get("required", [])],
        "properties": {"generated_at": _ref("timestamp"), **meta.get("properties", {})},
    }
    props.update(properties)
    if "metadata" not in required:
        required = ["metadata", *required]
    return {
        "$schema": DIALECT,
        "$id": schema_id(name),
        "title": title,
        "description": description,
        "type": "object",
        "required": ["schema_version", "tool", *required],
        "properties": props,
        "$defs": {**copy.deepcopy(_COMMON_DEFS), **defs},
    }


def _metadata(
    command: str, required: list[str] | None = None, properties: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["command", *(required or [])],
        "properties": {"command": {"const": command}, **(properties or {})},
    }


def _findings_document(
    name: str,
    *,
    title: str,
    description: str,
    finding: dict[str, Any] | None = None,
    metadata_properties: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    extra_required: list[str] | None = None,
    defs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    item = finding or _ref("finding")
    return _envelope(
        name,
        title=title,
        description=description,
        required=["metadata", "findings", *(extra_required or [])],
        metadata=_metadata(name, properties=metadata_properties),
        properties={
            "findings": {"type": "array", "items": item},
            "rules": {"type": "array", "items": _ref("rule")},
            **(extra or {}),
        },
        defs=defs or {},
    )


# ------------------------------------------------------------------------ scan

_SCAN_DEFS: dict[str, Any] = {
    "credential": {
        "type": "object",
        "description": "A service-specific credential of any service (the surface's API "
        "keys, CodeCommit, Keyspaces, CloudWatch, ...). Never the secret.",
        "required": ["id", "service", "status", "created", "expires"],
        "propertyNames": _NO_SECRETS,
        "properties": {
            "id": {"type": "string"},
            "service": {"type": "string"},
            "api_key": {
                "type": "boolean",
                "description": "True for the identity's surface API keys; false for other "
                "services' credentials (another way in).",
            },
            "status": {"enum": ["Active", "Inactive", "Expired"]},
            "created": _nullable(_ref("timestamp")),
            "expires": _nullable(_ref("timestamp")),
            "age_days": _nullable({"type": "integer"}),
            "last_used": {
                "type": "null",
                "description": "AWS reports no last use for service-specific credentials.",
            },
        },
    },
    "access_key": {
        "type": "object",
        "required": ["id", "status"],
        "propertyNames": _NO_SECRETS,
        "properties": {
            "id": _nullable({"type": "string", "pattern": "^(AKIA|ASIA)[A-Z0-9]{12,124}$"}),
            "status": {"enum": ["Active", "Inactive"]},
            "created": _nullable(_ref("timestamp")),
            "last_used": _nullable(_ref("timestamp")),
        },
    },
    "capability": {
        "type": "object",
        "required": ["id", "title", "severity", "reach", "granted_by", "conditional"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "severity": _ref("severity"),
            "reach": {"type": "array", "items": {"enum": ["api-key", "other-credentials"]}},
            "granted_by": {"type": "array", "items": {"type": ["string", "object"]}},
            "conditional": {"type": "boolean"},
        },
    },
    "identity": {
        "type": "object",
        "required": [
            "username",
            "arn",
            "kind",
            "surface",
            "status",
            "credentials",
            "access_keys",
            "console_access",
            "mfa_devices",
            "policies",
            "capabilities",
            "risk",
        ],
        "propertyNames": _NO_SECRETS,
        "properties": {
            "username": {"type": "string"},
            "arn": {"type": "string", "pattern": "^arn:aws[a-z-]*:iam::"},
            "kind": {"enum": ["phantom", "suspected-phantom", "human"]},
            "surface": _nullable(_ref("surface")),
            "status": {"enum": ["at-risk", "active", "expired", "orphaned", "unknown"]},
            "credentials": _nullable({"type": "array", "items": _ref("credential")}),
            "access_keys": _nullable({"type": "array", "items": _ref("access_key")}),
            "console_access": {"type": ["boolean", "null"]},
            "signing_certificates": {
                "type": ["integer", "null"],
                "description": "Active signing certificates (null: not read).",
            },
            "ssh_public_keys": {
                "type": ["integer", "null"],
                "description": "Active SSH public keys (null: not read; read per user "
                "with --verify-credentials).",
            },
            "credentials_verified_at": {
                **_nullable(_ref("timestamp")),
                "description": "When access keys, password, MFA, SSH keys and signing "
                "certificates were read live; null when they come from the credential report.",
            },
            "mfa_devices": _nullable({"type": "array"}),
            "policies": {"type": "array"},
            "capabilities": {"type": "array", "items": _ref("capability")},
            "risk": {
                "type": "object",
                "required": ["severity", "reasons"],
                "properties": {
                    "severity": _ref("severity"),
                    "reasons": {"type": "array", "items": {"type": ["string", "object"]}},
                },
            },
        },
    },
    "account": {
        "type": "object",
        "required": ["account_id", "status", "error", "identities"],
        "properties": {
            "account_id": _ref("account_id"),
            "status": {"enum": ["ok", "error", "incomplete"]},
            "error": {"type": ["string", "null"]},
            "identities": {"type": "array", "items": _ref("identity")},
        },
    },
}


def _scan() -> dict[str, Any]:
    count = {"type": "integer", "minimum": 0}
    return _envelope(
        "scan",
        title="phantomkeys scan report",
        description="Output of `phantomkeys scan --format json` (one account or --org).",
        required=["metadata", "summary", "accounts", "findings"],
        metadata=_metadata(
            "scan",
            ["scan_time", "caller_arn", "api_calls"],
            {
                "scan_time": _ref("timestamp"),
                "caller_arn": {"type": ["string", "null"]},
                "credential_report_generated_at": {
                    **_nullable(_ref("timestamp")),
                    "description": "Generation time of the IAM credential report the scan "
                    "used (the oldest, across accounts); AWS reuses a report up to 4 hours "
                    "old, so anything changed since is not in it.",
                },
                "api_calls": {
                    "type": "object",
                    "required": ["total", "by_operation"],
                    "properties": {
                        "total": count,
                        "by_operation": {"type": "object", "additionalProperties": count},
                    },
                },
            },
        ),
        properties={
            "summary": {
                "type": "object",
                "required": ["at-risk", "active", "expired", "orphaned", "unknown"],
                "properties": {
                    s: count for s in ("at-risk", "active", "expired", "orphaned", "unknown")
                },
            },
            "accounts": {"type": "array", "items": _ref("account")},
            "findings": {"type": "array", "items": _ref("finding")},
            "rules": {"type": "array", "items": _ref("rule")},
            "coverage": _ref("coverage"),
        },
        defs={**_SCAN_DEFS, "coverage": COVERAGE_DEF},
    )


#: The ``coverage`` block (``phantomkeys.core.completeness.Coverage.to_json``): what a
#: run read and what it did not; ``complete`` false means the command exited 3.
COVERAGE_DEF: dict[str, Any] = {
    "type": "object",
    "description": "What the run read and what it did not; complete is false (exit 3) "
    "when something could not be read or nothing was read from what was asked for.",
    "required": ["complete", "read", "skipped", "skipped_items", "skipped_items_total", "reasons"],
    "properties": {
        "complete": {"type": "boolean"},
        "read": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "skipped": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "skipped_items": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind", "name", "reason"],
                "properties": {
                    "kind": {"type": "string"},
                    "name": {"type": "string"},
                    "reason": {"type": "string"},
                    "count": {"type": "integer", "minimum": 0},
                    "by_choice": {"const": True},
                },
                "additionalProperties": False,
            },
        },
        "skipped_items_total": {"type": "integer", "minimum": 0},
        "reasons": _strings(),
    },
    "additionalProperties": False,
}


def _hunt() -> dict[str, Any]:
    hunt_finding = {
        "allOf": [
            _ref("finding"),
            {
                "properties": {
                    "evidence": {
                        "type": "object",
                        "required": ["principal", "count", "first_seen", "last_seen", "event_ids"],
                        "properties": {
                            "principal": {"type": "string"},
                            "count": {"type": "integer", "minimum": 0},
                            "first_seen": _ref("timestamp"),
                            "last_seen": _ref("timestamp"),
                            "regions": _strings(),
                            "source_ips": _strings(),
                            "user_agents": _strings(),
                            "models": _strings(),
                            "event_ids": _strings(),
                        },
                    }
                },
            },
        ],
    }
    return _findings_document(
        "hunt",
        title="phantomkeys hunt report",
        description="Output of `phantomkeys hunt --format json`: rule-pack matches over "
        "CloudTrail.",
        finding=hunt_finding,
        extra={
            "coverage": _ref("coverage"),
            "incidents": {"type": "array", "items": _HUNT_INCIDENT},
        },
        defs={"coverage": COVERAGE_DEF},
    )


#: One verdict per principal and window: the findings combined into a risk score.
_HUNT_INCIDENT: dict[str, Any] = {
    "type": "object",
    "required": [
        "principal",
        "severity",
        "score",
        "score_parts",
        "first_seen",
        "last_seen",
        "findings",
    ],
    "properties": {
        "principal": {"type": "string"},
        "account_id": {"type": ["string", "null"]},
        "severity": {"enum": ["critical", "high", "medium", "low", "info"]},
        "score": {"type": "integer", "minimum": 0},
        "score_parts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["part", "points", "detail"],
                "properties": {
                    "part": {"type": "string"},
                    "points": {"type": "integer"},
                    "detail": {"type": "string"},
                },
            },
        },
        "first_seen": _ref("timestamp"),
        "last_seen": _ref("timestamp"),
        "findings": {"type": "array", "items": {"type": "object"}},
    },
}


def _leaks() -> dict[str, Any]:
    leak_finding = {"allOf": [_ref("finding"), {"required": ["location"]}]}
    return _findings_document(
        "leaks",
        title="phantomkeys leaks report",
        description="Output of `phantomkeys leaks --format json`: keys found in files and git "
        "history (redacted previews and fingerprints, never secrets).",
        finding=leak_finding,
    )


def _coverage() -> dict[str, Any]:
    cell = {
        "type": "object",
        "anyOf": [{"required": ["state"]}, {"required": ["status"]}],
        "properties": {
            "state": {"enum": ["blocked", "gap", "conditional", "not-enforceable", "unknown"]},
            "status": {"type": "string", "description": "Older name of state."},
            "achieved_by": _strings(),
            "gaps": _strings(),
            "reason": {"type": ["string", "null"]},
            "policy": {"type": ["string", "null"]},
            "detail": {"type": ["string", "null"]},
        },
    }
    row = {
        "type": "object",
        "required": ["account_id", "goals"],
        "properties": {
            "account_id": _ref("account_id"),
            "name": {"type": ["string", "null"]},
            "ou_path": _strings(),
            "status": {"enum": ["ok", "error", "management", "incomplete", "skipped"]},
            "error": {"type": ["string", "null"]},
            "policies": _strings(),
            "goals": {
                "anyOf": [
                    {"type": "object", "additionalProperties": _ref("cell")},
                    {"type": "array", "items": {"allOf": [_ref("cell"), {"required": ["goal"]}]}},
                ]
            },
        },
    }
    goals = {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string"}, "title": {"type": "string"}},
        },
    }
    schema = _findings_document(
        "coverage",
        title="phantomkeys SCP coverage report",
        description="Output of `phantomkeys scp coverage --format json`: for each account "
        "(rows) whether each protective goal (columns) holds, and a finding per gap.",
        metadata_properties={"scan_time": _ref("timestamp"), "goals": goals},
        extra={
            "accounts": {"type": "array", "items": _ref("row")},
            "matrix": {"type": "array", "items": _ref("row")},
            "goals": goals,
        },
        defs={"cell": cell, "row": row},
    )
    schema["anyOf"] = [{"required": ["accounts"]}, {"required": ["matrix"]}]
    return schema


def _decode() -> dict[str, Any]:
    long_term = {"required": ["username", "iam_user_arn", "key_position", "secret_sha256"]}
    short_term = {
        "required": [
            "access_key_id",
            "access_key_type",
            "region",
            "issued_at",
            "expires_at",
            "expired",
        ]
    }
    result = {
        "type": "object",
        "required": ["valid"],
        "properties": {
            "valid": {"type": "boolean"},
            "error": {"type": "string"},
            "surface": _ref("surface"),
            "kind": {"enum": ["long-term", "short-term"]},
            "account_id": _nullable(_ref("account_id")),
            "username": {"type": ["string", "null"]},
            "iam_user_arn": {"type": ["string", "null"]},
            "key_position": {"enum": ["primary", "secondary", None]},
            "secret_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "access_key_id": {"type": ["string", "null"]},
            "access_key_type": {"enum": ["AKIA", "ASIA", None]},
            "region": {"type": ["string", "null"]},
            "issued_at": _nullable(_ref("timestamp")),
            "expires_at": _nullable(_ref("timestamp")),
            "expired": {"type": ["boolean", "null"]},
            "secret": {"type": "string", "description": "Only with --reveal; never otherwise."},
        },
        "if": {"properties": {"valid": {"const": True}}},
        "then": {
            "required": ["surface", "kind", "account_id"],
            "if": {"properties": {"kind": {"const": "long-term"}}},
            "then": long_term,
            "else": short_term,
        },
        "else": {"required": ["error"]},
    }
    return _envelope(
        "decode",
        title="phantomkeys decode output",
        description="Output of `phantomkeys decode --format json`, one result per input key.",
        required=["results"],
        properties={"at": _ref("timestamp"), "results": {"type": "array", "items": result}},
        defs={},
    )


_BUILDERS = {
    "scan": _scan,
    "hunt": _hunt,
    "leaks": _leaks,
    "coverage": _coverage,
    "decode": _decode,
}


def build(name: str) -> dict[str, Any]:
    """The schema of output ``name`` as data (what the published file must contain)."""
    try:
        return _BUILDERS[name]()
    except KeyError:
        raise KeyError(f"no schema for {name!r} (choose from {', '.join(SCHEMA_NAMES)})") from None


def dumps(schema: Mapping[str, Any]) -> str:
    return json.dumps(schema, indent=2) + "\n"


def _schema_dir() -> Any:
    # Package data of ``phantomkeys`` (schemas/ is a data folder, not a package).
    return resources.files("phantomkeys").joinpath("schemas")


def load(name: str) -> dict[str, Any]:
    """The published schema file shipped in the package."""
    if name not in SCHEMA_NAMES:
        raise KeyError(f"no schema for {name!r} (choose from {', '.join(SCHEMA_NAMES)})")
    text = _schema_dir().joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate(document: Mapping[str, Any], name: str) -> None:
    """Raise :class:`SchemaValidationError` listing every mismatch (needs ``jsonschema``)."""
    try:
        import jsonschema
    except ImportError as exc:  # pragma: no cover - jsonschema ships with [test]
        raise SchemaValidationError("validation needs the jsonschema package") from exc
    validator_cls = jsonschema.validators.validator_for(load(name))
    validator = validator_cls(load(name))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"/{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors[:20]]
        more = f"\n… and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise SchemaValidationError(
            f"{len(errors)} schema error(s) against {name}.schema.json:\n" + "\n".join(lines) + more
        )


def main(argv: list[str] | None = None) -> int:
    """``python -m phantomkeys.report.schema --write``: regenerate the published files."""
    args = sys.argv[1:] if argv is None else argv
    target = _schema_dir()
    stale = []
    for name in SCHEMA_NAMES:
        path = target.joinpath(f"{name}.schema.json")
        text = dumps(build(name))
        if "--write" in args:
            with resources.as_file(path) as real:
                real.write_text(text, encoding="utf-8")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    if stale:
        print("stale schemas: " + ", ".join(stale) + " (run with --write)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
