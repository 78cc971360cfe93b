"""``rules export``: the pack for the tools people already run.

* **splunk** — pySigma's Splunk backend; correlations use ``streamstats
  time_window`` (a sliding window) instead of the backend's ``bin``/``stats``
  fixed buckets.
* **elastic** — pySigma's Elasticsearch ES|QL backend. ES|QL has no sliding
  windows: correlations are exported with the backend's fixed buckets and
  marked as an approximation.
* **sentinel** — pySigma's Kusto backend with a pipeline for the
  ``AWSCloudTrail`` table; correlations as an exact sliding window (self-join
  on the time range).
* **spark** — pySigma's Databricks (Spark SQL) backend for detection rules
  over a table read from CloudTrail JSON; correlations as phantomkeys' Spark
  SQL sweep over the flattened view whose definition is included.
* **athena**, **cloudtrail-lake** — phantomkeys' SQL (Trino): detection rules
  and correlations with the sliding-window sweep.
* **eventbridge** — event patterns for the single-event rules (correlations
  need state EventBridge does not keep and are listed as not exported).
* **cloudwatch** — CloudWatch Logs Insights queries (correlations with
  ``bin()`` fixed buckets, marked as an approximation).
"""

# ruff: noqa: S608 - this module generates SQL from trusted rule text; every literal goes
# through Target.string() / _sql_string(), which quote and escape it.

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from phantomkeys.trail import fields as F
from phantomkeys.trail.pack import Correlation, CorrelationType, PackRule, RulePack
from phantomkeys.trail.queries import (
    compile_detections,
    correlation_sql,
    hit_columns,
    hits_select,
)
from phantomkeys.trail.sql import ATHENA, FLAT_SPARK, LAKE, Dialect, Target

TARGETS = (
    "splunk",
    "elastic",
    "sentinel",
    "spark",
    "athena",
    "cloudtrail-lake",
    "eventbridge",
    "cloudwatch",
    "sigma",
)


class ExportError(ValueError):
    """The target cannot be produced (backend missing, rule not expressible)."""


def _collection(rules: Sequence[PackRule]) -> Any:
    from sigma.collection import SigmaCollection

    return SigmaCollection.from_dicts([dict(r.document) for r in rules])


def _with_bases(pack: RulePack, rule: PackRule) -> list[PackRule]:
    assert rule.correlation is not None
    return [pack.get(n) for n in rule.correlation.rules] + [rule]


def _header(rule: PackRule, comment: str, note: str = "") -> str:
    lines = [f"{rule.name} ({rule.severity.value}): {rule.title}"]
    if rule.rule.attack:
        lines.append("ATT&CK: " + ", ".join(rule.rule.attack))
    if rule.correlation is not None:
        lines.append("correlation: " + rule.correlation.describe())
    if note:
        lines.append(note)
    return "\n".join(f"{comment} {line}" for line in lines)


def _emitting(pack: RulePack) -> list[PackRule]:
    return [r for r in pack if r.emits]


# ----------------------------------------------------------------- splunk


def _backend(module: str, name: str, package: str) -> Any:
    """A pySigma backend class (typed Any: the backends ship partial or no type hints)."""
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ExportError(f"this target needs {package} (pip install {package})") from None


