"""``phantomkeys leaks export``: rules for gitleaks, detect-secrets and trufflehog that find
exactly what ``leaks`` finds on the test corpus (each scanner's semantics: RE2 patterns
run by google-re2, detect-secrets itself with the exported plugin)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from leakfixtures import KEYS, json_escape, write_tree

from phantomkeys.cli import cli
from phantomkeys.leaks import ScanOptions, scan
from phantomkeys.leaks.patterns import unescape

re2 = pytest.importorskip("re2")

#: sha256 of a key (leaks' token_sha256) -> the key
BY_TOKEN = {hashlib.sha256(p.key.encode()).hexdigest(): p.key for p in KEYS.values()}

Found = set[tuple[str, int, str]]  # (relative path, line, token sha256)


def export(target: str) -> str:
    result = CliRunner().invoke(cli, ["leaks", "export", "--target", target])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The leak tests' project tree, plus the cases the exports must get right."""
    root = tmp_path_factory.mktemp("corpus") / "project"
    write_tree(root)
    k = {n: p.key for n, p in KEYS.items()}
    extra = (
        f"export AWS_BEARER_TOKEN_BEDROCK={k['st_expired']}\n"
        f'{{"AWS_BEARER_TOKEN_BEDROCK": "{json_escape(k["lt_second"])}"}}\n'
        f"url=https://example.com/?token={k['lt_claude'].replace('+', '%2B').replace('/', '%2F')}\n"
        f"truncated in a doc: {k['st_bedrock'][:200]}<redacted>\n"
        f"in brackets: {k['lt_claude'][:70]}[...]\n"
        f"two on a line: {k['lt_bedrock']} and {k['st_claude']}\n"
    )
    (root / "more.txt").write_text(extra)
    return root


@pytest.fixture(scope="module")
def expected(corpus: Path) -> Found:
    """What ``leaks`` finds: every key at every place."""
    res = scan([str(corpus)], ScanOptions(jobs=1))
    assert not res.errors
    found = {
        (os.path.relpath(h.path, corpus), h.hit.line, h.hit.key.token_sha256) for h in res.hits
    }
    assert len(found) >= 12  # the corpus is not trivially small
    return found


def _text_files(root: Path) -> list[tuple[str, str]]:
    out = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if b"\0" in data[:8000]:
                continue  # binary: every scanner here skips it
            out.append((os.path.relpath(path, root), data.decode("utf-8", "replace")))
    return out


def _token(raw: str) -> str:
    key, _ = unescape(raw.encode("ascii"))
    return hashlib.sha256(key.encode()).hexdigest()


def _run_re2(
    root: Path, patterns: list[tuple[list[str], str, list[str]]]
) -> tuple[Found, dict[int, int]]:
    """Run (keywords, regex, excludes-on-the-whole-match) the way gitleaks and trufflehog
    do: keywords gate a file, the first group is the secret, an exclude drops a match."""
    found: Found = set()
    per_rule: dict[int, int] = {}
    for rel, text in _text_files(root):
        lowered = text.lower()
        for n, (keywords, regex, excludes) in enumerate(patterns):
            if not any(k in lowered for k in keywords):
                continue
            compiled = re2.compile(regex)
            drops = [re2.compile(x) for x in excludes]
            for m in compiled.finditer(text):
                if any(d.search(m.group(0)) for d in drops):
                    continue
                line = text.count("\n", 0, m.start(1)) + 1
                found.add((rel, line, _token(m.group(1))))
                per_rule[n] = per_rule.get(n, 0) + 1
    return found, per_rule


def test_gitleaks_rules_are_re2_and_find_exactly_what_leaks_finds(
    corpus: Path, expected: Found
) -> None:
    text = export("gitleaks")
    assert "phantomkeys decode" in text
    config = tomllib.loads(text)
    assert config["extend"] == {"useDefault": True}
    rules = config["rules"]
    assert len({r["id"] for r in rules}) == len(rules) == 5
    patterns = []
    for rule in rules:
        regex = re2.compile(rule["regex"])  # RE2-valid
        assert regex.groups == 1 and rule["secretGroup"] == 1  # the key is the one group
        assert rule["keywords"] == [k.lower() for k in rule["keywords"]]
        (allow,) = rule["allowlists"]
        assert allow["regexTarget"] == "match"
        patterns.append((rule["keywords"], rule["regex"], allow["regexes"]))
    found, per_rule = _run_re2(corpus, patterns)
    assert found == expected
    # the AWS_BEARER_TOKEN_BEDROCK rule fires on the assignments (and only finds keys)
    assert per_rule[4] >= 3


