"""The vendored OASIS CAP 1.2 schema (README.md beside it says where it is from)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from lxml import etree

XSD = Path(__file__).with_name("CAP-v1.2.xsd")


@cache
def cap_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def cap_errors(document: bytes | etree._Element) -> list[str]:
    """What makes `document` invalid CAP 1.2 (empty: it is valid)."""
    root = etree.fromstring(document) if isinstance(document, bytes) else document
    schema = cap_schema()
    if schema.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
