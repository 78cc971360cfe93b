"""CloudTrail log files by name: a file to read, and the delivery date in the S3 layout.

Pure: used by the local reader (``trail/records.py``) and by the S3 readers in
``aws/`` alike, so the layers point downwards (docs/architecture.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

_DATE_DIR_RE = re.compile(r"/CloudTrail/[a-z0-9-]+/(\d{4})/(\d{2})/(\d{2})/")


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A log file to read: where it is on disk and how to name it in reports."""

    path: Path
    name: str
    size: int


def path_date(name: str) -> date | None:
    """The delivery date encoded in an S3-layout path, if any."""
    m = _DATE_DIR_RE.search(name.replace("\\", "/"))
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None


def date_in_range(day: date | None, since: datetime | None, until: datetime | None) -> bool:
    """Could a file delivered on ``day`` hold records in [since, until)?

    A file only holds records from before its delivery, and CloudTrail delivers
    within minutes, so a day folder before ``since``'s day cannot match; one day
    of slack after ``until`` covers records delivered after midnight.
    """
    if day is None:
        return True
    if since is not None and day < since.date():
        return False
    return not (until is not None and day > (until + timedelta(days=1)).date())
