"""The outcome classes of a run, as the process exit codes of docs/architecture.md.

The library reports how a run ended with these values (a refusal, an incomplete read,
a failed write); only ``cli/`` turns them into the exit of the process.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FINDINGS = 1
    USAGE = 2
    INCOMPLETE = 3
    WRITE_FAILED = 4
    INTERNAL = 70
    INTERRUPTED = 130