def _splunk_backend() -> Any:
    SplunkBackend = _backend("sigma.backends.splunk", "SplunkBackend", "pysigma-backend-splunk")

    class SlidingSplunkBackend(SplunkBackend):  # type: ignore[misc,valid-type]
        """Splunk with sliding windows for correlations (``streamstats time_window``)."""

        correlation_methods: ClassVar[dict[str, str]] = {
            **SplunkBackend.correlation_methods,
            "streamstats": "Sliding time window with streamstats time_window",
        }
        default_correlation_method: ClassVar[str] = "streamstats"
        default_correlation_query: ClassVar[dict[str, str]] = {
            **SplunkBackend.default_correlation_query,
            "streamstats": "{search}\n| sort 0 _time\n{aggregate}\n{condition}",
        }
        event_count_aggregation_expression: ClassVar[dict[str, str]] = {
            **SplunkBackend.event_count_aggregation_expression,
            "streamstats": "| streamstats time_window={timespan} count as event_count by{groupby}",
        }
        value_count_aggregation_expression: ClassVar[dict[str, str]] = {
            **SplunkBackend.value_count_aggregation_expression,
            "streamstats": (
                "| streamstats time_window={timespan} dc({field}) as value_count by{groupby}"
            ),
        }
        temporal_aggregation_expression: ClassVar[dict[str, str]] = {
            **SplunkBackend.temporal_aggregation_expression,
            "streamstats": "| streamstats time_window={timespan} dc(event_type) as event_type_count"
            " by{groupby}",
        }
        groupby_expression: ClassVar[dict[str, str]] = {
            **SplunkBackend.groupby_expression,
            "streamstats": " {fields}",
        }
        groupby_field_expression: ClassVar[dict[str, str]] = {
            **SplunkBackend.groupby_field_expression,
            "streamstats": "{field}",
        }
        groupby_field_expression_joiner: ClassVar[dict[str, str]] = {
            **SplunkBackend.groupby_field_expression_joiner,
            "streamstats": " ",
        }
        event_count_condition_expression: ClassVar[dict[str, str]] = {
            **SplunkBackend.event_count_condition_expression,
            "streamstats": "| where event_count {op} {count}",
        }
        value_count_condition_expression: ClassVar[dict[str, str]] = {
            **SplunkBackend.value_count_condition_expression,
            "streamstats": "| where value_count {op} {count}",
        }
        temporal_condition_expression: ClassVar[dict[str, str]] = {
            **SplunkBackend.temporal_condition_expression,
            "streamstats": "| where event_type_count {op} {count}",
        }

    return SlidingSplunkBackend()


def export_splunk(pack: RulePack) -> str:
    blocks = []
    for rule in _emitting(pack):
        rules = _with_bases(pack, rule) if rule.correlation else [rule]
        queries = _splunk_backend().convert(_collection(rules))
        blocks.append(_header(rule, "```").replace("\n", "```\n") + "```\n" + str(queries[-1]))
    return "\n\n".join(blocks) + "\n"


# ---------------------------------------------------------------- elastic


def export_elastic(pack: RulePack) -> str:
    ESQLBackend = _backend(
        "sigma.backends.elasticsearch", "ESQLBackend", "pysigma-backend-elasticsearch"
    )
    blocks = []
    for rule in _emitting(pack):
        rules = _with_bases(pack, rule) if rule.correlation else [rule]
        note = (
            "approximation: ES|QL buckets time into fixed windows; a burst across a bucket "
            "boundary can be missed"
            if rule.correlation
            else ""
        )
        query = ESQLBackend().convert(_collection(rules))[-1]
        blocks.append(_header(rule, "//", note) + "\n" + str(query))
    return "\n\n".join(blocks) + "\n"


# --------------------------------------------------------------- sentinel

#: Sigma CloudTrail field -> Microsoft Sentinel ``AWSCloudTrail`` column.
SENTINEL_COLUMNS: Mapping[str, str] = {
    "eventTime": "TimeGenerated",
    "eventID": "AwsEventId",
    "eventSource": "EventSource",
    "eventName": "EventName",
    "awsRegion": "AWSRegion",
    "sourceIPAddress": "SourceIpAddress",
    "userAgent": "UserAgent",
    "errorCode": "ErrorCode",
    "errorMessage": "ErrorMessage",
    "readOnly": "ReadOnly",
    "eventType": "EventTypeName",
    "recipientAccountId": "RecipientAccountId",
    "userIdentity.type": "UserIdentityType",
    "userIdentity.arn": "UserIdentityArn",
    "userIdentity.userName": "UserIdentityUserName",
    "userIdentity.accessKeyId": "UserIdentityAccessKeyId",
    "userIdentity.principalId": "UserIdentityPrincipalid",
    "userIdentity.accountId": "UserIdentityAccountId",
    "userIdentity.invokedBy": "UserIdentityInvokedBy",
    "userIdentity.sessionContext.sessionIssuer.arn": "SessionIssuerArn",
    "userIdentity.sessionContext.sessionIssuer.userName": "SessionIssuerUserName",
    "userIdentity.sessionContext.sessionIssuer.type": "SessionIssuerType",
}
_SENTINEL_JSON = {
    "requestParameters": "RequestParameters",
    "additionalEventData": "AdditionalEventData",
}


