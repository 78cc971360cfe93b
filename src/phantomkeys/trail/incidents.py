"""One verdict per principal: the rules' findings combined into scored incidents.

After the rules run, every finding is attached to the identity it is about
(an IAM user is the same identity whether a rule names it by ARN, as the
caller, or by user name, as the target of an IAM change). A principal's
findings whose activity lies within ``window`` of each other form one
incident. Its risk score is a sum of named parts, each shown with its points
and what triggered it:

* from the principal's own history (the ``profile`` every engine computes with
  the same SQL from the rules' hits, :mod:`phantomkeys.trail.queries`):
  ``new_source_ip``, ``new_user_agent``, ``new_region`` (a value first seen at
  least ``baseline`` after the principal's first recorded call),
  ``http_tool`` (a user agent holding an HTTP tool's token), ``volume`` (a
  5-minute invocation count far above the principal's own median) and
  ``sustained_new_origin`` (many invocations from never-seen source IPs, even
  below the spike threshold);
* from findings (rule -> part, ``rules`` in the config): ``pivot``,
  ``tamper``, ``logging_tamper``, ``destructive``, ``costly``,
  ``persistence``, ``recon``, ``long_term_bearer`` and others.

The score maps to a severity through ``thresholds``. Weights, thresholds,
windows and allowlists (principals, CIDRs, user agents) come from a rules
config file (``hunt --config``), validated by :func:`parse_config`.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from phantomkeys.core.findings import Finding, Rule, Severity, sort_findings

INCIDENT_RULE_ID = "incident"

#: HTTP tools and scripting runtimes, matched anywhere in the user agent
#: (``Python/3.11 aiohttp/3.9.5``). The bearer-token-http-tool rule lists the same.
HTTP_TOOL_TOKENS: tuple[str, ...] = (
    "curl/",
    "python-requests/",
    "python-httpx/",
    "aiohttp/",
    "Python-urllib/",
    "Go-http-client/",
    "PostmanRuntime/",
    "Wget/",
    "axios/",
    "node-fetch",
    "undici",
    "okhttp/",
    "HTTPie/",
    "insomnia/",
    "libwww-perl/",
    "Java-http-client/",
)

#: Part name -> points (defaults).
DEFAULT_WEIGHTS: dict[str, int] = {
    "new_source_ip": 20,
    "new_user_agent": 10,
    "new_region": 15,
    "http_tool": 20,
    "volume": 25,
    "sustained_new_origin": 35,
    "long_term_bearer": 10,
    "recon": 20,
    "model_access": 20,
    "cross_region": 30,
    "key_created": 5,
    "key_without_expiry": 15,
    "key_reset": 20,
    "destructive": 40,
    "costly": 40,
    "tamper": 60,
    "logging_tamper": 100,
    "pivot": 60,
    "persistence": 60,
    # Findings of rules the config does not map: points by the finding's severity.
    "other_low": 5,
    "other_medium": 15,
    "other_high": 40,
    "other_critical": 100,
}

#: Rule -> part. ``None``: the rule's evidence is already counted from the profile.
DEFAULT_RULE_PARTS: dict[str, str | None] = {
    "bearer-token-call": None,
    "bearer-token-invocation": None,
    "model-invocation-call": None,
    "invocation-spike": None,
    "bearer-new-source-ip": None,
    "bearer-new-user-agent": None,
    "bearer-new-region": None,
    "phantom-user-claude-policy-attached": None,
    "bearer-token-http-tool": "http_tool",
    "long-term-key-call": "long_term_bearer",
    "model-recon-call": "recon",
    "model-access-recon": "recon",
    "model-access-probe": "recon",
    "recon-then-invoke": "recon",
    "model-access-enabled": "model_access",
    "cross-region-burst": "cross_region",
    "api-key-created": "key_created",
    "phantom-user-created": "key_created",
    "api-key-created-without-expiry": "key_without_expiry",
    "api-key-secret-reset": "key_reset",
    "bearer-token-destructive-action": "destructive",
    "bearer-token-costly-resource": "costly",
    "bearer-token-guardrail-tampering": "tamper",
    "key-logging-tampering": "logging_tamper",
    "phantom-user-pivot": "pivot",
    "phantom-user-credential-added": "persistence",
    "phantom-user-policy-added": "persistence",
    "phantom-user-claude-policy-escalated": "persistence",
}

_PROFILE_PARTS = (
    "new_source_ip",
    "new_user_agent",
    "new_region",
    "http_tool",
    "volume",
    "sustained_new_origin",
)

#: Score at or above -> severity (checked from the top).
DEFAULT_THRESHOLDS: dict[str, int] = {"critical": 100, "high": 60, "medium": 30, "low": 10}

_SPAN_RE = re.compile(r"^(\d+)\s*([smhd])$")
_SPAN_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(ValueError):
    """The rules config is not usable; the message names the key and the problem."""


@dataclass(frozen=True, slots=True)
class ScoreConfig:
    window_seconds: int = 86400
    baseline_seconds: int = 3600
    weights: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    thresholds: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    rule_parts: Mapping[str, str | None] = field(default_factory=lambda: dict(DEFAULT_RULE_PARTS))
    volume_min_invocations: int = 20
    volume_factor: float = 5.0
    sustained_invocations: int = 50
    http_tools: tuple[str, ...] = HTTP_TOOL_TOKENS
    allow_principals: tuple[str, ...] = ()
    allow_cidrs: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    allow_user_agents: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_seconds": self.window_seconds,
            "baseline_seconds": self.baseline_seconds,
            "weights": dict(self.weights),
            "thresholds": dict(self.thresholds),
            "volume": {
                "min_invocations": self.volume_min_invocations,
                "factor": self.volume_factor,
                "sustained_invocations": self.sustained_invocations,
            },
            "allowlist": {
                "principals": list(self.allow_principals),
                "cidrs": [str(c) for c in self.allow_cidrs],
                "user_agents": list(self.allow_user_agents),
            },
        }


# ----------------------------------------------------------------- config


def _span(value: Any, key: str) -> int:
    m = _SPAN_RE.match(str(value).strip().lower())
    if not m or int(m.group(1)) <= 0:
        raise ConfigError(f"{key}: {value!r} is not a duration like 30m, 24h or 7d")
    return int(m.group(1)) * _SPAN_UNITS[m.group(2)]


def _mapping(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{key}: must be a mapping")
    return value


def _strings(value: Any, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key}: must be a list of non-empty strings")
    return tuple(value)


def _int(value: Any, key: str, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(f"{key}: must be a whole number >= {lo}")
    return value


def _check_keys(data: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    allowed = tuple(allowed)
    for k in data:
        if k not in allowed:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"{prefix}{k}: unknown key (known: {', '.join(allowed)})")


def parse_config(data: Any, known_rules: Iterable[str] = ()) -> ScoreConfig:
    """Validate a rules config (the YAML document of ``hunt --config``)."""
    if data is None:
        return ScoreConfig()
    top = _mapping(data, "config")
    _check_keys(
        top,
        ("incidents", "weights", "thresholds", "volume", "allowlist", "http_tools", "rules"),
        "",
    )
    cfg = ScoreConfig()
    changes: dict[str, Any] = {}
    if "incidents" in top:
        inc = _mapping(top["incidents"], "incidents")
        _check_keys(inc, ("window", "baseline"), "incidents")
        if "window" in inc:
            changes["window_seconds"] = _span(inc["window"], "incidents.window")
        if "baseline" in inc:
            changes["baseline_seconds"] = _span(inc["baseline"], "incidents.baseline")
    if "weights" in top:
        w = dict(cfg.weights)
        for k, v in _mapping(top["weights"], "weights").items():
            if k not in DEFAULT_WEIGHTS:
                raise ConfigError(
                    f"weights.{k}: unknown part (known: {', '.join(sorted(DEFAULT_WEIGHTS))})"
                )
            w[k] = _int(v, f"weights.{k}")
        changes["weights"] = w
    if "thresholds" in top:
        t = dict(cfg.thresholds)
        for k, v in _mapping(top["thresholds"], "thresholds").items():
            if k not in DEFAULT_THRESHOLDS:
                raise ConfigError(
                    f"thresholds.{k}: unknown level (known: critical, high, medium, low)"
                )
            t[k] = _int(v, f"thresholds.{k}", 1)
        order = [t["low"], t["medium"], t["high"], t["critical"]]
        if order != sorted(order):
            raise ConfigError("thresholds: need low <= medium <= high <= critical")
        changes["thresholds"] = t
    if "volume" in top:
        vol = _mapping(top["volume"], "volume")
        _check_keys(vol, ("min_invocations", "factor", "sustained_invocations"), "volume")
        if "min_invocations" in vol:
            changes["volume_min_invocations"] = _int(
                vol["min_invocations"], "volume.min_invocations", 1
            )
        if "sustained_invocations" in vol:
            changes["sustained_invocations"] = _int(
                vol["sustained_invocations"], "volume.sustained_invocations", 1
            )
        if "factor" in vol:
            f = vol["factor"]
            if isinstance(f, bool) or not isinstance(f, (int, float)) or f < 1:
                raise ConfigError("volume.factor: must be a number >= 1")
            changes["volume_factor"] = float(f)
    if "allowlist" in top:
        allow = _mapping(top["allowlist"], "allowlist")
        _check_keys(allow, ("principals", "cidrs", "user_agents"), "allowlist")
        if "principals" in allow:
            changes["allow_principals"] = _strings(allow["principals"], "allowlist.principals")
        if "user_agents" in allow:
            changes["allow_user_agents"] = _strings(allow["user_agents"], "allowlist.user_agents")
        if "cidrs" in allow:
            nets = []
            for c in _strings(allow["cidrs"], "allowlist.cidrs"):
                try:
                    nets.append(ipaddress.ip_network(c, strict=False))
                except ValueError:
                    raise ConfigError(f"allowlist.cidrs: {c!r} is not an IP network") from None
            changes["allow_cidrs"] = tuple(nets)
    if "http_tools" in top:
        changes["http_tools"] = _strings(top["http_tools"], "http_tools")
    if "rules" in top:
        parts = dict(cfg.rule_parts)
        known = set(known_rules)
        for k, v in _mapping(top["rules"], "rules").items():
            if known and k not in known:
                raise ConfigError(f"rules.{k}: no such rule in the pack")
            if v is not None and (not isinstance(v, str) or v not in DEFAULT_WEIGHTS):
                known_parts = ", ".join(sorted(DEFAULT_WEIGHTS))
                raise ConfigError(f"rules.{k}: {v!r} is not a score part ({known_parts}, or null)")
            parts[str(k)] = v
        changes["rule_parts"] = parts
    return replace(cfg, **changes)


# ----------------------------------------------------------------- profile


@dataclass(frozen=True, slots=True)
class ValueUse:
    value: str
    first_seen: datetime
    last_seen: datetime
    events: int
    invocations: int


@dataclass(slots=True)
class PrincipalProfile:
    """What the rules' hits show of one principal: its values and invocation volume."""

    first_seen: datetime | None = None
    last_seen: datetime | None = None
    values: dict[str, list[ValueUse]] = field(default_factory=dict)
    buckets: dict[int, int] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Profile:
    principals: dict[tuple[str, str], PrincipalProfile] = field(default_factory=dict)

    def get(self, key: tuple[str, str]) -> PrincipalProfile | None:
        return self.principals.get(key)


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace(" UTC", "").replace("Z", "").replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def build_profile(
    value_rows: Iterable[Mapping[str, Any]], volume_rows: Iterable[Mapping[str, Any]]
) -> Profile:
    """From the rows of ``profile_values_sql`` and ``profile_volume_sql`` (any engine)."""
    prof = Profile()
    for row in value_rows:
        key = identity_key(str(row.get("a") or ""), str(row.get("p") or ""))
        pp = prof.principals.setdefault(key, PrincipalProfile())
        pp.names.add(str(row.get("p") or ""))
        first, last = _dt(row.get("first_seen")), _dt(row.get("last_seen"))
        if first is None or last is None:
            continue
        kind = str(row.get("kind"))
        if kind == "all":
            pp.first_seen = first if pp.first_seen is None else min(pp.first_seen, first)
            pp.last_seen = last if pp.last_seen is None else max(pp.last_seen, last)
            continue
        pp.values.setdefault(kind, []).append(
            ValueUse(
                str(row.get("v")),
                first,
                last,
                int(row.get("events") or 0),
                int(row.get("invocations") or 0),
            )
        )
    for row in volume_rows:
        key = identity_key(str(row.get("a") or ""), str(row.get("p") or ""))
        pp = prof.principals.setdefault(key, PrincipalProfile())
        bucket = int(row.get("bucket") or 0)
        pp.buckets[bucket] = pp.buckets.get(bucket, 0) + int(row.get("n") or 0)
    # A GROUP BY returns its rows in no set order (DuckDB aggregates in parallel): list
    # each principal's values by first use, then by value, so the score parts' details
    # (and the document) are the same on every run and every engine.
    for pp in prof.principals.values():
        for uses in pp.values.values():
            uses.sort(key=lambda u: (u.first_seen, u.value))
    return prof


