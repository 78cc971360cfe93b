"""Region names checked offline against botocore's bundled partition data.

botocore ships ``endpoints.json``: every partition (``aws``, ``aws-cn``,
``aws-us-gov``, the isolated ones) with the regions it holds. A name that is in
none of them is a typo (``us-est-1``, ``us-nowhere-9``); calling AWS with it
fails late and looks like an incomplete run. So names are checked here, before
any client is made, with no network call.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import lru_cache


class RegionError(ValueError):
    """A region name no partition knows; the message names it and a likely fix."""


@lru_cache(maxsize=1)
def known_regions() -> dict[str, str]:
    """Every region botocore knows, mapped to its partition (``us-east-1`` -> ``aws``)."""
    import botocore.loaders

    data = botocore.loaders.create_loader().load_data("endpoints")
    regions: dict[str, str] = {}
    for partition in data.get("partitions", ()):
        for name in partition.get("regions", {}):
            regions[name] = str(partition.get("partition", "aws"))
    return regions


def validate_region(name: str, *, option: str = "--region") -> str:
    """``name`` stripped and lower-cased, or :class:`RegionError` when no partition has it."""
    text = name.strip().lower()
    known = known_regions()
    if text in known:
        return text
    close = difflib.get_close_matches(text, list(known), n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise RegionError(
        f"{option}: {name!r} is not an AWS region{hint} "
        f"(known to this botocore: {len(known)} regions in "
        f"{len(set(known.values()))} partitions)"
    )


def validate_regions(names: Iterable[str], *, option: str = "--regions") -> list[str]:
    """Each name checked with :func:`validate_region` (commas split), duplicates dropped,
    order kept. ``all`` is not handled here: callers expand it first."""
    out: list[str] = []
    for entry in names:
        for part in str(entry).split(","):
            if not part.strip():
                continue
            region = validate_region(part, option=option)
            if region not in out:
                out.append(region)
    return out
