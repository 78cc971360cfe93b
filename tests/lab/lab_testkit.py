"""Helpers shared by the lab tests (fixtures come from phantomkeys.lab.pytest_plugin)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def client(service: str, **kwargs: Any) -> Any:
    """A boto3 client from the environment the phantomkeys_lab fixture set, no retries."""
    kwargs.setdefault("config", NO_RETRY)
    return boto3.client(service, **kwargs)


def error_of(exc_info: pytest.ExceptionInfo[Any]) -> tuple[str, int]:
    response = exc_info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]
