"""hypothesis drives every endpoint with generated paths, headers, tokens and form bodies:
the app answers 2xx/3xx/4xx (or a 503 only where the feature is off), never a 500."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldfeed.config import load_settings
from fieldfeed.web.app import create_app
from fieldfeed.web.services import WebServices

SECRET = b"fuzz-secret-0123456789-abcdefghijklmnop"
CONFIG = """\
[site]
title = "Fuzz"
url = "https://fuzz.example.org/"
timezone = "Europe/Berlin"

[digest]
from = "Fuzz <news@fuzz.example.org>"
unsubscribe_url = "https://fuzz.example.org/u/"

[serve]
subscribe_rate = 1000000
"""

text = st.text(max_size=80)
path_chars = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
segment = st.one_of(
    path_chars,
    st.sampled_from(
        [
            "..",
            ".",
            "%2e%2e",
            "%00",
            "rss.xml",
            "tags",
            "u",
            "confirm",
            "archive",
            "1.abc",
            "",
            "//",
            "\\",
            "%2f",
            "subscribe",
            "health",
        ]
    ),
)
header_value = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


class Sink:
    def __call__(self, message: object, to: str) -> None:
        return None


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root: Path = tmp_path_factory.mktemp("fuzz")
    (root / "fieldfeed.toml").write_text(CONFIG, encoding="utf-8")
    (root / "public" / "tags" / "go").mkdir(parents=True)
    (root / "public" / "rss.xml").write_bytes(b"<rss/>" * 200)
    (root / "public" / "tags" / "go" / "atom.xml").write_bytes(b"<feed/>")
    s = load_settings(root)
    services = WebServices(settings=s, secret=SECRET, send_mail=Sink())
    yield create_app(s, services)
    services.close()


def request(app, method: str, url: str, **kwargs) -> httpx.Response:  # type: ignore[no-untyped-def]
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://fuzz") as client:
            return await client.request(method, "http://fuzz" + url, **kwargs)

    return asyncio.run(go())


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text


FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
    segments=st.lists(segment, max_size=5),
    inm=st.one_of(st.none(), header_value),
    ims=st.one_of(st.none(), header_value, st.just("Sun, 06 Nov 1994 08:49:37 GMT")),
    accept=st.one_of(st.none(), header_value, st.just("gzip;q=0")),
)
def test_any_path_and_conditional_headers(app, method, segments, inm, ims, accept) -> None:  # type: ignore[no-untyped-def]
    headers = {
        k: v
        for k, v in {
            "if-none-match": inm,
            "if-modified-since": ims,
            "accept-encoding": accept,
        }.items()
        if v is not None
    }
    # Percent-encode what a client must, keep "%", "." and "\\" as sent (traversal tries).
    url = "/" + "/".join(quote(s, safe="%./\\") for s in segments)
    check(request(app, method, url, headers=headers))


@FUZZ
@given(
    fields=st.dictionaries(
        st.sampled_from(["email", "name", "tags", "x", "List-Unsubscribe"]), text, max_size=4
    ),
    encoding=st.sampled_from(["urlencoded", "multipart", "raw"]),
    raw=st.binary(max_size=200),
    content_type=st.one_of(
        st.sampled_from(
            [
                "application/x-www-form-urlencoded",
                "multipart/form-data",
                "multipart/form-data; boundary=x",
                "text/plain",
                "application/json",
            ]
        ),
        header_value,
    ),
    target=st.one_of(
        st.just("/subscribe"),
        st.builds(lambda t: f"/u/{t}", st.text(alphabet="0123456789.-_abcXYZ", max_size=30)),
        st.builds(lambda t: f"/confirm/{t}", st.text(alphabet="0123456789.-_abcXYZ=", max_size=60)),
    ),
)
def test_any_form_body(app, fields, encoding, raw, content_type, target) -> None:  # type: ignore[no-untyped-def]
    if encoding == "urlencoded":
        response = request(app, "POST", target, data=fields)
    elif encoding == "multipart":
        response = request(app, "POST", target, files={k: (None, v) for k, v in fields.items()})
    else:
        response = request(app, "POST", target, content=raw, headers={"content-type": content_type})
    check(response)


@FUZZ
@given(email=st.emails(), name=text, tags=text)
def test_valid_looking_subscriptions(app, email, name, tags) -> None:  # type: ignore[no-untyped-def]
    response = request(app, "POST", "/subscribe", data={"email": email, "name": name, "tags": tags})
    check(response)
    assert response.status_code in (200, 400)
