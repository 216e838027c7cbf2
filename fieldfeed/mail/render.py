"""Render a digest issue once: HTML (CSS inlined) and plain text with per-recipient placeholders.

Pure: takes settings, a template environment, the issue and its posts, returns strings. The
expensive work (jinja2, premailer) happens once per issue and per distinct post subset (for
tag-filtered subscribers); :mod:`fieldfeed.mail.message` then substitutes each recipient's values
into the placeholders, escaped. Templates never see a real recipient: the variables
``recipient``, ``name``, ``email``, ``unsubscribe_url``, ``preferences_url`` and ``tag_filter``
hold placeholders.
"""

from __future__ import annotations

import html as html_lib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from gettext import NullTranslations
from typing import Any

import cssutils
import jinja2
from markupsafe import Markup
from premailer import Premailer

from fieldfeed.config import Settings
from fieldfeed.mail.posthtml import body_text, mail_safe_html
from fieldfeed.mail.templating import render_error
from fieldfeed.model import Issue, Post, Subscriber

#: Inlined HTML above this many bytes (UTF-8) collapses later posts to title links. Gmail clips
#: at about 102 KB; the gap leaves room for the per-recipient values substituted afterwards.
HTML_BUDGET = 95_000

# Per-recipient placeholders: ASCII letters only, so neither jinja2 escaping, premailer nor
# quoted-printable encoding changes them (QP may insert a soft line break inside one; message.py
# finds them across soft breaks).
PH_RECIPIENT = "XXFFTOXX"  #: "Name <address>", or the bare address when there is no name
PH_NAME = "XXFFNAMEXX"  #: the subscriber's name, possibly empty
PH_EMAIL = "XXFFEMAILXX"  #: the subscriber's address
PH_UNSUBSCRIBE = "XXFFUNSUBXX"  #: the one-click unsubscribe URL
PH_TAG_FILTER = "XXFFFILTERXX"  #: "Only posts tagged A, B." or empty
PH_PREFERENCES = "XXFFPREFSXX"  #: the signed preferences page URL (topics, unsubscribe)
PLACEHOLDERS = (PH_RECIPIENT, PH_NAME, PH_EMAIL, PH_UNSUBSCRIBE, PH_TAG_FILTER, PH_PREFERENCES)

HTML_TEMPLATE = "digest.html"
TEXT_TEMPLATE = "digest.txt"

# cssutils warns about every mso-*/-webkit-* property on the root logger (FIELD-NOTES).
cssutils.log.setLevel(logging.CRITICAL)


@dataclass(frozen=True, slots=True)
class RenderedIssue:
    """One issue rendered for one post subset, before personalisation."""

    #: Subject line from ``[digest] subject``, without any "[TEST]" prefix.
    subject: str
    #: Full HTML document with CSS inlined; contains the PH_* placeholders.
    html: str
    #: Plain-text part; contains the PH_* placeholders.
    text: str
    #: Feed ids of the posts covered (full cards and collapsed titles), newest first.
    post_ids: tuple[str, ...]
    #: Posts shown as title links only because the HTML size budget was reached.
    collapsed: int


def render_issue(
    settings: Settings,
    env: jinja2.Environment,
    issue: Issue,
    posts: Sequence[Post],
    *,
    archive_url: str | None = None,
    since: datetime | None = None,
    archive_copy: bool = False,
) -> RenderedIssue:
    """Render ``posts`` (a subset of ``issue.posts``, newest first) as HTML and text, once.

    ``archive_url`` adds a "view in browser" link; ``since`` (the previous issue's cutoff) makes
    the intro read "N new posts since <date>", otherwise it names the posts' date range. With
    ``[digest] content = "full"`` each card holds the post's body (:mod:`.posthtml`).
    ``archive_copy`` renders the public web page of the issue (``/archive/N/``): templates
    leave out what belongs to one subscriber (the "subscribed as" line, unsubscribe links). If
    the inlined HTML is over :data:`HTML_BUDGET`, later posts give way first from full bodies
    to summary cards ("Read the rest"), then to title links (re-rendering with fewer until it
    fits). Does no IO beyond loading templates through ``env``.
    """
    if not posts:
        raise ValueError("an issue needs at least one post to render")
    try:
        return _render(settings, env, issue, posts, archive_url, since, archive_copy)
    except jinja2.TemplateError as exc:  # a site's override with a typo: say where
        raise render_error(settings, exc, HTML_TEMPLATE, TEXT_TEMPLATE) from None


