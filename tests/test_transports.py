"""The SMTP transport against a real aiosmtpd server: what arrives is exactly what we sent."""

from __future__ import annotations

import pytest
from smtp_server import SMTPTestServer

from fieldfeed.config import DeliverySettings
from fieldfeed.mail.transports import PermanentFailure, SMTPTransport


def transport(server: SMTPTestServer) -> SMTPTransport:
    settings = DeliverySettings(
        transport="smtp", host=server.host, port=server.port, security="none", timeout=10
    )
    return SMTPTransport(settings, None)


@pytest.mark.parametrize(
    "body",
    [
        b"Subject: plain\r\n\r\nno dots here\r\n",
        # RFC 5321 4.5.2: lines starting with "." must survive (dot-stuffing both ways).
        b"Subject: dots\r\n\r\n.hidden file\r\n..two dots\r\n.\r\nmiddle\r\n.",
        b".starts with a dot\r\n\r\nbody",
    ],
)
def test_bytes_arrive_unchanged(body: bytes) -> None:
    with SMTPTestServer(lifetime=30) as server:
        t = transport(server)
        try:
            reply = t.send("news@example.org", "reader@example.org", body)
        finally:
            t.close()
        assert reply.startswith("250")
        (got,) = server.received()
        assert got.mail_from == "news@example.org"
        assert got.rcpt_tos == ("reader@example.org",)
        expected = body if body.endswith(b"\r\n") else body + b"\r\n"
        assert got.raw == expected


def test_one_connection_carries_many_messages() -> None:
    with SMTPTestServer(lifetime=30) as server:
        t = transport(server)
        try:
            for n in range(20):
                t.send("news@example.org", f"r{n}@example.org", b"Subject: x\r\n\r\nhi\r\n")
        finally:
            t.close()
        assert server.count == 20


def test_a_line_break_in_an_address_cannot_add_a_recipient() -> None:
    """Addresses are validated on the way into the list; even so, nothing sneaks a command in."""
    with SMTPTestServer(lifetime=30) as server:
        t = transport(server)
        try:
            t.send("news@example.org", "a@b.org>\r\nRCPT TO:<x@evil.example", b"x\r\n")
        except PermanentFailure:
            pass
        finally:
            t.close()
        recipients = {r for m in server.received() for r in m.rcpt_tos}
        assert "x@evil.example" not in recipients
