"""Snapshots: everything the lab holds, saved and restored in the server process."""

from __future__ import annotations

import pickle
from typing import Any

from phantomkeys.lab.extensions.base import iam_backends, organizations_backends, sts_backends

# ---------------------------------------------------------------- snapshots


def snapshot_state(extra: Any) -> bytes:
    """Everything the lab holds, as one pickle (shared objects stay shared)."""
    state = {
        "iam": {a: dict(b) for a, b in iam_backends.items()},
        "sts": {a: dict(b) for a, b in sts_backends.items()},
        "organizations": {a: dict(b) for a, b in organizations_backends.items()},
        "master_accounts": dict(organizations_backends.master_accounts),
        "extra": extra,
    }
    return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)


def restore_state(blob: bytes) -> Any:
    state = pickle.loads(blob)  # noqa: S301 - our own snapshot, never external input
    for name, backend_dict in (
        ("iam", iam_backends),
        ("sts", sts_backends),
        ("organizations", organizations_backends),
    ):
        saved: dict[str, dict[str, Any]] = state[name]
        for account in list(backend_dict.keys()):
            if account not in saved:
                del backend_dict[account]
        for account, regions in saved.items():
            asb = backend_dict[account]
            dict.clear(asb)
            for region, backend in regions.items():
                dict.__setitem__(asb, region, backend)
    organizations_backends.master_accounts.clear()
    organizations_backends.master_accounts.update(state["master_accounts"])
    return state["extra"]
