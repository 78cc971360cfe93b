"""Static inventory of every AWS API call in ``src/phantomkeys/aws/**``.

Used by ``test_permissions.py``. For each module it finds the services it
creates clients for (``.client("iam")``) and every use of an operation of those
services: a call or a bound method passed around (``org.list_accounts``), a
paginator (``get_paginator("list_users")``), or an operation name held in a
string. Operation names come from botocore's service models, so a method only
counts when it really is an API operation of a service the module talks to.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

AWS_DIR = Path(__file__).resolve().parents[2] / "src" / "phantomkeys" / "aws"

#: Operations whose IAM action is not ``<prefix>:<OperationName>`` (service
#: authorization reference), or that need no permission at all (None).
ACTION_OVERRIDES: dict[tuple[str, str], str | None] = {
    ("sts", "GetCallerIdentity"): None,  # "No permissions are required"
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "GetBucketLocation"): "s3:GetBucketLocation",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("cloudtrail", "LookupEvents"): "cloudtrail:LookupEvents",
}

#: boto3 client helpers that are not API operations but make API calls.
CLIENT_HELPERS: dict[tuple[str, str], tuple[str, ...]] = {
    ("s3", "download_file"): ("GetObject", "HeadObject"),
    ("s3", "download_fileobj"): ("GetObject", "HeadObject"),
    ("s3", "upload_file"): ("PutObject",),
    ("s3", "upload_fileobj"): ("PutObject",),
}


@dataclass(frozen=True, slots=True, order=True)
class AwsCall:
    module: str
    service: str  # botocore service name, e.g. "iam"
    operation: str  # e.g. "ListServiceSpecificCredentials"
    line: int

    @property
    def action(self) -> str | None:
        key = (self.service, self.operation)
        if key in ACTION_OVERRIDES:
            return ACTION_OVERRIDES[key]
        return f"{iam_prefix(self.service)}:{self.operation}"


@cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


@cache
def operations(service: str) -> dict[str, str]:
    """snake_case method name -> OperationName, for one botocore service."""
    model = _session().get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


@cache
def iam_prefix(service: str) -> str:
    model = _session().get_service_model(service)
    return str(model.signing_name or model.endpoint_prefix)


_ACTION_LITERAL = re.compile(r"^([a-z0-9-]+):([A-Z][A-Za-z0-9]+)$")


@cache
def _known_services() -> frozenset[str]:
    return frozenset(_session().get_available_services())


def _action_literals(tree: ast.AST) -> set[tuple[str, str]]:
    """``"iam:PutUserPolicy"`` strings naming real operations (dispatch tables)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            m = _ACTION_LITERAL.match(node.value)
            if (
                m
                and m.group(1) in _known_services()
                and m.group(2) in operations(m.group(1)).values()
            ):
                out.add((m.group(1), m.group(2)))
    return out


def _client_services(tree: ast.AST) -> set[str]:
    """Services the module creates clients for, or names in ``service:Operation`` strings."""
    services = {service for service, _ in _action_literals(tree)}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "client"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            services.add(node.args[0].value)
    return services


def _found_in(node: ast.AST, module: str, services: list[str]) -> set[AwsCall]:
    found: set[AwsCall] = set()

    def match(name: str, line: int) -> None:
        for service in services:
            op = operations(service).get(name)
            if op is not None:
                found.add(AwsCall(module, service, op, line))
            for helper_op in CLIENT_HELPERS.get((service, name), ()):
                found.add(AwsCall(module, service, helper_op, line))

    for service, op in _action_literals(node):
        line = next(
            (
                n.lineno
                for n in ast.walk(node)
                if isinstance(n, ast.Constant) and n.value == f"{service}:{op}"
            ),
            0,
        )
        found.add(AwsCall(module, service, op, line))
    for sub in ast.walk(node):
        if (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and any(k.arg == "Tags" for k in sub.keywords)
        ):
            # Tag-on-create needs the service's TagResource permission too (SNS
            # CreateTopic, EventBridge PutRule, Organizations CreatePolicy docs).
            for service in services:
                if (
                    sub.func.attr in operations(service)
                    and "TagResource" in operations(service).values()
                ):
                    found.add(AwsCall(module, service, "TagResource", sub.lineno))
        if isinstance(sub, ast.Attribute):
            match(sub.attr, sub.lineno)
        elif (
            isinstance(sub, ast.Constant)
            and isinstance(sub.value, str)
            and "_" in sub.value
            and sub.value.isidentifier()
        ):
            match(sub.value, sub.lineno)
    return found


@dataclass(frozen=True, slots=True)
class ModuleIndex:
    calls: frozenset[AwsCall]
    #: top-level function or class name -> (its calls, names it references)
    defs: dict[str, tuple[frozenset[AwsCall], frozenset[str]]]
    #: (aws module stem, name) imported from sibling aws modules
    imports: tuple[tuple[str, str], ...]


@cache
def index(path: Path) -> ModuleIndex:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    services = sorted(_client_services(tree))
    module = path.stem
    defs = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name))
            defs[node.name] = (frozenset(_found_in(node, module, services)), names)
    imports = tuple(
        (n.module.rsplit(".", 1)[-1], alias.name)
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("phantomkeys.aws.")
        for alias in n.names
    )
    return ModuleIndex(frozenset(_found_in(tree, module, services)), defs, imports)


def calls_in(path: Path) -> list[AwsCall]:
    """The calls written in one module."""
    return sorted(index(path).calls)


def _closure(module: str, name: str, seen: set[tuple[str, str]]) -> set[AwsCall]:
    if (module, name) in seen:
        return set()
    seen.add((module, name))
    path = AWS_DIR / f"{module}.py"
    if not path.is_file():
        return set()
    idx = index(path)
    if name not in idx.defs:
        return set()
    calls, refs = idx.defs[name]
    out = set(calls)
    for ref in refs:
        if ref in idx.defs:
            out |= _closure(module, ref, seen)
        for src, imported in idx.imports:
            if imported == ref:
                out |= _closure(src, ref, seen)
    return out


def calls_of_module(module: str) -> list[AwsCall]:
    """A module's own calls plus those of the functions it imports from other aws modules."""
    path = AWS_DIR / f"{module}.py"
    idx = index(path)
    out = set(idx.calls)
    seen: set[tuple[str, str]] = set()
    for src, name in idx.imports:
        out |= _closure(src, name, seen)
    return sorted(out)


def all_calls(paths: Iterable[Path] | None = None) -> list[AwsCall]:
    files = sorted(paths) if paths is not None else sorted(AWS_DIR.rglob("*.py"))
    return [c for p in files for c in calls_in(p)]


if __name__ == "__main__":  # a quick listing: python tests/report/aws_calls.py
    for call in all_calls():
        print(f"{call.module:28} {call.service:14} {call.operation:40} {call.action}")