def _sentinel_name(field: str) -> str:
    if field in SENTINEL_COLUMNS:
        return SENTINEL_COLUMNS[field]
    nested = F.split_json_field(field)
    if nested:
        return _SENTINEL_JSON[nested[0]] + "_" + nested[1][2:].replace(".", "_")
    return field.replace(".", "_")


def _sentinel_extends(fields: set[str]) -> list[str]:
    out = []
    for field in sorted(fields):
        nested = F.split_json_field(field)
        if nested:
            root, path = nested
            out.append(
                f"| extend {_sentinel_name(field)} = "
                f"tostring(parse_json({_SENTINEL_JSON[root]}).{path[2:]})"
            )
    return out


def _rule_fields(rule: PackRule) -> set[str]:
    from phantomkeys.trail.pack import detection_fields

    return detection_fields(rule.document)


def _kusto_where(rule: PackRule) -> str:
    from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
    from sigma.processing.transformations import FieldFunctionTransformation

    KustoBackend = _backend("sigma.backends.kusto", "KustoBackend", "pysigma-backend-kusto")
    pipeline = ProcessingPipeline(
        name="phantomkeys AWSCloudTrail",
        priority=20,
        items=[
            ProcessingItem(
                identifier="phantomkeys_awscloudtrail",
                transformation=FieldFunctionTransformation(
                    transform_func=lambda f: _sentinel_name(f) if f else "", mapping={}
                ),
            )
        ],
    )
    query = str(KustoBackend(processing_pipeline=pipeline).convert(_collection([rule]))[0])
    # JSON booleans arrive as the strings "true"/"false" after tostring(parse_json(...)).
    return re.sub(r" =~ (true|false)\b", r' =~ "\1"', query)


def export_sentinel(pack: RulePack) -> str:
    blocks = []
    for rule in _emitting(pack):
        if rule.correlation is None:
            body = "\n".join(
                [
                    "AWSCloudTrail",
                    *_sentinel_extends(_rule_fields(rule)),
                    f"| where {_kusto_where(rule)}",
                ]
            )
        else:
            body = _sentinel_correlation(pack, rule)
        blocks.append(_header(rule, "//") + "\n" + body)
    return "\n\n".join(blocks) + "\n"


def _sentinel_correlation(pack: RulePack, rule: PackRule) -> str:
    corr = rule.correlation
    assert corr is not None
    bases = [pack.get(n) for n in corr.rules]
    fields: set[str] = set()
    for b in bases:
        fields |= _rule_fields(b)
    groups = [_sentinel_name(g) for g in corr.group_by]
    value = {
        CorrelationType.EVENT_COUNT: "AwsEventId",
        CorrelationType.VALUE_COUNT: _sentinel_name(corr.field or ""),
        CorrelationType.TEMPORAL: "RuleName",
    }[corr.type]
    conds = " or ".join(f"({_kusto_where(b)})" for b in bases)
    rule_name = "case(" + ", ".join(f'{_kusto_where(b)}, "{b.name}"' for b in bases) + ', "")'
    seconds = corr.timespan_seconds
    agg = "count()" if corr.type is CorrelationType.EVENT_COUNT else "dcount(Value1)"
    keys = ", ".join(groups)
    return "\n".join(
        [
            "let Base = AWSCloudTrail",
            *_sentinel_extends(fields),
            f"| where {conds}",
            f"| extend RuleName = {rule_name}",
            f"| project TimeGenerated, {keys}, Value = tostring({value}), AwsEventId;",
            "// Every event ends a window; count what falls in the preceding timespan (sliding).",
            "Base",
            f"| join kind=inner (Base | project TimeGenerated1 = TimeGenerated, {keys}, "
            f"Value1 = Value) on {keys}",
            f"| where TimeGenerated1 between ((TimeGenerated - {seconds}s) .. TimeGenerated)",
            f"| summarize WindowCount = {agg} by {keys}, TimeGenerated",
            f"| where WindowCount >= {corr.threshold}",
            f"| summarize Peak = max(WindowCount), FirstTriggered = min(TimeGenerated), "
            f"LastTriggered = max(TimeGenerated) by {keys}",
        ]
    )


