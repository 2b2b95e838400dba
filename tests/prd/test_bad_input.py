"""Bad input gives an OnexError with an actionable message, never a traceback or a hang."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.lib.errors import ErrorCode, OnexError
from agents.lib.prd_analyzer import MAX_PRD_BYTES, analyze_prd


def _error(source: str | Path) -> OnexError:
    with pytest.raises(OnexError) as info:
        analyze_prd(source)
    return info.value


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t \n", "\ufeff"])
def test_empty_or_whitespace_text(text: str) -> None:
    err = _error(text)
    assert err.code is ErrorCode.VALIDATION_ERROR
    assert "is empty" in err.message
    assert err.details["reason"] == "empty"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "prd.md"
    path.write_bytes(b"")
    err = _error(path)
    assert err.code is ErrorCode.VALIDATION_ERROR
    assert "prd.md" in err.message and "is empty" in err.message


def test_whitespace_only_file(tmp_path: Path) -> None:
    path = tmp_path / "prd.md"
    path.write_text("  \n\n   \n", encoding="utf-8")
    assert "is empty" in _error(path).message


def test_binary_file_with_nul_bytes(tmp_path: Path) -> None:
    path = tmp_path / "prd.md"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 20)
    err = _error(path)
    assert err.code is ErrorCode.VALIDATION_ERROR
    assert "binary data" in err.message
    assert err.details["reason"] == "binary"


def test_binary_file_with_many_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "prd.md"
    path.write_bytes(bytes(range(1, 9)) * 500 + b"# Title\n- Users can create loans\n")
    err = _error(path)
    assert err.code is ErrorCode.VALIDATION_ERROR
    assert "control characters" in err.message


def test_nul_in_text_argument() -> None:
    err = _error("# Title\n\x00\n- Users can create loans")
    assert err.code is ErrorCode.VALIDATION_ERROR
    assert "binary" in err.message


def test_invalid_utf8_says_which_byte_offset(tmp_path: Path) -> None:
    path = tmp_path / "prd.md"
    prefix = "# Café loans\n\n- Users can create loans\n".encode()
    path.write_bytes(prefix + b"\xff\xfe trailing")
    err = _error(path)
    assert err.code is ErrorCode.VALIDATION_ERROR
    assert "not valid UTF-8" in err.message
    assert f"byte offset {len(prefix)}" in err.message
    assert err.details["offset"] == len(prefix)


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "prd.md"
    path.write_bytes(b"\xef\xbb\xbf# Loans\n\n- Members can create a loan and store it.\n")
    assert analyze_prd(path).title == "Loans"


def test_text_over_the_limit_says_the_limit() -> None:
    text = "# Big\n\n- Users can create loans\n" + "word " * (MAX_PRD_BYTES // 5)
    err = _error(text)
    assert err.code is ErrorCode.VALIDATION_ERROR
    assert "too large" in err.message and str(MAX_PRD_BYTES) in err.message and "2 MB" in err.message
    assert err.details["limit"] == MAX_PRD_BYTES


def test_ten_megabyte_file(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    path.write_bytes(b"# Huge\n\n- Users can create loans\n" + b"lorem ipsum " * (10 * 1024 * 1024 // 12))
    err = _error(path)
    assert err.code is ErrorCode.VALIDATION_ERROR
    assert "too large" in err.message and "2 MB" in err.message


@pytest.mark.parametrize(
    "text",
    [
        "hello world",
        "Hello, world!\n\nJust saying hi.",
        "# [Product Name]\n\n## Requirements\n\n- [Your feature here]\n- [Another feature]\n\n## Goals\n\n- TBD\n",
        "# {{title}}\n\n## Features\n\n- <describe the feature>\n- TODO\n",
    ],
)
def test_text_that_names_nothing_to_build(text: str) -> None:
    err = _error(text)
    assert err.code is ErrorCode.VALIDATION_ERROR
    assert err.message.startswith("the PRD names nothing to build: ")
    assert "Requirements" in err.message  # the hint of what is needed
    assert err.details["reason"] == "nothing_to_build"


def test_missing_file_path_object(tmp_path: Path) -> None:
    err = _error(tmp_path / "nope.md")
    assert err.code is ErrorCode.NOT_FOUND
    assert "does not exist" in err.message and "nope.md" in err.message


def test_missing_file_as_string(tmp_path: Path) -> None:
    err = _error(str(tmp_path / "nope.markdown"))
    assert err.code is ErrorCode.NOT_FOUND


def test_directory_is_not_a_prd(tmp_path: Path) -> None:
    err = _error(tmp_path)
    assert err.code is ErrorCode.VALIDATION_ERROR
    assert "not a regular file" in err.message


def test_string_naming_an_existing_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "loans"
    path.write_text("# Loans\n\n- Members can create a loan.\n", encoding="utf-8")
    analysis = analyze_prd(str(path))
    assert analysis.title == "Loans"
    assert analysis.source_path == str(path)


def test_missing_title_comes_from_first_line() -> None:
    analysis = analyze_prd("Pet Adoption Portal\n\n- Shelters can create a pet profile.\n")
    assert analysis.title == "Pet Adoption Portal"
    assert analysis.service_name == "PetAdoptionPortal"


def test_missing_title_comes_from_file_name(tmp_path: Path) -> None:
    path = tmp_path / "pet-adoption_service.md"
    path.write_text(
        "- Shelters can create a pet profile and store it in PostgreSQL.\n- Adopters can search pets.\n",
        encoding="utf-8",
    )
    analysis = analyze_prd(path)
    assert analysis.title == "Pet Adoption Service"
    assert analysis.service_name == "PetAdoption"


def _adversarial() -> str:
    lines = [
        " " * 20_000,
        "*" * 20_000,
        "|" * 20_000,
        "| " * 10_000,
        "* " * 10_000,
        "- " * 10_000,
        "# " * 10_000,
        "**a " * 5_000,
        "[" * 20_000,
        "`" * 20_000,
        "As a " * 4_000,
        "FR-1: " * 3_000,
        "1. " * 6_000,
        '{"a": ' * 3_000,
        "\t" * 20_000,
        "=" * 20_000,
        "-" * 20_000,
        "a" + " " * 20_000 + "b",
    ]
    block = "\n".join(lines) + "\n"
    text = block * (MAX_PRD_BYTES // len(block) + 1)
    return text[: MAX_PRD_BYTES - 64]


def test_two_megabytes_of_adversarial_text_finishes() -> None:
    text = _adversarial()
    assert len(text.encode()) > MAX_PRD_BYTES - 100_000
    with pytest.raises(OnexError) as info:
        analyze_prd(text)
    assert info.value.code is ErrorCode.VALIDATION_ERROR


def test_adversarial_text_around_a_real_prd_still_analyses() -> None:
    noise = ("*" * 5_000 + "\n" + "|" * 5_000 + "\n" + " " * 5_000 + "\n") * 100
    text = "# Loans\n\n## Requirements\n\n- Members can create a loan and store it.\n\n" + noise
    analysis = analyze_prd(text)
    assert analysis.functional_requirements[0].text == "Members can create a loan and store it."


@pytest.mark.parametrize(
    "text",
    [
        "# X\n\n- Users can create loans\n" + "continuation line here\n" * 80_000,
        "# X\n\n- FR-1" + " " * 1_000_000 + "\n",
        "# X\n\n- R1" + " " * 1_000_000 + "x\n",
        "# X\n\n- Users can create loans " + "[" * 1_000_000 + "](x)\n",
        "# X\n\n## Requirements\n\n" + "### FR-1 Title\nAs a user, I want x so that y\n- ac\n" * 30_000,
        "# X\n\n## Data Model\n\n" + "### Thing\n- a (int)\n- b\n" * 30_000,
        "# X\n\n" + "".join("  " * (i % 40) + "- item\n" for i in range(80_000)),
        "# X\n\n```json\n{" + '"a": 1, // c\n' * 80_000 + "}\n```\n",
        "# X\n\n```sql\nCREATE TABLE x (" + "a int, " * 200_000 + ")\n```\n",
    ],
    ids=[
        "continuations",
        "id-blanks",
        "compact-id-blanks",
        "brackets",
        "req-headings",
        "entity-headings",
        "deep-nesting",
        "json-comments",
        "wide-ddl",
    ],
)
def test_pathological_shapes_finish(text: str) -> None:
    outcome = _outcome(text)
    assert outcome == ErrorCode.VALIDATION_ERROR.value or outcome.isidentifier()


def _outcome(text: str) -> str:
    """The service name, or the error code when the PRD is refused."""
    try:
        return analyze_prd(text).service_name
    except OnexError as err:
        return err.code.value


def test_one_long_line_of_text_is_text_not_a_file_name() -> None:
    """A single line longer than a file name may be (255 bytes) is PRD text, not an OSError."""
    line = "Order service: store orders in PostgreSQL and calculate the order total for each customer. " * 4
    assert len(line) > 255 and "\n" not in line
    with pytest.raises(OnexError) as caught:
        analyze_prd(line)  # read as text: one line without a list names no requirement
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert caught.value.details["reason"] == "nothing_to_build"
    analysis = analyze_prd("# Orders\n\n- " + line)
    assert "EFFECT" in analysis.recommended_node_types
    assert analysis.source_path is None


def test_a_too_long_md_file_name_is_a_validation_error() -> None:
    with pytest.raises(OnexError) as caught:
        analyze_prd("x" * 300 + ".md")
    assert caught.value.code is ErrorCode.VALIDATION_ERROR
    assert caught.value.message.endswith("cannot be used as a path: File name too long")
