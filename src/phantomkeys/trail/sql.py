"""Sigma to SQL for the engines: DuckDB, Athena/Trino, CloudTrail Lake and Spark.

No pySigma backend emits SQL for CloudTrail on these engines, so this module
holds a small one: :class:`CloudTrailSqlBackend`, a pySigma
``TextQueryBackend`` driven by a field-mapping processing pipeline
(:func:`cloudtrail_pipeline`) that turns Sigma field names such as
``userIdentity.userName`` or ``additionalEventData.callWithBearerToken`` into
each schema's expression (see :mod:`phantomkeys.trail.fields`).

Matching follows the Sigma specification: strings compare case-insensitively
unless ``|cased``; a negated condition is true when the field is missing
(SQL's three-valued logic would otherwise drop those rows).

Windows are **sliding**, never fixed buckets. A correlation (event_count,
value_count, temporal) is evaluated as a sweep over presence intervals: a value
seen at time *s* is "in the window" for every window ending in ``[s, s+T]``;
the largest number of overlapping intervals per group is the largest count in
any window of length T, wherever it starts, and whichever regions the events
came from. Only standard window functions are needed, so the same SQL runs on
DuckDB, Trino and Spark.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
)
from sigma.conversion.base import TextQueryBackend
from sigma.conversion.state import ConversionState
from sigma.exceptions import SigmaFeatureNotSupportedByBackendError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import FieldFunctionTransformation
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCompareExpression,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from phantomkeys.trail import fields as F


class Dialect(StrEnum):
    DUCKDB = "duckdb"
    TRINO = "trino"
    SPARK = "spark"


class Schema(StrEnum):
    FLAT = "flat"
    ATHENA = "athena"
    LAKE = "lake"


@dataclass(frozen=True, slots=True)
class Target:
    """Where SQL runs: a dialect over one of the record schemas."""

    dialect: Dialect
    schema: Schema
    #: Fields the relation holds as columns named by the field (the prefilter pass).
    columns: frozenset[str] = frozenset()

    # ------------------------------------------------------------ literals

    def quote(self, ident: str) -> str:
        if self.dialect is Dialect.SPARK:
            return "`" + ident.replace("`", "``") + "`"
        return '"' + ident.replace('"', '""') + '"'

    def string(self, value: str) -> str:
        if self.dialect is Dialect.SPARK:
            # Spark string literals use backslash escapes; '' is concatenation.
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return "'" + value.replace("'", "''") + "'"

    @property
    def like_escape(self) -> str:
        return self.string("\\")

    # ------------------------------------------------------------ fields

    def json_scalar(self, column: str, path: str) -> str:
        match self.dialect:
            case Dialect.DUCKDB:
                return f"json_extract_string({column}, {self.string(path)})"
            case Dialect.TRINO:
                return f"json_extract_scalar({column}, {self.string(path)})"
            case Dialect.SPARK:
                return f"get_json_object({column}, {self.string(path)})"

    def field(self, name: str) -> str:
        """The expression for a Sigma field over this target's record relation."""
        if name in self.columns:
            return self.quote(name)
        if self.schema is Schema.FLAT:
            if name in F.FLAT_BY_NAME or name in F.JSON_FIELDS or name in F.DERIVED_FIELDS:
                return self.quote(name)
            nested = F.split_json_field(name)
            if nested is not None:
                return self.json_scalar(self.quote(nested[0]), nested[1])
            raise SigmaFeatureNotSupportedByBackendError(
                f"field {name!r} is not in the CloudTrail field catalog"
            )
        if name == F.PRINCIPAL:
            return "coalesce(" + ", ".join(self.field(n) for n in F.PRINCIPAL_SOURCES) + ")"
        if name == F.MODEL:
            return "coalesce(" + ", ".join(self.field(n) for n in F.MODEL_SOURCES) + ")"
        flat = F.FLAT_BY_NAME.get(name)
        if name == F.EVENT_TIME:
            return self.event_time()
        if flat is not None:
            return flat.athena if self.schema is Schema.ATHENA else flat.lake
        if name in F.JSON_FIELDS:
            return name.lower() if self.schema is Schema.ATHENA else name
        nested = F.split_json_field(name)
        if nested is not None:
            root, path = nested
            if self.schema is Schema.ATHENA:
                return self.json_scalar(root.lower(), path)
            # CloudTrail Lake: map(varchar, varchar); first-level keys only.
            return f"element_at({root}, {self.string(path[2:])})"
        if "." in name:
            # userIdentity.sessionContext.attributes.mfaAuthenticated and friends:
            # plain struct access works on both native schemas.
            return name.lower() if self.schema is Schema.ATHENA else name
        return name.lower() if self.schema is Schema.ATHENA else name

    def event_time(self) -> str:
        match self.schema:
            case Schema.FLAT:
                return self.quote(F.EVENT_TIME)
            case Schema.ATHENA:
                return "from_iso8601_timestamp(eventtime)"
            case Schema.LAKE:
                return "CAST(eventTime AS TIMESTAMP)"

    # ------------------------------------------------------------ functions

    def epoch(self, expr: str) -> str:
        match self.dialect:
            case Dialect.DUCKDB:
                return f"CAST(epoch({expr}) AS BIGINT)"
            case Dialect.TRINO:
                return f"CAST(to_unixtime({expr}) AS BIGINT)"
            case Dialect.SPARK:
                return f"unix_timestamp({expr})"

    def regex(self, expr: str, pattern: str) -> str:
        match self.dialect:
            case Dialect.DUCKDB:
                return f"regexp_matches({expr}, {self.string(pattern)})"
            case Dialect.TRINO:
                return f"regexp_like({expr}, {self.string(pattern)})"
            case Dialect.SPARK:
                return f"{expr} RLIKE {self.string(pattern)}"

    def distinct_list(self, expr: str, cap: int) -> str:
        match self.dialect:
            case Dialect.DUCKDB:
                return (
                    f"list_slice(list_sort(list_distinct(list({expr}) "
                    f"FILTER (WHERE {expr} IS NOT NULL))), 1, {cap})"
                )
            case Dialect.TRINO:
                return (
                    f"slice(array_sort(array_agg(DISTINCT {expr}) "
                    f"FILTER (WHERE {expr} IS NOT NULL)), 1, {cap})"
                )
            case Dialect.SPARK:
                return f"slice(array_sort(collect_set({expr})), 1, {cap})"

    def ordered_list(self, expr: str, order: str, cap: int) -> str:
        # Ties on ``order`` (events of the same second) are broken by the value itself,
        # as Spark's sort of (order, value) structs does: the same list on every run.
        match self.dialect:
            case Dialect.DUCKDB:
                return f"list_slice(list({expr} ORDER BY {order}, {expr}), 1, {cap})"
            case Dialect.TRINO:
                return f"slice(array_agg({expr} ORDER BY {order}, {expr}), 1, {cap})"
            case Dialect.SPARK:
                return (
                    f"transform(slice(array_sort(collect_list(named_struct('o', {order}, "
                    f"'v', {expr}))), 1, {cap}), x -> x.v)"
                )

    def timestamp_literal(self, iso: str) -> str:
        """An ISO-8601 UTC time (``2026-11-29T10:00:00Z``) as a timestamp expression."""
        match self.dialect:
            case Dialect.DUCKDB:
                return f"CAST({self.string(iso.replace('Z', ''))} AS TIMESTAMP)"
            case Dialect.TRINO:
                return f"from_iso8601_timestamp({self.string(iso)})"
            case Dialect.SPARK:
                return f"to_timestamp({self.string(iso.replace('Z', ''))})"


