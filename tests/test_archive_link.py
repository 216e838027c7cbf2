"""A digest links to its own web copy when [digest] archive_url says where the archive is."""

from __future__ import annotations

import mailbox
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from test_sending import ENV, NOW, make_site

from fieldfeed.config import load_settings
from fieldfeed.mail import send_digest


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_sent_digest_links_to_its_archive_page(tmp_path: Path) -> None:
    make_site(tmp_path, port=None, subscribers=1)
    config = tmp_path / "fieldfeed.toml"
    config.write_text(
        config.read_text().replace(
            "[digest]\n", '[digest]\narchive_url = "https://notes.example.org/archive"\n'
        ),
        encoding="utf-8",
    )
    report = send_digest(load_settings(tmp_path), NOW, environ=ENV)
    assert report.sent == 1
    box = mailbox.Maildir(tmp_path / ".fieldfeed" / "outbox", create=False)
    (raw,) = [m.as_bytes() for m in box]
    message = message_from_bytes(raw, _class=EmailMessage, policy=policy.default)
    _, html = parts(message)
    assert 'href="https://notes.example.org/archive/1/"' in html


def test_without_archive_url_there_is_no_browser_link(tmp_path: Path) -> None:
    settings = make_site(tmp_path, port=None, subscribers=1)
    send_digest(settings, NOW, environ=ENV)
    box = mailbox.Maildir(tmp_path / ".fieldfeed" / "outbox", create=False)
    (raw,) = [m.as_bytes() for m in box]
    assert b"/archive/" not in raw
