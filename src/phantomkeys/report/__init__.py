"""Output formats: one module per format, each ``render(document) -> str``.

Every command builds one JSON-able report document (``phantomkeys._meta.envelope``
plus ``metadata``, ``findings`` and ``rules``); every format renders that same
document, so a new format works for scan, hunt, leaks and coverage at once.
"""