# ------------------------------------------------------------------ spark


def spark_flat_view_sql(source_table: str = "cloudtrail", view: str = "cloudtrail_flat") -> str:
    """A Spark SQL view with phantomkeys' flat columns over a raw CloudTrail table.

    ``source_table`` holds one record per row with ``requestParameters`` and
    ``additionalEventData`` read as JSON strings (the schema in
    :func:`phantomkeys.trail.spark_engine.record_schema`).
    """
    from phantomkeys.trail.spark_engine import flat_projection

    return f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {flat_projection()} FROM {source_table}"


def export_spark(pack: RulePack) -> str:
    DatabricksBackend = _backend(
        "sigma.backends.databricks", "DatabricksBackend", "pysigma-backend-databricks"
    )
    blocks = [
        "-- Detection rules: WHERE clauses over a table of raw CloudTrail records\n"
        "-- (spark.read.json on the Records arrays). Correlations use the flat view below.\n"
        "-- " + spark_flat_view_sql().replace("\n", " ")
    ]
    compiled = {c.rule.name: c for c in compile_detections(pack, FLAT_SPARK)}
    cols = hit_columns(pack)
    for rule in _emitting(pack):
        if rule.correlation is None:
            where = DatabricksBackend().convert(_collection([rule]))[0]
            blocks.append(_header(rule, "--") + f"\nSELECT * FROM cloudtrail WHERE {where}")
        else:
            hits = hits_select(
                [compiled[n] for n in rule.correlation.rules], FLAT_SPARK, "cloudtrail_flat", cols
            )
            blocks.append(
                _header(rule, "--")
                + "\n"
                + _correlation_with_hits(Dialect.SPARK, rule.correlation, hits)
            )
    return "\n\n".join(blocks) + "\n"


def _correlation_with_hits(dialect: Dialect, corr: Correlation, hits_sql: str) -> str:
    sql = correlation_sql(dialect, corr, "hits")
    assert sql.startswith("WITH ")
    return f"WITH hits AS ({hits_sql}), " + sql[len("WITH ") :]


# ------------------------------------------------------------ athena, lake


def export_sql(pack: RulePack, target: Target, relation: str) -> str:
    compiled = {c.rule.name: c for c in compile_detections(pack, target)}
    cols = hit_columns(pack)
    blocks = []
    for rule in _emitting(pack):
        if rule.correlation is None:
            sql = hits_select([compiled[rule.name]], target, relation, cols)
        else:
            hits = hits_select(
                [compiled[n] for n in rule.correlation.rules], target, relation, cols
            )
            sql = _correlation_with_hits(target.dialect, rule.correlation, hits)
        blocks.append(_header(rule, "--") + "\n" + sql + ";")
    return "\n\n".join(blocks) + "\n"


# ------------------------------------------------------------ eventbridge


class _NotExpressible(ValueError):
    pass


def _parsed_condition(rule: PackRule) -> Any:
    from sigma.rule import SigmaRule

    sigma_rule = SigmaRule.from_dict(dict(rule.document))
    conditions = sigma_rule.detection.parsed_condition
    if len(conditions) != 1:
        raise _NotExpressible("several conditions")
    return conditions[0].parsed


