"""S3 and SNS calls of the scheduled scan (:mod:`phantomkeys.scheduled`): reports and alerts.

These writes are not reversible state and are not plan steps (docs/architecture.md,
"Where a new thing goes"): a run writes new report objects under its own prefix and
replaces ``latest.json`` last, and publishes one message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import botocore.exceptions

from phantomkeys.aws.session import error_code

#: Every AWS action this module calls (the clients are passed in; the permissions test
#: and the scheduled-scan template's role read this list).
ACTIONS = ("s3:GetObject", "s3:PutObject", "sns:Publish")


def read_json_object(s3: Any, bucket: str, key: str) -> Mapping[str, Any] | None:
    """The JSON object at ``s3://bucket/key``, or None when there is none (or it is not
    a JSON object)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    try:
        loaded = json.loads(body)
    except ValueError:
        return None
    return loaded if isinstance(loaded, Mapping) else None


def put_object(s3: Any, bucket: str, key: str, body: bytes, content_type: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)


def publish_message(
    sns: Any, topic_arn: str, subject: str, message: str, attributes: Mapping[str, str | int]
) -> str | None:
    """Publish one SNS message; string attributes as ``String``, integers as ``Number``."""
    response = sns.publish(
        TopicArn=topic_arn,
        Subject=subject,
        Message=message,
        MessageAttributes={
            name: {
                "DataType": "Number" if isinstance(value, int) else "String",
                "StringValue": str(value),
            }
            for name, value in attributes.items()
        },
    )
    message_id = response.get("MessageId")
    return str(message_id) if message_id else None