def test_trufflehog_detectors_are_valid_and_find_exactly_what_leaks_finds(
    corpus: Path, expected: Found
) -> None:
    text = export("trufflehog")
    assert text.startswith("#") and "phantomkeys decode" in text
    doc = yaml.safe_load(text)
    assert set(doc) == {"detectors"}
    names = set()
    patterns = []
    for det in doc["detectors"]:
        # what trufflehog's custom_detectors validation requires
        assert set(det) <= {
            "name",
            "keywords",
            "regex",
            "verify",
            "exclude_regexes_match",
            "exclude_regexes_capture",
            "entropy",
            "exclude_words",
            "primary_regex_name",
        }
        assert isinstance(det["name"], str) and det["name"] and det["name"] not in names
        names.add(det["name"])
        assert det["keywords"] and all(isinstance(k, str) and k for k in det["keywords"])
        assert isinstance(det["regex"], dict) and list(det["regex"]) == ["key"]
        (regex,) = det["regex"].values()
        assert re2.compile(regex).groups == 1  # trufflehog reports the first group
        for x in det["exclude_regexes_match"]:
            re2.compile(x)
        assert "verify" not in det  # keys are never sent to a webhook
        patterns.append((det["keywords"], regex, det["exclude_regexes_match"]))
    found, _ = _run_re2(corpus, patterns)
    assert found == expected


def test_detect_secrets_plugin_finds_exactly_what_leaks_finds(
    corpus: Path, expected: Found, tmp_path: Path
) -> None:
    pytest.importorskip("detect_secrets")
    plugin = tmp_path / "phantomkeys_detect_secrets.py"
    plugin.write_text(export("detect-secrets"))
    base = [sys.executable, "-m", "detect_secrets", "scan", "--plugin", str(plugin)]
    listed = subprocess.run(
        [*base, "--list-all-plugins"], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert "PhantomkeysApiKeyDetector" in listed
    disable = [
        a
        for name in listed
        if name != "PhantomkeysApiKeyDetector"
        for a in ("--disable-plugin", name)
    ]

    def run(*extra: str) -> tuple[Found, subprocess.CompletedProcess[str]]:
        proc = subprocess.run(
            [*base, *disable, *extra, "--all-files", "."],
            cwd=corpus,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        results = json.loads(proc.stdout)["results"]
        assert {r["type"] for items in results.values() for r in items} == {
            "Amazon Bedrock / Claude Platform API key"
        }
        return {
            (os.path.normpath(r["filename"]), r["line_number"], by_sha1[r["hashed_secret"]])
            for items in results.values()
            for r in items
        }, proc

    by_sha1 = {hashlib.sha1(k.encode()).hexdigest(): t for t, k in BY_TOKEN.items()}  # noqa: S324
    # as the export's comment says to run it
    found, proc = run("--disable-filter", "detect_secrets.filters.heuristic.is_indirect_reference")
    assert found == expected
    # with detect-secrets' defaults, its heuristic hides a key used as a default value
    # (the limitation the export's comment names)
    default_found, _ = run()
    assert {(p, n) for p, n, _ in expected - default_found} == {("src/app/settings.py", 7)}
    assert "is_indirect_reference" in plugin.read_text()
    for frag in (p.secret for p in KEYS.values()):
        assert frag not in proc.stdout


def test_export_writes_a_file_and_rejects_unknown_targets(tmp_path: Path) -> None:
    out = tmp_path / "rules.toml"
    result = CliRunner().invoke(cli, ["leaks", "export", "--target", "gitleaks", "-o", str(out)])
    assert result.exit_code == 0
    assert tomllib.loads(out.read_text())["rules"]
    bad = CliRunner().invoke(cli, ["leaks", "export", "--target", "semgrep"])
    assert bad.exit_code == 2
    assert "leaks export" in bad.output