# ---------------------------------------------------------------- identity

_IAM_USER_ARN = re.compile(r"^arn:[^:]+:iam::(\d{12}):user/(?:.*/)?([^/]+)$")


def identity_key(account: str, subject: str) -> tuple[str, str]:
    """(account, identity): IAM users by name, anything else as written."""
    m = _IAM_USER_ARN.match(subject)
    if m:
        return (account or m.group(1), "user/" + m.group(2))
    if subject and ":" not in subject and "/" not in subject and " " not in subject:
        return (account, "user/" + subject)
    return (account, subject)


# ----------------------------------------------------------------- scoring


@dataclass(frozen=True, slots=True)
class ScorePart:
    name: str
    points: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"part": self.name, "points": self.points, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class Incident:
    account_id: str
    principal: str
    first_seen: datetime
    last_seen: datetime
    score: int
    severity: Severity
    parts: tuple[ScorePart, ...]
    findings: tuple[Finding, ...]
    #: 0 for a principal's first incident in the hunt, 1 for the next window, ...
    ordinal: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "account_id": self.account_id or None,
            "severity": self.severity.value,
            "score": self.score,
            "score_parts": [p.to_dict() for p in self.parts],
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "findings": [
                {"rule_id": f.rule_id, "severity": f.severity.value, "fingerprint": f.fingerprint}
                for f in self.findings
            ],
        }

    def summary(self) -> str:
        """``score 75 (high) = new_source_ip 20 + http_tool 20 + ...``."""
        parts = " + ".join(f"{p.name} {p.points} ({p.detail})" for p in self.parts) or "no parts"
        return f"risk score {self.score} ({self.severity.value}) = {parts}"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def severity_for(score: int, thresholds: Mapping[str, int]) -> Severity:
    for name, sev in (
        ("critical", Severity.CRITICAL),
        ("high", Severity.HIGH),
        ("medium", Severity.MEDIUM),
        ("low", Severity.LOW),
    ):
        if score >= thresholds[name]:
            return sev
    return Severity.INFO


