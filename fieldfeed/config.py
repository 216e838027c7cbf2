"""fieldfeed.toml: load, validate and expose the site's settings as frozen records.

Validation collects every problem before failing, so a user fixes the whole file in one round.
Secrets are never read here: the config only *names* environment variables (``password_env``);
the edges read them when they need them.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fieldfeed.configcheck import build_record, find_line, unsubscribe_scheme_problems
from fieldfeed.errors import ConfigError, Problem, display_path
from fieldfeed.limits import MAX_NESTING, toml_nesting
from fieldfeed.permalinks import post_path_problem

CONFIG_NAME = "fieldfeed.toml"


@dataclass(frozen=True, slots=True)
class SiteSettings:
    """``[site]``: who publishes, where, in which language and timezone."""

    title: str
    url: str  #: always ends with "/"
    description: str
    language: str  #: BCP 47, e.g. "en" or "en-US"
    author: str
    email: str
    timezone: str
    post_path: str = "posts/{slug}/"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class ContentSettings:
    """``[content]``: where posts live and how summaries and read times are derived."""

    dir: str = "content"
    summary_chars: int = 300
    words_per_minute: int = 230
    #: Seconds one post may take to render before it fails, naming its file; 0: no bound.
    render_timeout: int = 10
    #: Globs (relative to the content folder) of files that are neither posts nor assets. A
    #: pattern without "/" matches a name at any depth; "**" crosses folders; a pattern that
    #: matches a folder excludes everything in it. Hugo's list pages are not posts by default.
    exclude: tuple[str, ...] = ("_index.*",)
    #: ``categories``/``category`` in front matter join the tags (Jekyll's per-category feeds).
    categories_as_tags: bool = True


@dataclass(frozen=True, slots=True)
class FeedSettings:
    """``[feeds]``: where feeds go and how many items they hold."""

    dir: str = "public"
    max_items: int = 50
    #: Minutes between rebuilds under ``fieldfeed run``.
    interval: int = 15
    #: Emit an XSLT stylesheet so a feed opened in a browser reads as a page.
    stylesheet: bool = True


@dataclass(frozen=True, slots=True)
class DigestSettings:
    """``[digest]``: when digests go out and what they hold."""

    schedule: str = "0 8 * * mon"
    sender: str = ""  #: the ``from`` key
    max_posts: int = 20
    first_window_days: int = 30
    #: Send posts held back (older than the window when first seen, e.g. a back-dated import)
    #: with the next issue instead of reporting them; ``digest send --include-old`` does it once.
    include_old: bool = False
    unsubscribe_url: str = ""
    subject: str = "{site} #{number}: {first_title}"
    #: Hours after a missed scheduled time during which ``run`` still sends it.
    grace_hours: float = 6.0
    #: Address for the mailto: form of List-Unsubscribe; empty means derive from sender.
    unsubscribe_mailto: str = ""
    #: Where serve's /archive/ is public; set, each digest links to its web copy there.
    archive_url: str = ""
    #: Mail a welcome (templates welcome.html/.txt) once, when a subscription is confirmed.
    welcome: bool = True
    #: "digest" (issues on ``schedule``) or "per-post" (each new post its own mail, sent by
    #: the next ``publish``/``run``, not waiting for the schedule).
    mode: str = "digest"
    #: "summary" (a card per post) or "full" (each post's body, made safe for mail clients).
    content: str = "summary"

    @property
    def per_post(self) -> bool:
        """Whether each new post is mailed on its own (``mode = "per-post"``)."""
        return self.mode == "per-post"

    def issue_archive_url(self, number: int) -> str | None:
        """The "view in the browser" URL of issue ``number``, or None without an archive."""
        if not self.archive_url:
            return None
        base = self.archive_url if self.archive_url.endswith("/") else self.archive_url + "/"
        return f"{base}{number}/"


@dataclass(frozen=True, slots=True)
class DkimSettings:
    """``[delivery.dkim]``: optional DKIM signing. The key file path may come from the env."""

    domain: str = ""
    selector: str = ""
    key_file: str = ""
    #: Optional PEM Ed25519 key: adds a second, ``a=ed25519-sha256`` signature (RFC 8463).
    ed25519_key_file: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.domain and self.selector and self.key_file)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """``[delivery]``: how digests leave the machine. The password is never stored here."""

    transport: str = "maildir"
    maildir: str = ".fieldfeed/outbox"
    host: str = "127.0.0.1"
    port: int = 587
    security: str = "starttls"
    username: str = ""
    password_env: str = "FIELDFEED_SMTP_PASSWORD"  # noqa: S105 (a variable's name, not a secret)
    timeout: float = 30.0
    concurrency: int = 2  #: parallel connections; a crash may resend at most this many
    rate_limit: float = 0.0  #: messages per second; 0 means unlimited
    max_attempts: int = 5
    #: Seconds before the first retry of a 4xx or dropped connection; doubles each attempt.
    retry_base: float = 1.0
    #: The longest wait between two attempts, in seconds.
    retry_cap: float = 60.0
    dkim: DkimSettings = field(default_factory=DkimSettings)


@dataclass(frozen=True, slots=True)
class StateSettings:
    """``[state]``: the database URL (SQLAlchemy form)."""

    database: str = "sqlite:///.fieldfeed/fieldfeed.db"


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """``[serve]``: defaults for ``fieldfeed serve``."""

    host: str = "127.0.0.1"
    port: int = 8080
    #: Subscribe POSTs allowed per client address per hour.
    subscribe_rate: int = 10
    #: Seconds a client has to send a request's header (then the connection is closed).
    header_timeout: float = 10.0
    #: Seconds a client has to send a request's body, from the end of its header.
    body_timeout: float = 20.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything in fieldfeed.toml, validated, plus where the site lives."""

    root: Path
    site: SiteSettings
    content: ContentSettings
    feeds: FeedSettings
    digest: DigestSettings
    delivery: DeliverySettings
    state: StateSettings
    serve: ServeSettings

    @property
    def content_dir(self) -> Path:
        return self.root / self.content.dir

    @property
    def output_dir(self) -> Path:
        return self.root / self.feeds.dir

    @property
    def state_dir(self) -> Path:
        """Build cache, locks and default outbox live here; never committed."""
        return self.root / ".fieldfeed"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path resolved against the site root."""
        url = self.state.database
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            rel = url[len(prefix) :]
            if rel and rel != ":memory:":
                return prefix + str((self.root / rel).resolve())
        return url


_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_SECTIONS: dict[str, type] = {
    "site": SiteSettings,
    "content": ContentSettings,
    "feeds": FeedSettings,
    "digest": DigestSettings,
    "delivery": DeliverySettings,
    "state": StateSettings,
    "serve": ServeSettings,
}
# TOML key -> dataclass field, where Python names differ.
_RENAMES = {("digest", "from"): "sender", ("digest", "grace"): "grace_hours"}
# Nested tables: (section, key) -> their record.
_TABLES: dict[tuple[str, str], type] = {("delivery", "dkim"): DkimSettings}


def load_settings(root: Path, *, check_schedule: bool = True) -> Settings:
    """Read and validate ``root/fieldfeed.toml``. Raises ConfigError listing every problem.

    ``check_schedule=False`` skips parsing the ``[digest] schedule`` cron expression (it
    imports APScheduler, ~30-40 ms) for commands that never use it, such as ``build``.
    """
    path = root / CONFIG_NAME
    shown = display_path(path, Path.cwd()) if path.is_absolute() else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{shown}: not found (is --site pointing at a site? `fieldfeed init` makes one)"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown}: not valid UTF-8 (byte {exc.start})") from None
    return parse_settings(text, root.resolve(), shown, check_schedule=check_schedule)


def parse_settings(
    text: str, root: Path, shown: str = CONFIG_NAME, *, check_schedule: bool = True
) -> Settings:
    """Validate config text. Pure: no file access besides what ``root`` names."""
    deep = toml_nesting(text)
    if deep is not None:
        # tomllib recurses per level: thousands raise RecursionError naming no file.
        message = f"invalid TOML: nested more than {MAX_NESTING} levels deep"
        raise ConfigError(str(Problem(shown, deep, message)))
    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise ConfigError(str(Problem(shown, 0, "invalid TOML: nested too deeply"))) from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        line = int(m.group(1)) if m else 0
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(str(Problem(shown, line, f"invalid TOML: {msg}"))) from None

    problems: list[Problem] = []

    def where(section: str, key: str | None = None) -> int:
        return find_line(text, section, key)

    for name in data:
        if name not in _SECTIONS:
            problems.append(Problem(shown, where(name), f"unknown section [{name}]"))

    def section(name: str) -> dict[str, Any]:
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            problems.append(Problem(shown, where(name), f"[{name}] must be a table"))
            return {}
        return dict(raw)

    site_raw = section("site")
    for req in ("title", "url"):
        if not site_raw.get(req):
            problems.append(Problem(shown, where("site"), f"[site] {req} is required"))
    site_raw.setdefault("title", "Untitled")
    site_raw.setdefault("url", "https://example.org/")
    site_raw.setdefault("description", "")
    site_raw.setdefault("language", "en")
    site_raw.setdefault("author", "")
    site_raw.setdefault("email", "")
    site_raw.setdefault("timezone", "UTC")

    built: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        raw = site_raw if name == "site" else section(name)
        built[name] = build_record(
            cls, name, raw, shown, where, problems, renames=_RENAMES, tables=_TABLES
        )

    site: SiteSettings = built["site"]
    if not site.url.startswith(("http://", "https://")):
        problems.append(
            Problem(
                shown,
                where("site", "url"),
                f"[site] url must start with https://, got {site.url!r}",
            )
        )
    elif not site.url.endswith("/"):
        built["site"] = site = _replace(site, url=site.url + "/")
    try:
        ZoneInfo(site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem(
                shown,
                where("site", "timezone"),
                f"[site] timezone: unknown timezone {site.timezone!r}",
            )
        )
    if not _LANG.match(site.language):
        problems.append(
            Problem(
                shown,
                where("site", "language"),
                "[site] language must be a BCP 47 tag such as 'en' or 'en-US', "
                f"got {site.language!r}",
            )
        )
    path_problem = post_path_problem(site.post_path)
    if path_problem is not None:
        problems.append(Problem(shown, where("site", "post_path"), path_problem))

    feeds: FeedSettings = built["feeds"]
    if feeds.max_items < 1:
        problems.append(
            Problem(shown, where("feeds", "max_items"), "[feeds] max_items must be at least 1")
        )
    content: ContentSettings = built["content"]
    if content.words_per_minute < 1:
        problems.append(
            Problem(
                shown,
                where("content", "words_per_minute"),
                "[content] words_per_minute must be at least 1",
            )
        )
    if content.render_timeout < 0:
        problems.append(
            Problem(
                shown,
                where("content", "render_timeout"),
                "[content] render_timeout must be 0 (no bound) or more seconds",
            )
        )
    exclude: Any = content.exclude
    if not isinstance(exclude, list | tuple) or not all(isinstance(g, str) for g in exclude):
        message = f"[content] exclude must be a list of glob strings, got {exclude!r}"
        problems.append(Problem(shown, where("content", "exclude"), message))
    else:
        built["content"] = _replace(content, exclude=tuple(exclude))
    delivery: DeliverySettings = built["delivery"]
    if delivery.transport not in ("maildir", "smtp"):
        problems.append(
            Problem(
                shown,
                where("delivery", "transport"),
                f"[delivery] transport must be 'maildir' or 'smtp', got {delivery.transport!r}",
            )
        )
    if delivery.security not in ("tls", "starttls", "none"):
        problems.append(
            Problem(
                shown,
                where("delivery", "security"),
                "[delivery] security must be 'tls', 'starttls' or 'none', "
                f"got {delivery.security!r}",
            )
        )
    problems.extend(_digest_problems(built["digest"], shown, where, check_schedule))
    problems.extend(
        unsubscribe_scheme_problems(
            built["digest"].unsubscribe_url,
            delivery.transport,
            shown,
            where("digest", "unsubscribe_url"),
        )
    )
    if not 0 < delivery.port < 65536:
        problems.append(
            Problem(
                shown,
                where("delivery", "port"),
                f"[delivery] port must be 1-65535, got {delivery.port}",
            )
        )
    serve: ServeSettings = built["serve"]
    for key in ("header_timeout", "body_timeout"):
        if not 0 < getattr(serve, key) <= 3600:
            problems.append(
                Problem(
                    shown,
                    where("serve", key),
                    f"[serve] {key} must be more than 0 and at most 3600 seconds, "
                    f"got {getattr(serve, key)}",
                )
            )
    dkim = delivery.dkim
    if any((dkim.domain, dkim.selector, dkim.key_file)) and not dkim.enabled:
        problems.append(
            Problem(
                shown,
                where("delivery.dkim"),
                "[delivery.dkim] needs domain, selector and key_file together (or none of them)",
            )
        )
    if dkim.ed25519_key_file and not dkim.enabled:
        problems.append(
            Problem(
                shown,
                where("delivery.dkim", "ed25519_key_file"),
                "[delivery.dkim] ed25519_key_file is an additional signature: "
                "it needs domain, selector and key_file too",
            )
        )
    if delivery.retry_base < 0 or delivery.retry_cap < delivery.retry_base:
        problems.append(
            Problem(
                shown,
                where("delivery", "retry_cap"),
                "[delivery] retry_base must be >= 0 and retry_cap >= retry_base",
            )
        )
    if delivery.concurrency < 1:
        problems.append(
            Problem(
                shown, where("delivery", "concurrency"), "[delivery] concurrency must be at least 1"
            )
        )

    if problems:
        raise ConfigError("\n".join(str(p) for p in problems))
    return Settings(root=root, **built)


def _digest_problems(
    digest: DigestSettings, shown: str, where: Any, check_schedule: bool
) -> list[Problem]:
    """[digest] values that would only fail later, at send time: caught when loading."""
    from email.utils import parseaddr

    from fieldfeed.errors import ConfigError

    found: list[Problem] = []

    def bad(key: str, message: str) -> None:
        found.append(Problem(shown, where("digest", key), f"[digest] {message}"))

    if check_schedule:
        from fieldfeed.cron import trigger  # APScheduler parses the cron expression

        try:
            trigger(digest.schedule)
        except ConfigError as exc:
            bad("schedule", str(exc).removeprefix("[digest] "))
    sender = digest.sender
    broken = "\r" in sender or "\n" in sender or "@" not in parseaddr(sender)[1]
    if sender and broken:
        bad("from", f"from must be an address such as 'Site <news@example.org>', got {sender!r}")
    for key, value in (
        ("unsubscribe_url", digest.unsubscribe_url),
        ("archive_url", digest.archive_url),
    ):
        if value and not value.startswith(("https://", "http://")):
            bad(key, f"{key} must start with https://, got {value!r}")
    if digest.max_posts < 1:
        bad("max_posts", "max_posts must be at least 1")
    if digest.first_window_days < 1:
        bad("first_window_days", "first_window_days must be at least 1")
    if digest.grace_hours < 0:
        bad("grace", "grace must not be negative")
    if digest.mode not in ("digest", "per-post"):
        bad("mode", f'mode must be "digest" or "per-post", got {digest.mode!r}')
    if digest.content not in ("summary", "full"):
        bad("content", f'content must be "summary" or "full", got {digest.content!r}')
    return found


def _replace(obj: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(obj, **changes)
