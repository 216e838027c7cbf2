"""``[site] language``: dates through Babel and built-in words from gettext catalogs (issue 10).

A German digest goes through a real SMTP server with a pinned clock; a site's own ``.po`` file
adds a language fieldfeed does not ship; an unknown language falls back to English with one
warning line naming the config line; the shipped German catalog covers every built-in string.
"""

from __future__ import annotations

import email.policy
import glob
import os
import subprocess
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import httpx
import pytest
import test_welcome_preferences as welcome_tests
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract
from serve_helpers import serve_in_thread
from smtp_server import SMTPTestServer
from test_sending import make_site, send

import fieldfeed
from fieldfeed import pipeline
from fieldfeed.config import Settings, load_settings
from fieldfeed.locales import PACKAGE_LOCALES
from fieldfeed.mail.headers import check_header_block
from fieldfeed.mail.message import DIGEST_FIELDS
from fieldfeed.mail.render import render_issue
from fieldfeed.mail.templating import PACKAGE_TEMPLATES, template_env
from fieldfeed.model import Issue
from fieldfeed.site.content import load_content
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as subs
from fieldfeed.web.app import create_app
from fieldfeed.web.mail import CONFIRMATION_FIELDS, WELCOME_FIELDS
from fieldfeed.web.services import WebServices

PACKAGE = Path(fieldfeed.__file__).parent
PARSER = BytesParser(policy=email.policy.default)
NOW = datetime(2026, 3, 4, 7, 0, tzinfo=UTC)  # Wednesday 08:00 in Berlin
POSTS = [
    ("2026-03-03T10:00:00+01:00", "Grüße aus dem März", ["Reisen"]),
    ("2026-03-01T10:00:00+01:00", "Ein zweiter Beitrag", []),
]


def with_language(settings: Settings, language: str) -> Settings:
    """``settings``' site with ``[site] language`` set, reloaded from the file."""
    config = settings.root / "fieldfeed.toml"
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[site]\n", f'[site]\nlanguage = "{language}"\n', 1), "utf-8")
    return load_settings(settings.root)


def parts(raw: bytes) -> tuple[EmailMessage, str, str]:
    msg = PARSER.parsebytes(raw)
    html, text = msg.get_body(("html",)), msg.get_body(("plain",))
    assert html is not None and text is not None
    return msg, html.get_content(), text.get_content()


def test_a_german_digest_over_smtp_has_german_dates_and_words(tmp_path: Path) -> None:
    with SMTPTestServer(lifetime=60) as smtp:
        settings = make_site(tmp_path, port=smtp.port, subscribers=1, posts=POSTS)
        settings = with_language(settings, "de")
        subs.upsert(open_store(settings.database_url), "tags@example.org", tags=["reisen"], now=NOW)
        pipeline.build(settings, NOW)
        report = send(settings, NOW)
        assert (report.sent, report.failed) == (2, ())
        got = {m.rcpt_tos[0]: m for m in smtp.received()}
    _, tagged_html, tagged_text = parts(got["tags@example.org"].raw)
    assert "Nur Beiträge zu den Themen Reisen." in tagged_html
    assert "Nur Beiträge zu den Themen Reisen." in tagged_text
    received = got["reader0000@example.org"]
    msg, html, text = parts(received.raw)
    assert list(msg.keys()) == list(DIGEST_FIELDS)
    assert msg["Subject"] == "Test Notes #1: Grüße aus dem März"
    for part in (html, text):
        assert "3. März 2026" in part and "1. März 2026" in part
        assert "2 neue Beiträge vom 1. März 2026 bis 3. März 2026" in part
        assert "Min. Lesezeit" in part and "min read" not in part
        assert "Ausgabe #1" in part and "Issue #" not in part
    assert "Artikel lesen" in html and "Abbestellen</a>" in html and "Einstellungen</a>" in html
    assert "Read the article" not in html and "Unsubscribe<" not in html
    assert "Sie erhalten diese E-Mail, weil Sie" in html and "You are receiving" not in html
    assert "Artikel lesen: https://notes.example.org/" in text
    assert "Abbestellen (ein Klick):" in text and "Themen wählen oder abbestellen:" in text
    assert "You are receiving" not in text


FRENCH = r"""
msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\n"
"Language: fr\n"
"Plural-Forms: nplurals=2; plural=(n > 1);\n"

msgid "Issue #%(number)s"
msgstr "Numéro %(number)s"

msgid "Unsubscribe"
msgstr "Se désabonner"

msgid "%(num)s new post from %(start)s to %(end)s"
msgid_plural "%(num)s new posts from %(start)s to %(end)s"
msgstr[0] "%(num)s nouvel article du %(start)s au %(end)s"
msgstr[1] "%(num)s nouveaux articles du %(start)s au %(end)s"
"""


def render_site(settings: Settings) -> tuple[str, str]:
    posts = load_content(settings, NOW).posts
    issue = Issue(number=3, cutoff=NOW, created=NOW, posts=tuple(posts))
    rendered = render_issue(settings, template_env(settings), issue, issue.posts)
    return rendered.html, rendered.text


def test_a_site_adds_its_own_language_with_a_po_file(tmp_path: Path) -> None:
    settings = with_language(make_site(tmp_path, port=None, posts=POSTS), "fr")
    (tmp_path / "locales").mkdir()
    (tmp_path / "locales" / "fr.po").write_text(FRENCH, encoding="utf-8")
    html, text = render_site(settings)
    for part in (html, text):
        assert "Numéro 3" in part
        assert "2 nouveaux articles du 1 mars 2026 au 3 mars 2026" in part
    assert "Se désabonner</a>" in html
    assert "Read the article" in html  # what the site did not translate stays English


