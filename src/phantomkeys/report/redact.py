"""Last line of defence: no report format ever carries a key's secret.

Producers never put secrets in documents, but reports are pasted into tickets,
uploaded to Security Hub and mailed around, so every renderer goes through
:func:`scrub` first: any text shaped like a full API key (of any surface in
:mod:`phantomkeys.surfaces`) becomes :func:`phantomkeys.core.keys.redact`'s
preview, and fields that only ever hold secrets are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from phantomkeys.core.keys import redact
from phantomkeys.surfaces import SURFACES

#: Field names that hold secrets in AWS responses or in ``decode --reveal``.
SECRET_FIELDS: frozenset[str] = frozenset(
    {
        "secret",
        "ServiceCredentialSecret",
        "ServicePassword",
        "ServiceApiKeyValue",
        "SecretAccessKey",
        "SessionToken",
        "secret_access_key",
        "session_token",
    }
)

# Long-term keys are prefix + base64 of a ~100+ character payload; short-term keys
# are prefix + base64 of a presigned URL (hundreds of characters). 40 characters
# of key alphabet after the prefix is far beyond any redacted preview (which keeps
# 8 and then an ellipsis) and far below any real key.
_KEY_RE = re.compile(
    "(?:"
    + "|".join(re.escape(s.short_term_key_prefix) for s in SURFACES)
    + r")[A-Za-z0-9+/=_%-]{40,}"
    + "|(?<![A-Za-z0-9+/])(?:"
    + "|".join(re.escape(s.long_term_key_prefix) for s in SURFACES)
    + r")[A-Za-z0-9+/]{40,}={0,2}"
)


def scrub_text(value: str) -> str:
    if len(value) < 44:
        return value
    return _KEY_RE.sub(lambda m: redact(m.group(0)), value)


def scrub(value: Any) -> Any:
    """A deep copy of ``value`` with key-shaped text redacted and secret fields dropped."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: scrub(v) for k, v in value.items() if k not in SECRET_FIELDS}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value
