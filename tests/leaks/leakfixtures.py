"""Real-format keys of every kind, and a realistic project tree with keys planted in it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from phantomkeys.core import keys
from phantomkeys.surfaces import BEDROCK, CLAUDE_PLATFORM

#: The clock every test judges expiry against.
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"


def _secret_with_slash_and_plus(seed: str) -> str:
    """A secret whose key body holds '/' and '+' (so JSON escaping splits it)."""
    for n in range(10_000):
        secret = f"{seed}{n}" + "q~>?" * 8
        body = base64.b64encode(f"BedrockAPIKey-abcd-at-{ACCOUNT}:{secret}".encode()).decode()
        if "/" in body and "+" in body:
            return secret
    raise AssertionError("no secret found")


@dataclass(frozen=True)
class PlantedKey:
    name: str
    key: str
    #: The part that must never appear in any output.
    secret: str


def make_keys() -> dict[str, PlantedKey]:
    lt_bedrock_secret = _secret_with_slash_and_plus("Bk")
    lt_bedrock = keys.encode_long_term(
        BEDROCK, username="BedrockAPIKey-hr8l", account_id=ACCOUNT, secret=lt_bedrock_secret
    )
    lt_claude_secret = "Q2xhdWRlU2VjcmV0" + "x7/+Zk" * 6
    lt_claude = keys.encode_long_term(
        CLAUDE_PLATFORM, username="AeaApiKey-9x2k", account_id=ACCOUNT, secret=lt_claude_secret
    )
    lt_second_secret = "s3c0nd" * 8
    lt_second = keys.encode_long_term(
        BEDROCK, username="ci-deployer", account_id=OTHER_ACCOUNT, secret=lt_second_secret, marker=2
    )
    akia = keys.access_key_id_for_account(ACCOUNT, session=False, entropy=b"\x11abcd")
    asia = keys.access_key_id_for_account(ACCOUNT, session=True, entropy=b"\x22efgh")
    st_bedrock = keys.mint_short_term(
        BEDROCK,
        access_key_id=akia,
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region="us-east-1",
        issued_at=NOW - timedelta(hours=1),
    )
    session_token = (
        "IQoJb3JpZ2luX2VjE" + base64.b64encode(f"session-for-{ACCOUNT}".encode() * 20).decode()
    )
    st_claude = keys.mint_short_term(
        CLAUDE_PLATFORM,
        access_key_id=asia,
        secret_access_key="je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        region="us-west-2",
        issued_at=NOW - timedelta(hours=2),
        session_token=session_token,
    )
    st_expired = keys.mint_short_term(
        BEDROCK,
        access_key_id=akia,
        secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region="eu-west-1",
        issued_at=NOW - timedelta(days=3),
        lifetime_seconds=3600,
    )
    return {
        "lt_bedrock": PlantedKey("lt_bedrock", lt_bedrock, lt_bedrock_secret),
        "lt_claude": PlantedKey("lt_claude", lt_claude, lt_claude_secret),
        "lt_second": PlantedKey("lt_second", lt_second, lt_second_secret),
        "st_bedrock": PlantedKey("st_bedrock", st_bedrock, st_bedrock),
        "st_claude": PlantedKey("st_claude", st_claude, st_claude),
        "st_expired": PlantedKey("st_expired", st_expired, st_expired),
    }


KEYS = make_keys()


def json_escape(key: str) -> str:
    """How some JSON encoders (PHP, Java's older libs) write it: \\/ and \\u002b."""
    return key.replace("/", "\\/").replace("+", "\\u002b").replace("=", "\\u003d")


def decoys() -> str:
    """Text that mentions or resembles keys but holds none that decodes."""
    lt = KEYS["lt_bedrock"].key
    junk_b64 = base64.b64encode(b"this decodes to something else entirely, not a key" * 3)
    return "\n".join(
        [
            "# API keys",
            "Long-term Bedrock keys start with ABSK and Claude Platform keys with AEAA.",
            "Short-term keys start with bedrock-api-key- followed by base64.",
            f"Example: {lt[:60]}...",
            f"Example (unicode ellipsis): {lt[:80]}\u2026",
            "Wrong payload: ABSK" + junk_b64.decode(),
            "Wrong payload: bedrock-api-key-" + junk_b64.decode(),
            "Embedded in a blob: xyz" + lt,
            "",
        ]
    )


#: (relative path, planted key name, 1-based line) of every planted key in the tree.
Planted = list[tuple[str, str, int]]


def write_tree(root: Path) -> Planted:
    """A small realistic project with keys planted in many file kinds."""
    k = {name: p.key for name, p in KEYS.items()}
    planted: Planted = []
    root.mkdir(parents=True, exist_ok=True)

    def write(rel: str, text: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    # python: quoted in source
    py = (
        "import os\n\nimport boto3\n\n\ndef client():\n"
        f'    token = os.environ.get("AWS_BEARER_TOKEN_BEDROCK", "{k["lt_bedrock"]}")\n'
        '    return boto3.client("bedrock-runtime")\n'
    )
    write("src/app/settings.py", py)
    planted.append(("src/app/settings.py", "lt_bedrock", 7))
    # minified javascript: one long line, key in the middle
    js = (
        "!function(e){var t={};"
        + "function n(r){return t[r]}" * 200
        + f'var k="{k["st_bedrock"]}";'
        + "e.exports=n;" * 300
        + "}();\n"
    )
    write("web/dist/app.min.js", js)
    planted.append(("web/dist/app.min.js", "st_bedrock", 1))
    # JSON with escaped slashes / plus
    cfg = '{\n  "region": "us-east-1",\n  "apiKey": "' + json_escape(k["lt_claude"]) + '"\n}\n'
    write("config/prod.json", cfg)
    planted.append(("config/prod.json", "lt_claude", 3))
    # notebook: key inside a JSON-encoded cell source, after a "\n" escape
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Bedrock test\n"]},
            {
                "cell_type": "code",
                "execution_count": 1,
                "metadata": {},
                "outputs": [],
                "source": [
                    "import os\n",
                    f"os.environ['AWS_BEARER_TOKEN_BEDROCK'] = '{k['st_claude']}'\n",
                ],
            },
        ],
        "metadata": {"kernelspec": {"name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    nb_text = json.dumps(nb, indent=1).replace("/", "\\/")
    write("notebooks/explore.ipynb", nb_text)
    nb_line = next(n for n, line in enumerate(nb_text.splitlines(), 1) if "AWS_BEARER" in line)
    planted.append(("notebooks/explore.ipynb", "st_claude", nb_line))
    # .env
    write(".env", f"# local\nAWS_REGION=us-east-1\nBEDROCK_KEY='{k['lt_second']}'\n")
    planted.append((".env", "lt_second", 3))
    # yaml
    write(
        "deploy/values.yaml", f"image: app:1.2\nenv:\n  - name: KEY\n    value: {k['st_expired']}\n"
    )
    planted.append(("deploy/values.yaml", "st_expired", 4))
    # log with an Authorization header
    log = "".join(f"2026-11-29T10:{m:02d}:00Z INFO request ok id={m}\n" for m in range(40))
    log += f"2026-11-29T10:41:00Z DEBUG headers Authorization: Bearer {k['lt_bedrock']}\n"
    write("logs/app.log", log)
    planted.append(("logs/app.log", "lt_bedrock", 41))
    # decoys and a binary file holding a key (skipped by content)
    write("docs/keys.md", decoys())
    (root / "assets").mkdir(exist_ok=True)
    png_header = b"\x89PNG\r\n\x1a\n\x00\x00"
    (root / "assets" / "blob.bin").write_bytes(png_header + k["lt_claude"].encode())
    return planted


def git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_SYSTEM": os.devnull,
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout
