"""The ``scan --org`` driver: progress bar, checkpoint, resume, aggregation."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from phantomkeys.cli.common import GLOBALS, ExitCode, UsageProblem, check_output_path, info
from phantomkeys.core.model import AccountEntry, OrgSnapshot
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
    from phantomkeys.aws.org import Checkpoint, OrgScanOptions, scan_organization
    from phantomkeys.aws.session import (
        LOOKUP_ERRORS,
        SETUP_ERRORS,
        AwsContext,
        AwsSetupError,
        error_code,
        error_message,
    )
    from phantomkeys.catalog import default_catalog
    from phantomkeys.scan import (
        AccountResult,
        ScanResult,
        assess_entry,
        assess_org_snapshot,
        warm_catalog,
    )

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
    cp = Checkpoint(cp_path, opts.scope())
    if resume:
        try:
            cp.load()
        except ValueError as exc:
            raise UsageProblem(str(exc)) from None
        if not cp.done:
            info(f"--resume: no checkpoint at {cp_path}; starting from the beginning")
    else:
        cp_path.unlink(missing_ok=True)

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
            why = f": {entry.error}" if entry.status != "ok" and entry.error else ""
            if GLOBALS.quiet:
                return
            sys.stderr.write(
                f"accounts: {done}/{counts['total']} {entry.account_id} {entry.status}{why}\n"
            )

    import threading

    warm = threading.Thread(target=warm_catalog, name="catalog-warm", daemon=True)
    warm.start()
    # Each account is assessed as soon as it is collected, while the others are
    # still being read: the assessment is pure, so the result is the same.
    assessed: dict[str, tuple[AccountEntry, AccountResult]] = {}

    def on_account(entry: AccountEntry) -> None:
        counts["failed" if entry.status in ("error", "incomplete") else "ok"] += 1
        show(entry)
        warm.join()
        assessed[entry.account_id] = (
            entry,
            assess_entry(entry, at=at, surfaces=surfaces, catalog=default_catalog()),
        )

    try:
        ctx = AwsContext.from_cli(profile, region)
        with progress:
            org = scan_organization(
                ctx, opts, now=at, checkpoint=cp, on_account=on_account, on_start=on_start
            )
    except KeyboardInterrupt:
        raise UsageProblem(
            f"interrupted; finished accounts are in {cp_path}",
            hint="run the same command with --resume to scan only what is left",
            code=130,
        ) from None
    except AwsSetupError as exc:
        raise UsageProblem(str(exc)) from None
    except SETUP_ERRORS as exc:
        raise UsageProblem(
            f"AWS credentials: {error_message(exc)}",
            hint=(
                "configure credentials or pass --profile; for a long scan, "
                "resume with --resume after renewing them"
            ),
        ) from None
    except ValueError as exc:
        raise UsageProblem(str(exc)) from None
    except LOOKUP_ERRORS as exc:
        raise UsageProblem(
            f"cannot read the Organization: {error_code(exc)}: {error_message(exc)}",
            hint="run from the management account or a delegated administrator",
            code=ExitCode.INCOMPLETE,
        ) from None
    results = assess_org_snapshot(org, at=at, surfaces=surfaces, assessed=assessed)
    caller = ctx.client("sts").get_caller_identity()["Arn"]
    result = ScanResult(
        at=at,
        accounts=results,
        caller_arn=caller,
        api_calls=dict(ctx.counter.snapshot()["by_operation"]),
    )
    result.metadata.update(
        organization_id=org.organization_id,
        management_account_id=org.management_account_id,
        checkpoint=str(cp_path),
        skipped=[
            {"account_id": e.account_id, "reason": e.error}
            for e in org.accounts
            if e.status == "skipped"
        ],
    )
    for e in org.accounts:
        if e.status == "skipped":
            info(f"skipped {e.account_id} ({e.name}): {e.error}")
    return result, org
