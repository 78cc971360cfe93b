"""The published JSON Schemas: up to date, valid, and strict where it matters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from tests.report.conftest import load_fixture

from phantomkeys.cli import cli
from phantomkeys.core import keys
from phantomkeys.report import schema
from phantomkeys.surfaces import BEDROCK

SCHEMA_DIR = Path(schema.__file__).resolve().parents[1] / "schemas"


@pytest.mark.parametrize("name", schema.SCHEMA_NAMES)
def test_published_file_is_what_the_code_defines(name: str) -> None:
    published = (SCHEMA_DIR / f"{name}.schema.json").read_text("utf-8")
    assert published == schema.dumps(schema.build(name)), (
        "stale schema file: run python -m phantomkeys.report.schema --write"
    )


@pytest.mark.parametrize("name", schema.SCHEMA_NAMES)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    loaded = schema.load(name)
    assert loaded["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(loaded)
    assert loaded["$id"].endswith(":" + "1")


@pytest.mark.parametrize("name", schema.SCHEMA_NAMES)
def test_every_fixture_document_validates(name: str) -> None:
    schema.validate(load_fixture(name), name)


def test_shared_definitions_are_identical_in_every_file() -> None:
    defs = [schema.load(n)["$defs"] for n in schema.SCHEMA_NAMES]
    for key in ("finding", "rule", "severity", "location", "tool"):
        assert all(d[key] == defs[0][key] for d in defs), key


def _errors(document: dict[str, Any], name: str) -> str:
    with pytest.raises(schema.SchemaValidationError) as info:
        schema.validate(document, name)
    return str(info.value)


def test_missing_required_scan_fields_are_reported_with_their_path() -> None:
    doc = load_fixture("scan")
    del doc["metadata"]["api_calls"]
    doc["accounts"][0]["identities"][0]["status"] = "fine"
    message = _errors(doc, "scan")
    assert "/metadata: 'api_calls' is a required property" in message
    assert "/accounts/0/identities/0/status" in message


def test_a_secret_in_a_credential_fails_validation() -> None:
    doc = load_fixture("scan")
    doc["accounts"][0]["identities"][0]["credentials"][0]["ServiceCredentialSecret"] = "x"
    assert "ServiceCredentialSecret" in _errors(doc, "scan")


def test_unknown_severity_and_bad_fingerprint_fail() -> None:
    doc = load_fixture("hunt")
    doc["findings"][0]["severity"] = "urgent"
    doc["findings"][1]["fingerprint"] = "not-hex"
    message = _errors(doc, "hunt")
    assert "/findings/0/severity" in message
    assert "/findings/1/fingerprint" in message


def test_hunt_evidence_must_carry_the_activity_window() -> None:
    doc = load_fixture("hunt")
    del doc["findings"][0]["evidence"]["first_seen"]
    assert "first_seen" in _errors(doc, "hunt")


def test_leak_findings_need_a_location() -> None:
    doc = load_fixture("leaks")
    del doc["findings"][0]["location"]
    assert "location" in _errors(doc, "leaks")


def test_decode_valid_long_term_result_needs_its_fields() -> None:
    doc = load_fixture("decode")
    del doc["results"][0]["secret_sha256"]
    assert "secret_sha256" in _errors(doc, "decode")


def test_new_optional_fields_keep_validating() -> None:
    """Minor versions add fields: consumers of 1.x keep working."""
    doc = load_fixture("scan")
    doc["schema_version"] = "1.7"
    doc["metadata"]["new_thing"] = {"any": 1}
    doc["accounts"][0]["identities"][0]["tags"] = {"team": "ml"}
    schema.validate(doc, "scan")
    doc["schema_version"] = "2.0"
    assert "schema_version" in _errors(doc, "scan")


def test_real_decode_output_validates() -> None:
    key = keys.encode_long_term(
        BEDROCK, username="BedrockAPIKey-ab12", account_id="123456789012", secret="a" * 40
    )
    result = CliRunner().invoke(
        cli,
        ["decode", "--format", "json", "-", "--at", "2026-11-29T10:00:00Z"],
        input=key + "\nABSKnot-a-key\n",
    )
    assert result.exit_code == 2  # one invalid input
    schema.validate(json.loads(result.stdout), "decode")


def test_real_leaks_output_validates(tmp_path: Path) -> None:
    key = keys.encode_long_term(
        BEDROCK, username="BedrockAPIKey-ab12", account_id="123456789012", secret="s3cr3t" * 8
    )
    (tmp_path / "app.env").write_text(f"AWS_BEARER_TOKEN_BEDROCK={key}\n")
    result = CliRunner().invoke(cli, ["leaks", str(tmp_path), "--format", "json"])
    document = json.loads(result.stdout)
    assert document["findings"], result.output
    schema.validate(document, "leaks")


@pytest.mark.parametrize("name", schema.SCHEMA_NAMES)
def test_schema_command_prints_the_published_schema(name: str) -> None:
    result = CliRunner().invoke(cli, ["schema", name])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == schema.load(name)


def test_schema_command_rejects_unknown_names() -> None:
    result = CliRunner().invoke(cli, ["schema", "timeline"])
    assert result.exit_code == 2
