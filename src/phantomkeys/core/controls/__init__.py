"""Preventive controls: SCPs, their validation and coverage, EventBridge alerts, IaC.

Pure: every function takes data and returns data or text; AWS access lives in
:mod:`phantomkeys.aws.organizations_controls`, argument parsing in
:mod:`phantomkeys.cli.scp`.
"""

from phantomkeys.core.controls.alerts import AlertRule, AlertScope, build_alert_rules
from phantomkeys.core.controls.scp import (
    SCP_MAX_CHARS,
    GeneratedPolicy,
    Preset,
    ScpError,
    ScpOptions,
    Statement,
    generate_policies,
    minify,
)
from phantomkeys.core.controls.validate import ControlsCatalog, PolicyInput, validate_policies

__all__ = [
    "SCP_MAX_CHARS",
    "AlertRule",
    "AlertScope",
    "ControlsCatalog",
    "GeneratedPolicy",
    "PolicyInput",
    "Preset",
    "ScpError",
    "ScpOptions",
    "Statement",
    "build_alert_rules",
    "generate_policies",
    "minify",
    "validate_policies",
]
