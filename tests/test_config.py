"""fieldfeed.toml validation: every problem reported, with its line, in one round."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldfeed.config import load_settings, parse_settings
from fieldfeed.errors import ConfigError

GOOD = """\
[site]
title = "Field Notes"
url = "https://example.org"
timezone = "Europe/Berlin"
language = "en-GB"

[digest]
from = "Field Notes <news@example.org>"
grace = 2

[delivery]
transport = "smtp"
port = 2525
"""


def test_good_config_is_parsed_and_normalised(tmp_path: Path) -> None:
    s = parse_settings(GOOD, tmp_path)
    assert s.site.url == "https://example.org/"  # a trailing slash is added
    assert s.digest.sender == "Field Notes <news@example.org>"
    assert s.digest.grace_hours == 2.0  # ints accepted where numbers are expected
    assert s.delivery.port == 2525
    assert s.feeds.max_items == 50  # defaults fill what is missing
    assert s.site.tz.key == "Europe/Berlin"


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    text = """\
[site]
title = "x"
url = "ftp://example.org/"
timezone = "Mars/Olympus"
language = "en_US"

[feeds]
max_items = "many"

[delivery]
password = "hunter2"
security = "ssl"

[nonsense]
"""
    with pytest.raises(ConfigError) as info:
        parse_settings(text, tmp_path)
    lines = str(info.value).splitlines()
    assert "fieldfeed.toml:14: unknown section [nonsense]" in lines
    assert "fieldfeed.toml:8: [feeds] max_items must be a whole number, got 'many'" in lines
    assert (
        "fieldfeed.toml:11: [delivery] unknown key 'password' "
        "(secrets come from the environment: set password_env)" in lines
    )
    assert (
        "fieldfeed.toml:3: [site] url must start with https://, got 'ftp://example.org/'" in lines
    )
    assert "fieldfeed.toml:4: [site] timezone: unknown timezone 'Mars/Olympus'" in lines
    assert any(
        line.startswith("fieldfeed.toml:5: [site] language must be a BCP 47") for line in lines
    )
    assert any(line.startswith("fieldfeed.toml:12: [delivery] security") for line in lines)
    # The secret's value never appears in a message.
    assert "hunter2" not in str(info.value)


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings('[site]\ntitle = "x"\nurl = \n', tmp_path)
    assert str(info.value).startswith("fieldfeed.toml:3: invalid TOML: ")


def test_missing_config_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fieldfeed init"):
        load_settings(tmp_path)


def test_relative_sqlite_path_resolves_against_the_site(tmp_path: Path) -> None:
    s = parse_settings(GOOD, tmp_path)
    assert s.database_url == f"sqlite:///{(tmp_path / '.fieldfeed' / 'fieldfeed.db').resolve()}"


def test_demo_site_config_is_valid() -> None:
    root = Path(__file__).resolve().parent.parent
    s = load_settings(root)
    assert s.site.title


def test_digest_and_delivery_values_are_checked_up_front(tmp_path: Path) -> None:
    text = """\
[site]
title = "x"
url = "https://example.org/"

[digest]
schedule = "every monday at 8"
from = "news at example.org"
unsubscribe_url = "example.org/u/"
max_posts = 0

[delivery]
port = 70000

[delivery.dkim]
domain = "example.org"
"""
    with pytest.raises(ConfigError) as info:
        parse_settings(text, tmp_path)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("fieldfeed.toml:6: [digest] schedule: expected 5 cron fields")
    assert any(
        line.startswith("fieldfeed.toml:7: [digest] from must be an address") for line in lines
    )
    assert (
        "fieldfeed.toml:8: [digest] unsubscribe_url must start with https://, got 'example.org/u/'"
        in lines
    )
    assert "fieldfeed.toml:9: [digest] max_posts must be at least 1" in lines
    assert "fieldfeed.toml:12: [delivery] port must be 1-65535, got 70000" in lines
    assert any(
        line.startswith("fieldfeed.toml:14: [delivery.dkim] needs domain, selector")
        for line in lines
    )


@pytest.mark.parametrize("expr", ["0 8 * * mon", "30 7 * * 1-5", "0 */6 * * *", "15 9 1 * *"])
def test_valid_schedules_pass(tmp_path: Path, expr: str) -> None:
    text = f'[site]\ntitle = "x"\nurl = "https://example.org/"\n[digest]\nschedule = "{expr}"\n'
    assert parse_settings(text, tmp_path).digest.schedule == expr


def test_an_impossible_cron_field_is_reported(tmp_path: Path) -> None:
    text = (
        '[site]\ntitle = "x"\nurl = "https://example.org/"\n[digest]\nschedule = "0 25 * * mon"\n'
    )
    with pytest.raises(
        ConfigError, match=r"fieldfeed.toml:5: \[digest\] schedule '0 25 \* \* mon'"
    ):
        parse_settings(text, tmp_path)


@pytest.mark.parametrize(
    ("transport", "url", "error"),
    [
        ("smtp", "http://example.org/u/", True),
        ("smtp", "http://news.example.org:8080/u/", True),
        ("smtp", "http://10.0.0.5/u/", True),  # private, not loopback: mail leaves the machine
        ("smtp", "https://example.org/u/", False),
        ("smtp", "http://127.0.0.1:8000/u/", False),
        ("smtp", "http://127.8.9.10/u/", False),
        ("smtp", "http://[::1]:8000/u/", False),
        ("smtp", "http://localhost:8000/u/", False),
        ("smtp", "http://LocalHost/u/", False),
        ("maildir", "http://example.org/u/", False),  # the demo outbox sends nothing
    ],
)
def test_unsubscribe_url_must_be_https_when_mail_goes_out_by_smtp(
    tmp_path: Path, transport: str, url: str, error: bool
) -> None:
    """RFC 8058 needs an https one-click URI; http stays for loopback test setups."""
    text = (
        '[site]\ntitle = "T"\nurl = "https://example.org/"\n\n'
        f'[digest]\nfrom = "T <n@example.org>"\nunsubscribe_url = "{url}"\n\n'
        f'[delivery]\ntransport = "{transport}"\n'
    )
    if not error:
        assert parse_settings(text, tmp_path).digest.unsubscribe_url == url
        return
    with pytest.raises(ConfigError) as caught:
        parse_settings(text, tmp_path)
    assert str(caught.value) == (
        "fieldfeed.toml:7: [digest] unsubscribe_url must be https:// when [delivery] transport "
        f'= "smtp" (RFC 8058 one-click unsubscribe), got {url!r}'
    )
