"""Which web origins may POST the subscribe form (a cross-site POST must not send mail).

A page on another site can make every visitor's browser POST our form, each from its own
address: that defeats the per-client limit and turns the visitors into a mail cannon. Browsers
name the page a POST comes from in ``Origin`` (every current engine sends it on POST) and often
``Referer``; a POST whose origin is not one of the site's own is refused.

The site's own origins come from configuration and the socket, never from request headers:
``[site] url`` (a blog may embed the form), ``[digest] unsubscribe_url`` and
``[digest] archive_url`` (where serve is public), and the address serve itself listens on
(opened directly, or through an SSH tunnel).

A POST with neither header is allowed: that is not a browser (curl, a script), and such a
client could send any Origin it liked; the per-client and per-mailbox limits bound it.
``Origin: null`` (sandboxed frames, ``data:`` pages, pages with ``Referrer-Policy:
no-referrer``) is refused: an attacker can produce it at will.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from fieldfeed.config import Settings

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased, default port dropped."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def configured_origins(settings: Settings) -> frozenset[str]:
    """The origins the site's configuration names as its own."""
    urls = (settings.site.url, settings.digest.unsubscribe_url, settings.digest.archive_url)
    return frozenset(o for o in (origin_of(u) for u in urls if u) if o)


def listening_origins(server: tuple[str, int] | None) -> frozenset[str]:
    """The origins of the socket serve answered on (``scope["server"]``), http only."""
    if not server:
        return frozenset()
    host, port = server
    hosts = {host}
    if host in _LOOPBACK:
        hosts.update(_LOOPBACK)
    origins = (origin_of(f"http://{h if ':' not in h else f'[{h}]'}:{port}") for h in hosts)
    return frozenset(o for o in origins if o)


def foreign_origin(request: Request, own: frozenset[str]) -> str | None:
    """The origin a browser says the POST came from, when it is not one of ours; else None."""
    server = request.scope.get("server")
    allowed = own
    if server and server[1] is not None:  # (path, None) on a Unix socket
        allowed = own | listening_origins((str(server[0]), int(server[1])))
    origin = request.headers.get("origin")
    if origin is not None:
        found = origin_of(origin) if origin.strip().lower() != "null" else None
        return None if found in allowed else (found or "null")
    referer = request.headers.get("referer")
    if referer is not None:
        found = origin_of(referer)
        return None if found in allowed else (found or "an unreadable Referer")
    return None
