"""Internationalised addresses (issue 7, item 8): IDN domains work, non-ASCII local parts are
refused at the door (form, ``subscribers add``, ``subscribers import``), over the real parts.

Before: ``user@bücher.example`` was stored with its Unicode domain and every digest to it
failed ("not a plain ASCII address"); ``üser@...`` was accepted and failed the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from smtp_server import SMTPTestServer
from test_sending import ENV, NOW, make_site, send
from test_web import running_server

from fieldfeed.store import open_store, schema
from fieldfeed.store import subscribers as subs
from fieldfeed.web.app import create_app
from fieldfeed.web.services import WebServices

IDN = "reader@bücher.example"
ACE = "reader@xn--bcher-kva.example"


def test_one_normalisation_gives_a_labels_and_refuses_non_ascii_local_parts() -> None:
    assert subs.normalize_email(IDN) == ACE
    assert subs.normalize_email("Reader@BÜCHER.example") == "Reader@xn--bcher-kva.example"
    assert subs.normalize_email(ACE) == ACE
    with pytest.raises(subs.InvalidSubscriber, match="SMTPUTF8"):
        subs.normalize_email("jörg@bücher.example")


def cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldfeed", "subscribers", *args, "--site", str(site)],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        timeout=60,
        check=False,
    )


def test_cli_add_and_import_store_a_labels_and_refuse_smtputf8(tmp_path: Path) -> None:
    make_site(tmp_path, port=None, posts=[])
    added = cli(tmp_path, "add", IDN)
    assert added.returncode == 0 and ACE in added.stdout
    refused = cli(tmp_path, "add", "jörg@example.org")
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert "SMTPUTF8" in refused.stderr

    csv = tmp_path / "list.csv"
    csv.write_text(
        f"email,name\n{ACE},Same Reader\nother@bücher.example,Other\nzoë@example.org,Zoë\n",
        encoding="utf-8",
    )
    imported = cli(tmp_path, "import", str(csv))
    assert imported.returncode == 1
    assert f"{csv}:4:" in imported.stderr and "SMTPUTF8" in imported.stderr
    csv.write_text(f"email,name\n{ACE},Same Reader\nother@bücher.example,Other\n", encoding="utf-8")
    assert cli(tmp_path, "import", str(csv)).returncode == 0
    listed = cli(tmp_path, "list").stdout
    # Both spellings of the domain are one subscriber.
    assert listed.count("xn--bcher-kva.example") == 2 and "bücher" not in listed


def test_form_refuses_a_non_ascii_local_part_and_mails_an_idn_domain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with SMTPTestServer(lifetime=60) as smtp:
        settings = make_site(tmp_path, port=smtp.port, posts=[])
        app = create_app(settings, WebServices.from_settings(settings))
        with running_server(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            r = http.post("/subscribe", data={"email": "jörg@example.org", "name": "J"})
            assert r.status_code == 400
            assert "non-ASCII letters before the @" in r.text
            r = http.post("/subscribe", data={"email": IDN, "name": "Reader"})
            assert r.status_code == 200
            assert smtp.wait_for(1, timeout=10)
        received = smtp.received()
    assert len(received) == 1
    assert received[0].rcpt_tos == (ACE,)
    assert received[0].parsed()["To"].addresses[0].addr_spec == ACE
    engine = open_store(settings.database_url)
    assert [s.email for s in subs.list_all(engine)] == [ACE]


def test_digest_reaches_idn_domains_including_rows_stored_before_the_fix(tmp_path: Path) -> None:
    with SMTPTestServer(lifetime=60) as smtp:
        settings = make_site(tmp_path, port=smtp.port)
        engine = open_store(settings.database_url)
        subs.upsert(engine, IDN, name="New", now=NOW)
        # A row as earlier versions stored it: Unicode domain.
        with engine.begin() as conn:
            conn.execute(
                sa.insert(schema.subscribers).values(
                    email="old@bücher.example",
                    email_key="old@bücher.example",
                    name="Old",
                    tags="",
                    status="active",
                    created=NOW,
                    confirmed=NOW,
                    consecutive_bounces=0,
                )
            )
        report = send(settings)
        assert (report.sent, report.failed) == (2, ())
        got = sorted(m.rcpt_tos[0] for m in smtp.received())
        assert got == ["old@xn--bcher-kva.example", ACE]
        for m in smtp.received():
            assert m.parsed()["To"].addresses[0].addr_spec == m.rcpt_tos[0]
    # The old row is still found by either spelling, and not added twice.
    assert subs.get(engine, "old@xn--bcher-kva.example") is not None
    subs.upsert(engine, "old@bücher.example", now=NOW)
    assert len(subs.list_all(engine)) == 2
