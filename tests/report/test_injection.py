"""Attacker text in CloudTrail fields and file names, through every output format.

CloudTrail's userAgent, sourceIPAddress, errorCode/errorMessage and the user
names in requests are whatever the caller sent; file names are whatever the
attacker planted. Each payload below goes into those fields of real CloudTrail
records, then through ``hunt`` and ``timeline`` in every format:

* table and text: no control, escape-sequence or bidi character from the data
  reaches the output (shown as ``\\x1b``, ``\\u202e`` ...), rich markup is not obeyed;
* markdown: parsed by a CommonMark parser, no link, image or raw HTML comes from data;
* CSV: no cell a spreadsheet would run, including `` =cmd`` (whitespace first);
* JSON: faithful, byte for byte the value in the log.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from phantomkeys.cli import cli
from phantomkeys.cli.common import UsageProblem
from phantomkeys.report import markdown as md_report
from phantomkeys.report.csv_report import safe_cell
from phantomkeys.report.safetext import markup, visible
from phantomkeys.respond.render import render_incident_markdown, render_incident_text
from phantomkeys.trail.pack import default_examples_dir, example_files_for

PAYLOADS: dict[str, str] = {
    "clear-screen": "\x1b[2J\x1b[Hfake prompt $",
    "osc8-link": "\x1b]8;;https://evil.example/osc\x1b\\click me\x1b]8;;\x1b\\",
    "osc8-bel": "\x1b]8;;https://evil.example/bel\x07here\x1b]8;;\x07",
    "colour": "\x1b[31;1mRED\x1b[0m and \x1b[8mhidden\x1b[0m",
    "c1-csi": "\x9b2J\x9d0;title\x9c",
    "title-set": "\x1b]0;owned\x07",
    "bidi-override": "invoice\u202efdp.exe",
    "bidi-isolate": "a\u2066\u2067\u2068b\u2069\u202a\u202b\u202c\u202d",
    "zero-width": "ad\u200bmin\u200d\ufeff",
    "lone-cr": "innocent\r![x](https://evil.example/cr.png)",
    "cr-link": "ok\r[phish](https://evil.example/cr)",
    "markdown-link": "[click here](https://evil.example/phish)",
    "markdown-image": "![logo](https://evil.example/pixel.png)",
    "reference-link": "[x][1]\n\n[1]: https://evil.example/ref",
    "autolink": "<https://evil.example/auto>",
    "raw-html": "<img src=x onerror=alert(1)><script>alert(2)</script>",
    "html-block": "\n\n<div onclick=alert(3)>x</div>\n\n",
    "pipes": "a|b||c \\| d",
    "backticks": "``` `x` ``",
    "heading": "# heading\n- item\n1. one",
    "rich-markup": "[bold red]owned[/] [link=https://evil.example/rich]x[/link]",
    "formula": '=HYPERLINK("https://evil.example","x")',
    "formula-space": " =cmd|' /C calc'!A0",
    "formula-tab": "\t+1+cmd",
    "formula-cr": "\r-2+cmd",
    "formula-at": "@SUM(1,2)",
    "formula-nbsp": "\u00a0 @SUM(3)",
}

USER = "AeaApiKey-q2w9"  # the bearer-token-invocation example's caller

#: Raw characters that must never come from data into terminal-bound output.
RAW_UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
RICH_SGR = re.compile(r"\x1b\[[0-9;]*m")


def _records(rule: str) -> list[dict[str, Any]]:
    return [
        r
        for f in example_files_for(default_examples_dir(), rule, "positive")
        for r in json.loads(f.read_text())["Records"]
    ]


def hostile_trail(folder: Path) -> Path:
    """One CloudTrail file: every payload in userAgent, sourceIPAddress, errorCode,
    errorMessage and the user name of a CreateServiceSpecificCredential request."""
    records = []
    for i, payload in enumerate(PAYLOADS.values()):
        for rule in ("api-key-created", "bearer-token-invocation"):
            for rec in _records(rule):
                rec = json.loads(json.dumps(rec))
                rec["eventID"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{i}-{rec['eventID']}"))
                rec["userAgent"] = payload
                rec["sourceIPAddress"] = payload
                rec["errorMessage"] = payload
                if rec.get("userIdentity", {}).get("userName") == USER:
                    rec["errorCode"] = payload
                params = rec.get("requestParameters") or {}
                if "userName" in params:
                    params["userName"] = payload
                records.append(rec)
    path = folder / "trail.json"
    path.write_text(json.dumps({"Records": records}))
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    trail = hostile_trail(tmp_path_factory.mktemp("trail"))
    out: dict[str, str] = {}
    for fmt in ("json", "table", "csv", "markdown"):
        result = run("hunt", str(trail), "--format", fmt, "--wide", "--fail-on", "never")
        assert result.exit_code == 0, result.output
        out[f"hunt-{fmt}"] = result.stdout
        out[f"hunt-{fmt}-stderr"] = result.stderr
    for fmt in ("json", "table", "csv"):
        result = run("timeline", USER, "--from", str(trail), "--format", fmt, "--wide")
        assert result.exit_code == 0, result.output
        out[f"timeline-{fmt}"] = result.stdout
    return out


def test_the_payloads_reach_the_renderers_and_json_stays_faithful(outputs: dict[str, str]) -> None:
    hunt = json.loads(outputs["hunt-json"])
    subjects = {f["subject"] for f in hunt["findings"]}
    agents = {ua for f in hunt["findings"] for ua in f["evidence"].get("user_agents") or ()}
    ips = {ip for f in hunt["findings"] for ip in f["evidence"].get("source_ips") or ()}
    events = json.loads(outputs["timeline-json"])["events"]
    for payload in PAYLOADS.values():
        assert payload in subjects
        assert payload in agents and payload in ips
        assert any(e["user_agent"] == payload for e in events)
        assert any(e["source_ip"] == payload for e in events)
        assert any(e["error_code"] == payload for e in events)


@pytest.mark.parametrize("name", ["hunt-table", "timeline-table", "hunt-table-stderr"])
def test_tables_show_data_as_text(outputs: dict[str, str], name: str) -> None:
    text = outputs[name]
    assert not RAW_UNSAFE.search(RICH_SGR.sub("", text)), RAW_UNSAFE.search(text)
    assert "\x1b" not in text  # not a terminal here: no colour either
    if name == "hunt-table":
        for needle in ("\\x1b[2J", "\\x1b]8;;https://evil.example/osc", "\\u202e", "\\x9b2J"):
            assert needle in text
        # rich markup from data is printed, not obeyed
        assert "[bold red]owned[/]" in text


@pytest.mark.parametrize("name", ["hunt-csv", "timeline-csv"])
def test_csv_cells_never_run_and_never_drive_a_terminal(outputs: dict[str, str], name: str) -> None:
    text = outputs[name]
    assert "\x1b" not in text and "\u202e" not in text and "\x9b" not in text
    cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
    for cell in cells:
        assert cell.lstrip()[:1] not in ("=", "+", "-", "@"), repr(cell)
        assert cell[:1] not in ("\t", "\r"), repr(cell)
    assert any(c.startswith("' =cmd") for c in cells)
    assert any(c.startswith("'\u00a0 @SUM(3)") for c in cells)


def _tokens(text: str, parser: MarkdownIt) -> list[Any]:
    out = []
    for tok in parser.parse(text):
        out.append(tok)
        out.extend(tok.children or ())
    return out


_TAG_FROM_DATA = re.compile(r"<\s*(img|script|div|a|iframe|svg)\b", re.I)


def assert_inert_markdown(text: str) -> None:
    assert "\r" not in text and "\x1b" not in text
    for parser in (MarkdownIt("commonmark"), MarkdownIt("commonmark").enable("table")):
        for tok in _tokens(text, parser):
            assert tok.type != "image", tok
            if tok.type == "link_open":
                assert "evil" not in str(tok.attrGet("href")), tok
            if tok.type in ("html_inline", "html_block"):
                assert not _TAG_FROM_DATA.search(tok.content), tok.content
        html = parser.render(text)
        assert "<img" not in html and "<script" not in html and "<div" not in html
        assert 'href="https://evil' not in html


def test_hunt_markdown_has_no_link_image_or_html_from_data(outputs: dict[str, str]) -> None:
    assert_inert_markdown(outputs["hunt-markdown"])


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_markdown_escapes_each_payload(name: str) -> None:
    payload = PAYLOADS[name]
    text = "\n".join(
        [
            f"Rationale {md_report.esc(payload)}",
            md_report.esc(payload),
            f"> {md_report.esc(payload)}",
            f"- {md_report.esc(payload)}",
            "| a | b |",
            "|---|---|",
            f"| {md_report.esc(payload)} | {md_report.code(payload)} |",
            f"- **user agent:** {md_report.code(payload)}",
        ]
    )
    assert_inert_markdown(text)
    parser = MarkdownIt("commonmark")
    # one paragraph per line kind: nothing from the data started a heading or a list
    kinds = {t.type for t in _tokens(text, parser)}
    assert "heading_open" not in kinds and "ordered_list_open" not in kinds


def test_incident_report_text_and_markdown_are_inert() -> None:
    payload = "".join(PAYLOADS.values())
    doc = {
        "metadata": {"account_id": "111122223333", "generated_at": "2026-11-20T10:00:00Z"},
        "tool": {"version": "0.1.0"},
        "activity": {
            "limits": "management events",
            "lookups": [
                {
                    "attribute": "Username",
                    "value": payload,
                    "region": "us-east-1",
                    "events": [
                        {
                            "time": "2026-11-20T09:58:00Z",
                            "region": "us-east-1",
                            "event_source": "bedrock.amazonaws.com",
                            "event_name": "InvokeModel",
                            "error_code": payload,
                            "identity_arn": payload,
                            "source_ip": payload,
                        }
                    ],
                }
            ],
        },
        "recommended": [payload],
    }
    assert_inert_markdown(render_incident_markdown(doc))
    text = render_incident_text(doc)
    assert not RAW_UNSAFE.search(text) and "\\x1b[2J" in text


def test_a_hostile_file_name_is_shown_not_obeyed(tmp_path: Path) -> None:
    name = "tr\x1b[2J\x1b]8;;evil.example\x07ail\r\u202e[red]x.json"
    (tmp_path / name).write_text('{"Records": [')  # invalid: the hunt warns about it
    result = run("hunt", str(tmp_path), "--format", "json")
    warning = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warning) == 1, result.stderr
    assert not RAW_UNSAFE.search(result.stderr)
    assert "tr\\x1b[2J\\x1b]8;;evil.example\\x07ail\\r\\u202e[red]x.json" in warning[0]


def test_a_hostile_missing_path_is_one_error_line(tmp_path: Path) -> None:
    name = str(tmp_path / "gone\x1b[2J\r\nerror: fake\u202e[bold]x")
    result = run("hunt", name)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert not RAW_UNSAFE.search(result.stderr)
    assert "\\x1b[2J\\r\\nerror: fake\\u202e[bold]x" in lines[0]


def test_hints_keep_their_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    UsageProblem("the lab needs moto", hint="pip install 'phantomkeys[lab]'").show()
    assert "pip install 'phantomkeys[lab]'" in capsys.readouterr().err


def test_leaks_table_shows_a_hostile_path_as_text(tmp_path: Path) -> None:
    from phantomkeys.core import keys
    from phantomkeys.surfaces import BEDROCK

    key = keys.encode_long_term(
        BEDROCK,
        username="BedrockAPIKey-ab12",
        account_id="111122223333",
        secret="xQ3vT9kLmN2pR8sW5yZ1aB4cD7eF0gH6jK",
    )
    name = "cfg\x1b]8;;evil.example\x07\u202e[red]x.env"
    (tmp_path / name).write_text(f"KEY={key}\n")
    result = run("leaks", str(tmp_path), "--format", "table", "--fail-on", "never")
    assert "cfg" in result.stdout, result.output
    assert not RAW_UNSAFE.search(result.stdout) and "\x1b" not in result.stdout
    assert "cfg\\x1b]8;;evil.example\\x07\\u202e[red]x.env" in result.stdout


@pytest.mark.parametrize("payload", list(PAYLOADS.values()))
def test_sanitiser_output_is_printable_and_idempotent(payload: str) -> None:
    shown = visible(payload)
    assert not RAW_UNSAFE.search(shown) and "\n" not in shown
    assert visible(shown) == shown
    assert "\n" not in markup(payload)


def test_csv_guard_prefixes_whitespace_then_formula() -> None:
    assert safe_cell(" =cmd") == "' =cmd"
    assert safe_cell("\u3000+1") == "'\u3000+1"
    assert safe_cell("a =b") == "a =b"
    assert safe_cell(-3) == -3


def test_respond_console_lines_show_controls_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    """What revoke/cleanup/restore say (names, AWS messages) reaches the terminal as text."""
    from phantomkeys.cli.respond import Terminal

    Terminal("text").say("user \x1b[2Jalice\nnext \u202eline")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    assert out == "user \\x1b[2Jalice\nnext \\u202eline\n"
