"""The GitHub Action's last mile: ``python -m phantomkeys.cli.ci``.

``action.yml`` runs a command once with ``--format json``; this turns that one document
into the SARIF file for ``github/codeql-action/upload-sarif`` and a Markdown job summary
(appended to ``$GITHUB_STEP_SUMMARY``), and prints ``name=value`` lines for
``$GITHUB_OUTPUT``. One run, one document, every rendering from it (``report.formats``).

It never hides the scan's own result: a missing or unreadable document (the command
failed before writing it) gives a summary that says so and the scan's exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: What each exit code means (docs/architecture.md), for the summary's first line.
EXIT_MEANING = {
    0: "clean",
    1: "findings at or above --fail-on",
    2: "usage error or bad input",
    3: "INCOMPLETE: something could not be read",
    4: "a write failed or was refused",
    70: "internal error",
    130: "interrupted",
}
#: GitHub caps a step summary at 1 MiB; stay well under it.
MAX_SUMMARY_BYTES = 512 * 1024


def _load(path: Path) -> Mapping[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, Mapping) else None


def summary(document: Mapping[str, Any] | None, *, command: str, code: int) -> str:
    """The job summary: verdict, coverage, then the findings as Markdown."""
    from phantomkeys.report.markdown import esc

    meaning = EXIT_MEANING.get(code, "unexpected exit code")
    lines = [f"## phantomkeys {esc(command)}: exit {code} ({esc(meaning)})", ""]
    if document is None:
        lines.append("No report was written: see the step's log for the error.")
        return "\n".join(lines) + "\n"
    coverage = document.get("coverage")
    if isinstance(coverage, Mapping):
        read = coverage.get("read") or {}
        skipped = coverage.get("skipped") or {}
        parts = ", ".join(f"{n:,} {esc(k)}" for k, n in read.items()) or "nothing"
        line = f"**Read:** {parts}"
        if skipped:
            line += "; **skipped:** " + ", ".join(f"{n:,} {esc(k)}" for k, n in skipped.items())
        lines += [line, ""]
        for reason in coverage.get("reasons") or ():
            lines.append(f"> [!WARNING]\n> {esc(reason)}\n")
    from phantomkeys.report.formats import render

    text = "\n".join(lines) + "\n" + render(document, "markdown")
    data = text.encode("utf-8")
    if len(data) > MAX_SUMMARY_BYTES:
        text = data[:MAX_SUMMARY_BYTES].decode("utf-8", "ignore")
        text += "\n\n… (truncated: the SARIF file and the JSON report hold everything)\n"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m phantomkeys.cli.ci")
    parser.add_argument("--document", required=True, type=Path)
    parser.add_argument("--command", required=True)
    parser.add_argument("--exit-code", required=True, type=int)
    parser.add_argument("--sarif", type=Path)
    parser.add_argument("--summary", type=Path, help="appended to (GITHUB_STEP_SUMMARY)")
    args = parser.parse_args(argv)
    document = _load(args.document)
    findings = 0
    if document is not None:
        findings = len(document.get("findings") or ())
        if args.sarif is not None:
            from phantomkeys.report.formats import render

            args.sarif.parent.mkdir(parents=True, exist_ok=True)
            args.sarif.write_text(render(document, "sarif"), encoding="utf-8")
    if args.summary is not None:
        with open(args.summary, "a", encoding="utf-8") as fh:
            fh.write(summary(document, command=args.command, code=args.exit_code))
    print(f"findings={findings}")
    print(f"sarif={args.sarif if document is not None and args.sarif else ''}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
