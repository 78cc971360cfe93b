"""The one TARGET resolver: a user name, a long-term key, a short-term key, an access key id.

Pure: the commands read ``-`` from stdin themselves (``cli/stdin.py``) and pass the text
here; each command keeps its own wording for the errors (``TargetError.problem`` says
which) and its own view of the answer. The key's secret is never part of a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from phantomkeys.core import keys as keycodec
from phantomkeys.core.keys import DecodedKey, KeyDecodeError, KeyKind
from phantomkeys.surfaces import SURFACES, SurfaceId

__all__ = [
    "KEY_PREFIXES",
    "ResolvedTarget",
    "TargetError",
    "TargetKind",
    "TargetProblem",
    "resolve_target",
]

#: IAM user and role-session names: 1-64 of letters, digits and ``+=,.@_-``.
IAM_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)
#: An IAM access key id (long-term ``AKIA`` or session ``ASIA``).
ACCESS_KEY_ID_RE = re.compile(r"^(AKIA|ASIA)[A-Z2-7]{12,124}$")
#: Every surface's key prefixes (long-term and short-term).
KEY_PREFIXES = tuple(p for s in SURFACES for p in (s.long_term_key_prefix, s.short_term_key_prefix))


class TargetKind(StrEnum):
    USER = "user"
    LONG_TERM_KEY = "long-term-key"
    SHORT_TERM_KEY = "short-term-key"
    ACCESS_KEY = "access-key"


class TargetProblem(StrEnum):
    EMPTY = "empty"
    #: It looks like a key but does not decode (``reason`` says why).
    BAD_KEY = "bad-key"
    #: Neither a key nor a valid name.
    BAD_NAME = "bad-name"


class TargetError(ValueError):
    """TARGET is not usable; the message never holds key material."""

    def __init__(self, problem: TargetProblem, reason: str = "") -> None:
        super().__init__(reason or problem.value)
        self.problem = problem
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """What TARGET is. ``key`` (the decoded key) is never printed whole."""

    kind: TargetKind
    #: The user name as given (stripped), for USER targets.
    username: str | None = None
    access_key_id: str | None = None
    account_id: str | None = None
    surface: SurfaceId | None = None
    region: str | None = None
    #: The key, redacted: safe to print (None for a user).
    redacted: str | None = None
    key: DecodedKey | None = field(default=None, repr=False)


def resolve_target(
    text: str,
    *,
    partition: str = "aws",
    key_only: bool = False,
    prefix_means_key: bool = False,
    access_key_ids: bool = False,
) -> ResolvedTarget:
    """Classify TARGET.

    ``key_only``: the text must be a key (it came from stdin). ``prefix_means_key``: text
    starting with a surface's key prefix is a key, never a name (commands that write
    refuse rather than act on a key-shaped name). ``access_key_ids``: accept a bare
    ``AKIA``/``ASIA`` id (otherwise it is read as a name).
    """
    raw = text.strip()
    if not raw:
        raise TargetError(TargetProblem.EMPTY)
    normalized = keycodec.normalize(raw)
    if (
        key_only
        or (prefix_means_key and normalized.startswith(KEY_PREFIXES))
        or keycodec.detect(normalized) is not None
    ):
        try:
            decoded = keycodec.decode(normalized, partition=partition)
        except KeyDecodeError as exc:
            raise TargetError(TargetProblem.BAD_KEY, exc.reason) from None
        long_term = decoded.kind is KeyKind.LONG_TERM
        return ResolvedTarget(
            kind=TargetKind.LONG_TERM_KEY if long_term else TargetKind.SHORT_TERM_KEY,
            username=decoded.username if long_term else None,
            access_key_id=None if long_term else decoded.access_key_id,
            account_id=decoded.account_id,
            surface=decoded.surface,
            region=None if long_term else decoded.region,
            redacted=keycodec.redact(normalized),
            key=decoded,
        )
    if access_key_ids and ACCESS_KEY_ID_RE.match(raw):
        return ResolvedTarget(
            kind=TargetKind.ACCESS_KEY,
            access_key_id=raw,
            account_id=keycodec.account_id_from_access_key_id(raw),
        )
    if not IAM_NAME_RE.match(raw):
        raise TargetError(TargetProblem.BAD_NAME)
    return ResolvedTarget(kind=TargetKind.USER, username=raw)
