"""The layers of docs/architecture.md, enforced: imports point downwards only.

Every import in ``src/phantomkeys`` is read from the syntax tree (module level and inside
functions alike, since a lazy import is still a dependency) and checked against the
contracts below. A new upward arrow fails here with the file, the line and the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "phantomkeys"

#: Modules the pure core may import (besides the standard library and pure third parties).
CORE_MAY_IMPORT = (
    "phantomkeys.core",
    "phantomkeys.surfaces",
    "phantomkeys.catalog",
    "phantomkeys._meta",
)
#: What aws/ may import of phantomkeys.
AWS_MAY_IMPORT = (*CORE_MAY_IMPORT, "phantomkeys.aws")
#: Third-party packages that talk to AWS: only aws/ and the lab may import them.
AWS_SDKS = ("boto3", "botocore", "s3transfer")


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module or _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _violations(package: str, allowed: tuple[str, ...], *, sdk_ok: bool) -> list[str]:
    out: list[str] = []
    for path in sorted((SRC / package).rglob("*.py")):
        for line, name in _imports(path):
            rel = path.relative_to(SRC.parent)
            if name.startswith("phantomkeys") and not _under(name, allowed):
                out.append(f"{rel}:{line} imports {name}")
            if not sdk_ok and _under(name.split(".")[0], AWS_SDKS):
                out.append(f"{rel}:{line} imports {name} (only aws/ talks to AWS)")
    return out


def test_core_imports_nothing_above_it_and_no_aws_sdk() -> None:
    assert _violations("core", CORE_MAY_IMPORT, sdk_ok=False) == []


def test_aws_imports_neither_features_nor_cli_nor_the_facade() -> None:
    assert _violations("aws", AWS_MAY_IMPORT, sdk_ok=True) == []


@pytest.mark.parametrize("package", ["trail", "leaks", "report", "history", "respond"])
def test_features_do_not_import_the_cli(package: str) -> None:
    allowed = tuple(
        f"phantomkeys.{m}"
        for m in (
            "core",
            "surfaces",
            "catalog",
            "_meta",
            "aws",
            "trail",
            "leaks",
            "report",
            "history",
            "respond",
            "scan",
        )
    )
    assert _violations(package, allowed, sdk_ok=package == "trail") == []


def test_only_aws_and_the_lab_import_the_aws_sdk() -> None:
    """cli/ included: the demo resets the SDK's default session through aws/session.py."""
    offenders: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("aws", "lab"):
            continue
        offenders += [
            f"{rel}:{line} imports {name}"
            for line, name in _imports(path)
            if _under(name.split(".")[0], AWS_SDKS)
        ]
    assert offenders == []


def test_the_library_never_calls_sys_exit() -> None:
    offenders: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("cli", "lab") or rel.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "exit"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "sys"
            ):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The contract can fail: a planted upward import is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from phantomkeys.cli.common import ExitCode\nimport boto3\nfrom ..trail import x\n"
    )
    names = [n for _, n in _imports(bad, "phantomkeys.aws.bad")]
    assert names == ["phantomkeys.cli.common", "boto3", "phantomkeys.trail"]
    assert not _under("phantomkeys.trail", AWS_MAY_IMPORT)


def test_cli_modules_are_not_named_after_a_library_package_of_another_meaning() -> None:
    """``cli/trail.py`` and ``cli/history.py`` (the hunt commands, the scan history) read
    as ``trail/`` and ``history/`` (issue 17): the CLI modules are ``hunt.py`` and
    ``scans.py``. A CLI module may share a name only with the library it fronts."""
    cli = {p.stem for p in (SRC / "cli").glob("*.py")}
    assert cli & {"trail", "history"} == set()
    fronts = {"__init__", "scan", "lab", "leaks", "hunt", "respond"}
    library = {p.stem for p in SRC.iterdir() if p.suffix == ".py" or p.is_dir()}
    assert sorted((cli & library) - fronts) == []


def _names_imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_the_cli_translates_aws_errors_in_one_place() -> None:
    """``cli/common.aws_errors`` is the one AWS-error translator (issue 17): no other CLI
    module picks apart SDK failures itself."""
    translator = {"SETUP_ERRORS", "LOOKUP_ERRORS", "error_code", "error_message"}
    offenders = [
        f"cli/{path.name} imports {sorted(_names_imported(path) & translator)}"
        for path in sorted((SRC / "cli").glob("*.py"))
        if path.name != "common.py" and _names_imported(path) & translator
    ]
    assert offenders == []


@pytest.mark.parametrize("module", ["respond", "scan.py", "trail/hunt.py", "trail/timeline.py"])
def test_the_response_library_neither_prints_nor_parses(module: str) -> None:
    """Orchestration lives in the library (issue 17): it talks through the Console (or
    the callables) the CLI supplies, so it imports no click and calls no print. The
    hunt and timeline commands call ``trail.hunt.hunt`` and ``trail.timeline.timeline``."""
    root = SRC / module
    offenders: list[str] = []
    for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
        rel = path.relative_to(SRC)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, name in _imports(path):
            if _under(name, ("click", "rich")):
                offenders.append(f"{rel}:{line} imports {name}")
        offenders += [
            f"{rel}:{node.lineno} calls print"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "print"
        ]
    assert offenders == []


def test_the_deploy_library_neither_prints_nor_imports_the_cli() -> None:
    """``scp deploy`` and ``alerts deploy`` run in ``respond/deploy.py`` (issue 17): it
    talks through the Console the CLI supplies, so it imports no click, rich or
    ``phantomkeys.cli`` and calls no print."""
    path = SRC / "respond" / "deploy.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    offenders = [
        f"respond/deploy.py:{line} imports {name}"
        for line, name in _imports(path)
        if _under(name, ("click", "rich", "phantomkeys.cli"))
    ]
    offenders += [
        f"respond/deploy.py:{node.lineno} calls print"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "print"
    ]
    assert offenders == []


def test_hunt_and_timeline_commands_call_one_library_function() -> None:
    """``cli/hunt.py`` holds no engine orchestration (issue 17): it neither plans sources
    nor runs an engine nor builds the document; ``trail.hunt.hunt`` and
    ``trail.timeline.timeline`` do."""
    orchestration = {
        "plan_sources",
        "run_duckdb",
        "run_athena",
        "run_spark",
        "add_incidents",
        "hunt_coverage",
        "build_document",
        "run_timeline",
        "file_batches",
    }
    assert sorted(_names_imported(SRC / "cli" / "hunt.py") & orchestration) == []