def trial_render(
    settings: Settings, env: jinja2.Environment, posts: Sequence[Post], now: datetime
) -> None:
    """Render a sample issue of the newest posts and discard it.

    A site template that compiles but fails to render (an undefined variable: templates use
    StrictUndefined) then fails ``check`` and ``publish`` before anything is written or sent.
    """
    sample = tuple(posts[: settings.digest.max_posts])
    if sample:
        render_issue(settings, env, Issue(number=0, cutoff=now, created=now, posts=sample), sample)


def _render(
    settings: Settings,
    env: jinja2.Environment,
    issue: Issue,
    posts: Sequence[Post],
    archive_url: str | None,
    since: datetime | None,
    archive_copy: bool = False,
) -> RenderedIssue:
    subject = format_subject(settings, issue, posts)
    html_template = env.get_template(HTML_TEMPLATE)
    text_template = env.get_template(TEXT_TEMPLATE)
    if settings.digest.per_post:
        since = None  # a post's own mail is about the post, not about what came since
    bodies: dict[str, Markup] = {}
    if settings.digest.content == "full":
        bodies = {p.id: Markup(mail_safe_html(p.html, p.url)) for p in posts}  # noqa: S704
    order = [p.id for p in posts]

    def context(full: int, listed: int, shown: int) -> dict[str, Any]:
        """Cards for the first ``full`` posts, title links up to ``listed``, and the full body
        of the first ``shown`` posts (when ``content = "full"``)."""
        ctx = _context(settings, issue, posts, subject, archive_url, since, full, listed)
        ctx["bodies"] = {i: bodies[i] for i in order[:shown] if i in bodies}
        ctx["archive_copy"] = archive_copy
        return ctx

    def render_html(full: int, listed: int, shown: int = 0) -> str:
        return inline_css(html_template.render(context(full, listed, shown)))

    n = len(posts)
    shown = len(bodies)
    html = render_html(n, n, shown)
    full, listed = n, n
    if shown and _size(html) > HTML_BUDGET:
        # Full content first gives way: later posts become summary cards with "Read the rest".
        fits = _most_that_fit(lambda k: render_html(n, n, k), shown - 1)
        shown, html = fits if fits else (0, html)
    if _size(html) > HTML_BUDGET:
        # Then summary cards give way to title links.
        fits = _most_that_fit(lambda k: render_html(k, n), n - 1)
        if fits:
            full, html = fits
        else:
            # Even title links alone are too big (hundreds of posts): list fewer titles; the
            # "more posts" link leads to the rest.
            full, listed = 0, n
            while listed > 0:
                listed //= 2
                html = render_html(0, listed)
                if _size(html) <= HTML_BUDGET:
                    break
    ctx = context(full, listed, shown)
    ctx["bodies"] = {i: body_text(p.html) for p in posts if (i := p.id) in ctx["bodies"]}
    text = text_template.render(ctx)
    return RenderedIssue(
        subject=subject,
        html=html,
        text=text,
        post_ids=tuple(p.id for p in posts),
        collapsed=n - full,
    )


def _most_that_fit(render: Callable[[int], str], hi: int) -> tuple[int, str] | None:
    """Binary search for the largest k in [0, hi] whose ``render(k)`` fits the budget:
    (k, html), or None when not even k = 0 fits."""
    lo, best = 0, None
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = render(mid)
        if _size(candidate) <= HTML_BUDGET:
            best, lo = (mid, candidate), mid + 1
        else:
            hi = mid - 1
    return best


def format_subject(settings: Settings, issue: Issue, posts: Sequence[Post]) -> str:
    """The subject from ``[digest] subject``: fields {site}, {number}, {first_title}, {count}.

    In per-post mode the subject is the post's title. Raises ValueError naming the bad field
    for an unknown one. Line breaks are not removed here; :mod:`fieldfeed.mail.message`
    normalises them (:mod:`fieldfeed.mail.headers`).
    """
    if settings.digest.per_post and posts:
        return posts[0].title
    fields: Mapping[str, Any] = {
        "site": settings.site.title,
        "number": issue.number,
        "first_title": posts[0].title if posts else "",
        "count": len(posts),
    }
    template = settings.digest.subject
    try:
        return template.format_map(_Fields(fields))
    except (KeyError, IndexError, AttributeError, ValueError) as exc:
        raise ValueError(
            f"[digest] subject {template!r}: {exc}; use {{site}}, {{number}}, "
            "{first_title} or {count}"
        ) from None


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> Any:
        raise KeyError(f"unknown field {{{key}}}")