def test_a_site_po_file_overrides_the_shipped_german(tmp_path: Path) -> None:
    settings = with_language(make_site(tmp_path, port=None, posts=POSTS), "de-AT")
    (tmp_path / "locales").mkdir()
    (tmp_path / "locales" / "de.po").write_text(
        FRENCH.replace("Language: fr", "Language: de").replace("Se désabonner", "Austragen"),
        encoding="utf-8",
    )
    html, _ = render_site(settings)
    assert "Austragen</a>" in html and "3. März 2026" in html


def test_an_unknown_language_falls_back_to_english_with_one_warning(tmp_path: Path) -> None:
    settings = with_language(make_site(tmp_path, port=None, posts=POSTS), "xx")
    env = {**os.environ, "FIELDFEED_NOW": NOW.isoformat()}
    proc = subprocess.run(
        [sys.executable, "-m", "fieldfeed", "build", "--site", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "language" in line]
    assert warnings == [
        "warning: fieldfeed.toml:2: [site] language 'xx' is not a language fieldfeed knows; "
        "dates and built-in words stay English"
    ]
    html, text = render_site(settings)
    assert "2 new posts from 1 March 2026 to 3 March 2026" in text
    assert "Read the article" in html and "Issue #3" in html


def test_a_language_without_a_catalog_gets_its_dates_and_a_warning(tmp_path: Path) -> None:
    settings = with_language(make_site(tmp_path, port=None, posts=POSTS), "fr")
    proc = subprocess.run(
        [sys.executable, "-m", "fieldfeed", "check", "--site", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "FIELDFEED_NOW": NOW.isoformat()},
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert "warning: fieldfeed.toml:2: [site] language 'fr' has no translation" in proc.stderr
    assert "add locales/fr.po" in proc.stderr
    _, text = render_site(settings)
    assert "2 new posts from 1 mars 2026 to 3 mars 2026" in text


def test_the_shipped_german_catalog_translates_every_built_in_string() -> None:
    with (PACKAGE_LOCALES / "de.po").open("rb") as f:
        catalog = read_po(f)
    files = sorted(glob.glob(str(PACKAGE_TEMPLATES / "**" / "*.*"), recursive=True))
    options = {"trim_blocks": "True", "lstrip_blocks": "True", "extensions": "jinja2.ext.i18n"}
    found = set()
    for name in files:
        if name.endswith((".html", ".txt")):
            for _, msg, _, _ in extract_from_file(babel_extract, name, options=options):
                found.add(msg if isinstance(msg, str) else msg[0])
    for source in ("mail/render.py", "web/mail.py", "web/welcome.py"):  # words built in Python
        for _, msg, _, _ in extract_from_file("python", str(PACKAGE / source)):
            found.add(msg if isinstance(msg, str) else msg[0])
    assert len(found) > 40
    missing = [m for m in found if m not in catalog or not catalog[m].string]
    assert missing == []
    # Placeholders agree between each English string and its German translation.
    assert list(catalog.check()) == []


def test_german_pages_and_mails_through_serve_over_http_and_smtp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in welcome_tests.ENV.items():
        monkeypatch.setenv(key, value)
    with SMTPTestServer(lifetime=90) as smtp:
        settings = with_language(welcome_tests.make_site(tmp_path, smtp.port), "de")
        app = create_app(settings, WebServices.from_settings(settings))
        with serve_in_thread(app, 90) as base, httpx.Client(base_url=base, timeout=10) as http:
            page = http.get("/subscribe")
            assert page.status_code == 200
            assert '<html lang="de">' in page.text
            assert "Test Notes per E-Mail bekommen" in page.text
            assert "E-Mail-Adresse</label>" in page.text and "Nur diese Themen" in page.text
            assert ">Abonnieren</button>" in page.text and "Email address" not in page.text
            sent = http.post("/subscribe", data={"email": "leser@example.org", "name": "Lea"})
            assert sent.status_code == 200 and "Sehen Sie in Ihr Postfach" in sent.text
            assert smtp.wait_for(1, timeout=10)
            msg, html, text = parts(smtp.received()[0].raw)
            check_header_block(smtp.received()[0].raw, CONFIRMATION_FIELDS)
            assert msg["Subject"] == "Bitte bestätigen Sie Ihr Abonnement von Test Notes"
            assert "Abonnement bestätigen</a>" in html
            assert "Der Link ist 48 Stunden lang gültig." in text
            confirm = welcome_tests.link(text, "/confirm/").removeprefix(welcome_tests.PUBLIC)
            done = http.post(confirm)
            assert done.status_code == 200 and "Sie haben abonniert" in done.text
            assert smtp.wait_for(2, timeout=10)
            # Fixed messages of the form and the error pages come from the catalog too.
            bad = http.post("/subscribe", data={"email": "not an address"})
            assert bad.status_code == 400
            assert "Das sieht nicht nach einer E-Mail-Adresse aus." in bad.text
            forged = http.post("/u/1.AAAAAAAAAAAAAAAA")
            assert forged.status_code == 400 and "Ungültige Anfrage" in forged.text
            assert "Dieser Abmeldelink ist ungültig." in forged.text
            assert "Bad request" not in forged.text
        raw = smtp.received()[1].raw
        check_header_block(raw, WELCOME_FIELDS)
        msg, html, text = parts(raw)
        assert msg["Subject"] == "Willkommen bei Test Notes"
        assert "Willkommen, Lea! Ihr Abonnement von Test Notes ist" in text
        assert "Sie bekommen jeden neuen Beitrag." in html and "Themen wählen</a>" in html
