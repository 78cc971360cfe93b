"""The format registry: every command's ``--format`` goes through :func:`render`.

``FORMATS[command]`` lists what a command offers besides ``table`` (which each
command draws itself for the terminal); ``render(document, fmt)`` scrubs the
document of anything key-shaped and hands it to the format's module.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from phantomkeys.report import document as doc
from phantomkeys.report.redact import scrub

#: format -> module in this package with ``render(document) -> str``.
MODULES: dict[str, str] = {
    "json": "phantomkeys.report.json_report",
    "sarif": "phantomkeys.report.sarif",
    "ocsf": "phantomkeys.report.ocsf",
    "asff": "phantomkeys.report.asff",
    "csv": "phantomkeys.report.csv_report",
    "markdown": "phantomkeys.report.markdown",
    "html": "phantomkeys.report.html_report",
}

_FINDING_FORMATS = ("json", "sarif", "ocsf", "asff", "csv", "markdown", "html")

#: Formats each command offers for ``--format`` (``table`` is drawn by the command).
FORMATS: dict[str, tuple[str, ...]] = {
    "scan": _FINDING_FORMATS,
    "hunt": _FINDING_FORMATS,
    "leaks": _FINDING_FORMATS,
    "coverage": _FINDING_FORMATS,
}

#: File name extension per format (for ``-o`` defaults and the scheduled scan).
EXTENSIONS: dict[str, str] = {
    "json": "json",
    "sarif": "sarif",
    "ocsf": "ocsf.json",
    "asff": "asff.json",
    "csv": "csv",
    "markdown": "md",
    "html": "html",
}


class UnknownFormat(ValueError):
    pass


def formats_for(command: str) -> tuple[str, ...]:
    return FORMATS.get(command, _FINDING_FORMATS)


def render(document: Mapping[str, Any], fmt: str) -> str:
    """Render ``document`` as ``fmt``; raises :class:`UnknownFormat` for anything else."""
    name = fmt.lower()
    command = doc.command_of(document)
    if name not in MODULES or name not in formats_for(command):
        choices = ", ".join(formats_for(command))
        raise UnknownFormat(f"{command} cannot be rendered as {fmt!r} (choose from {choices})")
    module = importlib.import_module(MODULES[name])
    renderer: Any = module.render
    return str(renderer(scrub(document)))
