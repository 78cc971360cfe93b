"""The ``scan --org`` command side: progress bar, checkpoint path and errors (the driver
is :func:`phantomkeys.scan.scan_org`)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from phantomkeys.cli.common import GLOBALS, UsageProblem, aws_errors, check_output_path, info
from phantomkeys.core.model import AccountEntry, OrgSnapshot
from phantomkeys.report.safetext import visible
from phantomkeys.surfaces import Surface

DEFAULT_CHECKPOINT = Path("phantomkeys-output") / "org-checkpoint.jsonl"


def run_org_scan(
    *,
    profile: str | None,
    region: str | None,
    surfaces: Sequence[Surface],
    at: datetime,
    fresh: bool,
    max_workers: int,
    accounts: tuple[str, ...],
    exclude: tuple[str, ...],
    ous: tuple[str, ...],
    role: str,
    external_id: str | None,
    role_session_name: str,
    checkpoint: str | None,
    resume: bool,
) -> tuple[Any, OrgSnapshot]:
    from phantomkeys.aws.org import OrgScanOptions
    from phantomkeys.aws.session import AwsContext
    from phantomkeys.scan import scan_org

    opts = OrgScanOptions(
        surfaces=surfaces,
        role=role,
        external_id=external_id,
        role_session_name=role_session_name,
        max_workers=max_workers,
        fresh=fresh,
        accounts=accounts,
        exclude=exclude,
        ous=ous,
    )
    cp_path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    check_output_path(str(cp_path), option="--checkpoint")  # before any account is read

    counts = {"ok": 0, "failed": 0, "total": 0}
    if sys.stderr.isatty() and not GLOBALS.quiet:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from phantomkeys.cli.common import stderr  # rich: only for a terminal

        progress: Any = Progress(
            TextColumn("[bold]accounts[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeRemainingColumn(),
            console=stderr,
            transient=False,
        )
        task = progress.add_task("scan", total=None, detail="")

        def on_start(total: int, already: int) -> None:
            progress.update(
                task,
                total=total,
                completed=already,
                detail=f"{already} from checkpoint" if already else "",
            )

        def show(entry: AccountEntry) -> None:
            detail = f"done {counts['ok']} · failed {counts['failed']}"
            progress.update(task, advance=1, detail=detail)

    else:  # logs and pipes: one plain line per account, no refresh thread
        progress = contextlib.nullcontext()

        def on_start(total: int, already: int) -> None:
            counts["total"] = total
            counts["ok"] = already
            note = f" ({already} from the checkpoint)" if already else ""
            if not GLOBALS.quiet:
                sys.stderr.write(f"accounts: {total} to scan{note}\n")

        def show(entry: AccountEntry) -> None:
            done = counts["ok"] + counts["failed"]
            why = f": {visible(entry.error)}" if entry.status != "ok" and entry.error else ""
            if GLOBALS.quiet:
                return
            sys.stderr.write(
                f"accounts: {done}/{counts['total']} {entry.account_id} {entry.status}{why}\n"
            )

    def on_account(entry: AccountEntry) -> None:
        counts["failed" if entry.status in ("error", "incomplete") else "ok"] += 1
        show(entry)

    try:
        with aws_errors(
            "cannot read the Organization",
            hint="run from the management account or a delegated administrator",
            credentials_hint="configure credentials or pass --profile; for a long scan, "
            "resume with --resume after renewing them",
        ):
            try:
                ctx = AwsContext.from_cli(profile, region)
                with progress:
                    result, org = scan_org(
                        ctx,
                        opts,
                        at=at,
                        checkpoint=cp_path,
                        resume=resume,
                        on_start=on_start,
                        on_account=on_account,
                        note=lambda text: info(f"--resume: {text}"),
                    )
            except ValueError as exc:
                raise UsageProblem(str(exc)) from None
    except KeyboardInterrupt:
        raise UsageProblem(
            f"interrupted; finished accounts are in {cp_path}",
            hint="run the same command with --resume to scan only what is left",
            code=130,
        ) from None
    for e in org.accounts:
        if e.status == "skipped":
            info(f"skipped {e.account_id} ({e.name}): {e.error}")
    return result, org