def is_http_tool(agent: str, tokens: Sequence[str]) -> bool:
    low = agent.lower()
    return any(t.lower() in low for t in tokens)


def _allowed_ip(ip: str, cfg: ScoreConfig) -> bool:
    if not cfg.allow_cidrs:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in cfg.allow_cidrs)


def _allowed_agent(agent: str, cfg: ScoreConfig) -> bool:
    low = agent.lower()
    return any(a.lower() in low for a in cfg.allow_user_agents)


def _allowed_principal(names: Iterable[str], cfg: ScoreConfig) -> bool:
    return any(fnmatch.fnmatchcase(n, pat) for n in names for pat in cfg.allow_principals)


def _finding_span(f: Finding) -> tuple[datetime, datetime] | None:
    first = _dt(f.evidence.get("first_seen"))
    last = _dt(f.evidence.get("last_seen")) or first
    if first is None or last is None:
        return None
    return first, last


def _short(values: Sequence[str], limit: int = 3) -> str:
    head = ", ".join(values[:limit])
    return head + (f" (+{len(values) - limit})" if len(values) > limit else "")


def _profile_parts(
    pp: PrincipalProfile | None, start: datetime, end: datetime, cfg: ScoreConfig
) -> dict[str, ScorePart]:
    w = cfg.weights
    out: dict[str, ScorePart] = {}
    if pp is None or pp.first_seen is None:
        return out
    base = pp.first_seen.timestamp() + cfg.baseline_seconds

    def in_span(u: ValueUse) -> bool:
        return start.timestamp() <= u.first_seen.timestamp() <= end.timestamp()

    def new(kind: str) -> list[ValueUse]:
        return [
            u for u in pp.values.get(kind, []) if u.first_seen.timestamp() >= base and in_span(u)
        ]

    new_ips = [u for u in new("ip") if not _allowed_ip(u.value, cfg)]
    new_uas = [u for u in new("ua") if not _allowed_agent(u.value, cfg)]
    new_regions = new("region")
    if new_ips and w["new_source_ip"]:
        out["new_source_ip"] = ScorePart(
            "new_source_ip", w["new_source_ip"], _short([u.value for u in new_ips])
        )
    if new_uas and w["new_user_agent"]:
        out["new_user_agent"] = ScorePart(
            "new_user_agent", w["new_user_agent"], _short([u.value for u in new_uas], 2)
        )
    if new_regions and w["new_region"]:
        out["new_region"] = ScorePart(
            "new_region", w["new_region"], _short([u.value for u in new_regions])
        )
    tools = [
        u.value
        for u in pp.values.get("ua", [])
        if u.last_seen >= start
        and u.first_seen <= end
        and is_http_tool(u.value, cfg.http_tools)
        and not _allowed_agent(u.value, cfg)
    ]
    if tools and w["http_tool"]:
        out["http_tool"] = ScorePart("http_tool", w["http_tool"], _short(tools, 2))
    sustained = sum(u.invocations for u in new_ips)
    if sustained >= cfg.sustained_invocations and w["sustained_new_origin"]:
        out["sustained_new_origin"] = ScorePart(
            "sustained_new_origin",
            w["sustained_new_origin"],
            f"{sustained} invocations from never-seen source IPs",
        )
    lo = int(start.timestamp()) // 300
    hi = int(end.timestamp()) // 300
    inside = [n for b, n in pp.buckets.items() if lo <= b <= hi]
    if inside and w["volume"]:
        peak = max(inside)
        before = [n for b, n in pp.buckets.items() if b < lo or b > hi]
        history = before or list(pp.buckets.values())
        median = statistics.median(history)
        if peak >= cfg.volume_min_invocations and peak >= cfg.volume_factor * median:
            out["volume"] = ScorePart(
                "volume",
                w["volume"],
                f"peak {peak} invocations in 5 min vs own median {median:g}",
            )
    return out


