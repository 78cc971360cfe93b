"""``phantomkeys demo``: a guided tour of the main job, on the built-in lab.

The tour is a list of :class:`DemoStep` (``DEMO_STEPS``): each names the CLI
command it runs, explains in a sentence or two why, and builds the command's
arguments. A step whose command does not exist (yet) is skipped. Commands run
in-process through the real CLI (``cli.main(..., standalone_mode=False)``) with
the lab's environment, their results written to files in the output folder;
explanations go to stderr. Keys are never printed: the leaked key is written to
a file and any key that shows up in a command's output is redacted.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from phantomkeys.cli.common import ExitCode, UsageProblem, info, warn, write_private_file
from phantomkeys.cli.options import output_dir_option
from phantomkeys.lab.scenarios import DEMO_VICTIM

#: The healthy phantom whose benign history the least-privilege step replays.
DEMO_ACTIVE = "BedrockAPIKey-a1b2"


@dataclass(slots=True)
class DemoContext:
    lab: Any
    out: Path
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def leaked_key(self) -> str:
        key: str = self.lab.leaked_keys[DEMO_VICTIM]
        return key


@dataclass(frozen=True, slots=True)
class DemoStep:
    #: Top-level CLI command (``phantomkeys.cli.COMMANDS`` key); the step is skipped if absent.
    command: str
    title: str
    explain: str
    #: Arguments after the command name; may prepare files through the context.
    args: Callable[[DemoContext], list[str]]
    #: File (in the output folder) that receives the command's stdout.
    output: str
    #: Preferred --format values, first available wins.
    formats: tuple[str, ...] = ("json",)
    #: Subcommand of a group command (``scp generate``).
    subcommand: str | None = None
    #: A few lines shown to the reader from the command's output (never a secret).
    highlight: Callable[[str], str] | None = None


def _decode_args(ctx: DemoContext) -> list[str]:
    path = ctx.out / "leaked-key.txt"
    write_private_file(path, ctx.leaked_key + "\n")
    ctx.files["leaked_key"] = path
    return ["-f", str(path)]


def _hunt_args(ctx: DemoContext) -> list[str]:
    trail_dir = ctx.out / "cloudtrail"
    ctx.lab.write_cloudtrail(trail_dir)
    ctx.files["cloudtrail"] = trail_dir
    return [str(trail_dir)]


def _leaks_args(ctx: DemoContext) -> list[str]:
    repo = ctx.out / "leaky-repo"
    write_private_file(
        repo / "app" / "settings.env",
        "# committed by mistake\n"
        f"AWS_BEARER_TOKEN_BEDROCK={ctx.leaked_key}\n"
        "AWS_REGION=us-east-1\n",
    )
    ctx.files["leaky_repo"] = repo
    return [str(repo)]


def _json(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return None


def _show_decode(text: str) -> str:
    doc = _json(text) or {}
    lines = []
    for r in doc.get("results", []):
        if r.get("valid"):
            lines.append(
                f"{r['surface']} {r['kind']} key of IAM user {r['username']} in account "
                f"{r['account_id']} ({r['key_position']} key), secret sha256 "
                f"{r['secret_sha256'][:16]}…"
            )
    return "\n".join(lines)


def _show_scan(text: str) -> str:
    doc = _json(text)
    if not doc:
        return ""
    from phantomkeys.cli.scan import render_table

    return render_table(doc, width=150).rstrip()


def _show_findings(text: str) -> str:
    doc = _json(text) or {}
    findings = doc.get("findings", [])
    lines = [f"{len(findings)} findings"]
    seen: set[str] = set()
    for f in findings:
        if f["rule_id"] in seen:
            continue
        seen.add(f["rule_id"])
        lines.append(f"  {f['severity']:<8} {f['title']} — {f['subject']}")
        if len(seen) == 8:
            break
    return "\n".join(lines)


def _show_head(text: str, lines: int = 14) -> str:
    rows = [r for r in text.splitlines() if r.strip()]
    more = len(rows) - lines
    return "\n".join(rows[:lines] + ([f"… ({more} more lines in the file)"] if more > 0 else []))


#: The tour, in order. Extend it as commands land.
DEMO_STEPS: list[DemoStep] = [
    DemoStep(
        "decode",
        "Decode the leaked key",
        "A Bedrock API key was found in a repository. Decoding it offline tells whose it "
        "is (account, IAM user, which of the user's keys) without calling AWS and "
        "without showing the secret.",
        _decode_args,
        "decode.json",
        highlight=_show_decode,
    ),
    DemoStep(
        "scan",
        "Scan the account",
        "Find every API-key holder - phantom users, renamed ones, humans - and rate what "
        "each can reach: status, capabilities, risk. Fails closed: a failed lookup is "
        "'unknown', never 'orphaned'.",
        lambda ctx: [],
        "scan.json",
        highlight=_show_scan,
    ),
    DemoStep(
        "scan",
        "The same scan as a report people read",
        "One self-contained HTML file with charts and filterable tables (open it in a "
        "browser); SARIF, OCSF, ASFF, CSV and Markdown work the same way.",
        lambda ctx: [],
        "scan-report.html",
        ("html",),
    ),
    DemoStep(
        "report",
        f"Incident report for {DEMO_VICTIM}",
        "Everything known about the user behind the leaked key: its keys, other ways in "
        "(an access key was added to it), permissions and CloudTrail activity.",
        lambda ctx: [DEMO_VICTIM],
        f"report-{DEMO_VICTIM}.md",
        ("markdown", "json"),
    ),
    DemoStep(
        "timeline",
        f"CloudTrail timeline of {DEMO_VICTIM}",
        "What the key did: recon from new IPs and regions, bursts of invocations, "
        "guardrail tampering, then an IAM access key added to the phantom user.",
        lambda ctx: [DEMO_VICTIM],
        "timeline.json",
    ),
    DemoStep(
        "revoke",
        "Revoke the leaked key (dry run)",
        "The revocation plan: deny bearer-token use, deactivate the API keys, the access "
        "key and the console password. --dry-run prints it and writes nothing.",
        lambda ctx: [DEMO_VICTIM, "--dry-run", "--backup-dir", str(ctx.out / "backups")],
        "revoke-plan.txt",
        (),
        highlight=_show_head,
    ),
    DemoStep(
        "cleanup",
        "Clean up orphaned phantom users (dry run)",
        "Phantom users whose keys are gone still carry policies. Cleanup deletes every "
        "prerequisite DeleteUser needs, with a backup first; here only the plan.",
        lambda ctx: ["--dry-run", "--backup-dir", str(ctx.out / "backups")],
        "cleanup-plan.txt",
        (),
        highlight=_show_head,
    ),
    DemoStep(
        "hunt",
        "Hunt the CloudTrail logs",
        "Run the detection rule pack over the account's CloudTrail log files (written by "
        "the lab in the S3 layout): bearer-token use from new places, guardrail "
        "tampering, keys added to phantom users.",
        _hunt_args,
        "hunt.json",
        highlight=_show_findings,
    ),
    DemoStep(
        "leaks",
        "Find keys leaked in files",
        "Scan a folder (here a small repository with a committed .env) for Bedrock and "
        "Claude Platform keys, decoded and redacted.",
        _leaks_args,
        "leaks.json",
        highlight=_show_findings,
    ),
    DemoStep(
        "scp",
        "Prevent it: a Service Control Policy",
        "An SCP that stops API keys from being created or used across the Organization.",
        lambda ctx: ["--preset", "block-all"],
        "scp.json",
        subcommand="generate",
    ),
    DemoStep(
        "least-privilege",
        f"Move {DEMO_ACTIVE} off its phantom user",
        "From what the key really did in CloudTrail, the minimal policy and a role to "
        "assume instead (short-term keys via phantomkeys mint), then revoke and clean up.",
        lambda ctx: [DEMO_ACTIVE, "--days", "30"],
        "least-privilege.tf",
        ("terraform",),
    ),
]


@contextlib.contextmanager
def lab_environment(env: dict[str, str]) -> Iterator[None]:
    """Point boto3 at the lab (and away from real profiles) for the duration."""
    saved = dict(os.environ)
    for key in list(os.environ):
        if key.startswith("AWS_"):
            del os.environ[key]
    os.environ.update(env)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    from phantomkeys.aws.session import fresh_default_session

    try:
        with fresh_default_session():  # it caches the credentials it resolved first
            yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _command(name: str, subcommand: str | None) -> click.Command | None:
    from phantomkeys.cli import cli

    with click.Context(cli) as ctx:
        command = cli.get_command(ctx, name)
        if command is not None and subcommand and isinstance(command, click.Group):
            command = command.get_command(ctx, subcommand)
    return command


def _format_args(command: click.Command, wanted: tuple[str, ...]) -> list[str]:
    for param in command.params:
        if isinstance(param, click.Option) and "--format" in param.opts:
            choices = getattr(param.type, "choices", ())
            for fmt in wanted:
                if fmt in choices:
                    return ["--format", fmt]
    return []


def _has_option(command: click.Command, flag: str) -> bool:
    return any(isinstance(p, click.Option) and flag in p.opts for p in command.params)


@dataclass(frozen=True, slots=True)
class CliRun:
    code: int
    stdout: str
    message: str | None = None
    #: A phantomkeys module the command needed but this version lacks.
    missing_module: str | None = None


def run_cli_in_process(argv: list[str]) -> CliRun:
    """Run ``phantomkeys ARGV`` in this process, capturing its stdout."""
    from phantomkeys.cli import cli
    from phantomkeys.cli.common import GLOBALS

    # The global flags the demo itself was given hold for each step too.
    given = (("--debug", GLOBALS.debug), ("-q", GLOBALS.quiet), ("--no-color", GLOBALS.no_color))
    flags = [flag for flag, on in given if on]
    argv = [*flags, *argv]
    buffer = io.StringIO()
    message: str | None = None
    missing: str | None = None
    with contextlib.redirect_stdout(buffer):
        try:
            result = cli.main(args=argv, prog_name="phantomkeys", standalone_mode=False)
            code = result if isinstance(result, int) else 0
        except click.ClickException as exc:
            code, message = exc.exit_code, exc.format_message()
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.exceptions.Abort as exc:
            if isinstance(exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from None  # Ctrl-C ends the tour: exit 130
            code, message = 1, "aborted"
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except ModuleNotFoundError as exc:
            code, message = ExitCode.INCOMPLETE, f"{type(exc).__name__}: {exc}"
            if (exc.name or "").startswith("phantomkeys."):
                missing = exc.name
        except Exception as exc:  # a broken step must not end the tour
            code, message = ExitCode.INCOMPLETE, f"{type(exc).__name__}: {exc}"
    return CliRun(code, buffer.getvalue(), message, missing)


def _redact(text: str, secrets: list[str]) -> tuple[str, bool]:
    from phantomkeys.core.keys import redact

    found = False
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, redact(secret))
            found = True
    return text, found


@click.command("demo")
@output_dir_option(
    dest="out_dir", default="phantomkeys-demo", help="Folder for the report files.", old=["--out"]
)
@click.option("--seed", type=int, default=0, show_default=True, help="Lab seed.")
def demo(out_dir: str, seed: int) -> None:
    """Guided tour of phantomkeys on the built-in lab (no AWS account needed).

    Starts an emulated AWS account with every kind of API-key holder and an attack
    in its CloudTrail, then runs each phantomkeys command on it, explaining as it
    goes. Results are written to --output-dir.
    """
    from phantomkeys.cli.lab import require_lab

    require_lab()
    from phantomkeys.cli import COMMANDS, _module_exists
    from phantomkeys.lab import Lab, LabError
    from phantomkeys.report.safetext import markup as safe

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    info(
        "[bold]phantomkeys demo[/] - an emulated AWS account, seeded with phantom users, "
        "API keys and an attack in CloudTrail.",
        markup=True,
    )
    try:
        lab = Lab.start(scenario="demo", seed=seed)
    except (LabError, OSError) as exc:
        raise UsageProblem(f"the lab did not start: {exc}") from None
    failed: list[str] = []
    ran = skipped = 0
    with lab:
        info(
            f"lab ready at {lab.endpoint_url} (account {lab.management_account_id}, "
            f"{lab.manifest['accounts'][0]['user_count']} IAM users)\n"
        )
        ctx = DemoContext(lab=lab, out=out)
        secrets = list(lab.leaked_keys.values())
        total = len(DEMO_STEPS)
        for number, step in enumerate(DEMO_STEPS, start=1):
            label = f"[{number}/{total}] {step.title}"
            entry = COMMANDS.get(step.command)
            command = (
                _command(step.command, step.subcommand)
                if entry and _module_exists(entry[0])
                else None
            )
            if command is None:
                info(
                    f"[dim]{safe(label)}: skipped (`phantomkeys {step.command}` is not "
                    "available in this version)[/]",
                    markup=True,
                )
                skipped += 1
                continue
            info(f"[bold cyan]{safe(label)}[/]\n  {safe(step.explain)}", markup=True)
            argv = [step.command] + ([step.subcommand] if step.subcommand else [])
            argv += step.args(ctx) + _format_args(command, step.formats)
            if _has_option(command, "--no-history"):
                argv.append("--no-history")
            info(f"  $ phantomkeys {' '.join(_shown(a, out) for a in argv)}")
            with lab_environment(lab.env):
                run = run_cli_in_process(argv)
            if run.missing_module:
                info(
                    f"[dim]  skipped: this version lacks {safe(run.missing_module)}[/]\n",
                    markup=True,
                )
                skipped += 1
                continue
            code, message = run.code, run.message
            stdout, had_secret = _redact(run.stdout, secrets)
            if had_secret:
                warn(f"{step.command} printed a key; it was redacted in {step.output}")
            target = out / step.output
            write_private_file(target, stdout)
            ran += 1
            if code in (ExitCode.OK, ExitCode.FINDINGS):
                if step.highlight is not None:
                    shown = step.highlight(stdout)
                    if shown:
                        info("\n".join("    " + line for line in shown.splitlines()))
                note = " (findings)" if code == ExitCode.FINDINGS else ""
                info(f"  -> {target}{note}\n")
            else:
                failed.append(step.command)
                warn(f"{step.command} exited {code}" + (f": {message}" if message else ""))
                info("")
    info(f"[bold]Done.[/] {ran} steps ran, {skipped} skipped; files in {safe(out)}/", markup=True)
    info("Next: run the same commands on your own account (read-only): phantomkeys scan")
    if failed:
        raise UsageProblem(f"demo steps failed: {', '.join(failed)}", code=ExitCode.INCOMPLETE)


def _shown(arg: str, out: Path) -> str:
    return arg if " " not in arg else repr(arg)


__all__ = ["DEMO_STEPS", "CliRun", "DemoContext", "DemoStep", "demo", "run_cli_in_process"]
