"""``phantomkeys lab serve|scenarios|seed``: the emulated AWS environment."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from phantomkeys._meta import envelope
from phantomkeys.cli.common import (
    UsageProblem,
    default_format,
    dumps_json,
    format_option,
    info,
    output_option,
    output_path_callback,
    write_output,
    write_private_file,
)

SCENARIO_NAMES = ("demo", "org", "empty")


def require_lab() -> None:
    """One clear line when the optional ``[lab]`` extra is missing."""
    from phantomkeys.lab import lab_available

    if not lab_available():
        raise UsageProblem(
            "the lab needs moto and its server extras", hint="pip install 'phantomkeys[lab]'"
        )


def _plan_args(
    scenario: str | None, users: int | None, phantoms: int | None, accounts: int | None
) -> dict[str, Any]:
    counts = (users, phantoms, accounts)
    if scenario and any(c is not None for c in counts):
        raise UsageProblem("use either --scenario or --users/--phantoms/--accounts, not both")
    if scenario is None and all(c is None for c in counts):
        scenario = "demo"
    users, phantoms, accounts = (c or 0 for c in counts)
    if phantoms > users:
        raise UsageProblem(f"--phantoms ({phantoms}) cannot exceed --users ({users})")
    return {"scenario": scenario, "users": users, "phantoms": phantoms, "accounts": accounts}


def _check_faults(spec: str | None) -> None:
    from phantomkeys.lab.faults import FaultSpecError, parse_spec

    try:
        parse_spec(spec)
    except FaultSpecError as exc:
        raise UsageProblem(f"--faults: {exc}") from None


def plan_options(f: Any) -> Any:
    options = [
        click.option(
            "--scenario",
            type=click.Choice(SCENARIO_NAMES),
            default=None,
            help="A prepared scenario (default: demo, unless counts are given).",
        ),
        click.option(
            "--users",
            type=click.IntRange(0),
            default=None,
            help="IAM users per account (count mode).",
        ),
        click.option(
            "--phantoms",
            type=click.IntRange(0),
            default=None,
            help="How many of them are phantom users, in varied states.",
        ),
        click.option(
            "--accounts",
            type=click.IntRange(0, 90),
            default=None,
            help="Member accounts besides the management account.",
        ),
        click.option(
            "--seed",
            type=int,
            default=0,
            show_default=True,
            help="Seed: the same seed seeds the same lab.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group("lab")
def lab() -> None:
    """The emulated AWS account and Organization (moto, extended to behave like AWS).

    Security teams use it to try phantomkeys, train responders and test their own
    detections without touching a real account. It listens on 127.0.0.1 only.
    """


@lab.command("serve")
@plan_options
@click.option(
    "--faults",
    metavar="SPEC",
    default=None,
    help="Fault rules, e.g. 'iam:ListUsers=throttle:0.5,sts:AssumeRole@"
    "222222222222=denied' (changeable later: POST /_phantomkeys/faults).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="TCP port on 127.0.0.1 (0: a free one).",
)
@click.option(
    "--env-file",
    metavar="PATH",
    callback=output_path_callback,
    help="Also write the export lines to PATH (0600) once the lab is ready, for "
    "'source PATH'; removed when the lab stops.",
)
@click.option(
    "--detach",
    is_flag=True,
    help="Start the lab in the background, print its export lines (with "
    'PHANTOMKEYS_LAB_PID) once it is ready, and return: for eval "$(...)".',
)
def serve(
    scenario: str | None,
    users: int | None,
    phantoms: int | None,
    accounts: int | None,
    seed: int,
    faults: str | None,
    port: int,
    env_file: str | None,
    detach: bool,
) -> None:
    """Run a seeded lab until Ctrl-C / SIGTERM (or in the background with --detach).

    Prints the `export` lines a shell needs, then a ready line, on stdout;
    progress on stderr. In the foreground the command runs until stopped, so
    do not eval it; instead:

    \b
      eval "$(phantomkeys lab serve --detach)"     # returns once the lab is ready
      phantomkeys scan
      kill "$PHANTOMKEYS_LAB_PID"                  # stop it

    \b
      phantomkeys lab serve --env-file lab.env &   # or: run it yourself, then
      source lab.env                               # once lab.env exists
    """
    require_lab()
    args = _plan_args(scenario, users, phantoms, accounts)
    _check_faults(faults)
    if detach:
        _detach(args, seed=seed, faults=faults, port=port, env_file=env_file)
        return
    from phantomkeys.lab import Lab, LabError

    info("starting the lab…")
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        try:
            running = Lab.start(**args, seed=seed, faults=faults, port=port)
        except (LabError, ValueError, OSError) as exc:
            raise UsageProblem(f"the lab did not start: {exc}") from None
        with running:
            env = {**running.env, "PHANTOMKEYS_LAB_PID": str(os.getpid())}
            lines = [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
            summary = running.manifest["seeding"]
            lines.append(
                f"# phantomkeys lab ready: {running.scenario} on {running.endpoint_url} "
                f"(accounts: {1 + len(running.member_account_ids)}, "
                f"seeded in {summary['seconds']} s); Ctrl-C or kill "
                f"$PHANTOMKEYS_LAB_PID to stop"
            )
            if env_file:
                write_private_file(Path(env_file), "\n".join(lines) + "\n")
            with contextlib.suppress(OSError):  # stdout closed: a reader that left
                click.echo("\n".join(lines))
            try:
                while not stop.wait(0.5):
                    if not running.running:
                        raise UsageProblem("the lab server stopped unexpectedly", code=3)
            finally:
                if env_file:
                    with contextlib.suppress(OSError):
                        os.unlink(env_file)
        info("lab stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _detach(
    args: dict[str, Any], *, seed: int, faults: str | None, port: int, env_file: str | None
) -> None:
    """Start ``lab serve --env-file`` in a new session, wait until it is ready, print
    its export lines and return (the lab outlives this process and the shell's Ctrl-C)."""
    import subprocess
    import tempfile
    import time

    folder = Path(tempfile.mkdtemp(prefix="phantomkeys-lab-"))
    target = Path(env_file) if env_file else folder / "lab.env"
    log = folder / "lab.log"
    argv = [sys.executable, "-m", "phantomkeys", "lab", "serve", "--seed", str(seed)]
    argv += ["--port", str(port), "--env-file", str(target)]
    if args["scenario"]:
        argv += ["--scenario", args["scenario"]]
    else:
        argv += ["--users", str(args["users"]), "--phantoms", str(args["phantoms"])]
        argv += ["--accounts", str(args["accounts"])]
    if faults:
        argv += ["--faults", faults]
    with open(log, "wb") as err:
        child = subprocess.Popen(  # noqa: S603 - this program, argv built here
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            close_fds=True,
        )
    info(f"starting the lab in the background (pid {child.pid}; log {log})…")
    deadline = time.monotonic() + 120
    while not target.exists():
        if child.poll() is not None:
            reason = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
            raise UsageProblem(
                "the lab did not start: " + (reason[-1] if reason else f"exit {child.returncode}")
            )
        if time.monotonic() > deadline:
            child.terminate()
            raise UsageProblem("the lab did not become ready within 120 s", hint=f"see {log}")
        time.sleep(0.1)
    click.echo(target.read_text(encoding="utf-8").rstrip("\n"))
    info(f"lab running in the background; stop it with: kill {child.pid}")


@lab.command("scenarios")
@format_option(["table", "json"])
@output_option()
def scenarios(fmt: str | None, output: str | None) -> None:
    """List the scenarios and what each contains."""
    from phantomkeys.lab.scenarios import describe_scenarios

    described = describe_scenarios()
    if (fmt or default_format()) == "json":
        write_output(dumps_json(envelope(scenarios=described)), output)
        return
    lines: list[str] = []
    for sc in described:
        lines.append(f"{sc['name']}: {sc['description']}")
        if sc["faults"]:
            lines.append(f"  faults: {sc['faults']}")
        for acct in sc["accounts"]:
            where = f" (OU {acct['ou']})" if acct["ou"] else ""
            lines.append(
                f"  account {acct['account_id']} {acct['name']}{where}"
                + (f": {acct['notes']}" if acct["notes"] else "")
            )
            for user in acct["users"]:
                verdict = f"{user['kind']}, {user['status']}" if user["kind"] else "not reported"
                case = f" - {user['case']}" if user["case"] else ""
                lines.append(f"    {user['username']:<22} {verdict}{case}")
        lines.append("")
    lines.append("Counts instead of a scenario: --users N --phantoms P --accounts A")
    write_output("\n".join(lines), output)


@lab.command("seed")
@plan_options
@click.option(
    "--endpoint-url",
    envvar="AWS_ENDPOINT_URL",
    metavar="URL",
    required=True,
    help="The running lab (default: $AWS_ENDPOINT_URL).",
)
@format_option(["table", "json"])
@output_option()
def seed_cmd(
    scenario: str | None,
    users: int | None,
    phantoms: int | None,
    accounts: int | None,
    seed: int,
    endpoint_url: str,
    fmt: str | None,
    output: str | None,
) -> None:
    """Seed a running lab (e.g. one started with `lab serve --scenario empty`).

    Prints the manifest: the ground truth of what was seeded. The lab's reset
    point becomes the newly seeded state.
    """
    args = _plan_args(scenario, users, phantoms, accounts)
    from urllib.error import URLError

    from phantomkeys.lab.scenarios import plan_for
    from phantomkeys.lab.seed import ControlClient, QueryError
    from phantomkeys.lab.seed import seed as run_seed
    from phantomkeys.lab.seeded_history import history_for

    plan = plan_for(
        args["scenario"],
        users=args["users"],
        phantoms=args["phantoms"],
        accounts=args["accounts"],
        seed=seed,
    )
    control = ControlClient(endpoint_url)
    try:
        control.call("GET", "health", timeout=5)
    except (URLError, OSError, ValueError):
        raise UsageProblem(
            f"no phantomkeys lab answers at {endpoint_url}",
            hint="start one with: phantomkeys lab serve --scenario empty",
        ) from None
    try:
        result = run_seed(endpoint_url, plan, progress=info)
    except QueryError as exc:
        raise UsageProblem(
            f"seeding failed: {exc}",
            hint="seed an empty lab; users that exist cannot be created again",
        ) from None
    except Exception as exc:
        raise UsageProblem(f"seeding failed: {type(exc).__name__}: {exc}") from None
    control.call("POST", "trail", {"records": history_for(plan, result.users, result.started_at)})
    control.call("POST", "recording", {"enabled": True})
    control.call("POST", "snapshot")
    manifest = plan.manifest()
    manifest["seeding"] = {"seconds": round(result.seconds, 2), "api_calls": result.api_calls}
    info(
        f"seeded {sum(len(a.users) for a in plan.accounts)} users in {result.seconds:.1f} s "
        f"({result.api_calls} API calls)"
    )
    if (fmt or default_format()) == "json":
        write_output(dumps_json(envelope(manifest=manifest)), output)
        return
    lines = [f"scenario {manifest['scenario']} seeded into {endpoint_url}"]
    for acct in manifest["accounts"]:
        lines.append(
            f"  {acct['account_id']} {acct['name']}: {acct['user_count']} users, "
            f"{len(acct['identities'])} to be reported"
        )
    admin = result.admin
    lines += [
        "",
        "# admin session for this seed:",
        f"export AWS_ACCESS_KEY_ID={shlex.quote(admin.access_key_id)}",
        f"export AWS_SECRET_ACCESS_KEY={shlex.quote(admin.secret_access_key)}",
        f"export AWS_SESSION_TOKEN={shlex.quote(admin.session_token or '')}",
    ]
    write_output("\n".join(lines), output)
