"""One verdict per principal: incidents, their score parts, ``hunt --config`` (DuckDB and CLI)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from incidentkit import ATTACKER, benign_volume, several_mediums, slow_abuse

from phantomkeys.cli import cli
from phantomkeys.core.findings import Severity
from phantomkeys.trail.hunt import add_incidents, plan_sources, run_duckdb
from phantomkeys.trail.incidents import ConfigError, identity_key, parse_config
from phantomkeys.trail.pack import load_pack

PACK = load_pack()
SCHEMA = json.loads(
    (Path(__file__).parents[2] / "src/phantomkeys/schemas/hunt.schema.json").read_text()
)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def hunt(root: Path, config: Any = None) -> Any:
    result = run_duckdb(PACK, plan_sources([str(root)], None, None), since=None, until=None)
    return add_incidents(result, config)


def incident_of(result: Any, user: str) -> Any:
    (inc,) = [i for i in result.incidents if i.principal.endswith("/" + user)]
    return inc


def parts(inc: Any) -> set[str]:
    return {p.name for p in inc.parts}


@pytest.mark.parametrize("plane", ["bedrock", "mantle", "claude"])
def test_slow_abuse_from_a_never_seen_ip_is_high_below_the_spike(
    plane: str, tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    write_trail(slow_abuse("BedrockAPIKey-s10w", plane=plane))
    result = hunt(tmp_path)
    rules = {f.rule_id for f in result.findings}
    assert "invocation-spike" not in rules  # 50 per 5 minutes: the spike stays silent
    inc = incident_of(result, "BedrockAPIKey-s10w")
    assert {"new_source_ip", "http_tool", "sustained_new_origin"} <= parts(inc)
    assert inc.severity in (Severity.HIGH, Severity.CRITICAL)
    new_ip = next(p for p in inc.parts if p.name == "new_source_ip")
    assert ATTACKER in new_ip.detail
    # The verdict is a finding too: --fail-on and every format see it.
    (verdict,) = [f for f in result.findings if f.rule_id == "incident"]
    assert verdict.severity is inc.severity
    assert "sustained_new_origin" in verdict.rationale


def test_benign_high_volume_sdk_app_stays_below_high(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    write_trail(benign_volume("BedrockAPIKey-b1g0"))
    result = hunt(tmp_path)
    assert "invocation-spike" in {f.rule_id for f in result.findings}  # the rule still fires
    inc = incident_of(result, "BedrockAPIKey-b1g0")
    assert inc.severity.rank < Severity.HIGH.rank, inc.summary()
    assert not parts(inc) & {"new_source_ip", "http_tool", "volume", "sustained_new_origin"}


def test_several_mediums_together_are_high_one_alone_is_not(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    write_trail(several_mediums("BedrockAPIKey-m1x0"), n=1)
    write_trail(
        several_mediums(
            "BedrockAPIKey-0ne0",
            agent="Boto3/1.35.10 md/Botocore#1.35.10 ua/2.0 os/linux#5.10.223 md/arch#x86_64 "
            "lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.10",
            region="us-east-1",
        ),
        n=2,
    )
    result = hunt(tmp_path)
    mix = incident_of(result, "BedrockAPIKey-m1x0")
    assert {"new_source_ip", "new_user_agent", "new_region", "http_tool"} <= parts(mix)
    assert mix.severity is Severity.HIGH, mix.summary()
    one = incident_of(result, "BedrockAPIKey-0ne0")
    assert "new_source_ip" in parts(one)
    assert not parts(one) & {"new_user_agent", "new_region", "http_tool"}
    assert one.severity.rank < Severity.HIGH.rank, one.summary()


def test_findings_about_one_user_merge_whatever_names_it() -> None:
    arn = "arn:aws:iam::111122223333:user/BedrockAPIKey-hr8l"
    assert identity_key("111122223333", arn) == identity_key("111122223333", "BedrockAPIKey-hr8l")
    role = "arn:aws:sts::111122223333:assumed-role/Admin/alice"
    assert identity_key("111122223333", role) == ("111122223333", role)


def test_pivot_and_key_findings_form_one_incident(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    from trailkit import example_records

    write_trail(example_records("phantom-user-pivot"), n=1)
    write_trail(example_records("phantom-user-credential-added"), n=2)
    result = hunt(tmp_path)
    inc = incident_of(result, "BedrockAPIKey-hr8l")
    assert {"pivot", "persistence"} <= parts(inc)
    assert inc.severity is Severity.CRITICAL
    assert {"phantom-user-pivot", "phantom-user-credential-added"} <= {
        f.rule_id for f in inc.findings
    }


# ----------------------------------------------------------------- config


def test_allowlists_and_weights_change_the_verdict(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    write_trail(slow_abuse("BedrockAPIKey-s10w"))
    allow_ip = parse_config({"allowlist": {"cidrs": ["45.148.10.0/24"]}})
    inc = incident_of(hunt(tmp_path, allow_ip), "BedrockAPIKey-s10w")
    assert not parts(inc) & {"new_source_ip", "sustained_new_origin"}
    allow_ua = parse_config({"allowlist": {"user_agents": ["curl/"]}})
    inc = incident_of(hunt(tmp_path, allow_ua), "BedrockAPIKey-s10w")
    assert not parts(inc) & {"http_tool", "new_user_agent"}
    assert "new_source_ip" in parts(inc)
    both = parse_config({"allowlist": {"cidrs": ["45.148.10.0/24"], "user_agents": ["curl/"]}})
    inc = incident_of(hunt(tmp_path, both), "BedrockAPIKey-s10w")
    assert inc.severity.rank < Severity.HIGH.rank, inc.summary()
    allow_who = parse_config({"allowlist": {"principals": ["*BedrockAPIKey-s10w"]}})
    assert not hunt(tmp_path, allow_who).incidents
    louder = parse_config({"weights": {"new_source_ip": 70}, "thresholds": {"critical": 500}})
    inc = incident_of(hunt(tmp_path, louder), "BedrockAPIKey-s10w")
    assert next(p.points for p in inc.parts if p.name == "new_source_ip") == 70
    assert inc.severity is Severity.HIGH


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"weigths": {}}, "weigths: unknown key"),
        ({"weights": {"new_ip": 3}}, "weights.new_ip: unknown part"),
        ({"weights": {"new_source_ip": -1}}, "weights.new_source_ip: must be a whole number"),
        ({"thresholds": {"high": 10, "medium": 50}}, "low <= medium <= high <= critical"),
        ({"allowlist": {"cidrs": ["10.0.0.0/33"]}}, "allowlist.cidrs: '10.0.0.0/33'"),
        ({"allowlist": {"principals": "alice"}}, "allowlist.principals: must be a list"),
        ({"incidents": {"window": "forever"}}, "incidents.window: 'forever' is not a duration"),
        ({"volume": {"factor": 0.5}}, "volume.factor: must be a number >= 1"),
        ({"rules": {"no-such-rule": "recon"}}, "rules.no-such-rule: no such rule"),
        ({"rules": {"model-access-probe": "louder"}}, "rules.model-access-probe: 'louder'"),
        (["a"], "config: must be a mapping"),
    ],
)
def test_bad_config_is_refused_with_the_key_named(data: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_config(data, known_rules=[r.name for r in PACK])


def test_cli_config_errors_exit_2_in_one_line(
    tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    write_trail(slow_abuse("BedrockAPIKey-s10w"))
    bad = tmp_path / "bad.yml"
    bad.write_text("allowlist:\n  cidrs: [not-a-network]\n")
    result = run("hunt", str(tmp_path), "--config", str(bad))
    assert result.exit_code == 2
    assert "allowlist.cidrs: 'not-a-network' is not an IP network" in result.output
    assert "Traceback" not in result.output
    broken = tmp_path / "broken.yml"
    broken.write_text("weights: [\n")
    result = run("hunt", str(tmp_path), "--config", str(broken))
    assert result.exit_code == 2 and "not valid YAML" in result.output
    result = run("hunt", str(tmp_path), "--config", str(tmp_path / "missing.yml"))
    assert result.exit_code == 2 and "cannot read" in result.output
    good = tmp_path / "good.yml"
    good.write_text("allowlist:\n  cidrs: [45.148.10.0/24]\n  user_agents: [curl/]\n")
    result = run("hunt", str(tmp_path), "--config", str(good), "--format", "json")
    doc = json.loads(result.stdout)
    (inc,) = [i for i in doc["incidents"] if i["principal"].endswith("BedrockAPIKey-s10w")]
    assert inc["severity"] in ("info", "low", "medium")


# ----------------------------------------------------------------- formats


@pytest.mark.parametrize(
    "fmt", ["table", "json", "csv", "sarif", "ocsf", "asff", "markdown", "html"]
)
def test_every_format_shows_the_score_parts(
    fmt: str, tmp_path: Path, write_trail: Callable[..., Path]
) -> None:
    write_trail(slow_abuse("BedrockAPIKey-s10w"))
    result = run("hunt", str(tmp_path), "--format", fmt, "--fail-on", "high")
    assert result.exit_code == 1, result.output  # the high verdict fails the run
    text = result.stdout
    for part in ("new_source_ip", "http_tool", "sustained_new_origin"):
        assert part in text, (fmt, part)
    if fmt == "json":
        doc = json.loads(text)
        jsonschema.validate(doc, SCHEMA)
        (inc,) = [i for i in doc["incidents"] if i["principal"].endswith("BedrockAPIKey-s10w")]
        assert sum(p["points"] for p in inc["score_parts"]) == inc["score"]
        assert any(r["id"] == "incident" for r in doc["rules"])


def test_profile_sql_parses_in_every_dialect() -> None:
    import sqlglot

    from phantomkeys.trail.queries import profile_values_sql, profile_volume_sql
    from phantomkeys.trail.sql import Dialect

    for dialect, name in (
        (Dialect.DUCKDB, "duckdb"),
        (Dialect.TRINO, "trino"),
        (Dialect.SPARK, "spark"),
    ):
        for sql in (profile_values_sql(dialect), profile_volume_sql(dialect)):
            assert sqlglot.parse_one(sql, read=name) is not None


# ----------------------------------------------------------------- the lab


@pytest.mark.lab
def test_lab_attack_shows_the_pivot_on_bedrock_and_one_verdict(
    phantomkeys_lab: Any, tmp_path: Path
) -> None:
    """The lab's attack: the phantom's own access key signs Bedrock calls (no bearer flag)."""
    from phantomkeys.lab.scenarios import DEMO_APP, DEMO_VICTIM

    phantomkeys_lab.write_cloudtrail(tmp_path)
    result = run("hunt", str(tmp_path), "--format", "json", "--fail-on", "high")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, SCHEMA)
    pivots = [
        f
        for f in doc["findings"]
        if f["rule_id"] == "phantom-user-pivot" and f["subject"].endswith("/" + DEMO_VICTIM)
    ]
    assert pivots and pivots[0]["severity"] == "high"
    names = set(pivots[0]["evidence"]["event_names"])
    assert {"InvokeModel", "DeleteGuardrail"} <= names  # Bedrock, signed with the access key
    victim = [i for i in doc["incidents"] if i["principal"].endswith("/" + DEMO_VICTIM)]
    assert max(i["score"] for i in victim) >= 100
    worst = max(victim, key=lambda i: i["score"])
    assert {"pivot", "tamper", "persistence"} <= {p["part"] for p in worst["score_parts"]}
    benign = [i for i in doc["incidents"] if i["principal"].endswith("/" + DEMO_APP)]
    assert benign and all(i["severity"] not in ("high", "critical") for i in benign)
