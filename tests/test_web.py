"""``fieldfeed serve``: the ASGI app over HTTP (httpx + ASGITransport) and one real uvicorn."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from serve_helpers import serve_in_thread
from smtp_server import SMTPTestServer
from starlette.applications import Starlette
from test_sending import ENV, add_posts
from test_sending import NOW as SEND_NOW
from test_sending import make_site as make_sending_site

from fieldfeed import pipeline
from fieldfeed.config import Settings, load_settings
from fieldfeed.mail import publish_digest
from fieldfeed.mail.tokens import sign_confirmation, sign_unsubscribe
from fieldfeed.model import Issue, Post, Tag
from fieldfeed.store import issues as stored_issues
from fieldfeed.store import open_store, schema
from fieldfeed.store import subscribers as subs
from fieldfeed.web.app import create_app
from fieldfeed.web.archive import list_issues
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
    # The site's topics, as a build writes them: a JSON feed per tag, items naming the tag.
    for slug, name in (("go", "Go"), ("databases", "Databases")):
        (public / "tags" / slug).mkdir(parents=True, exist_ok=True)
        feed = {"items": [{"id": "p", "tags": [name]}]}
        (public / "tags" / slug / "feed.json").write_text(json.dumps(feed), encoding="utf-8")
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


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
READER_ACCEPT = "application/rss+xml, application/atom+xml;q=0.9, application/xml;q=0.8, */*;q=0.1"


@pytest.mark.anyio
@pytest.mark.parametrize("path", ["/rss.xml", "/atom.xml", "/tags/go/rss.xml"])
async def test_a_browser_gets_xml_so_the_stylesheet_applies(site: Site, path: str) -> None:
    """Browsers show feed media types as plain text; application/xml runs feed.xsl."""
    browser = await site.client.get(path, headers={"accept": BROWSER_ACCEPT})
    reader = await site.client.get(path, headers={"accept": READER_ACCEPT})
    curl = await site.client.get(path, headers={"accept": "*/*"})
    assert browser.headers["content-type"] == "application/xml; charset=utf-8"
    assert reader.headers["content-type"].startswith("application/")
    assert reader.headers["content-type"] != browser.headers["content-type"]
    assert curl.headers["content-type"] == reader.headers["content-type"]
    assert browser.content == reader.content  # the same bytes, and so the same ETag
    assert browser.headers["etag"] == reader.headers["etag"]
    assert "Accept" in browser.headers["vary"]


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
    assert r.headers["vary"] == "Accept, Accept-Encoding"  # feeds: also by Accept (browsers)
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


# --- subscribe and confirm (double opt-in) -------------------------------------------------


def confirm_link(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    m = re.search(r"https?://\S+/confirm/[A-Za-z0-9._-]+", body.get_content())
    assert m, body.get_content()
    return m.group(0)


@pytest.mark.anyio
async def test_subscribe_form_is_escaped(site: Site) -> None:
    r = await site.client.get("/subscribe")
    assert r.status_code == 200
    assert "Test &lt;Notes&gt;" in r.text and "Test <Notes>" not in r.text
    assert '<form method="post" action="/subscribe">' in r.text


@pytest.mark.anyio
async def test_subscribe_then_confirm(site: Site) -> None:
    r = await site.client.post(
        "/subscribe", data={"email": "Fay@Example.org", "name": "Fay", "tags": "Go, Databases"}
    )
    assert r.status_code == 200
    assert status_of(site, "fay@example.org") == "pending"
    [(message, to)] = site.outbox.sent
    assert to == "Fay@example.org"
    assert message["To"] == "Fay <Fay@example.org>"
    link = confirm_link(message)
    assert link.startswith("https://notes.example.org/confirm/")
    path = link.removeprefix("https://notes.example.org")
    # Following the link shows a button; a scanner's GET confirms nothing.
    r = await site.client.get(path)
    assert r.status_code == 200 and 'method="post"' in r.text
    assert status_of(site, "fay@example.org") == "pending"
    r = await site.client.post(path)
    assert r.status_code == 200 and "subscribed" in r.text
    sub = subs.get(site.engine(), "fay@example.org")
    assert sub is not None and sub.status == "active"
    assert sub.name == "Fay" and sub.tags == ("databases", "go")  # in the site's order


@pytest.mark.anyio
async def test_same_address_twice_is_one_pending_entry_and_reveals_nothing(site: Site) -> None:
    add(site, "active@example.org", status="active")
    add(site, "gone@example.org", status="unsubscribed")
    answers = []
    for email in (
        "new@example.org",
        "new@example.org",
        "NEW@example.org",
        "active@example.org",
        "gone@example.org",
    ):
        r = await site.client.post("/subscribe", data={"email": email, "name": ""})
        answers.append((r.status_code, r.text.replace(email, "")))
    assert len({a for a in answers}) == 1, "the answer must not depend on the address"
    with site.engine().connect() as conn:
        rows = conn.execute(
            sa.select(schema.subscribers.c.email_key, schema.subscribers.c.status)
        ).all()
    assert sorted(tuple(r) for r in rows) == [
        ("active@example.org", "active"),
        ("gone@example.org", "pending"),
        ("new@example.org", "pending"),
    ]
    # The active subscriber gets no mail and keeps its status.
    assert sorted(to.lower() for _, to in site.outbox.sent) == [
        "gone@example.org",
        "new@example.org",
        "new@example.org",
        "new@example.org",
    ]


@pytest.mark.anyio
async def test_confirmation_links_expire_and_cannot_be_forged(site: Site) -> None:
    add(site, "gil@example.org", status="pending")
    old = sign_confirmation(SECRET, "gil@example.org", int((NOW - timedelta(days=3)).timestamp()))
    forged = sign_confirmation(b"x" * 40, "gil@example.org", int(NOW.timestamp()))
    good = sign_confirmation(SECRET, "gil@example.org", int(NOW.timestamp()))
    altered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    for token in (old, forged, altered, "garbage", good + "x"):
        for method in ("GET", "POST"):
            r = await site.client.request(method, f"/confirm/{token}")
            assert r.status_code == 400, (token, method)
    assert status_of(site, "gil@example.org") == "pending"
    assert (await site.client.post(f"/confirm/{good}")).status_code == 200
    assert status_of(site, "gil@example.org") == "active"


@pytest.mark.anyio
async def test_an_old_confirmation_link_does_not_undo_an_unsubscribe(site: Site) -> None:
    sid = add(site, "hal@example.org", status="unsubscribed")
    token = sign_confirmation(SECRET, "hal@example.org", int(NOW.timestamp()))
    assert (await site.client.post(f"/confirm/{token}")).status_code == 400
    assert status_of(site, "hal@example.org") == "unsubscribed"
    assert sid


@pytest.mark.anyio
@pytest.mark.parametrize(
    "data",
    [
        {"email": "not-an-address"},
        {"email": ""},
        {},
        {"email": "ok@example.org", "name": "Ann\r\nBcc: x@example.org"},
        {"email": "ok@example.org\r\nBcc: x@example.org"},
        {"email": "a" * 400 + "@example.org"},
    ],
)
async def test_bad_subscribe_input_is_400_with_the_form(site: Site, data: dict[str, str]) -> None:
    r = await site.client.post("/subscribe", data=data)
    assert r.status_code == 400
    assert 'role="alert"' in r.text and "Traceback" not in r.text
    assert site.outbox.sent == []
    with site.engine().connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(schema.subscribers)).scalar() == 0
        )


@pytest.mark.anyio
async def test_subscribe_is_rate_limited_per_client_address(tmp_path: Path) -> None:
    settings = make_site(tmp_path / "site", rate=3)
    outbox = Outbox()
    services = make_services(settings, outbox, Clock())
    app = create_app(settings, services)
    clients = [
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(ip, 1234)), base_url="http://t"
        )
        for ip in ("198.51.100.1", "198.51.100.2")
    ]
    codes = [
        (await clients[0].post("/subscribe", data={"email": f"p{i}@example.org"})).status_code
        for i in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    r = await clients[0].post("/subscribe", data={"email": "late@example.org"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert (await clients[1].post("/subscribe", data={"email": "q@example.org"})).status_code == 200
    for c in clients:
        await c.aclose()
    services.close()


@pytest.mark.anyio
async def test_large_bodies_are_refused(site: Site) -> None:
    r = await site.client.post(
        "/subscribe",
        content=b"email=" + b"a" * 100_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413


@pytest.mark.anyio
async def test_uploads_are_refused(site: Site) -> None:
    r = await site.client.post("/subscribe", files={"email": ("x.txt", b"a@b.org")})
    assert r.status_code == 400


# --- archive ---------------------------------------------------------------------------------


def make_post(n: int, tag: str = "Go") -> Post:
    date = NOW - timedelta(days=n)
    return Post(
        source=f"content/p{n}.md",
        slug=f"post-{n}",
        title=f"Post <{n}> & friends",
        date=date,
        updated=date,
        tags=(Tag(tag, tag.lower()),),
        summary=f"Summary of post {n}.",
        html=f"<p>Body of post {n}.</p>",
        url=f"https://notes.example.org/posts/post-{n}/",
        id=f"https://notes.example.org/posts/post-{n}/",
        author=None,
        image=None,
        draft=False,
        word_count=300,
        read_minutes=2,
    )


def freeze_issue(site: Site, number: int, posts: tuple[Post, ...], created: datetime) -> None:
    issue = Issue(number=number, cutoff=created, created=created, posts=posts)
    with site.engine().begin() as conn:
        stored_issues.insert_issue(conn, issue, [])


@pytest.mark.anyio
async def test_archive_lists_issues_and_shows_them_without_personal_data(site: Site) -> None:
    r = await site.client.get("/archive/")
    assert r.status_code == 200 and "No digest has gone out yet" in r.text
    freeze_issue(site, 1, (make_post(9), make_post(8)), NOW - timedelta(days=7))
    freeze_issue(site, 2, (make_post(1),), NOW)
    add(site, "ivy@example.org", name="Ivy Secret")
    r = await site.client.get("/archive/")
    assert r.status_code == 200
    assert r.text.index('href="/archive/2/"') < r.text.index('href="/archive/1/"')
    # Every issue's posts, each a link to the post.
    for n in (9, 8, 1):
        post_link = f'<a href="https://notes.example.org/posts/post-{n}/">Post &lt;{n}&gt; &amp;'
        assert post_link in r.text
    # A site's own web/archive.html from before the links still finds the titles.
    assert list_issues(site.engine())[1].titles == ("Post <9> & friends", "Post <8> & friends")
    r = await site.client.get("/archive/1/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "XXFF" not in page  # no placeholder left
    assert "/u/" not in page and "ivy@example.org" not in page and "Ivy Secret" not in page
    # Nothing of one subscriber's: no "subscribed ... as .", no unsubscribe link; a way to
    # subscribe instead. The titles link to the posts.
    assert "subscribed to" not in page and " as ." not in page
    assert "Unsubscribe" not in page and 'href="/subscribe"' in page
    for n in (9, 8):
        assert re.search(
            rf'<h2 class="ff-title"[^>]*><a href="https://notes.example.org/posts/post-{n}/"'
            rf"[^>]*>Post &lt;{n}&gt; &amp; friends</a></h2>",
            page,
        )
    assert (await site.client.get("/archive/1/")).text == page  # cached, same bytes
    for missing in (
        "/archive/3/",
        "/archive/0/",
        "/archive/abc/",
        "/archive/-1/",
        "/archive/99999999999999999999/",
        "/archive/１/",
    ):
        assert (await site.client.get(missing)).status_code == 404, missing
    r = await site.client.get("/archive", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == "/archive/"


# --- over real HTTP: uvicorn on 127.0.0.1, a real SMTP server, the real digest -------------


@contextmanager
def running_server(app: Starlette, lifetime: float = 60.0) -> Iterator[str]:
    """uvicorn on 127.0.0.1:<free port> in a thread, configured as ``fieldfeed serve`` runs it;
    stops on exit, or by itself anyway."""
    with serve_in_thread(app, lifetime) as url:
        yield url


def local(url: str, base: str) -> str:
    """A public URL from a mail (https://notes.example.org/...) pointed at the test server."""
    return base + url.removeprefix("https://notes.example.org")


def list_unsubscribe_url(raw: bytes) -> str:
    header = re.search(rb"^List-Unsubscribe: *(.*)$", raw, re.M | re.I)
    assert header and b"=?" not in header.group(1)
    m = re.search(rb"<(https://[^>]+)>", header.group(1))
    assert m
    return m.group(1).decode()


def test_real_http_feeds_subscribe_confirm_unsubscribe_and_next_issue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    with SMTPTestServer(lifetime=60) as smtp:
        settings = make_sending_site(tmp_path, port=smtp.port, subscribers=3)
        pipeline.build(settings, SEND_NOW)
        app = create_app(settings, WebServices.from_settings(settings))
        with running_server(app) as base, httpx.Client(base_url=base, timeout=10) as http:
            # Conditional GET over the wire.
            r = http.get("/rss.xml")
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/rss+xml; charset=utf-8"
            r304 = http.get("/rss.xml", headers={"if-none-match": r.headers["etag"]})
            assert r304.status_code == 304 and r304.content == b""
            r304 = http.get(
                "/rss.xml",
                headers={
                    "if-modified-since": r.headers["last-modified"],
                    "accept-encoding": "identity",
                },
            )
            assert r304.status_code == 304

            # Subscribe: the confirmation mail arrives at the SMTP server.
            r = http.post("/subscribe", data={"email": "newcomer@example.org", "name": "New"})
            assert r.status_code == 200
            assert smtp.wait_for(1, timeout=10)
            confirmation = smtp.received()[0]
            assert confirmation.rcpt_tos == ("newcomer@example.org",)
            link = confirm_link(confirmation.parsed())
            assert http.get(local(link, base)).status_code == 200
            assert http.post(local(link, base)).status_code == 200
            engine = open_store(settings.database_url)
            newcomer = subs.get(engine, "newcomer@example.org")
            assert newcomer is not None and newcomer.status == "active"

            # Issue 1 reaches the three readers and the newcomer.
            report = publish_digest(settings, SEND_NOW, None, force=True)
            assert report.sent == 4
            issue1 = {m.rcpt_tos[0]: m.raw for m in smtp.received()[1:]}
            assert len(issue1) == 4

            # One-click from the List-Unsubscribe header, both encodings; GET changes nothing.
            url0 = local(list_unsubscribe_url(issue1["reader0000@example.org"]), base)
            url1 = local(list_unsubscribe_url(issue1["reader0001@example.org"]), base)
            assert http.get(url0).status_code == 200
            assert subs.get(engine, "reader0000@example.org").status == "active"  # type: ignore[union-attr]
            r = http.post(
                url0,
                content=b"List-Unsubscribe=One-Click",
                headers={"content-type": "application/x-www-form-urlencoded"},
            )
            assert r.status_code == 200 and "location" not in r.headers
            r = http.post(url1, files={"List-Unsubscribe": (None, "One-Click")})
            assert r.status_code == 200 and "location" not in r.headers
            forged = url1[:-3] + ("AAA" if not url1.endswith("AAA") else "BBB")
            assert http.post(forged, data={"List-Unsubscribe": "One-Click"}).status_code == 400

            # Archive: issue 1 as a page, nobody's data in it.
            page = http.get("/archive/1/")
            assert page.status_code == 200 and "/u/" not in page.text
            assert "reader" not in page.text and "newcomer" not in page.text
            assert http.get("/health").json()["database"] is True

        # Issue 2 skips both unsubscribed addresses.
        add_posts(settings.root, [("2026-11-25T10:00:00+01:00", "A later post", ["Go"])])
        before = smtp.count
        report = publish_digest(settings, SEND_NOW + timedelta(days=7), None, force=True)
        assert report.sent == 2
        assert smtp.wait_for(before + 2)
        issue2 = sorted(m.rcpt_tos[0] for m in smtp.received()[before:])
        assert issue2 == ["newcomer@example.org", "reader0002@example.org"]
