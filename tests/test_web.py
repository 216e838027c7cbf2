"""``fieldfeed serve``: the ASGI app over HTTP (httpx + ASGITransport) and one real uvicorn."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from fieldfeed.config import Settings, load_settings
from fieldfeed.store import subscribers as subs
from fieldfeed.tokens import sign_unsubscribe
from fieldfeed.web.app import create_app
from fieldfeed.web.services import WebServices

SECRET = b"test-secret-0123456789-abcdefghijklmnop"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RSS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
    + b"x" * 2000
    + (b"</channel></rss>\n")
)

CONFIG = """\
[site]
title = "Test <Notes>"
url = "https://notes.example.org/"
timezone = "Europe/Berlin"

[digest]
from = "Test Notes <news@notes.example.org>"
unsubscribe_url = "https://notes.example.org/u/"

[delivery]
transport = "maildir"

[serve]
subscribe_rate = {rate}
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_site(root: Path, rate: int = 100) -> Settings:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fieldfeed.toml").write_text(CONFIG.format(rate=rate), encoding="utf-8")
    public = root / "public"
    (public / "tags" / "go").mkdir(parents=True)
    (public / "rss.xml").write_bytes(RSS)
    (public / "atom.xml").write_bytes(b'<?xml version="1.0"?><feed/>')
    (public / "feed.json").write_bytes(b'{"version": "https://jsonfeed.org/version/1.1"}')
    (public / "feed.xsl").write_bytes(b'<?xml version="1.0"?><xsl:stylesheet/>')
    (public / "tags" / "go" / "rss.xml").write_bytes(RSS)
    (root / "secret.txt").write_text("not served", encoding="utf-8")
    return load_settings(root)


@dataclass
class Outbox:
    """A fake mailer: keeps what the app would send (the SMTP test uses a real server)."""

    sent: list[tuple[EmailMessage, str]] = field(default_factory=list)

    def __call__(self, message: EmailMessage, to: str) -> None:
        self.sent.append((message, to))


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    settings: Settings
    services: WebServices
    outbox: Outbox
    clock: Clock
    client: httpx.AsyncClient

    def engine(self) -> sa.engine.Engine:
        return self.services.engine()


def make_services(settings: Settings, outbox: Outbox, clock: Clock) -> WebServices:
    return WebServices(settings=settings, secret=SECRET, clock=clock, send_mail=outbox)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    settings = make_site(tmp_path / "site")
    outbox, clock = Outbox(), Clock()
    services = make_services(settings, outbox, clock)
    app = create_app(settings, services)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield Site(settings, services, outbox, clock, client)
    services.close()


def add(site: Site, email: str, status: str = "active", name: str = "") -> int:
    sub, _ = subs.upsert(site.engine(), email, name=name, status=status, now=NOW)
    return sub.id


def status_of(site: Site, email: str) -> str | None:
    sub = subs.get(site.engine(), email)
    return sub.status if sub else None


# --- feeds and the output folder ---------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "ctype"),
    [
        ("/rss.xml", "application/rss+xml; charset=utf-8"),
        ("/atom.xml", "application/atom+xml; charset=utf-8"),
        ("/feed.json", "application/feed+json; charset=utf-8"),
        ("/feed.xsl", "text/xsl; charset=utf-8"),
        ("/tags/go/rss.xml", "application/rss+xml; charset=utf-8"),
    ],
)
async def test_feeds_have_their_content_type_and_validators(
    site: Site, path: str, ctype: str
) -> None:
    r = await site.client.get(path, headers={"accept-encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["content-type"] == ctype
    assert re.fullmatch(r'"[0-9a-f]{32}"', r.headers["etag"])
    assert r.headers["last-modified"].endswith(" GMT")
    assert r.content == (site.settings.output_dir / path.lstrip("/")).read_bytes()


@pytest.mark.anyio
async def test_conditional_get_gives_304(site: Site) -> None:
    r = await site.client.get("/rss.xml", headers={"accept-encoding": "identity"})
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    r2 = await site.client.get(
        "/rss.xml", headers={"if-none-match": etag, "accept-encoding": "identity"}
    )
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["etag"] == etag
    r3 = await site.client.get(
        "/rss.xml", headers={"if-modified-since": modified, "accept-encoding": "identity"}
    )
    assert r3.status_code == 304
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.1.3).
    r4 = await site.client.get(
        "/rss.xml",
        headers={
            "if-none-match": '"other"',
            "if-modified-since": modified,
            "accept-encoding": "identity",
        },
    )
    assert r4.status_code == 200
    assert (await site.client.get("/rss.xml", headers={"if-none-match": "*"})).status_code == 304
    # A rebuild that changes the bytes changes the ETag.
    (site.settings.output_dir / "rss.xml").write_bytes(RSS + b"<!-- new -->")
    r5 = await site.client.get(
        "/rss.xml", headers={"if-none-match": etag, "accept-encoding": "identity"}
    )
    assert r5.status_code == 200 and r5.headers["etag"] != etag


@pytest.mark.anyio
async def test_gzip_has_its_own_etag_and_revalidates(site: Site) -> None:
    r = await site.client.get("/rss.xml", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.headers["etag"].endswith('-gz"')
    assert r.content == RSS  # httpx decodes
    r2 = await site.client.get(
        "/rss.xml", headers={"accept-encoding": "gzip", "if-none-match": r.headers["etag"]}
    )
    assert r2.status_code == 304
    refused = await site.client.get("/rss.xml", headers={"accept-encoding": "gzip;q=0, br"})
    assert "content-encoding" not in refused.headers


@pytest.mark.anyio
@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/tags/../../secret.txt",
        "/tags/%2e%2e/%2e%2e/fieldfeed.toml",
        "/.hidden",
        "/..\\secret.txt",
        "/%00rss.xml",
        "/nope.xml",
    ],
)
async def test_no_directory_traversal(site: Site, path: str) -> None:
    r = await site.client.get(path)
    assert r.status_code == 404
    assert b"not served" not in r.content and b"[site]" not in r.content


