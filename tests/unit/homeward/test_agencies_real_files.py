"""Directory files as a real site has them (issue 12): saved by Excel with a
BOM, saved in GBK, a cell pasted 200,000 characters long. Each loads, or is
refused by a DirectoryError naming the line and the field, never a raw
UnicodeDecodeError or _csv.Error."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeward.agencies import COLUMNS, load_directory, parse_directory
from homeward.errors import DirectoryError

HEADER = ",".join(COLUMNS)
ROWS = [
    "POL-0001,police,示例县公安局第1派出所,Sampleville County Police Station 1,30.1,104.2,990101,inbox",
    "EDU-0002,education,测试镇第2小学,Testtown No. 2 Primary School,30.0,104.0,99020301,",
]


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "agencies.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_a_directory_saved_by_excel_with_a_bom_loads(tmp_path: Path) -> None:
    # Excel's "CSV UTF-8" writes EF BB BF first and CRLF line ends.
    path = write(tmp_path, "\r\n".join([HEADER, *ROWS]) + "\r\n", "utf-8-sig")
    assert path.read_bytes()[:3] == b"\xef\xbb\xbf"
    assert [a.id for a in load_directory(path)] == ["POL-0001", "EDU-0002"]


def test_lines_with_a_bom_parse_too() -> None:
    assert len(parse_directory(["\ufeff" + HEADER + "\n", ROWS[0] + "\n"])) == 1


def test_a_directory_in_gbk_is_refused_naming_the_encoding_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "\n".join([HEADER, *ROWS]) + "\n", "gbk")
    with pytest.raises(DirectoryError) as caught:
        load_directory(path)
    err = caught.value
    assert (err.line, err.field) == (2, "encoding")
    assert "not utf-8" in err.reason
    assert "gbk" in err.reason


def test_a_directory_in_gbk_loads_when_its_encoding_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "\n".join([HEADER, *ROWS]) + "\n", "gbk")
    directory = load_directory(path, encoding="gbk")
    assert directory[0].name_zh == "示例县公安局第1派出所"


def test_an_unknown_encoding_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "\n")
    with pytest.raises(Exception) as caught:
        load_directory(path, encoding="no-such-codec")
    assert type(caught.value).__name__ == "ConfigError"


@pytest.mark.parametrize("quoted", [False, True])
def test_a_cell_of_200000_characters_names_its_line_and_column(
    tmp_path: Path, quoted: bool
) -> None:
    long = "x" * 200_000
    cell = f'"{long}"' if quoted else long
    bad = f"TRN-0003,transport,{cell},Fictionburg Station,29.9,103.9,990203,inbox"
    path = write(tmp_path, "\n".join([HEADER, ROWS[0], bad]) + "\n")
    with pytest.raises(DirectoryError) as caught:
        load_directory(path)
    err = caught.value
    assert (err.line, err.field) == (3, "name_zh")
    assert "more than 1000 characters" in err.reason


def test_a_line_of_many_short_cells_is_refused_as_a_row() -> None:
    with pytest.raises(DirectoryError) as caught:
        parse_directory([HEADER + "\n", ROWS[0] + "\n", "a," * 100_000 + "\n"])
    assert (caught.value.line, caught.value.field) == (3, "row")


def test_refusing_a_long_cell_scans_a_bounded_prefix() -> None:
    import time

    lines = [HEADER + "\n", "x," * 5 + '"' + '""' * 2_000_000 + '"\n']
    started = time.perf_counter()
    with pytest.raises(DirectoryError):
        parse_directory(lines)
    # The scan reads at most 64 KiB of the 4 MB line; 0.5 s is a generous ceiling.
    assert time.perf_counter() - started < 0.5


def test_a_long_cell_in_a_quoted_multi_line_field_is_named_too() -> None:
    lines = [HEADER + "\n", 'POL-9,police,"a\n', "b" * 20_000 + '",x,1,1,990101,inbox\n']
    with pytest.raises(DirectoryError) as caught:
        parse_directory(lines)
    assert (caught.value.line, caught.value.field) == (3, "name_zh")


def test_a_nul_byte_is_a_directory_error_with_its_line() -> None:
    with pytest.raises(DirectoryError) as caught:
        parse_directory([HEADER + "\n", ROWS[0] + "\n", "POL-2,po\x00lice,a,b,1,1,990101,\n"])
    assert caught.value.line == 3
