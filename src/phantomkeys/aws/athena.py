"""Amazon Athena through boto3: run a query, wait for it, page through its results."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from phantomkeys.aws.session import LOOKUP_ERRORS, AwsContext, error_code, error_message

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


class AthenaError(Exception):
    """A query failed, was cancelled, timed out, or Athena refused it."""


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    execution_id: str
    state: str
    reason: str | None
    scanned_bytes: int
    runtime_ms: int


class AthenaClient:
    def __init__(
        self,
        ctx: AwsContext,
        *,
        workgroup: str = "primary",
        output: str | None = None,
        database: str = "default",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout_seconds: float = 1800.0,
    ) -> None:
        self.client = ctx.client("athena")
        self.workgroup = workgroup
        self.output = output
        self.database = database
        self.sleep = sleep
        self.clock = clock
        self.timeout_seconds = timeout_seconds

    def start(self, sql: str) -> str:
        kwargs: dict[str, Any] = {
            "QueryString": sql,
            "WorkGroup": self.workgroup,
            "QueryExecutionContext": {"Database": self.database},
        }
        if self.output:
            kwargs["ResultConfiguration"] = {"OutputLocation": self.output}
        try:
            return str(self.client.start_query_execution(**kwargs)["QueryExecutionId"])
        except LOOKUP_ERRORS as exc:
            raise AthenaError(
                f"StartQueryExecution: {error_code(exc)}: {error_message(exc)}"
            ) from None

    def wait(self, execution_id: str) -> QueryOutcome:
        """Poll with backoff (0.5 s doubling to 5 s) until the query ends."""
        delay = 0.5
        deadline = self.clock() + self.timeout_seconds
        while True:
            try:
                ex = self.client.get_query_execution(QueryExecutionId=execution_id)
            except LOOKUP_ERRORS as exc:
                raise AthenaError(
                    f"GetQueryExecution: {error_code(exc)}: {error_message(exc)}"
                ) from None
            q = ex["QueryExecution"]
            status = q.get("Status", {})
            state = str(status.get("State", "UNKNOWN"))
            if state in TERMINAL_STATES:
                stats = q.get("Statistics", {})
                return QueryOutcome(
                    execution_id,
                    state,
                    status.get("StateChangeReason"),
                    int(stats.get("DataScannedInBytes", 0) or 0),
                    int(stats.get("EngineExecutionTimeInMillis", 0) or 0),
                )
            if self.clock() > deadline:
                try:
                    self.client.stop_query_execution(QueryExecutionId=execution_id)
                finally:
                    raise AthenaError(
                        f"query {execution_id} still {state} after "
                        f"{self.timeout_seconds:.0f} s; cancelled"
                    )
            self.sleep(delay)
            delay = min(delay * 2, 5.0)

    def run(self, sql: str) -> QueryOutcome:
        outcome = self.wait(self.start(sql))
        if outcome.state != "SUCCEEDED":
            raise AthenaError(
                f"query {outcome.execution_id} {outcome.state}: "
                f"{outcome.reason or 'no reason given'}"
            )
        return outcome

    def rows(self, execution_id: str) -> Iterator[dict[str, str | None]]:
        """Result rows as dicts keyed by column name (the header row is skipped)."""
        names: list[str] | None = None
        try:
            pages = self.client.get_paginator("get_query_results").paginate(
                QueryExecutionId=execution_id, PaginationConfig={"PageSize": 1000}
            )
            for page in pages:
                rs = page.get("ResultSet", {})
                if names is None:
                    info = rs.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                    names = [
                        c.get("Name") or c.get("Label") or f"col{i}" for i, c in enumerate(info)
                    ]
                    rows = rs.get("Rows", [])[1:]  # first row repeats the header
                else:
                    rows = rs.get("Rows", [])
                for row in rows:
                    data = row.get("Data", [])
                    yield {
                        n: (data[i].get("VarCharValue") if i < len(data) else None)
                        for i, n in enumerate(names)
                    }
        except LOOKUP_ERRORS as exc:
            raise AthenaError(f"GetQueryResults: {error_code(exc)}: {error_message(exc)}") from None
