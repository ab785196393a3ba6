"""The agency directory: who is on the bus, of which type, and where.

A CSV file (UTF-8, with or without the BOM Excel writes; header row) so a
site can keep it in a spreadsheet:
id, type, name_zh, name_en, latitude, longitude, admin_code, delivery_mode,
and optionally drills (yes/no: the agency takes part in exercises; absent or
empty, it does not).
A bad row is refused with its line number, the column and the reason; so is
a file in another encoding (GBK, say: named with `encoding=`, it is read) and
a cell far longer than any column takes (200 characters), found before the
csv module's own 128 KiB limit would raise a bare `_csv.Error`.
"""

from __future__ import annotations

import csv
import io
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


# No column takes more than 200 characters; a physical line longer than this
# is no row of a directory, and is refused with the cell that makes it so.
MAX_LINE_CHARS = 16 * 1024
MAX_CELL_CHARS = 1000
BOM = "\ufeff"


class _LongLine(Exception):
    def __init__(self, line: int, text: str) -> None:
        self.line, self.text = line, text


class _Lines:
    """The input's lines, counted, with the current record's kept (so a refusal
    can name its cell) and any line over MAX_LINE_CHARS refused before csv reads it."""

    def __init__(self, lines: Sequence[str] | Iterator[str]) -> None:
        self._it = iter(lines)
        self.count = 0
        self.record: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._it)
        self.count += 1
        if self.count == 1:
            line = line.removeprefix(BOM)  # Excel's "CSV UTF-8" starts with one
        self.record.append(line)
        if len(line) > MAX_LINE_CHARS:
            raise _LongLine(self.count, "".join(self.record))
        return line


def _long_cell(text: str) -> int | None:
    """The index of the first cell of `text` (one CSV record, maybe cut short)
    longer than MAX_CELL_CHARS, by a quote-aware scan of at most the first
    4 * MAX_LINE_CHARS characters (so a refusal costs a bounded time); None
    when there is none there (a line of many short cells)."""
    index = length = 0
    quoted = False
    i, n = 0, min(len(text), 4 * MAX_LINE_CHARS)
    while i < n:
        ch = text[i]
        if quoted:
            if ch == '"':
                if i + 1 < n and text[i + 1] == '"':
                    i += 1
                else:
                    quoted = False
                    i += 1
                    continue
            length += 1
        elif ch == '"':
            quoted = True
        elif ch == ",":
            index, length = index + 1, 0
        elif ch not in "\r\n":
            length += 1
        if length > MAX_CELL_CHARS:
            return index
        i += 1
    return None


def _column(header: Sequence[str], index: int) -> str:
    return header[index] if index < len(header) else f"column {index + 1}"


def parse_directory(lines: Sequence[str] | Iterator[str]) -> Directory:
    source = _Lines(lines)
    reader = csv.DictReader(source)
    try:
        return _parse(reader, source)
    except _LongLine as exc:
        index = _long_cell(exc.text)
        if index is None:
            raise DirectoryError(
                f"a line of more than {MAX_LINE_CHARS} characters is no directory row",
                line=exc.line,
                field="row",
            ) from None
        column = _column(tuple(reader.fieldnames or COLUMNS) if exc.line > 1 else (), index)
        raise DirectoryError(
            f"{column!r} holds a cell of more than {MAX_CELL_CHARS} characters;"
            " no column takes more than 200",
            line=exc.line,
            field=column,
        ) from None
    except csv.Error as exc:
        # NUL bytes, an unclosed quote at the end, or another row csv cannot split.
        raise DirectoryError(
            f"not readable as CSV: {exc}", line=source.count, field="row"
        ) from None


def _parse(reader: csv.DictReader[str], source: _Lines) -> Directory:
    header = tuple(reader.fieldnames or ())
    source.record = []  # the header is not part of the first row
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise DirectoryError(f"header lacks column(s) {', '.join(missing)}", line=1, field="header")
    agencies: list[Agency] = []
    seen: dict[str, int] = {}
    for row in reader:
        source.record = []
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


def load_directory(path: Path | str, *, encoding: str = "utf-8") -> Directory:
    """The directory at `path`; `encoding` names another one the file is in
    (`gbk`, `gb18030`): the default reads UTF-8 with or without a BOM."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the agency directory: {exc.strerror}", field=str(path)
        ) from exc
    try:
        text = raw.decode("utf-8-sig" if encoding.lower() in ("utf-8", "utf8") else encoding)
    except LookupError:
        raise ConfigError(f"unknown encoding {encoding!r}", field="encoding") from None
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DirectoryError(
            f"{path}: byte 0x{raw[exc.start]:02x} at byte {col} of the line is not {encoding}"
            " (a file saved in GBK, say: save it as CSV UTF-8, or load it with encoding='gbk')",
            line=line,
            field="encoding",
        ) from None
    # Split as open(newline="") would (str.splitlines also splits on U+2028).
    return parse_directory(io.StringIO(text, newline=""))


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
