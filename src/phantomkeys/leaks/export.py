"""Our key knowledge as rules for other scanners: gitleaks, detect-secrets, trufflehog.

``phantomkeys leaks export --target gitleaks|detect-secrets|trufflehog`` writes rules
for the four key formats (long-term ``ABSK``/``AEAA``, short-term ``bedrock-api-key-``
/ ``aws-external-anthropic-api-key-``) and for the ``AWS_BEARER_TOKEN_BEDROCK``
variable, so a team that already runs one of those scanners finds the same keys
``phantomkeys leaks`` finds.

A regex cannot decode a key, so the rules encode what decoding checks where a regex
can see it, in the base64 text itself:

* a long-term key's body is base64 of ``<user>-at-<12-digit account>:<secret>``.
  :func:`_structure` computes, for each of the three byte alignments, which base64
  characters can encode ``-at-`` + 12 digits + ``:`` — so a base64 blob that merely
  starts with ``ABSK`` is not a match;
* a short-term key's body is base64 of a presigned URL for the surface's host, whose
  encoding is a fixed prefix (``YmVkcm9jay5hbWF6b25hd3MuY29t`` is
  ``bedrock.amazonaws.com``);
* JSON escapes (``\\/``, ``\\u002b``) and URL escapes (``%2B``, ``%2F``, ``%3D``)
  inside the base64 run, as in notebooks and minified bundles
  (:data:`phantomkeys.leaks.patterns.KEY_RE` reads the same);
* a long-term prefix inside a longer base64 run is not a key start, and a run followed
  by ``...``, ``…``, ``[...]`` or ``<redacted`` is a truncated example (excluded by an
  allowlist on the whole match: RE2, which gitleaks and trufflehog use, has no
  look-around).

What the other scanners cannot do, and the exports say so in their comments: decode
the account, user, surface and expiry (an expired short-term key is still reported),
reject a key whose payload is malformed past the part a regex sees, or verify a key —
``phantomkeys decode`` (offline) and ``phantomkeys leaks --verify`` (read-only IAM
calls) do. The patterns are RE2-valid (tested with google-re2) and Python-``re``-valid.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass

from phantomkeys._meta import __version__
from phantomkeys.surfaces import SURFACES, Surface

TARGETS = ("gitleaks", "detect-secrets", "trufflehog")

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#: One base64 character: itself, or JSON / URL escaped (as ``patterns._B64_UNIT``).
_UNIT = r"(?:[A-Za-z0-9+/]|\\/|\\u00(?:2[bBfF]|3[dD])|%2[bBfF]|%3[dD])"
_PAD = r"(?:=|\\u003[dD]|%3[dD])"
#: A long-term prefix is a key start at the start of a line, after a non-base64
#: character, or after a JSON escape such as ``\n`` (``patterns.match_at``).
_LONG_START = r"(?:^|[^A-Za-z0-9+/]|\\[A-Za-z0-9+/])"
#: What marks an example as truncated right after the key (``patterns._TRUNCATION_MARKS``).
_TRUNCATED = {
    "re2": r"(?:\.\.\.|\x{2026}|\[\.\.\.\]|(?i:<redacted))",
    "python": r"(?:\.\.\.|\u2026|\[\.\.\.\]|(?i:<redacted))",
}
#: Short-term bodies are at least this many base64 characters (``patterns.SHORT_TERM_BODY``).
_SHORT_TERM_MIN_BODY = 120
BEARER_VARIABLE = "AWS_BEARER_TOKEN_BEDROCK"
#: ``NAME = "``, ``"NAME": "``, ``['NAME'] = '``, ``get("NAME", "`` before the value.
_ASSIGNMENT = r"""[\s"'\\\])]*[=:,][\s"'\\(]*"""

_USER_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+=,.@-")
_DIGITS = frozenset(b"0123456789")
_PRINTABLE = frozenset(range(0x21, 0x7F))

DECODE_HINT = (
    "A match is a key's shape, not proof: run `phantomkeys decode -` (paste the key on "
    "stdin; nothing leaves the machine) to see its account, IAM user, surface and "
    "expiry, or `phantomkeys leaks PATH --verify` to ask IAM whether it still works."
)


@dataclass(frozen=True, slots=True)
class ExportRule:
    id: str
    description: str
    keywords: tuple[str, ...]
    #: The pattern: the key is the named group ``key`` (the only capturing group).
    regex: str
    tags: tuple[str, ...]


# ------------------------------------------------------------------ patterns


def _class(chars: Iterable[str]) -> str:
    """A character class for ``chars`` (base64 characters), ranges collapsed."""
    ordered = sorted(set(chars), key=_B64.index)
    if len(ordered) == 1:
        return _escaped_char(ordered[0])
    runs: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while (
            j + 1 < len(ordered)
            and ord(ordered[j + 1]) == ord(ordered[j]) + 1
            and ordered[j + 1].isalnum()
        ):
            j += 1
        runs.append(ordered[i] if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    body = "".join(runs)
    escapes = []
    if "+" in ordered:
        escapes.append(r"\\u002[bB]|%2[bB]")
    if "/" in ordered:
        escapes.append(r"\\/|\\u002[fF]|%2[fF]")
    return f"(?:[{body}]|{'|'.join(escapes)})" if escapes else f"[{body}]"


def _escaped_char(c: str) -> str:
    if c == "+":
        return r"(?:\+|\\u002[bB]|%2[bB])"
    if c == "/":
        return r"(?:/|\\/|\\u002[fF]|%2[fF])"
    return c


def _encode_sets(byte_sets: list[frozenset[int]]) -> list[frozenset[str]]:
    """For bytes drawn from these sets (a multiple of 3), the possible base64 characters
    at each position."""
    out: list[frozenset[str]] = []
    for g in range(0, len(byte_sets), 3):
        a, b, c = byte_sets[g : g + 3]
        out.append(frozenset(_B64[x >> 2] for x in a))
        out.append(frozenset(_B64[((x & 3) << 4) | (y >> 4)] for x in a for y in b))
        out.append(frozenset(_B64[((y & 15) << 2) | (z >> 6)] for y in b for z in c))
        out.append(frozenset(_B64[z & 63] for z in c))
    return out


def _structure() -> str:
    """Base64 of ``-at-<12 digits>:`` at any of the three byte alignments, preceded by
    whole 4-character groups (the user name) and followed by the rest of the secret."""
    fixed = [frozenset([b]) for b in b"-at-"] + [_DIGITS] * 12 + [frozenset(b":")]
    alternatives = []
    for r in range(3):
        seq = [_USER_BYTES] * r + fixed
        seq += [_PRINTABLE] * (-len(seq) % 3)
        alternatives.append("".join(_class(s) for s in _encode_sets(seq)))
    return f"(?:{_UNIT}{{4}})*(?:{'|'.join(alternatives)})"


def _fixed(text: bytes) -> str:
    """The base64 characters that always encode ``text`` at the start of a payload."""
    whole = base64.b64encode(text[: len(text) // 3 * 3]).decode("ascii")
    return "".join(_class(c) for c in whole)


def _long_term(surface: Surface) -> str:
    return f"{surface.long_term_key_prefix}{_structure()}{_UNIT}*{_PAD}{{0,2}}"


def _short_term(surface: Surface) -> str:
    host = surface.signing_host.encode("ascii") + b"/"
    starts = [_fixed(host), _fixed(b"https://" + host)]
    rest = _SHORT_TERM_MIN_BODY - len(base64.b64encode(host[: len(host) // 3 * 3]))
    return f"{surface.short_term_key_prefix}(?:{'|'.join(starts)}){_UNIT}{{{rest},}}{_PAD}{{0,2}}"


def _key_patterns() -> list[tuple[Surface, str, str, bool]]:
    """(surface, kind, pattern, long-term?) for the four formats."""
    out = []
    for s in SURFACES:
        out.append((s, "long-term", _long_term(s), True))
        out.append((s, "short-term", _short_term(s), False))
    return out


def rules(flavour: str = "re2") -> list[ExportRule]:
    """The rules, in ``re2`` (gitleaks, trufflehog) or ``python`` (detect-secrets) syntax;
    each matches one key as group ``key`` and, optionally, a truncation mark after it
    (an allowlist drops those matches)."""
    tail = f"(?:{_TRUNCATED[flavour]})?"
    out = []
    for surface, kind, pattern, is_long in _key_patterns():
        start = _LONG_START if is_long else ""
        prefix = surface.long_term_key_prefix if is_long else surface.short_term_key_prefix
        out.append(
            ExportRule(
                id=f"phantomkeys-{surface.id.value}-{kind}-api-key",
                description=f"{surface.display_name} {kind} API key ({prefix}…)",
                keywords=(prefix.lower(),),
                regex=f"(?m){start}(?P<key>{pattern}){tail}",
                tags=("phantomkeys", "aws", surface.id.value, kind),
            )
        )
    any_key = "|".join(p for _, _, p, _ in _key_patterns())
    out.append(
        ExportRule(
            id="phantomkeys-aws-bearer-token-bedrock",
            description=f"An API key assigned to {BEARER_VARIABLE} (read by the AWS SDKs)",
            keywords=(BEARER_VARIABLE.lower(),),
            regex=f"(?m){BEARER_VARIABLE}{_ASSIGNMENT}(?P<key>{any_key}){tail}",
            tags=("phantomkeys", "aws", "bedrock", "environment"),
        )
    )
    return out


def truncated_match(flavour: str = "re2") -> str:
    """The allowlist pattern for a whole match that ends in a truncation mark."""
    return f"{_TRUNCATED[flavour]}$"


# ------------------------------------------------------------------ renderers


def _header(comment: str, target: str) -> str:
    lines = [
        f"phantomkeys {__version__}: Amazon Bedrock and Claude Platform on AWS API keys, "
        f"as {target} rules.",
        f"Generated by `phantomkeys leaks export --target {target}`; regenerate rather than edit.",
        "",
        f"What {target} cannot do with these rules: decode a key (its account id, IAM "
        "user, surface and expiry are inside the base64), tell an expired short-term "
        "key from a live one, or verify a key with AWS.",
        DECODE_HINT,
    ]
    return "".join(f"{comment} {line}".rstrip() + "\n" for line in lines)


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def _toml_literal(text: str) -> str:
    if "'''" in text or text.endswith("'"):  # pragma: no cover - our patterns never do
        raise ValueError("pattern cannot be a TOML multi-line literal string")
    return f"'''{text}'''"


def gitleaks() -> str:
    """A gitleaks configuration (``[[rules]]``; extends the default rules)."""
    out = [_header("#", "gitleaks")]
    out.append(
        "#\n# Use: gitleaks dir . --config phantomkeys.gitleaks.toml   (or git / detect)\n"
        "# or copy the [[rules]] into your own .gitleaks.toml.\n\n"
        'title = "phantomkeys: Bedrock and Claude Platform API keys"\n\n'
        "[extend]\nuseDefault = true\n"
    )
    for rule in rules("re2"):
        out.append(
            "\n[[rules]]\n"
            f"id = {_toml_string(rule.id)}\n"
            f"description = {_toml_string(rule.description)}\n"
            f"regex = {_toml_literal(rule.regex)}\n"
            "secretGroup = 1\n"
            f"keywords = [{', '.join(_toml_string(k) for k in rule.keywords)}]\n"
            f"tags = [{', '.join(_toml_string(t) for t in rule.tags)}]\n"
            "\n[[rules.allowlists]]\n"
            'description = "a truncated example in documentation (ends in ... or <redacted>)"\n'
            'regexTarget = "match"\n'
            f"regexes = [{_toml_literal(truncated_match('re2'))}]\n"
        )
    return "".join(out)


def trufflehog() -> str:
    """trufflehog custom detectors (``--config``); no verification endpoint."""
    import yaml

    detectors = [
        {
            "name": rule.id,
            "keywords": list(rule.keywords),
            "regex": {"key": rule.regex},
            "exclude_regexes_match": [truncated_match("re2")],
        }
        for rule in rules("re2")
    ]
    body = yaml.safe_dump({"detectors": detectors}, sort_keys=False, width=1 << 20)
    usage = (
        "#\n# Use: trufflehog filesystem . --config phantomkeys.trufflehog.yaml "
        "--no-verification\n"
        "# No `verify` endpoint: a key is verified with the holder's own AWS credentials "
        "(phantomkeys leaks --verify), never by sending it to a webhook.\n"
    )
    return _header("#", "trufflehog") + usage + body


_DETECT_SECRETS_TEMPLATE = '''{header}#
# Use:
#   detect-secrets scan --plugin phantomkeys_detect_secrets.py --all-files \\
#     --disable-filter detect_secrets.filters.heuristic.is_indirect_reference .
# (with a baseline: detect-secrets scan --plugin ... > .secrets.baseline)
#
# Why that --disable-filter: detect-secrets' is_indirect_reference heuristic drops every
# secret on a line that looks like a call, so a key written as a default value,
#   token = os.environ.get("AWS_BEARER_TOKEN_BEDROCK", "ABSK...")
# is never reported while it is on.
"""phantomkeys' Bedrock and Claude Platform API key detector for detect-secrets."""

import re

from detect_secrets.plugins.base import BasePlugin

_PATTERNS = {patterns}
_TRUNCATED = re.compile({truncated})
_ESCAPES = re.compile(r"\\\\/|\\\\u00(?:2[bBfF]|3[dD])|%2[bBfF]|%3[dD]")
_PLAIN = {{"\\\\/": "/", "%2b": "+", "%2f": "/", "%3d": "="}}


def _unescape(raw):
    """The key with JSON / URL escapes undone (what `phantomkeys decode` reads)."""

    def one(m):
        token = m.group(0).lower()
        if token.startswith("\\\\u"):
            return chr(int(token[2:], 16))
        return _PLAIN[token]

    return _ESCAPES.sub(one, raw)


class PhantomkeysApiKeyDetector(BasePlugin):
    """Amazon Bedrock and Claude Platform on AWS API keys (long-term and short-term)."""

    secret_type = "Amazon Bedrock / Claude Platform API key"

    def __init__(self):
        self._regexes = [re.compile(p) for p in _PATTERNS.values()]

    def analyze_string(self, string):
        found = set()
        for regex in self._regexes:
            for match in regex.finditer(string):
                if _TRUNCATED.search(match.group(0)):
                    continue  # a truncated example in documentation
                key = _unescape(match.group("key"))
                if key not in found:
                    found.add(key)
                    yield key
'''


def detect_secrets() -> str:
    """A detect-secrets plugin module (``--plugin FILE``)."""
    patterns = "{\n" + "".join(f"    {r.id!r}: {r.regex!r},\n" for r in rules("python")) + "}"
    return _DETECT_SECRETS_TEMPLATE.format(
        header=_header("#", "detect-secrets"),
        patterns=patterns,
        truncated=repr(truncated_match("python")),
    )


def export(target: str) -> str:
    if target == "gitleaks":
        return gitleaks()
    if target == "trufflehog":
        return trufflehog()
    if target == "detect-secrets":
        return detect_secrets()
    raise ValueError(f"unknown target {target!r}: one of {', '.join(TARGETS)}")
