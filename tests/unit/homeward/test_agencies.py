"""The agency directory file: a good one loads, a bad row is refused with its
line number, the column and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeward.agencies import (
    COLUMNS,
    AgencyType,
    DeliveryMode,
    load_directory,
    parse_directory,
)
from homeward.errors import DirectoryError

HEADER = ",".join(COLUMNS)
GOOD_ROWS = [
    "POL-0001,police,示例县公安局第1派出所,Sampleville County Police Station 1,30.1,104.2,990101,inbox",
    "TRN-0012,transport,虚构市火车站,Fictionburg Railway Station,29.95,103.9,990203,webhook",
    'EDU-0002,education,测试镇第2小学,"Testtown No. 2 Primary School, East",30.0,104.0,99020301,',
]


def _lines(*rows: str, header: str = HEADER) -> list[str]:
    return [line + "\n" for line in (header, *rows)]


def test_a_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "agencies.csv"
    path.write_text("\n".join([HEADER, *GOOD_ROWS, "", ",,,,,,,"]) + "\n", encoding="utf-8")
    directory = load_directory(path)
    assert [a.id for a in directory] == ["POL-0001", "TRN-0012", "EDU-0002"]
    assert len(directory) == 3
    assert directory[1].name_en == "Fictionburg Railway Station"
    police = directory.get("POL-0001")
    assert police is not None
    assert police.type is AgencyType.POLICE
    assert (police.latitude, police.longitude) == (30.1, 104.2)
    assert police.name_zh == "示例县公安局第1派出所"
    assert directory.get("TRN-0012").delivery_mode is DeliveryMode.WEBHOOK  # type: ignore[union-attr]
    school = directory.get("EDU-0002")
    assert school is not None
    assert school.name_en == "Testtown No. 2 Primary School, East"
    assert school.delivery_mode is DeliveryMode.INBOX  # an empty cell takes the default
    assert directory.get("NOPE") is None
    assert [a.id for a in directory.of_type(AgencyType.TRANSPORT)] == ["TRN-0012"]


def test_columns_may_come_in_any_order_and_cells_are_trimmed() -> None:
    header = "type,id,name_en,name_zh,longitude,latitude,delivery_mode,admin_code"
    directory = parse_directory(
        _lines(" police , P-1 ,Station, 派出所 , 104.5 , 30.5 ,,990101", header=header)
    )
    (agency,) = directory
    assert (agency.id, agency.type, agency.latitude, agency.longitude) == (
        "P-1",
        AgencyType.POLICE,
        30.5,
        104.5,
    )


BAD_ROWS = {
    "unknown-type": ("POL-0009,polce,派出所,Station,30.1,104.2,990101,inbox", "type"),
    "latitude-91": ("POL-0009,police,派出所,Station,91,104.2,990101,inbox", "latitude"),
    "latitude-not-a-number": ("POL-0009,police,派出所,Station,north,104.2,990101,", "latitude"),
    "longitude-181": ("POL-0009,police,派出所,Station,30,181,990101,inbox", "longitude"),
    "admin-code-letters": ("POL-0009,police,派出所,Station,30.1,104.2,99AB01,inbox", "admin_code"),
    "admin-code-too-short": ("POL-0009,police,派出所,Station,30.1,104.2,9901,inbox", "admin_code"),
    "id-with-space": ("POL 0009,police,派出所,Station,30.1,104.2,990101,inbox", "id"),
    "empty-name": ("POL-0009,police,,Station,30.1,104.2,990101,inbox", "name_zh"),
    "unknown-delivery-mode": (
        "POL-0009,police,派出所,Station,30.1,104.2,990101,fax",
        "delivery_mode",
    ),
    "duplicate-id": (GOOD_ROWS[0], "id"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_a_bad_row_is_refused_with_its_line_and_column(case: str) -> None:
    row, column = BAD_ROWS[case]
    # The bad row is the fourth line of the file: header, two good rows, then it.
    with pytest.raises(DirectoryError) as caught:
        parse_directory(_lines(GOOD_ROWS[0], GOOD_ROWS[1], row))
    assert caught.value.line == 4
    assert caught.value.field == column
    assert str(caught.value).startswith(f"{column}: line 4:")


def test_a_duplicate_id_names_the_line_that_first_used_it() -> None:
    with pytest.raises(DirectoryError) as caught:
        parse_directory(_lines(GOOD_ROWS[0], GOOD_ROWS[1], GOOD_ROWS[0]))
    assert "'POL-0001' already used on line 2" in caught.value.reason


def test_a_missing_column_is_refused_on_the_header_line() -> None:
    header = HEADER.replace(",admin_code", "")
    with pytest.raises(DirectoryError) as caught:
        parse_directory(_lines("POL-0001,police,派出所,Station,30.1,104.2,inbox", header=header))
    assert caught.value.line == 1
    assert caught.value.field == "header"
    assert "admin_code" in caught.value.reason


def test_a_row_with_too_many_cells_is_refused_with_its_line() -> None:
    with pytest.raises(DirectoryError) as caught:
        parse_directory(_lines(GOOD_ROWS[0], GOOD_ROWS[1] + ",surplus"))
    assert caught.value.line == 3
    assert "more cells than the header has columns" in caught.value.reason


def test_line_numbers_count_blank_lines() -> None:
    lines = _lines(GOOD_ROWS[0], "", "POL-0002,police,派出所,Station,95,104.2,990101,inbox")
    with pytest.raises(DirectoryError) as caught:
        parse_directory(lines)
    assert caught.value.line == 4
    assert caught.value.field == "latitude"


def test_an_empty_file_is_refused() -> None:
    with pytest.raises(DirectoryError) as caught:
        parse_directory([])
    assert (caught.value.line, caught.value.field) == (1, "header")
