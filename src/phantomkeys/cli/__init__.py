"""The ``phantomkeys`` command line.

Commands live one module per group in this package and are imported only when
used, so ``phantomkeys decode`` starts fast and a missing optional extra (the
lab, Spark) never breaks an unrelated command.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import click

from phantomkeys._meta import __version__

# name -> (module, attribute, one-line help). Order is the order of ``--help``.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("phantomkeys.cli.demo", "demo", "Guided tour of phantomkeys on the built-in lab."),
    "decode": ("phantomkeys.cli.decode", "decode", "Decode API keys offline (no AWS access)."),
    "scan": (
        "phantomkeys.cli.scan",
        "scan",
        "Find every API-key holder and rate its blast radius.",
    ),
    "audit": ("phantomkeys.cli.scan", "scan", "Alias of scan."),
    "report": ("phantomkeys.cli.respond", "report", "Incident report for one user or key."),
    "revoke": ("phantomkeys.cli.respond", "revoke", "Emergency revocation of a key."),
    "cleanup": (
        "phantomkeys.cli.respond",
        "cleanup",
        "Delete orphaned phantom users, with backups.",
    ),
    "restore": ("phantomkeys.cli.respond", "restore", "Undo what a revoke/cleanup backup allows."),
    "timeline": ("phantomkeys.cli.hunt", "timeline", "CloudTrail activity of a user or key."),
    "hunt": ("phantomkeys.cli.hunt", "hunt", "Run the detection rule pack over CloudTrail."),
    "rules": ("phantomkeys.cli.hunt", "rules", "List, self-test and export the rule pack."),
    "scp": ("phantomkeys.cli.scp", "scp", "Preventive Service Control Policies."),
    "alerts": ("phantomkeys.cli.scp", "alerts", "EventBridge alerting for key events."),
    "leaks": ("phantomkeys.cli.leaks", "leaks", "Find keys in files and git history."),
    "history": ("phantomkeys.cli.scans", "history", "Earlier scans and what changed."),
    "schema": ("phantomkeys.cli.scans", "schema", "Print the JSON Schema of an output."),
    "mint": ("phantomkeys.cli.saferpath", "mint", "Mint a short-term key from your credentials."),
    "least-privilege": (
        "phantomkeys.cli.saferpath",
        "least_privilege",
        "Minimal policy from real activity.",
    ),
    "lab": ("phantomkeys.cli.lab", "lab", "The emulated AWS account and Organization."),
    "completion": (
        "phantomkeys.cli.completion",
        "completion",
        "Print the shell completion script (bash, zsh, fish).",
    ),
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs or its help is shown."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (mod, _, _) in COMMANDS.items() if _module_exists(mod)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not _module_exists(entry[0]):
            return None
        module = importlib.import_module(entry[0])
        command = getattr(module, entry[1], None)
        return command if isinstance(command, click.Command) else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table, so ``--help`` does not import every module.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _module_exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=(
        "Exit codes (every command): 0 clean; 1 findings at or above --fail-on; "
        "2 usage or input error (bad option, unknown region or identity, a file that "
        "cannot be read or written); 3 incomplete (something asked for could not be "
        "read); 4 a write failed or a safety check refused it; 70 internal error (a bug: "
        "please report it, with --debug output); 130 interrupted (Ctrl-C; nothing half "
        "written).\n\n"
        "AWS access follows the AWS CLI: --profile, --region, the standard credential chain, "
        "and AWS_ENDPOINT_URL (the lab). Start with:  phantomkeys demo"
    ),
)
@click.version_option(__version__, prog_name="phantomkeys")
@click.option("--debug", is_flag=True, help="Show tracebacks and the AWS request log.")
@click.option("-q", "--quiet", is_flag=True, help="Only results and errors; no progress or notes.")
@click.option("--no-color", is_flag=True, help="No colour on stderr or stdout (also NO_COLOR=1).")
def cli(debug: bool, quiet: bool, no_color: bool) -> None:
    """phantomkeys: Bedrock and Claude Platform API keys and the phantom IAM users behind them.

    Decode a leaked key offline, find every key holder in an account or
    Organization and rate its blast radius, revoke and clean up safely with
    backups, hunt CloudTrail for abuse, prevent it with SCPs, and find keys
    leaked in code.
    """
    from phantomkeys.cli.common import GLOBALS

    GLOBALS.debug = debug
    GLOBALS.quiet = quiet
    GLOBALS.no_color = no_color


def main(argv: list[str] | None = None) -> Any:
    """The ``phantomkeys`` program: always ends with ``SystemExit``.

    Run on the program's own command line (``argv`` None), it ends the process
    itself once the results are written (see :func:`~phantomkeys.cli.common.end_process`).
    """
    from phantomkeys.cli.common import end_process, run_cli

    if argv is not None:
        return run_cli(cli, argv)
    try:
        return run_cli(cli, argv)
    except SystemExit as done:
        end_process(done.code)