def _leaf_eventbridge(cond: Any, negate: bool) -> list[Any]:
    from sigma.types import (
        SigmaBool,
        SigmaCasedString,
        SigmaCompareExpression,
        SigmaNull,
        SigmaNumber,
        SigmaString,
        SpecialChars,
    )

    value = cond.value
    if isinstance(value, SigmaBool):
        matchers: list[Any] = [value.boolean, str(value.boolean).lower()]
        if negate:
            return [{"anything-but": matchers}, {"exists": False}]
        return matchers
    if isinstance(value, SigmaNull):
        return [{"exists": True}] if negate else [{"exists": False}]
    if isinstance(value, SigmaNumber):
        equal: dict[str, Any] = {"numeric": ["=", value.number]}
        return [{"anything-but": [value.number]}, {"exists": False}] if negate else [equal]
    if isinstance(value, SigmaCompareExpression):
        ops = {"LT": ("<", ">="), "LTE": ("<=", ">"), "GT": (">", "<="), "GTE": (">=", "<")}
        op, inverse = ops[value.op.name]
        if negate:
            return [{"numeric": [inverse, value.number.number]}, {"exists": False}]
        return [{"numeric": [op, value.number.number]}]
    if isinstance(value, SigmaString):
        parts = value.s
        plain = [p for p in parts if isinstance(p, str)]
        wild = [p for p in parts if p == SpecialChars.WILDCARD_MULTI]
        cased = isinstance(value, SigmaCasedString)
        if any(p == SpecialChars.WILDCARD_SINGLE for p in parts):
            raise _NotExpressible("single-character wildcards")
        text = "".join(plain)
        if not wild:
            m: Any = text if cased else {"equals-ignore-case": text}
        elif len(parts) == 2 and parts[-1] == SpecialChars.WILDCARD_MULTI:
            m = {"prefix": text if cased else {"equals-ignore-case": text}}
        elif len(parts) == 2 and parts[0] == SpecialChars.WILDCARD_MULTI:
            m = {"suffix": text if cased else {"equals-ignore-case": text}}
        else:
            if negate:
                raise _NotExpressible("negated wildcard")
            m = {
                "wildcard": "".join(
                    "*" if p == SpecialChars.WILDCARD_MULTI else str(p) for p in parts
                )
            }
        if negate:
            inner = m if isinstance(m, dict) else {"equals-ignore-case": m}
            return [{"anything-but": inner}, {"exists": False}]
        return [m]
    raise _NotExpressible(f"value type {type(value).__name__}")


def _dnf(cond: Any, negate: bool = False) -> list[list[tuple[str, list[Any]]]]:
    """Disjunctive normal form: OR of ANDs of (field, EventBridge matchers)."""
    from sigma.conditions import (
        ConditionAND,
        ConditionFieldEqualsValueExpression,
        ConditionNOT,
        ConditionOR,
    )

    if isinstance(cond, ConditionNOT):
        return _dnf(cond.args[0], not negate)
    if isinstance(cond, ConditionFieldEqualsValueExpression):
        return [[(cond.field, _leaf_eventbridge(cond, negate))]]
    is_and = isinstance(cond, ConditionAND)
    if not is_and and not isinstance(cond, ConditionOR):
        raise _NotExpressible(f"condition {type(cond).__name__}")
    if negate:
        is_and = not is_and
    parts = [_dnf(a, negate) for a in cond.args]
    if not is_and:
        return [conj for p in parts for conj in p]
    out: list[list[tuple[str, list[Any]]]] = [[]]
    for p in parts:
        out = [a + b for a in out for b in p]
    return out


def _negation_patterns(matchers: list[Any]) -> list[str] | None:
    """``[{"anything-but": X}, {"exists": False}]`` -> X as wildcard patterns, else None."""
    if len(matchers) != 2 or matchers[1] != {"exists": False}:
        return None
    inner = matchers[0].get("anything-but") if isinstance(matchers[0], dict) else None
    if not isinstance(inner, dict) or len(inner) != 1:
        return None
    ((kind, value),) = inner.items()
    if isinstance(value, dict):  # {"suffix": {"equals-ignore-case": x}} and friends
        value = value.get("equals-ignore-case")
    if kind == "wildcard" and isinstance(value, list):
        return [str(v) for v in value]
    if not isinstance(value, str):
        return None
    return {
        "prefix": [value + "*"],
        "suffix": ["*" + value],
        "equals-ignore-case": [value],
        "wildcard": [value],
    }.get(kind)