@pytest.mark.anyio
async def test_symlink_out_of_the_output_folder_is_not_followed(site: Site) -> None:
    (site.settings.output_dir / "leak.txt").symlink_to(site.settings.root / "secret.txt")
    assert (await site.client.get("/leak.txt")).status_code == 404


@pytest.mark.anyio
async def test_feeds_are_read_only(site: Site) -> None:
    for method in ("POST", "PUT", "DELETE"):
        assert (await site.client.request(method, "/rss.xml")).status_code == 405


@pytest.mark.anyio
async def test_health(site: Site) -> None:
    r = await site.client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["database"] is True
    assert body["feeds_updated"] is not None


@pytest.mark.anyio
async def test_health_reports_an_unreachable_database(tmp_path: Path) -> None:
    root = tmp_path / "site"
    settings = make_site(root)
    (root / "fieldfeed.toml").write_text(
        CONFIG.format(rate=5) + '\n[state]\ndatabase = "sqlite:////proc/nope/x.db"\n'
    )
    settings = load_settings(root)
    app = create_app(settings, WebServices(settings=settings, secret=SECRET))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        r = await client.get("/health")
        assert r.status_code == 503
        assert r.json()["database"] is False
        assert "Traceback" not in r.text and "/proc/nope" not in r.text


# --- unsubscribe (RFC 8058) ----------------------------------------------------------------


@pytest.mark.anyio
async def test_one_click_post_urlencoded_unsubscribes(site: Site) -> None:
    sid = add(site, "ann@example.org")
    token = sign_unsubscribe(SECRET, sid)
    r = await site.client.post(
        f"/u/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    assert "location" not in r.headers and "set-cookie" not in r.headers
    assert status_of(site, "ann@example.org") == "unsubscribed"
    # Again: still 200, still unsubscribed.
    r = await site.client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200


@pytest.mark.anyio
async def test_one_click_post_multipart_unsubscribes(site: Site) -> None:
    sid = add(site, "bob@example.org")
    token = sign_unsubscribe(SECRET, sid)
    r = await site.client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert r.request.headers["content-type"].startswith("multipart/form-data")
    assert r.status_code == 200
    assert status_of(site, "bob@example.org") == "unsubscribed"


@pytest.mark.anyio
async def test_get_unsubscribe_changes_nothing_and_offers_a_post_button(site: Site) -> None:
    sid = add(site, "cy@example.org")
    token = sign_unsubscribe(SECRET, sid)
    r = await site.client.get(f"/u/{token}")
    assert r.status_code == 200
    assert status_of(site, "cy@example.org") == "active"
    assert 'method="post"' in r.text and f'action="/u/{token}"' in r.text
    assert 'name="List-Unsubscribe" value="One-Click"' in r.text
    assert r.headers["referrer-policy"] == "no-referrer"
    assert (await site.client.head(f"/u/{token}")).status_code == 200
    assert status_of(site, "cy@example.org") == "active"


@pytest.mark.anyio
async def test_forged_or_altered_tokens_fail_and_change_nothing(site: Site) -> None:
    sid = add(site, "dee@example.org")
    other = add(site, "eve@example.org")
    good = sign_unsubscribe(SECRET, sid)
    ident, mac = good.split(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    forged = [
        f"{other}.{mac}",  # someone else's id with this MAC
        f"{ident}.{flipped}",
        sign_unsubscribe(b"another-secret-0123456789abcdefghij", sid),
        ident,
        "",
        "x" * 300,
        f"{ident}.{mac}.",
    ]
    for token in forged:
        for method in ("GET", "POST"):
            r = await site.client.request(
                method, f"/u/{token}", data={"List-Unsubscribe": "One-Click"}
            )
            assert 400 <= r.status_code < 500, (token, method, r.status_code)
    assert status_of(site, "dee@example.org") == "active"
    assert status_of(site, "eve@example.org") == "active"


@pytest.mark.anyio
async def test_without_a_secret_token_endpoints_answer_503(tmp_path: Path) -> None:
    settings = make_site(tmp_path / "site")
    app = create_app(settings, WebServices(settings=settings, secret=None))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        assert (await client.post("/u/1.abc")).status_code == 503
        assert (await client.post("/subscribe", data={"email": "a@b.org"})).status_code == 503
        assert (await client.get("/rss.xml")).status_code == 200
