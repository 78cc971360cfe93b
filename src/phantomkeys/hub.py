"""Import a report document into AWS Security Hub (``--security-hub``, scheduled scans).

The library step above :mod:`phantomkeys.aws.securityhub`: render the document as ASFF
(:mod:`phantomkeys.report.asff`), then hand the findings to the AWS adapter. Importing
findings is not reversible state and is not a plan step (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phantomkeys.aws.securityhub import ImportOutcome, caller_account, import_findings
from phantomkeys.report.asff import account_of_arn, to_asff
from phantomkeys.report.document import findings as document_findings
from phantomkeys.report.redact import scrub


def import_document(
    clients: Any, document: Mapping[str, Any], *, region: str | None = None
) -> ImportOutcome:
    """Render a report document as ASFF for the caller's account and import it.

    The findings are filed under the importing account (see
    :mod:`phantomkeys.report.asff` for why), in ``region`` or the context's region.
    """
    region = region or getattr(clients, "region", None) or getattr(clients, "region_name", None)
    importer = account_of_arn(document.get("metadata", {}).get("caller_arn"))
    if importer is None:
        importer = caller_account(clients)
    asff = to_asff(scrub(document), region=region, importer_account_id=importer)
    skipped = len(document_findings(document)) - len(asff)
    outcome = import_findings(clients, asff, region=region)
    if skipped:
        outcome = ImportOutcome(
            outcome.imported,
            outcome.failed,
            outcome.batches,
            outcome.retries,
            outcome.failures,
            skipped,
        )
    return outcome
