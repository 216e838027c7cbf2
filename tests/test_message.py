"""Digest messages: MIME structure, headers, per-recipient substitution, DKIM. Real parsing."""

from __future__ import annotations

import base64
import dataclasses
import email.policy
import re
import subprocess
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import dkim
import pytest
from golden_emails import (
    GOLDEN_NOW,
    GOLDEN_SECRET,
    golden_issue,
    golden_settings,
    golden_subscriber,
    make_post,
)

from fieldfeed.config import DkimSettings, Settings
from fieldfeed.mail.message import MessageError, MessageTemplate, default_list_id, message_id
from fieldfeed.mail.render import (
    PH_RECIPIENT,
    PH_TAG_FILTER,
    PH_UNSUBSCRIBE,
    RenderedIssue,
    personalize,
    render_issue,
    tag_filter_sentence,
)
from fieldfeed.mail.templating import template_env
from fieldfeed.mail.tokens import unsubscribe_link
from fieldfeed.model import Issue, Subscriber

PARSER = BytesParser(policy=email.policy.default)


def subscriber(
    sid: int = 42,
    name: str = "Ada Lovelace",
    email: str = "ada@example.com",
    tags: tuple[str, ...] = (),
) -> Subscriber:
    return dataclasses.replace(golden_subscriber(), id=sid, name=name, email=email, tags=tags)


def url_for(sid: int, settings: Settings | None = None) -> str:
    settings = settings or golden_settings()
    return unsubscribe_link(settings.digest.unsubscribe_url, GOLDEN_SECRET, sid)


_RENDERED: dict[str, RenderedIssue] = {}


def rendered_golden() -> RenderedIssue:
    if "golden" not in _RENDERED:
        settings = golden_settings()
        issue = golden_issue()
        _RENDERED["golden"] = render_issue(settings, template_env(settings), issue, issue.posts)
    return _RENDERED["golden"]


def template(
    settings: Settings | None = None,
    rendered: RenderedIssue | None = None,
    issue: Issue | None = None,
    test: bool = False,
) -> MessageTemplate:
    settings = settings or golden_settings()
    return MessageTemplate(
        settings,
        rendered or rendered_golden(),
        issue or golden_issue(),
        list_id=default_list_id(settings),
        test=test,
    )


