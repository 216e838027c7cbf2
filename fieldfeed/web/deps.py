"""Small accessors the endpoint modules share (what the app factory put on ``app.state``)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request

from fieldfeed.web.pages import Pages
from fieldfeed.web.ratelimit import RateLimiter, network_key
from fieldfeed.web.services import WebServices
from fieldfeed.web.topics import SiteTopics


def services_of(request: Request) -> WebServices:
    services: WebServices = request.app.state.services
    return services


def pages_of(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


def topics_of(request: Request) -> SiteTopics:
    """The site's tags as the built feeds show them (see :mod:`topics`)."""
    topics: SiteTopics = request.app.state.topics
    return topics


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


def own_origins(request: Request) -> frozenset[str]:
    """The origins the site's configuration names as its own (see :mod:`origin`)."""
    origins: frozenset[str] = request.app.state.origins
    return origins


def secret_of(request: Request) -> bytes:
    """The signing secret, or 503 when the server was started without FIELDFEED_SECRET."""
    secret = services_of(request).secret
    if secret is None:
        raise HTTPException(503, "Subscriptions are not set up on this server yet.")
    return secret


def client_key(request: Request) -> str:
    """The client's network as the rate limit counts it (after uvicorn's proxy handling):
    an IPv4 address or an IPv6 /64 (:func:`network_key`)."""
    return network_key(request.client.host) if request.client else "unknown"


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded or multipart fields of a POST as plain strings (files refused); the
    first value of a repeated field. Malformed bodies become 400; other content types give
    no fields.
    """
    return {key: values[0] for key, values in (await read_form_lists(request)).items()}


async def read_form_lists(request: Request) -> dict[str, list[str]]:
    """Every value of every field (checkboxes repeat a name), as :func:`read_form` reads them."""
    try:
        form = await request.form(max_files=0, max_fields=50, max_part_size=16 * 1024)
    except HTTPException:
        raise
    except Exception:
        raise HTTPException(400, "The form data could not be read.") from None
    fields: dict[str, list[str]] = {}
    try:
        for key, value in form.multi_items():
            if not isinstance(value, str):
                raise HTTPException(400, "File uploads are not accepted here.")
            fields.setdefault(key, []).append(value)
    finally:
        await form.close()
    return fields
