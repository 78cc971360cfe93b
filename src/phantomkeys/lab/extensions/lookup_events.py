"""9. CloudTrail LookupEvents."""

from __future__ import annotations

import json
from typing import Any

from phantomkeys.lab.cloudtrail_store import EventStore, LookupError_
from phantomkeys.lab.extensions.base import now

# =====================================================================
# 9. CloudTrail LookupEvents
#
# AWS: management events of the last 90 days in the region queried, newest first,
# one LookupAttribute, StartTime/EndTime, MaxResults <= 50 with NextToken
# (botocore cloudtrail model; docs/aws-facts.md "CloudTrail"). moto 5.2 has no LookupEvents.
# The semantics are in cloudtrail_store.EventStore.lookup; the HTTP layer calls this.
# =====================================================================


def lookup_events(store: EventStore, account_id: str, region: str, body: bytes) -> Any:
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        raise LookupError_("SerializationException", "Malformed request body") from None
    if not isinstance(request, dict):
        raise LookupError_("SerializationException", "Malformed request body")
    return store.lookup(account_id=account_id, region=region, request=request, at=now())