def header_lines(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def qp_body_lines(raw: bytes) -> list[bytes]:
    body = raw.split(b"\r\n\r\n", 1)[1]
    return body.split(b"\r\n")


def body(msg: EmailMessage, kind: str) -> str:
    """Decoded text of the ``kind`` ("plain"/"html") part, line endings as LF."""
    part = msg.get_body((kind,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def assert_wire_format(raw: bytes) -> None:
    assert all(b < 128 for b in raw), "8-bit byte in the message"
    assert b"\n" not in raw.replace(b"\r\n", b""), "bare LF"
    assert all(len(line) < 998 for line in header_lines(raw))
    for line in qp_body_lines(raw):
        assert len(line) <= 76, line
        assert not line.endswith((b" ", b"\t")), f"trailing whitespace in QP line {line!r}"


def test_structure_text_first_html_last_both_quoted_printable() -> None:
    raw = template().build(subscriber(), url_for(42))
    assert_wire_format(raw)
    msg = PARSER.parsebytes(raw)
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["MIME-Version"] == "1.0"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
        assert part.get_content_charset() == "utf-8"
        assert part["MIME-Version"] is None
    assert msg.defects == [] and all(p.defects == [] for p in parts)


def test_headers() -> None:
    settings = golden_settings()
    raw = template().build(subscriber(), url_for(42))
    msg = PARSER.parsebytes(raw)
    assert msg["From"] == "Field Notes <news@fieldnotes.example.org>"
    assert msg["To"] == "Ada Lovelace <ada@example.com>"
    assert msg["Subject"] == (
        "Field Notes #7: SQLite in WAL mode: a year of running it in production"
    )
    assert msg["Date"].datetime == GOLDEN_NOW
    assert msg["Message-ID"] == "<issue-7.sub-42@fieldnotes.example.org>"
    assert msg["List-Id"] == "Field Notes <field-notes.fieldnotes.example.org>"
    assert msg["Precedence"] == "bulk"
    assert msg["X-Fieldfeed-Issue"] == "7"
    assert default_list_id(settings) == "field-notes.fieldnotes.example.org"


def test_list_unsubscribe_raw_and_one_click() -> None:
    url = url_for(123456789)
    raw = template().build(subscriber(sid=123456789), url)
    lines = header_lines(raw)
    start = next(i for i, line in enumerate(lines) if line.startswith(b"List-Unsubscribe:"))
    value = lines[start]
    for cont in lines[start + 1 :]:
        if not cont.startswith((b" ", b"\t")):
            break
        value += b"\r\n" + cont
    assert b"=?" not in value
    unfolded = value.replace(b"\r\n", b"").decode("ascii")
    assert unfolded == (
        f"List-Unsubscribe: <{url}>, <mailto:news@fieldnotes.example.org?subject=unsubscribe>"
    )
    assert len(url) <= 70
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    msg = PARSER.parsebytes(raw)
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_unsubscribe_mailto_from_config() -> None:
    settings = golden_settings()
    settings = dataclasses.replace(
        settings,
        digest=dataclasses.replace(settings.digest, unsubscribe_mailto="leave@lists.example.org"),
    )
    raw = template(settings).build(subscriber(), url_for(42))
    assert (
        "<mailto:leave@lists.example.org?subject=unsubscribe>"
        in PARSER.parsebytes(raw)["List-Unsubscribe"]
    )


def test_message_id_deterministic_and_per_subscriber() -> None:
    t = template()
    a1 = PARSER.parsebytes(t.build(subscriber(sid=1), url_for(1)))["Message-ID"]
    a2 = PARSER.parsebytes(template().build(subscriber(sid=1), url_for(1)))["Message-ID"]
    b = PARSER.parsebytes(t.build(subscriber(sid=2), url_for(2)))["Message-ID"]
    assert a1 == a2 == message_id(7, 1, "fieldnotes.example.org")
    assert a1 != b
    # Whole messages are reproducible byte for byte.
    assert t.build(subscriber(sid=1), url_for(1)) == template().build(subscriber(sid=1), url_for(1))


def test_test_send_prefix_and_own_message_id() -> None:
    msg = PARSER.parsebytes(template(test=True).build(subscriber(), url_for(42)))
    assert msg["Subject"].startswith("[TEST] Field Notes #7: ")
    assert msg["Message-ID"] != message_id(7, 42, "fieldnotes.example.org")
    assert msg["Message-ID"].startswith("<issue-7.test-")


def _non_ascii_setup() -> tuple[Settings, Issue, RenderedIssue]:
    settings = golden_settings()
    settings = dataclasses.replace(
        settings,
        site=dataclasses.replace(settings.site, title="Feldnotizen – Jörgs Blog"),
        digest=dataclasses.replace(settings.digest, sender="Jörg Müller <news@example.de>"),
    )
    post = make_post(
        "uber",
        "Über Caches, Köpfe und 🐘 PostgreSQL",
        ("Datenbanken",),
        "Zusammenfassung mit Umlauten: äöü ß.",
        500,
        GOLDEN_NOW,
    )
    issue = Issue(number=3, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=(post,))
    return settings, issue, render_issue(settings, template_env(settings), issue, issue.posts)


def test_non_ascii_name_and_subject_encode_and_decode_back() -> None:
    settings, issue, rendered = _non_ascii_setup()
    t = template(settings, rendered, issue)
    name = "Zoë Åström-Ñúñez 李小龍"
    raw = t.build(subscriber(name=name, email="zoe@example.se"), url_for(42))
    assert_wire_format(raw)
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0]
    msg = PARSER.parsebytes(raw)
    assert msg["Subject"] == "Feldnotizen – Jörgs Blog #3: Über Caches, Köpfe und 🐘 PostgreSQL"
    assert msg["To"].addresses[0].display_name == name
    assert msg["To"].addresses[0].addr_spec == "zoe@example.se"
    assert msg["From"].addresses[0].display_name == "Jörg Müller"
    text = body(msg, "plain")
    html = body(msg, "html")
    assert f"{name} <zoe@example.se>" in text
    assert f"{name} &lt;zoe@example.se&gt;" in html
    assert "Über Caches, Köpfe und 🐘 PostgreSQL" in text


@pytest.mark.parametrize(
    "name",
    [
        'Robert "Bobby" Tables, Esq.',
        "O'Brien (work)",
        "a.b@c <d>",
        "Dr. Strange",
        "x" * 300,
        "=?utf-8?q?not_an_encoded_word?=",
    ],
)
def test_awkward_ascii_names_round_trip(name: str) -> None:
    raw = template().build(subscriber(name=name), url_for(42))
    assert_wire_format(raw)
    msg = PARSER.parsebytes(raw)
    assert msg["To"].addresses[0].display_name == name
    assert msg["To"].addresses[0].addr_spec == "ada@example.com"


@pytest.mark.parametrize(
    ("bad", "shown"),
    [
        ("Ada\r\nBcc: victim@example.com", "Ada Bcc: victim@example.com"),
        ("Ada\nX", "Ada X"),
        ("Ada\rX", "Ada X"),
        ("Ada\u2028X", "Ada X"),
        ("Ada\u2029X", "Ada X"),
        ("Ada\x85X", "Ada X"),
        ("Ada\x0b\x0c\x1c\x1d\x1eX", "Ada X"),
        ("Ada\x00", "Ada"),
    ],
)
def test_line_breaks_in_name_normalised_not_fatal(bad: str, shown: str) -> None:
    """A stored name with a line separator is shown with a space: it must not make every
    digest to that subscriber fail, nor add a header."""
    raw = template().build(subscriber(name=bad), url_for(42))
    assert_wire_format(raw)
    msg = PARSER.parsebytes(raw)
    assert msg["To"].addresses[0].display_name == shown
    assert msg["Bcc"] is None


def test_line_breaks_in_subject_normalised_and_in_sender_rejected() -> None:
    settings = golden_settings()
    post = make_post("x", "Hello\r\nBcc: victim@example.com\u2028X", (), "s", 10, GOLDEN_NOW)
    issue = Issue(number=1, cutoff=GOLDEN_NOW, created=GOLDEN_NOW, posts=(post,))
    rendered = render_issue(settings, template_env(settings), issue, issue.posts)
    raw = template(settings, rendered, issue).build(subscriber(), url_for(42))
    msg = PARSER.parsebytes(raw)
    assert msg["Subject"] == "Field Notes #1: Hello Bcc: victim@example.com X"
    assert msg["Bcc"] is None
    bad_sender = dataclasses.replace(
        settings, digest=dataclasses.replace(settings.digest, sender="A <a@b.org>\nBcc: c@d.org")
    )
    with pytest.raises(MessageError, match="from"):
        template(bad_sender)


@pytest.mark.parametrize(
    ("email", "url"),
    [
        ("ada@example.com\r\nBcc: x@y.org", "https://e.org/u/1.abc"),
        ("ädä@example.com", "https://e.org/u/1.abc"),
        ("not an address", "https://e.org/u/1.abc"),
        ("ada@example.com", "https://e.org/u/1.abc>, <https://evil.example/"),
        ("ada@example.com", "https://e.org/u/\r\n1"),
        ("ada@example.com", "javascript:alert(1)"),
    ],
)
def test_bad_address_or_url_rejected(email: str, url: str) -> None:
    with pytest.raises(MessageError):
        template().build(subscriber(email=email), url)


def test_unsubscribe_url_in_header_html_and_text() -> None:
    url = url_for(987)
    msg = PARSER.parsebytes(template().build(subscriber(sid=987), url))
    assert f"<{url}>" in msg["List-Unsubscribe"]
    text = body(msg, "plain")
    html = body(msg, "html")
    assert url in text
    assert f'href="{url}"' in html
    assert html.count(f'href="{url}"') >= 2  # near the top and in the footer


def test_html_escaping_of_substituted_values() -> None:
    name = "<script>alert('x')</script> & Co"
    msg = PARSER.parsebytes(template().build(subscriber(name=name), url_for(42)))
    html = body(msg, "html")
    text = body(msg, "plain")
    assert "<script>" not in html
    assert (
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; Co &lt;ada@example.com&gt;" in html
    )
    assert f"{name} <ada@example.com>" in text


def test_tag_filter_sentence_substituted() -> None:
    sub = subscriber(tags=("databases", "sqlite"))
    msg = PARSER.parsebytes(template().build(sub, url_for(42)))
    text = body(msg, "plain")
    html = body(msg, "html")
    assert "Only posts tagged Databases, SQLite." in text
    assert "Only posts tagged Databases, SQLite." in html
    assert tag_filter_sentence(subscriber(), {}) == ""


def test_placeholders_split_by_soft_line_breaks_and_long_values() -> None:
    """Placeholders deep into long lines (where QP wraps) and very long values stay valid."""
    long_line = "word " * 14
    rendered = RenderedIssue(
        subject="S",
        html=f'<p>{long_line}{PH_RECIPIENT}{long_line}</p>\n<a href="{PH_UNSUBSCRIBE}">u</a>'
        f"<p>{'y' * 69}{PH_UNSUBSCRIBE}</p>\n<p>{PH_TAG_FILTER}</p> \n",
        text=f"{'x' * 70}{PH_UNSUBSCRIBE} and {PH_RECIPIENT}\n{long_line}{PH_TAG_FILTER}\n",
        post_ids=(),
        collapsed=0,
    )
    t = template(rendered=rendered)
    long_name = "Ümlaut " * 40 + "O'Hara & <Sons>"
    base = "https://fieldnotes.example.org/u/" + "p" * 200 + "/"
    for sub, url in [
        (subscriber(name=long_name, tags=("a" * 90, "b")), base + "1.tok"),
        (subscriber(name="", tags=()), "https://e.org/u/1"),
        (subscriber(name="Al"), "https://e.org/u/" + "z" * 60),
    ]:
        raw = t.build(sub, url)
        assert_wire_format(raw)
        msg = PARSER.parsebytes(raw)
        html, text = personalize(rendered, sub, url, tag_filter_sentence(sub, {}))
        assert body(msg, "plain") == text
        assert body(msg, "html") == html


def _reference(
    t: MessageTemplate, settings: Settings, rendered: RenderedIssue, sub: Subscriber, url: str
) -> EmailMessage:
    """The slow, obvious way: a fresh EmailMessage with personalised content."""
    html, text = personalize(rendered, sub, url, tag_filter_sentence(sub, {}))
    ref = EmailMessage(policy=email.policy.SMTP)
    ref["To"] = f"{sub.name} <{sub.email}>" if sub.name.isascii() else ""
    ref.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    ref.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return PARSER.parsebytes(ref.as_bytes())


def test_build_matches_a_fresh_full_build_for_1000_recipients() -> None:
    settings = golden_settings()
    rendered = rendered_golden()
    t = template()
    names = [
        "Ada Lovelace",
        "",
        "Zoë Ñúñez",
        "<b>bold</b> & co",
        "O'Brien",
        "李小龍",
        "A" * 120,
        "Jean-Luc Picard",
    ]
    for i in range(1000):
        sub = subscriber(sid=i, name=names[i % len(names)], email=f"user{i}@example{i % 7}.org")
        url = url_for(i, settings)
        raw = t.build(sub, url)
        msg = PARSER.parsebytes(raw)
        html, text = personalize(rendered, sub, url)
        assert body(msg, "plain") == text
        assert body(msg, "html") == html
        assert msg["To"].addresses[0].display_name == sub.name
        assert msg["Message-ID"] == message_id(7, i, "fieldnotes.example.org")
        if i % 100 == 0:
            assert_wire_format(raw)
            ref = _reference(t, settings, rendered, sub, url)
            assert [body(msg, "plain"), body(msg, "html")] == [
                body(ref, "plain"),
                body(ref, "html"),
            ]


def _make_key(tmp_path: Path) -> tuple[Path, bytes]:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return key, base64.b64encode(der)


def test_dkim_signature_verifies_and_covers_list_unsubscribe(tmp_path: Path) -> None:
    key, public = _make_key(tmp_path)
    settings = golden_settings()
    settings = dataclasses.replace(
        settings,
        delivery=dataclasses.replace(
            settings.delivery,
            dkim=DkimSettings(
                domain="fieldnotes.example.org", selector="ff2025", key_file=str(key)
            ),
        ),
    )
    raw = template(settings).build(subscriber(name="Zoë"), url_for(42))
    assert raw.startswith(b"DKIM-Signature:")
    assert_wire_format(raw)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"ff2025._domainkey.fieldnotes.example.org."
        return b"v=DKIM1; k=rsa; p=" + public

    assert dkim.verify(raw, dnsfunc=dnsfunc)
    sig = PARSER.parsebytes(raw)["DKIM-Signature"]
    h = re.search(r"\bh=([^;]+)", sig.replace(" ", ""))
    assert h is not None
    signed = [x.strip().lower() for x in h.group(1).split(":")]
    for field in (
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "list-id",
    ):
        assert field in signed
    # Tampering with the one-click header breaks the signature.
    tampered = raw.replace(
        b"List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        b"List-Unsubscribe-Post: List-Unsubscribe=Two-Click",
    )
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)


def test_dkim_missing_key_is_a_config_error(tmp_path: Path) -> None:
    from fieldfeed.errors import ConfigError

    settings = golden_settings()
    settings = dataclasses.replace(
        settings,
        delivery=dataclasses.replace(
            settings.delivery,
            dkim=DkimSettings(domain="d.org", selector="s", key_file=str(tmp_path / "nope.pem")),
        ),
    )
    with pytest.raises(ConfigError, match="key_file"):
        template(settings)
