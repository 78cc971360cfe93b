"""Incident response as a library: ``revoke``, ``cleanup``, ``restore`` and ``report``.

Each job reads state (``aws/state.py``) → plans (``core/plans.py``, pure) → shows the
plan and asks (through the caller's :class:`~phantomkeys.respond.base.Console`) → re-checks
and applies (``aws/apply.py``) → returns a :class:`~phantomkeys.respond.jobs.Response`.
The incident report is a document (:mod:`phantomkeys.respond.incident`) rendered by
:mod:`phantomkeys.respond.render`.

Nothing here prints, exits or imports the CLI: refusals are :class:`RespondError` (with
the exit code the command maps them to), progress and the confirmation go through the
``Console`` the caller supplies. AWS failures the run cannot continue without propagate
as the SDK's exceptions; ``cli/common.aws_errors`` turns them into one line.
"""

from __future__ import annotations

from phantomkeys.respond.base import Aws, Console, RespondError, Target
from phantomkeys.respond.jobs import Response

__all__ = ["Aws", "Console", "RespondError", "Response", "Target"]
