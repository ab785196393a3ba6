"""The agency directory: who is on the bus, of which type, and where.

A CSV file (UTF-8, header row) so a site can keep it in a spreadsheet:
id, type, name_zh, name_en, latitude, longitude, admin_code, delivery_mode,
and optionally drills (yes/no: the agency takes part in exercises; absent or
empty, it does not).
A bad row is refused with its line number, the column and the reason.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from enum import StrEnum
from pathlib import Path

import pydantic
from pydantic import Field

from homeward.agency_types import AgencyType
from homeward.errors import ConfigError, DirectoryError
from homeward.events.base import Model


class DeliveryMode(StrEnum):
    """How the agency takes deliveries: reads its inbox on Kafka with the SDK,
    takes them at its own HTTPS endpoint (the gateway's signed webhooks), or
    reads them from the gateway's API and console (no software of its own)."""

    INBOX = "inbox"
    WEBHOOK = "webhook"
    GATEWAY = "gateway"


class Agency(Model):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    type: AgencyType
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    admin_code: str = Field(pattern=r"^[0-9]{6,12}$")
    delivery_mode: DeliveryMode = DeliveryMode.INBOX
    # Opted into drills: an exercise alert (AlertIssued.exercise) reaches only these.
    drills: bool = False


__all__ = [
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "Agency",
    "AgencyType",
    "DeliveryMode",
    "Directory",
    "dump_directory",
    "load_directory",
    "parse_directory",
]

COLUMNS = (
    "id",
    "type",
    "name_zh",
    "name_en",
    "latitude",
    "longitude",
    "admin_code",
    "delivery_mode",
)
# Columns a directory may leave out (one written before they were added).
OPTIONAL_COLUMNS = ("drills",)


class Directory(list[Agency]):
    """The loaded directory: agencies in file order, and by id."""

    def __init__(self, agencies: list[Agency]) -> None:
        super().__init__(agencies)
        self._by_id = {a.id: a for a in agencies}

    def get(self, agency_id: str) -> Agency | None:
        return self._by_id.get(agency_id)

    def of_type(self, agency_type: AgencyType) -> list[Agency]:
        return [a for a in self if a.type == agency_type]


def parse_directory(lines: Sequence[str] | Iterator[str]) -> Directory:
    reader = csv.DictReader(lines)
    header = tuple(reader.fieldnames or ())
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DirectoryError(f"header lacks column(s) {', '.join(missing)}", line=1, field="header")
    agencies: list[Agency] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            raise DirectoryError("more cells than the header has columns", line=line, field="row")
        cells = {
            k: (v or "").strip() for k, v in row.items() if k in COLUMNS or k in OPTIONAL_COLUMNS
        }
        if not any(cells.values()):
            continue
        for column in ("delivery_mode", *OPTIONAL_COLUMNS):
            if not cells.get(column):
                cells.pop(column, None)
        try:
            agency = Agency.model_validate(cells)
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            column = ".".join(str(p) for p in err["loc"])
            raise DirectoryError(
                f"column {column!r}: {err['msg']} (got {cells.get(column)!r})",
                line=line,
                field=column,
            ) from exc
        if agency.id in seen:
            raise DirectoryError(
                f"id {agency.id!r} already used on line {seen[agency.id]}", line=line, field="id"
            )
        seen[agency.id] = line
        agencies.append(agency)
    return Directory(agencies)


def load_directory(path: Path | str) -> Directory:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return parse_directory(fh)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the agency directory: {exc.strerror}", field=str(path)
        ) from exc


def dump_directory(agencies: Sequence[Agency], path: Path | str) -> None:
    """Write agencies as a directory CSV that load_directory reads back unchanged."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow((*COLUMNS, *OPTIONAL_COLUMNS))
        for a in agencies:
            writer.writerow(
                [
                    a.id,
                    a.type.value,
                    a.name_zh,
                    a.name_en,
                    repr(a.latitude),
                    repr(a.longitude),
                    a.admin_code,
                    a.delivery_mode.value,
                    "yes" if a.drills else "no",
                ]
            )