def inline_css(html: str) -> str:
    """``html`` with its ``<style>`` rules inlined (premailer, no network, ``!important`` kept).

    The ``<style>`` blocks stay too, so @media rules (dark mode, phone width) still apply.
    """
    inlined = str(
        Premailer(
            html,
            allow_network=False,
            strip_important=False,
            keep_style_tags=True,
            remove_classes=False,
            disable_validation=True,
            disable_basic_attributes=["width", "height"],
            cssutils_logging_level=logging.CRITICAL,
        ).transform(pretty_print=False)
    )
    # End with a newline, as the MIME part will (set_content adds one), so the HTML a
    # preview writes and the HTML a subscriber decodes are the same text.
    return inlined if inlined.endswith("\n") else inlined + "\n"


def personalize(
    rendered: RenderedIssue,
    subscriber: Subscriber,
    unsubscribe_url: str,
    tag_filter: str = "",
    preferences_url: str = "",
) -> tuple[str, str]:
    """(html, text) of ``rendered`` for one subscriber, e.g. for previews and golden files.

    The slow, obvious version of what :class:`fieldfeed.mail.message.MessageTemplate` does on
    encoded bytes: values are HTML-escaped for the HTML and inserted as-is into the text.
    """
    values = recipient_values(subscriber, unsubscribe_url, tag_filter, preferences_url)
    html, text = rendered.html, rendered.text
    for placeholder, value in values.items():
        html = html.replace(placeholder, html_lib.escape(value, quote=True))
        text = text.replace(placeholder, value)
    return html, text


def recipient_values(
    subscriber: Subscriber, unsubscribe_url: str, tag_filter: str = "", preferences_url: str = ""
) -> dict[str, str]:
    """Placeholder -> unescaped value for one subscriber."""
    recipient = f"{subscriber.name} <{subscriber.email}>" if subscriber.name else subscriber.email
    return {
        PH_RECIPIENT: recipient,
        PH_NAME: subscriber.name,
        PH_EMAIL: subscriber.email,
        PH_UNSUBSCRIBE: unsubscribe_url,
        PH_TAG_FILTER: tag_filter,
        PH_PREFERENCES: preferences_url,
    }


def tag_filter_sentence(
    subscriber: Subscriber,
    tag_names: Mapping[str, str],
    words: NullTranslations | None = None,
) -> str:
    """ "Only posts tagged A, B." for a tag-filtered subscriber, else "". ``words``: the
    site's catalog (:func:`fieldfeed.locales.translations`); English without one."""
    if not subscriber.tags:
        return ""
    names = ", ".join(tag_names.get(slug, slug) for slug in subscriber.tags)
    return (words or NullTranslations()).gettext("Only posts tagged %(tags)s.") % {"tags": names}


def _size(html: str) -> int:
    return len(html.encode("utf-8"))


def _context(
    settings: Settings,
    issue: Issue,
    posts: Sequence[Post],
    subject: str,
    archive_url: str | None,
    since: datetime | None,
    full: int,
    listed: int,
) -> dict[str, Any]:
    n = len(posts)
    return {
        "site": settings.site,
        "issue": issue,
        "subject": subject,
        "posts": tuple(posts),
        "cards": tuple(posts[:full]),
        "links": tuple(posts[full:listed]),
        "more_count": n - listed,
        "collapsed": n - full,
        "count": n,
        "since": since,
        "per_post": settings.digest.per_post,
        "full_content": settings.digest.content == "full",
        "oldest": posts[-1].date,
        "newest": posts[0].date,
        "preheader": " · ".join(p.title for p in posts[:4]),
        "archive_url": archive_url,
        "recipient": PH_RECIPIENT,
        "name": PH_NAME,
        "email": PH_EMAIL,
        "unsubscribe_url": PH_UNSUBSCRIBE,
        "tag_filter": PH_TAG_FILTER,
        "preferences_url": PH_PREFERENCES,
    }