def _clusters(findings: Sequence[Finding], window: int) -> list[list[Finding]]:
    spans = []
    for f in findings:
        span = _finding_span(f)
        if span is not None:
            spans.append((span[0], span[1], f))
    spans.sort(key=lambda x: (x[0], x[1], x[2].rule_id))
    out: list[list[Finding]] = []
    end: datetime | None = None
    for first, last, f in spans:
        if end is None or first.timestamp() > end.timestamp() + window:
            out.append([f])
            end = last
        else:
            out[-1].append(f)
            end = max(end, last)
    return out


def score_incidents(
    findings: Sequence[Finding], profile: Profile | None, cfg: ScoreConfig
) -> list[Incident]:
    """Group findings per identity and window and score each group."""
    by_key: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        if f.rule_id == INCIDENT_RULE_ID:
            continue
        by_key.setdefault(identity_key(f.account_id or "", f.subject), []).append(f)
    prof = profile or Profile()
    incidents = []
    for key, group in sorted(by_key.items()):
        pp = prof.get(key)
        names = {f.subject for f in group} | {key[1]} | (pp.names if pp else set())
        if _allowed_principal(names, cfg):
            continue
        for ordinal, cluster in enumerate(_clusters(group, cfg.window_seconds)):
            spans = [s for s in (_finding_span(f) for f in cluster) if s is not None]
            start = min(s[0] for s in spans)
            end = max(s[1] for s in spans)
            parts = _profile_parts(pp, start, end, cfg)
            for f in cluster:
                part = _part_for(f, cfg)
                if part is None or not cfg.weights.get(part):
                    continue
                agents = [str(a) for a in f.evidence.get("user_agents") or ()]
                if part == "http_tool" and agents and all(_allowed_agent(a, cfg) for a in agents):
                    continue
                if part in parts:
                    if f.rule_id not in parts[part].detail and part not in _PROFILE_PARTS:
                        p = parts[part]
                        parts[part] = replace(p, detail=f"{p.detail}, {f.rule_id}")
                    continue
                parts[part] = ScorePart(part, cfg.weights[part], f.rule_id)
            ordered = tuple(sorted(parts.values(), key=lambda p: (-p.points, p.name)))
            score = sum(p.points for p in ordered)
            display = _display(key, cluster)
            incidents.append(
                Incident(
                    account_id=key[0],
                    principal=display,
                    first_seen=start,
                    last_seen=end,
                    score=score,
                    severity=severity_for(score, cfg.thresholds),
                    parts=ordered,
                    findings=tuple(sort_findings(cluster)),
                    ordinal=ordinal,
                )
            )
    return incidents