FLAT_DUCKDB = Target(Dialect.DUCKDB, Schema.FLAT)
FLAT_SPARK = Target(Dialect.SPARK, Schema.FLAT)
ATHENA = Target(Dialect.TRINO, Schema.ATHENA)
LAKE = Target(Dialect.TRINO, Schema.LAKE)


def cloudtrail_pipeline(target: Target) -> ProcessingPipeline:
    """The CloudTrail field-mapping pipeline: Sigma field name -> target expression."""
    return ProcessingPipeline(
        name=f"phantomkeys CloudTrail fields ({target.dialect}/{target.schema})",
        priority=20,
        items=[
            ProcessingItem(
                identifier="phantomkeys_cloudtrail_fields",
                transformation=FieldFunctionTransformation(
                    transform_func=lambda name: target.field(name) if name else "",
                    mapping={},
                ),
            )
        ],
    )


class CloudTrailSqlBackend(TextQueryBackend):
    """A boolean SQL expression per Sigma rule (the WHERE clause), for one :class:`Target`.

    Field names arrive already mapped to target expressions by
    :func:`cloudtrail_pipeline`, so no field quoting happens here.
    """

    name: ClassVar[str] = "phantomkeys CloudTrail SQL"
    formats: ClassVar[dict[str, str]] = {"default": "boolean SQL expression (WHERE clause)"}
    requires_pipeline: ClassVar[bool] = True

    precedence: ClassVar[tuple[type[ConditionItem], type[ConditionItem], type[ConditionItem]]] = (
        ConditionNOT,
        ConditionAND,
        ConditionOR,
    )
    group_expression: ClassVar[str] = "({expr})"
    # pySigma calls SQL keywords "tokens" (S105 mistakes them for passwords).
    token_separator: str = " "  # noqa: S105
    or_token: ClassVar[str] = "OR"  # noqa: S105
    and_token: ClassVar[str] = "AND"  # noqa: S105
    not_token: ClassVar[str] = "NOT"  # noqa: S105
    eq_token: ClassVar[str] = " = "  # noqa: S105
    field_quote: ClassVar[str | None] = None
    field_escape: ClassVar[str | None] = None
    str_quote: ClassVar[str] = "'"
    escape_char: ClassVar[str] = "\\"
    wildcard_multi: ClassVar[str] = "%"
    wildcard_single: ClassVar[str] = "_"
    add_escaped: ClassVar[str] = "\\"
    bool_values: ClassVar[dict[bool, str | None]] = {True: "'true'", False: "'false'"}
    field_null_expression: ClassVar[str] = "{field} IS NULL"
    field_exists_expression: ClassVar[str] = "{field} IS NOT NULL"
    field_not_exists_expression: ClassVar[str] = "{field} IS NULL"
    convert_or_as_in: ClassVar[bool] = True
    convert_and_as_in: ClassVar[bool] = False
    in_expressions_allow_wildcards: ClassVar[bool] = False
    field_in_list_expression: ClassVar[str] = "lower({field}) IN ({list})"
    or_in_operator: ClassVar[str] = "IN"
    list_separator: ClassVar[str] = ", "
    compare_op_expression: ClassVar[str] = "TRY_CAST({field} AS DOUBLE) {operator} {value}"
    compare_operators: ClassVar[dict[Any, str]] = {
        SigmaCompareExpression.CompareOperators.LT: "<",
        SigmaCompareExpression.CompareOperators.LTE: "<=",
        SigmaCompareExpression.CompareOperators.GT: ">",
        SigmaCompareExpression.CompareOperators.GTE: ">=",
    }

    def __init__(self, target: Target, **kwargs: Any) -> None:
        super().__init__(processing_pipeline=cloudtrail_pipeline(target), **kwargs)
        self.target = target

    # --- strings ---------------------------------------------------------

    def _like_pattern(self, value: SigmaString, *, lower: bool) -> tuple[str, bool]:
        """(SQL LIKE pattern text, has_wildcards) for a Sigma string."""
        out: list[str] = []
        wild = False
        for part in value.s:
            if isinstance(part, str):
                text = part.lower() if lower else part
                out.append(text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
            elif part == SpecialChars.WILDCARD_MULTI:
                out.append("%")
                wild = True
            elif part == SpecialChars.WILDCARD_SINGLE:
                out.append("_")
                wild = True
        return "".join(out), wild

    def _str_match(self, field: str, value: SigmaString, *, cased: bool) -> str:
        t = self.target
        pattern, wild = self._like_pattern(value, lower=not cased)
        subject = field if cased else f"lower({field})"
        if not wild:
            plain = str(value) if cased else str(value).lower()
            return f"{subject} = {t.string(plain)}"
        return f"{subject} LIKE {t.string(pattern)} ESCAPE {t.like_escape}"

    def convert_condition_field_eq_val_str(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaString)
        return self._str_match(cond.field, cond.value, cased=False)

    def convert_condition_field_eq_val_str_case_sensitive(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        assert isinstance(cond.value, SigmaString)
        return self._str_match(cond.field, cond.value, cased=True)

    def convert_condition_field_eq_val_num(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cond.value
        assert isinstance(value, SigmaNumber)
        # Every flattened value is text (JSON numbers included): compare as text.
        return f"{cond.field} = {self.target.string(str(value.number))}"

    def convert_condition_field_eq_val_bool(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cond.value
        assert isinstance(value, SigmaBool)
        return f"lower({cond.field}) = {self.target.string('true' if value.boolean else 'false')}"

    def convert_condition_field_eq_val_re(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cond.value
        assert isinstance(value, SigmaRegularExpression)
        flags = "".join(sorted(_RE_FLAGS[f.name] for f in value.flags)) if value.flags else ""
        regexp = str(value.regexp)
        return self.target.regex(cond.field, f"(?{flags}){regexp}" if flags else regexp)

    def convert_condition_field_compare_op_val(
        self, cond: ConditionFieldEqualsValueExpression, state: ConversionState
    ) -> str:
        value = cond.value
        assert isinstance(value, SigmaCompareExpression)
        return self.compare_op_expression.format(
            field=cond.field, operator=self.compare_operators[value.op], value=value.number.number
        )

    def decide_convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> bool:
        if not super().decide_convert_condition_as_in_expression(cond, state):
            return False
        # Only plain, case-insensitive strings: |cased values keep exact matching.
        return all(
            isinstance(arg, ConditionFieldEqualsValueExpression)
            and isinstance(arg.value, SigmaString)
            and not isinstance(arg.value, SigmaCasedString)
            for arg in cond.args
        )

    def convert_condition_as_in_expression(
        self, cond: ConditionOR | ConditionAND, state: ConversionState
    ) -> str:
        args = [a for a in cond.args if isinstance(a, ConditionFieldEqualsValueExpression)]
        values = ", ".join(self.target.string(str(arg.value).lower()) for arg in args)
        return f"lower({args[0].field}) IN ({values})"

    def convert_condition_val_str(self, cond: Any, state: ConversionState) -> str:
        raise SigmaFeatureNotSupportedByBackendError(
            "keyword (unbound value) searches are not supported: name a CloudTrail field"
        )

    def convert_condition_val_num(self, cond: Any, state: ConversionState) -> str:
        raise SigmaFeatureNotSupportedByBackendError("keyword searches are not supported")

    def convert_condition_not(self, cond: ConditionNOT, state: ConversionState) -> str:
        # SQL NOT over NULL is NULL (row dropped); Sigma's "not" is true when the
        # field is absent, so coalesce the negated expression to FALSE first.
        arg = cond.args[0]
        inner = self.convert_condition(arg, state)
        return f"NOT coalesce(({inner}), FALSE)"

    def finalize_query_default(self, rule: Any, query: str, index: int, state: Any) -> str:
        return query


_RE_FLAGS = {"IGNORECASE": "i", "MULTILINE": "m", "DOTALL": "s"}


def where_clauses(rule_yaml: dict[str, Any], target: Target) -> list[str]:
    """Convert one Sigma detection rule (its YAML dict) into WHERE clauses for ``target``.

    A fresh rule object is parsed for every conversion because pySigma
    pipelines transform rules in place.
    """
    from sigma.rule import SigmaRule

    rule = SigmaRule.from_dict(rule_yaml)
    backend = CloudTrailSqlBackend(target)
    queries: list[str] = backend.convert_rule(rule)
    return queries


def or_join(clauses: Sequence[str]) -> str:
    if not clauses:
        return "FALSE"
    if len(clauses) == 1:
        return clauses[0]
    return " OR ".join(f"({c})" for c in clauses)
