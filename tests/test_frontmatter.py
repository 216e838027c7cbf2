"""Front matter: YAML and TOML blocks, bodies, and errors that point at the line in the file."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fieldfeed.site.frontmatter import (
    NO_FRONT_MATTER,
    FrontMatterError,
    meta_datetime,
    parse_datetime_string,
    parse_front_matter,
)


def error(text: str) -> tuple[int, str]:
    with pytest.raises(FrontMatterError) as info:
        parse_front_matter(text)
    return info.value.line, info.value.message


def test_yaml_block_body_and_key_lines() -> None:
    fm = parse_front_matter(
        "---\ntitle: Hello\n# a comment\ndate: 2024-05-01\ntags:\n  - a\n  - b\n---\nBody\n"
    )
    assert fm.format == "yaml"
    assert fm.meta == {"title": "Hello", "date": dt.date(2024, 5, 1), "tags": ["a", "b"]}
    assert fm.body == "Body\n"
    assert fm.body_line == 9
    assert fm.key_lines == {"title": 2, "date": 4, "tags": 5}


def test_toml_block_native_datetimes() -> None:
    fm = parse_front_matter(
        '+++\ntitle = "Hello"\ndate = 2024-05-01T10:00:00+02:00\n[extra]\ntitle = 1\n+++\nBody'
    )
    assert fm.format == "toml"
    assert fm.meta["date"] == dt.datetime(2024, 5, 1, 10, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert fm.key_lines == {"title": 2, "date": 3, "extra": 4}
    assert fm.body == "Body"
    assert fm.body_line == 7


def test_crlf_bom_and_leading_blank_lines() -> None:
    fm = parse_front_matter("\ufeff\r\n---\r\ntitle: Hi\r\n---\r\nBody\r\n")
    assert fm.meta == {"title": "Hi"}
    assert fm.body_line == 5
    assert fm.key_lines == {"title": 3}


def test_empty_block_is_empty_mapping() -> None:
    fm = parse_front_matter("---\n---\n")
    assert fm.meta == {}
    assert fm.body_line == 3


def test_quoted_keys_found() -> None:
    assert parse_front_matter('---\n"title": x\n---\n').key_lines == {"title": 2}


def test_no_front_matter() -> None:
    assert error("# Just markdown\n") == (1, NO_FRONT_MATTER)
    assert error("") == (1, NO_FRONT_MATTER)
    assert error("\n\nText") == (3, NO_FRONT_MATTER)


def test_unclosed() -> None:
    assert error("---\ntitle: x\n\nbody\n") == (1, "front matter opened on line 1 is never closed")
    assert error("\n+++\ntitle = 'x'\n") == (2, "front matter opened on line 2 is never closed")


def test_yaml_error_line_is_line_in_file() -> None:
    text = "\n---\ntitle: ok\nauthor: me\nsummary: a: b\n---\nbody\n"
    assert error(text) == (
        5,
        "invalid YAML: mapping values are not allowed in this context (column 11)",
    )


def test_yaml_control_character_line() -> None:
    assert error("---\ntitle: ok\nauthor: a\x80b\n---\n") == (
        3,
        "invalid YAML: control character U+0080 is not allowed",
    )


def test_toml_error_line_is_line_in_file() -> None:
    text = '+++\ntitle = "ok"\ndate = 2024-13-45\nx = 1\n+++\n'
    line, message = error(text)
    assert line == 3
    assert message.startswith("invalid TOML: ") and "(column " in message


def test_toml_error_at_end_of_block() -> None:
    line, message = error("+++\ntitle = 'ok\n+++\n")
    assert line == 2
    assert message == 'invalid TOML: Expected "\'"'


def test_not_a_mapping() -> None:
    assert error("---\n- a\n- b\n---\n") == (
        1,
        "front matter must be a mapping of keys to values, got a list",
    )
    assert error("---\njust words\n---\n") == (
        1,
        "front matter must be a mapping of keys to values, got a string",
    )


@given(st.text())
def test_arbitrary_text_parses_or_raises_front_matter_error(text: str) -> None:
    for candidate in (text, "---\n" + text + "\n---\n", "+++\n" + text + "\n+++\n"):
        try:
            fm = parse_front_matter(candidate)
        except FrontMatterError as exc:
            assert exc.line >= 1
        else:
            assert isinstance(fm.meta, dict)


keys = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
# PyYAML's dumper folds NEL/LS/PS into line breaks, and its reader refuses C0/C1 controls.
plain = st.text(
    alphabet=st.characters(
        exclude_categories=["Cs", "Cc"], exclude_characters="\x85\u2028\u2029\ufeff"
    )
)
values = st.one_of(plain, st.integers(), st.booleans(), st.lists(plain, max_size=3))


@given(st.dictionaries(keys, values, max_size=6))
def test_yaml_round_trip_and_key_lines(meta: dict[str, object]) -> None:
    block = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) if meta else ""
    fm = parse_front_matter("---\n" + block + "---\nbody")
    assert fm.meta == meta
    assert set(fm.key_lines) == set(meta)
    lines = ("---\n" + block).split("\n")
    for key, line in fm.key_lines.items():
        assert lines[line - 1].lstrip("'\"").startswith(key)


# --- typed values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T18:15:00+02:00", dt.datetime(2024, 5, 1, 16, 15, tzinfo=dt.UTC)),
        ("2024-05-01 18:15:32 +0530", dt.datetime(2024, 5, 1, 12, 45, 32, tzinfo=dt.UTC)),
        ("2024-05-01 18:15 Z", dt.datetime(2024, 5, 1, 18, 15, tzinfo=dt.UTC)),
        ("2024-05-01 18:15", dt.datetime(2024, 5, 1, 18, 15)),
        ("2024-05-01", dt.datetime(2024, 5, 1)),
        ("tomorrow", None),
        ("2024-13-01", None),
        ("", None),
    ],
)
def test_parse_datetime_string(text: str, expected: dt.datetime | None) -> None:
    assert parse_datetime_string(text) == expected


@given(st.datetimes(timezones=st.timezones()))
def test_iso_datetimes_round_trip(value: dt.datetime) -> None:
    # Compared in UTC: equality of an ambiguous wall time (a DST fold) across zones is False.
    for text in (value.isoformat(), value.isoformat(" ")):
        parsed = parse_datetime_string(text)
        assert parsed is not None
        assert parsed.astimezone(dt.UTC) == value.astimezone(dt.UTC)


def test_meta_datetime_naive_means_site_timezone() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    errors: list[tuple[str, str]] = []
    report = lambda key, message: errors.append((key, message))  # noqa: E731
    assert meta_datetime(dt.date(2024, 7, 1), berlin, "date", report) == dt.datetime(
        2024, 7, 1, tzinfo=berlin
    )
    assert meta_datetime(dt.datetime(2024, 7, 1, 9), berlin, "date", report) == dt.datetime(
        2024, 7, 1, 9, tzinfo=berlin
    )
    assert meta_datetime(["x"], berlin, "updated", report) is None
    assert errors == [("updated", "expected ISO 8601, got a list")]