def _part_for(f: Finding, cfg: ScoreConfig) -> str | None:
    if f.rule_id in cfg.rule_parts:
        return cfg.rule_parts[f.rule_id]
    if f.severity is Severity.INFO:
        return None
    return f"other_{f.severity.value}"


def _display(key: tuple[str, str], cluster: Sequence[Finding]) -> str:
    arns = sorted({f.subject for f in cluster if f.subject.startswith("arn:")})
    if arns:
        return arns[0]
    return key[1].removeprefix("user/")


INCIDENT_RULE = Rule(
    id=INCIDENT_RULE_ID,
    title="Incident: one verdict per principal",
    severity=Severity.INFO,
    rationale=(
        "The rules' findings about one principal within the incident window, combined into a "
        "risk score whose parts are listed (weights and thresholds: hunt --config)."
    ),
    remediation=(
        "Start with the highest-scoring part; the principal's findings and "
        "`phantomkeys timeline` show the calls behind it."
    ),
    references=(),
    attack=(),
    tags=("incident",),
)


def _event_ids(findings: Sequence[Finding], cap: int = 100) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for f in findings:
        for e in f.evidence.get("event_ids") or ():
            if e not in seen and len(out) < cap:
                seen.add(e)
                out.append(str(e))
    return out


def incident_finding(inc: Incident) -> Finding:
    """The incident as a finding, so every output format and --fail-on see the verdict."""
    evidence = {
        "principal": inc.principal,
        "account_id": inc.account_id or None,
        "score": inc.score,
        "score_parts": [p.to_dict() for p in inc.parts],
        "score_summary": inc.summary(),
        "first_seen": _iso(inc.first_seen),
        "last_seen": _iso(inc.last_seen),
        "count": sum(int(f.evidence.get("count") or 0) for f in inc.findings),
        "event_ids": _event_ids(inc.findings),
        "rules": sorted({f.rule_id for f in inc.findings}),
        "finding_fingerprints": [f.fingerprint for f in inc.findings],
    }
    base = Finding.from_rule(
        INCIDENT_RULE,
        subject=inc.principal,
        account_id=inc.account_id or None,
        evidence=evidence,
        identity=(str(inc.ordinal),) if inc.ordinal else (),
        severity=inc.severity,
        title=f"Incident: risk score {inc.score} for {inc.principal}",
    )
    return replace(base, rationale=f"{INCIDENT_RULE.rationale} This one: {inc.summary()}.")
