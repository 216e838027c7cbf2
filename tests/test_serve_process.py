"""``fieldfeed serve`` as a process, against raw sockets: slow clients, ambiguous framing,
and what reaches its log (issue 7, items 11 and 14)."""

from __future__ import annotations

import logging
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from serve_helpers import ServeProcess, serve_process

from fieldfeed.config import load_settings
from fieldfeed.errors import ConfigError
from fieldfeed.mail.tokens import sign_confirmation, sign_preferences, sign_unsubscribe
from fieldfeed.store import open_store
from fieldfeed.store import subscribers as subs
from fieldfeed.web.server import RedactTokens, redact_tokens

SECRET = "test-secret-" + "x" * 40
ENV = {"FIELDFEED_SECRET": SECRET}
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0


def make_site(root: Path) -> Path:
    (root / "public").mkdir(parents=True)
    (root / "public" / "rss.xml").write_bytes(b'<?xml version="1.0"?><rss version="2.0"/>')
    (root / "fieldfeed.toml").write_text(
        f"""\
[site]
title = "Test Notes"
url = "https://notes.example.org/"
timezone = "Europe/Berlin"

[digest]
from = "Test Notes <news@notes.example.org>"
unsubscribe_url = "https://notes.example.org/u/"

[serve]
header_timeout = {HEADER_TIMEOUT}
body_timeout = {BODY_TIMEOUT}
""",
        encoding="utf-8",
    )
    return root


def connect(srv: ServeProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=10)


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float | None]:
    """Everything the server sends, and after how many seconds it closed (None: it did not
    within ``limit``)."""
    start = time.monotonic()
    sock.settimeout(0.2)
    data = b""
    while time.monotonic() - start < limit:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return data, time.monotonic() - start
        if not chunk:
            return data, time.monotonic() - start
        data += chunk
    return data, None


# --- item 11: slow clients and ambiguous framing --------------------------------------------


def test_slow_clients_are_cut_off_while_normal_ones_are_served(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    with serve_process(site, ENV) as srv:
        opened = time.monotonic()
        idle = connect(srv)  # connects and says nothing
        half = connect(srv)
        half.sendall(b"GET /rss.xml HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no final CRLF
        trickle = connect(srv)
        body = connect(srv)
        body.sendall(
            b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n"
            b"email=slow"
        )
        # A byte every 100 ms: traffic does not extend the deadline.
        trickled = 0.0
        for byte in b"GET /rss.xml HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"y" * 100:
            try:
                trickle.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                trickled = time.monotonic() - opened
                break
            time.sleep(0.1)
        trickle.close()
        assert 0 < trickled < HEADER_TIMEOUT + 1.5, trickled
        # A normal client meanwhile gets its feed, on a fresh connection.
        assert httpx.get(srv.base + "/rss.xml", timeout=5).status_code == 200
        for name, sock, timeout in (
            ("idle", idle, HEADER_TIMEOUT),
            ("half header", half, HEADER_TIMEOUT),
            ("half body", body, BODY_TIMEOUT),
        ):
            data, _ = read_until_closed(sock, 6.0)
            closed_after = time.monotonic() - opened
            assert closed_after < timeout + 1.5, f"{name}: open for {closed_after:.1f} s"
            assert b"200 OK" not in data, name
            sock.close()
        assert "request body not received in time" in srv.log()


def test_content_length_with_transfer_encoding_is_400_and_closed(tmp_path: Path) -> None:
    """Request smuggling: a front proxy framing by Content-Length would see one request here,
    h11 (by Transfer-Encoding) a subscribe and then a second, hidden request."""
    site = make_site(tmp_path / "site")
    form = b"email=smuggled%40example.org"
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(form), form)
    request = (
        b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%s"
        b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % (len(chunked), chunked)
    )
    with serve_process(site, ENV) as srv:
        sock = connect(srv)
        sock.sendall(request)
        data, closed_after = read_until_closed(sock, 5.0)
        sock.close()
        assert data.startswith(b"HTTP/1.1 400 "), data[:200]
        assert data.count(b"HTTP/1.1 ") == 1, data  # the hidden request got no answer
        assert closed_after is not None, "the connection was kept open"
    engine = open_store(load_settings(site).database_url)
    assert subs.get(engine, "smuggled@example.org") is None


# --- item 14: tokens never reach the log -----------------------------------------------------


def test_tokens_are_redacted_from_the_access_log(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    settings = load_settings(site)
    engine = open_store(settings.database_url)
    sub, _ = subs.upsert(engine, "ann@example.org", status="active", now=NOW)
    pending, _ = subs.upsert(engine, "bob@example.org", status="pending", now=NOW)
    unsub = sign_unsubscribe(SECRET.encode(), sub.id)
    confirm = sign_confirmation(SECRET.encode(), pending.email, int(time.time()))
    prefs = sign_preferences(SECRET.encode(), sub.id, int(time.time()))
    with serve_process(site, ENV) as srv, httpx.Client(base_url=srv.base, timeout=10) as http:
        assert http.get(f"/preferences/{prefs}").status_code == 200
        assert http.post(f"/preferences/{prefs}", data={"do": "save"}).status_code == 200
        assert http.get(f"/preferences/{prefs}x").status_code == 400
        assert http.get(f"/u/{unsub}").status_code == 200
        assert http.get(f"/confirm/{confirm}?utm_source=x").status_code == 200
        assert http.get(f"/confirm/{confirm}x").status_code == 400
        assert http.post(f"/u/{unsub}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    log = srv.log()
    assert '"GET /u/<redacted> HTTP/1.1" 200' in log
    assert '"POST /u/<redacted> HTTP/1.1" 200' in log
    assert '"GET /confirm/<redacted>?utm_source=x HTTP/1.1" 200' in log
    assert '"GET /preferences/<redacted> HTTP/1.1" 200' in log
    assert '"POST /preferences/<redacted> HTTP/1.1" 200' in log
    assert '"GET /preferences/<redacted> HTTP/1.1" 400' in log
    for secret_part in (
        unsub,
        confirm,
        prefs,
        *(t.split(".")[-1] for t in (unsub, confirm, prefs)),
    ):
        assert secret_part not in log


def test_redaction_covers_messages_arguments_and_tracebacks() -> None:
    assert redact_tokens("GET /u/12.abc_-DEF HTTP/1.1") == "GET /u/<redacted> HTTP/1.1"
    assert redact_tokens("/confirm/a.b.c/x?y") == "/confirm/<redacted>/x?y"
    assert redact_tokens("GET /preferences/7.1.abc?x") == "GET /preferences/<redacted>?x"
    assert redact_tokens("/rss.xml /archive/1/") == "/rss.xml /archive/1/"
    try:
        raise ValueError("bad path /u/SECRET.TOKEN")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "on %s", ("/confirm/SECRET2",), sys.exc_info()
        )
    assert RedactTokens().filter(record)
    text = logging.Formatter().format(record)
    assert "SECRET" not in text, text
    assert text.startswith("on /confirm/<redacted>\n")
    assert text.endswith("ValueError: bad path /u/<redacted>")


def test_read_deadlines_must_be_positive(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")
    config = site / "fieldfeed.toml"
    config.write_text(config.read_text().replace("header_timeout = 1.0", "header_timeout = 0"))
    with pytest.raises(ConfigError) as info:
        load_settings(site)
    assert "[serve] header_timeout must be more than 0 and at most 3600 seconds, got 0" in str(
        info.value
    )
