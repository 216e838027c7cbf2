"""HTML pages: the ``templates/web/*.html`` templates, rendered autoescaped.

A site overrides any page by giving its own ``templates/web/<name>.html`` (the same lookup
the digest templates use, through :func:`fieldfeed.mail.templating.template_env`).
"""

from __future__ import annotations

from typing import Any

import jinja2
from starlette.background import BackgroundTask
from starlette.responses import HTMLResponse

from fieldfeed.config import Settings
from fieldfeed.locales import translations
from fieldfeed.mail.templating import template_env

#: Pages show nothing from elsewhere: no scripts, no frames, forms post only to us, and no
#: Referer leaves the page (the URL of /u/ and /confirm/ pages carries a token).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


class Pages:
    """Renders the web templates of one site; the environment is built once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.env = template_env(settings)
        # Every page is HTML: escape even in templates whose extension select_autoescape
        # might not recognise (a site override named *.htm.j2, say).
        self.env.autoescape = True

    def translate(self, message: str) -> str:
        """A fixed message (an error page's title or text, a form's error line) in the site's
        language: each is a msgid of the catalog; one without a translation stays English."""
        if not message:
            return message
        return translations(self.settings.root, self.settings.site.language).gettext(message)

    def render(self, page: str, /, **context: Any) -> str:
        template = self.env.get_template(f"web/{page}.html")
        return template.render(site=self.settings.site, **context)

    def response(
        self,
        page: str,
        /,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        background: BackgroundTask | None = None,
        **context: Any,
    ) -> HTMLResponse:
        merged = dict(PAGE_HEADERS)
        if headers:
            merged.update(headers)
        return HTMLResponse(
            self.render(page, **context),
            status_code=status_code,
            headers=merged,
            background=background,
        )

    def error(self, status_code: int, title: str, message: str) -> HTMLResponse:
        """A short error page: what went wrong in one sentence, never a traceback."""
        try:
            body = self.render("error", status=status_code, title=title, message=message)
        except jinja2.TemplateError:
            # A broken site override must not turn a 4xx into a 500.
            body = f"<!doctype html><title>{status_code}</title><p>{_escape(message)}</p>"
        return HTMLResponse(body, status_code=status_code, headers=dict(PAGE_HEADERS))


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))