def _merge_same_field(conj: list[tuple[str, list[Any]]]) -> dict[str, list[Any]]:
    merged: dict[str, list[Any]] = {}
    for field, matchers in conj:
        if field not in merged:
            merged[field] = matchers
            continue
        # "not A and not B" on one field: one anything-but over both (or the field absent).
        a, b = _negation_patterns(merged[field]), _negation_patterns(matchers)
        if a is None or b is None:
            # EventBridge cannot AND two matchers on one field.
            raise _NotExpressible(f"two conditions on {field}")
        merged[field] = [{"anything-but": {"wildcard": a + b}}, {"exists": False}]
    return merged


def _nest(flat: Mapping[str, list[Any]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for field, matchers in flat.items():
        node = root
        parts = field.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = matchers
    return root


def _combine_or_lists(conjs: list[dict[str, list[Any]]]) -> list[dict[str, list[Any]]]:
    """Merge conjunctions that differ in one field only (x=a,y=1 | x=b,y=1 -> x=[a,b],y=1)."""
    changed = True
    items = [dict(c) for c in conjs]
    while changed:
        changed = False
        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                a, b = items[i], items[j]
                if a.keys() != b.keys():
                    continue
                diff = [k for k in a if a[k] != b[k]]
                if len(diff) == 1 and not any(
                    isinstance(m, dict) and ("anything-but" in m or "exists" in m)
                    for m in a[diff[0]] + b[diff[0]]
                ):
                    k = diff[0]
                    a[k] = a[k] + [m for m in b[k] if m not in a[k]]
                    items.pop(j)
                    changed = True
                    break
            if changed:
                break
    return items


def eventbridge_pattern(rule: PackRule) -> dict[str, Any]:
    conjs = [_merge_same_field(c) for c in _dnf(_parsed_condition(rule))]
    conjs = _combine_or_lists(conjs)
    base: dict[str, Any] = {"detail-type": ["AWS API Call via CloudTrail"]}
    if len(conjs) == 1:
        base["detail"] = _nest(conjs[0])
    else:
        base["$or"] = [{"detail": _nest(c)} for c in conjs]
    return base


def export_eventbridge(pack: RulePack) -> str:
    exported: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for rule in _emitting(pack):
        if rule.correlation is not None:
            skipped.append({"rule": rule.name, "reason": "correlation (needs a time window)"})
            continue
        try:
            pattern = eventbridge_pattern(rule)
        except _NotExpressible as exc:
            skipped.append({"rule": rule.name, "reason": f"not expressible: {exc}"})
            continue
        exported.append(
            {
                "rule": rule.name,
                "title": rule.title,
                "severity": rule.severity.value,
                "sigma_id": rule.sigma_id,
                "event_pattern": pattern,
            }
        )
    return json.dumps({"rules": exported, "not_exported": skipped}, indent=2) + "\n"


# -------------------------------------------------------------- cloudwatch


def _cw_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cw_regex(text: str) -> str:
    return re.escape(text).replace("/", "\\/")


def _cw(cond: Any) -> str:
    from sigma.conditions import (
        ConditionAND,
        ConditionFieldEqualsValueExpression,
        ConditionNOT,
        ConditionOR,
    )
    from sigma.types import (
        SigmaBool,
        SigmaCasedString,
        SigmaCompareExpression,
        SigmaNull,
        SigmaNumber,
        SigmaString,
        SpecialChars,
    )

    if isinstance(cond, ConditionNOT):
        return f"not ({_cw(cond.args[0])})"
    if isinstance(cond, ConditionAND):
        return " and ".join(f"({_cw(a)})" for a in cond.args)
    if isinstance(cond, ConditionOR):
        return " or ".join(f"({_cw(a)})" for a in cond.args)
    if not isinstance(cond, ConditionFieldEqualsValueExpression):
        raise _NotExpressible(type(cond).__name__)
    field, value = cond.field, cond.value
    if isinstance(value, SigmaBool):
        v = "true" if value.boolean else "false"
        return f'{field} = {1 if value.boolean else 0} or {field} = "{v}"'
    if isinstance(value, SigmaNull):
        return f"not ispresent({field})"
    if isinstance(value, SigmaNumber):
        return f"{field} = {value.number}"
    if isinstance(value, SigmaCompareExpression):
        op = {"LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}[value.op.name]
        return f"{field} {op} {value.number.number}"
    if isinstance(value, SigmaString):
        regex = "".join(
            _cw_regex(p)
            if isinstance(p, str)
            else (".*" if p == SpecialChars.WILDCARD_MULTI else ".")
            for p in value.s
        )
        flags = "" if isinstance(value, SigmaCasedString) else "(?i)"
        return f"{field} like /{flags}^{regex}$/"
    raise _NotExpressible(type(value).__name__)


def export_cloudwatch(pack: RulePack) -> str:
    fields = (
        "@timestamp, eventSource, eventName, awsRegion, sourceIPAddress, userAgent, "
        "userIdentity.arn, recipientAccountId, eventID"
    )
    out = []
    for rule in _emitting(pack):
        if rule.correlation is None:
            query = (
                f"fields {fields}\n| filter {_cw(_parsed_condition(rule))}\n| sort @timestamp desc"
            )
            note = ""
        else:
            corr = rule.correlation
            bases = [pack.get(n) for n in corr.rules]
            cond = " or ".join(f"({_cw(_parsed_condition(b))})" for b in bases)
            agg = (
                "count(*) as event_count"
                if corr.type is CorrelationType.EVENT_COUNT
                else f"count_distinct({corr.field}) as value_count"
            )
            metric = agg.rsplit(" ", 1)[-1]
            query = (
                f"fields {fields}\n| filter {cond}\n| stats {agg} by "
                f"{', '.join(corr.group_by)}, bin({corr.timespan})\n"
                f"| filter {metric} >= {corr.threshold}"
            )
            note = (
                "approximation: Logs Insights bins are fixed windows; a burst across a bin "
                "boundary can be missed"
            )
        out.append(
            {
                "rule": rule.name,
                "title": rule.title,
                "severity": rule.severity.value,
                "query": query,
                **({"note": note} if note else {}),
            }
        )
    return json.dumps({"log_group": "<CloudTrail log group>", "queries": out}, indent=2) + "\n"


# ------------------------------------------------------------------ sigma


def export_sigma(pack: RulePack) -> str:
    import yaml

    return "---\n".join(yaml.safe_dump(dict(r.document), sort_keys=False) for r in pack)


def export_pack(
    pack: RulePack,
    target: str,
    *,
    athena_table: str = "cloudtrail_logs",
    event_data_store: str = "<event-data-store-id>",
) -> str:
    exporters: dict[str, Callable[[], str]] = {
        "splunk": lambda: export_splunk(pack),
        "elastic": lambda: export_elastic(pack),
        "sentinel": lambda: export_sentinel(pack),
        "spark": lambda: export_spark(pack),
        "athena": lambda: export_sql(pack, ATHENA, athena_table),
        "cloudtrail-lake": lambda: export_sql(pack, LAKE, event_data_store),
        "eventbridge": lambda: export_eventbridge(pack),
        "cloudwatch": lambda: export_cloudwatch(pack),
        "sigma": lambda: export_sigma(pack),
    }
    if target not in exporters:
        raise ExportError(f"unknown target {target!r} (choose from {', '.join(TARGETS)})")
    try:
        return exporters[target]()
    except _NotExpressible as exc:
        raise ExportError(f"{target}: {exc}") from None
